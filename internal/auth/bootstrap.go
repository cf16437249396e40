package auth

import (
	"crypto/rand"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// BootstrapUser is the admin EnsureAdmin creates on a new server.
const BootstrapUser = "admin"

// EnsureAdmin makes a new server usable: when no user exists it creates
// BootstrapUser bound to admin@* and returns an admin API token valid for
// MaxTokenTTL, which the server writes to a 0600 file for the local CLI.
// The user's password is random and never shown: the token is the way in,
// and the admin can set a password with SetPassword. When any user exists
// it does nothing and returns created=false. Users, user and token are
// written in one transaction, so a crash leaves either nothing or both.
func (s *Service) EnsureAdmin() (token string, created bool, err error) {
	// Look first, so the usual start (users exist) skips the argon2 run.
	var exists bool
	if err := s.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(usersBucket).Cursor().First()
		exists = k != nil
		return nil
	}); err != nil || exists {
		return "", false, err
	}
	hash, err := hashPassword(rand.Text()+rand.Text(), s.argon) // 260 random bits
	if err != nil {
		return "", false, err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(usersBucket)
		if k, _ := users.Cursor().First(); k != nil {
			return nil
		}
		admin := []Binding{{Role: RoleAdmin, Env: AllEnvs}}
		if err := put(users, BootstrapUser, &userRecord{
			Name: BootstrapUser, PasswordHash: hash, Bindings: admin, Created: s.now().UTC(),
		}); err != nil {
			return err
		}
		now := s.now()
		token, _, err = s.issueToken(tx, BootstrapUser, "bootstrap", admin, now, now.Add(MaxTokenTTL), false)
		created = err == nil
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return token, created, nil
}
