package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// Defaults of the request limits, for Config and spec.RouteLimits.
const (
	// DefaultMaxBodyBytes is the largest request body accepted by default:
	// 64 MiB. nginx's 1 MiB default breaks ordinary uploads (a phone photo
	// is larger); 64 MiB fits documents and images, and a route that takes
	// videos or backups raises it with `limits: {max_body: 2g}`.
	DefaultMaxBodyBytes = 64 << 20
	// DefaultBodyReadTimeout is how long the ingress waits, by default, for
	// the next bytes of a request body: 30s, half of nginx's
	// client_body_timeout. A client stalled that long without sending a
	// byte is gone or hostile, and while it waits it holds an upstream
	// connection.
	DefaultBodyReadTimeout = 30 * time.Second
	// DefaultMaxConnsPerClient bounds, by default, the requests one client
	// address may have in flight to one backend: 128. A browser opens at
	// most 6 connections per host over HTTP/1.1, so this leaves room for an
	// office behind one NAT address, while one address can no longer take
	// every upstream connection. Behind a load balancer every request comes
	// from its address: raise the bound or turn it off (negative).
	DefaultMaxConnsPerClient = 128
)

// stallThreshold is how long a client must have paused in its body for an
// upstream failure before the body's end to be the client's doing: an app
// server with a body timeout shorter than the proxy's drops a client that
// dawdles, and the proxy sees that as a failed write upstream once the
// client sends again. That says nothing about the app, and a client could
// otherwise fail a canary by pausing.
const stallThreshold = time.Second

// limits are the request limits of one route, defaults applied. A zero
// field is no limit.
type limits struct {
	maxBody     int64
	bodyTimeout time.Duration
	perClient   int32
}

// limitsFor resolves a route's limits: the route's own value where it sets
// one (more than zero: a route cannot turn a limit off), else the
// Config's (whose negative values mean none).
func (c Config) limitsFor(rl *spec.RouteLimits) limits {
	l := limits{maxBody: c.MaxBodyBytes, bodyTimeout: c.BodyReadTimeout, perClient: int32(min(c.MaxConnsPerClient, 1<<30))}
	if rl != nil {
		if rl.MaxBodyBytes > 0 {
			l.maxBody = rl.MaxBodyBytes
		}
		if rl.BodyReadTimeout > 0 {
			l.bodyTimeout = rl.BodyReadTimeout.D()
		}
		if rl.MaxConnsPerClient > 0 {
			l.perClient = int32(min(rl.MaxConnsPerClient, 1<<30))
		}
	}
	l.maxBody, l.bodyTimeout, l.perClient = max(l.maxBody, 0), max(l.bodyTimeout, 0), max(l.perClient, 0)
	return l
}

// limitRequests applies one route's limits: it refuses a declared body
// over the size limit and a client over its bound of requests in flight,
// before any upstream is contacted, and hands the rest of the chain a body
// that enforces the size limit and the per-read timeout as it is read. A
// route's link is built with its limits when the table is built.
type limitRequests struct {
	lim     limits
	backend string         // the backend's name, for the 429 page
	clients *clientLimiter // the backend's, shared by its routes and tables
	next    handler
}

func withLimits(lim limits, backend string, clients *clientLimiter) middleware {
	return func(next handler) handler {
		return &limitRequests{lim: lim, backend: backend, clients: clients, next: next}
	}
}

func (m *limitRequests) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	lim := m.lim
	if lim.maxBody > 0 && r.ContentLength > lim.maxBody {
		return &refusal{status: http.StatusRequestEntityTooLarge, close: true,
			msg: fmt.Sprintf("request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, lim.maxBody)}
	}
	if lim.perClient > 0 {
		a := clientAddr(r)
		if !m.clients.acquire(a, lim.perClient) {
			return &refusal{status: http.StatusTooManyRequests, close: true,
				msg: fmt.Sprintf("more than %d requests in flight from your address to service %s", lim.perClient, m.backend)}
		}
		defer m.clients.release(a)
	}
	if ex.body = newClientBody(w, r, lim); ex.body != nil {
		r.Body = ex.body
	}
	err := m.next.serve(w, r, ex)
	if b := ex.body; b != nil {
		b.closed.Store(true)
		if b.dl != nil && !b.eof.Load() {
			// The upstream answered without reading the whole body; the
			// server will now read (and drop) some of the rest, bounded
			// by this.
			_ = b.dl.SetReadDeadline(time.Now().Add(b.timeout))
		}
	}
	return err
}

// clientAddr is the key a client's requests are counted under: its IP
// address, or for IPv6 its /64, since one host usually holds a whole /64
// and could otherwise pick a fresh address per connection.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{} // not an IP socket: all such clients share one key
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		if pfx, err := a.Prefix(64); err == nil {
			a = pfx.Addr()
		}
	}
	return a
}

// clientLimiter counts one backend's requests in flight per client
// address. It is sharded so that concurrent requests of different clients
// rarely meet on a lock; an address's count lives in one shard.
type clientLimiter struct {
	shards [16]clientShard
}

type clientShard struct {
	mu sync.Mutex
	n  map[netip.Addr]int32
	_  [40]byte // a shard per cache line
}

func (l *clientLimiter) shard(a netip.Addr) *clientShard {
	b := a.As16()
	h := (binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])) * 0x9E3779B97F4A7C15
	return &l.shards[h>>60]
}

// acquire counts a request of a in flight, unless a has limit already.
func (l *clientLimiter) acquire(a netip.Addr, limit int32) bool {
	s := l.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n[a]
	if n >= limit {
		return false
	}
	if s.n == nil {
		s.n = make(map[netip.Addr]int32)
	}
	s.n[a] = n + 1
	return true
}

