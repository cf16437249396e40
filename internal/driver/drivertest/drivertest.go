package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// Harness adapts one driver to the suite.
type Harness struct {
	// New returns a fresh Driver value over the same runtime each call (used
	// to prove adoption after a "crash": a second New() must List what the
	// first started). It registers with t.Cleanup whatever closing the value
	// needs.
	New func(t *testing.T) driver.Driver
	// Service returns a spec.Service named name that runs internal/testapp
	// listening on container port 8080, with the given extra env (e.g.
	// {"EXIT_AFTER":"200ms"}). For the process driver: Command = [testapp
	// binary]; for docker: Image = a scratch image holding testapp. The suite
	// declares port 8080 in Expose when the service does not name it.
	Service func(t *testing.T, name string, env map[string]string) spec.Service
}

// appPort is the container port testapp listens on.
const appPort = 8080

// Run runs the conformance suite against the driver h describes. Cases run
// as parallel subtests, each with its own app.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"StartList", testStartList},
		{"Env", testEnv},
		{"StopTerm", testStopTerm},
		{"StopKillAfterGrace", testStopKill},
		{"ExitEvent", testExitEvent},
		{"Logs", testLogs},
		{"LogsSince", testLogsSince},
		{"LogsFollow", testLogsFollow},
		{"Adopt", testAdopt},
		{"Replicas", testReplicas},
		{"ConcurrentStart", testConcurrentStart},
		{"EnsureEnvIdempotent", testEnsureEnv},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, h)
		})
	}
}

// fixture is one case's app: a driver, a unique app+environment, and a
// cleanup that stops everything the case started.
type fixture struct {
	t   *testing.T
	h   Harness
	d   driver.Driver
	env spec.AppEnv
	ctx context.Context
}

func newFixture(t *testing.T, h Harness) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, h: h, d: h.New(t), env: spec.AppEnv{App: "dt-" + randHex(4), Env: "test"}, ctx: ctx}
	if err := f.d.EnsureEnv(ctx, f.env, spec.App{Name: f.env.App}); err != nil {
		t.Fatalf("EnsureEnv(%s): %v", f.env, err)
	}
	t.Cleanup(f.cleanup)
	return f
}

// cleanup stops every instance of the fixture's app, whichever Driver
// value started it, and removes the environment. It runs after t.Context
// is cancelled, so it has its own deadline.
func (f *fixture) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := f.d.List(ctx)
	if err != nil {
		f.t.Errorf("cleanup: List: %v", err)
	}
	for _, inst := range list {
		if inst.Labels.App != f.env.App {
			continue
		}
		if err := f.d.Stop(ctx, inst.ID, 0); err != nil {
			f.t.Errorf("cleanup: Stop(%s): %v", inst.ID, err)
		}
	}
	if err := f.d.RemoveEnv(ctx, f.env, true); err != nil {
		f.t.Errorf("cleanup: RemoveEnv(%s): %v", f.env, err)
	}
}

// service returns the harness's service with port 8080 declared and its
// image prepared.
func (f *fixture) service(name string, env map[string]string) spec.Service {
	f.t.Helper()
	svc := f.h.Service(f.t, name, env)
	if !declaresPort(svc, appPort) {
		svc.Expose = append(svc.Expose, appPort)
	}
	id, err := f.d.PrepareImage(f.ctx, f.env, svc)
	if err != nil {
		f.t.Fatalf("PrepareImage(%s): %v", name, err)
	}
	svc.ImageID = id
	return svc
}

func declaresPort(svc spec.Service, port int) bool {
	if slices.Contains(svc.Expose, port) {
		return true
	}
	for _, p := range svc.Ports {
		if p.Target == port {
			return true
		}
	}
	for _, r := range svc.Routes {
		if r.Port == port {
			return true
		}
	}
	return svc.Health != nil && svc.Health.Port == port
}

// labels returns fresh instance labels for svc in the fixture's app.
func (f *fixture) labels(svc spec.Service) spec.InstanceLabels {
	return spec.InstanceLabels{App: f.env.App, Env: f.env.Env, Service: svc.Name, Revision: svc.Revision(), Instance: svc.Name + "-" + randHex(4)}
}

