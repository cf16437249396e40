package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/syncbuf"
)

// upstream is a real HTTP backend that counts its requests and echoes what
// it saw in response headers.
type upstream struct {
	Target
	hits atomic.Int64
}

func newUpstream(t *testing.T, id string, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		w.Header().Set("Echo-Target", id)
		w.Header().Set("Echo-Path", r.URL.Path)
		w.Header().Set("Echo-Host", r.Host)
		w.Header().Set("Echo-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("Echo-Xff", strings.Join(r.Header.Values("X-Forwarded-For"), ","))
		w.Header().Set("Echo-Xfh", strings.Join(r.Header.Values("X-Forwarded-Host"), ","))
		w.Header().Set("Echo-Xfp", strings.Join(r.Header.Values("X-Forwarded-Proto"), ","))
		w.Header().Set("Echo-Forwarded", r.Header.Get("Forwarded"))
		if h != nil {
			h(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d", id, len(body))
	}))
	t.Cleanup(srv.Close)
	u.Target = Target{ID: id, Addr: srv.Listener.Addr().String()}
	return u
}

// deadTarget is an address nothing listens on: dialling it is refused.
func deadTarget(t *testing.T, id string) Target {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return Target{ID: id, Addr: addr}
}

// newFront serves p on a loopback port and returns its base URL.
func newFront(t *testing.T, p *Proxy) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(p)
	srv.Config = p.Server("")
	srv.Config.Handler = p
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func oneBackend(name string, targets ...Target) []Backend {
	return []Backend{{Name: name, Routes: []spec.Route{{PathPrefix: "/"}}, Targets: targets}}
}

type result struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", req.URL, err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

func get(t *testing.T, url, host string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	return do(t, req)
}

func TestRouting(t *testing.T) {
	api := newUpstream(t, "api-1", nil)
	web := newUpstream(t, "web-1", nil)
	any := newUpstream(t, "any-1", nil)
	p := New(Config{})
	p.Update([]Backend{
		{Name: "shop/default/api", Routes: []spec.Route{{Host: "shop.example", PathPrefix: "/api", StripPrefix: true}}, Targets: []Target{api.Target}},
		{Name: "shop/default/web", Routes: []spec.Route{{Host: "shop.example", PathPrefix: "/"}}, Targets: []Target{web.Target}},
		{Name: "shop/default/any", Routes: []spec.Route{{PathPrefix: "/health"}}, Targets: []Target{any.Target}},
	})
	front := newFront(t, p)

	tests := []struct {
		host, path           string
		wantTarget, wantPath string
	}{
		{"shop.example", "/api/orders?x=1", "api-1", "/orders"},
		{"SHOP.example:8443", "/api", "api-1", "/"},
		{"shop.example", "/apix", "web-1", "/apix"},
		{"shop.example", "/static/../api/x", "api-1", "/x"},
		{"shop.example", "/health", "web-1", "/health"},
		{"other.example", "/health/live", "any-1", "/health/live"},
	}
	for _, tt := range tests {
		r := get(t, front+tt.path, tt.host)
		if r.status != 200 || r.header.Get("Echo-Target") != tt.wantTarget || r.header.Get("Echo-Path") != tt.wantPath {
			t.Errorf("%s%s: status %d target %q path %q, want 200 %q %q", tt.host, tt.path,
				r.status, r.header.Get("Echo-Target"), r.header.Get("Echo-Path"), tt.wantTarget, tt.wantPath)
		}
		if got := r.header.Get("Echo-Host"); got != tt.host {
			t.Errorf("%s%s: upstream Host = %q, want the client's", tt.host, tt.path, got)
		}
	}

	r := get(t, front+"/nothing", "other.example")
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "no route for other.example/nothing") {
		t.Errorf("unrouted: %d %q, want 404 naming host and path", r.status, r.body)
	}
}

func TestNoTargetsIs503(t *testing.T) {
	p := New(Config{})
	p.Update(oneBackend("shop/default/api"))
	front := newFront(t, p)
	r := get(t, front+"/", "x")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "service shop/default/api has no healthy instances") {
		t.Errorf("got %d %q, want 503 naming the service", r.status, r.body)
	}
	req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
	req.Header.Set("Accept", "text/html")
	if r := do(t, req); !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "<h1>Service Unavailable</h1>") {
		t.Errorf("browser got %q %q, want an HTML page", r.header.Get("Content-Type"), r.body)
	}
}

