package proxy

import (
	"net/http"
	"strings"
)

// hygiene keeps the ingress an HTTP/1.1 proxy: requests that would reach
// an app as something other than what the ingress routed and limited are
// refused or defused before routing.
type hygiene struct{ next handler }

func withHygiene(next handler) handler { return &hygiene{next: next} }

func (m *hygiene) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	if r.ProtoMajor != 1 || r.Method == "PRI" {
		// Go's server hands the h2c preface ("PRI * HTTP/2.0") to the
		// handler; forwarded, it would reach the app as an HTTP/1.1 request.
		return &refusal{status: http.StatusHTTPVersionNotSupported, msg: "this ingress speaks HTTP/1.1 only; HTTP/2 needs TLS", close: true}
	}
	if up := r.Header["Upgrade"]; len(up) > 0 && hasToken(up, "h2c") {
		// An h2c upgrade would hand the client an HTTP/2 connection to
		// the app, on which its next requests bypass routing and limits
		// ("h2c smuggling"). Without the header the request goes on as
		// HTTP/1.1, which is what the client falls back to.
		delete(r.Header, "Upgrade")
		delete(r.Header, "Http2-Settings")
	}
	if len(r.TransferEncoding) > 0 {
		// RFC 9112 §6.1: after a request with both Transfer-Encoding and
		// Content-Length, the server must close the connection, the two
		// framings having possibly been read differently by someone on the
		// way. Go's server drops the Content-Length (so it is never
		// forwarded) but keeps the connection open, and leaves no trace of
		// whether one was sent; so every chunked request closes its
		// connection. That costs little: browsers send lengths.
		w.Header().Set("Connection", "close")
	}
	return m.next.serve(w, r, ex)
}

// hasToken reports whether a comma-separated header's values hold token,
// in any case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
