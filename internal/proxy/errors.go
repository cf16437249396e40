package proxy

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"
	"time"
)

// statusClientClosed is nginx's convention for a request whose client went
// away before the response: nobody reads it, and only the access log shows
// it.
const statusClientClosed = 499

// classify decides what a failed request's client gets, and whether the
// failure is the upstream's, to be charged to the target's group. It is
// shared by the balancer, which records the group's statistics, and
// serveError, so a group is charged with exactly the upstream failures its
// clients saw.
//
// The client's own failures come first: a body that broke (bad chunked
// framing, cut short, over the limit, too slow) makes the upstream request
// fail too, with whatever error the Transport saw last, and a client that
// went away cancels it. Neither says anything about the upstream, and an
// anonymous client must not be able to fail a canary by sending them.
func classify(r *http.Request, ex *exchange, err error, now time.Time) (status int, upstream bool) {
	if berr := ex.body.fault(now, err); berr != nil {
		return bodyStatus(berr), false
	}
	switch {
	case r.Context().Err() != nil:
		return statusClientClosed, false
	case errors.Is(err, errNoTargets):
		return http.StatusServiceUnavailable, false
	case isDialError(err):
		return http.StatusBadGateway, true
	case isTimeout(err):
		return http.StatusGatewayTimeout, true
	}
	return http.StatusBadGateway, true
}

// refusal is a link's answer to a request it will not pass on: the status
// and message of the error page, and whether the connection closes after
// it (the client broke the protocol or a limit; see refuse).
type refusal struct {
	status int
	msg    string
	close  bool
}

func (e *refusal) Error() string { return e.msg }

// errorPages turns the error a link returns into the response. It sits
// inside the access log and the request ID, so the page carries the ID and
// the log its status.
type errorPages struct {
	p    *Proxy
	next handler
}

func (m *errorPages) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	if err := m.next.serve(w, r, ex); err != nil {
		m.p.serveError(w, r, ex, err)
	}
	return nil
}

// serveError is the one place an error becomes a response: the errorPages
// link calls it for the errors links return, and the ReverseProxy's
// ErrorHandler for the upstream's. The ReverseProxy keeps its own exit
// because it reports some failures where a response is under way (an
// upgrade whose hijack failed), and because the request body's
// bookkeeping after the upstream (see limitRequests) must follow the page.
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, ex *exchange, err error) {
	if rf, ok := err.(*refusal); ok {
		if rf.close {
			p.refuse(w, r, ex, rf.status, rf.msg)
		} else {
			p.writeError(w, r, ex, rf.status, rf.msg)
		}
		return
	}
	name := ex.backend.name
	status := ex.failStatus // set by the balancer, which saw the failure first
	if status == 0 {
		status, _ = classify(r, ex, err, time.Now())
	}
	switch status {
	case statusClientClosed:
		ex.status = status // the client went away; nobody reads a page
	case http.StatusBadRequest:
		p.refuse(w, r, ex, status, "the request body could not be read (broken chunked encoding, or cut short)")
	case http.StatusRequestTimeout:
		p.refuse(w, r, ex, status, "the request body arrived too slowly")
	case http.StatusRequestEntityTooLarge:
		p.refuse(w, r, ex, status, fmt.Sprintf("request body larger than the limit of %d bytes", ex.body.limit))
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

// refuse answers with an error page and closes the connection: the client
// broke the protocol or a limit, and what follows on its connection (the
// rest of a body nobody read, say) cannot be trusted to frame a next
// request. A body still unread gets lingerAfterRefusal to arrive, for the
// server's attempt to drain it, so refused clients cannot pile up.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, ex *exchange, status int, msg string) {
	w.Header().Set("Connection", "close")
	if r.Body != nil && r.Body != http.NoBody && (ex.body == nil || !ex.body.eof.Load()) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(lingerAfterRefusal))
	}
	p.writeError(w, r, ex, status, msg)
}

// lingerAfterRefusal is how long a refused request's unread body may keep
// arriving before the connection is dropped.
const lingerAfterRefusal = 2 * time.Second

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
