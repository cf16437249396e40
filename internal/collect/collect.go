package collect

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/spec"
)

// Sink receives every value a pass collects (Haven's time-series store).
// Labels maps are shared between passes and must not be modified; a Sink
// may keep them.
type Sink interface {
	Append(name string, labels map[string]string, t time.Time, v float64) error
}

// SinkFunc adapts a function to Sink, e.g. a store whose label type is a
// named map:
//
//	collect.SinkFunc(func(n string, l map[string]string, t time.Time, v float64) error {
//		return store.Append(n, metrics.Labels(l), t, v)
//	})
type SinkFunc func(name string, labels map[string]string, t time.Time, v float64) error

// Append calls f.
func (f SinkFunc) Append(name string, labels map[string]string, t time.Time, v float64) error {
	return f(name, labels, t, v)
}

// Ingress is what the collector needs of the proxy.
type Ingress interface {
	// Stats returns a backend's cumulative counters per target group
	// (revision).
	Stats(backend string) map[string]proxy.GroupStats
}

// inFlighter is implemented by the proxy; when the Ingress has it, each
// instance's in-flight requests are reported.
type inFlighter interface {
	InFlight(targetID string) int
}

// Instance is one instance as the agent knows it.
type Instance struct {
	// ID is the driver's id (what StatsReader.Stats takes).
	ID     string
	Labels spec.InstanceLabels
	// Running instances are measured; the others only count for
	// Restarts10m.
	Running bool
	// Limits are the service's limits, used for the ratios when the driver
	// reports none (the process driver enforces no limit, but a ratio to
	// the declared one is still what an alert wants).
	Limits spec.Resources
	// Restarts10m is the number of instances of the instance's service
	// that failed in the last ten minutes (the same on every instance of a
	// service; the agent counts failures per service).
	Restarts10m int
}

// Backend is one routed service port, named as the agent names it to the
// proxy.
type Backend struct {
	// Name is proxy.Backend.Name, the key for Ingress.Stats.
	Name    string
	Env     spec.AppEnv
	Service string
	// Route is the value of the route label: a readable form of the
	// backend's routes, e.g. "shop.example.com/api" (Name if empty).
	Route string
}

// Config wires a Collector. Every source is optional.
type Config struct {
	// Driver measures instances; nil or a driver without StatsReader
	// yields no instance metrics.
	Driver any
	// Ingress gives the request counters of Backends.
	Ingress  Ingress
	Backends func() []Backend
	// Instances lists the instances to measure (from the agent).
	Instances func() []Instance
	Sink      Sink
	// Node is the node label (default: the host name).
	Node string
	// DataDir is the directory whose filesystem node_disk_* describe
	// (default "/").
	DataDir string
	// Interval between passes (default 2s).
	Interval time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Collector runs collection passes and keeps the latest one.
type Collector struct {
	cfg   Config
	stats driver.StatsReader
	log   *slog.Logger

	latest atomic.Pointer[Snapshot]

	// mu serializes passes; the fields below are the previous pass's
	// readings, for rates, and label sets reused between passes.
	mu       sync.Mutex
	insts    map[string]*instState
	services map[serviceKey]*labelSet
	routes   map[routeKey]*routeState
	node     *labelSet
	prevCPU  cpuTimes
	pass     uint64
}

type instState struct {
	labels  *labelSet
	prevCPU float64
	prevAt  time.Time
	seen    uint64 // pass that last saw it
}

type serviceKey struct {
	env     spec.AppEnv
	service string
}

type routeKey struct{ backend, group string }

type routeState struct {
	labels *labelSet
	prev   proxy.GroupStats
	prevAt time.Time
	seen   uint64
}

// New returns a Collector; call Run, or Collect for single passes.
func New(cfg Config) *Collector {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "/"
	}
	c := &Collector{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "collect"),
		insts:    map[string]*instState{},
		services: map[serviceKey]*labelSet{},
		routes:   map[routeKey]*routeState{},
	}
	c.stats, _ = cfg.Driver.(driver.StatsReader)
	c.node = newLabelSet(KindNode, cfg.Node)
	c.latest.Store(&Snapshot{})
	return c
}

// Run collects every Interval until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		c.Collect(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Latest returns the last completed pass (empty before the first).
func (c *Collector) Latest() *Snapshot { return c.latest.Load() }

// Collect runs one pass: it measures, appends every value to the Sink,
// publishes the pass as the Latest snapshot and returns it.
func (c *Collector) Collect(ctx context.Context) *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	now := c.cfg.Now()
	c.pass++
	prev := c.latest.Load()
	snap := &Snapshot{Time: now, Samples: make([]Sample, 0, max(64, len(prev.Samples)+8))}
	c.collectInstances(ctx, snap, now)
	c.collectRoutes(snap, now)
	c.collectNode(snap)
	c.forget()

	if s := c.cfg.Sink; s != nil {
		var errs int
		var first error
		for _, x := range snap.Samples {
			if err := s.Append(x.Metric.Name, x.Labels.Map, now, x.Value); err != nil {
				if errs++; first == nil {
					first = err
				}
			}
		}
		if errs > 0 {
			c.log.Warn("store append failed", "failed", errs, "err", first)
		}
	}
	d := time.Since(start).Seconds()
	snap.add(byName[CollectorDuration], c.node, d)
	if s := c.cfg.Sink; s != nil {
		_ = s.Append(CollectorDuration, c.node.Map, now, d)
	}
	c.latest.Store(snap)
	return snap
}

