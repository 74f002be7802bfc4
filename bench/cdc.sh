#!/usr/bin/env bash
# bench/cdc.sh: the Postgres Changes benchmark. Starts a throwaway PostgreSQL
# cluster (scripts/db.sh --fast --no-demo, temp dir, free port), creates the
# TechCare users in bulk, builds and starts techcare-realtime on a fresh
# replication slot, then runs tc-loadgen --pg-changes for every CLIENTS x
# RATES scenario and prints one table. Cleans everything up at the end.
#
# Every client is one user with the seed's subscriptions (sections 6.1-6.3);
# a writer in tc-loadgen commits chat messages, bids, booking updates and
# booking inserts at RATE rows/s as the superuser (RLS still decides who
# receives what: the server authorizes every delivery, in PostgreSQL where
# it cannot decide itself). Each row carries
# "t=<CLOCK_REALTIME ns>" from PostgreSQL's clock_timestamp(); the clients
# read it back: commit -> client latency. See docs/BENCHMARKS.md, "Postgres Changes".
#
# Environment (defaults in brackets):
#   CLIENTS ["100 1000"]  RATES ["100 1000 2500 5000 10000"] (changes/s);
#     RATES_<clients> overrides it for one client count; RATES_1000 defaults
#     to "100 250 500 1000 2500"
#   DURATION [10] (s measured per scenario)  WARMUP [3]
#   MIX [70,25,5] (% customers, technicians, admins)
#   WRITE_MIX [50,25,15,10] (% messages, bids, booking updates, booking inserts)
#   ROWS_PER_TX [1] (rows the writer commits per transaction; rates count rows)
#   BIDDERS [1000] (verified technicians in the database; the first
#     CLIENTS x 25 % of them connect, all of them bid)
#   WORKERS [2] (server event-loop threads)  THREADS [1] (loadgen threads)
#   PERF [0] (1: perf record -g the server and the PostgreSQL processes for
#     PERF_SECONDS [6] during the PERF_SCENARIO ["1000:1000"] scenario,
#     clients:rate)
#   DRAIN_MAX [30] (s to wait after the window for the writer's end marker)
#   BUILD_DIR [<repo>/build] (where techcare-realtime and tc-loadgen are built)
#   SERVER [$BUILD_DIR/techcare-realtime] (a prebuilt server binary to drive
#     instead, e.g. an older commit's build: only tc-loadgen is built then;
#     the isolation limits are turned off only if it knows the flags)
#   KEEP [0] (1: keep logs)  QUIET_WAIT [20]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

CLIENTS=${CLIENTS:-100 1000}
RATES=${RATES:-100 1000 2500 5000 10000}
# 1,000 clients saturate far earlier (see docs/BENCHMARKS.md): finer steps.
RATES_1000=${RATES_1000:-100 250 500 1000 2500}
MIX=${MIX:-70,25,5}
WRITE_MIX=${WRITE_MIX:-50,25,15,10}
ROWS_PER_TX=${ROWS_PER_TX:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
BIDDERS=${BIDDERS:-1000}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-1}
PERF=${PERF:-0}
PERF_SECONDS=${PERF_SECONDS:-6}
PERF_SCENARIO=${PERF_SCENARIO:-1000:1000}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-20}
DRAIN_MAX=${DRAIN_MAX:-30}
SECRET=${SECRET:-bench-secret-0123456789abcdef0123456789abcdef0123456789abcdef}

max_clients=0
for n in $CLIENTS; do
    if (( n > max_clients )); then max_clients=$n; fi
done
IFS=, read -r mix_c mix_t mix_a <<<"$MIX"
N_CUST=$(( (max_clients * mix_c + 50) / 100 ))
N_TECH_CONN=$(( (max_clients * mix_t + 50) / 100 ))
N_ADMIN=$(( max_clients - N_CUST - N_TECH_CONN ))
N_TECH=$(( BIDDERS > N_TECH_CONN ? BIDDERS : N_TECH_CONN ))
# The writer writes for the connected customers, or for the first 100 if none connect.
(( N_CUST >= 100 )) || N_CUST=100
(( N_TECH_CONN >= 1 )) || N_TECH_CONN=1

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_build

