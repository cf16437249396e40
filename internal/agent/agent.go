package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/plan"
	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// Ingress is what the agent needs of the proxy.
type Ingress interface {
	// Update replaces the routing table; only healthy targets are passed.
	Update(backends []proxy.Backend)
	// Drain waits until the target has no request in flight.
	Drain(ctx context.Context, targetID string) error
	// Stats returns a backend's request statistics per target group
	// (revision), for canary analysis.
	Stats(backend string) map[string]proxy.GroupStats
}

// SecretSource gives the value of an environment's secret (the latest
// version when version is 0).
type SecretSource interface {
	Get(ctx context.Context, env, name string, version int) ([]byte, int, error)
}

// Config wires an Agent.
type Config struct {
	Driver  driver.Driver
	Store   store.Store
	Ingress Ingress
	// Secrets resolves external secrets when an instance starts (nil: apps
	// with external secrets cannot start).
	Secrets SecretSource
	// Logs stores every instance's output (nil: output stays with the
	// driver only).
	Logs   LogStore
	Logger *slog.Logger
	// Resync is the period of the loop when nothing happens (default 1s).
	Resync time.Duration
	// DrainTimeout bounds how long a stopping instance keeps serving its
	// in-flight requests (default 10s).
	DrainTimeout time.Duration
}

// healthyResetAfter is how long an instance must run healthy before its
// service's consecutive-failure count goes back to zero (Docker uses 10s).
const healthyResetAfter = 10 * time.Second

// lastLogLines is how many lines of a failed instance's output are kept to
// explain a crash.
const lastLogLines = 15

// Agent converges the driver's instances on the store's deployments.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	nudge chan struct{}

	mu       sync.Mutex
	draining map[string]bool             // driver ids being drained and stopped
	failed   map[string]bool             // driver ids whose failure was counted
	crashes  map[serviceKey]*crashRecord // consecutive failures per service
	probes   map[string]*probe           // agent-side checks by driver id
	envs     map[spec.AppEnv]int64       // generation for which EnsureEnv ran
	status   map[spec.AppEnv]spec.EnvStatus
	passes   uint64 // completed loop passes, for Wait

	releases       map[serviceKey]spec.Release // each service's release as of the last pass
	relFailures    map[failureKey]int          // new-revision failures not yet stored in their release
	relFailureInfo map[failureKey]string
	stepBases      map[int64]stepBase
	shippers       map[string]*shipper // log shippers by driver id

	lastInstances []instanceRecord           // for the collector (observe.go)
	lastBackends  []BackendInfo              // for the collector
	failureTimes  map[serviceKey][]time.Time // failures per service, for restarts_10m
}

type serviceKey struct {
	env     spec.AppEnv
	service string
}

type crashRecord struct {
	plan.Crashes
	reason string
	logs   []string
}

// New returns an Agent; call Run to start it.
func New(cfg Config) *Agent {
	if cfg.Resync <= 0 {
		cfg.Resync = time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Agent{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "agent"),
		nudge:    make(chan struct{}, 1),
		draining: map[string]bool{},
		failed:   map[string]bool{},
		crashes:  map[serviceKey]*crashRecord{},
		probes:   map[string]*probe{},
		envs:     map[spec.AppEnv]int64{},
		status:   map[spec.AppEnv]spec.EnvStatus{},

		releases:       map[serviceKey]spec.Release{},
		relFailures:    map[failureKey]int{},
		relFailureInfo: map[failureKey]string{},
		stepBases:      map[int64]stepBase{},
		shippers:       map[string]*shipper{},
		failureTimes:   map[serviceKey][]time.Time{},
	}
}

// Nudge asks for a pass as soon as possible (after a deploy, an event).
func (a *Agent) Nudge() {
	select {
	case a.nudge <- struct{}{}:
	default:
	}
}

// Run loops until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	go a.watchEvents(ctx)
	ticker := time.NewTicker(a.cfg.Resync)
	defer ticker.Stop()
	for {
		if err := a.Reconcile(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			a.stopProbes()
			a.stopShippers()
			return nil
		case <-ticker.C:
		case <-a.nudge:
		}
	}
}

