package release

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// def returns the policy with its defaults, as the agent passes it.
func def(p spec.ReleasePolicy) spec.ReleasePolicy { return p.WithDefaults() }

var env = spec.AppEnv{App: "shop", Env: "prod"}

// started returns a release of r3 → r4 (or of r4 alone when from is "")
// as Start makes it.
func started(policy spec.ReleasePolicy, from string, rollback bool) spec.Release {
	f := spec.Revision{}
	if from != "" {
		f = spec.Revision{Number: 3, Hash: from}
	}
	return Start(1, env, "web", f, spec.Revision{Number: 4, Hash: newRev}, policy.WithDefaults(), rollback, t0)
}

func counts(oldH, oldS, newH, newS int) map[string]Counts {
	return map[string]Counts{oldRev: {Healthy: oldH, Starting: oldS}, newRev: {Healthy: newH, Starting: newS}}
}

func TestBreakerThreshold(t *testing.T) {
	for n, want := range map[int]int{0: 3, 1: 3, 3: 3, 5: 3, 6: 3, 7: 4, 8: 4, 10: 5, 11: 6, 100: 50} {
		if got := BreakerThreshold(n); got != want {
			t.Errorf("BreakerThreshold(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestBreaker trips the circuit breaker at exactly its threshold, for
// every strategy and every kind of release.
func TestBreaker(t *testing.T) {
	kinds := []struct {
		name     string
		from     string
		rollback bool
		want     spec.ReleasePhase
	}{
		{"normal", oldRev, false, spec.PhaseRollingBack},
		{"first", "", false, spec.PhaseFailed},
		{"rollback", oldRev, true, spec.PhaseFailed},
	}
	policies := []spec.ReleasePolicy{rolling(1, 0), blueGreen(time.Minute), canary()}
	for _, n := range []int{1, 2, 3, 5, 6, 7, 10} {
		limit := BreakerThreshold(n)
		for _, p := range policies {
			for _, k := range kinds {
				rel := started(p, k.from, k.rollback)
				// One old instance is still starting, so a rollback has
				// work to do and stays rolling-back for this pass.
				obs := Observed{ByRevision: counts(n-1, 1, 0, 1), NewFailures: limit - 1, FailureInfo: "exited with 2: bad flag"}
				d := Next(rel, n, p.WithDefaults(), obs, Metrics{}, t0.Add(time.Second))
				if d.Release.Phase != spec.PhaseProgressing || d.Release.FailedStarts != limit-1 {
					t.Fatalf("n=%d %s %s: %d failures: phase %s, failed starts %d", n, p.Strategy, k.name, limit-1, d.Release.Phase, d.Release.FailedStarts)
				}
				obs.NewFailures = limit
				d = Next(rel, n, p.WithDefaults(), obs, Metrics{}, t0.Add(time.Second))
				if d.Release.Phase != k.want {
					t.Fatalf("n=%d %s %s: %d failures: phase %s, want %s", n, p.Strategy, k.name, limit, d.Release.Phase, k.want)
				}
				if !strings.HasPrefix(d.Release.Reason, "circuit breaker: ") || !strings.HasSuffix(d.Release.Reason, ": exited with 2: bad flag") {
					t.Errorf("reason %q", d.Release.Reason)
				}
				switch k.want {
				case spec.PhaseFailed:
					active := newRev
					if k.from != "" {
						active = oldRev
					}
					if want := map[string]int{active: n}; !reflect.DeepEqual(d.Targets, want) || d.Release.Finished.IsZero() {
						t.Errorf("n=%d %s %s: failed targets %v, want %v", n, p.Strategy, k.name, d.Targets, want)
					}
				case spec.PhaseRollingBack:
					if d.Targets[oldRev] != n || d.Targets[newRev] != 0 {
						t.Errorf("n=%d %s: rolling back targets %v", n, p.Strategy, d.Targets)
					}
				}
			}
		}
	}
}

func TestBreakerIgnoredWhileRollingBack(t *testing.T) {
	rel := started(canary(), oldRev, false)
	rel.Phase, rel.StepStarted = spec.PhaseRollingBack, t0
	d := Next(rel, 3, def(canary()), Observed{ByRevision: counts(2, 1, 0, 0), NewFailures: 50}, Metrics{}, t0.Add(time.Second))
	if d.Release.Phase != spec.PhaseRollingBack || d.Release.FailedStarts != 0 || len(d.Events) != 0 {
		t.Errorf("got %+v", d)
	}
	if want := map[string]int{oldRev: 3, newRev: 0}; !reflect.DeepEqual(d.Targets, want) || !reflect.DeepEqual(d.Weights, map[string]int{oldRev: 100}) {
		t.Errorf("targets %v weights %v", d.Targets, d.Weights)
	}
}

// A restarted agent may count failures from zero again: the stored count
// is kept, and the breaker still trips when the total reaches the limit.
func TestFailedStartsNeverDecrease(t *testing.T) {
	p := def(rolling(1, 0))
	rel := started(p, oldRev, false)
	rel.FailedStarts = 2
	d := Next(rel, 3, p, Observed{ByRevision: counts(3, 0, 0, 1), NewFailures: 0}, Metrics{}, t0)
	if d.Release.FailedStarts != 2 || len(d.Events) != 0 || d.Release.Phase != spec.PhaseProgressing {
		t.Errorf("got %+v", d.Release)
	}
	d = Next(rel, 3, p, Observed{ByRevision: counts(3, 0, 0, 1), NewFailures: 3}, Metrics{}, t0)
	// The old set is whole, so the rollback completes in the same pass.
	if d.Release.Phase != spec.PhaseRolledBack || d.Release.FailedStarts != 3 {
		t.Errorf("phase %s, failed starts %d", d.Release.Phase, d.Release.FailedStarts)
	}
}

// TestCanaryAnalysis judges step 1 (10%, 30s pause) of a canary of 3
// replicas whose timer started at t0.
func TestCanaryAnalysis(t *testing.T) {
	ms := func(d int) time.Duration { return time.Duration(d) * time.Millisecond }
	sample := func(req, errs int, p95 time.Duration) Sample { return Sample{Requests: req, Errors: errs, P95: p95} }
	base := sample(900, 0, ms(40))
	cases := []struct {
		name     string
		rollback bool
		steps    []spec.CanaryStep
		after    time.Duration
		m        Metrics
		phase    spec.ReleasePhase
		step     int
		reason   string // substring of Reason, or of an event when the phase does not change
	}{
		{"waits for the pause", false, nil, 10 * time.Second, Metrics{sample(100, 0, ms(40)), base}, spec.PhaseProgressing, 0, ""},
		{"passes after the pause", false, nil, 30 * time.Second, Metrics{sample(100, 0, ms(40)), base}, spec.PhaseProgressing, 1, "canary step 1/3 passed: 0.0% errors over 100 requests, p95 40ms (baseline 40ms)"},
		{"error rate at the limit passes", false, nil, 30 * time.Second, Metrics{sample(100, 5, ms(40)), base}, spec.PhaseProgressing, 1, "passed: 5.0% errors"},
		{"error rate fails before the pause ends", false, nil, 5 * time.Second, Metrics{sample(212, 102, ms(40)), base}, spec.PhaseRolledBack, 0, "canary error rate 48.1% > 5.0% over 212 requests"},
		{"errors on too few requests wait", false, nil, 5 * time.Second, Metrics{sample(19, 19, ms(40)), base}, spec.PhaseProgressing, 0, ""},
		{"latency fails against the baseline", false, nil, 30 * time.Second, Metrics{sample(100, 0, ms(400)), base}, spec.PhaseRolledBack, 0, "canary p95 400ms > 80ms (baseline p95 40ms × 2, floor 50ms) over 100 requests"},
		{"latency at the ratio passes", false, nil, 30 * time.Second, Metrics{sample(100, 0, ms(80)), base}, spec.PhaseProgressing, 1, "passed"},
		{"latency under the floor passes", false, nil, 30 * time.Second, Metrics{sample(100, 0, ms(50)), sample(900, 0, ms(5))}, spec.PhaseProgressing, 1, "passed"},
		{"latency over the floor fails", false, nil, 30 * time.Second, Metrics{sample(100, 0, ms(51)), sample(900, 0, ms(5))}, spec.PhaseRolledBack, 0, "canary p95 51ms > 50ms"},
		{"latency without a baseline is judged on the floor", false, nil, 30 * time.Second, Metrics{Canary: sample(100, 0, ms(60))}, spec.PhaseRolledBack, 0, "> 50ms"},
		{"insufficient traffic waits", false, nil, 60 * time.Second, Metrics{sample(5, 0, ms(40)), base}, spec.PhaseProgressing, 0, ""},
		{"insufficient traffic fails after three pauses", false, nil, 90 * time.Second, Metrics{sample(5, 0, ms(40)), base}, spec.PhaseRolledBack, 0, "the canary got 5 of the 20 requests needed in 1m30s (baseline 900)"},
		{"no canary traffic while the baseline has some fails", false, nil, 90 * time.Second, Metrics{Baseline: base}, spec.PhaseRolledBack, 0, "got 0 of the 20"},
		{"no traffic at all passes after the pause", false, nil, 30 * time.Second, Metrics{}, spec.PhaseProgressing, 1, "passed without traffic"},
		{"no traffic at all waits for the pause", false, nil, 29 * time.Second, Metrics{}, spec.PhaseProgressing, 0, ""},
		{"a step without a pause passes on little traffic", false, []spec.CanaryStep{step(10, 0), step(50, 0)}, 0, Metrics{sample(3, 0, ms(40)), base}, spec.PhaseProgressing, 1, "passed (no pause) on 3 requests"},
		{"a step without a pause still fails a bad canary", false, []spec.CanaryStep{step(10, 0)}, 0, Metrics{sample(30, 30, ms(40)), base}, spec.PhaseRolledBack, 0, "canary error rate 100.0%"},
		{"the last step passes to the full step", false, []spec.CanaryStep{step(10, 30*time.Second)}, 30 * time.Second, Metrics{sample(100, 0, ms(40)), base}, spec.PhaseProgressing, 1, "canary step 2/2: scaling revision 4 to 3 instance(s) for 100% of traffic"},
		{"a rollback release fails instead of rolling back", true, nil, 5 * time.Second, Metrics{sample(212, 102, ms(40)), base}, spec.PhaseFailed, 0, "canary error rate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := def(canary(tc.steps...))
			rel := started(p, oldRev, tc.rollback)
			rel.StepStarted = t0
			obs := Observed{ByRevision: counts(3, 0, 1, 0)}
			d := Next(rel, 3, p, obs, tc.m, t0.Add(tc.after))
			if d.Release.Phase != tc.phase || d.Release.Step != tc.step {
				t.Fatalf("phase %s step %d, want %s step %d (reason %q, events %q)", d.Release.Phase, d.Release.Step, tc.phase, tc.step, d.Release.Reason, d.Events)
			}
			text := d.Release.Reason + "\n" + strings.Join(d.Events, "\n")
			if tc.reason == "" && len(d.Events) > 0 {
				t.Errorf("unexpected events %q", d.Events)
			}
			if !strings.Contains(text, tc.reason) {
				t.Errorf("want %q in %q", tc.reason, text)
			}
			switch tc.phase {
			case spec.PhaseRolledBack:
				// The baseline kept full capacity: back at once.
				if want := map[string]int{oldRev: 3}; !reflect.DeepEqual(d.Targets, want) {
					t.Errorf("targets %v", d.Targets)
				}
			case spec.PhaseProgressing:
				if tc.step == 0 && !reflect.DeepEqual(d.Weights, map[string]int{oldRev: 90, newRev: 10}) {
					t.Errorf("weights %v", d.Weights)
				}
			}
		})
	}
}

func TestCanaryTimer(t *testing.T) {
	p := def(canary())
	rel := started(p, oldRev, false)
	if !rel.StepStarted.IsZero() || rel.Phase != spec.PhaseProgressing {
		t.Fatalf("a canary step's timer starts with its canary: %+v", rel)
	}
	bad := Metrics{Canary: Sample{Requests: 500, Errors: 500}}
	later := t0.Add(time.Hour)

	// Canary not healthy: no traffic to it, no timer, no judgement.
	d := Next(rel, 3, p, Observed{ByRevision: counts(3, 0, 0, 1)}, bad, later)
	if !d.Release.StepStarted.IsZero() || d.Release.Phase != spec.PhaseProgressing || !reflect.DeepEqual(d.Weights, map[string]int{oldRev: 100}) {
		t.Fatalf("got %+v", d)
	}
	if want := map[string]int{oldRev: 3, newRev: 1}; !reflect.DeepEqual(d.Targets, want) {
		t.Errorf("targets %v, want %v", d.Targets, want)
	}
	// Canary healthy: the timer starts now, and the step is not judged on
	// measurements that belong to no step of its own.
	d = Next(rel, 3, p, Observed{ByRevision: counts(3, 0, 1, 0)}, bad, later)
	if !d.Release.StepStarted.Equal(later) || d.Release.Phase != spec.PhaseProgressing || !reflect.DeepEqual(d.Weights, map[string]int{oldRev: 90, newRev: 10}) {
		t.Fatalf("got %+v", d)
	}
	if len(d.Events) != 1 || d.Events[0] != "canary step 1/3: 10% of traffic to revision 4" {
		t.Errorf("events %q", d.Events)
	}
	// The canary lost its instance mid-step: traffic goes back to the
	// baseline, the timer goes on.
	rel = d.Release
	d = Next(rel, 3, p, Observed{ByRevision: counts(3, 0, 0, 1)}, Metrics{}, later.Add(time.Second))
	if !reflect.DeepEqual(d.Weights, map[string]int{oldRev: 100}) || !d.Release.StepStarted.Equal(later) {
		t.Errorf("got %+v", d)
	}
	// A stored step beyond the policy's steps (the policy changed)
	// continues from the last one.
	rel.Step = 9
	d = Next(rel, 3, p, Observed{ByRevision: counts(3, 0, 1, 0)}, Metrics{}, later)
	if d.Release.Step != 2 || !reflect.DeepEqual(d.Targets, map[string]int{oldRev: 3, newRev: 3}) {
		t.Errorf("got %+v", d)
	}
}

// TestCanaryFailsFast: the error and latency checks run whenever the
// canary serves, not only in a step's timed judgement.
func TestCanaryFailsFast(t *testing.T) {
	p := def(canary())
	bad := Metrics{Canary: Sample{Requests: 100, Errors: 30}, Baseline: Sample{Requests: 100}}
	for _, tc := range []struct {
		name    string
		step    int
		started time.Time
		obs     map[string]Counts
		weight  int // the previous step's, which holds meanwhile
	}{
		{"while the next step's canaries start", 1, time.Time{}, counts(3, 0, 1, 1), 10},
		{"while the final step scales up", 2, t0, counts(3, 0, 2, 1), 50},
	} {
		rel := started(p, oldRev, false)
		rel.Step, rel.StepStarted = tc.step, tc.started
		d := Next(rel, 3, p, Observed{ByRevision: tc.obs}, bad, t0.Add(time.Second))
		if d.Release.Phase != spec.PhaseRolledBack || d.Release.Reason != "canary error rate 30.0% > 5.0% over 100 requests" {
			t.Errorf("%s: %s %q", tc.name, d.Release.Phase, d.Release.Reason)
		}
		d = Next(rel, 3, p, Observed{ByRevision: tc.obs}, Metrics{}, t0.Add(time.Second))
		if d.Release.Phase != spec.PhaseProgressing || !reflect.DeepEqual(d.Weights, map[string]int{oldRev: 100 - tc.weight, newRev: tc.weight}) {
			t.Errorf("%s: without measurements: %s weights %v", tc.name, d.Release.Phase, d.Weights)
		}
	}
}

func TestCanaryTargets(t *testing.T) {
	for _, tc := range []struct{ n, weight, want int }{
		{1, 10, 1}, {3, 10, 1}, {3, 50, 2}, {10, 5, 1}, {10, 25, 3}, {10, 60, 6}, {20, 50, 10}, {4, 99, 4},
	} {
		p := def(canary(step(tc.weight, time.Minute)))
		d := Next(started(p, oldRev, false), tc.n, p, Observed{ByRevision: counts(tc.n, 0, 0, 0)}, Metrics{}, t0)
		if d.Targets[newRev] != tc.want || d.Targets[oldRev] != tc.n {
			t.Errorf("n=%d weight %d: targets %v, want %d canaries and a full baseline", tc.n, tc.weight, d.Targets, tc.want)
		}
	}
}

func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		in   []spec.CanaryStep
		want []int
	}{
		{nil, []int{100}},
		{[]spec.CanaryStep{step(10, 0), step(50, 0)}, []int{10, 50, 100}},
		{[]spec.CanaryStep{step(10, 0), step(100, time.Minute)}, []int{10, 100}},
		{[]spec.CanaryStep{step(0, 0), step(20, 0), step(100, 0), step(30, 0)}, []int{20, 100}},
	} {
		in := spec.ReleasePolicy{Steps: tc.in}
		var got []int
		for _, s := range Steps(in) {
			got = append(got, s.Weight)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Steps(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMigration(t *testing.T) {
	type want struct {
		phase   spec.ReleasePhase
		run     bool
		targets map[string]int
		reason  string
	}
	logs := []string{"a", "b", "c", "d", "e", "f", "ERROR: relation \"users\" does not exist"}
	cases := []struct {
		name   string
		policy spec.ReleasePolicy
		from   string
		mg     Migration
		want   want
	}{
		{"not started runs it, old serves", rolling(1, 0), oldRev, Migration{}, want{spec.PhaseMigrating, true, map[string]int{oldRev: 3}, ""}},
		{"first release runs it with nothing started", rolling(1, 0), "", Migration{}, want{spec.PhaseMigrating, true, map[string]int{}, ""}},
		{"running waits", rolling(1, 0), oldRev, Migration{Started: true}, want{spec.PhaseMigrating, false, map[string]int{oldRev: 3}, ""}},
		{"success starts the rollout", rolling(1, 0), oldRev, Migration{Started: true, Done: true}, want{spec.PhaseProgressing, false, map[string]int{oldRev: 3, newRev: 1}, ""}},
		{"success starts a blue-green set", blueGreen(time.Minute), oldRev, Migration{Started: true, Done: true}, want{spec.PhaseProgressing, false, map[string]int{oldRev: 3, newRev: 3}, ""}},
		{"failure keeps the old revision", rolling(1, 0), oldRev, Migration{Started: true, Done: true, ExitCode: 3, Logs: logs}, want{spec.PhaseRolledBack, false, map[string]int{oldRev: 3},
			"migration exited with 3: c | d | e | f | ERROR: relation \"users\" does not exist"}},
		{"failure of a first release starts nothing", rolling(1, 0), "", Migration{Started: true, Done: true, ExitCode: 1}, want{spec.PhaseFailed, false, map[string]int{}, "migration exited with 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := def(migrate(tc.policy))
			rel := started(p, tc.from, false)
			if rel.Phase != spec.PhaseMigrating {
				t.Fatalf("Start: phase %s", rel.Phase)
			}
			live := map[string]Counts{}
			if tc.from != "" {
				live[oldRev] = Counts{Healthy: 3}
			}
			now := t0.Add(time.Minute)
			d := Next(rel, 3, p, Observed{ByRevision: live, Migration: tc.mg}, Metrics{}, now)
			got := want{d.Release.Phase, d.RunMigration, d.Targets, d.Release.Reason}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if d.Release.Phase == spec.PhaseProgressing && !d.Release.StepStarted.Equal(now) {
				t.Errorf("progressing since %v, want %v", d.Release.StepStarted, now)
			}
			if d.Release.Phase.Final() {
				// And it stays that way.
				again := Next(d.Release, 3, p, Observed{ByRevision: live, Migration: tc.mg}, Metrics{}, now.Add(time.Hour))
				if !reflect.DeepEqual(again.Targets, tc.want.targets) {
					t.Errorf("final targets %v", again.Targets)
				}
			}
		})
	}
}

func TestFinalPhases(t *testing.T) {
	p := def(rolling(1, 0))
	for _, tc := range []struct {
		phase spec.ReleasePhase
		from  string
		want  string
	}{
		{spec.PhaseSucceeded, oldRev, newRev},
		{spec.PhaseRolledBack, oldRev, oldRev},
		{spec.PhaseFailed, oldRev, oldRev},
		{spec.PhaseFailed, "", newRev},
	} {
		rel := started(p, tc.from, false)
		rel.Phase, rel.Finished, rel.Reason = tc.phase, t0, "whatever happened"
		obs := Observed{ByRevision: counts(1, 1, 1, 1), NewFailures: 99, Migration: Migration{}}
		d := Next(rel, 4, p, obs, Metrics{Canary: Sample{Requests: 100, Errors: 100}}, t0.Add(time.Hour))
		if d.Release != rel || d.Weights != nil || d.RunMigration || len(d.Events) != 0 {
			t.Errorf("%s: a final release changed: %+v", tc.phase, d)
		}
		if want := map[string]int{tc.want: 4}; !reflect.DeepEqual(d.Targets, want) {
			t.Errorf("%s from %q: targets %v, want %v", tc.phase, tc.from, d.Targets, want)
		}
	}
}

func TestStart(t *testing.T) {
	from := spec.Revision{Number: 3, Hash: oldRev}
	to := spec.Revision{Number: 4, Hash: newRev}
	rel := Start(9, env, "web", from, to, def(blueGreen(time.Minute)), true, t0)
	want := spec.Release{ID: 9, AppEnv: env, Service: "web", Strategy: spec.StrategyBlueGreen, From: oldRev, FromNumber: 3, To: newRev, ToNumber: 4,
		Rollback: true, Phase: spec.PhaseProgressing, StepStarted: t0, Started: t0}
	if rel != want {
		t.Errorf("Start = %+v\nwant %+v", rel, want)
	}
	if rel := Start(9, env, "web", spec.Revision{}, to, def(spec.ReleasePolicy{}), false, t0); rel.Strategy != spec.StrategyRolling || rel.From != "" || rel.FromNumber != 0 {
		t.Errorf("first release: %+v", rel)
	}
	// A first canary has nothing to compare with: it starts straight away.
	if rel := Start(9, env, "web", spec.Revision{}, to, def(canary()), false, t0); !rel.StepStarted.Equal(t0) {
		t.Errorf("first canary: %+v", rel)
	}
}

func TestRollingTargets(t *testing.T) {
	for _, tc := range []struct {
		name             string
		n, s, u          int
		old, new         Counts
		wantOld, wantNew int
	}{
		{"start: one surge instance", 3, 1, 0, Counts{Healthy: 3}, Counts{}, 3, 1},
		{"new one starting: nothing more", 3, 1, 0, Counts{Healthy: 3}, Counts{Starting: 1}, 3, 1},
		{"new one healthy: one old goes, one new comes", 3, 1, 0, Counts{Healthy: 3}, Counts{Healthy: 1}, 2, 2},
		{"all new healthy: old goes", 3, 1, 0, Counts{Healthy: 1}, Counts{Healthy: 3}, 0, 3},
		{"no surge: one old goes first", 4, 0, 1, Counts{Healthy: 4}, Counts{}, 3, 1},
		{"surge and unavailable together", 5, 2, 1, Counts{Healthy: 5}, Counts{}, 4, 3},
		{"unavailable covers everything: replace at once", 3, 0, 3, Counts{Healthy: 3}, Counts{}, 0, 3},
		{"old not healthy are kept only as needed", 3, 1, 0, Counts{Healthy: 1, Starting: 2}, Counts{Healthy: 1}, 2, 2},
		{"old instances are never started again", 3, 1, 0, Counts{Healthy: 1}, Counts{}, 1, 3},
		{"restart with too many new: none stopped", 3, 1, 0, Counts{Healthy: 3}, Counts{Healthy: 1, Starting: 3}, 2, 3},
		{"more new than replicas: trimmed to n", 3, 1, 0, Counts{}, Counts{Healthy: 5}, 0, 3},
		{"zero replicas", 0, 1, 0, Counts{Healthy: 2}, Counts{}, 0, 0},
	} {
		o, n := RollingTargets(tc.n, tc.s, tc.u, tc.old, tc.new)
		if o != tc.wantOld || n != tc.wantNew {
			t.Errorf("%s: got old %d new %d, want old %d new %d", tc.name, o, n, tc.wantOld, tc.wantNew)
		}
	}
}

// TestRollingInvariants checks the rolling arithmetic on random
// observations, and random rolling releases from start to end: targets
// never ask for more than n+s live instances (unless more already run),
// never stop a healthy instance while fewer than n−u are healthy, and the
// release always finishes.
func TestRollingInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 100000 {
		n, s, u := rng.IntN(12), rng.IntN(4), rng.IntN(6)
		if s == 0 && u == 0 {
			s = 1
		}
		oldLive, newLive := rng.IntN(n+s+2), rng.IntN(n+s+2)
		old := Counts{Healthy: rng.IntN(oldLive + 1)}
		old.Starting = oldLive - old.Healthy
		nw := Counts{Healthy: rng.IntN(newLive + 1)}
		nw.Starting = newLive - nw.Healthy
		p := def(rolling(s, u))
		d := Next(started(p, oldRev, false), n, p, Observed{ByRevision: map[string]Counts{oldRev: old, newRev: nw}}, Metrics{}, t0)
		if d.Release.Phase == spec.PhaseSucceeded {
			continue
		}
		oT, nT := d.Targets[oldRev], d.Targets[newRev]
		bad := func(what string) {
			t.Fatalf("n=%d s=%d u=%d old=%+v new=%+v → old %d new %d: %s", n, s, u, old, nw, oT, nT, what)
		}
		if now := oldLive + min(newLive, n); oT+nT > max(n+s, now) {
			bad("more than n+s live")
		}
		if oT > oldLive {
			bad("old revision scaled up")
		}
		if nT < min(newLive, n) {
			bad("a new instance stopped")
		}
		// The agent stops instances that are not healthy first.
		if kept := min(old.Healthy, oT) + min(nw.Healthy, nT); kept < min(n-u, old.Healthy+nw.Healthy) {
			bad("healthy instances stopped below n−u")
		}
		if oT+nT < n-u {
			bad("too few instances to ever be n−u healthy")
		}
	}

	for trial := range 2000 {
		n := 1 + rng.IntN(8)
		s, u := rng.IntN(3), rng.IntN(n+1)
		if s == 0 && u == 0 {
			s = 1
		}
		p := def(rolling(s, u))
		rel := started(p, oldRev, false)
		live := map[string]Counts{oldRev: {Healthy: n}}
		now := t0
		for pass := 0; !rel.Phase.Final(); pass++ {
			if pass > 1000 {
				t.Fatalf("trial %d (n=%d s=%d u=%d): no end: %+v", trial, n, s, u, live)
			}
			d := Next(rel, n, p, Observed{ByRevision: maps.Clone(live)}, Metrics{}, now)
			rel = d.Release
			total, healthy := 0, 0
			for _, r := range []string{oldRev, newRev} {
				c := live[r]
				if drop := c.Live() - d.Targets[r]; drop > 0 {
					st := min(drop, c.Starting)
					c.Starting -= st
					c.Healthy -= drop - st
				} else {
					c.Starting -= drop
				}
				// Starting instances become healthy at random.
				ready := rng.IntN(c.Starting + 1)
				live[r] = c
				total += c.Live()
				healthy += c.Healthy
				c.Healthy, c.Starting = c.Healthy+ready, c.Starting-ready
				live[r] = c
			}
			if total > n+s || healthy < n-u {
				t.Fatalf("trial %d (n=%d s=%d u=%d) pass %d: %d live, %d healthy after %v", trial, n, s, u, pass, total, healthy, d.Targets)
			}
			now = now.Add(time.Second)
		}
		if rel.Phase != spec.PhaseSucceeded || live[oldRev].Live() != 0 || live[newRev].Healthy != n {
			t.Fatalf("trial %d: ended %s with %+v", trial, rel.Phase, live)
		}
	}
}

// TestRollingBackKeepsCapacity: a rolling release that already retired old
// instances keeps its healthy new ones until the old revision is back.
func TestRollingBackKeepsCapacity(t *testing.T) {
	p := def(rolling(1, 0))
	rel := started(p, oldRev, false)
	rel.Phase = spec.PhaseRollingBack
	for _, tc := range []struct {
		oldH, oldS, newH int
		wantNew          int
	}{{1, 0, 2, 2}, {1, 2, 2, 2}, {2, 1, 2, 1}, {0, 3, 3, 3}, {3, 0, 3, 0}} {
		d := Next(rel, 3, p, Observed{ByRevision: counts(tc.oldH, tc.oldS, tc.newH, 0)}, Metrics{}, t0)
		if d.Targets[oldRev] != 3 || d.Targets[newRev] != tc.wantNew || d.Weights != nil {
			t.Errorf("%+v: targets %v weights %v", tc, d.Targets, d.Weights)
		}
	}
}

func TestDirectReleases(t *testing.T) {
	for _, p := range []spec.ReleasePolicy{rolling(1, 0), blueGreen(time.Minute), canary()} {
		p = p.WithDefaults()
		// The same revision again, and zero replicas, need no strategy.
		rel := Start(1, env, "web", spec.Revision{Number: 4, Hash: newRev}, spec.Revision{Number: 4, Hash: newRev}, p, false, t0)
		d := Next(rel, 2, p, Observed{ByRevision: map[string]Counts{newRev: {Healthy: 2}}}, Metrics{}, t0)
		if d.Release.Phase != spec.PhaseSucceeded || !reflect.DeepEqual(d.Targets, map[string]int{newRev: 2}) {
			t.Errorf("%s same revision: %+v", p.Strategy, d)
		}
		d = Next(started(p, oldRev, false), 0, p, Observed{ByRevision: counts(0, 0, 0, 0)}, Metrics{}, t0)
		if d.Release.Phase != spec.PhaseSucceeded || !reflect.DeepEqual(d.Targets, map[string]int{newRev: 0}) {
			t.Errorf("%s zero replicas: %+v", p.Strategy, d)
		}
	}
}
