package proxy

import (
	"context"
	"errors"
	"html"
	"net"
	"net/http"
	"strings"
)

// serveError is the ReverseProxy's ErrorHandler: the one place an upstream
// error becomes a status code.
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeFrom(r.Context())
	name := ex.backend.name
	var maxBytes *http.MaxBytesError
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads a page. 499 is nginx's
		// convention for this, and only the access log shows it.
		ex.status = 499
	case errors.As(err, &maxBytes):
		p.writeError(w, r, ex, http.StatusRequestEntityTooLarge, "request body larger than the limit")
	case errors.Is(err, errNoTargets):
		p.writeError(w, r, ex, http.StatusServiceUnavailable, "service "+name+" has no healthy instances")
	case isDialError(err):
		p.writeError(w, r, ex, http.StatusBadGateway, "upstream connection failed for service "+name)
	case isTimeout(err):
		p.writeError(w, r, ex, http.StatusGatewayTimeout, "upstream timed out for service "+name)
	default:
		p.writeError(w, r, ex, http.StatusBadGateway, "upstream connection failed for service "+name)
	}
	if ex.status != 499 {
		p.log.Debug("upstream error", "request_id", ex.id, "backend", name, "status", ex.status, "err", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// writeError answers with a short page: HTML for browsers, plain text for
// everyone else. msg may contain client input (the host and path), so the
// HTML form escapes it.
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, ex *exchange, status int, msg string) {
	ex.status = status
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	title := http.StatusText(status)
	var body string
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		body = "<!doctype html><title>" + title + "</title><h1>" + title + "</h1><p>" + html.EscapeString(msg) +
			"</p><p><small>request " + ex.id + "</small></p>\n"
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		body = title + ": " + msg + "\nrequest " + ex.id + "\n"
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
