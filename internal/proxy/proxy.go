package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// Target is one instance's address as the agent sees it.
type Target struct {
	// ID identifies the instance; it is the key for InFlight and Drain.
	ID string
	// Addr is host:port, reachable from the proxy.
	Addr string
	// Group is the set the target belongs to for Backend.Weights and
	// Stats: the agent sets it to the instance's revision hash. Empty is a
	// group like any other.
	Group string
}

// Backend is one routed service of one app environment.
type Backend struct {
	// Name identifies the backend in logs and error pages, e.g. "mall/default/api".
	Name string
	// Owner is the app and environment the backend serves, e.g.
	// "mall/prod". A host that one owner routes belongs to it: a request
	// for that host that none of the host's own routes match falls back
	// only to that owner's any-host routes, never to another's, which
	// would otherwise receive the host's requests with its cookies.
	Owner string
	// Routes are the host and path prefixes that lead here. Route.Port is
	// not used: the agent resolves it into each Target's Addr.
	Routes []spec.Route
	// Targets are the backend's healthy instances. An empty list keeps the
	// routes and answers 503.
	Targets []Target
	// Weights splits traffic between target groups, in percent by
	// Target.Group (any non-negative integers work: only their ratios
	// matter). Nil or empty sends each request to the least loaded target
	// of all. Otherwise each request draws a group in proportion to the
	// weights of the groups that have a usable target, then goes to the
	// least loaded target of that group. A group weighing 0, or missing
	// from a non-empty Weights, gets no traffic at all, even when it is the
	// only one with targets: a release lists the blue set or a 0% canary
	// with weight 0 to keep it warm and out of rotation. Its targets do not
	// drain.
	Weights map[string]int
}

