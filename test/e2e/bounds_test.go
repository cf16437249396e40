package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/spec"
)

func (h *haven) apiClient(t *testing.T) *client.Client {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(h.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return client.New(filepath.Join(h.dataDir, "haven.sock"), strings.TrimSpace(string(token)), nil)
}

// sleepApp is an app of services running `sleep`: the cheapest real
// process, so the test measures Haven's cost per instance, not the app's.
func sleepApp(name string, services, replicas int) spec.App {
	app := spec.App{Name: name}
	for i := range services {
		app.Services = append(app.Services, spec.Service{
			Name: fmt.Sprintf("s%03d", i), Command: []string{"sleep", "600"}, Replicas: replicas,
			Restart: spec.RestartAlways, StopGracePeriod: spec.Duration(time.Second),
		})
	}
	return app
}

// TestBoundsRefuseOversizedApps: the attacker's shapes — a million
// replicas, more services than the bound — are refused over the API and by
// scale, saying what the bound is, and nothing is stored.
func TestBoundsRefuseOversizedApps(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	cl := h.apiClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// An oversized app that is wrongly accepted is taken down at once: the
	// machine is shared, and a million processes would take it over.
	refused := func(app spec.App, want string) {
		t.Helper()
		_, err := cl.Deploy(ctx, "prod", app)
		if err == nil {
			cl.Down(ctx, spec.AppEnv{App: app.Name, Env: "prod"})
			t.Fatalf("%s (%d services) was accepted", app.Name, len(app.Services))
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error containing %q, got %v", app.Name, want, err)
		}
	}
	refused(sleepApp("huge", 1, 1000000), fmt.Sprintf("replicas 1000000 is more than %d", spec.MaxReplicas))
	refused(sleepApp("wide", spec.MaxServices+1, 0), fmt.Sprintf("an app may have at most %d", spec.MaxServices))
	refused(sleepApp("many", spec.MaxInstances/spec.MaxReplicas+1, spec.MaxReplicas), fmt.Sprintf("may run at most %d", spec.MaxInstances))
	small := sleepApp("small", 1, 0)
	if _, err := cl.Deploy(ctx, "prod", small); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.run("down", "--app", "small", "--env", "prod") })
	r := h.run("scale", "--app", "small", "--env", "prod", "s000=1000000")
	if r.code == 0 {
		h.run("scale", "--app", "small", "--env", "prod", "s000=0")
		t.Fatalf("scale to a million was accepted: %s", r)
	}
	if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("more than %d", spec.MaxReplicas)) {
		t.Errorf("scale to a million: %s", r)
	}
	ds, err := cl.Deployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].App.Services[0].Replicas != 0 {
		t.Errorf("deployments after the refusals: %+v, want small with 0 replicas", ds)
	}
}

// TestLargestAppStatusWithinASecond deploys the largest app the bounds
// allow — spec.MaxServices services, spec.MaxInstances instances in all —
// with the process driver, every instance a real `sleep` process, and
// checks that `haven status` and `haven ps` of it answer within a second
// (the CLI's own start-up included) once everything runs.
func TestLargestAppStatusWithinASecond(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 500 processes")
	}
	h := newHaven(t, "process")
	h.startServer()
	cl := h.apiClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	app := sleepApp("big", spec.MaxServices, spec.MaxInstances/spec.MaxServices)
	if _, err := cl.Deploy(ctx, "prod", app); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.run("down", "--app", "big", "--env", "prod")
		waitFor(t, 2*time.Minute, "the big app's instances to stop", func() bool {
			n, err := cl.Instances(context.Background(), spec.AppEnv{App: "big", Env: "prod"})
			return err == nil && n == 0
		})
	})
	took := waitFor(t, 4*time.Minute, fmt.Sprintf("%d instances to run", spec.MaxInstances), func() bool {
		sts, err := cl.Status(ctx, "big", "prod")
		if err != nil || len(sts) != 1 {
			return false
		}
		return sts[0].Ready()
	})
	t.Logf("%d services, %d instances ready in %s; server %s", spec.MaxServices, spec.MaxInstances, took.Round(time.Millisecond), rss(h.server.Process.Pid))

	measure := func(args ...string) time.Duration {
		t.Helper()
		var runs []time.Duration
		for range 5 {
			start := time.Now()
			r := h.mustRun(args...)
			runs = append(runs, time.Since(start))
			if len(args) == 1 && args[0] == "ps" && strings.Count(r.stdout, "\n") != spec.MaxInstances+1 {
				t.Fatalf("ps printed %d lines, want a header and %d instances", strings.Count(r.stdout, "\n"), spec.MaxInstances)
			}
			if len(args) == 1 && args[0] == "status" && strings.Count(r.stdout, "\n") != spec.MaxServices+1 {
				t.Fatalf("status printed %d lines, want a header and %d services", strings.Count(r.stdout, "\n"), spec.MaxServices)
			}
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
		t.Logf("haven %s: %v (median %s)", strings.Join(args, " "), runs, runs[len(runs)/2].Round(time.Millisecond))
		return runs[len(runs)/2]
	}
	for _, args := range [][]string{{"status"}, {"ps"}, {"status", "-o", "json"}, {"ps", "-o", "json"}} {
		if d := measure(args...); d > time.Second {
			t.Errorf("haven %s of the largest allowed app took %s (median of 5), want at most 1s", strings.Join(args, " "), d)
		}
	}
}

// rss reads a process's resident memory, for the log.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "RSS unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return "RSS " + strings.Join(strings.Fields(strings.TrimPrefix(l, "VmRSS:")), " ")
		}
	}
	return "RSS unknown"
}