// watchEvents turns driver events into immediate passes, resubscribing
// when the stream ends (a restarted Docker daemon, for example).
func (a *Agent) watchEvents(ctx context.Context) {
	for ctx.Err() == nil {
		events, err := a.cfg.Driver.Events(ctx)
		if err != nil {
			a.log.Warn("driver events unavailable", "err", err)
		} else {
			for ev := range events {
				a.log.Debug("driver event", "kind", ev.Kind, "instance", ev.Labels.Instance, "service", ev.Labels.Service, "exit", ev.ExitCode)
				a.Nudge()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// observed is one instance as the agent sees it in a pass.
type observed struct {
	driver.Instance
	state spec.InstanceState
}

// Reconcile runs one observe → decide → act pass.
func (a *Agent) Reconcile(ctx context.Context) error {
	deployments, err := a.cfg.Store.ListDeployments(ctx)
	if err != nil {
		return fmt.Errorf("read deployments: %w", err)
	}
	instances, err := a.cfg.Driver.List(ctx)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	now := time.Now()

	desired := map[spec.AppEnv]*spec.Deployment{}
	for i := range deployments {
		desired[deployments[i].AppEnv] = &deployments[i]
	}
	byEnv := map[spec.AppEnv][]observed{}
	for _, inst := range instances {
		env := spec.AppEnv{App: inst.Labels.App, Env: inst.Labels.Env}
		var svc *spec.Service
		if d := desired[env]; d != nil {
			svc, _ = d.App.Service(inst.Labels.Service)
		}
		byEnv[env] = append(byEnv[env], observed{Instance: inst, state: a.stateOf(inst, svc)})
	}
	a.syncProbes(instances, desired)
	a.syncShippers(instances)

	envs := map[spec.AppEnv]bool{}
	for env := range desired {
		envs[env] = true
	}
	for env := range byEnv {
		envs[env] = true
	}
	a.mu.Lock()
	for env := range a.envs { // prepared here before: revisited until its network is released
		envs[env] = true
	}
	a.mu.Unlock()
	var stops []stopJob
	statuses := map[spec.AppEnv]spec.EnvStatus{}
	allReleases := map[spec.AppEnv]map[string]serviceRelease{}
	for _, env := range sortedEnvs(envs) {
		d := desired[env]
		obs := byEnv[env]
		a.countFailures(ctx, env, d, obs, now)
		in := plan.Input{Now: now, Crashes: map[string]plan.Crashes{}, Revisions: map[string]string{}, Targets: map[string]map[string]int{}}
		rels := map[string]serviceRelease{}
		if d != nil {
			in.App = &d.App
			for i := range d.App.Services {
				s := &d.App.Services[i]
				in.Revisions[s.Name] = s.Revision()
				a.mu.Lock()
				if c := a.crashes[serviceKey{env, s.Name}]; c != nil {
					in.Crashes[s.Name] = c.Crashes
				}
				a.mu.Unlock()
				sr, err := a.releaseStep(ctx, env, d, s, obs, now)
				if err != nil {
					a.log.Error("release step", "env", env.String(), "service", s.Name, "err", err)
					sr.targets = liveTargets(s.Name, obs) // hold the service as it is
					sr.specs = map[string]spec.Service{s.Revision(): *s}
				}
				rels[s.Name] = sr
				in.Targets[s.Name] = sr.targets
				if sr.rel != nil {
					a.mu.Lock()
					a.releases[serviceKey{env, s.Name}] = *sr.rel
					a.mu.Unlock()
				}
			}
		}
		for _, o := range obs {
			if o.Labels.Role != "" {
				continue // tasks (migrations) are the release's business, not replicas
			}
			in.Instances = append(in.Instances, plan.Observed{ID: o.Labels.Instance, Service: o.Labels.Service,
				Revision: o.Labels.Revision, State: o.state, ExitCode: o.ExitCode, StartedAt: o.StartedAt})
		}
		p := plan.Decide(in)
		if len(p.Actions) > 0 {
			a.log.Info("plan", "env", env.String(), "actions", len(p.Actions), "plan", p.String())
		}
		stops = append(stops, a.act(ctx, env, d, obs, p, rels)...)
		allReleases[env] = rels
		if d != nil {
			statuses[env] = a.envStatus(env, d, obs, p, rels)
		} else if len(obs) == 0 {
			// Taken down and nothing left: release the network.
			if err := a.cfg.Driver.RemoveEnv(ctx, env, false); err != nil {
				a.log.Warn("remove env", "env", env.String(), "err", err)
			}
			a.mu.Lock()
			delete(a.envs, env)
			a.mu.Unlock()
		}
	}

	// The routing table changes before anything is stopped: an instance
	// leaves the ingress first, then drains, then gets its signal.
	table := a.routingTable(desired, byEnv, allReleases)
	a.cfg.Ingress.Update(table)
	var entries []backendEntry
	for _, b := range table {
		env, service := backendOwner(b.Name)
		entries = append(entries, backendEntry{name: b.Name, route: routeString(b.Routes), service: service, env: env})
	}
	a.remember(byEnv, desired, entries)
	for _, s := range stops {
		go a.drainAndStop(ctx, s)
	}

	a.mu.Lock()
	a.status = statuses
	a.passes++
	a.mu.Unlock()
	return nil
}

// stateOf derives an instance's state from the driver, the agent's own
// probe and whether it is being drained.
func (a *Agent) stateOf(inst driver.Instance, svc *spec.Service) spec.InstanceState {
	a.mu.Lock()
	draining := a.draining[inst.ID]
	pr := a.probes[inst.ID]
	a.mu.Unlock()
	switch {
	case draining:
		return spec.StateDraining
	case !inst.Running:
		return spec.StateExited
	case agentCheck(svc) != nil:
		if pr == nil {
			return spec.StateStarting
		}
		return pr.State()
	}
	switch inst.NativeHealth {
	case "starting":
		return spec.StateStarting
	case "unhealthy":
		return spec.StateUnhealthy
	}
	return spec.StateHealthy
}

// syncProbes starts a probe for every running instance whose service has an
// agent-side check and stops probes of instances that are gone.
func (a *Agent) syncProbes(instances []driver.Instance, desired map[spec.AppEnv]*spec.Deployment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	alive := map[string]bool{}
	for _, inst := range instances {
		if !inst.Running || a.draining[inst.ID] {
			continue
		}
		d := desired[spec.AppEnv{App: inst.Labels.App, Env: inst.Labels.Env}]
		if d == nil {
			continue
		}
		svc, _ := d.App.Service(inst.Labels.Service)
		check := agentCheck(svc)
		if check == nil {
			continue
		}
		alive[inst.ID] = true
		if _, ok := a.probes[inst.ID]; ok {
			continue
		}
		p := newProbe(*check, inst.Addr(check.Port), time.Now(), a.Nudge)
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		a.probes[inst.ID] = p
		go p.run(ctx)
	}
	for id, p := range a.probes {
		if !alive[id] {
			p.cancel()
			delete(a.probes, id)
		}
	}
}

func (a *Agent) stopProbes() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, p := range a.probes {
		p.cancel()
		delete(a.probes, id)
	}
}

// countFailures updates the services' consecutive-failure records: every
// instance that exited needing a replacement or failed its checks counts
// once; a service whose instance has run healthy long enough starts over.
func (a *Agent) countFailures(ctx context.Context, env spec.AppEnv, d *spec.Deployment, obs []observed, now time.Time) {
	if d == nil {
		return
	}
	for _, o := range obs {
		svc, ok := d.App.Service(o.Labels.Service)
		if !ok || o.Labels.Revision != svc.Revision() || o.Labels.Role != "" {
			continue
		}
		key := serviceKey{env, svc.Name}
		var reason string
		switch {
		case o.state == spec.StateExited && (svc.Restart == spec.RestartAlways || o.ExitCode != 0):
			reason = fmt.Sprintf("instance %s exited with code %d", o.Labels.Instance, o.ExitCode)
			if o.OOMKilled {
				reason = fmt.Sprintf("instance %s was killed for exceeding its memory limit", o.Labels.Instance)
			}
		case o.state == spec.StateUnhealthy:
			reason = fmt.Sprintf("instance %s failed its health check", o.Labels.Instance)
			a.mu.Lock()
			if p := a.probes[o.ID]; p != nil && p.LastError() != "" {
				reason += ": " + p.LastError()
			}
			a.mu.Unlock()
		case o.state == spec.StateHealthy && now.Sub(o.StartedAt) > healthyResetAfter:
			a.mu.Lock()
			if c := a.crashes[key]; c != nil {
				delete(a.crashes, key)
			}
			a.mu.Unlock()
			continue
		default:
			continue
		}
		a.mu.Lock()
		seen := a.failed[o.ID]
		a.failed[o.ID] = true
		a.mu.Unlock()
		if seen {
			continue
		}
		logs := a.tail(ctx, o.ID)
		a.mu.Lock()
		c := a.crashes[key]
		if c == nil {
			c = &crashRecord{}
			a.crashes[key] = c
		}
		c.Count++
		c.Last, c.Revision = now, o.Labels.Revision
		c.reason, c.logs = reason, logs
		a.failureTimes[key] = append(a.failureTimes[key], now)
		if rel, ok := a.releases[key]; ok && !rel.Phase.Final() && rel.To == o.Labels.Revision {
			fk := failureKey{rel.ID}
			a.relFailures[fk]++
			a.relFailureInfo[fk] = reason + lastLines(logs, 5)
		}
		a.mu.Unlock()
		a.log.Warn("instance failed", "env", env.String(), "service", svc.Name, "reason", reason, "consecutive", c.Count)
	}
}

// lastLines renders the last n of lines for a failure reason.
func lastLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return ""
	}
	return "; last log lines: " + strings.Join(lines, " | ")
}

// tail returns the last lines an instance wrote.
func (a *Agent) tail(ctx context.Context, id string) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var lines []string
	_ = a.cfg.Driver.Logs(ctx, id, driver.LogOptions{Tail: lastLogLines}, func(l driver.LogLine) error {
		lines = append(lines, l.Text)
		return nil
	})
	if len(lines) > lastLogLines {
		lines = lines[len(lines)-lastLogLines:]
	}
	return lines
}

