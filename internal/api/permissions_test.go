package api

import (
	"github.com/haven-platform/haven/internal/golden"

	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/agent"
	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/driver/process"
	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/secrets"
	"github.com/haven-platform/haven/internal/store/bolt"
)

// testServer is an API over real parts: a bbolt store, the process
// driver, a running agent, auth, audit and secrets.
type testServer struct {
	url     string
	auth    *auth.Service
	dataDir string
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "haven.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := secrets.Open(st.DB(), kr)
	if err != nil {
		t.Fatal(err)
	}
	au, err := auth.New(st.DB(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	drv, err := process.New(filepath.Join(dir, "process"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ag := agent.New(agent.Config{Driver: drv, Store: st, Ingress: proxy.New(proxy.Config{}), Secrets: sec, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); ag.Run(ctx) }()
	// Before the data directory goes: stop the agent, then every instance a
	// test's deploy started, so none is left running or writing its log
	// into a directory being removed.
	t.Cleanup(func() {
		cancel()
		<-stopped
		if list, err := drv.List(context.Background()); err == nil {
			for _, inst := range list {
				drv.Stop(context.Background(), inst.ID, 0)
				drv.Remove(context.Background(), inst.ID)
			}
		}
		drv.Close()
	})
	h := NewHandler(Deps{Control: &control.Controller{Store: st, Driver: drv, Agent: ag, Secrets: sec}, Auth: au, Secrets: sec, Audit: log, DataDir: dir, Logger: logger})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, auth: au, dataDir: dir}
}

// token creates a user with one role bound to env prod (admin: every
// environment, its only form) and returns a login session of theirs.
func (s *testServer) token(t *testing.T, role auth.Role) string {
	t.Helper()
	name := "u-" + string(role)
	env := "prod"
	if role == auth.RoleAdmin {
		env = "*"
	}
	if err := s.auth.AddUser(name, "correct horse battery staple", []auth.Binding{{Role: role, Env: env}}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.auth.Login(t.Context(), name, "correct horse battery staple", "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call returns the status and body of one request.
func (s *testServer) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// decision classifies an answer: "unauth" and "deny" are the guard's
// refusals (recognized by their messages, so a handler's own 401, such as
// a wrong password at login, is not mistaken for one), "allow" means the
// handler ran, whatever it answered.
func decision(code int, body string) string {
	switch {
	case code == http.StatusUnauthorized && strings.Contains(body, "authentication required"):
		return "unauth"
	case code == http.StatusForbidden && strings.Contains(body, "needed"):
		return "deny"
	}
	return "allow"
}

// concretePath fills a route pattern's wildcards; {env} becomes env.
func concretePath(pattern, env string) string {
	r := strings.NewReplacer("{app}", "shop", "{env}", env, "{service}", "web", "{name}", "nobody", "{id}", "0000000000000000")
	return r.Replace(pattern)
}

// TestPermissionMatrix walks the whole route table × every role × an
// environment the role is bound to (prod) or not (staging), over real
// HTTP, and compares each decision with testdata/permissions.txt: "allow"
// (the handler ran, whatever it answered), "deny" (403) or "unauth" (401).
// It also checks that without a token every route but health and login
// answers 401.
func TestPermissionMatrix(t *testing.T) {
	s := newTestServer(t)
	roles := []auth.Role{auth.RoleViewer, auth.RoleDeveloper, auth.RoleDevOps, auth.RoleAdmin}
	tokens := map[auth.Role]string{}
	for _, r := range roles {
		tokens[r] = s.token(t, r)
	}
	h := NewHandler(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}) // only for its route table
	var b strings.Builder
	for _, rt := range h.Routes() {
		if d := decision(s.call(t, rt.Method, concretePath(rt.Pattern, "prod"), "", "{}")); (d == "unauth") == (rt.Perm == PermPublic) {
			t.Errorf("%s %s without a token: %s", rt.Method, rt.Pattern, d)
		}
		fmt.Fprintf(&b, "%-6s %-55s %-12s", rt.Method, rt.Pattern, rt.Perm)
		for _, role := range roles {
			for _, env := range []string{"prod", "staging"} {
				fmt.Fprintf(&b, " %s/%s=%s", role, bound(env), decision(s.call(t, rt.Method, concretePath(rt.Pattern, env), tokens[role], "{}")))
			}
		}
		b.WriteString("\n")
	}
	got := b.String()
	path := filepath.Join("testdata", "permissions.txt")
	golden.Check(t, path, []byte(got))
}

func bound(env string) string {
	if env == "prod" {
		return "bound"
	}
	return "unbound"
}

// TestRouteWithoutPermissionCannotBeRegistered: forgetting a permission is
// caught when the server builds its routes, never left open.
func TestRouteWithoutPermissionCannotBeRegistered(t *testing.T) {
	h := NewHandler(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer func() {
		if recover() == nil {
			t.Fatal("a route without a permission was registered")
		}
	}()
	h.register(Route{Method: "GET", Pattern: "/v1/open", handle: h.healthz})
}
