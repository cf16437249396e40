// Package proxy is Haven's ingress: it routes each HTTP request by Host and
// path prefix to a backend (one service of one app environment), balances
// it onto the backend's least-loaded healthy target, retries safely when a
// target cannot be reached, and drains targets before their instances stop.
//
// The agent owns the inputs: it calls Update with the healthy targets of
// every routed service whenever health or placement changes, and Drain
// before it stops an instance. The proxy makes no health decisions of its
// own beyond ejecting, for a short cooldown, a target it failed to connect
// to.
//
// Releases: each Target carries a Group (the agent sets the instance's
// revision hash) and a Backend may carry Weights, percent per group. With
// weights, each request draws a group in proportion to the weights of the
// groups that have a usable target, then takes that group's least loaded
// target; a group weighing 0 gets nothing, which is how blue-green keeps
// the idle set warm and a canary starts at 0%. Since weights live in the
// routing table, a weight change is as atomic as any Update. For canary
// analysis, Stats returns per group counters of requests, errors and a
// latency histogram (time to response headers), cumulative and kept across
// Updates; a release controller snapshots them when a step begins and
// compares the two groups' windows (GroupStats.Sub, ErrorRate, Quantile)
// when it ends. The counters are atomic adds on the request path.
//
// Request path: a chain of links, each concern in its own file with its
// own tests. A link is a handler, serve(w, r, ex) error, like Caddy's
// ServeHTTP(w, r, next) error; a middleware is func(next handler) handler,
// called when a chain is built, not per request, so that what a link
// decides from configuration (a route's limits, later its WAF rules and
// headers) it decides once and keeps in the link; Caddy's form would pass
// next per call and still need a closure per link to bind it. The
// per-request state, the exchange, is an argument, not a context value,
// which would cost a context and a request copy per link. A link that will
// not serve a request returns an error (a refusal with its status, or an
// upstream failure); errorPages is the one place an error becomes a page,
// through serveError and classify.
//
// New builds the front chain, the same for every request:
//
//	accessLog → requestIDs → errorPages → hygiene → router
//
// (accesslog.go, requestid.go, errors.go, hygiene.go, router.go; the
// access log is left out without Config.AccessLog). The router matches the
// routing table (an immutable value swapped atomically by Update, so
// lookups take no lock) and hands the request to its route's chain, which
// Update built with the table:
//
//	limitRequests (the route's limits) → forward
//
// (limits.go, forward.go). forward is an httputil.ReverseProxy whose
// Rewrite sets the identity headers from the socket (identity.go: there,
// not in a link, because ReverseProxy strips X-Forwarded-* from the
// upstream's copy of the request just before Rewrite) and the request ID,
// and whose Transport is the balancer: the balancer picks a
// target per attempt, so a retry on another target is invisible to the
// ReverseProxy, which sees one round trip. Upstream failures leave the
// ReverseProxy through its ErrorHandler, which calls serveError too: the
// ReverseProxy reports some of them where a response is under way.
//
// The transport-neutral core (core.go, table.go, target.go, stats.go) is
// what any front end calls once it has a route: routed (the request's
// route and attempts), tries (picking the least loaded target of a weighed
// group, counting it in flight, ejecting, charging the group's
// statistics), the retry rule, refresh against a newer table, and
// draining. None of it uses a net/http type, except the per-target
// http.Transport that the HTTP front end dials with and a route's chain,
// which a second front end would sit beside.
//
// Whose fault: only the upstream's failures (refused or reset connections,
// timeouts waiting for it, its 5xx) count as errors of the target's group.
// A client's own (a body with broken chunked framing or cut short: 400;
// too slow, or paused a second or more before the app gave up on it: 408;
// over the size limit: 413; gone: 499) never do, or an anonymous client
// could fail a healthy canary. The body is wrapped (clientBody) so that
// its failures are known at the source, whatever error the Transport
// reports afterwards.
//
// Limits: each route has a body size limit (a declared Content-Length over
// it is refused before any upstream is contacted), a per-read body
// timeout, and a bound on the requests one client address (an IPv6 /64)
// may have in flight to the backend (429 beyond it), which bounds the
// upstream connections slow clients can hold. Config has the defaults
// (64 MiB, 30s, 128), spec.RouteLimits the per-route overrides. A refused
// request gets Connection: close.
//
// HTTP/1.1 hygiene: the client's X-Forwarded-*, Forwarded, X-Real-IP and
// the other headers apps read a client's identity or original URL from
// (see proxyHeader) are dropped; X-Forwarded-For/Host/Proto and X-Real-IP
// are rebuilt from the socket. The h2c preface (PRI * HTTP/2.0) is
// answered 505 and an Upgrade: h2c is not passed on: this ingress speaks
// HTTP/1.1 to clients. A chunked request closes its connection after the
// response (RFC 9112 §6.1: Go's server drops a Content-Length sent beside
// Transfer-Encoding, so it is never forwarded, but keeps no trace of it).
//
// May import: spec and stdlib.
package proxy
