package proxy

import (
	"errors"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// TestRetryRule: a dial failure is retried unless the body was read; any
// other failure only for body-less idempotent or keyed requests.
func TestRetryRule(t *testing.T) {
	for _, tt := range []struct {
		dial                 bool
		method               string
		keyed, body, started bool
		want                 bool
	}{
		{true, "POST", false, true, false, true},
		{true, "POST", false, true, true, false},
		{false, "GET", false, false, false, true},
		{false, "DELETE", false, false, false, true},
		{false, "GET", false, true, false, false},
		{false, "POST", false, false, false, false},
		{false, "POST", true, false, false, true},
		{false, "PATCH", true, true, false, false},
	} {
		if got := retryable(tt.dial, tt.method, tt.keyed, tt.body, tt.started); got != tt.want {
			t.Errorf("retryable(dial %v, %s, keyed %v, body %v, started %v) = %v", tt.dial, tt.method, tt.keyed, tt.body, tt.started, got)
		}
	}
}

// TestTries walks a request's attempts without any I/O: each attempt gets
// an untried target counted in flight, a dial failure ejects and releases
// it, the attempts stop at MaxAttempts or when no target is left, and only
// the charged failure reaches the group's counters.
func TestTries(t *testing.T) {
	p := New(Config{MaxAttempts: 2})
	p.Update([]Backend{{Name: "b", Routes: []spec.Route{{PathPrefix: "/"}},
		Targets: []Target{{ID: "a", Addr: "a:1", Group: "g"}, {ID: "b", Addr: "b:1", Group: "g"}, {ID: "c", Addr: "c:1", Group: "g"}}}})
	tab := p.table.Load()
	rt := routed{table: tab, route: tab.any[0], backend: tab.any[0].backend}
	s := p.tries(&rt)
	now := time.Now()
	seen := map[string]bool{}
	for i := range 2 {
		m, ok := s.next(now)
		if !ok || seen[m.t.id] {
			t.Fatalf("attempt %d: %v, target %v (seen %v)", i+1, ok, m.t, seen)
		}
		seen[m.t.id] = true
		if p.InFlight(m.t.id) != 1 || rt.target != m.t || rt.attempts != i+1 {
			t.Errorf("attempt %d: in flight %d, routed target %v, attempts %d", i+1, p.InFlight(m.t.id), rt.target, rt.attempts)
		}
		s.failed(errors.New("refused"), true, now)
		if p.InFlight(m.t.id) != 0 || targetState(p, m.t.id) != TargetEjected {
			t.Errorf("after a dial failure: in flight %d, state %v", p.InFlight(m.t.id), targetState(p, m.t.id))
		}
	}
	if _, ok := s.next(now); ok {
		t.Error("a third attempt past MaxAttempts 2")
	}
	s.charge(502, now.Add(time.Millisecond))
	if g := p.Stats("b")["g"]; g.Requests != 1 || g.Errors != 1 {
		t.Errorf("group counters %d requests, %d errors; want the one charged failure", g.Requests, g.Errors)
	}

	// A draining target is never picked; with all draining, none is left.
	for _, id := range []string{"a", "b", "c"} {
		p.mu.Lock()
		for k, tg := range p.targets {
			if k.id == id {
				tg.draining.Store(true)
			}
		}
		p.mu.Unlock()
	}
	s = p.tries(&routed{table: tab, route: tab.any[0], backend: tab.any[0].backend})
	if m, ok := s.next(now); ok {
		t.Errorf("picked draining target %s", m.t.id)
	}
}

// TestTriesSpill: past the targets tries keeps in place, it still knows
// every target tried, in order.
func TestTriesSpill(t *testing.T) {
	var s tries
	var want []*target
	for i := range 7 {
		tg := &target{id: string(rune('a' + i))}
		s.add(tg)
		want = append(want, tg)
		if got := s.tried(); len(got) != len(want) || got[i] != tg || got[0] != want[0] {
			t.Fatalf("after %d: tried %v", i+1, got)
		}
	}
}
