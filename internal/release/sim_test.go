package release

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Revision hashes used throughout: r3 serves, r4 is released.
const (
	oldRev = "r3"
	newRev = "r4"
)

// world is a small model of one service under an agent: it feeds Next
// with observations, stores the release through JSON as the store would,
// converges instances on the targets (not-yet-healthy ones stop first, as
// plan.Decide does), lets time pass and routes a fixed request rate by the
// weights, the way the proxy measures it.
type world struct {
	t      *testing.T
	n      int
	policy spec.ReleasePolicy
	rel    spec.Release
	now    time.Time
	tick   time.Duration

	live map[string]Counts
	// young counts starting instances started in this pass: they are seen
	// starting once before they are healthy.
	young map[string]int
	// broken revisions fail on start with this explanation instead of
	// becoming healthy.
	broken   map[string]string
	failures int
	info     string

	mig     Migration
	migExit int
	migLogs []string

	// The proxy: rps requests per second, errs and p95 per revision.
	rps        int
	errs       map[string]float64
	p95        map[string]time.Duration
	m          Metrics
	lost, sent int

	// script runs before the pass of its index (a crash, a change).
	script map[int]func(w *world)

	out strings.Builder
}

func newWorld(t *testing.T, n int, policy spec.ReleasePolicy, from string, rollback bool) *world {
	policy = policy.WithDefaults()
	w := &world{
		t: t, n: n, policy: policy, now: t0, tick: 5 * time.Second, rps: 10,
		live: map[string]Counts{}, young: map[string]int{}, broken: map[string]string{},
		errs: map[string]float64{}, p95: map[string]time.Duration{oldRev: 20 * time.Millisecond, newRev: 20 * time.Millisecond},
		script: map[int]func(*world){},
	}
	fromRev := spec.Revision{}
	if from != "" {
		fromRev = spec.Revision{Number: 3, Hash: from}
		w.live[from] = Counts{Healthy: n}
	}
	w.rel = Start(7, spec.AppEnv{App: "shop", Env: "prod"}, "web", fromRev, spec.Revision{Number: 4, Hash: newRev}, policy, rollback, t0)
	return w
}

// at offsets a time from the start of the walk for golden files.
func at(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return "+" + t.Sub(t0).String()
}

