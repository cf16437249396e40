package proxy

import (
	"net/http"

	"github.com/haven-platform/haven/internal/spec"
)

// router matches a request against the routing table and passes it to the
// chain of its route, which Update built with the table.
type router struct{ p *Proxy }

func (m *router) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	ex.table, ex.host, ex.path = m.p.table.Load(), canonicalHost(r.Host), cleanPath(r.URL.Path)
	rt, ok := ex.table.match(ex.host, ex.path)
	if !ok {
		return &refusal{status: http.StatusNotFound, msg: "no route for " + ex.host + ex.path}
	}
	ex.route, ex.backend = rt, rt.backend
	if rt.strip {
		ex.prefix = rt.prefix
	}
	if len(rt.backend.eligible) == 0 {
		return &refusal{status: http.StatusServiceUnavailable, msg: "service " + rt.backend.name + " has no healthy instances"}
	}
	return rt.next.serve(w, r, ex)
}

// routeChain builds the chain of one route of be, with the route's limits.
func (p *Proxy) routeChain(sr spec.Route, be *backend) handler {
	return chain(p.forward, withLimits(p.cfg.limitsFor(sr.Limits), be.name, be.clients))
}
