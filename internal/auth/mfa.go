package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	bbolt "go.etcd.io/bbolt"
)

// TOTP settings: RFC 6238's defaults, which every authenticator app reads
// from the otpauth:// URL.
const (
	totpIssuer = "Haven"
	totpPeriod = 30 // seconds
	totpDigits = otp.DigitsSix
	totpSkew   = 1 // steps accepted either side of now: clock drift and typing time
)

var totpAlgorithm = otp.AlgorithmSHA1

// mfaRecord is the TOTP state in a user record. Active is the confirmed
// secret; Pending one awaiting ConfirmMFA. LastCounter is the time step of
// the last code accepted, so no code of that step or an earlier one is
// accepted again (RFC 6238 §5.2).
type mfaRecord struct {
	Active      *storedSecret `json:"active,omitempty"`
	Pending     *storedSecret `json:"pending,omitempty"`
	LastCounter uint64        `json:"last_counter,omitempty"`
}

// storedSecret is a base32 TOTP secret, sealed when the Service has a
// Sealer. The flag is per value so records written before a Sealer was
// configured stay readable.
type storedSecret struct {
	Value  []byte `json:"value"`
	Sealed bool   `json:"sealed,omitempty"`
}

func (s *Service) seal(secret string) (*storedSecret, error) {
	if s.sealer == nil {
		return &storedSecret{Value: []byte(secret)}, nil
	}
	v, err := s.sealer.Seal([]byte(secret))
	if err != nil {
		return nil, fmt.Errorf("seal TOTP secret: %w", err)
	}
	return &storedSecret{Value: v, Sealed: true}, nil
}

func (s *Service) open(st *storedSecret) (string, error) {
	if !st.Sealed {
		return string(st.Value), nil
	}
	if s.sealer == nil {
		return "", fmt.Errorf("TOTP secret is sealed but no sealer is configured")
	}
	v, err := s.sealer.Open(st.Value)
	if err != nil {
		return "", fmt.Errorf("open TOTP secret: %w", err)
	}
	return string(v), nil
}

// EnableMFA starts TOTP enrolment (or re-enrolment on a new device) for
// user: it returns an otpauth:// URL (for a QR code) and the base32 secret
// (to type in). Changing a credential needs the credentials themselves,
// not only a token: password must be the user's, and when MFA is on, code
// a current code from the active secret. Both are checked like a login
// (prove): wrong ones count in the login limiter from source, a missing
// code is ErrMFARequired.
//
// Nothing changes for logins until ConfirmMFA proves the authenticator
// produces codes of the new secret; calling it again replaces the pending
// secret. If MFA is already on, the active secret stays in force until
// then, so a pending enrolment never weakens a login and a user moves to a
// new device without a window without MFA.
func (s *Service) EnableMFA(ctx context.Context, user, password, code, source string) (otpauthURL, secret string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: totpIssuer, AccountName: user, Period: totpPeriod,
		Digits: totpDigits, Algorithm: totpAlgorithm,
	})
	if err != nil {
		return "", "", fmt.Errorf("enable MFA for %s: %w", user, err)
	}
	sealed, err := s.seal(key.Secret())
	if err != nil {
		return "", "", err
	}
	err = s.prove(ctx, user, password, code, source, func(_ *bbolt.Tx, u *userRecord) error {
		u.MFA.Pending = sealed
		return nil
	})
	if err != nil {
		return "", "", wrapProof("enable MFA for "+user, err)
	}
	return key.URL(), key.Secret(), nil
}

// ConfirmMFA activates the pending TOTP secret if code is a current code
// of it (not of the active one); from then on Login needs a code of the
// new secret and the old one is void. The code's time step counts as used,
// so it cannot also log in. A wrong code counts in the login limiter from
// source, like a wrong code at login.
//
// It needs no password: the pending secret was set by EnableMFA, which
// checked it, and the code proves the caller holds that new secret.
func (s *Service) ConfirmMFA(user, code, source string) error {
	attempt, ok := s.limiter.begin(user, source)
	if !ok {
		return ErrRateLimited
	}
	wrong := false
	err := s.updateUser(user, func(_ *bbolt.Tx, u *userRecord) (bool, error) {
		if u.MFA.Pending == nil {
			return false, fmt.Errorf("%w: no MFA enrolment pending; run haven mfa enable first", ErrInvalid)
		}
		secret, err := s.open(u.MFA.Pending)
		if err != nil {
			return false, err
		}
		counter, ok := matchTOTP(secret, strings.TrimSpace(code), s.now(), 0)
		if !ok {
			wrong = true
			return false, fmt.Errorf("%w: the code does not match the new secret; check the authenticator app's new entry and its clock", ErrInvalid)
		}
		u.MFA = mfaRecord{Active: u.MFA.Pending, LastCounter: counter}
		return true, nil
	})
	if !wrong {
		s.limiter.forgive(user, source, attempt, err == nil)
	}
	if err != nil {
		return fmt.Errorf("confirm MFA for %s: %w", user, err)
	}
	return nil
}

// DisableMFA turns MFA off for user and drops any pending enrolment, when
// the caller proves the password and a current code (see EnableMFA): a
// token alone cannot remove a second factor. Errors as for Login.
func (s *Service) DisableMFA(ctx context.Context, user, password, code, source string) error {
	err := s.prove(ctx, user, password, code, source, func(_ *bbolt.Tx, u *userRecord) error {
		if u.MFA.Active == nil && u.MFA.Pending == nil {
			return fmt.Errorf("%w: MFA is not on for %s", ErrInvalid, user)
		}
		u.MFA = mfaRecord{}
		return nil
	})
	return wrapProof("disable MFA for "+user, err)
}

// ResetMFA turns MFA off for user without their credentials: the way back
// for someone who lost their device. It is an admin action (the api
// guards it with PermAdmin); the user logs in with the password alone and
// enrols again.
func (s *Service) ResetMFA(user string) error {
	err := s.updateUser(user, func(_ *bbolt.Tx, u *userRecord) (bool, error) {
		u.MFA = mfaRecord{}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("reset MFA of %s: %w", user, err)
	}
	return nil
}

// matchTOTP checks code against secret at time t with ±totpSkew steps and
// returns the time step it matched. Steps at or before after are refused:
// that is the replay rule. We compare per step ourselves rather than call
// totp.ValidateCustom because that does not say which step matched.
func matchTOTP(secret, code string, t time.Time, after uint64) (uint64, bool) {
	if len(code) != totpDigits.Length() || t.Unix() < 0 {
		return 0, false
	}
	now := uint64(t.Unix()) / totpPeriod
	opts := hotp.ValidateOpts{Digits: totpDigits, Algorithm: totpAlgorithm}
	matched, step := 0, uint64(0)
	// Try every step in the window, without stopping early, so the time
	// taken does not tell which step matched.
	lo := uint64(0)
	if now > totpSkew {
		lo = now - totpSkew
	}
	for c := lo; c <= now+totpSkew; c++ {
		want, err := hotp.GenerateCodeCustom(secret, c, opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && c > after {
			matched, step = 1, c
		}
	}
	return step, matched == 1
}
