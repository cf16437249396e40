package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// noEnvKey makes sure the test does not pick up a master key from the
// environment it runs in.
func noEnvKey(t *testing.T) {
	t.Helper()
	for _, name := range []string{EnvMasterKey, EnvMasterKeyNext} {
		t.Setenv(name, "") // registers the restore
		os.Unsetenv(name)
	}
}

func openDB(t *testing.T, dir string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, "haven.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openStore opens the data directory's db and secrets store, as the
// server does at start.
func openStore(t *testing.T, dir string) (*Store, *bbolt.DB) {
	t.Helper()
	db := openDB(t, dir)
	kr, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, kr)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func mustSet(t *testing.T, s *Store, env, name, value string) int {
	t.Helper()
	v, err := s.Set(context.Background(), env, name, []byte(value), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustGet(t *testing.T, s *Store, env, name string, version int) (string, int) {
	t.Helper()
	b, v, err := s.Get(context.Background(), env, name, version)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), v
}

func TestSetGetListDelete(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir())

	if v := mustSet(t, s, "prod", "db_password", "hunter2"); v != 1 {
		t.Fatalf("first version = %d, want 1", v)
	}
	if v := mustSet(t, s, "prod", "db_password", "correct horse"); v != 2 {
		t.Fatalf("second version = %d, want 2", v)
	}
	mustSet(t, s, "prod", "api.token", "tok-prod")
	mustSet(t, s, "dev", "db_password", "devpass")

	for _, c := range []struct {
		env, name string
		version   int
		want      string
		wantV     int
	}{
		{"prod", "db_password", 0, "correct horse", 2},
		{"prod", "db_password", 1, "hunter2", 1},
		{"prod", "db_password", 2, "correct horse", 2},
		{"prod", "api.token", 0, "tok-prod", 1},
		{"dev", "db_password", 0, "devpass", 1},
	} {
		got, v := mustGet(t, s, c.env, c.name, c.version)
		if got != c.want || v != c.wantV {
			t.Errorf("Get(%s, %s, %d) = %q v%d, want %q v%d", c.env, c.name, c.version, got, v, c.want, c.wantV)
		}
	}

	infos, err := s.List(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Name != "api.token" || infos[1].Name != "db_password" ||
		infos[1].Version != 2 || infos[1].UpdatedBy != "alice" || infos[1].Updated.IsZero() || infos[1].Env != "prod" {
		t.Fatalf("List(prod) = %+v", infos)
	}
	dump := fmt.Sprintf("%+v %#v", infos, infos)
	for _, v := range []string{"hunter2", "correct horse", "tok-prod"} {
		if strings.Contains(dump, v) {
			t.Errorf("List output contains the value %q", v)
		}
	}
	if infos, err := s.List(ctx, "staging"); err != nil || len(infos) != 0 {
		t.Fatalf("List(staging) = %v, %v; want empty", infos, err)
	}

	if err := s.Delete(ctx, "prod", "db_password"); err != nil {
		t.Fatal(err)
	}
	for _, version := range []int{0, 1, 2} {
		if _, _, err := s.Get(ctx, "prod", "db_password", version); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Delete (v%d) = %v, want ErrNotFound", version, err)
		}
	}
	if err := s.Delete(ctx, "prod", "db_password"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if got, _ := mustGet(t, s, "dev", "db_password", 0); got != "devpass" {
		t.Errorf("other environment's secret changed: %q", got)
	}
	if v := mustSet(t, s, "prod", "db_password", "again"); v != 1 {
		t.Errorf("version after Delete = %d, want 1", v)
	}

	if err := s.DeleteEnv(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if infos, _ := s.List(ctx, "dev"); len(infos) != 0 {
		t.Errorf("List(dev) after DeleteEnv = %+v", infos)
	}
	if err := s.DeleteEnv(ctx, "never-existed"); err != nil {
		t.Errorf("DeleteEnv of an empty environment = %v", err)
	}
}

func TestBadInput(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir())
	mustSet(t, s, "prod", "db", "x")

	for _, c := range []struct {
		env, name string
	}{
		{"prod", ""}, {"prod", "a/b"}, {"prod", "has space"}, {"prod", ".."}, {"prod", "."},
		{"prod", strings.Repeat("a", 129)}, {"", "db"}, {"p/rod", "db"}, {"prod", "é"},
	} {
		if _, err := s.Set(ctx, c.env, c.name, []byte("v"), "alice"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%q, %q) = %v, want ErrInvalid", c.env, c.name, err)
		}
	}
	if _, err := s.Set(ctx, "prod", strings.Repeat("a", 128), []byte("v"), "alice"); err != nil {
		t.Errorf("128-character name: %v", err)
	}
	big := bytes.Repeat([]byte("s"), MaxValueSize+1)
	_, err := s.Set(ctx, "prod", "big", big, "alice")
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "sss") {
		t.Errorf("oversized Set = %v, want ErrInvalid without the value", err)
	}
	if _, err := s.Set(ctx, "prod", "max", big[:MaxValueSize], "alice"); err != nil {
		t.Errorf("Set of exactly MaxValueSize: %v", err)
	}
	if _, _, err := s.Get(ctx, "prod", "db", 7); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "prod/db version 7") {
		t.Errorf("Get of a missing version = %v", err)
	}
	if _, _, err := s.Get(ctx, "prod", "nope", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing secret = %v", err)
	}
	if _, _, err := s.Get(ctx, "prod", "db", -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get of version -1 = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Set(cancelled, "prod", "db", []byte("v"), "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a cancelled context = %v", err)
	}
}

