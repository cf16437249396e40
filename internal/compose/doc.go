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
// way to fix it.
//
// Two things compose allows are refused because the result is stored and
// shown to everyone who may read the app: Haven's own credential variables
// (HAVEN_TOKEN, HAVEN_MASTER_KEY, HAVEN_MASTER_KEY_NEXT) are taken out of
// the interpolation environment and any reference to them is an error
// (credentials.go), and a compose file larger than MaxFileBytes is not
// read. Route hosts and paths are checked with spec's rules and stored in
// spec's canonical form, as API deploys are.
//
// The runtime keys (container_name, cap_add, sysctls, ulimits, devices, …)
// map to spec.ContainerOptions in container.go, which also places
// compose-go's refusals of their values on their line. Warnings lists what
// is accepted but changes nothing under Haven (a logging driver), for the
// CLI to print.
//
// May import: spec, compose-go, go.yaml.in/yaml.
package compose
