#!/usr/bin/env bash
# build.sh prepares everything the mall demo's compose.yaml builds from:
#   - static Go binaries (CGO_ENABLED=0) in api/bin, worker/bin and web/bin,
#     copied into scratch images by each service's Dockerfile;
#   - the local base image haven-mall/debian-data:bookworm (PostgreSQL 15 and
#     Redis from Debian packages), made by images/build-base.sh if missing.
# The images themselves are built from the compose build: sections by
# `haven up` (or `docker-compose build`). Safe to run again.
#
# Usage: examples/mall/build.sh [--force-base]
set -euo pipefail

MALL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$MALL/../.." && pwd)"
BASE_IMAGE=haven-mall/debian-data:bookworm

log() { echo "build: $*" >&2; }
die() { echo "build: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
command -v docker >/dev/null || die "docker is not on PATH"

cd "$REPO"
for svc in api worker web; do
	log "go build ./examples/mall/$svc -> examples/mall/$svc/bin/$svc (static)"
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$MALL/$svc/bin/$svc" "./examples/mall/$svc"
done

if [[ "${1:-}" == --force-base ]]; then
	log "rebuilding $BASE_IMAGE"
	"$MALL/images/build-base.sh" --force
elif docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
	log "$BASE_IMAGE exists"
else
	log "$BASE_IMAGE is missing: running images/build-base.sh (debootstrap, about a minute)"
	"$MALL/images/build-base.sh"
fi
log "done: binaries in examples/mall/*/bin, base image $BASE_IMAGE"
