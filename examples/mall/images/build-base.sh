#!/usr/bin/env bash
# build-base.sh creates the local Docker image haven-mall/debian-data:bookworm:
# a Debian bookworm minbase root filesystem with PostgreSQL 15 and Redis,
# built with debootstrap and imported with `docker import`, because no
# container registry is reachable. The postgres and redis images of the mall
# demo are built FROM it.
#
# Usage: build-base.sh [--force]
#   --force   rebuild even if the image already exists
# Environment:
#   MIRROR    Debian mirror (default: first deb.debian.org-style URI found in
#             /etc/apt/sources.list*, else http://deb.debian.org/debian)
#   IMAGE     image name (default haven-mall/debian-data:bookworm)
set -euo pipefail

IMAGE="${IMAGE:-haven-mall/debian-data:bookworm}"
SUITE=bookworm
FORCE=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "build-base.sh: unknown argument $arg" >&2; exit 2 ;;
	esac
done

log() { echo "build-base: $*" >&2; }
die() { echo "build-base: ERROR: $*" >&2; exit 1; }

if [[ $FORCE -eq 0 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
	log "$IMAGE already exists (use --force to rebuild)"
	exit 0
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot, mount)"
if ! command -v debootstrap >/dev/null; then
	log "installing debootstrap (Debian package)"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
		die "debootstrap missing and could not be installed: apt-get install -y debootstrap"
fi
command -v docker >/dev/null || die "docker CLI missing"

# pick_mirror finds the host's Debian mirror so the build works where only a
# local mirror is reachable.
pick_mirror() {
	local uri
	uri=$(grep -hoE '^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
		/etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
		grep -oE 'https?://[^[:space:]]+' | head -n1 || true)
	echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${MIRROR:-$(pick_mirror)}"
MIRROR="${MIRROR%/}"
SECURITY="${MIRROR%/debian}/debian-security"

WORK=$(mktemp -d /tmp/haven-mall-base.XXXXXX)
ROOT="$WORK/rootfs"
cleanup() {
	for m in proc sys dev/pts dev; do
		mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m" || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

start=$(date +%s)
log "debootstrap $SUITE (minbase) from $MIRROR into $ROOT"
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }

log "configuring apt and dpkg inside the root filesystem"
cat >"$ROOT/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
SRC
# Keep documentation, man pages and translations out of the image.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-haven-nodoc" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
CFG
cat >"$ROOT/etc/apt/apt.conf.d/01-haven" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
CFG
# Services must not start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# The container entrypoint creates its own cluster; skip the default one.
mkdir -p "$ROOT/etc/postgresql-common/createcluster.d"
echo 'create_main_cluster = false' >"$ROOT/etc/postgresql-common/createcluster.d/haven.conf"

mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"

log "installing postgresql-15 redis-server ca-certificates"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
	sh -c 'apt-get update -q && apt-get install -y -q postgresql-15 redis-server ca-certificates && apt-get clean' \
	>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; die "package installation failed"; }

for m in dev/pts dev proc; do umount "$ROOT/$m"; done

log "trimming the root filesystem"
rm -f "$ROOT/usr/sbin/policy-rc.d"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/var/cache/debconf/*-old \
	"$ROOT"/var/log/* "$ROOT"/tmp/* "$ROOT"/var/tmp/* \
	"$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/*
# JIT is off in the demo (see postgres/entrypoint.sh): LLVM and its Z3
# solver are ~120 MB that nothing else loads. Locale sources are only for
# locale-gen; the images run with the built-in C.UTF-8.
rm -f "$ROOT"/usr/lib/postgresql/15/lib/llvmjit*.so "$ROOT"/usr/lib/*-linux-gnu/libLLVM-*.so* \
	"$ROOT"/usr/lib/*-linux-gnu/libz3.so*
rm -rf "$ROOT"/usr/share/i18n
rm -rf "$ROOT"/usr/lib/postgresql/15/lib/bitcode
# In case a default cluster was created anyway: the entrypoint makes its own.
rm -rf "$ROOT"/var/lib/postgresql/15 "$ROOT"/etc/postgresql/15
# No leftovers of the builder in the image.
rm -f "$ROOT/etc/hostname" "$ROOT/etc/resolv.conf"
: >"$ROOT/etc/machine-id" 2>/dev/null || true

log "importing into docker as $IMAGE"
tar --numeric-owner -C "$ROOT" -c . |
	docker import \
		--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'CMD ["/bin/bash"]' \
		--message "debootstrap $SUITE minbase + postgresql-15 redis-server" \
		- "$IMAGE" >/dev/null

end=$(date +%s)
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE in $((end - start))s, size $((size / 1024 / 1024)) MiB"
