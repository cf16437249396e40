package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// clientFrom returns an HTTP client whose connections come from the
// loopback address src (any of 127.0.0.0/8 works on Linux), so one test
// can play several client addresses.
func clientFrom(t *testing.T, src string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// slowBody starts a request on a raw connection from src that declares a
// body of n bytes, sends the first, and then nothing: the connection is
// returned for the caller to close.
func slowBody(t *testing.T, front, src, path string, n int) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(front, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nx", path, n)
	return c
}

func TestBodySizeLimit(t *testing.T) {
	u := newUpstream(t, "u", nil)
	p := New(Config{MaxBodyBytes: 1000})
	p.Update([]Backend{{Name: "b", Targets: []Target{inGroup(u, "r1")}, Routes: []spec.Route{
		{PathPrefix: "/"},
		{PathPrefix: "/upload", Limits: &spec.RouteLimits{MaxBodyBytes: 5000}},
	}}})
	front := newFront(t, p)

	// A declared length over the limit never reaches the upstream.
	resp, body, closed := rawExchange(t, front, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\nxxxx", false)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "limit of 1000 bytes") || !closed {
		t.Errorf("Content-Length 99999999999999: %d %q closed %v, want 413 naming the limit, and the connection closed", resp.StatusCode, body, closed)
	}
	if n := u.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}

	post := func(path string, n int, chunked bool) int {
		req, _ := http.NewRequest(http.MethodPost, front+path, strings.NewReader(strings.Repeat("x", n)))
		if chunked {
			req.ContentLength = -1 // sent chunked: the limit is found while streaming
		}
		return do(t, req).status
	}
	for _, tt := range []struct {
		path    string
		n       int
		chunked bool
		want    int
	}{
		{"/", 1000, false, 200},
		{"/", 1000, true, 200},
		{"/", 1001, false, 413},
		{"/", 1001, true, 413},
		{"/", 300 << 10, true, 413},
		{"/upload", 5000, true, 200}, // the route's own limit
		{"/upload", 5001, true, 413},
		{"/upload", 5001, false, 413},
	} {
		if got := post(tt.path, tt.n, tt.chunked); got != tt.want {
			t.Errorf("POST %s with %d bytes (chunked %v): %d, want %d", tt.path, tt.n, tt.chunked, got, tt.want)
		}
	}
	if g := p.Stats("b")["r1"]; g.Errors != 0 {
		t.Errorf("group r1 has %d errors after bodies over the limit, want 0", g.Errors)
	}
}

// TestSlowBodyIs408: a client that stops sending its body is answered 408
// after the body read timeout, and its upstream request is given up.
func TestSlowBodyIs408(t *testing.T) {
	u := newUpstream(t, "u", nil)
	p := New(Config{BodyReadTimeout: 200 * time.Millisecond})
	p.Update([]Backend{{Name: "b", Targets: []Target{inGroup(u, "r1")}, Routes: []spec.Route{
		{PathPrefix: "/"},
		{PathPrefix: "/patient", Limits: &spec.RouteLimits{BodyReadTimeout: spec.Duration(time.Minute)}},
	}}})
	front := newFront(t, p)

	start := time.Now()
	resp, body, closed := rawExchange(t, front, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", false)
	took := time.Since(start)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "too slowly") || !closed {
		t.Errorf("stalled body: %d %q closed %v, want 408 and the connection closed", resp.StatusCode, body, closed)
	}
	if took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("408 after %v, want after the 200ms timeout and well before 5s", took)
	}
	if g := p.Stats("b")["r1"]; g.Errors != 0 || g.Requests != 0 {
		t.Errorf("group r1: %d errors in %d requests after a stalled body, want none counted", g.Errors, g.Requests)
	}

	// A body that keeps coming, however slowly, is not cut off: the
	// timeout is per read, not per body.
	pr, pw := io.Pipe()
	go func() {
		for range 6 {
			time.Sleep(100 * time.Millisecond)
			pw.Write([]byte("x"))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, front+"/", pr)
	if r := do(t, req); r.status != 200 || r.body != "u 6" {
		t.Errorf("trickled body: %d %q, want 200 \"u 6\"", r.status, r.body)
	}

	// The route's own timeout is longer.
	c := slowBody(t, front, "127.0.0.1", "/patient", 10)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("route with a 1m body timeout answered within 600ms (%v)", err)
	}
}