// release ends a request acquire counted; an address at zero is forgotten.
func (l *clientLimiter) release(a netip.Addr) {
	s := l.shard(a)
	s.mu.Lock()
	if n := s.n[a] - 1; n > 0 {
		s.n[a] = n
	} else {
		delete(s.n, a)
	}
	s.mu.Unlock()
}

// deadliner is what http.ResponseController uses to set the connection's
// read deadline; net/http's own ResponseWriter has it.
type deadliner interface{ SetReadDeadline(time.Time) error }

// clientBody is the request body as the upstream reads it. It enforces the
// route's size limit and per-read timeout, and it remembers how the client
// failed, if it did: a body that ends in an error is the client's doing (or
// the limit's), never the upstream's, and RoundTrip must not charge the
// target's group with it.
//
// Its Close leaves the client's body open: the Transport closes request
// bodies on errors, but the body is offered to another target after a
// refused connection (see retryable), and the server closes it anyway
// when the handler returns. limitRequests marks it closed then, after which a
// read fails.
type clientBody struct {
	r       io.ReadCloser
	dl      deadliner // nil without a timeout
	timeout time.Duration
	limit   int64 // 0: none
	n       int64 // bytes read; only the Transport's writer touches it

	started atomic.Bool  // a read began: the body cannot be replayed
	closed  atomic.Bool  // the handler returned: reading is over
	eof     atomic.Bool  // the body was read to its end
	waiting atomic.Int64 // unix nanoseconds when the read in progress began; 0 if none
	slowest atomic.Int64 // the longest a read waited for the client, in nanoseconds
	failed  atomic.Pointer[error]
}

// newClientBody wraps r's body with lim, or returns nil for a request
// without one. The deadline is set through w when w allows it.
func newClientBody(w http.ResponseWriter, r *http.Request, lim limits) *clientBody {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b := &clientBody{r: r.Body, limit: lim.maxBody, timeout: lim.bodyTimeout}
	if b.timeout > 0 {
		if d := findDeadliner(w); d != nil {
			b.dl = d
		} else if rc := http.NewResponseController(w); rc.SetReadDeadline(time.Time{}) == nil {
			b.dl = rc // a wrapped ResponseWriter that can
		} // else a writer that cannot (httptest's): no timeout
	}
	return b
}

// findDeadliner returns the first of w and the writers it wraps (the
// access log's recorder) that sets read deadlines itself: without an
// allocation, unlike a ResponseController.
func findDeadliner(w http.ResponseWriter) deadliner {
	for {
		if d, ok := w.(deadliner); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// errBodyAfterHandler is what a read gets after the handler returned: the
// Transport's writer may outlive a failed request, and the server reuses
// the connection's reader.
var errBodyAfterHandler = errors.New("request body read after the request ended")

func (b *clientBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyAfterHandler
	}
	if b.eof.Load() {
		// No deadline past the end: the server is now reading the
		// connection in the background, to notice the client leave, and
		// a deadline passing there would cancel the request.
		return 0, io.EOF
	}
	b.started.Store(true)
	if b.limit > 0 && int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1] // one byte past the limit tells "at" from "over"
	}
	now := time.Now()
	if b.dl != nil {
		_ = b.dl.SetReadDeadline(now.Add(b.timeout))
	}
	b.waiting.Store(now.UnixNano())
	n, err := b.r.Read(p)
	b.waiting.Store(0)
	if d := int64(time.Since(now)); d > b.slowest.Load() {
		b.slowest.Store(d) // only the Transport's writer stores
	}
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		n -= int(b.n - b.limit)
		b.n = b.limit
		err = &http.MaxBytesError{Limit: b.limit}
	}
	switch {
	case err == io.EOF:
		b.eof.Store(true)
		if b.dl != nil {
			// Lift the deadline (net/http does too, when the body ends):
			// a response may stream for as long as it likes.
			_ = b.dl.SetReadDeadline(time.Time{})
		}
	case err != nil:
		ferr := err // a copy, so that err itself stays on the stack
		b.failed.CompareAndSwap(nil, &ferr)
	}
	return n, err
}

func (b *clientBody) Close() error { return nil }

// fault returns the client's body error, if it made the request fail
// with err: a read of the body that failed; or a pause of stallThreshold
// or more (in progress at now, or past) when the body was not read to its
// end or its tail could not be written upstream (the app gave up waiting
// for a slow client). Nil otherwise. The price: an upstream that really
// fails during an upload whose client paused that long is not charged.
func (b *clientBody) fault(now time.Time, err error) error {
	if b == nil {
		return nil
	}
	if ferr := b.failed.Load(); ferr != nil {
		return *ferr
	}
	since := b.waiting.Load()
	paused := since != 0 && now.UnixNano()-since >= int64(stallThreshold) || b.slowest.Load() >= int64(stallThreshold)
	if paused && (!b.eof.Load() || isWriteError(err)) {
		return errBodyStalled
	}
	return nil
}

// isWriteError reports whether err happened writing to a connection
// ("readfrom" is the Transport copying a body into one).
func isWriteError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "write" || op.Op == "readfrom")
}

// errBodyStalled is the fault of a client whose body stopped arriving
// while the upstream waited for it.
var errBodyStalled = errors.New("request body stalled")

// bodyStatus is the status for a client's body fault: 413 over the limit,
// 408 too slow, 400 for broken framing or a body cut short.
func bodyStatus(err error) int {
	var maxBytes *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBodyStalled), errors.As(err, &ne) && ne.Timeout():
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}