// stopJob is an instance to drain and stop after the routing table changed.
type stopJob struct {
	inst  observed
	grace time.Duration
}

// act executes a plan: removals and starts now, stops returned to run once
// the ingress no longer routes to them.
func (a *Agent) act(ctx context.Context, env spec.AppEnv, d *spec.Deployment, obs []observed, p plan.Plan, rels map[string]serviceRelease) []stopJob {
	byID := map[string]observed{}
	for _, o := range obs {
		byID[o.Labels.Instance] = o
	}
	var stops []stopJob
	var starts []plan.Action
	for _, act := range p.Actions {
		o := byID[act.ID]
		switch act.Kind {
		case plan.Remove:
			if err := a.cfg.Driver.Remove(ctx, o.ID); err != nil && !errors.Is(err, driver.ErrNotFound) {
				a.log.Warn("remove instance", "instance", act.ID, "err", err)
			}
			a.mu.Lock()
			delete(a.failed, o.ID)
			a.mu.Unlock()
		case plan.Stop:
			grace := 10 * time.Second
			if d != nil {
				if svc, ok := d.App.Service(o.Labels.Service); ok && svc.StopGracePeriod > 0 {
					grace = svc.StopGracePeriod.D()
				}
			}
			a.mu.Lock()
			a.draining[o.ID] = true
			a.mu.Unlock()
			a.log.Info("stopping instance", "env", env.String(), "service", act.Service, "instance", act.ID, "reason", act.Reason)
			stops = append(stops, stopJob{inst: o, grace: grace})
		case plan.Start:
			starts = append(starts, act)
		}
	}
	if len(starts) == 0 || d == nil {
		return stops
	}
	if err := a.ensureEnv(ctx, env, d); err != nil {
		a.log.Error("prepare environment", "env", env.String(), "err", err)
		return stops
	}
	var wg sync.WaitGroup
	for _, act := range starts {
		svc, ok := rels[act.Service].specs[act.Revision]
		if !ok {
			a.log.Error("no spec for revision", "env", env.String(), "service", act.Service, "revision", act.Revision)
			continue
		}
		wg.Add(1)
		go func(svc spec.Service, rev string) {
			defer wg.Done()
			a.start(ctx, env, d, svc, rev)
		}(svc, act.Revision)
	}
	wg.Wait()
	return stops
}