// run walks the release until it is final (and one pass more, to show the
// steady state), and returns the transcript.
func (w *world) run() string {
	fmt.Fprintf(&w.out, "release %s → %s, %d replicas, %s", orNone(w.rel.From), w.rel.To, w.n, w.rel.Strategy)
	if w.rel.Rollback {
		w.out.WriteString(", rollback")
	}
	fmt.Fprintf(&w.out, "\nstart: %s step %d started %s\n\n", w.rel.Phase, w.rel.Step, at(w.rel.StepStarted))
	finalPasses := 0
	for i := 0; i < 60 && finalPasses < 2; i++ {
		if f := w.script[i]; f != nil {
			f(w)
		}
		w.pass()
		if w.rel.Phase.Final() {
			finalPasses++
		}
	}
	if !w.rel.Phase.Final() {
		w.t.Errorf("release did not finish: %s", w.rel.Phase)
	}
	fmt.Fprintf(&w.out, "requests %d, lost %d\n", w.sent, w.lost)
	return w.out.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (w *world) observe() Observed {
	return Observed{ByRevision: maps.Clone(w.live), NewFailures: w.failures, FailureInfo: w.info, Migration: w.mig}
}

func (w *world) pass() {
	obs := w.observe()
	obsCopy := w.observe()
	obsCopy.Migration.Logs = slices.Clone(obs.Migration.Logs)
	relCopy := w.rel
	steps := slices.Clone(w.policy.Steps)

	d := Next(w.rel, w.n, w.policy, obs, w.m, w.now)
	again := Next(w.rel, w.n, w.policy, obs, w.m, w.now)
	if got, want := render(again), render(d); got != want {
		w.t.Fatalf("Next is not deterministic:\n%s\nvs\n%s", got, want)
	}
	if !reflect.DeepEqual(obs, obsCopy) || !reflect.DeepEqual(w.rel, relCopy) || !slices.Equal(steps, w.policy.Steps) {
		w.t.Fatalf("Next modified its inputs")
	}
	if w.rel.Phase.Final() && (len(d.Events) > 0 || d.Release != w.rel || d.Weights != nil) {
		w.t.Fatalf("a final release changed: %+v", d)
	}

	fmt.Fprintf(&w.out, "%-6s %s\n", at(w.now), w.describe(obs))
	for _, line := range strings.Split(strings.TrimRight(render(d), "\n"), "\n") {
		fmt.Fprintf(&w.out, "       %s\n", line)
	}
	if d.Release.Reason != w.rel.Reason {
		fmt.Fprintf(&w.out, "       reason: %s\n", d.Release.Reason)
	}
	w.out.WriteByte('\n')

	// Store, as the agent does, through JSON.
	b, err := json.Marshal(d.Release)
	if err != nil {
		w.t.Fatal(err)
	}
	var stored spec.Release
	if err := json.Unmarshal(b, &stored); err != nil {
		w.t.Fatal(err)
	}
	if stored.Step != w.rel.Step || !stored.StepStarted.Equal(w.rel.StepStarted) || stored.Phase != w.rel.Phase {
		w.m = Metrics{} // the proxy measures per step
	}
	w.rel = stored

	w.act(d)
	w.route(d)
	w.advance()
}

func (w *world) describe(obs Observed) string {
	var parts []string
	for _, rev := range sortedKeys(obs.ByRevision) {
		c := obs.ByRevision[rev]
		parts = append(parts, fmt.Sprintf("%s %dh+%ds", rev, c.Healthy, c.Starting))
	}
	if len(parts) == 0 {
		parts = append(parts, "no instances")
	}
	if obs.NewFailures > 0 {
		parts = append(parts, fmt.Sprintf("failures %d", obs.NewFailures))
	}
	if len(w.policy.Migrate) > 0 {
		switch mg := obs.Migration; {
		case mg.Done:
			parts = append(parts, fmt.Sprintf("migration exited %d", mg.ExitCode))
		case mg.Started:
			parts = append(parts, "migration running")
		default:
			parts = append(parts, "migration not started")
		}
	}
	if c, b := w.m.Canary, w.m.Baseline; c.Requests+b.Requests > 0 {
		parts = append(parts, fmt.Sprintf("canary %dreq %derr p95 %s, baseline %dreq %derr p95 %s",
			c.Requests, c.Errors, c.P95, b.Requests, b.Errors, b.P95))
	}
	return strings.Join(parts, " | ")
}

// render shows a decision as golden files keep it.
func render(d Decision) string {
	var b strings.Builder
	r := d.Release
	fmt.Fprintf(&b, "%s", r.Phase)
	if r.Strategy == spec.StrategyCanary && r.Phase == spec.PhaseProgressing {
		fmt.Fprintf(&b, " step %d", r.Step)
	}
	fmt.Fprintf(&b, " since %s", at(r.StepStarted))
	if r.FailedStarts > 0 {
		fmt.Fprintf(&b, " failed-starts %d", r.FailedStarts)
	}
	if !r.Finished.IsZero() {
		fmt.Fprintf(&b, " finished %s", at(r.Finished))
	}
	b.WriteString(" | targets")
	for _, k := range sortedKeys(d.Targets) {
		fmt.Fprintf(&b, " %s=%d", k, d.Targets[k])
	}
	if len(d.Targets) == 0 {
		b.WriteString(" none")
	}
	b.WriteString(" | weights")
	if d.Weights == nil {
		b.WriteString(" by-health")
	}
	for _, k := range sortedKeys(d.Weights) {
		fmt.Fprintf(&b, " %s=%d", k, d.Weights[k])
	}
	if d.RunMigration {
		b.WriteString(" | run migration")
	}
	b.WriteByte('\n')
	for _, e := range d.Events {
		fmt.Fprintf(&b, "event: %s\n", e)
	}
	return b.String()
}

// act converges each revision on its target, stopping starting instances
// before healthy ones.
func (w *world) act(d Decision) {
	revs := map[string]bool{}
	for r := range w.live {
		revs[r] = true
	}
	for r := range d.Targets {
		revs[r] = true
	}
	for r := range revs {
		c, t := w.live[r], d.Targets[r]
		if drop := c.Live() - t; drop > 0 {
			s := min(drop, c.Starting)
			c.Starting -= s
			c.Healthy -= drop - s
		} else {
			c.Starting -= drop
			w.young[r] -= drop
		}
		w.young[r] = min(w.young[r], c.Starting)
		if c.Live() == 0 {
			delete(w.live, r)
		} else {
			w.live[r] = c
		}
	}
	if d.RunMigration {
		w.mig.Started = true
	}
}

// route sends one tick of traffic by the weights to healthy instances.
func (w *world) route(d Decision) {
	total := w.rps * int(w.tick/time.Second)
	w.sent += total
	share := map[string]int{}
	sum := 0
	for r, c := range w.live {
		if c.Healthy == 0 {
			continue
		}
		wt := c.Healthy // by health
		if d.Weights != nil {
			wt = d.Weights[r]
		}
		share[r] = wt
		sum += wt
	}
	if sum == 0 {
		w.lost += total
		return
	}
	add := func(s *Sample, rev string) {
		req := total * share[rev] / sum
		if req == 0 {
			return
		}
		s.Requests += req
		s.Errors += int(float64(req)*w.errs[rev] + 0.5)
		s.P95 = w.p95[rev]
	}
	add(&w.m.Canary, w.rel.To)
	if w.rel.From != "" {
		add(&w.m.Baseline, w.rel.From)
	}
}

// advance lets a tick pass: starting instances become healthy or fail.
func (w *world) advance() {
	w.now = w.now.Add(w.tick)
	for r, c := range w.live {
		ready := c.Starting - w.young[r]
		w.young[r] = 0
		if info, bad := w.broken[r]; bad {
			if r == w.rel.To && ready > 0 {
				w.failures += ready
				w.info = info
			}
			c.Starting -= ready
		} else {
			c.Healthy += ready
			c.Starting -= ready
		}
		if c.Live() == 0 {
			delete(w.live, r)
		} else {
			w.live[r] = c
		}
	}
	if w.mig.Started && !w.mig.Done {
		w.mig.Done, w.mig.ExitCode, w.mig.Logs = true, w.migExit, w.migLogs
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}
