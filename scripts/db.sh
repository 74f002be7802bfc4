#!/usr/bin/env bash
# The embedded PostgreSQL 15 cluster TechCare runs on and tests against.
#
#   scripts/db.sh start [--dir DIR] [--port PORT] [--fast] [--no-demo]
#       creates the cluster once, starts it, applies every migration of
#       db/migrations not yet applied, then db/demo.sql (unless --no-demo),
#       sets the passwords, and prints the connection facts as KEY=value lines
#       on stdout (everything else goes to stderr), e.g.
#         eval "$(scripts/db.sh start)"
#   scripts/db.sh stop   [--dir DIR]          fast shutdown (pg_ctl -m fast)
#   scripts/db.sh psql   [--dir DIR] [ARGS]   psql as the superuser `postgres`
#   scripts/db.sh env    [--dir DIR]          the KEY=value lines again
#   scripts/db.sh status [--dir DIR]          exit 0 if running
#
# DIR (default <repo>/.pgdata) holds data/ (PGDATA), run/ (the unix socket),
# postgres.log and db.env. The server listens on 127.0.0.1:PORT (default 15432,
# password logins, scram-sha-256) and on the socket in DIR/run, where
# connections are trusted: DIR is mode 0700, so only its owner (and root) can
# reach the socket. --fast turns fsync off: for throwaway test clusters only.
#
# Passwords, from the environment: DB_PASSWORD (authenticator, default
# techcare-dev), DB_REPLICATION_PASSWORD (techcare_replication, default
# DB_PASSWORD), POSTGRES_PASSWORD (superuser postgres, default postgres).
#
# As root, the server runs as the `postgres` user (PostgreSQL refuses root);
# as anyone else, as that user. Installs postgresql-15 with apt-get if missing.
# Safe to run again: a started cluster is left running, applied migrations are
# skipped (supabase_migrations.schema_migrations records them), demo.sql is
# idempotent.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
DEFAULT_PORT=15432  # below the ephemeral range (32768+), so no client socket holds it

log() { echo "db: $*" >&2; }
die() { echo "db: error: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# --- arguments ---------------------------------------------------------------

cmd=${1:-}; [ -n "$cmd" ] || usage; shift
DIR=""; PORT=""; FAST=0; DEMO=1; EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir)     [ $# -ge 2 ] || die "--dir needs a value"; DIR=$2; shift 2 ;;
    --dir=*)   DIR=${1#--dir=}; shift ;;
    --port)    [ $# -ge 2 ] || die "--port needs a value"; PORT=$2; shift 2 ;;
    --port=*)  PORT=${1#--port=}; shift ;;
    --fast)    FAST=1; shift ;;
    --no-demo) DEMO=0; shift ;;
    --)        shift; EXTRA+=("$@"); break ;;
    -h|--help) usage ;;
    *)         if [ "$cmd" = psql ]; then EXTRA+=("$1"); shift; else die "unknown argument: $1"; fi ;;
  esac
done
if [ -n "$PORT" ] && ! [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -ge 1024 && "$PORT" -le 65535 ]]; then
  die "--port must be a number in 1024..65535"
fi

# --- who runs the server -----------------------------------------------------

if [ "$(id -u)" -eq 0 ]; then
  OWNER=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  OWNER=$(id -un)
  as_owner() { "$@"; }
fi

install_postgres() {
  [ -x "$PGBIN/initdb" ] && return 0
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL 15 is not installed ($PGBIN/initdb); run as root to install it"
  log "installing postgresql-15 (apt-get)"
  # Debian's package would otherwise create and start a default cluster on
  # port 5432 that nothing here uses.
  mkdir -p /etc/postgresql-common/createcluster.d
  [ -e /etc/postgresql-common/createcluster.d/techcare.conf ] ||
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/techcare.conf
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  [ -x "$PGBIN/initdb" ] || die "postgresql-15 installed but $PGBIN/initdb is missing"
}

# --- where the cluster lives -------------------------------------------------

# The server user must be able to reach DIR. If the repository is somewhere it
# cannot traverse (a home directory of mode 0700, say), the default cluster
# goes under /var/lib/postgresql instead, named after the repository path.
owner_can_reach() { # dir
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- test -x "$1" 2>/dev/null; else test -x "$1"; fi
}

