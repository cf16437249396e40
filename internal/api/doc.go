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
// Bad input is the caller's to fix, so it never answers 5xx: FuzzDecode
// (fuzz_test.go) sends arbitrary bodies as an admin to every route that
// reads one, over HTTP against one real server per fuzzing process
// (bbolt, auth, audit, secrets; an agent that never starts anything), and
// fails on a 5xx, a hang, a refusal without kind and message, or an answer
// that repeats a password or a secret's value. Run it with
// `go test -run XXX -fuzz FuzzDecode -parallel 1 ./internal/api`; found
// inputs are kept under testdata/fuzz/FuzzDecode and run by plain
// `go test`.
//
// May import: spec, store, driver, control, auth, audit, secrets, alerts,
// logs.
package api
