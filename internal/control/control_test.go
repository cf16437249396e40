package control

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/haven-platform/haven/internal/driver/process"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store/bolt"
)

// idle is the Reconciler of a controller whose deploys are only written:
// these tests check what is stored, not what runs.
type idle struct{}

func (idle) Nudge()                         {}
func (idle) Status() []spec.EnvStatus       { return nil }
func (idle) WaitPass(context.Context) error { return nil }

func newController(t *testing.T) *Controller {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "haven.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	drv, err := process.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &Controller{Store: st, Driver: drv, Agent: idle{}}
}

func routedApp(name string, routes ...spec.Route) spec.App {
	return spec.App{Name: name, Services: []spec.Service{{
		Name: "web", Command: []string{"sleep", "600"}, Replicas: 1, Restart: spec.RestartAlways, Routes: routes,
	}}}
}

// TestDeployRefusesAnotherEnvironmentsRoute: every spelling of prod's
// route, and every route on prod's host, is refused for another app or
// environment, naming the holder; the refused deploy stores nothing.
func TestDeployRefusesAnotherEnvironmentsRoute(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	if _, _, err := c.Deploy(ctx, "prod", routedApp("shop", spec.Route{Host: "prod.localhost", PathPrefix: "/api", Port: 8080})); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		route spec.Route
		want  string
	}{
		{spec.Route{Host: "prod.localhost.", PathPrefix: "/api", Port: 8080}, "route prod.localhost/api is held by service web of shop/prod; choose another host or path"},
		{spec.Route{Host: "Prod.LocalHost", PathPrefix: "/api", Port: 8080}, "route prod.localhost/api is held by service web of shop/prod"},
		{spec.Route{Host: "prod.localhost", PathPrefix: "/api/", Port: 8080}, "route prod.localhost/api is held by service web of shop/prod"},
		{spec.Route{Host: "PROD.LOCALHOST:80", PathPrefix: "/api", Port: 8080}, "must not include a port"},
		{spec.Route{Host: "prod.localhost", PathPrefix: "/", Port: 8080}, "is on host prod.localhost, which service web of shop/prod routes (prod.localhost/api)"},
		{spec.Route{Host: "prod.localhost", PathPrefix: "/api/v2", Port: 8080}, "a host belongs to one app and environment"},
	}
	for _, tc := range cases {
		for _, target := range []spec.AppEnv{{App: "aaa", Env: "dev"}, {App: "shop", Env: "dev"}, {App: "aaa", Env: "prod"}} {
			_, _, err := c.Deploy(ctx, target.Env, routedApp(target.App, tc.route))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, spec.ErrInvalid) {
				t.Errorf("deploy %s with %+v: want an invalid-input error containing %q, got %v", target, tc.route, tc.want, err)
			}
			if _, err := c.Store.GetDeployment(ctx, target); err == nil {
				t.Errorf("refused deploy of %s was stored", target)
			}
		}
	}
	// The holder itself may redeploy, in any spelling; it is stored canonical.
	d, _, err := c.Deploy(ctx, "prod", routedApp("shop", spec.Route{Host: "PROD.localhost.", PathPrefix: "/api/", Port: 8080}))
	if err != nil {
		t.Fatal(err)
	}
	if r := d.App.Services[0].Routes[0]; r.Host != "prod.localhost" || r.PathPrefix != "/api" {
		t.Errorf("stored route %+v, want the canonical prod.localhost /api", r)
	}
	// Another host is fine.
	if _, _, err := c.Deploy(ctx, "dev", routedApp("shop", spec.Route{Host: "dev.prod.localhost", PathPrefix: "/api", Port: 8080})); err != nil {
		t.Errorf("a route on another host: %v", err)
	}
}

// TestAnyHostRoutesMayNotOverlapAcrossApps: an any-host route under
// another app's any-host prefix would take part of its requests.
func TestAnyHostRoutesMayNotOverlapAcrossApps(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	if _, _, err := c.Deploy(ctx, "prod", routedApp("shop", spec.Route{PathPrefix: "/api", Port: 8080})); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api", "/api/", "/api/admin", "/"} {
		_, _, err := c.Deploy(ctx, "dev", routedApp("aaa", spec.Route{PathPrefix: p, Port: 8080}))
		if err == nil || !strings.Contains(err.Error(), "shop/prod") {
			t.Errorf("any-host %s: want a conflict naming shop/prod, got %v", p, err)
		}
	}
	if _, _, err := c.Deploy(ctx, "dev", routedApp("aaa", spec.Route{PathPrefix: "/apix", Port: 8080})); err != nil {
		t.Errorf("any-host /apix does not overlap /api: %v", err)
	}
}