// TestUpstreamGivingUpOnSlowClientIsNotItsError: an app server with its
// own, shorter, body timeout drops the connection while the proxy waits
// for the client. That is the client's slowness, not the revision's fault,
// whether the client then stays silent or sends the rest.
func TestUpstreamGivingUpOnSlowClientIsNotItsError(t *testing.T) {
	impatient := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			c, _, _ := http.NewResponseController(w).Hijack() // drops the slow client without a word
			c.Close()
		}
	}), ReadTimeout: 1200 * time.Millisecond}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go impatient.Serve(ln)
	t.Cleanup(func() { impatient.Close() })
	p := New(Config{BodyReadTimeout: 3 * time.Second})
	p.Update(oneBackend("b", Target{ID: "i", Addr: ln.Addr().String(), Group: "r1"}))
	front := newFront(t, p)

	for _, resume := range []bool{true, false} {
		c := slowBody(t, front, "127.0.0.1", "/", 100)
		defer c.Close()
		if resume {
			time.Sleep(1500 * time.Millisecond) // past the app's timeout, not the proxy's
			io.WriteString(c, strings.Repeat("x", 99))
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("resume %v: %v", resume, err)
		}
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("resume %v: upstream gave up on a paused body: %d, want 408", resume, resp.StatusCode)
		}
	}
	if g := p.Stats("b")["r1"]; g.Errors != 0 {
		t.Errorf("group r1 has %d errors, want 0", g.Errors)
	}
}

// TestStreamOutlivesBodyTimeout: once the body is read, its timeout no
// longer applies, so a response may stream for as long as it likes.
func TestStreamOutlivesBodyTimeout(t *testing.T) {
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		for range 8 {
			io.WriteString(w, "tick\n")
			http.NewResponseController(w).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	p := New(Config{BodyReadTimeout: 200 * time.Millisecond})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)
	req, _ := http.NewRequest(http.MethodPost, front+"/", strings.NewReader("hello"))
	if r := do(t, req); r.status != 200 || strings.Count(r.body, "tick") != 8 {
		t.Errorf("streamed response: %d %q, want 8 ticks over 800ms", r.status, r.body)
	}
}

// TestMaxConnsPerClient: one client address gets at most the bound of
// requests in flight to a backend; others are not affected.
func TestMaxConnsPerClient(t *testing.T) {
	release := make(chan struct{})
	var inside atomic.Int64
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			inside.Add(1)
			<-release
		}
	})
	p := New(Config{MaxConnsPerClient: 2})
	p.Update([]Backend{{Name: "b", Targets: []Target{inGroup(u, "r1")}, Routes: []spec.Route{
		{PathPrefix: "/"},
		{PathPrefix: "/roomy", Limits: &spec.RouteLimits{MaxConnsPerClient: 3}},
	}}})
	front := newFront(t, p)
	one, two := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	status := func(c *http.Client, path string) int {
		resp, err := c.Get(front + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { status(one, "/hold") })
	}
	for inside.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if got := status(one, "/"); got != http.StatusTooManyRequests {
		t.Errorf("third request from 127.0.0.1: %d, want 429", got)
	}
	if got := status(one, "/roomy/x"); got != 200 {
		t.Errorf("third request from 127.0.0.1 on a route allowing 3: %d, want 200", got)
	}
	if got := status(two, "/"); got != 200 {
		t.Errorf("request from 127.0.0.2: %d, want 200", got)
	}
	close(release)
	wg.Wait()
	if got := status(one, "/"); got != 200 {
		t.Errorf("127.0.0.1 after its requests ended: %d, want 200", got)
	}
	if g := p.Stats("b")["r1"]; g.Errors != 0 {
		t.Errorf("group r1 has %d errors, want 0", g.Errors)
	}
}