// Config tunes a Proxy. The zero value is usable: every zero field takes the
// default written next to it.
type Config struct {
	// AccessLog receives one JSON line per request; nil logs nothing.
	AccessLog io.Writer
	// Logger receives operational events (ejections, route conflicts,
	// drains); nil discards them.
	Logger *slog.Logger

	// DrainTimeout bounds Drain, whatever its context says. Default 30s.
	DrainTimeout time.Duration
	// EjectCooldown is how long a target that refused a connection is
	// skipped. Default 5s. Ejections survive Update: the agent's health
	// checks lag behind a refused connection and would otherwise re-admit
	// a dead target on every update.
	EjectCooldown time.Duration
	// MaxAttempts bounds the targets tried for one request. Default 3.
	MaxAttempts int

	// DialTimeout bounds connecting to a target. Default 3s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a target's response
	// headers once the request is sent; past it the client gets 504.
	// Default 60s (nginx's proxy_read_timeout).
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerTarget sizes each target's keep-alive pool. It should
	// exceed the concurrent requests one target sees, or connections churn.
	// Default 512.
	MaxIdleConnsPerTarget int
	// UpstreamIdleTimeout closes pooled upstream connections unused this
	// long. Default 50s, under the 60s+ idle timeouts common in app servers,
	// so the proxy usually closes first and rarely reuses a dying connection.
	UpstreamIdleTimeout time.Duration

	// The next three are the defaults of the request limits; a route's
	// spec.RouteLimits overrides each of them. A client over a limit is
	// answered with a 4xx and its connection is closed; none of it counts
	// against the target's group in Stats.

	// MaxBodyBytes limits request bodies: a declared Content-Length over it
	// is answered 413 before any upstream is contacted, and a chunked body
	// that grows past it is cut off there and answered 413. Default
	// DefaultMaxBodyBytes (64 MiB); negative: no limit.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the wait for each read of a request body, so
	// a client that stops sending is answered 408 instead of holding an
	// upstream connection. It is per read, not per body, so a large upload
	// on a slow line still gets through. Default DefaultBodyReadTimeout
	// (30s); negative: none.
	BodyReadTimeout time.Duration
	// MaxConnsPerClient bounds the requests one client address (an IPv6
	// client: its /64) may have in flight to one backend, responses
	// included (an upgraded connection, a WebSocket, counts while it is
	// open), and so the upstream connections it can hold; beyond it the
	// client is answered 429. Default DefaultMaxConnsPerClient (128);
	// negative: none.
	MaxConnsPerClient int

	// MaxHeaderBytes limits request headers, for Server. Default 64 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading a request's headers, for Server, so
	// that headers dripped a byte at a time do not hold a connection.
	// Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, for
	// Server. Default none: BodyReadTimeout answers a stalled body with
	// 408 and MaxConnsPerClient bounds how many bodies one client can
	// drip at once, while a whole-request deadline would cut off large
	// uploads on slow lines (it was 5m, which let each slow body hold an
	// upstream connection for five minutes).
	ReadTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections, for Server.
	// Default 120s.
	IdleTimeout time.Duration

	// TrustRequestID keeps a well-formed X-Request-Id sent by the client
	// instead of generating one. Off by default: a client could then choose
	// the IDs in everyone's logs. Turn it on only behind a load balancer
	// that sets the header itself.
	TrustRequestID bool
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DrainTimeout, 30*time.Second)
	def(&c.EjectCooldown, 5*time.Second)
	def(&c.DialTimeout, 3*time.Second)
	def(&c.ResponseHeaderTimeout, 60*time.Second)
	def(&c.UpstreamIdleTimeout, 50*time.Second)
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	if c.BodyReadTimeout == 0 {
		c.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.MaxIdleConnsPerTarget <= 0 {
		c.MaxIdleConnsPerTarget = 512
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Proxy is the ingress handler. Its methods are safe for concurrent use.
type Proxy struct {
	cfg   Config
	log   *slog.Logger
	base  *http.Transport // template cloned for every target
	table atomic.Pointer[table]

	mu sync.Mutex // guards targets; serializes Update and Drain bookkeeping
	// targets holds every target not yet forgotten, routed or draining,
	// keyed by ID and address: an instance that comes back on a new
	// address is a new target, and the old one drains.
	targets map[targetKey]*target
	// stats holds the counters of every backend by name. They live here,
	// not in the table, so that they survive Update.
	stats map[string]*backendStats
	clock func() time.Time // time.Now; tests move it to expire stats

	// front is the chain every request takes up to its route's; forward
	// is the link at the end of every route's chain.
	front, forward handler
}

type targetKey struct{ id, addr string }

// New returns a Proxy with an empty routing table: every request gets 404
// until the first Update.
func New(cfg Config) *Proxy {
	cfg = cfg.withDefaults()
	p := &Proxy{cfg: cfg, log: cfg.Logger, targets: make(map[targetKey]*target), stats: make(map[string]*backendStats), clock: time.Now}
	p.base = &http.Transport{
		Proxy: nil, // never an HTTP_PROXY from the environment
		DialContext: (&net.Dialer{
			Timeout:   cfg.DialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerTarget,
		IdleConnTimeout:       cfg.UpstreamIdleTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// A proxy passes Accept-Encoding and bodies through untouched.
		DisableCompression: true,
	}
	p.forward = newForward(p)
	p.front = chain(&router{p: p},
		withAccessLog(cfg.AccessLog),
		withRequestIDs(cfg.TrustRequestID),
		func(next handler) handler { return &errorPages{p: p, next: next} },
		withHygiene,
	)
	p.table.Store(&table{})
	return p
}

// exchange is what the proxy knows about one request as it moves along
// the chain, through Rewrite and the balancer, to the access log.
type exchange struct {
	rec      recorder // the access log's, when there is one
	id       string
	idHeader []string    // the X-Request-Id header's value, []string{id}
	routed               // the core's part
	status   int         // upstream status, or one set by serveError
	body     *clientBody // nil for a request without a body
	// failStatus is what the balancer decided a failed request gets (see
	// classify), for serveError; 0 until then.
	failStatus int
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// ServeHTTP routes, balances and forwards one request, through the links
// New built: the access log, the request ID, the error pages, the HTTP/1.1
// hygiene, then the router, which hands the request to its route's chain
// (the route's limits, then the forwarding link).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = p.front.serve(w, r, &exchange{}) // errorPages answers every error
}

// Update atomically replaces the routing table, weights included: once it
// returns, no new request goes to a group the new table weighs at 0.
// backends lists every routed service with its healthy targets only. A
// target known from an earlier Update keeps its in-flight count and any
// ejection; a target no longer listed starts draining: it gets no new
// requests, its in-flight requests run to completion, and it is forgotten
// once idle.
func (p *Proxy) Update(backends []Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()

	live := make(map[targetKey]*target)
	bs := make([]*backend, 0, len(backends))
	routes := make([][]spec.Route, 0, len(backends))
	for _, b := range backends {
		stats := p.backendStatsLocked(b.Name, now)
		be := &backend{name: b.Name, owner: b.Owner, members: make([]member, 0, len(b.Targets)), clients: &stats.clients}
		for g := range b.Weights {
			stats.group(g, now) // a group about to get traffic reads as 0, not missing
		}
		for _, tg := range b.Targets {
			k := targetKey{tg.ID, tg.Addr}
			t := live[k]
			if t == nil {
				if t = p.targets[k]; t == nil {
					t = newTarget(tg.ID, tg.Addr, p.base)
					p.targets[k] = t
				}
				t.draining.Store(false)
				live[k] = t
			}
			be.members = append(be.members, member{t: t, stats: stats.group(tg.Group, now)})
		}
		be.split(b.Weights)
		bs, routes = append(bs, be), append(routes, b.Routes)
	}
	p.expireStatsLocked(now)
	for k, t := range p.targets {
		if live[k] != nil {
			continue
		}
		if t.draining.CompareAndSwap(false, true) {
			p.log.Info("target draining", "target", t.id, "addr", t.addr, "in_flight", t.inflight.Load())
		}
		if t.inflight.Load() == 0 {
			p.forgetLocked(k, t)
		}
	}
	tab, conflicts := newTable(bs, routes, p.routeChain)
	for _, c := range conflicts {
		p.log.Warn("route conflict, first backend wins", "route", c)
	}
	p.table.Store(tab)
}

// forgetLocked drops an idle draining target and its pooled connections.
func (p *Proxy) forgetLocked(k targetKey, t *target) {
	delete(p.targets, k)
	t.transport.CloseIdleConnections()
}

// Drain stops new requests to targetID and blocks until it has none in
// flight, then closes its idle connections. It is called before the
// target's instance is stopped, usually after the Update that removed it;
// called first, it still works, and the target stays out of rotation until
// an Update lists it again. Drain gives up at ctx's end or after
// Config.DrainTimeout, returning an error that wraps the context's.
//
// In-flight counts are polled every 10ms: Drain is rare and a poll is simpler
// to get right than a wake-up on the request path.
func (p *Proxy) Drain(ctx context.Context, targetID string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DrainTimeout)
	defer cancel()

	p.mu.Lock()
	var ts []*target
	for k, t := range p.targets {
		if k.id == targetID {
			t.draining.Store(true)
			ts = append(ts, t)
		}
	}
	p.mu.Unlock()
	if len(ts) == 0 {
		return nil
	}

	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := 0
		for _, t := range ts {
			n += int(t.inflight.Load())
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for _, t := range ts {
				t.transport.CloseIdleConnections()
			}
			return fmt.Errorf("drain %s: %d requests still in flight: %w", targetID, n, ctx.Err())
		case <-tick.C:
		}
	}

	p.mu.Lock()
	for _, t := range ts {
		k := targetKey{t.id, t.addr}
		if p.targets[k] == t && t.draining.Load() {
			p.forgetLocked(k, t)
		}
	}
	p.mu.Unlock()
	p.log.Info("target drained", "target", targetID, "took", time.Since(start))
	return nil
}

// InFlight returns the number of requests targetID is serving now.
func (p *Proxy) InFlight(targetID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, t := range p.targets {
		if k.id == targetID {
			n += int(t.inflight.Load())
		}
	}
	return n
}

// Targets returns every target the proxy still knows, sorted by ID.
func (p *Proxy) Targets() []TargetStatus {
	now := time.Now()
	p.mu.Lock()
	out := make([]TargetStatus, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, TargetStatus{ID: t.id, Addr: t.addr, State: t.state(now), InFlight: int(t.inflight.Load())})
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Addr < out[j].Addr
	})
	return out
}

// Server returns an http.Server for p on addr with the limits from Config.
// No WriteTimeout: responses may stream (server-sent events, downloads).
func (p *Proxy) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           p,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		ReadTimeout:       p.cfg.ReadTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
}
