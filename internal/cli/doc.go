// Package cli is the `haven` command line: one file per verb, each a thin
// layer that parses flags, calls the API through package client, and
// prints tables, JSON or YAML. Exit codes are part of its contract (see
// exit.go) so scripts and CI can act on them.
//
// The server itself is wired in cmd/haven and handed in as Deps.RunServer:
// only cmd knows every concrete type.
//
// May import: spec, compose, client, clientconfig, pki, api, audit, auth,
// control, driver, logs, metrics (wire types), cobra, gopkg.in/yaml.v3.
package cli
