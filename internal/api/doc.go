// Package api is Haven's HTTP/JSON interface: the wire types and the
// handlers that call package control. It is the only place that maps errors
// to HTTP status codes (see errorKind).
//
// `haven exec` is the one call that is not request/response: it upgrades
// the connection to a framed protocol (verbs.go) after the guard has
// authorized and audited it.
//
// Each route declares the permission it needs (routes.go). Deploying an
// app, or a new image for a service, whose options could take the node
// over also needs auth.PermAppDeployPrivileged (privileged.go): the route's
// permission alone lets a developer deploy, not root the machine.
//
// May import: spec, store, driver, control, auth, audit, secrets, alerts,
// logs.
package api
