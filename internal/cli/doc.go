// Package cli is the `haven` command line: one file per verb, each a thin
// layer that parses flags, calls the API through package client, and
// prints tables, JSON or YAML. Exit codes are part of its contract (see
// exit.go) so scripts and CI can act on them.
//
// Everything printed for a terminal that came from the server — table
// cells, status messages, log lines shown by status, error text — goes
// through one escaping function (output.go's cell and text): control
// characters, C1 and bidi controls and invalid bytes are shown as Go
// escapes, so no name, route or message can carry an escape sequence.
// JSON and YAML output are encoded, not escaped. `haven logs` prints an
// app's own output as it wrote it.
//
// The server itself is wired in cmd/haven and handed in as Deps.RunServer:
// only cmd knows every concrete type.
//
// May import: spec, compose, client, clientconfig, pki, api, audit, auth,
// control, driver, logs, metrics (wire types), cobra, gopkg.in/yaml.v3,
// golang.org/x/term.
package cli