func (c *Collector) collectInstances(ctx context.Context, snap *Snapshot, now time.Time) {
	if c.cfg.Instances == nil {
		return
	}
	insts := c.cfg.Instances()
	flight, _ := c.cfg.Ingress.(inFlighter)
	restarts := map[serviceKey]int{}
	running := 0
	for i := range insts {
		in := &insts[i]
		sk := serviceKey{spec.AppEnv{App: in.Labels.App, Env: in.Labels.Env}, in.Labels.Service}
		restarts[sk] = max(restarts[sk], in.Restarts10m)
		if !in.Running || c.stats == nil {
			continue
		}
		st, err := c.stats.Stats(ctx, in.ID)
		if err != nil {
			if !errors.Is(err, driver.ErrNotFound) {
				c.log.Debug("instance stats", "instance", in.Labels.Instance, "err", err)
			}
			continue
		}
		running++
		s := c.insts[in.ID]
		if s == nil {
			l := in.Labels
			s = &instState{labels: newLabelSet(KindInstance, l.Env, l.App, l.Service, l.Instance, l.Revision), prevCPU: -1}
			c.insts[in.ID] = s
		}
		s.seen = c.pass
		at := st.Time
		if at.IsZero() {
			at = now
		}
		if s.prevCPU >= 0 && at.After(s.prevAt) && st.CPUSeconds >= s.prevCPU {
			cores := (st.CPUSeconds - s.prevCPU) / at.Sub(s.prevAt).Seconds()
			snap.add(byName[CPUCores], s.labels, cores)
			limit := st.CPULimit
			if limit <= 0 {
				limit = float64(in.Limits.NanoCPUs) / 1e9
			}
			if limit > 0 {
				snap.add(byName[CPULimitRatio], s.labels, cores/limit)
			}
		}
		s.prevCPU, s.prevAt = st.CPUSeconds, at
		snap.add(byName[CPUSecondsTotal], s.labels, st.CPUSeconds)
		if limit := cmp0(st.CPULimit, float64(in.Limits.NanoCPUs)/1e9); limit > 0 {
			snap.add(byName[CPULimitCores], s.labels, limit)
		}
		snap.add(byName[MemoryBytes], s.labels, float64(st.MemoryBytes))
		if limit := cmp0(float64(st.MemoryLimit), float64(in.Limits.MemoryBytes)); limit > 0 {
			snap.add(byName[MemoryLimitBytes], s.labels, limit)
			snap.add(byName[MemoryLimitRatio], s.labels, float64(st.MemoryBytes)/limit)
		}
		snap.add(byName[DiskBytes], s.labels, float64(st.DiskBytes))
		if st.DiskLimit > 0 {
			snap.add(byName[DiskLimitBytes], s.labels, float64(st.DiskLimit))
		}
		switch {
		case st.DiskFullness > 0: // the fullest filesystem the instance writes to
			snap.add(byName[DiskRatio], s.labels, st.DiskFullness)
		case st.DiskLimit > 0:
			snap.add(byName[DiskRatio], s.labels, float64(st.DiskBytes)/float64(st.DiskLimit))
		}
		snap.add(byName[NetRxBytesTotal], s.labels, float64(st.NetRxBytes))
		snap.add(byName[NetTxBytesTotal], s.labels, float64(st.NetTxBytes))
		if flight != nil {
			snap.add(byName[InFlight], s.labels, float64(flight.InFlight(in.Labels.Instance)))
		}
	}
	for sk, n := range restarts {
		l := c.services[sk]
		if l == nil {
			l = newLabelSet(KindService, sk.env.Env, sk.env.App, sk.service)
			c.services[sk] = l
		}
		snap.add(byName[Restarts10m], l, float64(n))
	}
	// Services that left the list are forgotten: the map holds only label
	// sets, rebuilt cheaply if they come back.
	if len(c.services) > len(restarts) {
		for sk := range c.services {
			if _, ok := restarts[sk]; !ok {
				delete(c.services, sk)
			}
		}
	}
	snap.add(byName[CollectorInstances], c.node, float64(running))
}

// cmp0 returns a if positive, else b.
func cmp0(a, b float64) float64 {
	if a > 0 {
		return a
	}
	return b
}

func (c *Collector) collectRoutes(snap *Snapshot, now time.Time) {
	if c.cfg.Ingress == nil || c.cfg.Backends == nil {
		return
	}
	for _, b := range c.cfg.Backends() {
		route := b.Route
		if route == "" {
			route = b.Name
		}
		for group, g := range c.cfg.Ingress.Stats(b.Name) {
			k := routeKey{b.Name, group}
			r := c.routes[k]
			if r == nil {
				r = &routeState{labels: newLabelSet(KindRoute, b.Env.Env, b.Env.App, b.Service, group, route)}
				c.routes[k] = r
			} else if dt := now.Sub(r.prevAt).Seconds(); dt > 0 {
				d := g.Sub(r.prev)
				snap.add(byName[RequestRate], r.labels, float64(d.Requests)/dt)
				if d.Requests > 0 {
					snap.add(byName[ErrorRatio], r.labels, d.ErrorRate())
					snap.add(byName[LatencyP50], r.labels, d.Quantile(0.50).Seconds())
					snap.add(byName[LatencyP95], r.labels, d.Quantile(0.95).Seconds())
					snap.add(byName[LatencyP99], r.labels, d.Quantile(0.99).Seconds())
				}
			}
			r.prev, r.prevAt, r.seen = g, now, c.pass
			snap.add(byName[RequestsTotal], r.labels, float64(g.Requests))
			snap.add(byName[ErrorsTotal], r.labels, float64(g.Errors))
			snap.Histograms = append(snap.Histograms, Histogram{Labels: r.labels, Stats: g})
		}
	}
}

// forget drops the state of instances and routes the pass did not see.
func (c *Collector) forget() {
	for id, s := range c.insts {
		if s.seen != c.pass {
			delete(c.insts, id)
		}
	}
	for k, r := range c.routes {
		if r.seen != c.pass {
			delete(c.routes, k)
		}
	}
}