// TestSlowClientsDoNotStarveOthers is the acceptance test of the limits:
// 300 clients of one address hold slow bodies open against the ingress,
// and another client's p99 through it stays within 10% of its unloaded
// p99, while the upstream connections stay bounded by the per-client
// bound (today's attack held 301).
//
// The machine is shared and a p99 of one block of requests moves by up to
// several times between blocks, so the conditions alternate in 41 rounds
// (unloaded, loaded, loaded, unloaded, ...) and each round's loaded p99 is
// divided by its neighbouring unloaded one; the median of those ratios is
// compared with 1.10. A burst of someone else's load then lands on both
// halves of a pair alike. (Comparing the median p99s of each condition
// instead failed once in a full suite run, +23%, because busy spells fell
// on more loaded blocks than unloaded ones; the paired median of the same
// data was +8%.) Between rounds, the slow clients finish their bodies, so
// their upstream connections go back to the pool and are reused: the count
// at the backend is the connections ever needed at once.
func TestSlowClientsDoNotStarveOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	const perClient, slowClients, rounds, maxBatches, requests, warmup, bodySize = 16, 300, 41, 3, 1000, 100, 1000
	var open, peak atomic.Int64
	var mu sync.Mutex
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}), ConnState: func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			peak.Store(max(peak.Load(), open.Add(1)))
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })
	p := New(Config{MaxConnsPerClient: perClient, BodyReadTimeout: time.Minute})
	p.Update(oneBackend("b", Target{ID: "u", Addr: ln.Addr().String()}))
	front := newFront(t, p)

	normal := clientFrom(t, "127.0.0.1")
	// p99 measures a block of requests. It starts from the same state
	// whatever came before (a collection, then unmeasured requests), so
	// that opening or closing 300 connections just before weighs on
	// neither condition.
	p99 := func() time.Duration {
		runtime.GC()
		lat := make([]time.Duration, 0, requests)
		for i := range requests + warmup {
			if i == warmup {
				lat = lat[:0]
			}
			start := time.Now()
			resp, err := normal.Get(front + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("normal client got %d", resp.StatusCode)
			}
			lat = append(lat, time.Since(start))
		}
		return quantile(lat, 0.99)
	}
	// load opens the slow clients and waits until the admitted ones hold
	// their upstream requests; the rest were answered 429.
	load := func() []net.Conn {
		conns := make([]net.Conn, 0, slowClients)
		for range slowClients {
			conns = append(conns, slowBody(t, front, "127.0.0.2", "/", bodySize))
		}
		for deadline := time.Now().Add(10 * time.Second); p.InFlight("u") < perClient && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := p.InFlight("u"); n != perClient {
			t.Errorf("slow clients have %d requests in flight, want the bound, %d", n, perClient)
		}
		return conns
	}
	// unload has every slow client send the rest of its body and read its
	// answer (200, or the 429 it already had), then hang up.
	unload := func(conns []net.Conn) {
		rest := strings.Repeat("x", bodySize-1)
		for _, c := range conns {
			io.WriteString(c, rest) // fails for the refused, already closed
		}
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				io.Copy(io.Discard, resp.Body)
			}
			c.Close()
		}
		for deadline := time.Now().Add(10 * time.Second); p.InFlight("u") > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}

	// A ballast keeps the collector's pace the same in both conditions:
	// without it the slow clients' buffers enlarge the small heap of this
	// test, the collector runs less often, and the loaded p99 came out
	// 10-45% lower than the unloaded one, measuring the collector rather
	// than the proxy. With 64 MiB live, a few MiB more change little.
	ballast := make([]byte, 64<<20)
	defer runtime.KeepAlive(ballast)

	unload(load()) // warm up: connections, pools, code paths
	p99()
	// Round i's loaded and unloaded blocks run back to back, so they see the
	// same machine: the median of their ratios cancels what other
	// processes do to both, where comparing the two medians lets a busy
	// spell that happened to land on more loaded than unloaded blocks count.
	// When a batch of rounds leaves the answer close to the bound, more
	// batches are measured and pooled (never retried: every round counts),
	// since on a loaded machine 41 rounds still scatter by a few percent.
	var unloaded, loaded []time.Duration
	var ratios []float64
	for batch := 1; ; batch++ {
		for i := range rounds {
			var u time.Duration
			if i%2 == 0 {
				u = p99()
			}
			conns := load()
			l := p99()
			unload(conns)
			if i%2 == 1 {
				u = p99()
			}
			unloaded, loaded = append(unloaded, u), append(loaded, l)
			ratios = append(ratios, float64(l)/float64(u))
		}
		if r := medianRatio(ratios); r <= 1.05 || batch == maxBatches {
			break
		}
	}
	ratio := medianRatio(ratios)
	t.Logf("p99 of %d rounds of %d requests: median unloaded %v, with %d slow clients %v; median ratio of each round's pair %.3f; peak upstream connections %d",
		len(ratios), requests, median(unloaded), slowClients, median(loaded), ratio, peak.Load())
	t.Logf("p99 per round, unloaded: %v", unloaded)
	t.Logf("p99 per round, loaded:   %v", loaded)
	if ratio > 1.10 {
		t.Errorf("p99 with %d slow clients is %.0f%% over the unloaded p99 (median of %d paired rounds), more than 10%%", slowClients, 100*(ratio-1), len(ratios))
	}
	if n := peak.Load(); n > perClient+4 {
		t.Errorf("upstream saw %d connections at once, want at most the per-client bound %d + a few", n, perClient)
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func median(ds []time.Duration) time.Duration { return quantile(ds, 0.5) }

func medianRatio(rs []float64) float64 {
	s := slices.Clone(rs)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestLimitRequestsLink: a declared body over the route's limit and a
// client at its bound are refused before the rest of the chain runs, with
// the connection closed; an admitted request gets the limiting body and is
// counted only while the chain runs.
func TestLimitRequestsLink(t *testing.T) {
	var clients clientLimiter
	lim := limits{maxBody: 10, perClient: 1}
	n := &next{}
	h := withLimits(lim, "shop/web", &clients)(n)
	req := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.RemoteAddr = "192.0.2.7:5555"
		return r
	}

	if rf := asRefusal(t, h.serve(httptest.NewRecorder(), req("01234567890"), &exchange{}), http.StatusRequestEntityTooLarge); !rf.close || n.called {
		t.Errorf("413: closes %v, passed on %v", rf.close, n.called)
	}

	a := clientAddr(req(""))
	clients.acquire(a, 1) // the client's one request in flight
	if rf := asRefusal(t, h.serve(httptest.NewRecorder(), req("x"), &exchange{}), http.StatusTooManyRequests); !rf.close || n.called {
		t.Errorf("429: closes %v, passed on %v", rf.close, n.called)
	}
	clients.release(a)

	var inFlight bool
	n.run = func(_ http.ResponseWriter, r *http.Request, ex *exchange) {
		inFlight = !clients.acquire(a, 1)
		if _, ok := r.Body.(*clientBody); !ok || ex.body == nil || ex.body.limit != 10 {
			t.Errorf("body %T, exchange's %v: want the limiting body", r.Body, ex.body)
		}
	}
	ex := &exchange{}
	if err := h.serve(httptest.NewRecorder(), req("0123456789"), ex); err != nil || !n.called {
		t.Fatalf("admitted request: err %v, passed on %v", err, n.called)
	}
	if !inFlight {
		t.Error("the request was not counted while in flight")
	}
	if !clients.acquire(a, 1) {
		t.Error("the request is still counted after it ended")
	}
	if _, err := ex.body.Read(make([]byte, 1)); err != errBodyAfterHandler {
		t.Errorf("read after the chain returned: %v, want errBodyAfterHandler", err)
	}
}
