package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

func TestAgentCheck(t *testing.T) {
	routed := &spec.Service{Routes: []spec.Route{{PathPrefix: "/", Port: 9000}}}
	if c := agentCheck(routed); c == nil || c.Kind != spec.CheckTCP || c.Port != 9000 {
		t.Errorf("a routed service without a check gets a TCP check on its route port, got %+v", c)
	}
	execCheck := &spec.Service{Routes: routed.Routes, Health: &spec.HealthCheck{Kind: spec.CheckExec, Command: []string{"true"}}}
	if c := agentCheck(execCheck); c != nil {
		t.Errorf("exec checks belong to the driver, got an agent check %+v", c)
	}
	httpCheck := &spec.Service{Health: &spec.HealthCheck{Kind: spec.CheckHTTP, Port: 80}}
	if c := agentCheck(httpCheck); c == nil || c.Path != "/" || c.Retries != spec.DefaultCheckRetries {
		t.Errorf("an HTTP check gets its defaults, got %+v", c)
	}
	if c := agentCheck(&spec.Service{}); c != nil {
		t.Errorf("an unrouted service without a check has no agent check, got %+v", c)
	}
}

// TestProbeStates walks the probe's state machine: starting until the
// first success, unhealthy after the boot budget or after retries
// consecutive failures once healthy, healthy again on a success.
func TestProbeStates(t *testing.T) {
	check := spec.HealthCheck{Kind: spec.CheckHTTP, Interval: spec.Duration(time.Second), Retries: 2, StartPeriod: spec.Duration(time.Second)}
	changes := 0
	fail := errors.New("refused")

	p := newProbe(check, "x", time.Now(), func() { changes++ })
	p.record(fail)
	if p.State() != spec.StateStarting {
		t.Fatalf("a failure within the boot budget keeps it starting, got %s", p.State())
	}
	p.record(nil)
	if p.State() != spec.StateHealthy || changes != 1 {
		t.Fatalf("first success: %s after %d changes", p.State(), changes)
	}
	p.record(fail)
	if p.State() != spec.StateHealthy {
		t.Fatalf("one failure of 2 allowed: %s", p.State())
	}
	p.record(fail)
	if p.State() != spec.StateUnhealthy || changes != 2 {
		t.Fatalf("retries failures: %s after %d changes", p.State(), changes)
	}
	p.record(nil)
	if p.State() != spec.StateHealthy {
		t.Fatalf("a success heals: %s", p.State())
	}

	late := newProbe(check, "x", time.Now().Add(-4*time.Second), func() {}) // past start_period + interval×retries = 3s
	late.record(fail)
	if late.State() != spec.StateUnhealthy {
		t.Fatalf("no success within the boot budget: %s, want unhealthy", late.State())
	}
}
