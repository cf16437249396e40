package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

// routedCompose writes a compose file whose web service runs testapp with
// NAME=name on one route.
func routedCompose(t *testing.T, app, name, host, path string) string {
	t.Helper()
	hostLine := ""
	if host != "" {
		hostLine = fmt.Sprintf("        - host: %q\n          path: %q\n", host, path)
	} else {
		hostLine = fmt.Sprintf("        - path: %q\n", path)
	}
	return writeFile(t, t.TempDir(), "compose.yaml", fmt.Sprintf(`name: %s
services:
  web:
    image: local/testapp
    command: [%q]
    environment:
      NAME: %s
    stop_grace_period: 1s
    x-haven:
      routes:
%s          port: 8080
      healthcheck:
        type: http
        path: /healthz
        port: 8080
        interval: 500ms
`, app, testbin.TestApp(t), name, hostLine))
}

// TestRouteTakeoverRefused: an app in another environment cannot take
// prod's route by spelling its host or path differently, nor by routing
// another path on prod's host, whether it deploys through the CLI (compose)
// or straight through the API. Every attempt is refused with the holder's
// name, nothing of it is stored, and prod's requests keep reaching prod.
// Before the fix the conflict check compared raw strings: `aaa` in `dev`
// was deployed with "prod.localhost." and, first by name, got prod's
// requests.
func TestRouteTakeoverRefused(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	h.mustRun("deploy", "-f", routedCompose(t, "shop", "shop-prod", "prod.localhost", "/api"), "--env", "prod", "--wait", "--timeout", "60s")
	t.Cleanup(func() { h.run("down", "--app", "shop", "--env", "prod") })

	servedByProd := func() {
		t.Helper()
		code, body, err := h.get("prod.localhost", "/api/orders")
		if err != nil || code != 200 || !strings.HasPrefix(body, "shop-prod ") {
			t.Fatalf("prod.localhost/api/orders: %d %q %v, want shop-prod to answer", code, body, err)
		}
	}
	servedByProd()

	// Through the CLI: compose refuses what it can tell locally (a port),
	// the server refuses what another deployment holds.
	for _, v := range []struct{ host, path, want string }{
		{"prod.localhost.", "/api", "route prod.localhost/api is held by service web of shop/prod; choose another host or path"},
		{"Prod.LocalHost", "/api", "route prod.localhost/api is held by service web of shop/prod"},
		{"prod.localhost", "/api/", "route prod.localhost/api is held by service web of shop/prod"},
		{"PROD.LOCALHOST:80", "/api", `"PROD.LOCALHOST:80" must not include a port`},
		{"prod.localhost", "/", "which service web of shop/prod routes (prod.localhost/api)"},
		{"prod.localhost", "/api/admin", "a host belongs to one app and environment"},
	} {
		r := h.run("deploy", "-f", routedCompose(t, "aaa", "aaa-dev", v.host, v.path), "--env", "dev")
		if r.code != 2 || !strings.Contains(r.stderr, v.want) {
			t.Errorf("CLI deploy of aaa/dev on %s%s: want exit 2 and %q, got %s", v.host, v.path, v.want, r)
		}
	}

	// Straight through the API, where no compose file checked anything.
	token, err := os.ReadFile(filepath.Join(h.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(filepath.Join(h.dataDir, "haven.sock"), strings.TrimSpace(string(token)), nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, v := range []struct{ host, path, want string }{
		{"PROD.LOCALHOST:80", "/api", "must not include a port"},
		{"https://prod.localhost", "/api", "must not include a scheme"},
		{"prod.localhost/api", "/", "must not include a path"},
		{"prod.localhost", "/api\x1b[2J", "control character"},
		{"prod.localhost", "/x/../api", `".." segment`},
		{"PROD.LOCALHOST", "/api/", "held by service web of shop/prod"},
		// Last, so that if it were accepted it would be what aaa/dev serves.
		{"prod.localhost.", "/api", "held by service web of shop/prod"},
	} {
		app := spec.App{Name: "aaa", Services: []spec.Service{{
			Name: "web", Command: []string{testbin.TestApp(t)}, Replicas: 1, Restart: spec.RestartAlways,
			Env:    map[string]string{"NAME": "aaa-dev"},
			Routes: []spec.Route{{Host: v.host, PathPrefix: v.path, Port: 8080}},
		}}}
		if _, err := cl.Deploy(ctx, "dev", app); err == nil || !strings.Contains(err.Error(), v.want) {
			t.Errorf("API deploy of aaa/dev on %q %q: want an error containing %q, got %v", v.host, v.path, v.want, err)
		}
	}

	ds, err := cl.Deployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].AppEnv != (spec.AppEnv{App: "shop", Env: "prod"}) {
		var names []string
		for _, d := range ds {
			names = append(names, d.AppEnv.String())
		}
		t.Errorf("deployments after the refused ones: %v, want shop/prod alone", names)
	}
	// What an ingress request asks for, in any spelling, keeps reaching
	// prod for as long as an instance of a wrongly accepted deploy would
	// need to become healthy and take it.
	for start := time.Now(); time.Since(start) < 4*time.Second; time.Sleep(200 * time.Millisecond) {
		for _, host := range []string{"prod.localhost", "PROD.LOCALHOST.", "prod.localhost:80"} {
			code, body, err := h.get(host, "/api/")
			if err != nil || code != 200 || !strings.HasPrefix(body, "shop-prod ") {
				t.Fatalf("Host %s /api/: %d %q %v, want shop-prod", host, code, body, err)
			}
		}
	}

	// A clone of prod gets its own host; it neither takes prod's route nor
	// is refused for it.
	h.mustRun("env", "create", "dev", "--from", "prod")
	t.Cleanup(func() { h.run("env", "delete", "dev") })
	waitFor(t, time.Minute, "the dev clone to serve dev.prod.localhost", func() bool {
		code, body, _ := h.get("dev.prod.localhost", "/api")
		return code == 200 && strings.HasPrefix(body, "shop-prod ")
	})
	servedByProd()

	// A catch-all of another environment is allowed (it overlaps no route
	// of prod's), but it serves only hosts nobody routes: a path prod does
	// not route on its own host is not found, never handed to dev with
	// prod's cookies.
	h.mustRun("deploy", "-f", routedCompose(t, "aaa", "aaa-dev", "", "/"), "--env", "dev")
	waitFor(t, time.Minute, "aaa/dev's catch-all to serve an unrouted host", func() bool {
		code, body, _ := h.get("unrouted.localhost", "/login")
		return code == 200 && strings.HasPrefix(body, "aaa-dev ")
	})
	for _, host := range []string{"prod.localhost", "PROD.localhost.:80"} {
		if code, body, err := h.get(host, "/login"); err != nil || code != 404 {
			t.Errorf("Host %s /login with aaa/dev's catch-all deployed: %d %q %v, want 404 (the host is shop/prod's)", host, code, body, err)
		}
	}
	servedByProd()
}
