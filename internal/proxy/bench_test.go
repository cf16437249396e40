package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// BenchmarkRecord is the statistics' cost per request; compare it with the
// tens of microseconds of CPU a proxied request costs (bench/proxy).
func BenchmarkRecord(b *testing.B) {
	var s groupStats
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.record(200, time.Since(start)%(100*time.Millisecond))
		}
	})
}

// BenchmarkPick compares picking a target without weights (one scan) and
// with two weighted groups (a scan per group and a draw).
func BenchmarkPick(b *testing.B) {
	targets := []Target{{ID: "a", Addr: "a:1", Group: "stable"}, {ID: "b", Addr: "b:1", Group: "stable"},
		{ID: "c", Addr: "c:1", Group: "stable"}, {ID: "d", Addr: "d:1", Group: "canary"}}
	for _, tt := range []struct {
		name    string
		weights map[string]int
	}{{"unweighted", nil}, {"90-10", map[string]int{"stable": 90, "canary": 10}}} {
		b.Run(tt.name, func(b *testing.B) {
			p := New(Config{})
			p.Update(weighted("b", tt.weights, targets...))
			be := p.table.Load().any[0].backend
			now := time.Now().UnixNano()
			for b.Loop() {
				if be.pick(now, nil).t == nil {
					b.Fatal("no target")
				}
			}
		})
	}
}

// BenchmarkServeHTTP is the whole request path, ServeHTTP to a loopback
// upstream and back, for a GET and for a POST with a 1 KiB body (the path
// that the body limits wrap). The loopback round trip dominates ns/op;
// allocs/op shows the proxy's own work precisely.
func BenchmarkServeHTTP(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	defer up.Close()
	p := New(Config{})
	p.Update([]Backend{{Name: "b", Routes: []spec.Route{{PathPrefix: "/"}}, Targets: []Target{{ID: "u", Addr: up.Listener.Addr().String()}}}})
	body := strings.Repeat("x", 1024)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		b.Run(method, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var rd io.Reader
				if method == http.MethodPost {
					rd = strings.NewReader(body)
				}
				req := httptest.NewRequest(method, "http://shop.example/x", rd)
				req.RemoteAddr = "192.0.2.1:1234"
				w := httptest.NewRecorder()
				p.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkClientLimiter is the per-client bound's cost per request: an
// acquire and a release, from parallel clients of different addresses.
func BenchmarkClientLimiter(b *testing.B) {
	var l clientLimiter
	var next atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		a := netip.AddrFrom4([4]byte{10, 0, byte(n >> 8), byte(n)})
		for pb.Next() {
			if !l.acquire(a, 128) {
				b.Fatal("refused")
			}
			l.release(a)
		}
	})
}

// BenchmarkLimitsPerRequest is the request limits' own work for one POST:
// the client's address, the per-client count, the body wrapper and its
// reads (without a deadline, which httptest cannot set), and the scan
// for identity headers; what ServeHTTP adds over the proxy before them.
func BenchmarkLimitsPerRequest(b *testing.B) {
	cfg := Config{}.withDefaults()
	lim := cfg.limitsFor(nil)
	var l clientLimiter
	body := strings.Repeat("x", 1024)
	buf := make([]byte, 32<<10)
	h := http.Header{"User-Agent": {"x"}, "Accept": {"*/*"}, "Content-Type": {"application/json"}, "Content-Length": {"1024"},
		"Accept-Encoding": {"gzip"}, "Cookie": {"a=b"}, "X-Forwarded-For": {"127.0.0.1"}}
	b.ReportAllocs()
	r := httptest.NewRequest(http.MethodPost, "http://x/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	rd := strings.NewReader(body)
	r.Body = io.NopCloser(rd)
	for b.Loop() {
		rd.Reset(body)
		a := clientAddr(r)
		if !l.acquire(a, lim.perClient) {
			b.Fatal("refused")
		}
		cb := newClientBody(nil, r, limits{maxBody: lim.maxBody})
		for {
			if _, err := cb.Read(buf); err != nil {
				break
			}
		}
		for k := range h {
			if proxyHeader(k) {
				b.Fatal(k)
			}
		}
		l.release(a)
	}
}
