package auth

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// The buckets this package owns in the server's bbolt file.
var (
	usersBucket  = []byte("auth_users")  // user name → userRecord
	tokensBucket = []byte("auth_tokens") // token id → tokenRecord
	metaBucket   = []byte("auth_meta")   // "schema" → schemaVersion
)

const schemaVersion = "1"

// Sealer encrypts small values at rest. The secrets package provides one
// (secrets.KeySealer under a SystemKey, itself sealed under the master
// key); the server always passes it. With none (tests), TOTP secrets are
// stored in the clear, protected only by the store file's 0600
// permissions.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(ciphertext []byte) ([]byte, error)
}

// Option configures a Service.
type Option func(*Service)

// WithSealer encrypts TOTP secrets at rest with s. New then also seals
// any secret an earlier start stored in the clear.
func WithSealer(s Sealer) Option { return func(svc *Service) { svc.sealer = s } }

// Service keeps users, tokens and MFA in bbolt and answers who a request
// is. It is safe for concurrent use. Every write is one bbolt transaction.
type Service struct {
	db      *bbolt.DB
	now     func() time.Time
	sealer  Sealer
	argon   argonParams
	limiter *limiter

	// dummyHash is checked against when a login names an unknown user, so
	// that answer costs one argon2 run like a wrong password does.
	dummyHash string
}

// New returns a Service over db, creating its buckets if needed. clock is
// the one time source for expiry, TOTP and rate limits (nil = time.Now).
func New(db *bbolt.DB, clock func() time.Time, opts ...Option) (*Service, error) {
	if clock == nil {
		clock = time.Now
	}
	s := &Service{db: db, now: clock, argon: defaultArgon}
	for _, o := range opts {
		o(s)
	}
	s.limiter = newLimiter(clock)
	if err := s.init(); err != nil {
		return nil, err
	}
	if err := s.sealStored(); err != nil {
		return nil, err
	}
	return s, nil
}

// sealStored seals every TOTP secret (active or pending) stored in the
// clear, in one transaction, when the Service has a Sealer: a data
// directory from before sealing was wired keeps working and is sealed at
// its first start with it. Nothing is written when there is nothing to
// seal, so the usual start costs one read pass.
func (s *Service) sealStored() error {
	if s.sealer == nil {
		return nil
	}
	clear := func(st *storedSecret) bool { return st != nil && !st.Sealed }
	var names []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(usersBucket).ForEach(func(k, v []byte) error {
			var u userRecord
			if err := decode(k, v, &u); err != nil {
				return err
			}
			if clear(u.MFA.Active) || clear(u.MFA.Pending) {
				names = append(names, string(k))
			}
			return nil
		})
	})
	if err != nil || len(names) == 0 {
		return err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(usersBucket)
		for _, name := range names {
			var u userRecord
			if ok, err := get(users, name, &u); err != nil || !ok {
				return err
			}
			for _, st := range []**storedSecret{&u.MFA.Active, &u.MFA.Pending} {
				if !clear(*st) {
					continue
				}
				sealed, err := s.seal(string((*st).Value))
				if err != nil {
					return err
				}
				*st = sealed
			}
			if err := put(users, name, &u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seal TOTP secrets stored in the clear: %w", err)
	}
	return nil
}

// init creates the buckets and the dummy hash. Split from New so tests can
// set cheaper argon2 parameters first.
func (s *Service) init() error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{usersBucket, tokensBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(metaBucket)
		switch v := meta.Get([]byte("schema")); {
		case v == nil:
			return meta.Put([]byte("schema"), []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("auth records have schema %q, this haven reads %q: upgrade haven", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("init auth store: %w", err)
	}
	// A random password nobody knows: no login can ever match it.
	dummy, err := hashPassword(rand.Text(), s.argon)
	if err != nil {
		return err
	}
	s.dummyHash = dummy
	return nil
}

// get reads the JSON record at key into v; false if there is none.
func get(b *bbolt.Bucket, key string, v any) (bool, error) {
	data := b.Get([]byte(key))
	if data == nil {
		return false, nil
	}
	return true, decode([]byte(key), data, v)
}

// decode reads one JSON record (e.g. inside a ForEach).
func decode(key, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode auth record %q: %w", key, err)
	}
	return nil
}

func put(b *bbolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}
