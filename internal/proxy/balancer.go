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

// RoundTrip sends req to the least-loaded target of the request's backend,
// and on a failure before an answer tries another one when the retry rule
// (retryable) allows it. The picking, in-flight counts, ejection and
// statistics are the core's (tries); this is their HTTP front end.
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
		body = &clientBody{r: req.Body} // not from limitRequests; still replayable
		req.Body = body
	}

	s := b.p.tries(&ex.routed)
	out := req
	for {
		now := time.Now()
		m, ok := s.next(now)
		if !ok {
			break
		}
		if ex.attempts > 1 {
			// The previous attempt's request may still be referenced by the
			// transport; give this one its own URL.
			out = req.WithContext(req.Context())
			u := *req.URL
			out.URL = &u
		}
		out.URL.Host = m.t.addr

		resp, err := m.t.transport.RoundTrip(out)
		if err == nil {
			s.succeeded(resp.StatusCode, time.Now())
			resp.Body = wrapReleaseBody(resp, m.t)
			return resp, nil
		}
		dial := isDialError(err)
		s.failed(err, dial, now)
		if req.Context().Err() != nil ||
			!retryable(dial, req.Method, req.Header.Get("Idempotency-Key") != "", body != nil, body != nil && body.started.Load()) {
			break
		}
	}
	if s.failure == nil {
		return nil, errNoTargets
	}
	// A failure of the client's own (see classify) is not the group's: a
	// broken body reaches no counter, and a client that went away counts
	// as a request, with the time it waited, but not as an error.
	now := time.Now()
	status, upstream := classify(req, ex, s.failure, now)
	ex.failStatus = status
	if upstream || status == statusClientClosed {
		s.charge(status, now)
	}
	return nil, s.failure
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
