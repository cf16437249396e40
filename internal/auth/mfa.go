package auth

import (
	"crypto/subtle"
	"fmt"
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

// EnableMFA starts TOTP enrolment for user: it returns an otpauth:// URL
// (for a QR code) and the base32 secret (to type in). Nothing changes for
// logins until ConfirmMFA proves the authenticator produces codes; calling
// it again replaces the pending secret. If MFA is already on, the current
// secret stays in force until the new one is confirmed, so a user can move
// to a new device without a window without MFA.
func (s *Service) EnableMFA(user string) (otpauthURL, secret string, err error) {
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
	err = s.updateUser(user, func(_ *bbolt.Tx, u *userRecord) (bool, error) {
		u.MFA.Pending = sealed
		return true, nil
	})
	if err != nil {
		return "", "", fmt.Errorf("enable MFA for %s: %w", user, err)
	}
	return key.URL(), key.Secret(), nil
}

// ConfirmMFA activates the pending TOTP secret if code is a current code
// for it; from then on Login needs a code. The code's time step counts as
// used, so it cannot also log in.
func (s *Service) ConfirmMFA(user, code string) error {
	err := s.updateUser(user, func(_ *bbolt.Tx, u *userRecord) (bool, error) {
		if u.MFA.Pending == nil {
			return false, fmt.Errorf("%w: no MFA enrolment pending; run haven mfa enable first", ErrInvalid)
		}
		secret, err := s.open(u.MFA.Pending)
		if err != nil {
			return false, err
		}
		counter, ok := matchTOTP(secret, code, s.now(), 0)
		if !ok {
			return false, fmt.Errorf("%w: the code does not match; check the authenticator app and the clock", ErrInvalid)
		}
		u.MFA = mfaRecord{Active: u.MFA.Pending, LastCounter: counter}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("confirm MFA for %s: %w", user, err)
	}
	return nil
}

// DisableMFA turns MFA off for user and drops any pending enrolment: the
// way back for someone who lost their device (an admin action).
func (s *Service) DisableMFA(user string) error {
	err := s.updateUser(user, func(_ *bbolt.Tx, u *userRecord) (bool, error) {
		u.MFA = mfaRecord{}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("disable MFA for %s: %w", user, err)
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
