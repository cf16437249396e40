#!/usr/bin/env bash
# run.sh deploys the mall demo with Haven: it builds the demo's binaries and
# base image (build.sh), builds the haven binary from this repository, starts
# `haven up` in the background, waits for the ingress to serve the api and
# prints the products.
#
# Usage: examples/mall/run.sh
# Environment: HAVEN_INGRESS (default 127.0.0.1:8080), HAVEN_LOG (default
# /tmp/haven-mall.log), WAIT_SECONDS (default 180).
set -euo pipefail

MALL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$MALL/../.." && pwd)"
INGRESS="${HAVEN_INGRESS:-127.0.0.1:8080}"
HAVEN_LOG="${HAVEN_LOG:-/tmp/haven-mall.log}"
WAIT_SECONDS="${WAIT_SECONDS:-180}"

log() { echo "run: $*" >&2; }
die() { echo "run: ERROR: $*" >&2; exit 1; }

"$MALL/build.sh"

log "go build -o bin/haven ./cmd/haven"
(cd "$REPO" && go build -o bin/haven ./cmd/haven)

log "haven up -f examples/mall/compose.yaml (log: $HAVEN_LOG)"
(cd "$REPO" && exec ./bin/haven up -f examples/mall/compose.yaml) >"$HAVEN_LOG" 2>&1 &
haven_pid=$!
log "haven is running as pid $haven_pid; stop it with: kill $haven_pid"

log "waiting up to ${WAIT_SECONDS}s for http://$INGRESS/api/products (Host: mall.localhost)"
start=$(date +%s)
until curl -fsS -o /dev/null -H 'Host: mall.localhost' "http://$INGRESS/api/products" 2>/dev/null; do
	kill -0 "$haven_pid" 2>/dev/null || { tail -n 40 "$HAVEN_LOG" >&2; die "haven up exited"; }
	(($(date +%s) - start < WAIT_SECONDS)) || { tail -n 40 "$HAVEN_LOG" >&2; die "the api did not answer in time"; }
	sleep 1
done
log "the mall answered after $(($(date +%s) - start))s"

curl -s -H 'Host: mall.localhost' "http://$INGRESS/api/products"
echo
log "storefront: curl -H 'Host: mall.localhost' http://$INGRESS/ (or open http://mall.localhost:${INGRESS##*:}/)"
