package control

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// TestStopStart: stop keeps the count and start restores it; a second
// stop or start changes nothing; start without a kept count says how to
// scale instead; a deploy sets counts from the file and forgets the kept
// one.
func TestStopStart(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	app := routedApp("shop")
	app.Services[0].Replicas = 3
	if _, _, err := c.Deploy(ctx, "prod", app); err != nil {
		t.Fatal(err)
	}
	target := spec.AppEnv{App: "shop", Env: "prod"}
	replicas := func(d spec.Deployment) int { s, _ := d.App.Service("web"); return s.Replicas }
	d, changed, err := c.Stop(ctx, target, "web")
	if err != nil || !changed || replicas(d) != 0 || d.Stopped["web"] != 3 {
		t.Fatalf("stop: %d replicas, kept %v, changed %v, %v", replicas(d), d.Stopped, changed, err)
	}
	if d, changed, err = c.Stop(ctx, target, "web"); err != nil || changed || d.Stopped["web"] != 3 {
		t.Fatalf("second stop: kept %v, changed %v, %v", d.Stopped, changed, err)
	}
	if d, changed, err = c.Start(ctx, target, "web"); err != nil || !changed || replicas(d) != 3 || len(d.Stopped) != 0 {
		t.Fatalf("start: %d replicas, kept %v, changed %v, %v", replicas(d), d.Stopped, changed, err)
	}
	if _, changed, err = c.Start(ctx, target, "web"); err != nil || changed {
		t.Fatalf("second start: changed %v, %v", changed, err)
	}
	if _, err := c.Scale(ctx, target, map[string]int{"web": 0}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Start(ctx, target, "web"); !errors.Is(err, spec.ErrInvalid) || !strings.Contains(err.Error(), "haven scale web=N") {
		t.Fatalf("start of a service scaled to 0: %v", err)
	}
	if _, _, err := c.Stop(ctx, target, "nope"); !errors.Is(err, spec.ErrInvalid) || !strings.Contains(err.Error(), "services: web") {
		t.Fatalf("stop of an unknown service: %v", err)
	}
	if _, err := c.Scale(ctx, target, map[string]int{"web": 2}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Stop(ctx, target, "web"); err != nil {
		t.Fatal(err)
	}
	if d, _, err = c.Deploy(ctx, "prod", app); err != nil || replicas(d) != 3 || d.Stopped != nil {
		t.Fatalf("deploy after stop: %d replicas, kept %v, %v", replicas(d), d.Stopped, err)
	}
}

// TestRestart: a restart is a new revision of the same spec, recorded in
// the history; a redeploy of the same app keeps it; a stopped service or
// one with a release in progress is refused.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	c := newController(t)
	app := routedApp("shop")
	d, _, err := c.Deploy(ctx, "prod", app)
	if err != nil {
		t.Fatal(err)
	}
	target := spec.AppEnv{App: "shop", Env: "prod"}
	before := d.App.Services[0].Revision()
	rev, err := c.Restart(ctx, target, "web")
	if err != nil || rev.Hash == before || rev.Cause != "restart" || rev.Spec.RestartGeneration != 1 {
		t.Fatalf("restart: %+v, %v", rev, err)
	}
	d, _ = c.Store.GetDeployment(ctx, target)
	if d.App.Services[0].Revision() != rev.Hash {
		t.Fatalf("the deployment's revision %s is not the restart's %s", d.App.Services[0].Revision(), rev.Hash)
	}
	if d, changes, err := c.Deploy(ctx, "prod", app); err != nil || d.App.Services[0].Revision() != rev.Hash || changes[0].Kind != "unchanged" {
		t.Fatalf("redeploy after restart: %+v, %v", changes, err)
	}
	if _, err := c.Store.PutRelease(ctx, spec.Release{AppEnv: target, Service: "web", From: before, To: rev.Hash, Phase: spec.PhaseProgressing}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restart(ctx, target, "web"); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "in progress") {
		t.Fatalf("restart during a release: %v", err)
	}
	if _, err := c.Scale(ctx, target, map[string]int{"web": 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restart(ctx, target, "web"); !errors.Is(err, spec.ErrInvalid) {
		t.Fatalf("restart of a stopped service: %v", err)
	}
}
