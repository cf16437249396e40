// Package api is Haven's HTTP/JSON interface: the wire types and the
// handlers that call package control. It is the only place that maps errors
// to HTTP status codes (see errorKind).
//
// May import: spec, store, driver, control, auth, audit, secrets, alerts,
// logs.
package api
