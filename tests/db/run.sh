#!/usr/bin/env bash
# Database tests, no C server needed: starts a throwaway cluster (scripts/db.sh
# start --fast) in a temporary directory on a free port, runs every
# tests/db/[0-9]*.sql with psql (each is one transaction rolled back at the
# end, see _helpers.sql), a few checks from the shell (logins over TCP, a
# replication connection, plain `psql -f` of the migrations, idempotent
# restarts), then stops and removes the cluster.
# Ends with one line "N passed, N failed"; exit status 0 only if none failed.
#   tests/db/run.sh [FILE.sql...]     only those files
#   KEEP=1 tests/db/run.sh            leave the cluster running for a look
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
PGBIN=/usr/lib/postgresql/15/bin

TMP=$(mktemp -d /tmp/techcare-dbtest.XXXXXX)
chmod 755 "$TMP"
DIR=$TMP/pg
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then echo "cluster kept: scripts/db.sh psql --dir $DIR" >&2; return; fi
  scripts/db.sh stop --dir "$DIR" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

# A free port outside the kernel's ephemeral range (busy machines run out of
# free ports inside it): nothing listening (connect fails) and no socket bound.
lo=20000; hi=32000
read -r eph_lo _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph_lo=32768
[ "${eph_lo:-32768}" -gt $((lo + 1000)) ] && hi=$((eph_lo - 1))
pick_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( lo + RANDOM % (hi - lo) ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    if command -v ss >/dev/null && [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then continue; fi
    echo "$p"; return 0
  done
  return 1
}

passed=0; failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # label, command...  — a shell-level test
  local label=$1; shift
  if "$@" >"$TMP/check.out" 2>&1; then pass; else fail "$label"; sed 's/^/    /' "$TMP/check.out"; fi
}

export DB_PASSWORD=test-auth-pw DB_REPLICATION_PASSWORD=test-repl-pw POSTGRES_PASSWORD=test-pg-pw
started=0
for _ in 1 2 3; do   # another process may take the port between the check and the bind
  PORT=$(pick_port) || break
  if scripts/db.sh start --dir "$DIR" --port "$PORT" --fast >"$TMP/env" 2>"$TMP/start.log"; then
    started=1; break
  fi
  grep -q "could not bind" "$DIR/postgres.log" 2>/dev/null || break
done
if [ "$started" -ne 1 ]; then
  cat "$TMP/start.log"; echo "0 passed, 1 failed"; exit 1
fi
# shellcheck source=/dev/null
. "$TMP/env"
psql_su() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DB_SOCKET_DIR" -p "$DB_PORT" -U postgres -d "${DB:-postgres}" "$@"; }
PGOPTIONS="-c client_min_messages=warning" psql_su -o /dev/null -f tests/db/_helpers.sql || { echo "0 passed, 1 failed"; exit 1; }

# --- SQL test files ----------------------------------------------------------
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/db/[0-9]*.sql)
for f in "${files[@]}"; do
  out=$TMP/$(basename "$f").out
  psql_su -o /dev/null -v VERBOSITY=terse -f "$f" >"$out" 2>&1
  rc=$?
  ok=$(grep -c 'NOTICE:  ok - ' "$out")
  bad=$(grep -c 'NOTICE:  not ok - ' "$out")
  passed=$((passed + ok)); failed=$((failed + bad))
  grep 'NOTICE:  not ok - ' "$out" | sed 's/^.*NOTICE:  /  /'
  if [ "$rc" -ne 0 ] || [ $((ok + bad)) -eq 0 ]; then
    failed=$((failed + 1))
    echo "not ok - $f did not run to the end (psql exit $rc, $((ok + bad)) assertions):"
    grep -v 'NOTICE:  \(not \)\?ok - ' "$out" | tail -n 5 | sed 's/^/    /'
  fi
  echo "$(basename "$f"): $ok passed, $bad failed"
done

