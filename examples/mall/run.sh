#!/usr/bin/env bash
# run.sh deploys the mall demo with Haven: it builds the demo's binaries and
# base image (build.sh), builds the haven binary from this repository, runs
# `haven up` (which waits until every service is healthy) and prints the
# products read from PostgreSQL through Haven's ingress.
#
# Usage: examples/mall/run.sh
# Environment: HAVEN_INGRESS (default 127.0.0.1:8080), WAIT_SECONDS (default 180).
set -euo pipefail

MALL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$MALL/../.." && pwd)"
INGRESS="${HAVEN_INGRESS:-127.0.0.1:8080}"
WAIT_SECONDS="${WAIT_SECONDS:-180}"

log() { echo "run: $*" >&2; }
die() { echo "run: ERROR: $*" >&2; exit 1; }

"$MALL/build.sh"

log "go build -o bin/haven ./cmd/haven"
(cd "$REPO" && go build -o bin/haven ./cmd/haven)

# haven up starts a server in the background when none runs (its log is
# ~/.haven/server.log), deploys, and waits until every service is healthy.
log "haven up -f examples/mall/compose.yaml --ingress $INGRESS"
(cd "$REPO" && ./bin/haven up -f examples/mall/compose.yaml --ingress "$INGRESS" --timeout "${WAIT_SECONDS}s")

log "GET http://$INGRESS/api/products (Host: mall.localhost), through Haven's ingress:"
curl -fsS -H 'Host: mall.localhost' "http://$INGRESS/api/products"
echo
log "storefront: curl -H 'Host: mall.localhost' http://$INGRESS/ (or open http://mall.localhost:${INGRESS##*:}/)"
log "status: bin/haven status; logs: bin/haven logs api -f; stop: bin/haven down"
