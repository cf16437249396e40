// Package spec holds Haven's domain types: the desired state of an app
// (App, Service, Route, HealthCheck, …), the identity of what runs
// (InstanceLabels, revisions) and the states an instance moves through.
//
// Every other package speaks in these types. spec imports the standard
// library only, so it can be read, tested and reused without Docker, a
// store or a network.
//
// May import: stdlib only.
package spec
