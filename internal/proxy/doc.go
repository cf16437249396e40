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
// Request path: ServeHTTP matches the routing table (an immutable value
// swapped atomically by Update, so lookups take no lock), then hands the
// request to an httputil.ReverseProxy whose Transport is a balancer: the
// balancer picks a target per attempt, so a retry on another target is
// invisible to the ReverseProxy, which sees one round trip.
//
// May import: spec and stdlib.
package proxy
