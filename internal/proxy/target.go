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

// backend is one routed service: its name, its targets, and how traffic is
// split between their groups. It is part of an immutable table: Update
// builds a new one rather than changing it.
type backend struct {
	name  string
	owner string // Backend.Owner
	// members are every listed target with its group's counters.
	members []member
	// eligible are the members that may receive traffic: all of them, or,
	// when the Backend has Weights, those of groups weighing more than 0.
	eligible []member
	// groups are the groups weighing more than 0 that have targets, in
	// order of first appearance; nil without Weights.
	groups []group
	// clients counts requests in flight per client address, for the
	// limits of the routes that lead here (limitRequests). It is shared by
	// every table of the backend, like its statistics.
	clients *clientLimiter
}

// member is one target of a backend. The counters belong to the member,
// not the target, because the group is the backend's view of a target.
type member struct {
	t     *target
	stats *groupStats
}

// group is one weighted group's share of a backend.
type group struct {
	weight  int // > 0
	members []member
}

// split fills eligible and groups from members and the Backend's weights.
func (b *backend) split(weights map[string]int) {
	if len(weights) == 0 {
		b.eligible = b.members
		return
	}
	index := make(map[*groupStats]int) // group → its position in b.groups
	for _, m := range b.members {
		w := weights[m.stats.name]
		if w <= 0 {
			continue
		}
		b.eligible = append(b.eligible, m)
		i, ok := index[m.stats]
		if !ok {
			i = len(b.groups)
			index[m.stats] = i
			b.groups = append(b.groups, group{weight: w})
		}
		b.groups[i].members = append(b.groups[i].members, m)
	}
}

// pick returns the member to try next, or a zero member when none is left.
//
// Without weights, or with one group weighing more than 0, or when a retry
// is picking (tried is not empty), it is the eligible member with the
// fewest requests in flight. With several groups, the first attempt first
// draws a group, at random in proportion to the weights of the groups that
// have a usable (untried, neither ejected nor draining) target: a group
// whose instances all refused connections gives its share to the others
// rather than a 502 to its clients. Then the least loaded usable target of
// that group. A group weighing 0 is never eligible, even when it is all
// that is left: that is how a blue set or a canary at 0% is kept out.
func (b *backend) pick(now int64, tried []*target) member {
	if len(b.groups) < 2 || len(tried) > 0 {
		best, fallback := leastLoaded(b.eligible, now, tried)
		if best.t != nil {
			return best
		}
		return fallback
	}
	// Weighted reservoir sampling of one: after the loop, each group with a
	// usable target was kept with probability weight/total, in one pass and
	// without allocating.
	var chosen, fallback member
	var fallbackLoad int64
	total := 0
	for _, g := range b.groups {
		best, fb := leastLoaded(g.members, now, tried)
		if best.t == nil {
			if fb.t != nil {
				if load := fb.t.inflight.Load(); fallback.t == nil || load < fallbackLoad {
					fallback, fallbackLoad = fb, load
				}
			}
			continue
		}
		total += g.weight
		if rand.IntN(total) < g.weight {
			chosen = best
		}
	}
	if chosen.t != nil {
		return chosen
	}
	return fallback
}

// leastLoaded returns the member with the fewest requests in flight among
// ms, skipping the ones already tried for this request and draining ones.
// Ties go to a random member: the scan starts at a random offset and only
// a strictly smaller load replaces the best so far.
//
// Ejected targets are returned apart, as fallback, the least loaded of
// them: pick tries one when no other target is left, because a cooldown is
// a guess and failing fast with a 503 is certainly wrong if the instance
// came back.
func leastLoaded(ms []member, now int64, tried []*target) (best, fallback member) {
	n := len(ms)
	if n == 0 {
		return member{}, member{}
	}
	start := 0
	if n > 1 {
		start = rand.IntN(n)
	}
	var bestLoad, fallbackLoad int64
	for i := range n {
		m := ms[(start+i)%n]
		t := m.t
		if t.draining.Load() || slices.Contains(tried, t) {
			continue
		}
		load := t.inflight.Load()
		if now < t.ejectedUntil.Load() {
			if fallback.t == nil || load < fallbackLoad {
				fallback, fallbackLoad = m, load
			}
			continue
		}
		if best.t == nil || load < bestLoad {
			best, bestLoad = m, load
		}
	}
	return best, fallback
}
