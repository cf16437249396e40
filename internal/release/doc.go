// Package release walks a release (spec.Release) one pure decision at a
// time. The agent calls Next every pass (about once a second and on every
// event) with the stored release, what it observed of each revision's
// instances and what its proxy measured since the current step began; it
// stores the returned release when it differs, converges each revision on
// its target instance count and routes by the returned weights. Nothing
// here does I/O or reads a clock: the same inputs give the same Decision,
// and inputs are never modified.
//
// Because the agent may die between any two passes, every decision is made
// from the stored release and the current observation alone. A restarted
// agent that calls Next with what it finds (more or fewer instances than
// the last decision asked for, proxy counters reset) continues safely.
//
// # Rules
//
// n is the service's replica count; "healthy" and "live" (healthy plus
// starting) counts come from Observed.ByRevision. Draining instances are
// counted nowhere: they have left the ingress and are on their way out.
// Targets are per revision; a revision absent from Targets gets 0. Weights
// nil means "spread by healthy instances".
//
// First releases (From == ""), releases to the serving revision (From ==
// To) and n == 0 skip every strategy: target {To: n}, succeed when To has
// n healthy instances. There is nothing to compare a canary with and
// nothing to keep warm.
//
// Migrating (policy.Migrate set): targets {From: n} and weights {From: 100}
// (a first release: no targets), so no instance of To starts before the
// migration succeeded. RunMigration while the agent has not started the
// task. Exit 0 → progressing. Any other exit ends the release: rolled-back
// (the old revision never stopped serving) or failed for a first release,
// with Reason "migration exited with N: <last log lines>"; a first release
// that failed this way targets nothing, since its instances would run
// against an unmigrated schema.
//
// Circuit breaker (every strategy, every phase but rolling-back and the
// final ones): once Observed.NewFailures (kept as Release.FailedStarts,
// which never decreases, so a restarted agent that counts from zero cannot
// reset it) reaches BreakerThreshold(n) = max(3, ceil(n/2)), the release
// fails with Reason "circuit breaker: …" and the latest FailureInfo.
//
// Failing: a normal release goes to rolling-back; a first release or a
// rollback release (Release.Rollback) ends as failed instead. A rollback
// never triggers another rollback. A failed first release targets {To: n},
// so self-healing keeps retrying with its backoff; a failed rollback
// release targets {From: n}: the revision that served before the rollback
// keeps serving, which beats serving nothing.
//
// Rolling (s = MaxSurge, u = MaxUnavailable; s = 1 when both are 0, which
// would deadlock):
//
//	oldTarget = clamp(n − u − healthyNew, 0, oldLive)
//	newTarget = max(min(n, n + s − oldTarget), min(newLive, n))
//
// An old instance is released only when healthy new ones (plus the u the
// policy allows to be missing) replace it, and the old revision is never
// scaled up. The agent stops the not-yet-healthy instances of a revision
// first, so at least min(n − u, healthy now) instances stay healthy, and
// new instances fill whatever the surge budget leaves: oldTarget +
// newTarget ≤ n + s, unless the observation is already above it (a
// restarted agent), in which case nothing more starts and no new instance
// is stopped. Weights nil. Done when To has n healthy and From none live.
//
// Blue-green: targets {To: n, From: n}; weights {From: 100} until To has n
// healthy, then {To: 100} and phase baking; after BakeTime, targets
// {To: n}: succeeded. A bake whose new revision lost every healthy
// instance sends traffic back to the warm old set.
//
// Canary: the steps are policy.Steps up to the first weight of 100 (steps
// of 0% dropped), then a final 100% step without a pause. At a step of
// weight w: targets {To: c, From: n} with c = min(n, max(1, ceil(n·w/100)))
// so the baseline keeps full capacity. Until the c canary instances are
// healthy the previous step's weights hold ({From: 100} at the first step).
// Then the step's timer starts (Release.StepStarted is zero while it has
// not; the proxy's per-step measurements start with it) and weights become
// {To: w, From: 100 − w} ({From: 100} whenever no canary instance is
// healthy).
//
// Analysis of a running step, with a = policy.Analysis:
//   - once the canary has a.MinRequests requests, a failing error rate
//     (Errors/Requests > MaxErrorRate) or latency (P95 > max(MinP95,
//     Baseline.P95 × MaxP95Ratio)) fails the release at once, without
//     waiting for the pause to end: a bad canary hurts users every second.
//     This fail-fast check also runs while a step's canaries start (under
//     the previous step's weights) and during the final step;
//   - a step passes only after its Pause, with enough canary requests and
//     neither check failing;
//   - without enough canary requests after the Pause: if neither revision
//     had any request, the step passes (nothing can be judged, and nothing
//     is harmed: services without traffic still release); if there was some
//     traffic, the step waits, and fails after 3 × Pause (the canary did
//     not get its share of traffic, which is itself a fault); a step
//     without a Pause passes at once;
//   - the measurements are trusted only for a step whose timer was running
//     when Next was called: a step that began in this pass is never judged
//     on the previous step's numbers.
//
// The final 100% step targets {To: n, From: n} while To scales up, with
// the previous step's weights, so the old revision keeps serving until the
// new one has full capacity; when To has n healthy: targets {To: n},
// succeeded.
//
// Rolling back: targets {From: n}; done when From has n healthy →
// rolled-back. For canary and blue-green (whose old set kept its capacity)
// To goes to 0 at once and weights are {From: 100}. A rolling release has
// already retired old instances, so its healthy new instances stay (To
// target min(healthyNew, n − healthyOld)) and weights are nil until the old
// revision has its capacity back.
//
// Final phases (succeeded, rolled-back, failed): targets {active: n} (To
// for succeeded; From for rolled-back and for a failed release that has
// one; To for a failed first release, none if its migration failed),
// weights nil, no events, and the release is returned unchanged.
//
// May import: spec.
package release