func TestLeastRequests(t *testing.T) {
	slow := newUpstream(t, "slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(20 * time.Millisecond) })
	fast := newUpstream(t, "fast", func(w http.ResponseWriter, r *http.Request) {})
	p := New(Config{})
	p.Update(oneBackend("b", slow.Target, fast.Target))
	front := newFront(t, p)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if r := get(t, front+"/", "x"); r.status != 200 {
					t.Errorf("status %d", r.status)
				}
			}
		})
	}
	wg.Wait()
	s, f := slow.hits.Load(), fast.hits.Load()
	if s+f != 200 || s*4 > f {
		t.Errorf("slow got %d, fast got %d: want the slow target to get under a fifth of the fast one's", s, f)
	}
}

func TestEjectAndRetry(t *testing.T) {
	good := newUpstream(t, "good", nil)
	dead := deadTarget(t, "dead")
	var logBuf syncbuf.Buffer
	p := New(Config{AccessLog: &logBuf})
	p.Update(oneBackend("b", dead, good.Target))
	front := newFront(t, p)

	for i := range 200 {
		if r := get(t, front+"/", "x"); r.status != 200 || r.header.Get("Echo-Target") != "good" {
			t.Fatalf("GET %d: %d %q, want 200 from good", i, r.status, r.body)
		}
	}
	// The dead target was tried at most once before its ejection; the
	// access log says which requests needed a second attempt.
	retried := strings.Count(logBuf.String(), `"attempts":2`)
	if retried != 1 {
		t.Errorf("%d requests were retried, want exactly 1 (then dead is ejected)", retried)
	}
	if st := targetState(p, "dead"); st != TargetEjected {
		t.Errorf("dead is %v, want ejected", st)
	}
	// An Update does not re-admit it before the cooldown ends.
	p.Update(oneBackend("b", dead, good.Target))
	if st := targetState(p, "dead"); st != TargetEjected {
		t.Errorf("after Update dead is %v, want still ejected", st)
	}

	// A refused connection means the request never arrived: a POST with a
	// body is replayed on the other target, body intact.
	p.Update(oneBackend("b", deadTarget(t, "dead-2"), good.Target))
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodPost, front+"/", strings.NewReader("hello"))
		if r := do(t, req); r.status != 200 || r.body != "good 5" {
			t.Fatalf("POST %d: %d %q, want 200 \"good 5\"", i, r.status, r.body)
		}
	}
}

func TestAllTargetsDeadIs502(t *testing.T) {
	p := New(Config{})
	p.Update(oneBackend("shop/default/api", deadTarget(t, "a"), deadTarget(t, "b")))
	front := newFront(t, p)
	for range 3 { // ejected targets are still tried as a last resort
		if r := get(t, front+"/", "x"); r.status != http.StatusBadGateway || !strings.Contains(r.body, "upstream connection failed") {
			t.Fatalf("got %d %q, want 502 upstream connection failed", r.status, r.body)
		}
	}
}

// TestResetRetriesOnlyIdempotent: a target that reads the request and then
// drops the connection may have acted on it, so only GETs are retried.
func TestResetRetriesOnlyIdempotent(t *testing.T) {
	good := newUpstream(t, "good", nil)
	crash := newUpstream(t, "crash", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
			conn.Close()
		}
	})
	p := New(Config{})
	p.Update(oneBackend("b", crash.Target, good.Target))
	front := newFront(t, p)

	for i := range 40 {
		if r := get(t, front+"/", "x"); r.status != 200 {
			t.Fatalf("GET %d: %d, want 200 after retry", i, r.status)
		}
	}
	if crash.hits.Load() == 0 {
		t.Fatal("the crashing target got no GET; the test proves nothing")
	}
	if st := targetState(p, "crash"); st != TargetHealthy {
		t.Errorf("crash is %v: a reset must not eject", st)
	}

	crash.hits.Store(0)
	good.hits.Store(0)
	failed := 0
	for range 40 {
		req, _ := http.NewRequest(http.MethodPost, front+"/", strings.NewReader("pay"))
		switch r := do(t, req); r.status {
		case 200:
		case http.StatusBadGateway:
			failed++
		default:
			t.Fatalf("POST: %d %q", r.status, r.body)
		}
	}
	if failed == 0 || int64(failed) != crash.hits.Load() || good.hits.Load() != int64(40-failed) {
		t.Errorf("POSTs: %d failed, crash saw %d, good saw %d: every POST that reached crash must fail, none retried",
			failed, crash.hits.Load(), good.hits.Load())
	}
}

func TestForwardedHeadersFromSocket(t *testing.T) {
	u := newUpstream(t, "u", nil)
	p := New(Config{})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)

	req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
	req.Host = "shop.example"
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	r := do(t, req)
	if got := r.header.Get("Echo-Xff"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want 127.0.0.1 only", got)
	}
	if got := r.header.Get("Echo-Xfh"); got != "shop.example" {
		t.Errorf("X-Forwarded-Host = %q, want shop.example", got)
	}
	if got := r.header.Get("Echo-Xfp"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q, want http", got)
	}
	if got := r.header.Get("Echo-Forwarded"); got != "" {
		t.Errorf("Forwarded = %q, want it dropped", got)
	}
}