// start starts one instance of svc and checks what Start returned.
func (f *fixture) start(svc spec.Service) driver.Instance {
	f.t.Helper()
	inst, err := f.startErr(svc)
	if err != nil {
		f.t.Fatalf("Start(%s): %v", svc.Name, err)
	}
	return inst
}

func (f *fixture) startErr(svc spec.Service) (driver.Instance, error) {
	labels := f.labels(svc)
	inst, err := f.d.Start(f.ctx, driver.StartRequest{
		Labels:  labels,
		Service: svc,
		App:     spec.App{Name: f.env.App, Services: []spec.Service{svc}},
		Aliases: []string{svc.Name},
	})
	if err != nil {
		return inst, err
	}
	if inst.ID == "" {
		return inst, errors.New("Start returned an instance with no ID")
	}
	if inst.Labels != labels {
		return inst, fmt.Errorf("Start returned labels %+v, want %+v", inst.Labels, labels)
	}
	if inst.Addr(appPort) == "" {
		return inst, fmt.Errorf("Start returned no address for port %d (Addrs %v)", appPort, inst.Addrs)
	}
	return inst, nil
}

// list returns the instances of the fixture's app as d sees them.
func (f *fixture) list(d driver.Driver) []driver.Instance {
	f.t.Helper()
	all, err := d.List(f.ctx)
	if err != nil {
		f.t.Fatalf("List: %v", err)
	}
	var mine []driver.Instance
	for _, inst := range all {
		if inst.Labels.App == f.env.App {
			mine = append(mine, inst)
		}
	}
	return mine
}

// find returns the instance with id as d lists it, failing the test when it
// is missing.
func (f *fixture) find(d driver.Driver, id string) driver.Instance {
	f.t.Helper()
	inst, ok := lookup(f.list(d), id)
	if !ok {
		f.t.Fatalf("List does not contain instance %s", id)
	}
	return inst
}

func (f *fixture) absent(d driver.Driver, id string) {
	f.t.Helper()
	if inst, ok := lookup(f.list(d), id); ok {
		f.t.Errorf("List still contains instance %s after Stop: %+v", id, inst)
	}
}

func lookup(list []driver.Instance, id string) (driver.Instance, bool) {
	for _, inst := range list {
		if inst.ID == id {
			return inst, true
		}
	}
	return driver.Instance{}, false
}

// logs collects the lines Logs returns (without Follow).
func (f *fixture) logs(d driver.Driver, id string, opts driver.LogOptions) []driver.LogLine {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	var lines []driver.LogLine
	err := d.Logs(ctx, id, opts, func(l driver.LogLine) error {
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		f.t.Fatalf("Logs(%s, %+v): %v", id, opts, err)
	}
	return lines
}

// waitLogs polls Logs until a line containing each of want has been written.
func (f *fixture) waitLogs(id string, want ...string) []driver.LogLine {
	f.t.Helper()
	var lines []driver.LogLine
	waitFor(f.t, 10*time.Second, func() bool {
		lines = f.logs(f.d, id, driver.LogOptions{})
		for _, w := range want {
			if indexOf(lines, w) < 0 {
				return false
			}
		}
		return true
	}, "log lines %q of %s", want, id)
	return lines
}

// indexOf returns the index of the first line containing s, or -1.
func indexOf(lines []driver.LogLine, s string) int {
	return slices.IndexFunc(lines, func(l driver.LogLine) bool { return strings.Contains(l.Text, s) })
}

// waitHTTP GETs http://addr/ until it answers 200 and returns the body.
// Start does not wait for the app to listen, so the first tries may fail.
func waitHTTP(t *testing.T, addr string) string {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	var body string
	var last error
	waitFor(t, 10*time.Second, func() bool {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			last = err
			return false
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			last = fmt.Errorf("status %d, read error %v", resp.StatusCode, err)
			return false
		}
		body = string(b)
		return true
	}, "HTTP 200 from %s (last: %v)", addr, &last)
	return body
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if p, ok := a.(*error); ok {
					args[i] = *p
				}
			}
			t.Fatalf("timed out after %s waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
