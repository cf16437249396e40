package auth

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	bbolt "go.etcd.io/bbolt"
)

// fakeClock is the tests' clock: time moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// cheapArgon keeps tests that do not measure hashing fast, above all
// under -race.
var cheapArgon = argonParams{time: 1, memory: 64, threads: 1}

func openDB(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "haven.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newService returns a Service on a fresh bbolt file with cheap hashing.
func newService(t *testing.T, clk *fakeClock, opts ...Option) *Service {
	t.Helper()
	s, err := New(openDB(t), clk.now, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s.argon = cheapArgon
	if s.dummyHash, err = hashPassword("nobody's password", cheapArgon); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustAddUser(t *testing.T, s *Service, name string, bindings ...Binding) {
	t.Helper()
	if err := s.AddUser(name, name+"-correct-horse", bindings); err != nil {
		t.Fatal(err)
	}
}

func b(role Role, env string) Binding { return Binding{Role: role, Env: env} }

// rawUser returns a user's stored bytes, to check what is at rest.
func rawUser(t *testing.T, s *Service, name string) []byte {
	t.Helper()
	var out []byte
	s.db.View(func(tx *bbolt.Tx) error {
		out = append(out, tx.Bucket(usersBucket).Get([]byte(name))...)
		return nil
	})
	return out
}

func containsBytes(hay []byte, needle string) bool { return bytes.Contains(hay, []byte(needle)) }

// holdsTOTPSecret reports whether raw stored bytes hold a base32 TOTP
// secret readably: as it is, or as the base64 that encoding/json makes of
// a []byte holding it (which is how an unsealed storedSecret looks).
func holdsTOTPSecret(raw []byte, secret string) bool {
	return containsBytes(raw, secret) || containsBytes(raw, base64.StdEncoding.EncodeToString([]byte(secret)))
}

func rawToken(t *testing.T, s *Service, id string) []byte {
	t.Helper()
	var out []byte
	s.db.View(func(tx *bbolt.Tx) error {
		out = append(out, tx.Bucket(tokensBucket).Get([]byte(id))...)
		return nil
	})
	return out
}

// confirmMFA enrols user in MFA and returns the TOTP secret.
func confirmMFA(t *testing.T, s *Service, clk *fakeClock, user string) string {
	t.Helper()
	_, secret, err := s.EnableMFA(t.Context(), user, user+"-correct-horse", "", "192.0.2.9")
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(secret, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmMFA(user, code, "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	return secret
}

// cred returns an identity of user acting through a fresh token that
// carries all their bindings and lives MaxTokenTTL, like the bootstrap
// token: the root a test's derived tokens come from.
func cred(t *testing.T, s *Service, user string) Identity {
	t.Helper()
	var secret string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var u userRecord
		if _, err := get(tx.Bucket(usersBucket), user, &u); err != nil {
			return err
		}
		var err error
		secret, _, err = s.issueToken(tx, user, "root", u.Bindings, s.now(), s.now().Add(MaxTokenTTL), false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Authenticate(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