# --- checks from the shell -----------------------------------------------------
if [ $# -eq 0 ]; then
  # The server's logins, over TCP with their passwords, as the C server will make them.
  check "authenticator logs in over TCP and becomes authenticated" \
    env PGPASSWORD="$DB_PASSWORD" "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -h "$DB_HOST" -p "$DB_PORT" \
      -U "$DB_USER" -d "$DB_NAME" -c "begin; set local role authenticated; select 1/(current_user = 'authenticated')::int; commit"
  check "authenticator is refused with a wrong password" \
    bash -c "! PGPASSWORD=wrong '$PGBIN/psql' -X -h '$DB_HOST' -p '$DB_PORT' -U '$DB_USER' -d '$DB_NAME' -c 'select 1'"
  check "techcare_replication opens a replication connection" \
    env PGPASSWORD="$DB_REPLICATION_PASSWORD" "$PGBIN/psql" -X -v ON_ERROR_STOP=1 \
      "host=$DB_HOST port=$DB_PORT user=$DB_REPLICATION_USER dbname=$DB_NAME replication=database" \
      -c "IDENTIFY_SYSTEM"
  check "authenticator may not open a replication connection" \
    bash -c "! PGPASSWORD='$DB_PASSWORD' '$PGBIN/psql' -X 'host=$DB_HOST port=$DB_PORT user=$DB_USER dbname=$DB_NAME replication=database' -c IDENTIFY_SYSTEM"
  check "wal_level is logical" \
    bash -c "[ \"\$('$PGBIN/psql' -X -At -h '$DB_SOCKET_DIR' -p '$DB_PORT' -U postgres -c 'show wal_level')\" = logical ]"

  # Logical decoding as the next issue's CDC needs it: techcare_replication
  # creates a pgoutput slot over the replication protocol, and the change it
  # decodes from supabase_realtime carries the old row (replica identity FULL).
  # The changes are read with the SQL interface, which returns what is
  # decoded so far and stops: no waiting on a stream.
  repl_stream() {
    local conn=(-h "$DB_HOST" -p "$DB_PORT" -U "$DB_REPLICATION_USER" -d "$DB_NAME")
    export PGPASSWORD=$DB_REPLICATION_PASSWORD
    "$PGBIN/pg_recvlogical" "${conn[@]}" --slot tc_test --create-slot --plugin pgoutput || return 1
    # --fast turns synchronous_commit off; decoding only reads flushed WAL, so flush this commit.
    psql_su -c "set synchronous_commit = on; update public.notifications set read_at = now()
                where id = '40710000-0000-4000-8000-000000000002'"
    "$PGBIN/psql" -X -At "${conn[@]}" -c "select encode(data, 'escape') from pg_logical_slot_get_binary_changes(
        'tc_test', null, null, 'proto_version', '1', 'publication_names', 'supabase_realtime')" > "$TMP/stream"
    local rc=$?
    "$PGBIN/pg_recvlogical" "${conn[@]}" --slot tc_test --drop-slot
    [ "$rc" -eq 0 ] && grep -q notifications "$TMP/stream" && grep -q 'Verification in progress' "$TMP/stream"
  }
  check "techcare_replication decodes supabase_realtime with pgoutput (old row included)" repl_stream

  # The migrations as plain files, in order, into a fresh database: they must
  # not depend on db.sh's transaction wrapping. Then demo.sql twice.
  counts="select (select count(*) from auth.users), (select count(*) from public.bookings),
                 (select count(*) from public.bids), (select count(*) from public.messages),
                 (select count(*) from public.notifications), (select count(*) from public.reviews)"
  plain_apply() {
    psql_su -c "create database tc_plain" || return 1
    local f
    for f in db/migrations/*.sql db/demo.sql; do
      DB=tc_plain psql_su -f "$f" || return 1
    done
    DB=tc_plain psql_su -At -c "$counts" > "$TMP/plain1"
    DB=tc_plain psql_su -f db/demo.sql || return 1
    DB=tc_plain psql_su -At -c "$counts" > "$TMP/plain2"
    diff "$TMP/plain1" "$TMP/plain2" && [ "$(cat "$TMP/plain1")" = "7|11|12|10|23|3" ]
  }
  check "migrations apply with plain psql -f; demo.sql is idempotent" plain_apply

  # start again: nothing re-applied, nothing duplicated, same facts printed.
  restart() {
    psql_su -At -c "$counts" > "$TMP/c1"
    scripts/db.sh start --dir "$DIR" --fast > "$TMP/env2" 2> "$TMP/start2.log" || return 1
    grep -q "migrations up to date" "$TMP/start2.log" && diff "$TMP/env" "$TMP/env2" || return 1
    psql_su -At -c "$counts" > "$TMP/c2"
    diff "$TMP/c1" "$TMP/c2"
  }
  check "scripts/db.sh start twice is safe" restart
  check "scripts/db.sh refuses a second start on another port" \
    bash -c "! scripts/db.sh start --dir '$DIR' --port $((PORT + 1)) >/dev/null 2>&1"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