// TestCanariesNeverOnDisk sets 1,000 random values and then searches every
// byte of every file in the data directory, the store file included, for
// each of them.
func TestCanariesNeverOnDisk(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, db := openStore(t, dir)
	db.NoSync = true // 1,000 fsyncs prove nothing here; the bytes written are the same

	canaries := make([][]byte, 1000)
	for i := range canaries {
		b := make([]byte, 16)
		rand.Read(b)
		canaries[i] = []byte("canary-" + hex.EncodeToString(b))
		env := []string{"prod", "staging", "dev"}[i%3]
		if _, err := s.Set(ctx, env, fmt.Sprintf("SECRET_%d", i), canaries[i], "ci"); err != nil {
			t.Fatal(err)
		}
	}
	// Delete some and rotate, so freed pages and re-written records are
	// searched too.
	for i := 0; i < 30; i++ {
		if err := s.Delete(ctx, []string{"prod", "staging", "dev"}[i%3], fmt.Sprintf("SECRET_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RotateKey(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustGet(t, s, "prod", "SECRET_999", 0); got != string(canaries[999]) {
		t.Fatal("canary does not round-trip")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, c := range canaries {
			if bytes.Contains(raw, c) {
				t.Errorf("%s contains canary %s", path, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("searched %d files, want the store file and master.key", files)
	}
}

// editRecord changes one stored version in place, as an attacker with
// write access to the store file could.
func editRecord(t *testing.T, db *bbolt.DB, env, name string, version int, edit func(*record)) {
	t.Helper()
	err := db.Update(func(tx *bbolt.Tx) error {
		nb := nameBucket(tx, env, name)
		var rec record
		if err := json.Unmarshal(nb.Get(versionKey(version)), &rec); err != nil {
			return err
		}
		edit(&rec)
		buf, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		return nb.Put(versionKey(version), buf)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTamperingFailsLoudly(t *testing.T) {
	noEnvKey(t)
	for _, c := range []struct {
		name string
		edit func(db *bbolt.DB, t *testing.T)
		// wrapping: the damage is in the data key's wrapping, so
		// RotateKey must refuse; damage to the value itself is carried
		// through a rotation untouched and still detected afterwards.
		wrapping bool
	}{
		{"ciphertext byte", func(db *bbolt.DB, t *testing.T) {
			editRecord(t, db, "prod", "db", 2, func(r *record) { r.Ciphertext[3] ^= 0x01 })
		}, false},
		{"ciphertext tag byte", func(db *bbolt.DB, t *testing.T) {
			editRecord(t, db, "prod", "db", 2, func(r *record) { r.Ciphertext[len(r.Ciphertext)-1] ^= 0x80 })
		}, false},
		{"wrapped key byte", func(db *bbolt.DB, t *testing.T) {
			editRecord(t, db, "prod", "db", 2, func(r *record) { r.WrappedKey[0] ^= 0x01 })
		}, true},
		{"value nonce byte", func(db *bbolt.DB, t *testing.T) {
			editRecord(t, db, "prod", "db", 2, func(r *record) { r.Nonce[0] ^= 0x01 })
		}, false},
		{"truncated nonce", func(db *bbolt.DB, t *testing.T) {
			editRecord(t, db, "prod", "db", 2, func(r *record) { r.KeyNonce = r.KeyNonce[:4] })
		}, true},
		{"key id", func(db *bbolt.DB, t *testing.T) {
			editRecord(t, db, "prod", "db", 2, func(r *record) { r.KeyID = "0000000000000000" })
		}, true},
		{"version 1 copied over version 2", func(db *bbolt.DB, t *testing.T) {
			db.Update(func(tx *bbolt.Tx) error {
				nb := nameBucket(tx, "prod", "db")
				return nb.Put(versionKey(2), append([]byte(nil), nb.Get(versionKey(1))...))
			})
		}, true},
		{"record moved from another environment", func(db *bbolt.DB, t *testing.T) {
			db.Update(func(tx *bbolt.Tx) error {
				v := append([]byte(nil), nameBucket(tx, "dev", "db").Get(versionKey(2))...)
				return nameBucket(tx, "prod", "db").Put(versionKey(2), v)
			})
		}, true},
		{"corrupt record", func(db *bbolt.DB, t *testing.T) {
			db.Update(func(tx *bbolt.Tx) error {
				return nameBucket(tx, "prod", "db").Put(versionKey(2), []byte("{not json"))
			})
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, db := openStore(t, t.TempDir())
			mustSet(t, s, "prod", "db", "v1-value")
			mustSet(t, s, "prod", "db", "v2-value")
			mustSet(t, s, "dev", "db", "dev-v1")
			mustSet(t, s, "dev", "db", "dev-v2")
			c.edit(db, t)

			value, _, err := s.Get(context.Background(), "prod", "db", 0)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Get = %q, %v; want ErrDecrypt", value, err)
			}
			if value != nil {
				t.Errorf("Get returned a value with its error: %q", value)
			}
			msg := err.Error()
			if !strings.Contains(msg, "secret prod/db version 2") || !strings.Contains(msg, "ciphertext failed authentication") {
				t.Errorf("error does not say which secret failed how: %s", msg)
			}
			if strings.Contains(msg, "v2-value") {
				t.Errorf("error contains the value: %s", msg)
			}
			// The untouched version still decrypts: damage is contained.
			if got, _ := mustGet(t, s, "prod", "db", 1); got != "v1-value" {
				t.Errorf("version 1 = %q", got)
			}
			before := s.KeyID()
			_, err = s.RotateKey(context.Background(), s.kr.dir)
			if !c.wrapping {
				if err != nil {
					t.Fatalf("RotateKey: %v", err)
				}
				if _, _, err := s.Get(context.Background(), "prod", "db", 2); !errors.Is(err, ErrDecrypt) {
					t.Errorf("Get after rotation = %v, want ErrDecrypt", err)
				}
				return
			}
			// Rotation refuses rather than re-wrap a damaged key, and
			// leaves the key as it was.
			if !errors.Is(err, ErrDecrypt) {
				t.Errorf("RotateKey over a damaged record = %v, want ErrDecrypt", err)
			}
			if s.KeyID() != before {
				t.Error("failed rotation changed the key")
			}
			if _, err := os.Stat(filepath.Join(s.kr.dir, NextKeyFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed rotation left %s behind", NextKeyFile)
			}
		})
	}
}

func TestWrongMasterKeyChangesNothing(t *testing.T) {
	noEnvKey(t)
	dir := t.TempDir()
	s, db := openStore(t, dir)
	mustSet(t, s, "prod", "db", "s3cret")
	wantID := s.KeyID()
	db.Close()

	dbPath := filepath.Join(dir, "haven.db")
	keyPath := filepath.Join(dir, KeyFile)
	dbBefore, _ := os.ReadFile(dbPath)
	keyBefore, _ := os.ReadFile(keyPath)

	check := func(t *testing.T, kr *Keyring) {
		t.Helper()
		db, err := bbolt.Open(dbPath, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Open(db, kr)
		db.Close()
		if !errors.Is(err, ErrWrongMasterKey) {
			t.Fatalf("Open = %v, want ErrWrongMasterKey", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "expected "+wantID) || !strings.Contains(msg, "no data was changed") {
			t.Errorf("message lacks the key ids or the reassurance: %s", msg)
		}
		if after, _ := os.ReadFile(dbPath); !bytes.Equal(after, dbBefore) {
			t.Error("the store file changed")
		}
	}

	t.Run("fresh keyring elsewhere", func(t *testing.T) {
		other := t.TempDir()
		kr, err := LoadKeyring(other)
		if err != nil {
			t.Fatal(err)
		}
		check(t, kr)
		// The key tried was generated, so it must not have been saved
		// where it could be mistaken for this data's key.
		if _, err := os.Stat(filepath.Join(other, KeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Error("a wrong generated key was saved")
		}
	})
	t.Run("another key file in place", func(t *testing.T) {
		wrong := make([]byte, 32)
		rand.Read(wrong)
		if err := writeKeyFile(keyPath, wrong); err != nil {
			t.Fatal(err)
		}
		kr, err := LoadKeyring(dir)
		if err != nil {
			t.Fatal(err)
		}
		check(t, kr)
		if err := os.WriteFile(keyPath, keyBefore, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("key file lost", func(t *testing.T) {
		moved := keyPath + ".away"
		os.Rename(keyPath, moved)
		defer os.Rename(moved, keyPath)
		kr, err := LoadKeyring(dir)
		if err != nil {
			t.Fatal(err)
		}
		check(t, kr)
		if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
			t.Error("Open saved a new key over a lost one")
		}
	})
	t.Run("right key still opens", func(t *testing.T) {
		s, _ := openStore(t, dir)
		if got, _ := mustGet(t, s, "prod", "db", 0); got != "s3cret" {
			t.Errorf("Get = %q", got)
		}
	})
}

func TestKeyFileOnFirstStart(t *testing.T) {
	noEnvKey(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, KeyFile)
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("LoadKeyring saved the key before Open knew the store was new")
	}
	db := openDB(t, dir)
	s, err := Open(db, kr)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode = %v, want 0600", fi.Mode().Perm())
	}
	text, _ := os.ReadFile(keyPath)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(raw) != 32 || keyID(raw) != s.KeyID() {
		t.Errorf("master.key is not the base64 of the key in use")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".master.key-") {
			t.Errorf("temporary key file left behind: %s", e.Name())
		}
	}

	os.WriteFile(keyPath, []byte("not a key\n"), 0o600)
	if _, err := LoadKeyring(dir); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Errorf("LoadKeyring with a bad key file = %v; want an error that does not quote the file", err)
	}
}

func TestRotateKey(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, db := openStore(t, dir)
	want := map[[2]string]string{}
	for i := 0; i < 20; i++ {
		env, name := []string{"prod", "dev"}[i%2], fmt.Sprintf("S%d", i%7)
		value := fmt.Sprintf("value-%d", i)
		mustSet(t, s, env, name, value)
		want[[2]string{env, name}] = value
	}
	oldID := s.KeyID()
	oldKey, _ := os.ReadFile(filepath.Join(dir, KeyFile))

	newID, err := s.RotateKey(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || s.KeyID() != newID {
		t.Fatalf("key id %s → %s (store says %s)", oldID, newID, s.KeyID())
	}
	checkAll := func(s *Store) {
		t.Helper()
		for k, v := range want {
			if got, _ := mustGet(t, s, k[0], k[1], 0); got != v {
				t.Errorf("%s/%s = %q, want %q", k[0], k[1], got, v)
			}
		}
		if got, _ := mustGet(t, s, "prod", "S0", 1); got != "value-0" {
			t.Errorf("old version after rotation = %q", got)
		}
	}
	checkAll(s)
	mustSet(t, s, "prod", "after", "rotation")
	if _, err := os.Stat(filepath.Join(dir, NextKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("master.key.next left behind")
	}
	db.Close()

	s2, db2 := openStore(t, dir)
	if s2.KeyID() != newID {
		t.Fatalf("after restart key id = %s, want %s", s2.KeyID(), newID)
	}
	checkAll(s2)
	db2.Close()

	// The old key no longer opens the store.
	oldDir := t.TempDir()
	os.WriteFile(filepath.Join(oldDir, KeyFile), oldKey, 0o600)
	kr, err := LoadKeyring(oldDir)
	if err != nil {
		t.Fatal(err)
	}
	db3 := openDB(t, dir)
	if _, err := Open(db3, kr); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("Open with the old key = %v, want ErrWrongMasterKey", err)
	}

	if _, err := s2.RotateKey(ctx, t.TempDir()); err == nil {
		t.Error("RotateKey accepted a data directory other than the key's")
	}
}

// TestRotateKeyCrash stops RotateKey where a kill -9 could, restarts,
// and checks that the next Open picks the key the store needs and tidies
// the key files.
func TestRotateKeyCrash(t *testing.T) {
	noEnvKey(t)
	for _, c := range []struct {
		stage   string
		wantNew bool
	}{
		{"next-written", false}, // the transaction never ran: undo
		{"committed", true},     // the transaction committed: finish
	} {
		t.Run(c.stage, func(t *testing.T) {
			dir := t.TempDir()
			s, db := openStore(t, dir)
			mustSet(t, s, "prod", "db", "v1")
			mustSet(t, s, "prod", "db", "v2")
			mustSet(t, s, "dev", "api", "key")
			oldID := s.KeyID()
			s.crash = func(stage string) bool { return stage == c.stage }
			if _, err := s.RotateKey(context.Background(), dir); !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("RotateKey = %v", err)
			}
			db.Close()
			nextText, err := os.ReadFile(filepath.Join(dir, NextKeyFile))
			if err != nil {
				t.Fatalf("crash left no %s: %v", NextKeyFile, err)
			}
			next, err := decodeKey(string(nextText))
			if err != nil {
				t.Fatal(err)
			}

			s2, _ := openStore(t, dir)
			wantID := oldID
			if c.wantNew {
				wantID = next.id
			}
			if s2.KeyID() != wantID {
				t.Errorf("recovered key id = %s, want %s (old %s, next %s)", s2.KeyID(), wantID, oldID, next.id)
			}
			if _, err := os.Stat(filepath.Join(dir, NextKeyFile)); !errors.Is(err, os.ErrNotExist) {
				t.Error("master.key.next still there after recovery")
			}
			onDisk, _ := readKeyFile(filepath.Join(dir, KeyFile))
			if onDisk == nil || onDisk.id != wantID {
				t.Errorf("master.key does not hold key %s after recovery", wantID)
			}
			if got, _ := mustGet(t, s2, "prod", "db", 1); got != "v1" {
				t.Errorf("prod/db v1 = %q", got)
			}
			if got, _ := mustGet(t, s2, "dev", "api", 0); got != "key" {
				t.Errorf("dev/api = %q", got)
			}
			// And rotation works again from the recovered state.
			if _, err := s2.RotateKey(context.Background(), dir); err != nil {
				t.Errorf("RotateKey after recovery: %v", err)
			}
		})
	}
}

func TestRotateKeyCrashWithKeyFileGone(t *testing.T) {
	noEnvKey(t)
	dir := t.TempDir()
	s, db := openStore(t, dir)
	mustSet(t, s, "prod", "db", "v1")
	s.crash = func(stage string) bool { return stage == "committed" }
	s.RotateKey(context.Background(), dir)
	db.Close()
	// Only master.key.next survives (say, an operator removed master.key
	// by hand): it is the key the store needs, so Open promotes it.
	os.Remove(filepath.Join(dir, KeyFile))
	s2, _ := openStore(t, dir)
	if got, _ := mustGet(t, s2, "prod", "db", 0); got != "v1" {
		t.Errorf("Get = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil {
		t.Errorf("master.key not restored from master.key.next: %v", err)
	}
}

func TestEnvMasterKey(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	newKey := func() (string, string) {
		raw := make([]byte, 32)
		rand.Read(raw)
		return base64.StdEncoding.EncodeToString(raw), keyID(raw)
	}
	oldText, oldID := newKey()
	nextText, nextID := newKey()

	t.Setenv(EnvMasterKey, oldText)
	s, db := openStore(t, dir)
	if s.KeyID() != oldID || !s.kr.FromEnv() {
		t.Fatalf("key id = %s, want %s from the environment", s.KeyID(), oldID)
	}
	mustSet(t, s, "prod", "db", "from-env")
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key file was written although the key came from the environment")
	}
	_, err := s.RotateKey(ctx, dir)
	if !errors.Is(err, ErrKeyFromEnv) || !strings.Contains(err.Error(), EnvMasterKeyNext) || strings.Contains(err.Error(), oldText) {
		t.Fatalf("RotateKey with an environment key = %v; want ErrKeyFromEnv naming %s", err, EnvMasterKeyNext)
	}
	db.Close()

	// The operator sets the next key, restarts and rotates.
	t.Setenv(EnvMasterKeyNext, nextText)
	s, db = openStore(t, dir)
	if s.KeyID() != oldID {
		t.Fatalf("Open chose %s before rotation, want %s", s.KeyID(), oldID)
	}
	id, err := s.RotateKey(ctx, dir)
	if err != nil || id != nextID {
		t.Fatalf("RotateKey = %s, %v; want %s", id, err, nextID)
	}
	if _, err := s.RotateKey(ctx, dir); !errors.Is(err, ErrKeyFromEnv) {
		t.Errorf("second RotateKey to the same key = %v, want ErrKeyFromEnv", err)
	}
	db.Close()

	// Before the operator moves the variables, both set still opens.
	s, db = openStore(t, dir)
	if s.KeyID() != nextID {
		t.Errorf("with both variables Open chose %s, want %s", s.KeyID(), nextID)
	}
	db.Close()
	// After the move, the new key alone opens; the old key alone does not.
	os.Unsetenv(EnvMasterKeyNext)
	t.Setenv(EnvMasterKey, nextText)
	s, db = openStore(t, dir)
	if got, _ := mustGet(t, s, "prod", "db", 0); got != "from-env" {
		t.Errorf("Get = %q", got)
	}
	db.Close()
	t.Setenv(EnvMasterKey, oldText)
	kr, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	if _, err := Open(db, kr); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("Open with the old environment key = %v, want ErrWrongMasterKey", err)
	}

	for _, bad := range []string{"", "   ", "c2hvcnQ=", "not base64 at all!!", base64.StdEncoding.EncodeToString(make([]byte, 31))} {
		t.Setenv(EnvMasterKey, bad)
		_, err := LoadKeyring(dir)
		if err == nil {
			t.Errorf("LoadKeyring accepted %s=%q", EnvMasterKey, bad)
			continue
		}
		if strings.TrimSpace(bad) != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error quotes the variable's value: %v", err)
		}
	}
}

// TestConcurrentUseDuringRotation is for -race: readers and writers keep
// working, and every value they see is right, while keys rotate.
func TestConcurrentUseDuringRotation(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, db := openStore(t, dir)
	db.NoSync = true
	mustSet(t, s, "prod", "shared", "shared-value")

	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				name := fmt.Sprintf("g%d", g)
				want := fmt.Sprintf("g%d-%d", g, i)
				if _, err := s.Set(ctx, "prod", name, []byte(want), "t"); err != nil {
					t.Error(err)
					return
				}
				got, _, err := s.Get(ctx, "prod", name, 0)
				if err != nil || string(got) != want {
					t.Errorf("Get = %q, %v; want %q", got, err, want)
					return
				}
				if _, err := s.List(ctx, "prod"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		if _, err := s.RotateKey(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if got, _ := mustGet(t, s, "prod", "shared", 0); got != "shared-value" {
		t.Errorf("shared = %q", got)
	}
}