// TestConcurrentDeploysClaimARouteOnce: deploys racing for one route end
// with exactly one holder, never two for the ingress to choose between.
func TestConcurrentDeploysClaimARouteOnce(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = c.Deploy(ctx, fmt.Sprintf("env%d", i), routedApp("shop", spec.Route{Host: "shop.test", PathPrefix: "/", Port: 8080}))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	ds, err := c.Store.ListDeployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || len(ds) != 1 {
		t.Fatalf("%d deploys succeeded and %d are stored, want 1 and 1: %v", ok, len(ds), errs)
	}
}

// TestCreateEnvKeepsRoutesApart: a clone's hosts are prefixed with the new
// environment's name, so it never takes the source's routes; a clone whose
// prefixed host another app already holds is refused.
func TestCreateEnvKeepsRoutesApart(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	if _, _, err := c.Deploy(ctx, "prod", routedApp("shop", spec.Route{Host: "shop.test", PathPrefix: "/", Port: 8080})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateEnv(ctx, "dev", "prod", false); err != nil {
		t.Fatal(err)
	}
	d, err := c.Store.GetDeployment(ctx, spec.AppEnv{App: "shop", Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if h := d.App.Services[0].Routes[0].Host; h != "dev.shop.test" {
		t.Errorf("clone's host %q, want dev.shop.test", h)
	}
	if _, _, err := c.Deploy(ctx, "other", routedApp("squat", spec.Route{Host: "qa.shop.test", PathPrefix: "/", Port: 8080})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateEnv(ctx, "qa", "prod", false); err == nil || !strings.Contains(err.Error(), "squat/other") {
		t.Errorf("clone onto a held host: want a conflict naming squat/other, got %v", err)
	}
}

// TestScaleIsBounded: scale goes through the same bounds as deploy.
func TestScaleIsBounded(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	if _, _, err := c.Deploy(ctx, "prod", routedApp("shop")); err != nil {
		t.Fatal(err)
	}
	target := spec.AppEnv{App: "shop", Env: "prod"}
	_, err := c.Scale(ctx, target, map[string]int{"web": 1000000})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d", spec.MaxReplicas)) {
		t.Fatalf("scale to 1000000: want the replicas bound, got %v", err)
	}
	d, err := c.Store.GetDeployment(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.App.Services[0].Replicas; r != 1 {
		t.Errorf("refused scale changed replicas to %d", r)
	}
	if _, err := c.Scale(ctx, target, map[string]int{"web": spec.MaxReplicas}); err != nil {
		t.Errorf("scale to the bound: %v", err)
	}
}

// TestRollbackKeepsCurrentRoutes: routes are not part of a revision, so a
// rollback keeps today's; restoring an old revision's routes would claim a
// host that has since been given to another app, past the deploy check.
func TestRollbackKeepsCurrentRoutes(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	v1 := routedApp("shop", spec.Route{Host: "old.test", PathPrefix: "/", Port: 8080})
	if _, _, err := c.Deploy(ctx, "prod", v1); err != nil {
		t.Fatal(err)
	}
	v2 := routedApp("shop", spec.Route{Host: "new.test", PathPrefix: "/", Port: 8080})
	v2.Services[0].Env = map[string]string{"VERSION": "2"}
	if _, _, err := c.Deploy(ctx, "prod", v2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Deploy(ctx, "prod", routedApp("blog", spec.Route{Host: "old.test", PathPrefix: "/", Port: 8080})); err != nil {
		t.Fatalf("old.test is free again: %v", err)
	}
	if _, err := c.Rollback(ctx, spec.AppEnv{App: "shop", Env: "prod"}, "web", 0); err != nil {
		t.Fatal(err)
	}
	d, err := c.Store.GetDeployment(ctx, spec.AppEnv{App: "shop", Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	svc := d.App.Services[0]
	if svc.Env["VERSION"] != "" {
		t.Errorf("rollback did not restore revision 1: env %v", svc.Env)
	}
	if len(svc.Routes) != 1 || svc.Routes[0].Host != "new.test" {
		t.Errorf("rollback routes %v, want the current new.test (old.test is blog's now)", svc.Routes)
	}
}
