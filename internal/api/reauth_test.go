package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
)

// TestReauthTokenCreate is the remote user's regression over real HTTP:
// after `haven login` (a 12 h session) a 90-day CI token was refused,
// because a token never outlives the credential creating it. Giving the
// password again in the request (sudo mode) makes the password that
// credential: the user's own roles, up to a year. Without it nothing
// changed; with a wrong one, or another user's, it is refused and counted
// in the login limiter; the password is never echoed nor audited.
func TestReauthTokenCreate(t *testing.T) {
	s := newTestServer(t)
	const pw = "correct horse battery staple"
	session := s.token(t, auth.RoleDeveloper) // u-developer, developer@prod, 12 h
	var answers strings.Builder               // every body the server sent back
	mint := func(token, body string) (int, TokenResponse, string) {
		t.Helper()
		code, out := s.call(t, "POST", "/v1/tokens", token, body)
		answers.WriteString(out)
		var resp TokenResponse
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(out), &resp); err != nil {
				t.Fatal(err)
			}
		}
		return code, resp, out
	}

	// Without the password: today's rule, unchanged.
	if code, _, out := mint(session, `{"name":"ci","ttl":"2160h"}`); code != http.StatusBadRequest || !strings.Contains(out, "would outlive the credential creating it") {
		t.Fatalf("90 days from a session without the password: %d %s", code, out)
	}
	// With it: 90 days, the user's roles.
	code, ci, out := mint(session, `{"name":"ci","ttl":"2160h","password":"`+pw+`"}`)
	if code != http.StatusOK || ci.Info.Expires.Sub(ci.Info.Created) != 90*24*time.Hour ||
		!slices.Equal(ci.Info.Bindings, []auth.Binding{{Role: auth.RoleDeveloper, Env: "prod"}}) {
		t.Fatalf("90 days from a session with the password: %d %s", code, out)
	}
	if code, _ := s.call(t, "GET", "/v1/whoami", ci.Token, ""); code != http.StatusOK {
		t.Errorf("the new CI token does not authenticate: %d", code)
	}
	if code, _, out := mint(session, `{"name":"ci","ttl":"8761h","password":"`+pw+`"}`); code != http.StatusBadRequest {
		t.Errorf("more than a year with the password: %d %s", code, out)
	}

	// A narrowed viewer@prod token plus the password gets at most the
	// user's own roles (all of them: that is what the password grants).
	code, narrow, out := mint(session, `{"name":"narrow","bindings":[{"role":"viewer","env":"prod"}],"ttl":"10m"}`)
	if code != http.StatusOK {
		t.Fatalf("narrowed token: %d %s", code, out)
	}
	for _, c := range []struct{ body, want string }{
		{`{"name":"w","bindings":[{"role":"devops","env":"prod"}],"password":"` + pw + `"}`, "does not hold devops@prod"},
		{`{"name":"w","bindings":[{"role":"admin","env":"*"}],"ttl":"2160h","password":"` + pw + `"}`, "does not hold admin@*"},
		{`{"name":"w","user":"u-admin","password":"` + pw + `"}`, "permission admin needed"},
	} {
		if code, _, out := mint(narrow.Token, c.body); code == http.StatusOK || !strings.Contains(out, c.want) {
			t.Errorf("narrowed token + password asked %s: %d %s, want a refusal saying %q", c.body, code, out, c.want)
		}
	}
	code, full, out := mint(narrow.Token, `{"name":"full","ttl":"720h","password":"`+pw+`"}`)
	if code != http.StatusOK || !slices.Equal(full.Info.Bindings, []auth.Binding{{Role: auth.RoleDeveloper, Env: "prod"}}) {
		t.Errorf("narrowed token + password, default bindings: %d %s, want the user's developer@prod", code, out)
	}

	// User A's token with user B's password: refused (it is A's password
	// that is asked), whatever B may do.
	if err := s.auth.AddUser("bea", "bea's own long password", []auth.Binding{{Role: auth.RoleDevOps, Env: "*"}}); err != nil {
		t.Fatal(err)
	}
	if code, _, out := mint(session, `{"name":"b","ttl":"2160h","password":"bea's own long password"}`); code != http.StatusUnauthorized {
		t.Errorf("u-developer's session with bea's password: %d %s", code, out)
	}

	// Wrong passwords are refused and counted in the login limiter from
	// this address (127.0.0.1): after the limit the right one is throttled
	// there too, and so is a login.
	if err := s.auth.AddUser("ivy", "ivy's own long password", []auth.Binding{{Role: auth.RoleViewer, Env: "prod"}}); err != nil {
		t.Fatal(err)
	}
	ivy, _, err := s.auth.Login(t.Context(), "ivy", "ivy's own long password", "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "a wrong guess at ivy's"
	for i := range auth.MaxFailuresPerUserSource {
		if code, _, out := mint(ivy, `{"name":"ci","ttl":"2160h","password":"`+wrong+`"}`); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s", i, code, out)
		}
	}
	if code, _, out := mint(ivy, `{"name":"ci","ttl":"2160h","password":"ivy's own long password"}`); code != http.StatusTooManyRequests {
		t.Errorf("the right password after %d wrong ones: %d %s, want 429", auth.MaxFailuresPerUserSource, code, out)
	}
	if _, _, err := s.auth.Login(t.Context(), "ivy", "ivy's own long password", "", "127.0.0.1"); !errors.Is(err, auth.ErrRateLimited) {
		t.Errorf("login from the same address after the wrong proofs: %v, want ErrRateLimited", err)
	}

	// Never echoed, never in the audit trail; the failed calls are
	// audited as token.create's outcome.
	for _, secret := range []string{pw, wrong, "bea's own long password"} {
		if strings.Contains(answers.String(), secret) {
			t.Errorf("an answer echoed the password %q", secret)
		}
	}
	raw, err := os.ReadFile(filepath.Join(s.dataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pw, wrong, "bea's own long password", "ivy's own long password"} {
		if strings.Contains(string(raw), secret) || strings.Contains(string(raw), strings.ReplaceAll(secret, "'", `\u0027`)) {
			t.Errorf("the audit trail holds the password %q", secret)
		}
	}
	outcomes := map[string]int{} // "actor result status" → count, for token.create
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		var rec audit.Record
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Action != "token.create" {
			continue
		}
		outcomes[rec.Actor+" "+rec.Result+" "+http.StatusText(rec.Status)]++
	}
	if n := outcomes["ivy failed Unauthorized"]; n != auth.MaxFailuresPerUserSource {
		t.Errorf("ivy's wrong passwords audited as %d failed token.create calls, want %d (outcomes %v)", n, auth.MaxFailuresPerUserSource, outcomes)
	}
	if outcomes["ivy failed Too Many Requests"] != 1 || outcomes["u-developer failed Unauthorized"] != 1 {
		t.Errorf("token.create outcomes %v", outcomes)
	}
}
