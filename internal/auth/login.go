package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	bbolt "go.etcd.io/bbolt"
)

// Login checks a user's password (and TOTP code when MFA is on) and issues
// a session token valid for SessionTTL, carrying the user's bindings. source
// is the client address (ip or ip:port) for rate limiting.
//
// Errors: ErrRateLimited before anything is checked when this user or
// address failed too often (see doc.go); ErrUnauthenticated for a wrong
// password, an unknown user or a wrong or replayed code, with the same
// message and nearly the same time either way (an unknown user still costs
// one argon2 run); ErrMFARequired when the password was right but a code
// is needed. Wrong passwords and codes count as failures; a missing code
// does not, since asking for it is the normal second step of a login.
func (s *Service) Login(ctx context.Context, user, password, totpCode, source string) (token string, tok TokenInfo, err error) {
	if err := ctx.Err(); err != nil {
		return "", TokenInfo{}, err
	}
	// Names are lowercase; folding here means "Alice" finds alice and
	// cannot count as a different key in the rate limiter.
	name := strings.ToLower(strings.TrimSpace(user))
	attempt, ok := s.limiter.begin(name, source)
	if !ok {
		return "", TokenInfo{}, ErrRateLimited
	}
	var u userRecord
	found := false
	if validUserName(name) == nil {
		err := s.db.View(func(tx *bbolt.Tx) error {
			var err error
			found, err = get(tx.Bucket(usersBucket), name, &u)
			return err
		})
		if err != nil {
			s.limiter.forgive(name, source, attempt, false)
			return "", TokenInfo{}, fmt.Errorf("login: %w", err)
		}
	}
	hash := s.dummyHash
	if found {
		hash = u.PasswordHash
	}
	if len(password) > MaxPasswordLen {
		password, found = "", false // still pay for one hash below
	}
	if !verifyPassword(password, hash) || !found {
		return "", TokenInfo{}, ErrUnauthenticated // counted by begin
	}
	if u.MFA.Active != nil && totpCode == "" {
		s.limiter.forgive(name, source, attempt, false)
		return "", TokenInfo{}, ErrMFARequired
	}

	// The code check and the session are one write transaction, so two
	// logins racing with the same code cannot both get in.
	err = s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(usersBucket)
		var cur userRecord
		if ok, err := get(users, name, &cur); err != nil || !ok {
			if err == nil {
				err = ErrUnauthenticated // removed since we read it
			}
			return err
		}
		if cur.MFA.Active != nil {
			secret, err := s.open(cur.MFA.Active)
			if err != nil {
				return err
			}
			step, ok := matchTOTP(secret, strings.TrimSpace(totpCode), s.now(), cur.MFA.LastCounter)
			if !ok {
				return ErrUnauthenticated
			}
			cur.MFA.LastCounter = step
			if err := put(users, name, &cur); err != nil {
				return err
			}
		}
		now := s.now()
		token, tok, err = s.issueToken(tx, name, sessionName(source), cur.Bindings, now, now.Add(SessionTTL), true)
		return err
	})
	if errors.Is(err, ErrUnauthenticated) {
		return "", TokenInfo{}, ErrUnauthenticated // counted by begin
	}
	if err != nil {
		// Our fault, not the caller's: do not count it against them.
		s.limiter.forgive(name, source, attempt, false)
		return "", TokenInfo{}, fmt.Errorf("login %s: %w", name, err)
	}
	s.limiter.forgive(name, source, attempt, true)
	return token, tok, nil
}

func sessionName(source string) string {
	host := sourceHost(source)
	if host == "" || len(host) > 80 || validTokenName(host) != nil {
		return "login"
	}
	return "login from " + host
}
