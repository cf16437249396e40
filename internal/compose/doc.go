// Package compose turns a docker compose project (one or more compose files,
// merged in order, plus `x-haven` extensions) into a spec.App.
//
// Loading is done by compose-go, the loader Docker Compose itself uses, so
// interpolation, profiles, env files and multi-file merges behave exactly as
// users expect. On top of it this package adds what a production platform
// needs from its input: every key Haven does not implement yet is refused
// instead of being silently dropped, `x-haven` is read against a strict
// schema, and every problem — YAML syntax, compose-go's own checks and
// spec.App.Validate — is reported with the file:line:col it came from and a
// way to fix it. With one file, a problem no key can be pinned on (an app
// without services) is placed at the file's first line, so every problem
// with a readable file names it.
//
// FuzzLoad (fuzz_test.go) feeds arbitrary bytes to Load and checks the
// contract: no panic or hang, an App that validates (and survives the
// server's strict JSON decode) or a spec.ErrInvalid whose problems each
// carry file:line when the input is YAML. Run it with
// `go test -run XXX -fuzz FuzzLoad -parallel 1 ./internal/compose`; found
// inputs are kept under testdata/fuzz/FuzzLoad and run by plain `go test`.
//
// Two things compose allows are refused because the result is stored and
// shown to everyone who may read the app: Haven's own credential variables
// (HAVEN_TOKEN, HAVEN_MASTER_KEY, HAVEN_MASTER_KEY_NEXT) are taken out of
// the interpolation environment and any reference to them is an error
// (credentials.go), and a compose file larger than MaxFileBytes is not
// read. Route hosts and paths are checked with spec's rules and stored in
// spec's canonical form, as API deploys are.
//
// May import: spec, compose-go, go.yaml.in/yaml.
package compose
