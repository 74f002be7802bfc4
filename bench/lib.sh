# bench/lib.sh: helpers the benchmark scripts share (sourced, not run).
# Needs QUIET_WAIT (seconds) set by the caller.

port_listening() { ss -Hltn "sport = :$1" | grep -q .; }

# How busy the machine is, in % of one core summed over all cores, over 1 s.
busy_pct() {
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    awk -v n="$(nproc)" -v u="$((b[1]+b[2]+b[3]+b[6]+b[7]+b[8] - a[1]-a[2]-a[3]-a[6]-a[7]-a[8]))" \
        -v t="$((b[1]+b[2]+b[3]+b[4]+b[5]+b[6]+b[7]+b[8] - a[1]-a[2]-a[3]-a[4]-a[5]-a[6]-a[7]-a[8]))" \
        'BEGIN { printf "%.0f", t ? u * 100 * n / t : 0 }'
}

# Waits (at most QUIET_WAIT s) for the machine to be under 15 % busy before
# a load run, prints how busy it was, and warns on stderr when it never
# got quiet: that run's figures will be low. $1 names the run.
wait_quiet_pct() {
    local start=$SECONDS b
    while :; do
        b=$(busy_pct)
        if (( b < 15 || SECONDS - start >= QUIET_WAIT )); then break; fi
    done
    if (( b >= 15 )); then
        echo "# WARNING: the machine was $b% busy before the $1 run; its figures will be low" >&2
    fi
    echo "$b"
}

# A port below the ephemeral range that nothing listens on or uses.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 12000 ))
        if ! port_listening "$p" && ! ss -Htan "sport = :$p" | grep -q .; then echo "$p"; return 0; fi
    done
    echo "bench: no free port" >&2
    return 1
}

# Configures and builds in BUILD_DIR (every time: tc-loadgen exists only if
# bench/loadgen.c did at configure time): tc-loadgen, and techcare-realtime
# unless SERVER names a prebuilt binary to drive (an older commit's build).
# Sets SERVER, LOADGEN and ISOLATION_FLAGS.
bench_build() {
    cmake -S . -B "$BUILD_DIR" >/dev/null
    if [[ -n ${SERVER:-} ]]; then
        echo "# building tc-loadgen in $BUILD_DIR; server: $SERVER"
        cmake --build "$BUILD_DIR" -j2 --target tc-loadgen >/dev/null
    else
        echo "# building techcare-realtime and tc-loadgen in $BUILD_DIR"
        cmake --build "$BUILD_DIR" -j2 --target techcare-realtime tc-loadgen >/dev/null
        SERVER=$BUILD_DIR/techcare-realtime
    fi
    LOADGEN=$BUILD_DIR/tc-loadgen
    isolation_flags "$SERVER"
    echo "# server flags for the per-address limits: ${ISOLATION_FLAGS[*]:-(none: the binary has no such limits)}"
}

# For a benchmark whose clients are Node (no tc-loadgen): builds the
# server into BUILD_DIR unless SERVER names one, and fills ISOLATION_FLAGS.
bench_build_server() {
    if [[ -z ${SERVER:-} ]]; then
        echo "# building techcare-realtime in $BUILD_DIR"
        cmake -S . -B "$BUILD_DIR" >/dev/null
        cmake --build "$BUILD_DIR" -j2 --target techcare-realtime >/dev/null
        SERVER=$BUILD_DIR/techcare-realtime
    fi
    isolation_flags "$SERVER"
}

# The per-address limits of issue 9 (1,000 connections, 10,000 channels per
# client address by default) would refuse a benchmark's clients, which all
# come from 127.0.0.1: turn them off, but only when the binary knows the
# flags, so the same script drives an older server too. $1 = the binary;
# fills the array ISOLATION_FLAGS.
isolation_flags() {
    ISOLATION_FLAGS=()
    # The help text first, then grep: piped, grep -q's early exit can kill
    # the binary with SIGPIPE, which under set -o pipefail (every script
    # here) failed the test now and then, and the limits stayed on.
    local help
    help=$("$1" --help 2>/dev/null || true)
    if grep -q -- --max-connections-per-ip <<<"$help"; then
        ISOLATION_FLAGS=(--max-connections-per-ip 0 --max-channels-per-ip 0)
    fi
}

# ---- the throwaway TechCare database of cdc.sh and adversary.sh ----------------
# Needs TMP (mode 755) and a cleanup trap that stops the cluster when
# DB_STARTED=1 (scripts/db.sh stop --dir "$TMP/db"). Sets PG_PORT, PG_PID,
# SU_CONNINFO and the DB_* variables the server reads (exported).
bench_db_start() {
    PG_PORT=$(free_port)
    echo "# starting PostgreSQL (throwaway, fsync off) on port $PG_PORT in $TMP/db"
    scripts/db.sh start --dir "$TMP/db" --port "$PG_PORT" --fast --no-demo >"$TMP/db.env" 2>"$TMP/db.log" ||
        { cat "$TMP/db.log" >&2; exit 1; }
    DB_STARTED=1
    set -a; . "$TMP/db.env"; set +a
    PG_PID=$(head -1 "$DB_DIR/data/postmaster.pid")
    # synchronous_commit on for the writer: with --fast's "off", committed WAL
    # reaches the walsender only when the WAL writer flushes it (every 200 ms),
    # which would add up to 200 ms to every figure. fsync stays off.
    SU_CONNINFO="host=$DB_SOCKET_DIR port=$DB_PORT user=$DB_SUPERUSER dbname=$DB_NAME options='-c synchronous_commit=on'"
}
psql_su() { /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 "$SU_CONNINFO" "$@"; }

