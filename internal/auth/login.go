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
//
// A session is a root credential: it is derived from the password (and
// code), not from another token, so it carries the user's bindings; every
// token created with it is bounded by it (see Delegate).
func (s *Service) Login(ctx context.Context, user, password, totpCode, source string) (token string, tok TokenInfo, err error) {
	name := strings.ToLower(strings.TrimSpace(user))
	err = s.prove(ctx, name, password, totpCode, source, func(tx *bbolt.Tx, u *userRecord) error {
		now := s.now()
		var err error
		token, tok, err = s.issueToken(tx, name, sessionName(source), u.Bindings, now, now.Add(SessionTTL), true)
		return err
	})
	if err != nil {
		return "", TokenInfo{}, wrapProof("login "+name, err)
	}
	return token, tok, nil
}

// wrapProof adds what was attempted to an error of prove, except to its
// sentinels, which callers compare exactly and whose message must not
// differ between a wrong password and an unknown user.
func wrapProof(what string, err error) error {
	if err == nil || errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrRateLimited) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// prove checks that the caller knows user's password and, when MFA is on,
// a current code, and then runs then on the user's record inside the same
// write transaction (the record is stored back afterwards). It is the one
// password check of the package: Login and every change to a user's own
// credentials go through it, so all of them count in the login limiter.
//
// Names are folded to lowercase by the caller ("Alice" finds alice and
// cannot count as a different key in the limiter). The code check, its
// replay rule and then are one transaction, so two requests racing with
// the same code cannot both get through.
func (s *Service) prove(ctx context.Context, name, password, totpCode, source string, then func(*bbolt.Tx, *userRecord) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	attempt, ok := s.limiter.begin(name, source)
	if !ok {
		return ErrRateLimited
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
			return err
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
		return ErrUnauthenticated // counted by begin
	}
	if u.MFA.Active != nil && strings.TrimSpace(totpCode) == "" {
		s.limiter.forgive(name, source, attempt, false)
		return ErrMFARequired
	}

	err := s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(usersBucket)
		var cur userRecord
		if ok, err := get(users, name, &cur); err != nil || !ok {
			if err == nil {
				err = ErrUnauthenticated // removed since we read it
			}
			return err
		}
		if cur.PasswordHash != u.PasswordHash {
			return ErrUnauthenticated // the password changed since we checked it
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
		}
		if err := then(tx, &cur); err != nil {
			return err
		}
		return put(users, name, &cur)
	})
	if errors.Is(err, ErrUnauthenticated) {
		return ErrUnauthenticated // counted by begin
	}
	if err != nil {
		// Our fault, or a rule then enforces, not a wrong guess: do not
		// count it against the caller.
		s.limiter.forgive(name, source, attempt, false)
		return err
	}
	s.limiter.forgive(name, source, attempt, true)
	return nil
}

func sessionName(source string) string {
	host := sourceHost(source)
	if host == "" || len(host) > 80 || validTokenName(host) != nil {
		return "login"
	}
	return "login from " + host
}
