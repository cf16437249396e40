package proxy

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
)

// TargetState is where a target stands in the proxy's eyes.
//
//	healthy ──connect fails──▶ ejected ──cooldown ends──▶ healthy
//	healthy/ejected ──Update omits it, or Drain──▶ draining ──Update lists it──▶ healthy
//
// A draining target receives no new requests; it is forgotten once it has
// no requests in flight (on the next Update, or when Drain returns).
type TargetState int32

// Target states.
const (
	// TargetHealthy targets receive new requests.
	TargetHealthy TargetState = iota
	// TargetEjected targets refused a connection recently and are skipped
	// until their cooldown ends (Config.EjectCooldown).
	TargetEjected
	// TargetDraining targets are no longer routed and are finishing the
	// requests they already have.
	TargetDraining
)

// String returns the state's lowercase name.
func (s TargetState) String() string {
	switch s {
	case TargetHealthy:
		return "healthy"
	case TargetEjected:
		return "ejected"
	case TargetDraining:
		return "draining"
	}
	return "unknown"
}

// TargetStatus is a snapshot of one target, for status pages and tests.
type TargetStatus struct {
	ID       string
	Addr     string
	State    TargetState
	InFlight int
}

// target is one upstream address and its live counters. It outlives routing
// tables: Update reuses the target of an ID it already knows, so in-flight
// counts and ejections carry across updates.
type target struct {
	id   string
	addr string
	// transport is this target's own connection pool. Per-target pools cost
	// nothing over one shared Transport (its pools are per host anyway) and
	// let a drained target's idle connections be closed without touching
	// anyone else's, and keep a reused host:port from inheriting a dead
	// instance's connections.
	transport *http.Transport

	inflight     atomic.Int64
	draining     atomic.Bool
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 or past: not ejected
}

func newTarget(id, addr string, base *http.Transport) *target {
	return &target{id: id, addr: addr, transport: base.Clone()}
}

// state derives the target's state at now.
func (t *target) state(now time.Time) TargetState {
	switch {
	case t.draining.Load():
		return TargetDraining
	case now.UnixNano() < t.ejectedUntil.Load():
		return TargetEjected
	}
	return TargetHealthy
}

// acquire counts a request in flight. It fails when the target started
// draining after the caller read the routing table: the increment comes
// before the check, and Drain marks before it counts, so either acquire sees
// the mark or Drain sees the request (Go atomics are sequentially
// consistent).
func (t *target) acquire() bool {
	t.inflight.Add(1)
	if t.draining.Load() {
		t.inflight.Add(-1)
		return false
	}
	return true
}

func (t *target) release() { t.inflight.Add(-1) }

// eject skips the target until until, and reports whether it was healthy
// before, so the ejection is logged once rather than per failed request.
func (t *target) eject(now, until time.Time) bool {
	prev := t.ejectedUntil.Swap(until.UnixNano())
	return prev <= now.UnixNano()
}

// backend is one routed service: its name and its current targets.
type backend struct {
	name    string
	targets []*target
}

// pick returns the target with the fewest requests in flight, skipping the
// ones already tried for this request and draining ones. Ties go to a random
// target: the scan starts at a random offset and only a strictly smaller
// load replaces the best so far.
//
// Ejected targets are a last resort: when every untried target is ejected,
// the least loaded of them is tried anyway, because a cooldown is a guess
// and failing fast with a 503 is certainly wrong if the instance came back.
func (b *backend) pick(now int64, tried []*target) *target {
	n := len(b.targets)
	if n == 0 {
		return nil
	}
	start := 0
	if n > 1 {
		start = rand.IntN(n)
	}
	var best, fallback *target
	var bestLoad, fallbackLoad int64
	for i := range n {
		t := b.targets[(start+i)%n]
		if t.draining.Load() || slices.Contains(tried, t) {
			continue
		}
		load := t.inflight.Load()
		if now < t.ejectedUntil.Load() {
			if fallback == nil || load < fallbackLoad {
				fallback, fallbackLoad = t, load
			}
			continue
		}
		if best == nil || load < bestLoad {
			best, bestLoad = t, load
		}
	}
	if best != nil {
		return best
	}
	return fallback
}
