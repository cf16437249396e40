package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// errNoTargets means the backend had no target left to try.
var errNoTargets = errors.New("no healthy targets")

// balancer is the ReverseProxy's Transport. It picks a target per attempt
// and retries on another target when that is safe, so the ReverseProxy sees
// a single round trip however many targets were tried.
type balancer struct{ p *Proxy }

var _ http.RoundTripper = (*balancer)(nil)

// RoundTrip sends req to the least-loaded target of the request's backend.
//
// A failed attempt is retried on another target when the request cannot
// have had an effect, or is allowed to have it twice:
//   - a dial failure (refused, unreachable, connect timeout) means the
//     request never reached an instance: any method is retried, as long as
//     no byte of its body was read;
//   - any other failure before a response (reset, EOF) may come after the
//     instance acted: only idempotent methods (RFC 9110: GET, HEAD,
//     OPTIONS, TRACE, PUT, DELETE) or requests carrying an Idempotency-Key
//     are retried, and only without a body, which cannot be replayed.
//
// Only a dial failure ejects the target. A reset can be caused by the
// request itself (a handler that crashes on it); ejecting for that would let
// one bad request, retried, eject every target in turn.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchangeFrom(req.Context())
	body := ex.body
	switch {
	case body != nil && req.Body != nil:
		// Past ReverseProxy's wrapper, whose Close (by the Transport, on
		// a refused connection) would end the body before a retry could
		// read it; clientBody stops reads once the handler returned, as
		// the wrapper does.
		req.Body = body
	case body == nil && req.Body != nil && req.Body != http.NoBody:
		body = &clientBody{r: req.Body} // not from ServeHTTP; still replayable
		req.Body = body
	}

	var tried []*target
	var lastErr error
	var last member // the member of the last attempt, charged with its failure
	var lastStart time.Time
	out := req
	for attempt := 0; attempt < b.p.cfg.MaxAttempts; {
		now := time.Now()
		m := ex.backend.pick(now.UnixNano(), tried)
		if m.t == nil && lastErr == nil && b.p.refresh(ex) {
			m = ex.backend.pick(now.UnixNano(), tried)
		}
		t := m.t
		if t == nil {
			break
		}
		tried = append(tried, t)
		if !t.acquire() {
			continue // started draining after we read the table; try another
		}
		attempt++
		if attempt > 1 {
			// The previous attempt's request may still be referenced by the
			// transport; give this one its own URL.
			out = req.WithContext(req.Context())
			u := *req.URL
			out.URL = &u
		}
		out.URL.Host = t.addr
		ex.target, ex.group, ex.attempts = t, m.stats.name, attempt

		resp, err := t.transport.RoundTrip(out)
		if err == nil {
			m.stats.record(resp.StatusCode, time.Since(now))
			resp.Body = wrapReleaseBody(resp, t)
			return resp, nil
		}
		t.release()
		lastErr, last, lastStart = err, m, now

		dial := isDialError(err)
		if dial && t.eject(now, now.Add(b.p.cfg.EjectCooldown)) {
			b.p.log.Warn("target ejected", "target", t.id, "addr", t.addr, "backend", ex.backend.name,
				"for", b.p.cfg.EjectCooldown, "err", err)
		}
		if req.Context().Err() != nil || !retryable(req, body, dial) {
			break
		}
	}
	if lastErr == nil {
		return nil, errNoTargets
	}
	// Only the last failure is charged: an earlier one was retried, and
	// what the client sees is the last. A failure of the client's own (see
	// classify) is not the group's: a broken body reaches no counter, and
	// a client that went away counts as a request, with the time it
	// waited, but not as an error.
	now := time.Now()
	status, upstream := classify(req, ex, lastErr, now)
	ex.failStatus = status
	if upstream || status == statusClientClosed {
		last.stats.record(status, now.Sub(lastStart))
	}
	return nil, lastErr
}

// refresh re-matches a request whose backend ran out of targets against a
// newer routing table. Between ServeHTTP reading the table and the balancer
// picking, Updates may have moved every target of the old table to
// draining; the new table has their replacements. The new route must be the
// same (prefix and strip) as the old, because Rewrite already shaped the
// path by the old one.
func (p *Proxy) refresh(ex *exchange) bool {
	cur := p.table.Load()
	if cur == ex.table {
		return false
	}
	rt, ok := cur.match(ex.host, ex.path)
	if !ok || rt.prefix != ex.route.prefix || rt.strip != ex.route.strip || rt.backend.name != ex.backend.name {
		return false
	}
	ex.table, ex.route, ex.backend = cur, rt, rt.backend
	return true
}

func retryable(req *http.Request, body *clientBody, dial bool) bool {
	if dial {
		return body == nil || !body.started.Load()
	}
	if body != nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// isDialError reports whether err happened while connecting, before any
// byte of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// releaseBody ends a request's claim on its target when the ReverseProxy
// closes the response body, which it always does, also on errors. Counting
// to the end of the body, not the end of the headers, is what lets Drain
// wait for streamed responses.
type releaseBody struct {
	io.ReadCloser
	t    *target
	done atomic.Bool
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done.CompareAndSwap(false, true) {
		b.t.release()
	}
	return err
}

// releaseConn is releaseBody for a 101 Switching Protocols response, whose
// body is the upgraded connection: ReverseProxy needs it to be writable.
type releaseConn struct{ *releaseBody }

func (c releaseConn) Write(p []byte) (int, error) {
	return c.ReadCloser.(io.Writer).Write(p)
}

func wrapReleaseBody(resp *http.Response, t *target) io.ReadCloser {
	rb := &releaseBody{ReadCloser: resp.Body, t: t}
	if _, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		return releaseConn{rb}
	}
	return rb
}