# The TechCare users, in bulk: $1 customers (2 bookings each), $2 verified
# technicians, $3 admins; $4 = the technicians who connect at the largest
# client count (customer i's accepted booking is assigned to technician
# i % $4, whose chat is customer i's when i < $4). bench.* lists them for
# tc-loadgen --pg-changes.
bench_db_users() {
    psql_su -v nc="$1" -v nt="$2" -v na="$3" -v tc="$4" <<'SQL'
set client_min_messages = warning;
create schema bench;
create table bench.customers (idx int primary key, id uuid not null, pending_booking uuid,
                              assigned_booking uuid, assigned_tech uuid);
create table bench.techs (idx int primary key, id uuid not null, chat_booking uuid);
create table bench.admins (idx int primary key, id uuid not null);
insert into bench.customers (idx, id)
  select i, ('cb000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid from generate_series(0, :nc - 1) i;
insert into bench.techs (idx, id)
  select i, ('7b000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid from generate_series(0, :nt - 1) i;
insert into bench.admins (idx, id)
  select i, ('ab000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid from generate_series(0, greatest(:na, 1) - 1) i;

-- Sign-up the way db/demo.sql does it: the triggers of 004 create the
-- profiles and the technicians rows from the metadata.
insert into auth.users (id, aud, role, email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
  select id, 'authenticated', 'authenticated', 'customer' || idx || '@bench.test', now(),
         '{"provider": "email", "providers": ["email"]}'::jsonb,
         jsonb_build_object('role', 'customer', 'full_name', 'Bench Customer ' || idx)
    from bench.customers
  union all
  select id, 'authenticated', 'authenticated', 'tech' || idx || '@bench.test', now(),
         '{"provider": "email", "providers": ["email"]}'::jsonb,
         jsonb_build_object('role', 'technician', 'full_name', 'Bench Tech ' || idx,
                            'services', jsonb_build_array('plumbing'), 'hourly_rate', '40.00')
    from bench.techs
  union all
  select id, 'authenticated', 'authenticated', 'admin' || idx || '@bench.test', now(),
         '{"provider": "email", "providers": ["email"], "role": "admin"}'::jsonb,
         jsonb_build_object('full_name', 'Bench Admin ' || idx)
    from bench.admins;
update public.technicians set is_verified = true where id in (select id from bench.techs);

-- Per customer: a pending booking (others bid on it) and an accepted one,
-- assigned to technician idx % tc (tc = the technicians who connect at the
-- largest client count), whose chat the customer and that technician follow.
update bench.customers c
   set pending_booking = gen_random_uuid(), assigned_booking = gen_random_uuid(), assigned_tech = t.id
  from bench.techs t where t.idx = c.idx % :tc;
insert into public.bookings (id, customer_id, status, service, description, address, price)
  select pending_booking, id, 'pending', 'Bench pending job', 'open', '1 Bench Street', 80 from bench.customers;
insert into public.bookings (id, customer_id, technician_id, status, service, description, address, price)
  select assigned_booking, id, assigned_tech, 'accepted', 'Bench assigned job', 'assigned', '1 Bench Street', 90
    from bench.customers;
update bench.techs t set chat_booking = c.assigned_booking
  from bench.customers c where c.idx = t.idx and t.idx < :tc;
analyze;
SQL
}

# Stops the server (SIGTERM, then SIGKILL after $1 s: a server whose CDC
# thread is stuck may never finish draining) and drops its replication slot.
# Needs SERVER_PID and SLOT.
bench_stop_server() {
    local grace=${1:-15} i
    if [[ -n ${SERVER_PID:-} ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for (( i = 0; i < grace * 10; i++ )); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "# the server did not stop within ${grace} s of SIGTERM: killed" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
    if [[ -n ${SLOT:-} ]]; then
        for _ in $(seq 1 100); do
            psql_su -tAc "select pg_drop_replication_slot(slot_name) from pg_replication_slots
                          where slot_name = '$SLOT' and not active" | grep -q . && break
            sleep 0.1
        done
        SLOT=
    fi
}

# A benchmark's work directory (TMP, readable by the postgres user, who
# runs the throwaway cluster under it) and its clean-up on exit: stop the
# server (bench_stop_server), stop the cluster if bench_db_start started
# it, keep the directory when KEEP=1 or the script failed. A script that
# has more to stop first (a perf recorder) defines bench_on_exit.
bench_workdir() { # name
    TMP=$(mktemp -d "/tmp/tc-$1.XXXXXX")
    chmod 755 "$TMP"
    SERVER_PID=
    SLOT=
    DB_STARTED=0
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local rc=$?
    if declare -F bench_on_exit >/dev/null; then bench_on_exit; fi
    bench_stop_server 10
    if [[ $DB_STARTED == 1 ]]; then scripts/db.sh stop --dir "$TMP/db" >/dev/null 2>&1 || true; fi
    if [[ ${KEEP:-0} == 1 || $rc != 0 ]]; then
        echo "# logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
