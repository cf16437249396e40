package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// session logs user in (a 12 h session, like `haven login`) and returns
// its identity.
func session(t *testing.T, s *Service, user string) Identity {
	t.Helper()
	secret, _, err := s.Login(t.Context(), user, user+"-correct-horse", "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Authenticate(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestProofLiftsTheSessionBound: from a 12 h session a 90-day token is
// refused, as delegation requires; re-proving the password makes the
// password the creating credential, so the same ask passes, bounded by
// the user's roles and MaxTokenTTL, never more.
func TestProofLiftsTheSessionBound(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	mustAddUser(t, s, "eve", b(RoleDeveloper, "prod"), b(RoleViewer, "staging"))
	sess := session(t, s, "eve")
	pw := Proof{Password: "eve-correct-horse", Source: "192.0.2.7"}

	if _, _, err := s.CreateToken(t.Context(), sess, "", "ci", nil, DefaultTokenTTL, Proof{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "would outlive") {
		t.Fatalf("90 days from a session without a proof: %v", err)
	}
	_, info, err := s.CreateToken(t.Context(), sess, "", "ci", nil, DefaultTokenTTL, pw)
	if err != nil {
		t.Fatalf("90 days from a session with the password: %v", err)
	}
	if got := info.Expires.Sub(info.Created); got != DefaultTokenTTL {
		t.Errorf("lifetime %v, want %v", got, DefaultTokenTTL)
	}
	if want := []Binding{b(RoleDeveloper, "prod"), b(RoleViewer, "staging")}; !slices.Equal(info.Bindings, want) {
		t.Errorf("bindings %v, want the user's %v", info.Bindings, want)
	}
	// Defaults are DefaultTokenTTL; a year is the most.
	if _, info, err := s.CreateToken(t.Context(), sess, "", "ci", nil, 0, pw); err != nil || info.Expires.Sub(info.Created) != DefaultTokenTTL {
		t.Errorf("default with a proof: %v, %v", info.Expires.Sub(info.Created), err)
	}
	if _, info, err := s.CreateToken(t.Context(), sess, "", "ci", nil, MaxTokenTTL, pw); err != nil || info.Expires.Sub(info.Created) != MaxTokenTTL {
		t.Errorf("a year with a proof: %v, %v", info.Expires.Sub(info.Created), err)
	}
	if _, _, err := s.CreateToken(t.Context(), sess, "", "ci", nil, MaxTokenTTL+time.Minute, pw); !errors.Is(err, ErrInvalid) {
		t.Errorf("beyond a year with a proof: %v", err)
	}
	// The password grants the user's roles, not more.
	if _, _, err := s.CreateToken(t.Context(), sess, "", "ci", []Binding{b(RoleDevOps, "prod")}, 0, pw); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "does not hold devops@prod") {
		t.Errorf("devops@prod with a developer's password: %v", err)
	}

	// A narrowed 10-minute token plus the password gets the user's full
	// roles: that is what the password grants.
	_, nInfo, err := s.CreateToken(t.Context(), sess, "", "narrow", []Binding{b(RoleViewer, "prod")}, 10*time.Minute, Proof{})
	if err != nil {
		t.Fatal(err)
	}
	narrow := Identity{User: "eve", TokenID: nInfo.ID, Bindings: nInfo.Bindings, Expires: nInfo.Expires}
	if _, _, err := s.CreateToken(t.Context(), narrow, "", "wide", []Binding{b(RoleDeveloper, "prod")}, 0, Proof{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("developer@prod from a viewer@prod token without a proof: %v", err)
	}
	if _, info, err := s.CreateToken(t.Context(), narrow, "", "wide", []Binding{b(RoleDeveloper, "prod")}, 30*24*time.Hour, pw); err != nil || !slices.Equal(info.Bindings, []Binding{b(RoleDeveloper, "prod")}) {
		t.Errorf("developer@prod from a viewer@prod token with the password: %v, %v", info.Bindings, err)
	}

	// A proof does not revive a dead calling token, and the right password
	// there is not counted as a failure.
	if err := s.RevokeToken(nInfo.ID); err != nil {
		t.Fatal(err)
	}
	for range MaxFailuresPerUserSource + 1 {
		if _, _, err := s.CreateToken(t.Context(), narrow, "", "after", nil, 0, pw); !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrRateLimited) {
			t.Fatalf("a revoked token with the right password: %v", err)
		}
	}
	if _, _, err := s.CreateToken(t.Context(), sess, "", "ci", nil, 0, pw); err != nil {
		t.Errorf("the right password counted as failures with a revoked token: %v", err)
	}
	// A code alone proves nothing.
	if _, _, err := s.CreateToken(t.Context(), sess, "", "ci", nil, 0, Proof{Code: "123456"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a code without a password: %v", err)
	}
}

// TestProofIsTheCallersPasswordAndCounts: a wrong password, or another
// user's, is refused and counted in the login limiter like a wrong login
// (so it is a password oracle no more than login is); with MFA on a code
// is needed, and a wrong or replayed one is refused and counted.
func TestProofIsTheCallersPasswordAndCounts(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	mustAddUser(t, s, "fay", b(RoleDeveloper, "prod"))
	mustAddUser(t, s, "gus", b(RoleDevOps, AllEnvs))
	fay := session(t, s, "fay")
	const src = "192.0.2.8"

	// Fay's token with Gus's password: refused, it is Fay's that is asked.
	if _, _, err := s.CreateToken(t.Context(), fay, "", "ci", nil, DefaultTokenTTL, Proof{Password: "gus-correct-horse", Source: src}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("fay's token with gus's password: %v", err)
	}
	for i := 1; i < MaxFailuresPerUserSource; i++ {
		if _, _, err := s.CreateToken(t.Context(), fay, "", "ci", nil, DefaultTokenTTL, Proof{Password: "wrong-wrong-wrong", Source: src}); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	// Counted: the right password from there is now throttled, and so is a
	// login, since it is the one limiter.
	if _, _, err := s.CreateToken(t.Context(), fay, "", "ci", nil, DefaultTokenTTL, Proof{Password: "fay-correct-horse", Source: src}); !errors.Is(err, ErrRateLimited) {
		t.Errorf("after %d wrong proofs: %v, want ErrRateLimited", MaxFailuresPerUserSource, err)
	}
	if _, _, err := s.Login(t.Context(), "fay", "fay-correct-horse", "", src); !errors.Is(err, ErrRateLimited) {
		t.Errorf("login after %d wrong proofs: %v, want ErrRateLimited", MaxFailuresPerUserSource, err)
	}
	clk.advance(LoginWindow)

	secret := confirmMFA(t, s, clk, "fay")
	clk.advance(time.Minute) // past the confirming code's step
	fay = session2(t, s, "fay", secret, clk)
	pw := Proof{Password: "fay-correct-horse", Source: src}
	if _, _, err := s.CreateToken(t.Context(), fay, "", "ci", nil, DefaultTokenTTL, pw); !errors.Is(err, ErrMFARequired) {
		t.Errorf("MFA on, no code: %v, want ErrMFARequired", err)
	}
	pw.Code = "000000"
	if _, _, err := s.CreateToken(t.Context(), fay, "", "ci", nil, DefaultTokenTTL, pw); !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrMFARequired) {
		t.Errorf("MFA on, wrong code: %v", err)
	}
	clk.advance(time.Minute)
	code, _ := totp.GenerateCode(secret, clk.now())
	pw.Code = code
	if _, info, err := s.CreateToken(t.Context(), fay, "", "ci", nil, DefaultTokenTTL, pw); err != nil || info.Expires.Sub(info.Created) != DefaultTokenTTL {
		t.Errorf("MFA on, right code: %v, %v", info, err)
	}
	if _, _, err := s.CreateToken(t.Context(), fay, "", "ci", nil, DefaultTokenTTL, pw); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("the same code again: %v, want it refused as a replay", err)
	}
}

// session2 logs in a user with MFA.
func session2(t *testing.T, s *Service, user, secret string, clk *fakeClock) Identity {
	t.Helper()
	code, err := totp.GenerateCode(secret, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.Login(t.Context(), user, user+"-correct-horse", code, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Authenticate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAdminProofForAnotherUser: an admin creating a token for someone else
// proves the admin's own password; the token carries at most the admin's
// roles cut to that user's, and may live up to a year even though the
// admin called with a session.
func TestAdminProofForAnotherUser(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	mustAddUser(t, s, "root", b(RoleAdmin, AllEnvs))
	mustAddUser(t, s, "hal", b(RoleDeveloper, "staging"))
	admin := session(t, s, "root")
	if _, _, err := s.CreateToken(t.Context(), admin, "hal", "ci", nil, DefaultTokenTTL, Proof{Password: "hal-correct-horse", Source: "192.0.2.9"}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("the admin proving with hal's password: %v", err)
	}
	_, info, err := s.CreateToken(t.Context(), admin, "hal", "ci", nil, DefaultTokenTTL, Proof{Password: "root-correct-horse", Source: "192.0.2.9"})
	if err != nil || info.User != "hal" || !slices.Equal(info.Bindings, []Binding{b(RoleDeveloper, "staging")}) || info.Expires.Sub(info.Created) != DefaultTokenTTL {
		t.Errorf("the admin's token for hal with the admin's password: %+v, %v", info, err)
	}
	if _, _, err := s.CreateToken(t.Context(), admin, "hal", "ci", []Binding{b(RoleAdmin, AllEnvs)}, 0, Proof{Password: "root-correct-horse", Source: "192.0.2.9"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("admin@* for hal: %v", err)
	}
}
