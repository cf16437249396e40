package proxy

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorPages: a link's refusal becomes the page with its status, the
// connection closes only for a refusal that says so, and a served request
// is left alone.
func TestErrorPages(t *testing.T) {
	p := New(Config{})
	for _, tt := range []struct {
		name   string
		err    error
		status int
		close  bool
	}{
		{"served", nil, http.StatusOK, false},
		{"not found", &refusal{status: http.StatusNotFound, msg: "no route for <x>"}, http.StatusNotFound, false},
		{"limit", &refusal{status: http.StatusTooManyRequests, msg: "too many", close: true}, http.StatusTooManyRequests, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := &next{err: tt.err}
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept", "text/html")
			w := httptest.NewRecorder()
			ex := &exchange{id: "rid"}
			if err := (&errorPages{p: p, next: n}).serve(w, r, ex); err != nil {
				t.Fatalf("errorPages returned %v; it answers errors itself", err)
			}
			if w.Code != tt.status || (tt.err != nil && ex.status != tt.status) {
				t.Errorf("status %d (exchange %d), want %d", w.Code, ex.status, tt.status)
			}
			if got := w.Header().Get("Connection") == "close"; got != tt.close {
				t.Errorf("Connection: close %v, want %v", got, tt.close)
			}
			if tt.err == nil {
				return
			}
			body := w.Body.String()
			if !strings.Contains(body, "request rid") || strings.Contains(body, "<x>") {
				t.Errorf("page lacks the request ID or the escaping: %s", body)
			}
		})
	}
}

// TestErrorPagesUpstreamFailure: an error that is no refusal is the
// upstream's, mapped by classify: a dial failure is 502.
func TestErrorPagesUpstreamFailure(t *testing.T) {
	p := New(Config{})
	w := httptest.NewRecorder()
	ex := &exchange{id: "rid", routed: routed{backend: &backend{name: "shop/web"}}}
	n := &next{err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	_ = (&errorPages{p: p, next: n}).serve(w, httptest.NewRequest("GET", "/", nil), ex)
	if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "shop/web") {
		t.Errorf("status %d, body %q, want 502 naming the service", w.Code, w.Body)
	}
}
