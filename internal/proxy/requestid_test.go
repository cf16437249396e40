package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequestIDs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		trust  bool
		client string
		keep   bool
	}{
		{"none sent", false, "", false},
		{"untrusted client's", false, "abc-123", false},
		{"trusted client's", true, "abc-123", true},
		{"trusted but malformed", true, "a b<script>", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := &next{}
			r := httptest.NewRequest("GET", "/", nil)
			if tt.client != "" {
				r.Header.Set("X-Request-Id", tt.client)
			}
			w := httptest.NewRecorder()
			ex := &exchange{}
			if err := withRequestIDs(tt.trust)(n).serve(w, r, ex); err != nil || !n.called {
				t.Fatalf("err %v, next called %v", err, n.called)
			}
			switch got := w.Header().Get("X-Request-Id"); {
			case got != ex.id:
				t.Errorf("response carries %q, the exchange %q", got, ex.id)
			case tt.keep && got != tt.client:
				t.Errorf("id %q, want the trusted client's %q", got, tt.client)
			case !tt.keep && (len(got) != 32 || got == tt.client):
				t.Errorf("id %q, want 32 random hex digits", got)
			}
			out := http.Header{"X-Request-Id": {tt.client}}
			setRequestID(out, ex)
			if v := out["X-Request-Id"]; len(v) != 1 || v[0] != ex.id {
				t.Errorf("upstream gets X-Request-Id %q, want only %q", v, ex.id)
			}
		})
	}
}

// TestDropUpstreamRequestID: the client sees the proxy's ID, not the app's.
func TestDropUpstreamRequestID(t *testing.T) {
	h := http.Header{"X-Request-Id": {"from-app"}, "Content-Type": {"text/plain"}}
	dropUpstreamRequestID(h)
	if _, ok := h["X-Request-Id"]; ok || h.Get("Content-Type") == "" {
		t.Errorf("headers after: %v", h)
	}
}
