package auth

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	bbolt "go.etcd.io/bbolt"

	"github.com/haven-platform/haven/internal/spec"
)

// Password length limits. The minimum follows NIST SP 800-63B for
// memorized secrets chosen by users; the maximum bounds the work one login
// request can ask for.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// User is a user as shown to callers: never a password hash or TOTP secret.
type User struct {
	Name     string    `json:"name"`
	Bindings []Binding `json:"bindings"`
	MFA      bool      `json:"mfa"` // MFA confirmed: logins need a code
	Created  time.Time `json:"created"`
}

// userRecord is a user as stored in auth_users.
type userRecord struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"` // PHC argon2id
	Bindings     []Binding `json:"bindings"`
	Created      time.Time `json:"created"`
	MFA          mfaRecord `json:"mfa"`
}

func (r *userRecord) public() User {
	return User{Name: r.Name, Bindings: r.Bindings, MFA: r.MFA.Active != nil, Created: r.Created}
}

func (r *userRecord) isAdmin() bool {
	return slices.ContainsFunc(r.Bindings, func(b Binding) bool { return b.Role == RoleAdmin })
}

func validUserName(name string) error {
	if !spec.ValidName(name) {
		return fmt.Errorf("%w: user name %q must be a lowercase DNS label (a-z, 0-9, '-', at most 63)", ErrInvalid, name)
	}
	return nil
}

func validPassword(name, password string) error {
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLen:
		return fmt.Errorf("%w: password must have at least %d characters (a few unrelated words make a good one)", ErrInvalid, MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("%w: password must have at most %d bytes", ErrInvalid, MaxPasswordLen)
	case password == name:
		return fmt.Errorf("%w: password must not be the user name", ErrInvalid)
	}
	return nil
}

// AddUser creates a user with a password and role bindings. The name must
// be a lowercase DNS label, the password at least MinPasswordLen
// characters; ErrExists if the name is taken.
func (s *Service) AddUser(name, password string, bindings []Binding) error {
	if err := validUserName(name); err != nil {
		return err
	}
	if err := validPassword(name, password); err != nil {
		return err
	}
	bs, err := normalizeBindings(bindings)
	if err != nil {
		return err
	}
	// Hash before the transaction: bbolt has one writer at a time and
	// argon2 is the slow part.
	hash, err := hashPassword(password, s.argon)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(usersBucket)
		if users.Get([]byte(name)) != nil {
			return fmt.Errorf("user %s: %w", name, ErrExists)
		}
		return put(users, name, &userRecord{Name: name, PasswordHash: hash, Bindings: bs, Created: s.now().UTC()})
	})
	if err != nil {
		return fmt.Errorf("add user %s: %w", name, err)
	}
	return nil
}

// RemoveUser deletes a user and, in the same transaction, every token and
// session of theirs, so a later user of the same name inherits none. It
// refuses to remove the last admin, which would lock everyone out of user
// management.
func (s *Service) RemoveUser(name string) error {
	err := s.updateUser(name, func(tx *bbolt.Tx, u *userRecord) (bool, error) {
		if u.isAdmin() {
			if err := s.keepAnAdmin(tx, name); err != nil {
				return false, err
			}
		}
		if err := tx.Bucket(usersBucket).Delete([]byte(name)); err != nil {
			return false, err
		}
		return false, deleteTokensOf(tx, name)
	})
	if err != nil {
		return fmt.Errorf("remove user %s: %w", name, err)
	}
	return nil
}

// SetBindings replaces a user's role bindings. Their tokens keep their own
// bindings but act with at most the user's new ones (see Authenticate). It
// refuses to take admin away from the last admin.
func (s *Service) SetBindings(name string, bindings []Binding) error {
	bs, err := normalizeBindings(bindings)
	if err != nil {
		return err
	}
	err = s.updateUser(name, func(tx *bbolt.Tx, u *userRecord) (bool, error) {
		wasAdmin := u.isAdmin()
		u.Bindings = bs
		if wasAdmin && !u.isAdmin() {
			if err := s.keepAnAdmin(tx, name); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("set bindings of %s: %w", name, err)
	}
	return nil
}

// SetPassword replaces a user's password. Existing tokens and sessions stay
// valid; revoke them separately if the password leaked.
func (s *Service) SetPassword(name, password string) error {
	if err := validPassword(name, password); err != nil {
		return err
	}
	hash, err := hashPassword(password, s.argon)
	if err != nil {
		return err
	}
	err = s.updateUser(name, func(_ *bbolt.Tx, u *userRecord) (bool, error) {
		u.PasswordHash = hash
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	return nil
}

// GetUser returns one user; ErrNotFound if there is none.
func (s *Service) GetUser(name string) (User, error) {
	var u userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		ok, err := get(tx.Bucket(usersBucket), name, &u)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u.public(), nil
}

// ListUsers returns every user sorted by name, without secrets.
func (s *Service) ListUsers() ([]User, error) {
	var out []User
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(usersBucket).ForEach(func(k, v []byte) error {
			var u userRecord
			if err := decode(k, v, &u); err != nil {
				return err
			}
			out = append(out, u.public())
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil // bbolt iterates in key order: already sorted
}

// updateUser runs fn on the stored record of name in one write
// transaction and stores the record back if fn says it changed it.
func (s *Service) updateUser(name string, fn func(*bbolt.Tx, *userRecord) (bool, error)) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(usersBucket)
		var u userRecord
		ok, err := get(users, name, &u)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		changed, err := fn(tx, &u)
		if err != nil || !changed {
			return err
		}
		return put(users, name, &u)
	})
}

// keepAnAdmin fails unless some user other than except holds admin.
func (s *Service) keepAnAdmin(tx *bbolt.Tx, except string) error {
	users := tx.Bucket(usersBucket)
	found := false
	err := users.ForEach(func(k, v []byte) error {
		if found || string(k) == except {
			return nil
		}
		var u userRecord
		if err := decode(k, v, &u); err != nil {
			return err
		}
		found = u.isAdmin()
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: %s is the last admin; make another user admin first", ErrInvalid, except)
	}
	return err
}
