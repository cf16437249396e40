package plan

import (
	"github.com/haven-platform/haven/internal/golden"

	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func app(services ...spec.Service) *spec.App {
	a := &spec.App{Name: "shop", Services: services}
	a.SortServices()
	return a
}

func svc(name string, replicas int, mods ...func(*spec.Service)) spec.Service {
	s := spec.Service{Name: name, Image: name + ":1", Replicas: replicas, Restart: spec.RestartAlways}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func dependsOn(dep string, cond spec.DependencyCondition) func(*spec.Service) {
	return func(s *spec.Service) {
		s.DependsOn = append(s.DependsOn, spec.Dependency{Service: dep, Condition: cond})
	}
}

func restart(p spec.RestartPolicy) func(*spec.Service) {
	return func(s *spec.Service) { s.Restart = p }
}

// inst builds an observed instance; age orders StartedAt (older = smaller).
func inst(id, service, rev string, state spec.InstanceState, age int) Observed {
	return Observed{ID: id, Service: service, Revision: rev, State: state, StartedAt: t0.Add(time.Duration(age) * time.Second)}
}

func exited(id, service, rev string, code int) Observed {
	o := inst(id, service, rev, spec.StateExited, 0)
	o.ExitCode = code
	return o
}

func revs(pairs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// TestDecide compares whole plans with golden files in testdata/, one per
// case: a plan reads as a list of actions and holds, so a change of
// behaviour shows as a diff of that list.
func TestDecide(t *testing.T) {
	cases := []struct {
		name string
		in   Input
	}{
		{"fresh deploy starts every replica", Input{
			App: app(svc("web", 3)), Revisions: revs("web", "r1"),
		}},
		{"converged plan is empty", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("b", "web", "r1", spec.StateHealthy, 2)},
		}},
		{"starting instances count as running", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateStarting, 1)},
		}},
		{"dead instance is removed and replaced at once", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), exited("b", "web", "r1", 137)},
			Crashes:   map[string]Crashes{"web": {Count: 1, Last: t0}}, Now: t0,
		}},
		{"unhealthy instance is stopped and replaced", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("b", "web", "r1", spec.StateUnhealthy, 2)},
			Crashes:   map[string]Crashes{"web": {Count: 1, Last: t0}}, Now: t0,
		}},
		{"crash loop backs off", Input{
			App: app(svc("web", 1)), Revisions: revs("web", "r1"),
			Instances: []Observed{exited("a", "web", "r1", 1)},
			Crashes:   map[string]Crashes{"web": {Count: 4, Last: t0}}, Now: t0.Add(time.Second),
		}},
		{"crash loop starts again after backoff", Input{
			App: app(svc("web", 1)), Revisions: revs("web", "r1"),
			Crashes: map[string]Crashes{"web": {Count: 4, Last: t0}}, Now: t0.Add(4 * time.Second),
		}},
		{"scale down stops starting then newest", Input{
			App: app(svc("web", 1)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("b", "web", "r1", spec.StateHealthy, 2), inst("c", "web", "r1", spec.StateStarting, 0)},
		}},
		{"new revision starts alongside old", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r2"),
			Targets:   map[string]map[string]int{"web": {"r1": 2, "r2": 2}},
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("b", "web", "r1", spec.StateHealthy, 2)},
		}},
		{"old revision stops as new becomes healthy", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r2"),
			Targets: map[string]map[string]int{"web": {"r1": 1, "r2": 2}},
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("b", "web", "r1", spec.StateHealthy, 2),
				inst("c", "web", "r2", spec.StateHealthy, 3), inst("d", "web", "r2", spec.StateStarting, 4)},
		}},
		{"unhealthy old revision goes first", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r2"),
			Targets: map[string]map[string]int{"web": {"r1": 1, "r2": 2}},
			Instances: []Observed{inst("a", "web", "r1", spec.StateStarting, 1), inst("b", "web", "r1", spec.StateHealthy, 2),
				inst("c", "web", "r2", spec.StateStarting, 3), inst("d", "web", "r2", spec.StateStarting, 4)},
		}},
		{"revision without a target is stopped", Input{
			App: app(svc("web", 2)), Revisions: revs("web", "r2"),
			Targets:   map[string]map[string]int{"web": {"r2": 2}},
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("c", "web", "r2", spec.StateHealthy, 3), inst("d", "web", "r2", spec.StateHealthy, 4)},
		}},
		{"dependency not healthy holds the dependent", Input{
			App:       app(svc("db", 1), svc("api", 2, dependsOn("db", spec.ConditionHealthy))),
			Revisions: revs("db", "d1", "api", "a1"),
			Instances: []Observed{inst("x", "db", "d1", spec.StateStarting, 1)},
		}},
		{"healthy dependency releases the dependent", Input{
			App:       app(svc("db", 1), svc("api", 2, dependsOn("db", spec.ConditionHealthy))),
			Revisions: revs("db", "d1", "api", "a1"),
			Instances: []Observed{inst("x", "db", "d1", spec.StateHealthy, 1)},
		}},
		{"started condition needs only a running dependency", Input{
			App:       app(svc("db", 1), svc("api", 1, dependsOn("db", spec.ConditionStarted))),
			Revisions: revs("db", "d1", "api", "a1"),
			Instances: []Observed{inst("x", "db", "d1", spec.StateStarting, 1)},
		}},
		{"one-shot that completed is kept and not rerun", Input{
			App:       app(svc("migrate", 1, restart(spec.RestartOnFailure)), svc("api", 1, dependsOn("migrate", spec.ConditionCompleted))),
			Revisions: revs("migrate", "m1", "api", "a1"),
			Instances: []Observed{exited("m", "migrate", "m1", 0)},
		}},
		{"one-shot that failed is rerun under on-failure", Input{
			App:       app(svc("migrate", 1, restart(spec.RestartOnFailure)), svc("api", 1, dependsOn("migrate", spec.ConditionCompleted))),
			Revisions: revs("migrate", "m1", "api", "a1"),
			Instances: []Observed{exited("m", "migrate", "m1", 2)},
			Crashes:   map[string]Crashes{"migrate": {Count: 1, Last: t0}}, Now: t0,
		}},
		{"restart no keeps a failed run", Input{
			App: app(svc("task", 1, restart(spec.RestartNever))), Revisions: revs("task", "t1"),
			Instances: []Observed{exited("t", "task", "t1", 3)},
		}},
		{"draining instances are left alone", Input{
			App: app(svc("web", 1)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateDraining, 1), inst("b", "web", "r1", spec.StateHealthy, 2)},
		}},
		{"removed service is stopped", Input{
			App: app(svc("web", 1)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("z", "old", "o1", spec.StateHealthy, 1), exited("y", "old", "o1", 0)},
		}},
		{"app down stops everything", Input{
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1), inst("b", "web", "r1", spec.StateDraining, 1), exited("c", "db", "d1", 0)},
		}},
		{"scale to zero", Input{
			App: app(svc("web", 0)), Revisions: revs("web", "r1"),
			Instances: []Observed{inst("a", "web", "r1", spec.StateHealthy, 1)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.in).String()
			if again := Decide(tc.in).String(); again != got {
				t.Fatalf("Decide is not deterministic:\n%s\nvs\n%s", got, again)
			}
			path := filepath.Join("testdata", strings.ReplaceAll(tc.name, " ", "_")+".plan")
			golden.Check(t, path, []byte(got))
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		count int
		want  time.Duration
	}{{0, 0}, {1, 0}, {2, time.Second}, {3, 2 * time.Second}, {5, 8 * time.Second}, {7, 30 * time.Second}, {70, 30 * time.Second}} {
		if got := Backoff(tc.count); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.count, got, tc.want)
		}
	}
}
