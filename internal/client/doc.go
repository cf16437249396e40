// Package client is the typed Go client of Haven's HTTP API, used by the
// CLI and by tests. It speaks to a server over its unix socket (the local
// default) or a TCP address.
//
// May import: spec, api, alerts, audit, auth, control, logs, metrics, secrets
// (wire types).
package client
