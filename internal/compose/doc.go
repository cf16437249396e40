// Package compose turns a docker compose project (one or more compose files,
// merged in order, plus `x-haven` extensions) into a spec.App.
//
// Loading is done by compose-go, the loader Docker Compose itself uses, so
// interpolation, profiles, env files and multi-file merges behave exactly as
// users expect. On top of it this package adds what a production platform
// needs from its input: no key is silently dropped. Every compose key has a
// fate, written in docs/compose.md (the runtime keys in its "Runtime
// keys" section) and checked against compose-go's types and the
// rules of keys.go by docs_test.go: supported; supported with a stated
// difference; accepted with a warning (LoadResult's Warnings, printed by
// validate, deploy and up) because it changes nothing under Haven; or
// refused with the reason and what to write instead. `x-haven` is read
// against a strict schema, and every problem — YAML syntax, compose-go's
// own checks and spec.App.Validate — is reported with the file:line:col it
// came from and a way to fix it. The local files a project includes or
// extends are read too (source.go), so their keys are checked and their
// problems placed.
//
// Haven runs every service of an app and environment on one network, so
// the options of the declared networks fold into spec.App.Network, their
// aliases and pinned addresses into the service. A service name Docker
// Compose allows but a DNS label does not ("my_api") becomes the nearest
// label ("my-api"), with the compose name kept as an alias, and a warning.
// deploy.update_config becomes the service's rolling release policy.
//
// With one file, a problem no key can be pinned on (an app without
// services) is placed at the file's first line, so every problem with a
// readable file names it.
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
// The runtime keys (container_name, cap_add, sysctls, ulimits, devices, …)
// map to spec.ContainerOptions in container.go, which also places
// compose-go's refusals of their values on their line; a logging driver,
// accepted but unused, is one of LoadResult's Warnings like the others.
//
// May import: spec, compose-go, go.yaml.in/yaml.
package compose
