package auth

import (
	"bytes"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestRFC6238Vectors checks the TOTP library against RFC 6238 Appendix B
// (SHA-1, 8 digits, the 20-byte ASCII key "12345678901234567890").
func TestRFC6238Vectors(t *testing.T) {
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1}
	for _, c := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		at := time.Unix(c.unix, 0).UTC()
		got, err := totp.GenerateCodeCustom(secret, at, opts)
		if err != nil || got != c.code {
			t.Errorf("T=%d: code %q, %v; want %q", c.unix, got, err, c.code)
		}
		if ok, err := totp.ValidateCustom(c.code, secret, at, opts); !ok || err != nil {
			t.Errorf("T=%d: ValidateCustom(%q) = %v, %v", c.unix, c.code, ok, err)
		}
	}
}

// TestMatchTOTPWindow checks Haven's own check: ±1 step accepted, ±2 not,
// and the matched step is reported for the replay rule.
func TestMatchTOTPWindow(t *testing.T) {
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	now := time.Unix(1111111111, 0)
	step := uint64(now.Unix()) / 30
	gen := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, c := range []struct {
		offset int
		ok     bool
	}{{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		code, err := totp.GenerateCodeCustom(secret, now.Add(time.Duration(c.offset)*30*time.Second), gen)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := matchTOTP(secret, code, now, 0)
		if ok != c.ok || (ok && got != uint64(int64(step)+int64(c.offset))) {
			t.Errorf("offset %+d steps: matched step %d, %v; want %v", c.offset, got, ok, c.ok)
		}
		// The replay rule: nothing at or before the last used step.
		if _, ok := matchTOTP(secret, code, now, uint64(int64(step)+int64(c.offset))); ok {
			t.Errorf("offset %+d: a code of an already used step was accepted", c.offset)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := matchTOTP(secret, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
}

// rot13Sealer stands in for the secrets package: anything reversible that
// changes the bytes shows the secret is not stored as given.
type rot13Sealer struct{}

func (rot13Sealer) Seal(p []byte) ([]byte, error) { return append([]byte("sealed:"), rot(p)...), nil }
func (rot13Sealer) Open(c []byte) ([]byte, error) {
	if len(c) < 7 || string(c[:7]) != "sealed:" {
		return nil, errors.New("not sealed")
	}
	return rot(c[7:]), nil
}
func rot(p []byte) []byte {
	out := make([]byte, len(p))
	for i, c := range p {
		if c >= 'A' && c <= 'Z' {
			c = 'A' + (c-'A'+13)%26
		}
		out[i] = c
	}
	return out
}

func TestMFALogin(t *testing.T) {
	for _, sealer := range []Sealer{nil, rot13Sealer{}} {
		var opts []Option
		if sealer != nil {
			opts = append(opts, WithSealer(sealer))
		}
		clk := newClock()
		s := newService(t, clk, opts...)
		mustAddUser(t, s, "alice", b(RoleDeveloper, "dev"))
		const pw = "alice-correct-horse"
		ctx := t.Context()

		u, secret, err := s.EnableMFA(ctx, "alice", pw, "", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if parsed, err := url.Parse(u); err != nil || parsed.Scheme != "otpauth" || parsed.Query().Get("secret") != secret {
			t.Errorf("otpauth URL %q does not carry the secret", u)
		}
		code := func() string {
			c, err := totp.GenerateCode(secret, clk.now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		// Pending: logins do not need a code yet.
		if _, _, err := s.Login(ctx, "alice", pw, "", "10.0.0.1"); err != nil {
			t.Fatalf("login with MFA pending: %v", err)
		}
		if err := s.ConfirmMFA("alice", "000000", "10.0.0.1"); !errors.Is(err, ErrInvalid) {
			t.Errorf("confirm with a wrong code: %v", err)
		}
		confirmCode := code()
		if err := s.ConfirmMFA("alice", confirmCode, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if usr, _ := s.GetUser("alice"); !usr.MFA {
			t.Error("user does not show MFA on")
		}
		// The record never holds the secret in the clear when sealed.
		raw := rawUser(t, s, "alice")
		if sealer != nil && holdsTOTPSecret(raw, secret) {
			t.Error("sealed TOTP secret found in the clear in the store")
		}

		if _, _, err := s.Login(ctx, "alice", pw, "", "10.0.0.1"); !errors.Is(err, ErrMFARequired) || !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("login without code: %v, want ErrMFARequired (401-class)", err)
		}
		if _, _, err := s.Login(ctx, "alice", "wrong-password-here", "", "10.0.0.1"); !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrMFARequired) {
			t.Errorf("wrong password without code: %v, want plain ErrUnauthenticated", err)
		}
		if _, _, err := s.Login(ctx, "alice", pw, confirmCode, "10.0.0.1"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("the code used to confirm logged in again: %v", err)
		}
		clk.advance(30 * time.Second)
		c := code()
		if _, _, err := s.Login(ctx, "alice", pw, c, "10.0.0.1"); err != nil {
			t.Fatalf("login with a fresh code: %v", err)
		}
		if _, _, err := s.Login(ctx, "alice", pw, c, "10.0.0.1"); !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrMFARequired) {
			t.Errorf("replayed code: %v, want ErrUnauthenticated", err)
		}
		clk.advance(30 * time.Second)
		if _, _, err := s.Login(ctx, "alice", pw, c, "10.0.0.1"); err == nil {
			t.Error("a code from the previous step, already used, was accepted again")
		}
		if err := s.ResetMFA("alice"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Login(ctx, "alice", pw, "", "10.0.0.1"); err != nil {
			t.Errorf("login after MFA disabled: %v", err)
		}
	}
}

// TestMFAChangesNeedTheCredentials: enrolment, re-enrolment and removal
// need the password and, when MFA is on, a current code; wrong ones count
// like wrong logins; a pending re-enrolment leaves the active secret in
// force until a code of the new one confirms it.
func TestMFAChangesNeedTheCredentials(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	mustAddUser(t, s, "alice", b(RoleDeveloper, "dev"))
	const pw, src = "alice-correct-horse", "10.0.0.1"
	ctx := t.Context()
	code := func(secret string) string {
		c, err := totp.GenerateCode(secret, clk.now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, _, err := s.EnableMFA(ctx, "alice", "wrong-password-x", "", src); err != ErrUnauthenticated {
		t.Errorf("first enrolment with a wrong password: %v, want ErrUnauthenticated", err)
	}
	old := confirmMFA(t, s, clk, "alice")
	clk.advance(30 * time.Second)

	// Re-enrolment: password and a current code of the active secret.
	if _, _, err := s.EnableMFA(ctx, "alice", pw, "", src); !errors.Is(err, ErrMFARequired) {
		t.Errorf("re-enrol without a code: %v, want ErrMFARequired", err)
	}
	if _, _, err := s.EnableMFA(ctx, "alice", "wrong-password-x", code(old), src); err != ErrUnauthenticated {
		t.Errorf("re-enrol with a wrong password: %v, want ErrUnauthenticated", err)
	}
	if _, _, err := s.EnableMFA(ctx, "alice", pw, "000000", src); err != ErrUnauthenticated {
		t.Errorf("re-enrol with a wrong code: %v, want ErrUnauthenticated", err)
	}
	_, next, err := s.EnableMFA(ctx, "alice", pw, code(old), src)
	if err != nil {
		t.Fatal(err)
	}
	// Pending: the old secret still logs in, the new one does not yet.
	clk.advance(30 * time.Second)
	if _, _, err := s.Login(ctx, "alice", pw, code(next), src); err != ErrUnauthenticated {
		t.Errorf("login with the pending secret: %v, want ErrUnauthenticated", err)
	}
	if _, _, err := s.Login(ctx, "alice", pw, code(old), src); err != nil {
		t.Errorf("login with the active secret while a new one is pending: %v", err)
	}
	clk.advance(30 * time.Second)
	if err := s.ConfirmMFA("alice", code(old), src); !errors.Is(err, ErrInvalid) {
		t.Errorf("confirming the new secret with a code of the old one: %v, want ErrInvalid", err)
	}
	if err := s.ConfirmMFA("alice", code(next), src); err != nil {
		t.Fatal(err)
	}
	clk.advance(30 * time.Second)
	if _, _, err := s.Login(ctx, "alice", pw, code(old), src); err != ErrUnauthenticated {
		t.Errorf("the replaced secret still logs in: %v", err)
	}

	// Removal: likewise.
	if err := s.DisableMFA(ctx, "alice", pw, "", src); !errors.Is(err, ErrMFARequired) {
		t.Errorf("disable without a code: %v, want ErrMFARequired", err)
	}
	if err := s.DisableMFA(ctx, "alice", "wrong-password-x", code(next), src); err != ErrUnauthenticated {
		t.Errorf("disable with a wrong password: %v", err)
	}
	if err := s.DisableMFA(ctx, "alice", pw, code(next), src); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser("alice"); u.MFA {
		t.Error("MFA still on after DisableMFA")
	}
	if err := s.DisableMFA(ctx, "alice", pw, "", src); !errors.Is(err, ErrInvalid) {
		t.Errorf("disable when off: %v, want ErrInvalid", err)
	}

	// Wrong passwords at the MFA endpoints are password guesses: they
	// throttle logins from that source like wrong logins do.
	clk.advance(LoginWindow)
	for i := range MaxFailuresPerUserSource {
		if _, _, err := s.EnableMFA(ctx, "alice", "wrong-password-x", "", src); err != ErrUnauthenticated {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, _, err := s.Login(ctx, "alice", pw, "", src); err != ErrRateLimited {
		t.Errorf("login after %d wrong passwords at EnableMFA: %v, want ErrRateLimited", MaxFailuresPerUserSource, err)
	}
	if _, _, err := s.EnableMFA(ctx, "alice", pw, "", src); err != ErrRateLimited {
		t.Errorf("EnableMFA while throttled: %v, want ErrRateLimited", err)
	}

	// Wrong confirmation codes count too: a token holder cannot try the
	// million codes of a pending secret.
	clk.advance(LoginWindow)
	if _, _, err := s.EnableMFA(ctx, "alice", pw, "", src); err != nil {
		t.Fatal(err)
	}
	for i := range MaxFailuresPerUserSource {
		if err := s.ConfirmMFA("alice", fmt.Sprintf("%06d", i), src); !errors.Is(err, ErrInvalid) {
			t.Fatalf("wrong confirmation %d: %v", i, err)
		}
	}
	if err := s.ConfirmMFA("alice", "123456", src); err != ErrRateLimited {
		t.Errorf("confirmation after %d wrong codes: %v, want ErrRateLimited", MaxFailuresPerUserSource, err)
	}
}

// TestSealsSecretsStoredInTheClear: a data directory from before sealing
// was wired holds TOTP secrets in the clear; the first New with a Sealer
// seals them (active and pending), and logins with the same authenticator
// go on working.
func TestSealsSecretsStoredInTheClear(t *testing.T) {
	clk := newClock()
	db := openDB(t)
	s, err := New(db, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	s.argon = cheapArgon
	mustAddUser(t, s, "alice")
	mustAddUser(t, s, "bob")
	active := confirmMFA(t, s, clk, "alice")
	_, pending, err := s.EnableMFA(t.Context(), "bob", "bob-correct-horse", "", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !holdsTOTPSecret(rawUser(t, s, "alice"), active) || !holdsTOTPSecret(rawUser(t, s, "bob"), pending) {
		t.Fatal("without a sealer the secrets should be in the clear (the test's premise)")
	}

	s, err = New(db, clk.now, WithSealer(rot13Sealer{})) // the next start, with sealing wired
	if err != nil {
		t.Fatal(err)
	}
	if holdsTOTPSecret(rawUser(t, s, "alice"), active) || holdsTOTPSecret(rawUser(t, s, "bob"), pending) {
		t.Error("a secret stored in the clear was not sealed at start")
	}
	clk.advance(30 * time.Second)
	code, _ := totp.GenerateCode(active, clk.now())
	if _, _, err := s.Login(t.Context(), "alice", "alice-correct-horse", code, "10.0.0.1"); err != nil {
		t.Errorf("login after sealing: %v", err)
	}
	code, _ = totp.GenerateCode(pending, clk.now())
	if err := s.ConfirmMFA("bob", code, "10.0.0.1"); err != nil {
		t.Errorf("confirming a pending secret sealed at start: %v", err)
	}
	// A second start finds nothing to seal and changes nothing.
	before := rawUser(t, s, "alice")
	if _, err := New(db, clk.now, WithSealer(rot13Sealer{})); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, rawUser(t, s, "alice")) {
		t.Error("a start re-sealed an already sealed secret")
	}
}
