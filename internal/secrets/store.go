package secrets

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// MaxValueSize is the largest secret value Set accepts. Secrets are
// passwords, tokens, keys and certificates; anything bigger is data.
const MaxValueSize = 64 << 10

var (
	// ErrNotFound means no such secret, or no such version of it.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means a bad environment or secret name, or a value over
	// MaxValueSize.
	ErrInvalid = errors.New("invalid secret")
	// ErrDecrypt means a stored secret failed authentication: its
	// ciphertext, wrapped data key or record was modified, or it was
	// sealed under another key. Never answered with garbage instead.
	ErrDecrypt = errors.New("ciphertext failed authentication")
	// ErrWrongMasterKey means the master key is not the one this data
	// directory was sealed with. Open returns it before changing anything.
	ErrWrongMasterKey = errors.New("the master key does not match this data directory")
	// ErrKeyFromEnv means RotateKey cannot proceed because the master key
	// comes from HAVEN_MASTER_KEY and no HAVEN_MASTER_KEY_NEXT was given.
	ErrKeyFromEnv = errors.New("the master key comes from " + EnvMasterKey)
)

var (
	bucketSecrets = []byte("secrets")      // env → name → version → record
	bucketMeta    = []byte("secrets_meta") // key_check
	keyKeyCheck   = []byte("key_check")
)

// keyCheckPlaintext is sealed under the master key so that Open can tell a
// wrong key from a right one before it reads or writes any secret.
const keyCheckPlaintext = "haven secrets key check v1"

// Info describes a secret without its value. It is also the wire form of
// a secret listing, hence the JSON names.
type Info struct {
	Env       string    `json:"env"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`    // latest version
	Updated   time.Time `json:"updated"`    // when the latest version was set
	UpdatedBy string    `json:"updated_by"` // who set it
}

// Store keeps versioned secrets in the server's bbolt file, each version
// encrypted under its own data key wrapped by the master key. It is safe
// for concurrent use.
type Store struct {
	db  *bbolt.DB
	kr  *Keyring
	now func() time.Time

	// mu guards key. Set and Get hold it shared for the whole call, so a
	// rotation never sees a half-written version nor a reader a swapped key.
	mu  sync.RWMutex
	key *masterKey

	// crash, in tests, stops RotateKey dead at a named stage, leaving
	// files and store as a kill -9 there would.
	crash func(stage string) bool
}

// record is one stored secret version. Only ciphertext is stored; the
// version number, creation time and actor are plaintext metadata.
type record struct {
	Version    int       `json:"version"`
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
	KeyID      string    `json:"key_id"`      // master key that wrapped DataKey
	KeyNonce   []byte    `json:"key_nonce"`   // nonce for WrappedKey
	WrappedKey []byte    `json:"wrapped_key"` // data key sealed under the master key
	Nonce      []byte    `json:"nonce"`       // nonce for Ciphertext
	Ciphertext []byte    `json:"ciphertext"`  // value sealed under the data key
}

// keyCheck is the known plaintext sealed under the master key.
type keyCheck struct {
	KeyID  string `json:"key_id"`
	Nonce  []byte `json:"nonce"`
	Sealed []byte `json:"sealed"`
}

