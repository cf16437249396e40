package proxy

import (
	"math"
	"sync/atomic"
	"time"
)

// NumBuckets is the number of latency buckets in GroupStats.
const NumBuckets = 40

// statsRetention is how long the counters of a backend, or of a group within
// a backend, outlive the last Update that listed it. A release controller
// compares windows of a few minutes at most, so ten minutes lets it finish
// reading a group whose instances all died mid-step, while the groups of
// past releases (one per revision) do not pile up forever.
const statsRetention = 10 * time.Minute

// bucketBounds are the inclusive upper bounds of the finite buckets: bucket
// i holds latencies in (bucketBounds[i-1], bucketBounds[i]], bucket 0 holds
// [0, 1ms], and the last bucket holds everything over 30s. The bounds are
// log-spaced (each about 31% above the previous one, rounded to the
// microsecond) because a latency regression is a ratio: 2ms→3ms matters as
// much as 200ms→300ms, and a fixed relative width keeps Quantile's error a
// fixed fraction of its answer.
var bucketBounds = func() (b [NumBuckets - 1]time.Duration) {
	const lo, hi = float64(time.Millisecond), float64(30 * time.Second)
	n := float64(len(b) - 1)
	for i := range b {
		b[i] = time.Duration(math.Round(lo*math.Pow(hi/lo, float64(i)/n)/1e3) * 1e3)
	}
	return b
}()

// BucketBounds returns the inclusive upper bounds of GroupStats.Buckets[0]
// to Buckets[NumBuckets-2], from 1ms to 30s; Buckets[NumBuckets-1] counts
// everything slower (Prometheus's "+Inf" bucket). For exporters that need
// the layout.
func BucketBounds() [NumBuckets - 1]time.Duration { return bucketBounds }

