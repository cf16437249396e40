package release

import (
	"fmt"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// Counts is what the agent observed of one revision's live instances.
// Draining, exited and unhealthy instances are not counted.
type Counts struct{ Healthy, Starting int }

// Live is the number of instances that serve or may soon serve.
func (c Counts) Live() int { return c.Healthy + c.Starting }

// Migration is the state of a release's migrate task.
type Migration struct {
	Started, Done bool
	ExitCode      int
	// Logs are the task's last output lines, oldest first.
	Logs []string
}

// Observed is what the agent knows of a service when it decides.
type Observed struct {
	// ByRevision holds live instance counts by revision hash.
	ByRevision map[string]Counts
	// NewFailures counts new-revision (Release.To) instances that exited or
	// failed their checks since the release started.
	NewFailures int
	// FailureInfo explains the latest such failure (exit code, check
	// output, last log lines); it goes into Reason when the breaker trips.
	FailureInfo string
	Migration   Migration
}

// Sample is what the proxy measured of one revision since the current step
// began (Release.Step and Release.StepStarted: the agent restarts its
// counters whenever either changes).
type Sample struct {
	Requests, Errors int
	P95              time.Duration
}

// Metrics compares the canary (Release.To) with its baseline (Release.From).
type Metrics struct{ Canary, Baseline Sample }

// Decision is the outcome of Next.
type Decision struct {
	// Release is the next state; the agent stores it when it differs.
	Release spec.Release
	// Targets are the instances wanted per revision hash; revisions absent
	// get 0.
	Targets map[string]int
	// Weights are traffic percents per revision; nil spreads traffic by
	// healthy instances.
	Weights map[string]int
	// RunMigration asks the agent to start the migrate task now.
	RunMigration bool
	// Events are human lines for `haven events`, only when something
	// changed.
	Events []string
}

// BreakerThreshold is how many failed new instances fail a release of a
// service with the given replica count: max(3, ceil(replicas/2)). Three, so
// that one unlucky start does not roll back a good release.
func BreakerThreshold(replicas int) int {
	return max(3, (replicas+1)/2)
}

// Steps returns the canary steps a policy walks: its steps up to the first
// of 100% (steps of 0% or less dropped: they would judge nothing), then a
// final 100% step without a pause. The input is not modified.
func Steps(policy spec.ReleasePolicy) []spec.CanaryStep {
	out := make([]spec.CanaryStep, 0, len(policy.Steps)+1)
	for _, s := range policy.Steps {
		if s.Weight >= 100 {
			break
		}
		if s.Weight > 0 {
			out = append(out, s)
		}
	}
	return append(out, spec.CanaryStep{Weight: 100})
}

// Start returns a new release in its first phase: migrating when the
// policy has a migrate command, else progressing. from.Hash is "" for a
// service's first release.
func Start(id int64, env spec.AppEnv, service string, from, to spec.Revision, policy spec.ReleasePolicy, rollback bool, now time.Time) spec.Release {
	strategy := policy.Strategy
	if strategy == "" {
		strategy = spec.StrategyRolling
	}
	rel := spec.Release{
		ID: id, AppEnv: env, Service: service, Strategy: strategy,
		From: from.Hash, To: to.Hash, ToNumber: to.Number,
		Rollback: rollback, Phase: spec.PhaseProgressing,
		StepStarted: now, Started: now,
	}
	if from.Hash != "" {
		rel.FromNumber = from.Number
	}
	if len(policy.Migrate) > 0 {
		rel.Phase = spec.PhaseMigrating
		return rel
	}
	enterStep(&rel, 0, policy, now)
	return rel
}

// Next returns the decision for one pass of the release rel of a service
// with replicas instances, under policy (already WithDefaults). See the
// package documentation for the rules.
func Next(rel spec.Release, replicas int, policy spec.ReleasePolicy, obs Observed, m Metrics, now time.Time) Decision {
	x := &decider{in: rel, rel: rel, n: max(0, replicas), p: policy, obs: obs, m: m, now: now}
	x.old = obs.ByRevision[rel.From]
	if rel.From == "" {
		x.old = Counts{}
	}
	x.new = obs.ByRevision[rel.To]
	if !rel.Phase.Final() {
		x.breaker()
	}
	// A transition (migration done, step passed, release failed…) is
	// followed at once by the new phase's decision, so the agent acts on
	// it in this pass. Each transition moves forward, so this ends; the
	// bound is a guard.
	for range 8 {
		before := x.rel
		x.targets, x.weights, x.run = map[string]int{}, nil, false
		x.decide()
		if sameStep(before, x.rel) {
			break
		}
	}
	return Decision{Release: x.rel, Targets: x.targets, Weights: x.weights, RunMigration: x.run, Events: x.events}
}

// decider holds one call of Next.
type decider struct {
	in, rel  spec.Release // as called, and the next state
	n        int
	p        spec.ReleasePolicy
	obs      Observed
	m        Metrics
	now      time.Time
	old, new Counts

	targets map[string]int
	weights map[string]int
	run     bool
	events  []string
}

func sameStep(a, b spec.Release) bool {
	return a.Phase == b.Phase && a.Step == b.Step && a.StepStarted.Equal(b.StepStarted)
}

func (x *decider) decide() {
	switch x.rel.Phase {
	case spec.PhaseSucceeded, spec.PhaseRolledBack, spec.PhaseFailed:
		x.final()
	case spec.PhaseMigrating:
		x.migrating()
	case spec.PhaseRollingBack:
		x.rollingBack()
	case spec.PhaseBaking:
		x.baking()
	default: // progressing, and any unknown phase: moving forward is what a stored release was doing
		switch {
		case x.direct():
			x.directRollout()
		case x.rel.Strategy == spec.StrategyBlueGreen:
			x.blueGreen()
		case x.rel.Strategy == spec.StrategyCanary:
			x.canary()
		default:
			x.rolling()
		}
	}
}

// direct reports whether the release skips its strategy: with no other
// revision to compare with or keep warm, and for zero replicas, there is
// nothing for a strategy to do.
func (x *decider) direct() bool {
	return x.rel.From == "" || x.rel.From == x.rel.To || x.n == 0
}

// migrationPrefix starts the Reason of a release whose migration failed.
const migrationPrefix = "migration exited with "

func (x *decider) final() {
	x.weights = nil
	from, to := x.rel.From, x.rel.To
	switch {
	case x.rel.Phase == spec.PhaseSucceeded:
		x.targets[to] = x.n
	case from != "" && from != to:
		// Rolled back, or a rollback release that failed: the revision
		// that served before keeps serving rather than none.
		x.targets[from] = x.n
	case strings.HasPrefix(x.rel.Reason, migrationPrefix):
		// A first release whose migration failed: never start the new
		// revision against a schema its migration did not produce.
	default:
		// A first release that failed: self-healing keeps retrying the
		// new revision with its backoff.
		x.targets[to] = x.n
	}
}

func (x *decider) migrating() {
	if x.rel.From != "" {
		x.targets[x.rel.From] = x.n
		x.weights = map[string]int{x.rel.From: 100}
	}
	mg := x.obs.Migration
	switch {
	case mg.Done && mg.ExitCode == 0:
		x.event("migration succeeded")
		enterStep(&x.rel, 0, x.p, x.now)
	case mg.Done:
		reason := fmt.Sprintf("%s%d", migrationPrefix, mg.ExitCode)
		if logs := lastLines(mg.Logs, 5); logs != "" {
			reason += ": " + logs
		}
		x.rel.Reason = reason
		x.rel.Finished = x.now
		if x.rel.From == "" {
			x.rel.Phase = spec.PhaseFailed
			x.event("release failed: " + reason)
		} else {
			// The old revision never stopped serving.
			x.rel.Phase = spec.PhaseRolledBack
			x.event(fmt.Sprintf("release aborted, %s still serves: %s", x.revName(x.rel.FromNumber, x.rel.From), reason))
		}
	case !mg.Started:
		x.run = true
		x.event(fmt.Sprintf("migration: running %q from %s", strings.Join(x.p.Migrate, " "), x.toName()))
	}
}

// breaker records new failures and fails the release when they reach the
// threshold.
func (x *decider) breaker() {
	if x.rel.Phase == spec.PhaseRollingBack {
		return
	}
	f := max(x.rel.FailedStarts, x.obs.NewFailures)
	limit := BreakerThreshold(x.n)
	if f > x.rel.FailedStarts {
		x.rel.FailedStarts = f
		if f < limit {
			line := fmt.Sprintf("%s: %d new instance(s) failed, circuit breaker at %d", x.toName(), f, limit)
			if x.obs.FailureInfo != "" {
				line += ": " + x.obs.FailureInfo
			}
			x.event(line)
		}
	}
	if f >= limit {
		reason := fmt.Sprintf("circuit breaker: %d new instances of %s failed (limit %d for %d replicas)", f, x.toName(), limit, x.n)
		if x.obs.FailureInfo != "" {
			reason += ": " + x.obs.FailureInfo
		}
		x.fail(reason)
	}
}

// fail ends a release that went wrong: back to the old revision, or failed
// when there is none or when this already is a rollback.
func (x *decider) fail(reason string) {
	x.rel.Reason = reason
	if x.rel.From == "" || x.rel.From == x.rel.To || x.rel.Rollback {
		x.rel.Phase = spec.PhaseFailed
		x.rel.Finished = x.now
		x.event("release failed: " + reason)
		return
	}
	x.rel.Phase = spec.PhaseRollingBack
	x.rel.StepStarted = x.now
	x.event(fmt.Sprintf("rolling back to %s: %s", x.revName(x.rel.FromNumber, x.rel.From), reason))
}

func (x *decider) succeed(line string) {
	x.rel.Phase = spec.PhaseSucceeded
	x.rel.Finished = x.now
	x.event("release succeeded: " + line)
}

func (x *decider) directRollout() {
	x.targets[x.rel.To] = x.n
	if x.new.Healthy >= x.n {
		x.succeed(fmt.Sprintf("%s has %d healthy instance(s)", x.toName(), x.n))
	}
}

// surge returns the rolling budget: instances above n, and healthy ones
// below n. Both 0 would never move, so it means a surge of 1.
func (x *decider) surge() (s, u int) {
	s, u = max(0, x.p.MaxSurge), max(0, x.p.MaxUnavailable)
	if s == 0 && u == 0 {
		s = 1
	}
	return s, u
}

// RollingTargets returns the rolling strategy's instance targets for the
// old and new revisions of a service with n replicas: see the package
// documentation. It is exported so the arithmetic can be shown and tested
// on its own.
func RollingTargets(n, surge, unavailable int, old, new Counts) (oldTarget, newTarget int) {
	// Keep enough old instances for the healthy count to stay at n − u
	// with the healthy new ones; never more than run, since starting an
	// old instance moves backwards.
	oldTarget = min(max(n-unavailable-new.Healthy, 0), old.Live())
	// Fill the surge budget with new instances, and never stop one that
	// already runs (a restarted agent may find more than asked).
	newTarget = max(min(n, n+surge-oldTarget), min(new.Live(), n))
	return oldTarget, newTarget
}

func (x *decider) rolling() {
	s, u := x.surge()
	oldT, newT := RollingTargets(x.n, s, u, x.old, x.new)
	x.targets[x.rel.From], x.targets[x.rel.To] = oldT, newT
	if x.new.Healthy >= x.n && x.old.Live() == 0 {
		x.succeed(fmt.Sprintf("%s has %d healthy instance(s), %s is retired", x.toName(), x.n, x.fromName()))
	}
}

func (x *decider) blueGreen() {
	x.targets[x.rel.From], x.targets[x.rel.To] = x.n, x.n
	if x.new.Healthy < x.n {
		x.weights = map[string]int{x.rel.From: 100}
		return
	}
	x.rel.Phase = spec.PhaseBaking
	x.rel.StepStarted = x.now
	x.event(fmt.Sprintf("blue-green: 100%% of traffic to %s; %s kept warm for %s", x.toName(), x.fromName(), x.p.BakeTime.D()))
}

func (x *decider) baking() {
	x.targets[x.rel.From], x.targets[x.rel.To] = x.n, x.n
	x.weights = map[string]int{x.rel.To: 100}
	if x.new.Healthy == 0 {
		// The warm old set is there for exactly this.
		x.weights = map[string]int{x.rel.From: 100}
	}
	if x.now.Sub(x.rel.StepStarted) >= x.p.BakeTime.D() {
		x.succeed(fmt.Sprintf("%s baked for %s; %s stops", x.toName(), x.p.BakeTime.D(), x.fromName()))
	}
}

// enterStep moves rel to canary step i (or to progressing for the other
// strategies). The timer of a canary step that judges starts only when its
// canary is healthy and serving, so StepStarted is zero until then.
func enterStep(rel *spec.Release, i int, policy spec.ReleasePolicy, now time.Time) {
	rel.Phase = spec.PhaseProgressing
	rel.Step = i
	rel.StepStarted = now
	direct := rel.From == "" || rel.From == rel.To
	if rel.Strategy == spec.StrategyCanary && !direct && i < len(Steps(policy))-1 {
		rel.StepStarted = time.Time{}
	}
}

func (x *decider) canary() {
	steps := Steps(x.p)
	last := len(steps) - 1
	if i := min(max(x.rel.Step, 0), last); i != x.rel.Step {
		// The policy changed under a stored release: continue from the
		// nearest step that exists.
		enterStep(&x.rel, i, x.p, x.now)
		return
	}
	i := x.rel.Step
	from, to := x.rel.From, x.rel.To
	if i == last {
		x.targets[from], x.targets[to] = x.n, x.n
		// Hold the previous step's split while the new revision grows to
		// full capacity: the old one serves the rest until then.
		x.weights = map[string]int{from: 100}
		if i > 0 && x.new.Healthy > 0 {
			x.weights = split(from, to, steps[i-1].Weight)
		}
		if reason := x.failing(); reason != "" {
			x.fail(reason)
			return
		}
		if x.new.Healthy >= x.n {
			x.succeed(fmt.Sprintf("%s takes 100%% of traffic on %d instance(s)", x.toName(), x.n))
		}
		return
	}

	w := steps[i].Weight
	canaries := min(x.n, max(1, (x.n*w+99)/100))
	x.targets[from], x.targets[to] = x.n, canaries // the baseline keeps full capacity
	x.weights = map[string]int{from: 100}
	if x.rel.StepStarted.IsZero() {
		// While this step's canaries start, the previous step's split
		// holds (traffic to the canary never drops to 0 between steps),
		// and so does the fail-fast analysis.
		if i > 0 && x.new.Healthy > 0 {
			x.weights = split(from, to, steps[i-1].Weight)
			if reason := x.failing(); reason != "" {
				x.fail(reason)
				return
			}
		}
		if x.new.Healthy >= canaries {
			x.rel.StepStarted = x.now
			x.event(fmt.Sprintf("canary step %d/%d: %d%% of traffic to %s", i+1, len(steps), w, x.toName()))
		}
		return
	}
	if x.new.Healthy > 0 {
		x.weights = split(from, to, w)
	}
	if reason := x.failing(); reason != "" {
		x.fail(reason)
		return
	}
	if x.measured() {
		x.judge(steps, i)
	}
}

// measured reports whether the proxy's measurements belong to the current
// step: the step (and its timer) ran when Next was called. A step that
// began in this pass has no measurements of its own yet.
func (x *decider) measured() bool {
	return x.in.Phase == x.rel.Phase && x.in.Step == x.rel.Step && x.in.StepStarted.Equal(x.rel.StepStarted)
}

// failing returns why the canary fails its analysis, or "". It needs
// MinRequests canary requests of the current step, and no pause: a bad
// canary hurts users every second it serves.
func (x *decider) failing() string {
	a, c, b := x.p.Analysis, x.m.Canary, x.m.Baseline
	if !x.measured() || c.Requests < a.MinRequests || c.Requests == 0 {
		return ""
	}
	if rate := float64(c.Errors) / float64(c.Requests); rate > a.MaxErrorRate {
		return fmt.Sprintf("canary error rate %.1f%% > %.1f%% over %d requests", rate*100, a.MaxErrorRate*100, c.Requests)
	}
	limit := max(a.MinP95.D(), time.Duration(float64(b.P95)*a.MaxP95Ratio))
	if c.P95 > limit {
		return fmt.Sprintf("canary p95 %s > %s (baseline p95 %s × %g, floor %s) over %d requests", c.P95, limit, b.P95, a.MaxP95Ratio, a.MinP95.D(), c.Requests)
	}
	return ""
}

// judge decides whether running canary step i, which did not fail, passes
// or waits.
func (x *decider) judge(steps []spec.CanaryStep, i int) {
	a, c, b := x.p.Analysis, x.m.Canary, x.m.Baseline
	label := fmt.Sprintf("canary step %d/%d", i+1, len(steps))
	pause := steps[i].Pause.D()
	elapsed := x.now.Sub(x.rel.StepStarted)
	if elapsed < pause {
		return
	}
	switch {
	case c.Requests >= a.MinRequests && c.Requests > 0:
		x.event(fmt.Sprintf("%s passed: %.1f%% errors over %d requests, p95 %s (baseline %s)", label, 100*float64(c.Errors)/float64(c.Requests), c.Requests, c.P95, b.P95))
	case c.Requests == 0 && b.Requests == 0:
		x.event(label + " passed without traffic: nothing to judge, nothing harmed")
	case pause == 0:
		x.event(fmt.Sprintf("%s passed (no pause) on %d requests", label, c.Requests))
	case elapsed >= 3*pause:
		x.fail(fmt.Sprintf("%s: the canary got %d of the %d requests needed in %s (baseline %d)", label, c.Requests, a.MinRequests, elapsed, b.Requests))
		return
	default:
		return // some traffic, not yet enough: wait
	}
	enterStep(&x.rel, i+1, x.p, x.now)
	if i+1 == len(steps)-1 {
		x.event(fmt.Sprintf("canary step %d/%d: scaling %s to %d instance(s) for 100%% of traffic", i+2, len(steps), x.toName(), x.n))
	}
}

func (x *decider) rollingBack() {
	from, to := x.rel.From, x.rel.To
	if from == "" || from == to {
		x.rel.Phase = spec.PhaseFailed
		x.rel.Finished = x.now
		x.event("release failed: no earlier revision to roll back to")
		return
	}
	x.targets[from] = x.n
	if x.old.Healthy >= x.n {
		x.rel.Phase = spec.PhaseRolledBack
		x.rel.Finished = x.now
		x.event(fmt.Sprintf("rolled back: %s serves again", x.fromName()))
		return
	}
	if x.rel.Strategy == spec.StrategyCanary || x.rel.Strategy == spec.StrategyBlueGreen {
		// The old set kept its capacity: take all traffic off the new
		// revision now.
		x.targets[to] = 0
		x.weights = map[string]int{from: 100}
		return
	}
	// Rolling retired old instances already: keep the healthy new ones
	// serving until the old revision is back to capacity.
	x.targets[to] = min(x.new.Healthy, max(0, x.n-x.old.Healthy))
}

func split(from, to string, w int) map[string]int {
	return map[string]int{to: w, from: 100 - w}
}

func (x *decider) event(line string) { x.events = append(x.events, line) }

func (x *decider) toName() string   { return x.revName(x.rel.ToNumber, x.rel.To) }
func (x *decider) fromName() string { return x.revName(x.rel.FromNumber, x.rel.From) }

func (x *decider) revName(number int, hash string) string {
	if number > 0 {
		return fmt.Sprintf("revision %d", number)
	}
	if len(hash) > 12 {
		hash = hash[:12]
	}
	return "revision " + hash
}

// lastLines joins the last k non-empty lines of logs for a one-line Reason.
func lastLines(logs []string, k int) string {
	var out []string
	for i := len(logs) - 1; i >= 0 && len(out) < k; i-- {
		if l := strings.TrimSpace(logs[i]); l != "" {
			out = append(out, l)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return strings.Join(out, " | ")
}
