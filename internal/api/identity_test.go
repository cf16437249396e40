package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/auth"
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
	// whoami shows the expiry that bounds what it may create.
	code, out = s.call(t, "GET", "/v1/whoami", child.Token, "")
	var who auth.Identity
	if code != http.StatusOK || json.Unmarshal([]byte(out), &who) != nil || !who.Expires.Equal(child.Info.Expires) {
		t.Errorf("whoami: %d %s", code, out)
	}
}