// bucketOf returns the index of the bucket that holds d: a binary search
// over 39 bounds, six comparisons on the request path.
func bucketOf(d time.Duration) int {
	lo, hi := 0, len(bucketBounds) // answer in [lo, hi]; hi is the overflow bucket
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if d <= bucketBounds[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// GroupStats are cumulative counters for the requests a backend sent to the
// targets of one group (one revision), for comparing a canary against its
// baseline. Take a snapshot when a step begins and Sub it from a later one
// to get the step's window.
//
// A request counts once, in the group of the target that produced its
// outcome: a request retried after a refused connection counts only where
// it was finally answered, because that is what the client saw. Requests
// answered 503 for want of any target reach no group and are not counted,
// and neither are requests refused for the client's own doing: over a
// limit (413, 429), or whose body broke or came too slowly (400, 408).
type GroupStats struct {
	// Requests is the number of requests answered by (or failed at) a
	// target of the group.
	Requests uint64
	// Errors counts responses with a status of 500 or more from the
	// upstream, plus the proxy's own 502 and 504 when the group's target
	// failed (unreachable, reset, timed out). Clients that went away (499)
	// count as requests, not errors; see classify for whose fault is whose.
	Errors uint64
	// Buckets counts requests by latency, measured from the moment the
	// attempt on the group's target started to the arrival of the response
	// headers, or to the failure. Time to headers is what the group
	// controls and what p95 comparisons use; time to the end of the body
	// would mostly measure response sizes and the client's bandwidth. A
	// request the client abandoned (499) records the time until it did: a
	// lower bound, so that a hanging group whose clients give up first
	// still shows up as slow. See BucketBounds for the layout.
	Buckets [NumBuckets]uint64
}

// Sub returns a minus b: the requests counted between snapshot b and the
// later snapshot a of the same group. If the counters restarted in between
// (the backend was forgotten and came back), a has fewer requests than b,
// and a itself, everything since the restart, is returned. Other counters
// saturate at zero rather than wrap, since snapshots read the counters one
// by one and may disagree by the requests in progress.
func (a GroupStats) Sub(b GroupStats) GroupStats {
	if a.Requests < b.Requests {
		return a
	}
	sub := func(x, y uint64) uint64 {
		if x < y {
			return 0
		}
		return x - y
	}
	d := GroupStats{Requests: a.Requests - b.Requests, Errors: sub(a.Errors, b.Errors)}
	for i := range d.Buckets {
		d.Buckets[i] = sub(a.Buckets[i], b.Buckets[i])
	}
	return d
}

// ErrorRate returns Errors/Requests, or 0 without requests.
func (g GroupStats) ErrorRate() float64 {
	if g.Requests == 0 {
		return 0
	}
	return float64(g.Errors) / float64(g.Requests)
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1, clamped) of the latencies
// in g, or returns 0 when there are none. Like Prometheus's
// histogram_quantile, it finds the bucket holding the quantile and
// interpolates linearly within it, assuming the bucket's requests are
// spread evenly between its bounds; the answer is off by at most one
// bucket width (about 31%), usually much less. A quantile in the overflow
// bucket is reported as 30s, the highest bound known.
func (g GroupStats) Quantile(q float64) time.Duration {
	var total uint64
	for _, n := range g.Buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	q = max(0, min(1, q))
	rank := q * float64(total)
	var cum uint64
	for i, n := range g.Buckets {
		if n == 0 || float64(cum+n) < rank {
			cum += n
			continue
		}
		if i == len(bucketBounds) {
			return bucketBounds[i-1]
		}
		var lo time.Duration
		if i > 0 {
			lo = bucketBounds[i-1]
		}
		hi := bucketBounds[i]
		return lo + time.Duration(float64(hi-lo)*(rank-float64(cum))/float64(n))
	}
	return bucketBounds[len(bucketBounds)-1] // unreachable: rank ≤ total
}

// groupStats are one group's live counters. Updates are a few atomic adds
// on the request path; there is no lock, and readers (Stats) load the
// counters one by one.
type groupStats struct {
	name     string
	requests atomic.Uint64
	errors   atomic.Uint64
	buckets  [NumBuckets]atomic.Uint64

	lastListed time.Time // guarded by Proxy.mu
}

// record counts one request's outcome. The latency is counted first and
// the request last, so a concurrent snapshot rarely sees a request without
// its latency.
func (s *groupStats) record(status int, latency time.Duration) {
	s.buckets[bucketOf(latency)].Add(1)
	if status >= 500 {
		s.errors.Add(1)
	}
	s.requests.Add(1)
}

func (s *groupStats) snapshot() GroupStats {
	g := GroupStats{Requests: s.requests.Load(), Errors: s.errors.Load()}
	for i := range s.buckets {
		g.Buckets[i] = s.buckets[i].Load()
	}
	return g
}

// backendStats are the groups of one backend, keyed by group name. The map
// and the lastListed times are guarded by Proxy.mu; the counters are not.
type backendStats struct {
	groups     map[string]*groupStats
	lastListed time.Time
	// clients are the backend's requests in flight per client address;
	// they live here to outlast Updates, like the counters.
	clients clientLimiter
}

// backendStatsLocked returns the counters of backend name, creating them
// as needed, and marks them as listed at now.
func (p *Proxy) backendStatsLocked(name string, now time.Time) *backendStats {
	bs := p.stats[name]
	if bs == nil {
		bs = &backendStats{groups: make(map[string]*groupStats)}
		p.stats[name] = bs
	}
	bs.lastListed = now
	return bs
}

// group returns the counters of group, creating them as needed, and marks
// them as listed at now.
func (bs *backendStats) group(group string, now time.Time) *groupStats {
	gs := bs.groups[group]
	if gs == nil {
		gs = &groupStats{name: group}
		bs.groups[group] = gs
	}
	gs.lastListed = now
	return gs
}

// expireStatsLocked forgets the counters of backends and groups that no
// Update has listed for statsRetention. It runs on Update only, so counters
// are never dropped while nothing changes.
func (p *Proxy) expireStatsLocked(now time.Time) {
	for name, bs := range p.stats {
		if now.Sub(bs.lastListed) > statsRetention {
			delete(p.stats, name)
			continue
		}
		for g, gs := range bs.groups {
			if now.Sub(gs.lastListed) > statsRetention {
				delete(bs.groups, g)
			}
		}
	}
}

// Stats returns the cumulative counters of every group of backend (keyed
// by Target.Group; "" for targets without one), or nil for a backend the
// proxy does not know. Counters survive Update; a group or backend no
// Update has listed for ten minutes is forgotten, and its counters restart
// from zero if it comes back (GroupStats.Sub copes).
func (p *Proxy) Stats(backend string) map[string]GroupStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	bs := p.stats[backend]
	if bs == nil {
		return nil
	}
	out := make(map[string]GroupStats, len(bs.groups))
	for g, gs := range bs.groups {
		out[g] = gs.snapshot()
	}
	return out
}
