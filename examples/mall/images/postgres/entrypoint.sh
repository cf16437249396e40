#!/bin/bash
# postgres-entrypoint prepares $PGDATA on first start and then runs the
# command (postgres by default) as the postgres user.
#
# Environment:
#   POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE   password of POSTGRES_USER (required on first start)
#   POSTGRES_USER   superuser to create (default postgres)
#   POSTGRES_DB     database to create (default: POSTGRES_USER)
#   PGDATA          data directory (default /var/lib/postgresql/data)
#
# Host (TCP) connections need the password (scram-sha-256); local socket
# connections are trusted so pg_isready and the healthcheck work inside the
# container.
set -euo pipefail

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

log() { echo "postgres-entrypoint: $*" >&2; }

if [[ "${1:-}" == postgres && $(id -u) -eq 0 ]]; then
	# Volumes arrive owned by root; fix ownership, then drop privileges.
	mkdir -p "$PGDATA" /run/postgresql
	chown postgres:postgres "$PGDATA" /run/postgresql
	chmod 700 "$PGDATA"
	# Read the secret as root: it may not be readable by postgres.
	if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
		POSTGRES_PASSWORD="$(<"$POSTGRES_PASSWORD_FILE")"
		export POSTGRES_PASSWORD
		unset POSTGRES_PASSWORD_FILE
	fi
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ "${1:-}" == postgres && ! -s "$PGDATA/PG_VERSION" ]]; then
	if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
		POSTGRES_PASSWORD="$(<"$POSTGRES_PASSWORD_FILE")"
	fi
	if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
		log "ERROR: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE for the first start"
		exit 1
	fi
	user="${POSTGRES_USER:-postgres}"
	db="${POSTGRES_DB:-$user}"
	log "initializing $PGDATA (superuser $user, database $db)"
	pwfile="$(mktemp)"
	trap 'rm -f "$pwfile"' EXIT
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	rm -f "$pwfile"
	cat >>"$PGDATA/postgresql.conf" <<-CONF

		# Added by postgres-entrypoint.
		listen_addresses = '*'
		password_encryption = 'scram-sha-256'
		jit = off
	CONF
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	if [[ "$db" != postgres ]]; then
		# Single-user mode: no socket is opened, so the healthcheck stays
		# red until the real server starts below.
		echo "CREATE DATABASE \"${db//\"/\"\"}\" OWNER \"${user//\"/\"\"}\";" |
			postgres --single -j -D "$PGDATA" postgres >/dev/null
	fi
	log "initialized"
fi
unset POSTGRES_PASSWORD POSTGRES_PASSWORD_FILE

exec "$@"