func (a *Agent) ensureEnv(ctx context.Context, env spec.AppEnv, d *spec.Deployment) error {
	a.mu.Lock()
	done := a.envs[env] == d.Generation
	a.mu.Unlock()
	if done {
		return nil
	}
	if err := a.cfg.Driver.EnsureEnv(ctx, env, d.App); err != nil {
		return err
	}
	a.mu.Lock()
	a.envs[env] = d.Generation
	a.mu.Unlock()
	return nil
}

func (a *Agent) start(ctx context.Context, env spec.AppEnv, d *spec.Deployment, svc spec.Service, rev string) {
	labels := spec.InstanceLabels{App: env.App, Env: env.Env, Service: svc.Name, Revision: rev, Instance: newInstanceID()}
	values, err := a.secretValues(ctx, env, d.App, svc)
	var inst driver.Instance
	if err == nil {
		inst, err = a.cfg.Driver.Start(ctx, driver.StartRequest{Labels: labels, Service: svc, App: d.App, Aliases: []string{svc.Name}, SecretValues: values})
	}
	if err != nil {
		a.log.Error("start instance", "env", env.String(), "service", svc.Name, "err", err)
		key := serviceKey{env, svc.Name}
		a.mu.Lock()
		c := a.crashes[key]
		if c == nil {
			c = &crashRecord{}
			a.crashes[key] = c
		}
		c.Count++
		c.Last, c.Revision = time.Now(), rev
		c.reason, c.logs = "start failed: "+err.Error(), nil
		a.mu.Unlock()
		return
	}
	a.log.Info("started instance", "env", env.String(), "service", svc.Name, "instance", labels.Instance, "driver_id", inst.ID)
}