// Open checks kr against db and returns the Store. The check comes first:
// with a wrong key Open returns ErrWrongMasterKey and writes nothing, not
// to the store file and not to the key files.
//
// After an interrupted rotation both master.key and master.key.next
// exist (or, with environment keys, both variables are set). Open uses
// whichever key the stored key check opens, which is exactly the key the
// data keys are wrapped under because RotateKey replaces the key check in
// the same transaction that re-wraps them. With files it then finishes
// the rotation (renames master.key.next over master.key) if that
// transaction committed, or undoes it (removes master.key.next) if not.
//
// A new store is sealed with the current key, which LoadKeyring may just
// have generated; that key is saved to master.key before the key check is
// committed, so no crash leaves a store sealed under an unsaved key.
func Open(db *bbolt.DB, kr *Keyring) (*Store, error) {
	var kc *keyCheck
	var hasSecrets, hasBuckets bool
	err := db.View(func(tx *bbolt.Tx) error {
		meta, root := tx.Bucket(bucketMeta), tx.Bucket(bucketSecrets)
		hasBuckets = meta != nil && root != nil
		if meta != nil {
			if v := meta.Get(keyKeyCheck); v != nil {
				kc = new(keyCheck)
				if err := json.Unmarshal(v, kc); err != nil {
					return fmt.Errorf("secrets key check: %w: the record is corrupt; no data was changed", ErrDecrypt)
				}
			}
		}
		if root != nil {
			k, _ := root.Cursor().First()
			hasSecrets = k != nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	key, err := kr.choose(kc, hasSecrets)
	if err != nil {
		return nil, err
	}
	// The key is right: only now may files and store change.
	if err := kr.settle(key); err != nil {
		return nil, err
	}
	if kc == nil || !hasBuckets {
		err := db.Update(func(tx *bbolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(bucketSecrets); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			if kc != nil {
				return nil
			}
			return putKeyCheck(meta, key)
		})
		if err != nil {
			return nil, fmt.Errorf("secrets: initialize store: %w", err)
		}
	}
	return &Store{db: db, kr: kr, now: time.Now, key: key}, nil
}

// choose returns the candidate key that opens the key check.
func (kr *Keyring) choose(kc *keyCheck, hasSecrets bool) (*masterKey, error) {
	if kc == nil {
		if hasSecrets {
			// Sealing this store anew would hide which key the secrets need.
			return nil, errors.New("secrets: the store holds secrets but no key check: the secrets_meta bucket was removed or damaged; restore the data directory from a backup; no data was changed")
		}
		if kr.current != nil {
			return kr.current, nil
		}
		return kr.next, nil
	}
	for _, k := range []*masterKey{kr.current, kr.next} {
		if k == nil || k.id != kc.KeyID {
			continue
		}
		if !kc.opens(k) {
			return nil, fmt.Errorf("secrets key check (key id %s): %w: the secrets_meta record was modified; no data was changed", k.id, ErrDecrypt)
		}
		return k, nil
	}
	have := kr.current
	if have == nil {
		have = kr.next
	}
	if kr.generated {
		return nil, fmt.Errorf("%w (key id %s, expected %s): no %s was found, so a new key was tried and not saved: restore the key file or set %s; no data was changed", ErrWrongMasterKey, have.id, kc.KeyID, kr.path(KeyFile), EnvMasterKey)
	}
	return nil, fmt.Errorf("%w (key id %s, expected %s): restore the right key file or %s; no data was changed", ErrWrongMasterKey, have.id, kc.KeyID, EnvMasterKey)
}

// settle makes the key files agree with the chosen key: it saves a
// generated key, finishes a rotation whose transaction committed, and
// undoes one whose transaction did not.
func (kr *Keyring) settle(key *masterKey) error {
	if kr.fromEnv {
		return nil // the operator owns the variables; see RotateKey
	}
	switch {
	case key == kr.next:
		if err := renameDurable(kr.path(NextKeyFile), kr.path(KeyFile)); err != nil {
			return fmt.Errorf("secrets: finish interrupted key rotation: %w", err)
		}
		kr.current, kr.next = kr.next, nil
	case kr.next != nil:
		if err := removeDurable(kr.path(NextKeyFile)); err != nil {
			return fmt.Errorf("secrets: undo interrupted key rotation: %w", err)
		}
		kr.next = nil
	case kr.generated:
		if err := writeKeyFile(kr.path(KeyFile), key.key); err != nil {
			return fmt.Errorf("secrets: %w", err)
		}
		kr.generated = false
	}
	return nil
}

func putKeyCheck(meta *bbolt.Bucket, k *masterKey) error {
	nonce, sealed, err := seal(k.aead, []byte(keyCheckPlaintext), keyCheckAAD(k.id))
	if err != nil {
		return err
	}
	buf, err := json.Marshal(keyCheck{KeyID: k.id, Nonce: nonce, Sealed: sealed})
	if err != nil {
		return err
	}
	return meta.Put(keyKeyCheck, buf)
}

func (kc *keyCheck) opens(k *masterKey) bool {
	pt, err := open(k.aead, kc.Nonce, kc.Sealed, keyCheckAAD(k.id))
	return err == nil && string(pt) == keyCheckPlaintext
}

func keyCheckAAD(id string) []byte { return []byte("key-check/" + id) }

// valueAAD binds a ciphertext to its place, so a record copied to another
// secret, environment or version fails authentication. Names cannot hold
// "/", so the string is unambiguous.
func valueAAD(env, name string, version int) []byte {
	return fmt.Appendf(nil, "%s/%s/%d", env, name, version)
}

// wrapAAD binds a wrapped data key to its master key and its place.
func wrapAAD(keyID, env, name string, version int) []byte {
	return fmt.Appendf(nil, "%s:%s/%s/%d", keyID, env, name, version)
}

// KeyID returns the id of the master key in use: the first 8 bytes of its
// SHA-256 in hex. It is safe to log and show.
func (s *Store) KeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.key.id
}

// Set stores value as a new version of env/name and returns its number,
// starting at 1. actor names who set it (kept in plaintext, for List).
func (s *Store) Set(ctx context.Context, env, name string, value []byte, actor string) (int, error) {
	if err := refuseSystem(env); err != nil {
		return 0, err
	}
	return s.set(ctx, env, name, value, actor)
}

func (s *Store) set(ctx context.Context, env, name string, value []byte, actor string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := validate(env, name); err != nil {
		return 0, err
	}
	if len(value) > MaxValueSize {
		return 0, fmt.Errorf("%w %s/%s: the value is %d bytes, the limit is %d", ErrInvalid, env, name, len(value), MaxValueSize)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var version int
	err := s.db.Update(func(tx *bbolt.Tx) error {
		eb, err := tx.Bucket(bucketSecrets).CreateBucketIfNotExists([]byte(env))
		if err != nil {
			return err
		}
		nb, err := eb.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		version = 1
		if k, _ := nb.Cursor().Last(); k != nil {
			version = keyVersion(k) + 1
		}
		// Sealing inside the transaction is cheap and keeps the version
		// in the AAD equal to the one it is stored under.
		rec, err := s.sealValue(env, name, version, value, actor)
		if err != nil {
			return err
		}
		buf, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return nb.Put(versionKey(version), buf)
	})
	if err != nil {
		return 0, fmt.Errorf("set secret %s/%s: %w", env, name, err)
	}
	return version, nil
}

func (s *Store) sealValue(env, name string, version int, value []byte, actor string) (*record, error) {
	dk := make([]byte, 32)
	defer clear(dk) // narrows, not closes, the window: the GCM key schedule keeps a copy
	if _, err := rand.Read(dk); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	aead, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	nonce, ct, err := seal(aead, value, valueAAD(env, name, version))
	if err != nil {
		return nil, err
	}
	keyNonce, wrapped, err := seal(s.key.aead, dk, wrapAAD(s.key.id, env, name, version))
	if err != nil {
		return nil, err
	}
	return &record{
		Version:    version,
		Created:    s.now().UTC(),
		CreatedBy:  actor,
		KeyID:      s.key.id,
		KeyNonce:   keyNonce,
		WrappedKey: wrapped,
		Nonce:      nonce,
		Ciphertext: ct,
	}, nil
}

// Get decrypts version of env/name (0 means the latest) and returns the
// value with its version number. A stored version that fails
// authentication gives an error wrapping ErrDecrypt, never a value.
func (s *Store) Get(ctx context.Context, env, name string, version int) ([]byte, int, error) {
	if err := refuseSystem(env); err != nil {
		return nil, 0, err
	}
	return s.get(ctx, env, name, version)
}

func (s *Store) get(ctx context.Context, env, name string, version int) ([]byte, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := validate(env, name); err != nil {
		return nil, 0, err
	}
	if version < 0 {
		return nil, 0, fmt.Errorf("%w %s/%s: version %d (want 1 or more, or 0 for the latest)", ErrInvalid, env, name, version)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var rec record
	err := s.db.View(func(tx *bbolt.Tx) error {
		nb := nameBucket(tx, env, name)
		if nb == nil {
			return fmt.Errorf("secret %s/%s: %w", env, name, ErrNotFound)
		}
		var v []byte
		if version == 0 {
			var k []byte
			if k, v = nb.Cursor().Last(); k != nil {
				version = keyVersion(k)
			}
		} else {
			v = nb.Get(versionKey(version))
		}
		if v == nil {
			return fmt.Errorf("secret %s/%s version %d: %w", env, name, version, ErrNotFound)
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return decryptError(env, name, version)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	// The version comes from the record's position, not its contents, so
	// a record moved to another version fails authentication.
	value, err := s.openValue(env, name, version, &rec)
	if err != nil {
		return nil, 0, err
	}
	return value, version, nil
}

func (s *Store) openValue(env, name string, version int, rec *record) ([]byte, error) {
	dk, err := unwrap(s.key, env, name, version, rec)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	aead, err := newGCM(dk)
	if err != nil {
		return nil, decryptError(env, name, version)
	}
	value, err := open(aead, rec.Nonce, rec.Ciphertext, valueAAD(env, name, version))
	if err != nil {
		return nil, decryptError(env, name, version)
	}
	return value, nil
}

func unwrap(key *masterKey, env, name string, version int, rec *record) ([]byte, error) {
	if rec.KeyID != key.id {
		return nil, fmt.Errorf("secret %s/%s version %d: %w: its data key is wrapped under master key %s, not the current %s", env, name, version, ErrDecrypt, rec.KeyID, key.id)
	}
	dk, err := open(key.aead, rec.KeyNonce, rec.WrappedKey, wrapAAD(key.id, env, name, version))
	if err != nil {
		return nil, decryptError(env, name, version)
	}
	return dk, nil
}

// decryptError is deliberately the same for every failure: which byte was
// wrong is no help to the operator, and a distinction could help an attacker.
func decryptError(env, name string, version int) error {
	return fmt.Errorf("secret %s/%s version %d: %w: the stored value was modified or the key is wrong", env, name, version, ErrDecrypt)
}

// List describes every secret in env, sorted by name. It never decrypts
// and never returns values. An environment without secrets gives an empty
// list.
func (s *Store) List(ctx context.Context, env string) ([]Info, error) {
	if err := refuseSystem(env); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validName(env) {
		return nil, fmt.Errorf("%w environment name %q: use 1-128 characters from A-Z a-z 0-9 _ . -", ErrInvalid, env)
	}
	var out []Info
	err := s.db.View(func(tx *bbolt.Tx) error {
		eb := tx.Bucket(bucketSecrets).Bucket([]byte(env))
		if eb == nil {
			return nil
		}
		return eb.ForEachBucket(func(name []byte) error {
			k, v := eb.Bucket(name).Cursor().Last()
			if k == nil {
				return nil
			}
			var meta struct {
				Created   time.Time `json:"created"`
				CreatedBy string    `json:"created_by"`
			}
			if err := json.Unmarshal(v, &meta); err != nil {
				return fmt.Errorf("secret %s/%s version %d: corrupt record: %w", env, name, keyVersion(k), err)
			}
			out = append(out, Info{Env: env, Name: string(name), Version: keyVersion(k), Updated: meta.Created, UpdatedBy: meta.CreatedBy})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes env/name with all its versions. The freed pages of the
// store file may keep old ciphertext until reused; it stays sealed.
func (s *Store) Delete(ctx context.Context, env, name string) error {
	if err := refuseSystem(env); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(env, name); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketSecrets)
		eb := root.Bucket([]byte(env))
		if eb == nil || eb.Bucket([]byte(name)) == nil {
			return fmt.Errorf("secret %s/%s: %w", env, name, ErrNotFound)
		}
		if err := eb.DeleteBucket([]byte(name)); err != nil {
			return err
		}
		if k, _ := eb.Cursor().First(); k == nil {
			return root.DeleteBucket([]byte(env))
		}
		return nil
	})
}

// DeleteEnv removes every secret of env, for `haven env delete`. Deleting
// an environment without secrets is not an error.
func (s *Store) DeleteEnv(ctx context.Context, env string) error {
	if err := refuseSystem(env); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validName(env) {
		return fmt.Errorf("%w environment name %q: use 1-128 characters from A-Z a-z 0-9 _ . -", ErrInvalid, env)
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketSecrets)
		if root.Bucket([]byte(env)) == nil {
			return nil
		}
		return root.DeleteBucket([]byte(env))
	})
}

// RotateKey re-wraps every data key under a new master key and returns the
// new key's id. Values are not re-encrypted: their data keys stay, only
// the wrapping changes, so the cost is one small seal per version.
//
// With a key file, the steps are: write the new key to master.key.next
// (durably), re-wrap all data keys and replace the key check in one bbolt
// transaction, rename master.key.next over master.key. A crash between
// any two steps is resolved by the next Open (see Open).
//
// With HAVEN_MASTER_KEY, Haven cannot change the variable and will not
// hand key material out through an API, so the operator supplies the new
// key in HAVEN_MASTER_KEY_NEXT before the server starts; RotateKey
// re-wraps under it, after which the operator moves it into
// HAVEN_MASTER_KEY. Without it RotateKey fails with ErrKeyFromEnv.
//
// dataDir must be the directory the Keyring was loaded from.
func (s *Store) RotateKey(ctx context.Context, dataDir string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kr, old := s.kr, s.key

	var next *masterKey
	if kr.fromEnv {
		if kr.next == nil || kr.next.id == old.id {
			return "", fmt.Errorf("rotate master key: %w, which haven cannot rewrite: generate a new key (openssl rand -base64 32), set it as %s beside %s, restart the server and run rotate-key again; then move the new value into %s and unset %s", ErrKeyFromEnv, EnvMasterKeyNext, EnvMasterKey, EnvMasterKey, EnvMasterKeyNext)
		}
		next = kr.next
	} else {
		if filepath.Clean(dataDir) != kr.dir {
			return "", fmt.Errorf("rotate master key: data directory %s is not %s, where the key was loaded from", dataDir, kr.dir)
		}
		raw := make([]byte, masterKeySize)
		if _, err := rand.Read(raw); err != nil {
			return "", fmt.Errorf("rotate master key: generate: %w", err)
		}
		var err error
		if next, err = newMasterKey(raw); err != nil {
			return "", err
		}
		// The new key must be on disk before any data key depends on it.
		if err := writeKeyFile(kr.path(NextKeyFile), raw); err != nil {
			return "", fmt.Errorf("rotate master key: %w", err)
		}
		if s.crash != nil && s.crash("next-written") {
			return "", errSimulatedCrash
		}
	}

	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := rewrapAll(ctx, tx, old, next); err != nil {
			return err
		}
		return putKeyCheck(tx.Bucket(bucketMeta), next)
	})
	if err != nil {
		if !kr.fromEnv {
			// Nothing committed, so the old key stays; drop the new one
			// now rather than leave it for the next Open to sort out.
			_ = removeDurable(kr.path(NextKeyFile))
		}
		return "", fmt.Errorf("rotate master key: %w (nothing was changed; key id %s is still in use)", err, old.id)
	}
	if s.crash != nil && s.crash("committed") {
		return "", errSimulatedCrash
	}

	// The store now needs the new key whatever happens to the files.
	s.key = next
	kr.current, kr.next = next, nil
	if !kr.fromEnv {
		if err := renameDurable(kr.path(NextKeyFile), kr.path(KeyFile)); err != nil {
			return next.id, fmt.Errorf("rotate master key: re-wrapped under key %s, but %s could not replace %s (%v); the next start finishes this, keep %s until then", next.id, NextKeyFile, KeyFile, err, NextKeyFile)
		}
	}
	return next.id, nil
}

var errSimulatedCrash = errors.New("simulated crash")

// rewrapAll re-wraps every version's data key from old to next. Updates
// are collected per secret and written after its ForEach, because bbolt
// forbids changing a bucket while iterating it.
func rewrapAll(ctx context.Context, tx *bbolt.Tx, old, next *masterKey) error {
	root := tx.Bucket(bucketSecrets)
	return root.ForEachBucket(func(env []byte) error {
		eb := root.Bucket(env)
		return eb.ForEachBucket(func(name []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			nb := eb.Bucket(name)
			type put struct{ k, v []byte }
			var puts []put
			err := nb.ForEach(func(k, v []byte) error {
				e, n, version := string(env), string(name), keyVersion(k)
				var rec record
				if err := json.Unmarshal(v, &rec); err != nil {
					return decryptError(e, n, version)
				}
				dk, err := unwrap(old, e, n, version, &rec)
				if err != nil {
					return err
				}
				rec.KeyNonce, rec.WrappedKey, err = seal(next.aead, dk, wrapAAD(next.id, e, n, version))
				clear(dk)
				if err != nil {
					return err
				}
				rec.KeyID = next.id
				buf, err := json.Marshal(&rec)
				if err != nil {
					return err
				}
				puts = append(puts, put{append([]byte(nil), k...), buf})
				return nil
			})
			if err != nil {
				return err
			}
			for _, p := range puts {
				if err := nb.Put(p.k, p.v); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func nameBucket(tx *bbolt.Tx, env, name string) *bbolt.Bucket {
	eb := tx.Bucket(bucketSecrets).Bucket([]byte(env))
	if eb == nil {
		return nil
	}
	return eb.Bucket([]byte(name))
}

// Versions are 8-byte big-endian keys so bbolt's byte order is numeric
// order and Cursor.Last is the latest.
func versionKey(v int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func keyVersion(k []byte) int {
	if len(k) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(k))
}

// refuseSystem keeps callers of the exported methods (the API, the CLI's
// users) out of SystemEnv: Haven's own keys are reached only through
// SystemKey.
func refuseSystem(env string) error {
	if env == SystemEnv {
		return fmt.Errorf("%w environment name %q: reserved for Haven's own keys", ErrInvalid, env)
	}
	return nil
}

func validate(env, name string) error {
	if !validName(env) {
		return fmt.Errorf("%w environment name %q: use 1-128 characters from A-Z a-z 0-9 _ . -", ErrInvalid, env)
	}
	if !validName(name) {
		return fmt.Errorf("%w name %q in environment %s: use 1-128 characters from A-Z a-z 0-9 _ . -", ErrInvalid, name, env)
	}
	return nil
}

// validName is [A-Za-z0-9_.-]{1,128}, minus "." and "..": a secret may
// become a file under /run/secrets, where those two mean directories.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
