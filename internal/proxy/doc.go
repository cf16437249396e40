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
// Request path: ServeHTTP matches the routing table (an immutable value
// swapped atomically by Update, so lookups take no lock), then hands the
// request to an httputil.ReverseProxy whose Transport is a balancer: the
// balancer picks a target per attempt, so a retry on another target is
// invisible to the ReverseProxy, which sees one round trip.
//
// May import: spec and stdlib.
package proxy
