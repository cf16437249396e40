package proxy

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// inGroup returns u's target as a member of group.
func inGroup(u *upstream, group string) Target {
	t := u.Target
	t.Group = group
	return t
}

func weighted(name string, weights map[string]int, targets ...Target) []Backend {
	b := oneBackend(name, targets...)
	b[0].Weights = weights
	return b
}

// hammer sends n GETs to url from 8 goroutines and fails the test on any
// status other than want.
func hammer(t *testing.T, url string, n, want int) {
	t.Helper()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if r := get(t, url, "x"); r.status != want {
					t.Errorf("status %d %q, want %d", r.status, r.body, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWeightsSplitTraffic(t *testing.T) {
	stable := []*upstream{newUpstream(t, "stable-1", nil), newUpstream(t, "stable-2", nil)}
	canary := newUpstream(t, "canary-1", nil)
	p := New(Config{})
	p.Update(weighted("b", map[string]int{"r1": 90, "r2": 10},
		inGroup(stable[0], "r1"), inGroup(stable[1], "r1"), inGroup(canary, "r2")))
	front := newFront(t, p)

	const n = 2000
	hammer(t, front+"/", n, 200)
	s := stable[0].hits.Load() + stable[1].hits.Load()
	c := canary.hits.Load()
	if s+c != n {
		t.Fatalf("%d+%d requests arrived, want %d", s, c, n)
	}
	// 3 points is 4.5 standard deviations of a binomial(2000, 0.1).
	if pct := float64(c) * 100 / n; math.Abs(pct-10) > 3 {
		t.Errorf("canary got %.1f%% of requests, want 10%% ± 3", pct)
	}
	// Within a group, least in flight still spreads the load.
	if a, b := stable[0].hits.Load(), stable[1].hits.Load(); a*3 < b || b*3 < a {
		t.Errorf("stable targets got %d and %d, want a fair split", a, b)
	}
	st := p.Stats("b")
	if st["r1"].Requests != uint64(s) || st["r2"].Requests != uint64(c) {
		t.Errorf("stats r1=%d r2=%d, want the upstreams' counts %d and %d", st["r1"].Requests, st["r2"].Requests, s, c)
	}
}

func TestWeightZeroGetsNothing(t *testing.T) {
	blue := newUpstream(t, "blue", nil)
	green := newUpstream(t, "green", nil)
	other := newUpstream(t, "other", nil)
	p := New(Config{})
	front := newFront(t, p)

	// A 0-weight group and a group missing from Weights are both kept out,
	// while their targets stay listed (not draining).
	p.Update(weighted("b", map[string]int{"blue": 100, "green": 0},
		inGroup(blue, "blue"), inGroup(green, "green"), inGroup(other, "other")))
	hammer(t, front+"/", 300, 200)
	if g, o := green.hits.Load(), other.hits.Load(); g != 0 || o != 0 {
		t.Errorf("green (weight 0) got %d, other (unweighted) got %d, want 0 and 0", g, o)
	}
	if st := targetState(p, "green"); st != TargetHealthy {
		t.Errorf("green is %v, want healthy: a 0-weight group stays warm", st)
	}

	// Nothing else left: 503, not a request to the 0-weight group.
	p.Update(weighted("b", map[string]int{"blue": 100, "green": 0}, inGroup(green, "green")))
	if r := get(t, front+"/", "x"); r.status != http.StatusServiceUnavailable {
		t.Errorf("only a 0-weight group left: %d %q, want 503", r.status, r.body)
	}

	// The only weighted target refuses connections: it is tried (ejected
	// targets are a last resort) and the client gets 502, but the 0-weight
	// group is never used as a fallback.
	p.Update(weighted("b", map[string]int{"blue": 100, "green": 0},
		Target{ID: "dead", Addr: deadTarget(t, "dead").Addr, Group: "blue"}, inGroup(green, "green")))
	for range 3 {
		if r := get(t, front+"/", "x"); r.status != http.StatusBadGateway {
			t.Errorf("weighted group dead: %d %q, want 502", r.status, r.body)
		}
	}
	if g := green.hits.Load(); g != 0 {
		t.Errorf("green got %d requests, want 0", g)
	}
}

func TestWeightsWithEmptyGroup(t *testing.T) {
	old := newUpstream(t, "old", nil)
	p := New(Config{})
	// The new revision has a weight but no healthy instance yet.
	p.Update(weighted("b", map[string]int{"old": 50, "new": 50}, inGroup(old, "old")))
	front := newFront(t, p)
	hammer(t, front+"/", 200, 200)
	if h := old.hits.Load(); h != 200 {
		t.Errorf("old got %d of 200 requests, want all", h)
	}
	st := p.Stats("b")
	if _, ok := st["new"]; !ok || st["new"].Requests != 0 || st["old"].Requests != 200 {
		t.Errorf("stats %v, want new listed with 0 requests and old with 200", st)
	}
}

func TestWeightedRetryAndEjection(t *testing.T) {
	good := newUpstream(t, "good", nil)
	p := New(Config{})
	p.Update(weighted("b", map[string]int{"base": 50, "canary": 50},
		inGroup(good, "base"), Target{ID: "dead", Addr: deadTarget(t, "dead").Addr, Group: "canary"}))
	front := newFront(t, p)

	// The canary refuses connections: the one request that tries it is
	// retried on the baseline, then the canary is ejected and its share
	// goes to the baseline.
	for i := range 100 {
		if r := get(t, front+"/", "x"); r.status != 200 || r.header.Get("Echo-Target") != "good" {
			t.Fatalf("GET %d: %d %q, want 200 from good", i, r.status, r.body)
		}
	}
	st := p.Stats("b")
	if st["base"].Requests != 100 || st["base"].Errors != 0 || st["canary"].Requests != 0 {
		t.Errorf("stats %+v, want 100 requests on base and none charged to canary (its failure was retried)", st)
	}
}

// TestWeightSwitchUnderLoad moves all traffic between three groups, 300
// times, under concurrent requests. Each request carries the number of
// Updates that had returned when it was sent (p); the upstream notes the
// number when it arrives (a). The request saw one of the tables p to a+1
// (table a+1 may be stored before its Update returns), so its group must
// have had weight in one of them.
func TestWeightSwitchUnderLoad(t *testing.T) {
	groups := []string{"g0", "g1", "g2"}
	var phase atomic.Int64
	var violations, served atomic.Int64
	var targets []Target
	for gi, g := range groups {
		for j := range 2 {
			u := newUpstream(t, fmt.Sprintf("%s-%d", g, j), func(w http.ResponseWriter, r *http.Request) {
				arrived := phase.Load()
				sent, _ := strconv.ParseInt(r.Header.Get("Test-Phase"), 10, 64)
				ok := false
				for k := sent; k <= arrived+1; k++ {
					ok = ok || int(k%3) == gi // table k gives all traffic to group k%3
				}
				if !ok {
					violations.Add(1)
				}
				served.Add(1)
			})
			targets = append(targets, inGroup(u, g))
		}
	}
	table := func(k int) []Backend {
		w := map[string]int{}
		for gi, g := range groups {
			w[g] = 0
			if gi == k%3 {
				w[g] = 100
			}
		}
		return []Backend{{Name: "b", Routes: []spec.Route{{PathPrefix: "/"}}, Targets: targets, Weights: w}}
	}
	p := New(Config{})
	p.Update(table(0))
	front := newFront(t, p)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
				req.Header.Set("Test-Phase", strconv.FormatInt(phase.Load(), 10))
				if r := do(t, req); r.status != 200 {
					t.Errorf("status %d %q during weight switches", r.status, r.body)
					return
				}
			}
		})
	}
	for k := 1; k <= 300; k++ {
		p.Update(table(k))
		phase.Store(int64(k))
		time.Sleep(500 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	if v := violations.Load(); v != 0 {
		t.Errorf("%d of %d requests went to a group weighted 0 when they were sent", v, served.Load())
	}
	if served.Load() < 300 {
		t.Errorf("only %d requests served", served.Load())
	}
}

func TestStatsPerGroup(t *testing.T) {
	var n atomic.Int64
	flaky := newUpstream(t, "flaky", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	good := newUpstream(t, "good", nil)
	slow := newUpstream(t, "slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(30 * time.Millisecond) })
	p := New(Config{})
	p.Update(weighted("b", map[string]int{"base": 50, "canary": 50}, inGroup(good, "base"), inGroup(flaky, "canary")))
	front := newFront(t, p)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 125 {
				get(t, front+"/", "x")
			}
		})
	}
	wg.Wait()
	st := p.Stats("b")
	base, canary := st["base"], st["canary"]
	if base.Requests+canary.Requests != 1000 || canary.Requests != uint64(flaky.hits.Load()) {
		t.Fatalf("requests base %d canary %d, want 1000 in all and canary = flaky's %d", base.Requests, canary.Requests, flaky.hits.Load())
	}
	if base.Errors != 0 {
		t.Errorf("base has %d errors, want 0", base.Errors)
	}
	if r := canary.ErrorRate(); math.Abs(r-0.5) > 0.01 {
		t.Errorf("canary error rate %.3f, want 0.5", r)
	}
	var latencies uint64
	for _, c := range canary.Buckets {
		latencies += c
	}
	if latencies != canary.Requests {
		t.Errorf("canary has %d latencies for %d requests", latencies, canary.Requests)
	}

	// Counters survive an Update that changes the split, and a group that
	// leaves the table keeps its counters; a new group starts at zero.
	before := p.Stats("b")
	p.Update(weighted("b", map[string]int{"base": 0, "slow": 100}, inGroup(good, "base"), inGroup(slow, "slow")))
	hammer(t, front+"/", 40, 200)
	st = p.Stats("b")
	if st["canary"] != before["canary"] || st["base"] != before["base"] {
		t.Errorf("canary and base counters changed after they stopped getting traffic")
	}
	if sl := st["slow"]; sl.Requests != 40 || sl.Quantile(0.5) < 25*time.Millisecond || sl.Quantile(0.5) > 60*time.Millisecond {
		t.Errorf("slow: %d requests, p50 %v; want 40 and about 30ms", sl.Requests, sl.Quantile(0.5))
	}
	if q := before["base"].Quantile(0.95); q > 20*time.Millisecond {
		t.Errorf("base p95 %v, want a few ms at most", q)
	}

	// Proxy-generated failures count as the group's errors.
	p.Update(weighted("b", map[string]int{"down": 100}, Target{ID: "dead", Addr: deadTarget(t, "dead").Addr, Group: "down"}))
	hammer(t, front+"/", 5, http.StatusBadGateway)
	if d := p.Stats("b")["down"]; d.Requests != 5 || d.Errors != 5 {
		t.Errorf("down: %d requests %d errors, want 5 and 5", d.Requests, d.Errors)
	}
}