PERF_PID=
bench_on_exit() {
    if [[ -n $PERF_PID ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; fi
}
bench_workdir cdc


# ---- the database --------------------------------------------------------------
bench_db_start
echo "# creating $N_CUST customers (2 bookings each), $N_TECH verified technicians, $N_ADMIN admins"
bench_db_users "$N_CUST" "$N_TECH" "$N_ADMIN" "$N_TECH_CONN"

# ---- the server: a fresh one, on a fresh slot, per scenario ---------------------
TC_PORT=$(free_port)
SLOT=
start_server() { # log
    SLOT=bench_cdc_$$_$((++slot_no))
    API_JWT_SECRET=$SECRET SLOT_NAME=$SLOT \
        "$SERVER" --host 127.0.0.1 --port "$TC_PORT" --workers "$WORKERS" \
        --max-events-per-second 1000000 --max-joins-per-second 1000 --drain-timeout-ms 1000 \
        "${ISOLATION_FLAGS[@]}" --log-level warn >"$1" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        port_listening "$TC_PORT" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "cdc.sh: the server did not come up; its log:" >&2
    cat "$1" >&2
    exit 1
}
stop_server() { bench_stop_server 15; } # and drop its slot: a stopped server's backlog must not reach the next scenario
slot_no=0

# perf: the server and every PostgreSQL process of this cluster, once the
# scenario's measured window has begun.
start_perf() {
    local lglog=$1 pids
    (
        for _ in $(seq 1 1200); do
            grep -q "writer:" "$lglog" 2>/dev/null && break
            sleep 0.1
        done
        sleep "$WARMUP"; sleep 1
        pids=$SERVER_PID,$PG_PID
        for p in $(pgrep -P "$PG_PID"); do pids+=",$p"; done
        exec perf record -g -p "$pids" -o "$TMP/perf.data" -- sleep "$PERF_SECONDS"
    ) >"$TMP/perf-record.log" 2>&1 &
    PERF_PID=$!
}

# ---- the scenarios ----------------------------------------------------------------
declare -A R
order=()
for n in $CLIENTS; do
    rates_var=RATES_$n
    for rate in ${!rates_var:-$RATES}; do
        # Every (pending booking, technician) pair bids once per scenario.
        psql_su -c "delete from public.bids" >/dev/null
        busy=$(wait_quiet_pct "$n clients, $rate changes/s")
        start_server "$TMP/server-$n-$rate.log"
        lglog=$TMP/loadgen-$n-$rate.log
        out=$TMP/out-$n-$rate.txt
        args=(--pg-changes --port "$TC_PORT" --secret "$SECRET" --db "$SU_CONNINFO" --connections "$n"
              --mix "$MIX" --write-mix "$WRITE_MIX" --rows-per-tx "$ROWS_PER_TX" --change-rate "$rate" --duration "$DURATION"
              --warmup "$WARMUP" --drain-max "$DRAIN_MAX" --threads "$THREADS" --server-pid "$SERVER_PID" --pg-pid "$PG_PID" --csv)
        if [[ $PERF == 1 && $PERF_SCENARIO == "$n:$rate" ]]; then start_perf "$lglog"; fi
        echo "# $n clients, $rate changes/s (machine $busy % busy before; slot $SLOT): tc-loadgen ${args[*]/$SECRET/SECRET}"
        "$LOADGEN" "${args[@]}" >"$out" 2>"$lglog" || echo "# tc-loadgen exited non-zero; see $lglog" >&2
        grep -v '^csv,' "$out" | sed 's/^/    /'
        if [[ -n $PERF_PID ]]; then wait "$PERF_PID" 2>/dev/null || true; PERF_PID=; fi
        header=$(grep '^csv,clients,' "$out" | tail -1 || true)
        values=$(grep '^csv,' "$out" | grep -v '^csv,clients,' | tail -1 || true)
        if [[ -z $values ]]; then
            echo "cdc.sh: no result for $n clients at $rate/s; its log:" >&2
            tail -20 "$lglog" >&2
            stop_server
            continue
        fi
        IFS=, read -r -a h <<<"$header"
        IFS=, read -r -a v <<<"$values"
        for i in "${!h[@]}"; do R[$n:$rate:${h[$i]}]=${v[$i]}; done
        R[$n:$rate:busy]=$busy
        order+=("$n:$rate")
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "cdc.sh: the server died; its log:" >&2
            tail -30 "$TMP/server-$n-$rate.log" >&2
            exit 1
        fi
        stop_server
    done
done

# ---- the table ------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
echo
echo "== Postgres Changes: commit -> client, $(nproc) cores shared by server, PostgreSQL (fsync off) and loadgen; server $WORKERS workers; ${DURATION} s per scenario =="
echo "   clients: $MIX % customers/technicians/admins, seed subscriptions; writes: $WRITE_MIX % messages/bids/booking updates/booking inserts, $ROWS_PER_TX row(s) per transaction"
printf "%7s %7s %9s %10s %8s %9s %9s %9s %8s %7s %7s %12s %7s %7s %5s %9s\n" \
    clients target committed delivered msgs/chg p50_ms p95_ms p99_ms max_ms srv_cpu pg_cpu "pg:wr/chk/ws" gen_cpu drain_s busy sustained
for key in "${order[@]}"; do
    g() { echo "${R[$key:$1]:--}"; }
    committed=$(g committed_per_s); target=$(g target_rate); drain=$(g drain_s); errs=$(g write_errors)
    per=$(awk -v d="$(g delivered_per_s)" -v c="$committed" 'BEGIN { printf "%.1f", (c > 0 ? d / c : 0) }')
    # Sustained: the writer got >= 95 % of its rate committed, the server had
    # delivered everything within 1 s of the writer stopping, and closed no
    # client (a slow-consumer close means the clients, i.e. this machine,
    # could not take the rate: not a figure of the server).
    sus=$(awk -v c="$committed" -v t="$target" -v d="$drain" -v e="$errs" -v x="$(g closed)" \
        'BEGIN { print ((x > 0) ? "NO(closed)" : ((c >= 0.95 * t && d >= 0 && d <= 1.0 && e == 0) ? "yes" : "NO")) }')
    if awk -v d="$drain" 'BEGIN { exit !(d < 0) }'; then drain=">$DRAIN_MAX"; fi
    printf "%7s %7s %9s %10s %8s %9s %9s %9s %8s %6s%% %6s%% %12s %6s%% %7s %4s%% %9s\n" \
        "$(g clients)" "$target" "$committed" "$(g delivered_per_s)" "$per" \
        "$(ms "$(g p50_us)")" "$(ms "$(g p95_us)")" "$(ms "$(g p99_us)")" "$(ms "$(g max_us)")" \
        "$(g server_cpu_pct)" "$(g pg_cpu_pct)" "$(g pg_writer_pct)/$(g pg_server_pct)/$(g pg_walsender_pct)" \
        "$(g loadgen_cpu_pct)" "$drain" "$(g busy)" "$sus"
done
echo "columns: committed = rows/s the writer got committed (one transaction each; triggers add a notification"
echo "  per message and per bid); delivered = postgres_changes frames/s received by all clients; msgs/chg ="
echo "  delivered / committed; latency from PostgreSQL's clock_timestamp() in the row to the client's read;"
echo "  srv/pg/gen cpu = % of one core (techcare-realtime; postmaster + children; tc-loadgen incl. writer);"
echo "  pg:wr/chk/ws = PostgreSQL CPU split: the writer's backend (its inserts, triggers, commits) / the"
echo "  server's pool backends (RLS checks) / the walsender (logical decoding), % of one core;"
echo "  drain = s from the writer's stop to the delivery of an end marker it commits last (changes are"
echo "  published in commit order); busy = machine busy before the run;"
echo "  sustained = committed >= 95 % of target, no write errors, drained within 1 s, no client closed"
echo "  (NO(closed): the server closed slow consumers, the load generator could not keep up)."

if [[ $PERF == 1 && -f $TMP/perf.data ]]; then
    echo
    echo "== perf ($PERF_SECONDS s of scenario $PERF_SCENARIO): CPU samples by process =="
    { perf report -i "$TMP/perf.data" --stdio --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9.]+%' | head -10; } || true
    echo
    echo "== techcare-realtime, top symbols (self, % of the server's samples) =="
    { perf report -i "$TMP/perf.data" --stdio --no-children --comm techcare-realti --sort dso,symbol \
        --percentage relative 2>/dev/null | grep -E '^ +[0-9.]+%' | head -25; } || true
    echo
    echo "== postgres, top symbols (self, % of PostgreSQL's samples) =="
    { perf report -i "$TMP/perf.data" --stdio --no-children --comm postgres --sort dso,symbol \
        --percentage relative 2>/dev/null | grep -E '^ +[0-9.]+%' | head -25; } || true
    echo
    echo "== postgres, where the time goes (inclusive, % of PostgreSQL's samples) =="
    { perf report -i "$TMP/perf.data" --stdio --children --comm postgres --sort symbol --percentage relative \
        -g none 2>/dev/null | grep -E '^ +[0-9.]+%' |
        grep -E ' (PortalRun|standard_planner|fmgr_security_definer|fmgr_sql|GetCachedPlan|jsonb_in|raw_parser|pg_analyze_and_rewrite_varparams|plpgsql_exec_trigger|AfterTriggerEndQuery|exec_replication_command|CommitTransactionCommand|XLogFlush) ' |
        head -20; } || true
    if [[ $KEEP == 1 ]]; then echo "# perf data: $TMP/perf.data"; fi
fi
