#!/usr/bin/env bash
# The one test command, for a newcomer and for CI alike (.ci/run calls it):
# installs what the tests need on a fresh machine of this kind (Go and a
# running Docker Engine are assumed), checks formatting, vet and staticcheck,
# then runs every test. Extra arguments go to `go test` (e.g. -run TestX ./internal/proxy).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)   # the demo's PostgreSQL/Redis root filesystem
command -v prometheus >/dev/null || need+=(prometheus)     # a real Prometheus scrapes /metrics in tests
command -v wrk >/dev/null || need+=(wrk)                   # bench/proxy's load generator
command -v nginx >/dev/null || need+=(nginx-light)         # bench/proxy's reference
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the tests need: ${need[*]}; install them (apt-get install ${need[*]}) or run this as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
docker info >/dev/null 2>&1 || { echo "the Docker Engine is not running: start it (the Docker tests need it)" >&2; exit 1; }

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need \`gofmt -w\`:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
# staticcheck, pinned; installed into GOPATH/bin on first use (the Go module
# proxy is reachable here). staticcheck.conf says which checks and why.
staticcheck="$(go env GOPATH)/bin/staticcheck"
if ! "$staticcheck" -version 2>/dev/null | grep -q '0.8.2'; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
"$staticcheck" ./...

if [ $# -eq 0 ]; then
  set -- ./...
fi
go test -timeout 30m "$@"
