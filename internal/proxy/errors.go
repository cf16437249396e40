package proxy

import (
	"context"
	"errors"
	"html"
	"net"
	"net/http"
	"strings"
)

// statusClientClosed is nginx's convention for a request whose client went
// away before the response: nobody reads it, and only the access log shows
// it.
const statusClientClosed = 499

// errorStatus maps an error from the balancer to the status the client
// gets. It is shared by serveError and the group statistics, so a group is
// charged with exactly the errors its clients saw.
func errorStatus(r *http.Request, err error) int {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return statusClientClosed
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errNoTargets):
		return http.StatusServiceUnavailable
	case isDialError(err):
		return http.StatusBadGateway
	case isTimeout(err):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// serveError is the ReverseProxy's ErrorHandler: the one place an upstream
// error becomes a response.
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeFrom(r.Context())
	name := ex.backend.name
	switch status := errorStatus(r, err); status {
	case statusClientClosed:
		ex.status = status // the client went away; nobody reads a page
	case http.StatusRequestEntityTooLarge:
		p.writeError(w, r, ex, status, "request body larger than the limit")
	case http.StatusServiceUnavailable:
		p.writeError(w, r, ex, status, "service "+name+" has no healthy instances")
	case http.StatusGatewayTimeout:
		p.writeError(w, r, ex, status, "upstream timed out for service "+name)
	default:
		p.writeError(w, r, ex, status, "upstream connection failed for service "+name)
	}
	if ex.status != statusClientClosed {
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