// secretValues resolves the external secrets svc mounts. Values live only
// in memory on their way to the driver.
func (a *Agent) secretValues(ctx context.Context, env spec.AppEnv, app spec.App, svc spec.Service) (map[string][]byte, error) {
	var values map[string][]byte
	for _, ref := range svc.Secrets {
		if sec, ok := app.Secrets[ref.Source]; !ok || !sec.External {
			continue
		}
		if a.cfg.Secrets == nil {
			return nil, fmt.Errorf("secret %s is external but this server has no secret store", ref.Source)
		}
		v, _, err := a.cfg.Secrets.Get(ctx, env.Env, ref.Source, 0)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", ref.Source, err)
		}
		if values == nil {
			values = map[string][]byte{}
		}
		values[ref.Source] = v
	}
	return values, nil
}

// drainAndStop takes one instance out of service: wait for its in-flight
// requests (bounded), then stop it with its grace period.
func (a *Agent) drainAndStop(ctx context.Context, job stopJob) {
	id := job.inst.ID
	defer func() {
		a.mu.Lock()
		delete(a.draining, id)
		delete(a.failed, id)
		a.mu.Unlock()
		a.Nudge()
	}()
	if job.inst.Running {
		dctx, cancel := context.WithTimeout(ctx, a.cfg.DrainTimeout)
		if err := a.cfg.Ingress.Drain(dctx, job.inst.Labels.Instance); err != nil {
			a.log.Warn("drain cut short", "instance", job.inst.Labels.Instance, "err", err)
		}
		cancel()
	}
	if err := a.cfg.Driver.Stop(ctx, id, job.grace); err != nil && !errors.Is(err, driver.ErrNotFound) {
		a.log.Error("stop instance", "instance", job.inst.Labels.Instance, "err", err)
	}
}

// routingTable builds the ingress backends: one per routed service and
// port, with the service's healthy instances as targets, grouped by
// revision. Only revisions the release wants (a target or a weight) take
// traffic, split by the release's weights when it sets them.
func (a *Agent) routingTable(desired map[spec.AppEnv]*spec.Deployment, byEnv map[spec.AppEnv][]observed, rels map[spec.AppEnv]map[string]serviceRelease) []proxy.Backend {
	a.mu.Lock()
	defer a.mu.Unlock()
	var backends []proxy.Backend
	for _, env := range sortedEnvs(keys(desired)) {
		for _, svc := range desired[env].App.Services {
			sr := rels[env][svc.Name]
			var ports []int
			routes := map[int][]spec.Route{}
			for _, r := range svc.Routes {
				if routes[r.Port] == nil {
					ports = append(ports, r.Port)
				}
				routes[r.Port] = append(routes[r.Port], r)
			}
			for _, port := range ports {
				b := proxy.Backend{Name: backendName(env, svc.Name, port), Owner: env.String(), Routes: routes[port], Weights: sr.weights}
				for _, o := range byEnv[env] {
					rev := o.Labels.Revision
					if o.Labels.Service != svc.Name || o.Labels.Role != "" || o.state != spec.StateHealthy || a.draining[o.ID] {
						continue
					}
					if sr.targets != nil && sr.targets[rev] == 0 && sr.weights[rev] == 0 {
						continue // not part of the release plan
					}
					if addr := o.Addr(port); addr != "" {
						b.Targets = append(b.Targets, proxy.Target{ID: o.Labels.Instance, Addr: addr, Group: rev})
					}
				}
				backends = append(backends, b)
			}
		}
	}
	return backends
}

// liveTargets keeps a service's instances as they are, when its release
// could not be decided this pass (a store error).
func liveTargets(service string, obs []observed) map[string]int {
	t := map[string]int{}
	for _, o := range obs {
		if o.Labels.Service == service && o.Labels.Role == "" && o.state.Live() {
			t[o.Labels.Revision]++
		}
	}
	return t
}

func newInstanceID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func keys[V any](m map[spec.AppEnv]V) map[spec.AppEnv]bool {
	out := map[spec.AppEnv]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedEnvs(m map[spec.AppEnv]bool) []spec.AppEnv {
	out := make([]spec.AppEnv, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
