package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
)

// forward is the link at the end of every route's chain: it sends the
// request upstream through an httputil.ReverseProxy whose Transport is the
// balancer, which picks a target per attempt, so a retry on another
// target is invisible to the ReverseProxy. One forward serves every route:
// what differs between routes was decided by the links in front of it
// and travels in the exchange.
type forward struct{ rp *httputil.ReverseProxy }

func newForward(p *Proxy) *forward {
	return &forward{rp: &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      &balancer{p: p},
		BufferPool:     newBufferPool(),
		ModifyResponse: modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.serveError(w, r, exchangeFrom(r.Context()), err)
		},
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}}
}

// serve answers upstream failures itself, through serveError (see there),
// so it returns no error.
func (f *forward) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	// The balancer is a Transport: the request's context is all it gets.
	f.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
	return nil
}

// rewrite builds the upstream request: the identity headers from the
// socket (setIdentity), the request ID (setRequestID), and the path the route forwards. Host is kept:
// apps see the public host. The balancer fills in URL.Host per attempt.
func rewrite(pr *httputil.ProxyRequest) {
	ex := exchangeFrom(pr.In.Context())
	setIdentity(pr)
	setRequestID(pr.Out.Header, ex)
	u := pr.Out.URL
	u.Scheme = "http"
	switch {
	case ex.prefix != "":
		u.Path = stripPrefix(ex.path, ex.prefix)
		// Keep the client's escaping (say %2F) when it strips cleanly;
		// URL.EscapedPath ignores a RawPath that does not encode Path.
		if u.RawPath != "" && ex.path == pr.In.URL.Path && hasPathPrefix(u.RawPath, ex.prefix) {
			u.RawPath = stripPrefix(u.RawPath, ex.prefix)
		} else {
			u.RawPath = ""
		}
	case ex.path != pr.In.URL.Path:
		u.Path, u.RawPath = ex.path, ""
	}
}

// modifyResponse notes the upstream's status for the access log, and
// drops its X-Request-Id (see dropUpstreamRequestID).
func modifyResponse(resp *http.Response) error {
	dropUpstreamRequestID(resp.Header)
	if ex := exchangeFrom(resp.Request.Context()); ex != nil {
		ex.status = resp.StatusCode
	}
	return nil
}

// bufferPool lends ReverseProxy its copy buffers.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { return make([]byte, 32<<10) }}}
}

func (b *bufferPool) Get() []byte { return b.pool.Get().([]byte) }
func (b *bufferPool) Put(s []byte) {
	//lint:ignore SA6002 a slice header per Put is cheaper than a 32 KiB buffer per request
	b.pool.Put(s[:cap(s)])
}
