package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawExchange sends payload on a fresh TCP connection to the front (a URL
// from newFront), half-closes the connection when closeWrite is set, and
// reads one response. It returns the response (body read) and whether the
// proxy then closed the connection: a closed one reads EOF at once, an open
// one times out after the deadline.
func rawExchange(t *testing.T, front, payload string, closeWrite bool) (*http.Response, string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", payload, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = br.ReadByte()
	var ne net.Error
	closed := err != nil && !(errorsAs(err, &ne) && ne.Timeout())
	return resp, string(b), closed
}

func errorsAs(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// TestClientBodyFailuresAreNotGroupErrors: a request whose body the client
// botches (bad chunked framing, a body cut short) is the client's fault. It
// is answered 400 and must not count against the revision that happened to
// be picked, or an anonymous client could roll back a healthy canary.
func TestClientBodyFailuresAreNotGroupErrors(t *testing.T) {
	u := newUpstream(t, "u", nil) // reads the whole body
	p := New(Config{})
	p.Update(oneBackend("b", inGroup(u, "r1")))
	front := newFront(t, p)

	for name, payload := range map[string]string{
		"bad chunk size": "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"bad chunk end":  "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
		"cut short":      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this much",
		"chunks cut":     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
	} {
		for range 10 {
			resp, body, closed := rawExchange(t, front, payload, true)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "request body") {
				t.Fatalf("%s: got %d %q, want 400 about the request body", name, resp.StatusCode, body)
			}
			if !closed {
				t.Errorf("%s: connection left open after a broken body", name)
			}
		}
	}
	if g := p.Stats("b")["r1"]; g.Errors != 0 {
		t.Errorf("group r1 has %d errors (%d requests) after client-side body failures, want 0", g.Errors, g.Requests)
	}

	// An upstream that really fails still counts.
	reset := newUpstream(t, "reset", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		c, _, _ := http.NewResponseController(w).Hijack()
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	p.Update(oneBackend("b", inGroup(reset, "r1")))
	resp, _, _ := rawExchange(t, front, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", false)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("upstream reset: got %d, want 502", resp.StatusCode)
	}
	if g := p.Stats("b")["r1"]; g.Errors != 1 {
		t.Errorf("group r1 has %d errors after one upstream reset, want 1", g.Errors)
	}
}

// TestClientGoneIsNotGroupError: a client that hangs up, before or after
// the response headers, is not the revision's fault.
func TestClientGoneIsNotGroupError(t *testing.T) {
	var n atomic.Int64
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // the first request hangs until its client gives up
			return
		}
		w.WriteHeader(200)
		for i := 0; r.Context().Err() == nil && i < 1000; i++ { // then stream until the client leaves
			io.WriteString(w, strings.Repeat("x", 1024))
			http.NewResponseController(w).Flush()
			time.Sleep(time.Millisecond)
		}
	})
	p := New(Config{})
	p.Update(oneBackend("b", inGroup(u, "r1")))
	front := newFront(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front+"/", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("hanging request succeeded")
	}
	cancel()

	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, front+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 4096))
	cancel()
	resp.Body.Close()

	deadline := time.Now().Add(5 * time.Second)
	for p.InFlight("u") != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := p.Stats("b")["r1"]; g.Errors != 0 || g.Requests != 2 {
		t.Errorf("group r1: %d errors in %d requests after two clients hung up, want 0 in 2", g.Errors, g.Requests)
	}
}

// TestIdentityHeadersFromSocket: headers that name the client or the
// original request are the proxy's to set. A client that sends its own
// X-Real-IP (or True-Client-IP, X-Original-URL, …) must not reach the
// app with it.
func TestIdentityHeadersFromSocket(t *testing.T) {
	seen := make(chan http.Header, 1)
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() })
	p := New(Config{})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)

	req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
	spoofed := []string{"X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
		"X-Cluster-Client-Ip", "X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Prefix", "X-Original-Url", "X-Rewrite-Url",
		"X-Original-Forwarded-For", "X-Forwarded", "Forwarded-For", "X-Forwarded-Ssl", "X-Url-Scheme", "Front-End-Https"}
	for _, h := range spoofed {
		req.Header.Set(h, "6.6.6.6")
	}
	do(t, req)
	h := <-seen
	if got := h.Values("X-Real-Ip"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Real-IP = %q, want [127.0.0.1] from the socket", got)
	}
	for _, name := range spoofed[1:] {
		if v := h.Values(name); len(v) != 0 {
			t.Errorf("%s = %q reached the upstream, want it dropped", name, v)
		}
	}
}

// TestH2CPrefaceRefused: the plain-HTTP ingress speaks HTTP/1.1 only. Go's
// server hands "PRI * HTTP/2.0" to the handler, which must not forward it
// as an HTTP/1.1 request.
func TestH2CPrefaceRefused(t *testing.T) {
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Echo-Upgrade", r.Header.Get("Upgrade"))
		w.Header().Set("Echo-Settings", r.Header.Get("Http2-Settings"))
	})
	p := New(Config{})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)
	resp, _, closed := rawExchange(t, front, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false)
	if resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Errorf("h2c preface: got %d, want 505", resp.StatusCode)
	}
	if !closed {
		t.Error("connection left open after the h2c preface")
	}
	if n := u.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}

	// Nor is an HTTP/1.1 upgrade to h2c passed on: the app would switch,
	// and the client's next requests would travel inside, unrouted.
	resp, _, _ = rawExchange(t, front, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", false)
	if resp.StatusCode != 200 || resp.Header.Get("Echo-Upgrade") != "" || resp.Header.Get("Echo-Settings") != "" {
		t.Errorf("h2c upgrade: %d, upstream saw Upgrade %q, HTTP2-Settings %q; want 200 as plain HTTP/1.1",
			resp.StatusCode, resp.Header.Get("Echo-Upgrade"), resp.Header.Get("Echo-Settings"))
	}
}

// TestContentLengthWithChunkedClosesConnection: RFC 9112 §6.1, a server
// must close the connection after answering a request that carries both
// Content-Length and Transfer-Encoding, and must not forward the length.
func TestContentLengthWithChunkedClosesConnection(t *testing.T) {
	seen := make(chan http.Header, 2)
	u := newUpstream(t, "u", func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Seen-Te", strings.Join(r.TransferEncoding, ","))
		if r.ContentLength >= 0 {
			h.Set("Seen-Cl", "yes")
		}
		b, _ := io.ReadAll(r.Body)
		h.Set("Seen-Body", string(b))
		seen <- h
	})
	p := New(Config{})
	p.Update(oneBackend("b", u.Target))
	front := newFront(t, p)

	smuggle := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	resp, _, closed := rawExchange(t, front, smuggle, false)
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200 (the body is read as chunked)", resp.StatusCode)
	}
	if !closed || !resp.Close {
		t.Errorf("connection open after CL+TE (Connection: close sent: %v), want it closed", resp.Close)
	}
	h := <-seen
	if h.Get("Seen-Cl") != "" || h.Get("Content-Length") != "" || h.Get("Seen-Body") != "hello" {
		t.Errorf("upstream saw Content-Length %q (declared: %q), body %q; want no length and body hello",
			h.Get("Content-Length"), h.Get("Seen-Cl"), h.Get("Seen-Body"))
	}

	// A plain request keeps its connection.
	resp, _, closed = rawExchange(t, front, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", false)
	<-seen
	if resp.StatusCode != 200 || closed {
		t.Errorf("plain POST: %d, closed %v; want 200 and keep-alive", resp.StatusCode, closed)
	}
}