func TestRequestID(t *testing.T) {
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "upstream-made-this-up")
	})
	p := New(Config{})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)

	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := make(map[string]bool)
	for range 100 {
		req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
		req.Header.Set("X-Request-Id", "client-chosen")
		r := do(t, req)
		ids := r.header.Values("X-Request-Id")
		if len(ids) != 1 || !hex32.MatchString(ids[0]) {
			t.Fatalf("response X-Request-Id = %q, want one 32-hex-digit ID", ids)
		}
		if up := r.header.Get("Echo-Request-Id"); up != ids[0] {
			t.Fatalf("upstream saw %q, client got %q", up, ids[0])
		}
		if seen[ids[0]] {
			t.Fatalf("request ID %s repeated", ids[0])
		}
		seen[ids[0]] = true
	}

	trusting := New(Config{TrustRequestID: true})
	trusting.Update(oneBackend("b", u.Target))
	front = newFront(t, trusting)
	for id, keep := range map[string]bool{"lb-1234.abc": true, "bad id": false} {
		req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
		req.Header.Set("X-Request-Id", id)
		if got := do(t, req).header.Get("X-Request-Id"); (got == id) != keep {
			t.Errorf("trusted X-Request-Id %q came back as %q, keep=%v", id, got, keep)
		}
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	p := New(Config{ResponseHeaderTimeout: 100 * time.Millisecond})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)
	start := time.Now()
	r := get(t, front+"/", "x")
	if r.status != http.StatusGatewayTimeout || !strings.Contains(r.body, "upstream timed out") {
		t.Errorf("got %d %q, want 504 upstream timed out", r.status, r.body)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v; a timed-out GET must not be retried for long", time.Since(start))
	}
	if u.hits.Load() != 1 {
		t.Errorf("upstream saw %d requests, want 1: a timeout is not retried", u.hits.Load())
	}
}

func TestMaxBodyBytes(t *testing.T) {
	u := newUpstream(t, "u", nil)
	p := New(Config{MaxBodyBytes: 10})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)

	req, _ := http.NewRequest(http.MethodPost, front+"/", strings.NewReader(strings.Repeat("x", 11)))
	if r := do(t, req); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("declared 11 bytes: %d, want 413", r.status)
	}
	// Chunked, so the limit is only found while streaming it upstream.
	req, _ = http.NewRequest(http.MethodPost, front+"/", io.MultiReader(strings.NewReader(strings.Repeat("x", 100))))
	req.ContentLength = -1
	if r := do(t, req); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed 100 bytes: %d %q, want 413", r.status, r.body)
	}
	req, _ = http.NewRequest(http.MethodPost, front+"/", strings.NewReader("small"))
	if r := do(t, req); r.status != 200 || r.body != "u 5" {
		t.Errorf("5 bytes: %d %q, want 200", r.status, r.body)
	}
}

func TestDrainWaitsForInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := newUpstream(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	other := newUpstream(t, "other", nil)
	p := New(Config{})
	p.Update(oneBackend("b", slow.Target))
	front := newFront(t, p)

	resp := make(chan result, 1)
	go func() { resp <- get(t, front+"/", "x") }()
	<-started
	if n := p.InFlight("slow"); n != 1 {
		t.Fatalf("InFlight(slow) = %d while streaming, want 1", n)
	}

	p.Update(oneBackend("b", other.Target)) // slow is no longer routed
	if st := targetState(p, "slow"); st != TargetDraining {
		t.Errorf("slow is %v, want draining", st)
	}
	if r := get(t, front+"/", "x"); r.header.Get("Echo-Target") != "other" {
		t.Errorf("new request went to %q, want other", r.header.Get("Echo-Target"))
	}

	drained := make(chan error, 1)
	go func() { drained <- p.Drain(context.Background(), "slow") }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if r := <-resp; r.status != 200 || r.body != "done" {
		t.Errorf("in-flight request got %d %q, want it completed", r.status, r.body)
	}
	if n := p.InFlight("slow"); n != 0 || targetState(p, "slow") != -1 {
		t.Errorf("after Drain: InFlight %d, state %v; want 0 and forgotten", n, targetState(p, "slow"))
	}
}

