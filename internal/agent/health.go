package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// startingProbeInterval is how often a starting instance is probed: fast,
// because the first success is what lets it take traffic.
const startingProbeInterval = 200 * time.Millisecond

// agentCheck returns the check the agent runs itself for svc, or nil. HTTP
// and TCP checks are the agent's; exec checks belong to the driver. A service
// with routes and no check of its own gets a TCP check on its first route
// port: the ingress must not send traffic to a port nobody listens on.
func agentCheck(svc *spec.Service) *spec.HealthCheck {
	if svc == nil {
		return nil
	}
	if h := svc.Health; h != nil {
		if h.Kind == spec.CheckHTTP || h.Kind == spec.CheckTCP {
			c := h.WithDefaults()
			return &c
		}
		return nil
	}
	if len(svc.Routes) > 0 {
		c := spec.HealthCheck{Kind: spec.CheckTCP, Port: svc.Routes[0].Port}.WithDefaults()
		return &c
	}
	return nil
}

// probe runs one instance's agent-side check until cancelled.
//
// An instance is starting until its first success. It becomes unhealthy if
// it has not succeeded within its boot budget (start_period + interval ×
// retries), or, once healthy, after retries consecutive failures.
type probe struct {
	check   spec.HealthCheck
	addr    string
	started time.Time
	changed func() // called when the state changes
	cancel  context.CancelFunc

	mu      sync.Mutex
	state   spec.InstanceState
	fails   int
	lastErr string
}

func newProbe(check spec.HealthCheck, addr string, started time.Time, changed func()) *probe {
	return &probe{check: check, addr: addr, started: started, changed: changed, state: spec.StateStarting}
}

func (p *probe) run(ctx context.Context) {
	client := &http.Client{
		Timeout:   p.check.Timeout.D(),
		Transport: &http.Transport{DisableKeepAlives: true},
		// A redirect is an answer: the instance is up.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for {
		err := p.once(ctx, client)
		p.record(err)
		wait := p.check.Interval.D()
		if p.State() == spec.StateStarting {
			wait = min(wait, startingProbeInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (p *probe) once(ctx context.Context, client *http.Client) error {
	if p.addr == "" {
		return fmt.Errorf("port %d is not reachable on this instance", p.check.Port)
	}
	ctx, cancel := context.WithTimeout(ctx, p.check.Timeout.D())
	defer cancel()
	if p.check.Kind == spec.CheckTCP {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+p.check.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "haven-health/1")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s answered %d", p.check.Path, resp.StatusCode)
	}
	return nil
}

func (p *probe) record(err error) {
	p.mu.Lock()
	before := p.state
	switch {
	case err == nil:
		p.state, p.fails, p.lastErr = spec.StateHealthy, 0, ""
	case p.state == spec.StateStarting:
		p.lastErr = err.Error()
		budget := p.check.StartPeriod.D() + p.check.Interval.D()*time.Duration(p.check.Retries)
		if time.Since(p.started) > budget {
			p.state = spec.StateUnhealthy
		}
	default:
		p.lastErr = err.Error()
		p.fails++
		if p.fails >= p.check.Retries {
			p.state = spec.StateUnhealthy
		}
	}
	after := p.state
	p.mu.Unlock()
	if after != before {
		p.changed()
	}
}

// State returns the probe's current verdict.
func (p *probe) State() spec.InstanceState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// LastError returns the latest failure's description ("" after a success).
func (p *probe) LastError() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}
