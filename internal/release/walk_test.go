package release

import (
	"github.com/haven-platform/haven/internal/golden"

	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

func rolling(surge, unavailable int) spec.ReleasePolicy {
	return spec.ReleasePolicy{Strategy: spec.StrategyRolling, MaxSurge: surge, MaxUnavailable: unavailable}
}

func blueGreen(bake time.Duration) spec.ReleasePolicy {
	return spec.ReleasePolicy{Strategy: spec.StrategyBlueGreen, BakeTime: spec.Duration(bake)}
}

func canary(steps ...spec.CanaryStep) spec.ReleasePolicy {
	return spec.ReleasePolicy{Strategy: spec.StrategyCanary, Steps: steps}
}

func step(weight int, pause time.Duration) spec.CanaryStep {
	return spec.CanaryStep{Weight: weight, Pause: spec.Duration(pause)}
}

func migrate(p spec.ReleasePolicy) spec.ReleasePolicy {
	p.Migrate = []string{"./migrate", "up"}
	return p
}

// TestWalks compares whole releases with golden transcripts in testdata/:
// each pass shows what was observed, the decision (phase, targets,
// weights, flags) and its events, from start to a final phase. A change of
// behaviour shows as a diff of the walk.
func TestWalks(t *testing.T) {
	crashOnStart := func(w *world) { w.broken[newRev] = "exited with 1: panic: config: DATABASE_URL not set" }
	cases := []struct {
		name  string
		setup func(t *testing.T) *world
	}{
		// Rolling.
		{"rolling 3 replicas surge 1", func(t *testing.T) *world {
			return newWorld(t, 3, rolling(1, 0), oldRev, false)
		}},
		{"rolling default policy", func(t *testing.T) *world {
			return newWorld(t, 3, spec.ReleasePolicy{}, oldRev, false)
		}},
		{"rolling 4 replicas surge 0 unavailable 1", func(t *testing.T) *world {
			return newWorld(t, 4, rolling(0, 1), oldRev, false)
		}},
		{"rolling 5 replicas surge 2 unavailable 1", func(t *testing.T) *world {
			return newWorld(t, 5, rolling(2, 1), oldRev, false)
		}},
		{"rolling first release", func(t *testing.T) *world {
			return newWorld(t, 3, rolling(1, 0), "", false)
		}},
		{"rolling to zero replicas", func(t *testing.T) *world {
			w := newWorld(t, 0, rolling(1, 0), oldRev, false)
			w.live[oldRev] = Counts{Healthy: 2}
			return w
		}},
		// Circuit breaker.
		{"rolling crash on start trips the breaker and rolls back", func(t *testing.T) *world {
			w := newWorld(t, 3, rolling(1, 0), oldRev, false)
			crashOnStart(w)
			return w
		}},
		{"rolling breaker after some new instances are healthy", func(t *testing.T) *world {
			w := newWorld(t, 4, rolling(1, 0), oldRev, false)
			w.script[3] = crashOnStart
			return w
		}},
		{"first release crash on start fails", func(t *testing.T) *world {
			w := newWorld(t, 3, rolling(1, 0), "", false)
			crashOnStart(w)
			return w
		}},
		{"rollback release crash on start fails without another rollback", func(t *testing.T) *world {
			w := newWorld(t, 3, rolling(1, 0), oldRev, true)
			crashOnStart(w)
			return w
		}},
		{"blue-green crash on start rolls back", func(t *testing.T) *world {
			w := newWorld(t, 3, blueGreen(30*time.Second), oldRev, false)
			crashOnStart(w)
			return w
		}},
		// Blue-green.
		{"blue-green bakes then retires the old set", func(t *testing.T) *world {
			w := newWorld(t, 3, blueGreen(30*time.Second), oldRev, false)
			w.rps = 10
			return w
		}},
		{"blue-green new set fails during bake", func(t *testing.T) *world {
			w := newWorld(t, 3, blueGreen(30*time.Second), oldRev, false)
			w.rps = 10
			w.script[3] = func(w *world) {
				// The new instances die after the switch; they restart and crash.
				w.broken[newRev] = "exited with 137: out of memory"
				w.failures += w.live[newRev].Healthy
				w.info = w.broken[newRev]
				delete(w.live, newRev)
			}
			return w
		}},
		// Canary.
		{"canary default steps pass", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 20, 10*time.Second
			return w
		}},
		{"canary three steps on ten replicas", func(t *testing.T) *world {
			w := newWorld(t, 10, canary(step(5, 20*time.Second), step(25, 20*time.Second), step(60, 20*time.Second)), oldRev, false)
			w.rps, w.tick = 50, 10*time.Second
			return w
		}},
		{"canary error rate fails and rolls back", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 100, 5*time.Second
			w.errs[newRev] = 0.5
			return w
		}},
		{"canary fails at its second step", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 20, 10*time.Second
			// Errors start under more load, once 50% of traffic arrives.
			w.script[8] = func(w *world) { w.errs[newRev] = 0.3 }
			return w
		}},
		{"canary latency fails and rolls back", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 20, 10*time.Second
			w.p95[oldRev], w.p95[newRev] = 40*time.Millisecond, 400*time.Millisecond
			return w
		}},
		{"canary slower but under the latency floor passes", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 20, 10*time.Second
			w.p95[oldRev], w.p95[newRev] = 5*time.Millisecond, 45*time.Millisecond
			return w
		}},
		{"canary without any traffic passes its steps", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 0, 10*time.Second
			return w
		}},
		{"canary with too little traffic fails after three pauses", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 1, 10*time.Second
			return w
		}},
		{"canary error rate on a rollback release fails", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, true)
			w.rps, w.tick = 100, 5*time.Second
			w.errs[newRev] = 0.5
			return w
		}},
		{"canary first release goes straight to full", func(t *testing.T) *world {
			return newWorld(t, 3, canary(), "", false)
		}},
		// Migrations.
		{"migration succeeds then rolling", func(t *testing.T) *world {
			return newWorld(t, 2, migrate(rolling(1, 0)), oldRev, false)
		}},
		{"migration fails and the old revision keeps serving", func(t *testing.T) *world {
			w := newWorld(t, 2, migrate(canary()), oldRev, false)
			w.migExit, w.migLogs = 2, []string{"applying 0042_orders.sql", "", "ERROR: column \"total\" already exists", "rollback"}
			return w
		}},
		{"migration fails on a first release", func(t *testing.T) *world {
			w := newWorld(t, 2, migrate(rolling(1, 0)), "", false)
			w.migExit, w.migLogs = 1, []string{"connection refused"}
			return w
		}},
		// Crash points: the agent restarts and calls Next with the stored
		// release and whatever it finds.
		{"crash rolling restarted with more new instances than asked", func(t *testing.T) *world {
			w := newWorld(t, 3, rolling(1, 0), oldRev, false)
			w.script[2] = func(w *world) { w.live[newRev] = Counts{Healthy: 1, Starting: 3} }
			return w
		}},
		{"crash rolling restarted with instances gone", func(t *testing.T) *world {
			w := newWorld(t, 3, rolling(1, 0), oldRev, false)
			// The server died with the node: only one old instance survives.
			w.script[2] = func(w *world) { w.live = map[string]Counts{oldRev: {Healthy: 1}} }
			return w
		}},
		{"crash canary restarted in the middle of a step", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 20, 10*time.Second
			// The proxy's counters are lost; the step's timer goes on.
			w.script[3] = func(w *world) { w.m = Metrics{}; w.failures = 0 }
			return w
		}},
		{"crash canary restarted with a stale failure count", func(t *testing.T) *world {
			w := newWorld(t, 3, canary(), oldRev, false)
			w.rps, w.tick = 20, 10*time.Second
			w.script[2] = func(w *world) { w.failures, w.info = 2, "exited with 1: flaky start" }
			// The restarted agent counts failures from zero again.
			w.script[4] = func(w *world) { w.failures = 1 }
			return w
		}},
		{"crash blue-green restarted during the bake", func(t *testing.T) *world {
			w := newWorld(t, 3, blueGreen(30*time.Second), oldRev, false)
			w.rps = 10
			w.script[4] = func(w *world) { w.live[oldRev] = Counts{Starting: 3} }
			return w
		}},
		{"crash during migration loses the task record", func(t *testing.T) *world {
			w := newWorld(t, 2, migrate(rolling(1, 0)), oldRev, false)
			w.script[1] = func(w *world) { w.mig = Migration{} }
			return w
		}},
		{"crash while rolling back", func(t *testing.T) *world {
			w := newWorld(t, 4, rolling(1, 0), oldRev, false)
			w.script[3] = crashOnStart
			w.script[9] = func(w *world) { w.live[oldRev] = Counts{Healthy: 2}; w.failures = 0 }
			return w
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.setup(t).run()
			path := filepath.Join("testdata", strings.ReplaceAll(tc.name, " ", "_")+".walk")
			golden.Check(t, path, []byte(got))
		})
	}
}