func TestDrainTimeout(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := newUpstream(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	p := New(Config{DrainTimeout: 50 * time.Millisecond})
	p.Update(oneBackend("b", slow.Target))
	front := newFront(t, p)
	done := make(chan struct{})
	go func() { get(t, front+"/", "x"); close(done) }()
	<-started
	// Drain before any Update removes it: it still stops new requests.
	err := p.Drain(context.Background(), "slow")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 requests still in flight") {
		t.Errorf("Drain = %v, want a deadline error counting 1 request", err)
	}
	if st := targetState(p, "slow"); st != TargetDraining {
		t.Errorf("slow is %v after Drain, want draining", st)
	}
	close(release)
	<-done
	if err := p.Drain(context.Background(), "unknown"); err != nil {
		t.Errorf("Drain(unknown) = %v, want nil", err)
	}
}

// TestUpdateUnderLoad swaps routing tables while clients hammer the proxy:
// every table routes every request to a live target, so nothing may fail.
func TestUpdateUnderLoad(t *testing.T) {
	var us []*upstream
	for i := range 4 {
		us = append(us, newUpstream(t, fmt.Sprint("u", i), nil))
	}
	p := New(Config{})
	p.Update(oneBackend("b", us[0].Target))
	front := newFront(t, p)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := get(t, front+"/x", "shop.example"); r.status != 200 {
					t.Errorf("status %d %q during updates", r.status, r.body)
					return
				}
				ok.Add(1)
			}
		})
	}
	for i := range 300 {
		a, b := us[i%4], us[(i+1)%4]
		p.Update([]Backend{
			{Name: "b", Routes: []spec.Route{{Host: "shop.example", PathPrefix: "/x"}}, Targets: []Target{a.Target, b.Target}},
			{Name: "c", Routes: []spec.Route{{PathPrefix: "/"}}, Targets: []Target{b.Target}},
		})
		if i%50 == 0 {
			p.Targets()
			p.InFlight(a.ID)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if ok.Load() < 100 {
		t.Errorf("only %d requests completed", ok.Load())
	}
}

func TestAccessLog(t *testing.T) {
	u := newUpstream(t, "api-7", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "0123456789")
	})
	var buf syncbuf.Buffer
	p := New(Config{AccessLog: &buf})
	p.Update([]Backend{{Name: "shop/default/api", Routes: []spec.Route{{Host: "shop.example", PathPrefix: "/"}}, Targets: []Target{u.Target}}})
	front := newFront(t, p)

	r := get(t, front+"/orders?token=secret", "shop.example")
	get(t, front+"/", "nowhere.example")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front+"/slow", nil)
	req.Host = "shop.example"
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the slow request should have been cancelled")
	}

	var lines []accessEntry
	deadline := time.Now().Add(2 * time.Second)
	for len(lines) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the cancelled request's line comes when its handler returns
		lines = lines[:0]
		sc := bufio.NewScanner(strings.NewReader(buf.String()))
		for sc.Scan() {
			var e accessEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("access log line %q: %v", sc.Text(), err)
			}
			lines = append(lines, e)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("got %d access log lines, want 3:\n%s", len(lines), buf.String())
	}
	e := lines[0]
	if e.RequestID != r.header.Get("X-Request-Id") || e.Remote != "127.0.0.1" || e.Host != "shop.example" ||
		e.Method != "GET" || e.Path != "/orders" || e.Status != 200 || e.Bytes != 10 ||
		e.Backend != "shop/default/api" || e.Target != "api-7" || e.Attempts != 1 || e.DurationMS <= 0 {
		t.Errorf("access log entry %+v does not describe the request", e)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
		t.Errorf("time %q: %v", e.Time, err)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Error("the access log contains the query string")
	}
	if lines[1].Status != 404 || lines[1].Backend != "" {
		t.Errorf("unrouted entry %+v, want status 404 and no backend", lines[1])
	}
	if lines[2].Status != 499 || lines[2].Path != "/slow" {
		t.Errorf("cancelled entry %+v, want status 499", lines[2])
	}
}

// targetState returns the state of the target with id, or -1 if the proxy
// has forgotten it.
func targetState(p *Proxy, id string) TargetState {
	for _, s := range p.Targets() {
		if s.ID == id {
			return s.State
		}
	}
	return -1
}

// TestUpgrade proxies a protocol upgrade (as WebSockets use) and counts the
// upgraded connection as in flight until it closes, so Drain waits for it.
func TestUpgrade(t *testing.T) {
	u := newUpstream(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client closes
	})
	var buf syncbuf.Buffer
	p := New(Config{AccessLog: &buf})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)

	conn, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	fmt.Fprint(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	if n := p.InFlight("ws"); n != 1 {
		t.Errorf("InFlight during the upgraded connection = %d, want 1", n)
	}
	conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Drain(ctx, "ws"); err != nil {
		t.Errorf("Drain after close: %v", err)
	}
	if !strings.Contains(buf.String(), `"status":101`) {
		t.Errorf("access log %q lacks status 101", buf.String())
	}
}
