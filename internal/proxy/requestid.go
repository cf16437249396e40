package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// requestIDs gives every request its ID: in the response, in the request
// the upstream gets (so an app's logs carry it), in error pages and in the
// access log. It comes first after the access log, so every answer has one.
type requestIDs struct {
	trust bool // Config.TrustRequestID
	next  handler
}

func withRequestIDs(trust bool) middleware {
	return func(next handler) handler { return &requestIDs{trust: trust, next: next} }
}

func (m *requestIDs) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	ex.id = requestID(r, m.trust)
	ex.idHeader = []string{ex.id}
	w.Header()["X-Request-Id"] = ex.idHeader
	return m.next.serve(w, r, ex)
}

// setRequestID puts the request's ID in the upstream's copy of its
// headers, replacing a client's own, for forward's Rewrite: the copy, not
// the client's request, because ReverseProxy sizes the copy for the
// headers it adds. The value's slice is the response header's: neither
// is ever changed in place.
func setRequestID(out http.Header, ex *exchange) {
	if ex.idHeader != nil {
		out["X-Request-Id"] = ex.idHeader
	}
}

// requestID returns the ID for r: the client's when trusted and well formed,
// else 16 random bytes in hex.
func requestID(r *http.Request, trust bool) string {
	if trust {
		if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
			return id
		}
	}
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:", c) >= 0) {
			return false
		}
	}
	return true
}

// dropUpstreamRequestID removes an upstream's X-Request-Id from its
// response: the proxy's own is already in the response headers, and one
// request should carry one ID.
func dropUpstreamRequestID(h http.Header) { delete(h, "X-Request-Id") }
