// Package spec holds Haven's domain types: the desired state of an app
// (App, Service, Route, HealthCheck, …), the identity of what runs
// (InstanceLabels, revisions) and the states an instance moves through.
//
// It also holds the rules every input meets wherever it comes from
// (compose, the API, scale): Validate, the one canonical form of route
// hosts and paths that validation, the deploy-time conflict check and the
// ingress all compare in (route.go: CanonicalHost, CanonicalPath,
// Route.Key), the checks on them (CheckHost, CheckPath, Printable: no
// control characters in anything shown in a table) and the bounds on an
// app's size (limits.go).
//
// Every other package speaks in these types. spec imports the standard
// library only, so it can be read, tested and reused without Docker, a
// store or a network.
//
// May import: stdlib only.
package spec