resolve_dir() {
  local explicit=1
  if [ -z "$DIR" ]; then explicit=0; DIR=$ROOT/.pgdata; fi
  DIR=$(realpath -m -- "$DIR")
  local parent; parent=$(dirname "$DIR")
  if [ "$cmd" = start ]; then mkdir -p "$parent"; fi
  if ! owner_can_reach "$parent"; then
    if [ "$explicit" -eq 1 ]; then
      die "$parent is not reachable by the postgres user; choose another --dir"
    fi
    DIR=/var/lib/postgresql/techcare/$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
    log "note: $ROOT is not reachable by the postgres user; the cluster lives in $DIR"
    if [ "$cmd" = start ]; then mkdir -p "$(dirname "$DIR")"; chown postgres: "$(dirname "$DIR")"; fi
  fi
  PGDATA=$DIR/data
  SOCKDIR=$DIR/run
  # A unix socket path is at most 107 bytes: DIR/run/.s.PGSQL.NNNNN.
  [ $(( ${#SOCKDIR} + 18 )) -le 107 ] || die "--dir path too long for a unix socket: $DIR"
}

is_running() { [ -f "$PGDATA/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

# The port of the running server, from line 4 of postmaster.pid.
running_port() { sed -n 4p "$PGDATA/postmaster.pid"; }

psql_su() { # args... — psql as the superuser over the socket, quiet, stop on error
  PGOPTIONS='-c client_min_messages=warning' \
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres "$@"
}

# --- start -------------------------------------------------------------------

init_cluster() {
  log "creating cluster in $PGDATA"
  mkdir -p "$DIR"
  chown "$OWNER": "$DIR"
  chmod 700 "$DIR"
  as_owner mkdir -p "$SOCKDIR"
  local pwfile; pwfile=$(as_owner mktemp "$DIR/.pw.XXXXXX")
  printf '%s\n' "${POSTGRES_PASSWORD:-postgres}" > "$pwfile"
  local locale=C.UTF-8
  locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' || locale=C
  local nosync=(); [ "$FAST" -eq 1 ] && nosync=(--no-sync)
  if ! as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale="$locale" \
         --auth-local=trust --auth-host=scram-sha-256 "${nosync[@]}" >"$DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"; cat "$DIR/initdb.log" >&2; die "initdb failed"
  fi
  rm -f "$pwfile"
  as_owner tee "$PGDATA/pg_hba.conf" >/dev/null <<'HBA'
# TechCare: trust on the unix socket (its directory is 0700: owner and root
# only), passwords on 127.0.0.1, replication only for techcare_replication
# (and postgres, locally).
# TYPE  DATABASE     USER                  ADDRESS        METHOD
local   all          all                                  trust
local   replication  all                                  trust
host    all          all                   127.0.0.1/32   scram-sha-256
host    replication  techcare_replication  127.0.0.1/32   scram-sha-256
HBA
  echo "include 'techcare.conf'" | as_owner tee -a "$PGDATA/postgresql.conf" >/dev/null
}

write_conf() {
  {
    echo "# Written by scripts/db.sh at every start; edit the script, not this file."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PORT"
    echo "unix_socket_directories = '$SOCKDIR'"
    echo "unix_socket_permissions = 0700"
    echo "password_encryption = 'scram-sha-256'"
    echo "timezone = 'UTC'"
    echo "log_timezone = 'UTC'"
    echo "# Logical replication for Realtime's Postgres Changes and database Broadcast."
    echo "wal_level = logical"
    echo "max_replication_slots = 10"
    echo "max_wal_senders = 10"
    echo "# An abandoned slot must not fill the disk with WAL it pins."
    echo "max_slot_wal_keep_size = '1GB'"
    if [ "$FAST" -eq 1 ]; then
      echo "# --fast: a throwaway test cluster; a crash may lose or corrupt it."
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_owner tee "$PGDATA/techcare.conf" >/dev/null
}

apply_migrations() {
  psql_su <<'SQL'
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version    text primary key,
  name       text not null,
  checksum   text not null,
  applied_at timestamptz not null default now()
);
SQL
  local applied; applied=$(psql_su -At -c "select version || ' ' || checksum from supabase_migrations.schema_migrations")
  local f base version name sum n=0
  for f in "$ROOT"/db/migrations/*.sql; do
    [ -e "$f" ] || die "no migrations in $ROOT/db/migrations"
    base=$(basename "$f" .sql)
    [[ "$base" =~ ^([0-9]{3})_([a-z0-9_]+)$ ]] || die "migration name must be NNN_name.sql: $base.sql"
    version=${BASH_REMATCH[1]}; name=${BASH_REMATCH[2]}
    sum=$(md5sum < "$f" | cut -d' ' -f1)
    if grep -q "^$version " <<<"$applied"; then
      grep -qx "$version $sum" <<<"$applied" ||
        log "warning: $base.sql changed after it was applied; write a new migration instead"
      continue
    fi
    log "applying $base.sql"
    # One transaction: the migration and its record commit together or not at all.
    psql_su --single-transaction -f "$f" \
      -c "insert into supabase_migrations.schema_migrations (version, name, checksum) values ('$version', '$name', '$sum')" \
      || die "migration $base.sql failed (nothing of it was applied)"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || log "migrations up to date"
}

set_passwords() {
  psql_su -v pw_auth="$DB_PASSWORD" -v pw_repl="$DB_REPLICATION_PASSWORD" -v pw_pg="$POSTGRES_PASSWORD" <<'SQL'
alter role authenticator password :'pw_auth';
alter role techcare_replication password :'pw_repl';
alter role postgres password :'pw_pg';
SQL
}

env_lines() {
  local k
  for k in DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD DB_REPLICATION_USER DB_REPLICATION_PASSWORD \
           DB_SUPERUSER DB_SUPERUSER_PASSWORD DB_SOCKET_DIR DB_DIR; do
    printf '%s=%q\n' "$k" "${!k}"
  done
}

# shellcheck disable=SC2034  # the DB_* facts are read by env_lines through ${!k}
do_start() {
  install_postgres
  resolve_dir
  DB_PASSWORD=${DB_PASSWORD:-techcare-dev}
  DB_REPLICATION_PASSWORD=${DB_REPLICATION_PASSWORD:-$DB_PASSWORD}
  POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-postgres}
  [ -f "$PGDATA/PG_VERSION" ] || init_cluster
  if is_running; then
    local port; port=$(running_port)
    if [ -n "$PORT" ] && [ "$PORT" != "$port" ]; then
      die "already running on port $port; stop it first to change the port"
    fi
    PORT=$port
    log "already running on port $PORT"
  else
    PORT=${PORT:-$DEFAULT_PORT}
    write_conf
    as_owner touch "$DIR/postgres.log"
    if ! as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$DIR/postgres.log" -w -t 60 start >/dev/null; then
      tail -n 20 "$DIR/postgres.log" >&2 || true
      if tail -n 20 "$DIR/postgres.log" | grep -q "could not bind"; then
        die "port $PORT is taken (by a server or an outgoing connection); choose another with --port"
      fi
      die "the server did not start (log: $DIR/postgres.log)"
    fi
    log "started on 127.0.0.1:$PORT (log: $DIR/postgres.log)"
  fi
  apply_migrations
  if [ "$DEMO" -eq 1 ]; then
    psql_su --single-transaction -f "$ROOT/db/demo.sql" || die "db/demo.sql failed"
  fi
  set_passwords
  DB_HOST=127.0.0.1 DB_PORT=$PORT DB_NAME=postgres DB_USER=authenticator
  DB_REPLICATION_USER=techcare_replication DB_SUPERUSER=postgres DB_SUPERUSER_PASSWORD=$POSTGRES_PASSWORD
  DB_SOCKET_DIR=$SOCKDIR DB_DIR=$DIR
  (umask 077; env_lines > "$DIR/db.env")
  env_lines
}

# --- other commands ----------------------------------------------------------

require_running() {
  resolve_dir
  is_running || die "no cluster running in $DIR (scripts/db.sh start${DIR:+ --dir $DIR})"
  PORT=$(running_port)
}

case "$cmd" in
  start)  do_start ;;
  stop)
    resolve_dir
    if is_running; then
      as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
      log "stopped ($DIR)"
    else
      log "not running ($DIR)"
    fi ;;
  psql)   require_running
          exec "$PGBIN/psql" -X -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres "${EXTRA[@]}" ;;
  env)    require_running; cat "$DIR/db.env" ;;
  status) resolve_dir; if is_running; then log "running on port $(running_port) ($DIR)"; else log "not running ($DIR)"; exit 1; fi ;;
  *)      usage ;;
esac
