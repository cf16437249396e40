package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/auth"
	"github.com/pquerna/otp/totp"
)

// TestNarrowedTokenCannotMintWider replays the attacker's report over real
// HTTP: a token created with --bind viewer@prod --ttl 10m called
// POST /v1/tokens and got admin@* for 90 days. Now every ask beyond the
// calling token is refused with a reason, and the defaults are the
// calling token's own scope and expiry.
func TestNarrowedTokenCannotMintWider(t *testing.T) {
	s := newTestServer(t)
	session := s.token(t, auth.RoleAdmin) // u-admin, admin@*, a 12 h session

	mint := func(token, body string) (int, TokenResponse, string) {
		t.Helper()
		code, out := s.call(t, "POST", "/v1/tokens", token, body)
		var resp TokenResponse
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(out), &resp); err != nil {
				t.Fatal(err)
			}
		}
		return code, resp, out
	}
	code, narrow, out := mint(session, `{"name":"narrow","bindings":[{"role":"viewer","env":"prod"}],"ttl":"10m"}`)
	if code != http.StatusOK {
		t.Fatalf("creating the narrowed token: %d %s", code, out)
	}

	for _, c := range []struct{ body, want string }{
		{`{"name":"wide","bindings":[{"role":"admin","env":"*"}]}`, "admin@* is wider than the credential creating the token (it acts as viewer@prod)"},
		{`{"name":"wide","bindings":[{"role":"viewer","env":"staging"}]}`, "viewer@staging is wider than the credential creating the token"},
		{`{"name":"long","ttl":"2160h"}`, "the token would outlive the credential creating it"},
		{`{"name":"wide","user":"u-admin","bindings":[{"role":"admin","env":"*"}],"ttl":"2160h"}`, "outlive"},
		// Naming another user needs admin, which the narrowed token lacks.
		{`{"name":"other","user":"someone"}`, "permission admin needed"},
	} {
		code, _, out := mint(narrow.Token, c.body)
		if code == http.StatusOK || !strings.Contains(out, c.want) {
			t.Errorf("narrowed token asked %s: %d %s, want a refusal saying %q", c.body, code, out, c.want)
		}
	}

	// Asking nothing gives the most it may: its own scope and expiry.
	code, child, out := mint(narrow.Token, `{"name":"child"}`)
	if code != http.StatusOK {
		t.Fatalf("default child token: %d %s", code, out)
	}
	if len(child.Info.Bindings) != 1 || child.Info.Bindings[0] != (auth.Binding{Role: auth.RoleViewer, Env: "prod"}) || child.Info.Expires.After(narrow.Info.Expires) {
		t.Errorf("child of a viewer@prod 10m token: %v until %v; the parent ends %v", child.Info.Bindings, child.Info.Expires, narrow.Info.Expires)
	}
	if got := child.Info.Expires.Sub(child.Info.Created); got > 10*time.Minute {
		t.Errorf("child lives %v, more than its parent's 10m", got)
	}
	// And the child cannot do what the parent could not.
	if code, _ := s.call(t, "GET", "/v1/users", child.Token, ""); code != http.StatusForbidden {
		t.Errorf("child token listed users: %d", code)
	}
	// An admin creating a token for someone else: bounded by that user's
	// roles and by the admin's own credential (here a 12 h session).
	s.token(t, auth.RoleViewer) // u-viewer, viewer@prod
	for _, c := range []struct{ body, want string }{
		{`{"name":"for-viewer","user":"u-viewer","bindings":[{"role":"admin","env":"*"}]}`, "does not hold admin@*"},
		{`{"name":"for-viewer","user":"u-viewer","ttl":"2160h"}`, "the token would outlive the credential creating it"},
	} {
		if code, _, out := mint(session, c.body); code == http.StatusOK || !strings.Contains(out, c.want) {
			t.Errorf("admin session asked %s: %d %s, want a refusal saying %q", c.body, code, out, c.want)
		}
	}
	code, forViewer, out := mint(session, `{"name":"for-viewer","user":"u-viewer"}`)
	if code != http.StatusOK || forViewer.Info.User != "u-viewer" || len(forViewer.Info.Bindings) != 1 ||
		forViewer.Info.Bindings[0] != (auth.Binding{Role: auth.RoleViewer, Env: "prod"}) || forViewer.Info.Expires.After(time.Now().Add(auth.SessionTTL)) {
		t.Errorf("admin's default token for u-viewer: %d %s", code, out)
	}

	// whoami shows the expiry that bounds what it may create.
	code, out = s.call(t, "GET", "/v1/whoami", child.Token, "")
	var who auth.Identity
	if code != http.StatusOK || json.Unmarshal([]byte(out), &who) != nil || !who.Expires.Equal(child.Info.Expires) {
		t.Errorf("whoami: %d %s", code, out)
	}
}

// TestTokenAloneCannotReplaceMFA replays the attacker's report over real
// HTTP: with only a bearer token, /v1/mfa/enable + /v1/mfa/confirm
// replaced the user's active TOTP secret (and so took over their second
// factor). Now enable and disable need the password and a current code,
// and the real user's authenticator keeps working.
func TestTokenAloneCannotReplaceMFA(t *testing.T) {
	s := newTestServer(t)
	const pw = "correct horse battery staple"
	tok := s.token(t, auth.RoleDeveloper) // u-developer
	codeAt := func(secret string, at time.Time) string {
		t.Helper()
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The real user enrols.
	code, out := s.call(t, "POST", "/v1/mfa/enable", tok, `{"password":"`+pw+`"}`)
	var enrol MFAEnableResponse
	if code != http.StatusOK || json.Unmarshal([]byte(out), &enrol) != nil {
		t.Fatalf("enrol: %d %s", code, out)
	}
	if code, out := s.call(t, "POST", "/v1/mfa/confirm", tok, `{"code":"`+codeAt(enrol.Secret, time.Now())+`"}`); code != http.StatusNoContent {
		t.Fatalf("confirm: %d %s", code, out)
	}

	// The attacker holds the token, not the password or the device.
	for _, body := range []string{``, `{}`, `{"password":"guess-guess-guess"}`, `{"password":"` + pw + `"}`, `{"password":"` + pw + `","code":"000000"}`} {
		code, out := s.call(t, "POST", "/v1/mfa/enable", tok, body)
		if code == http.StatusOK {
			var stolen MFAEnableResponse
			json.Unmarshal([]byte(out), &stolen)
			s.call(t, "POST", "/v1/mfa/confirm", tok, `{"code":"`+codeAt(stolen.Secret, time.Now())+`"}`)
			t.Errorf("mfa/enable with the token and %q: %d, a new secret was handed out", body, code)
		}
		if code, _ := s.call(t, "POST", "/v1/mfa/disable", tok, body); code/100 == 2 {
			t.Errorf("mfa/disable with the token and %q: %d", body, code)
		}
	}

	// The real user's authenticator still logs in (the next time step: the
	// confirming code's step is used up).
	if _, _, err := s.auth.Login(t.Context(), "u-developer", pw, codeAt(enrol.Secret, time.Now().Add(30*time.Second)), "192.0.2.1"); err != nil {
		t.Errorf("the real user's code after the attack: %v", err)
	}
	if u, err := s.auth.GetUser("u-developer"); err != nil || !u.MFA {
		t.Errorf("MFA after the attack: %+v, %v", u, err)
	}
}