func TestStatsTimeoutIsError(t *testing.T) {
	hang := newUpstream(t, "hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	p := New(Config{ResponseHeaderTimeout: 50 * time.Millisecond})
	p.Update(oneBackend("b", inGroup(hang, "r1")))
	front := newFront(t, p)
	if r := get(t, front+"/", "x"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("got %d, want 504", r.status)
	}
	g := p.Stats("b")["r1"]
	if g.Requests != 1 || g.Errors != 1 || g.Quantile(1) < 50*time.Millisecond {
		t.Errorf("stats %+v, want one error taking at least the 50ms timeout", g)
	}
}

func TestStatsExpire(t *testing.T) {
	u := newUpstream(t, "u", nil)
	p := New(Config{})
	now := time.Now()
	p.clock = func() time.Time { return now }
	p.Update(weighted("b", map[string]int{"r1": 100}, inGroup(u, "r1")))
	front := newFront(t, p)
	get(t, front+"/", "x")

	now = now.Add(5 * time.Minute)
	p.Update(weighted("b", map[string]int{"r2": 100}, inGroup(u, "r2"))) // r1 leaves the table
	if g := p.Stats("b")["r1"]; g.Requests != 1 {
		t.Errorf("r1 after it left: %d requests, want its counters kept", g.Requests)
	}
	now = now.Add(5*time.Minute + time.Second)
	p.Update(weighted("b", map[string]int{"r2": 100}, inGroup(u, "r2")))
	if _, ok := p.Stats("b")["r1"]; ok {
		t.Errorf("r1 still has counters 10 minutes after it left")
	}
	p.Update(nil)
	if p.Stats("b") == nil {
		t.Errorf("backend b forgotten at once, want its counters kept for a while")
	}
	now = now.Add(11 * time.Minute)
	p.Update(nil)
	if st := p.Stats("b"); st != nil {
		t.Errorf("backend b still has counters 11 minutes after it left: %v", st)
	}
}

func TestBucketOf(t *testing.T) {
	last := len(bucketBounds)
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {time.Millisecond, 0}, {time.Millisecond + 1, 1},
		{bucketBounds[10], 10}, {bucketBounds[10] + 1, 11},
		{30 * time.Second, last - 1}, {30*time.Second + 1, last}, {time.Hour, last},
	} {
		if got := bucketOf(tt.d); got != tt.want {
			t.Errorf("bucketOf(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	if bucketBounds[0] != time.Millisecond || bucketBounds[last-1] != 30*time.Second || NumBuckets != last+1 {
		t.Errorf("bounds %v..%v over %d buckets, want 1ms..30s and %d", bucketBounds[0], bucketBounds[last-1], last+1, NumBuckets)
	}
}

func TestQuantile(t *testing.T) {
	// 1000 latencies spread evenly over 0.1ms..100ms: the q-quantile is
	// q×100ms, and linear interpolation is exact for an even spread, so
	// the estimate is off only by the sample's granularity.
	var s groupStats
	for i := range 1000 {
		s.record(200, time.Duration(i+1)*100*time.Microsecond)
	}
	g := s.snapshot()
	for _, q := range []float64{0.1, 0.5, 0.9, 0.95, 0.99} {
		want := time.Duration(q * float64(100*time.Millisecond))
		if got := g.Quantile(q); math.Abs(float64(got-want)) > float64(want)/50 {
			t.Errorf("Quantile(%v) = %v, want %v ± 2%%", q, got, want)
		}
	}
	if got := g.Quantile(1); got != bucketBounds[bucketOf(100*time.Millisecond)] {
		t.Errorf("Quantile(1) = %v, want the upper bound of 100ms's bucket", got)
	}
	if got := g.Quantile(-1); got != 0 {
		t.Errorf("Quantile(-1) = %v, want 0 (clamped to the lower bound of the first bucket)", got)
	}

	// Everything in one bucket: the bucket's bounds, linear between.
	one := GroupStats{Requests: 10}
	one.Buckets[20] = 10
	if lo, hi := one.Quantile(0), one.Quantile(1); lo != bucketBounds[19] || hi != bucketBounds[20] {
		t.Errorf("one bucket: Quantile 0..1 = %v..%v, want %v..%v", lo, hi, bucketBounds[19], bucketBounds[20])
	}
	// Beyond the last bound, the last bound is all that is known.
	over := GroupStats{Requests: 1}
	over.Buckets[NumBuckets-1] = 1
	if got := over.Quantile(0.5); got != 30*time.Second {
		t.Errorf("overflow: %v, want 30s", got)
	}
	if got := (GroupStats{}).Quantile(0.95); got != 0 {
		t.Errorf("no requests: %v, want 0", got)
	}
}

func TestStatsSub(t *testing.T) {
	var s groupStats
	for range 100 {
		s.record(200, 2*time.Millisecond)
	}
	start := s.snapshot()
	for range 30 {
		s.record(200, 50*time.Millisecond)
	}
	for range 10 {
		s.record(503, 50*time.Millisecond)
	}
	w := s.snapshot().Sub(start)
	if w.Requests != 40 || w.Errors != 10 || w.ErrorRate() != 0.25 {
		t.Errorf("window: %d requests %d errors, want 40 and 10", w.Requests, w.Errors)
	}
	// The window holds only the slow requests: its median is 50ms's
	// bucket, where the cumulative median is still about 2ms.
	if b := bucketOf(50 * time.Millisecond); w.Buckets[b] != 40 || w.Quantile(0.5) <= bucketBounds[b-1] {
		t.Errorf("window p50 %v, want in (%v, %v]", w.Quantile(0.5), bucketBounds[b-1], bucketBounds[b])
	}
	if q := s.snapshot().Quantile(0.5); q > 3*time.Millisecond {
		t.Errorf("cumulative p50 %v, want about 2ms", q)
	}

	// Counters that restarted (the backend was forgotten in between): the
	// later snapshot is the window.
	var fresh groupStats
	fresh.record(500, time.Millisecond)
	if w := fresh.snapshot().Sub(start); w != fresh.snapshot() {
		t.Errorf("restarted counters: %+v, want the later snapshot itself", w)
	}
	if (GroupStats{}).ErrorRate() != 0 {
		t.Errorf("ErrorRate without requests is not 0")
	}
}
