#!/usr/bin/env bash
# bench/run.sh: the fan-out benchmark. Runs the same load (tc-loadgen)
# against TechCare Realtime (2 workers), nchan (nginx, 2 workers) and a Node
# `ws` fan-out server (1 process), one after the other, each on a freshly
# started server, and prints one side-by-side table. Everything runs on
# 127.0.0.1. See bench/README.md for what each figure means.
#
# Per target, two runs, each against a fresh server:
#   1. idle: CONNECTIONS connections, each joined to MEM_CHANNELS channels,
#      held IDLE_HOLD s: server memory per idle connection.
#   2. load: CONNECTIONS connections, 1 channel each, PER_CHANNEL per
#      channel: connect rate, join rate, then DURATION s of fan-out as fast
#      as the server takes it (RATE=0, WINDOW messages in flight per
#      channel), then DURATION s at LATENCY_RATE publishes/s per channel.
#
# Environment (defaults in brackets):
#   CONNECTIONS [10000] PER_CHANNEL [100] PUBLISHERS [1] DURATION [10]
#   RATE [0] WINDOW [16] LATENCY_RATE [5] MEM_CHANNELS [2] IDLE_HOLD [3]
#   THREADS [1] (loadgen threads) TARGETS ["techcare nchan ws"]
#   BINARY [0] (1: techcare publishers send binary kind 3 pushes)
#   TC_PORT [4101] NCHAN_PORT [4102] WS_PORT [4103]
#   SECRET [a 64-char test secret] PERF [0] (1: perf record -g the techcare
#   server for PERF_SECONDS [5] during its fan-out and print the top symbols)
#   KEEP [0] (1: keep the scratch directory with logs)
#   QUIET_WAIT [60] (seconds to wait for an idle machine before each load run)
#   BUILD_DIR [<repo>/build] (where techcare-realtime and tc-loadgen are built)
#   SERVER [$BUILD_DIR/techcare-realtime] (a prebuilt techcare binary to drive
#     instead, e.g. an older commit's build: only tc-loadgen is built then;
#     the per-address limits are turned off only if it knows the flags)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

CONNECTIONS=${CONNECTIONS:-10000}
PER_CHANNEL=${PER_CHANNEL:-100}
PUBLISHERS=${PUBLISHERS:-1}
DURATION=${DURATION:-10}
RATE=${RATE:-0}
WINDOW=${WINDOW:-16}
LATENCY_RATE=${LATENCY_RATE:-5}
MEM_CHANNELS=${MEM_CHANNELS:-2}
IDLE_HOLD=${IDLE_HOLD:-3}
THREADS=${THREADS:-1}
TARGETS=${TARGETS:-techcare nchan ws}
BINARY=${BINARY:-0}
TC_PORT=${TC_PORT:-4101}
NCHAN_PORT=${NCHAN_PORT:-4102}
WS_PORT=${WS_PORT:-4103}
SECRET=${SECRET:-bench-secret-0123456789abcdef0123456789abcdef0123456789abcdef}
PERF=${PERF:-0}
PERF_SECONDS=${PERF_SECONDS:-5}
KEEP=${KEEP:-0}

# File descriptors: as many as allowed (some containers cap the hard limit).
hard=$(ulimit -Hn)
want=200000
if [[ $hard != unlimited && $hard -lt $want ]]; then want=$hard; fi
ulimit -n "$want"
if (( CONNECTIONS + 100 > want )); then
    echo "run.sh: CONNECTIONS=$CONNECTIONS needs more open files than the limit ($want)" >&2
    exit 2
fi
ports=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range)
echo "# open-file limit $want; ephemeral ports per source IP: $ports (tc-loadgen binds one 127.0.0.x per 25,000 connections)"

# The machine is shared: say so when something else already uses it.
# Before each load run, wait up to QUIET_WAIT s for the machine to be idle
# (below 15 % busy over 1 s); the busy figure it started at is in the table.
QUIET_WAIT=${QUIET_WAIT:-60}
declare -A QUIET

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
# All connections come from 127.0.0.x: the per-address limits (issue 9) off.
bench_build

TMP=$(mktemp -d /tmp/tc-bench.XXXXXX)
SERVER_PID=
PERF_PID=
cleanup() {
    local rc=$?
    if [[ -n $PERF_PID ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; fi
    stop_server
    if [[ $KEEP == 1 || $rc != 0 ]]; then
        echo "# logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


wait_port() {
    local port=$1 i
    for i in $(seq 1 200); do
        if port_listening "$port"; then return 0; fi
        if [[ -n $SERVER_PID ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "run.sh: server on port $port did not come up; see $TMP" >&2
    return 1
}

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

port_of() {
    case $1 in
        techcare) echo "$TC_PORT" ;;
        nchan) echo "$NCHAN_PORT" ;;
        ws) echo "$WS_PORT" ;;
    esac
}

start_server() {
    local target=$1 log=$2 port
    port=$(port_of "$target")
    if port_listening "$port"; then
        echo "run.sh: port $port is already taken; set ${target^^}_PORT" >&2
        return 1
    fi
    case $target in
        techcare)
            "$SERVER" --host 127.0.0.1 --port "$port" --workers 2 --jwt-secret "$SECRET" \
                --max-events-per-second 1000000 --max-joins-per-second 1000 \
                "${ISOLATION_FLAGS[@]}" --drain-timeout-ms 1000 --log-level warn >"$log" 2>&1 &
            ;;
        nchan)
            local dir=$TMP/nginx
            mkdir -p "$dir"
            sed "s/listen 127.0.0.1:4102 /listen 127.0.0.1:$port /" bench/peers/nchan.conf >"$dir/nchan.conf"
            nginx -c "$dir/nchan.conf" -p "$dir/" >"$log" 2>&1 &
            ;;
        ws)
            PORT=$port node bench/peers/ws-fanout.mjs >"$log" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    wait_port "$port"
}

# perf record the server from the moment the loadgen starts its fan-out.
start_perf() {
    local pid=$1 lglog=$2
    (
        for _ in $(seq 1 1200); do
            grep -q "fan-out:" "$lglog" 2>/dev/null && break
            sleep 0.1
        done
        sleep 1
        exec perf record -g -p "$pid" -o "$TMP/perf.data" -- sleep "$PERF_SECONDS"
    ) >"$TMP/perf-record.log" 2>&1 &
    PERF_PID=$!
}

declare -A R
CSV_HEADER=

run_loadgen() {
    local target=$1 kind=$2 port args lglog
    port=$(port_of "$target")
    lglog=$TMP/loadgen-$target-$kind.log
    args=(--target "$target" --port "$port" --connections "$CONNECTIONS" --per-channel "$PER_CHANNEL"
          --publishers-per-channel "$PUBLISHERS" --threads "$THREADS" --server-pid "$SERVER_PID" --csv)
    if [[ $target == techcare ]]; then args+=(--secret "$SECRET"); fi
    if [[ $kind == idle ]]; then
        args+=(--idle --channels-per-conn "$MEM_CHANNELS" --duration "$IDLE_HOLD")
    else
        args+=(--rate "$RATE" --window "$WINDOW" --duration "$DURATION" --latency-rate "$LATENCY_RATE")
        if [[ $BINARY == 1 ]]; then args+=(--binary); fi
    fi
    if [[ $PERF == 1 && $target == techcare && $kind == load ]]; then start_perf "$SERVER_PID" "$lglog"; fi
    echo "# $target, $kind: tc-loadgen ${args[*]}"
    "$LOADGEN" "${args[@]}" >"$TMP/out-$target-$kind.txt" 2>"$lglog" || true
    grep -v '^csv,' "$TMP/out-$target-$kind.txt" | sed 's/^/    /'
    local header values
    header=$(grep '^csv,target,' "$TMP/out-$target-$kind.txt" | tail -1 || true)
    values=$(grep '^csv,' "$TMP/out-$target-$kind.txt" | grep -v '^csv,target,' | tail -1 || true)
    if [[ -z $values ]]; then
        echo "run.sh: no result from tc-loadgen for $target ($kind); its log:" >&2
        tail -20 "$lglog" >&2
        return 0
    fi
    CSV_HEADER=$header
    local -a h v
    IFS=, read -r -a h <<<"$header"
    IFS=, read -r -a v <<<"$values"
    local i
    for i in "${!h[@]}"; do R[$target:$kind:${h[$i]}]=${v[$i]}; done
    if [[ -n $PERF_PID ]]; then
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=
    fi
}

for target in $TARGETS; do
    start_server "$target" "$TMP/server-$target-idle.log"
    run_loadgen "$target" idle
    stop_server
    QUIET[$target]=$(wait_quiet_pct "$target load")
    start_server "$target" "$TMP/server-$target-load.log"
    run_loadgen "$target" load
    stop_server
done

# ---- the table ------------------------------------------------------------
get() { # target kind field -> value or "-"
    local v=${R[$1:$2:$3]:-}
    if [[ -z $v || $v == -1 ]]; then echo "-"; else echo "$v"; fi
}
ms() { # microseconds -> ms with 2 decimals
    if [[ $1 == - ]]; then echo "-"; else awk -v u="$1" 'BEGIN{printf "%.2f", u/1000}'; fi
}
human() { echo "$1"; }
row() {
    local label=$1; shift
    printf "%-40s" "$label"
    local x
    for x in "$@"; do printf " %16s" "$x"; done
    printf "\n"
}

echo
echo "== fan-out benchmark: $CONNECTIONS connections, $PER_CHANNEL per channel ($(( (CONNECTIONS + PER_CHANNEL - 1) / PER_CHANNEL )) channels), $PUBLISHERS publisher(s)/channel, $DURATION s per phase, loadgen $THREADS thread(s), $(nproc) cores shared by server and loadgen =="
hdr=()
for t in $TARGETS; do hdr+=("$t"); done
row "metric" "${hdr[@]}"
vals() { # kind field formatter
    local out=() t
    for t in $TARGETS; do out+=("$($3 "$(get "$t" "$1" "$2")")"); done
    echo "${out[@]}"
}
ident() { echo "$1"; }
pair() { # two fields "a / b"
    local out=() t
    for t in $TARGETS; do out+=("$($4 "$(get "$t" "$1" "$2")")/$($4 "$(get "$t" "$1" "$3")")"); done
    echo "${out[@]}"
}
cpu() { if [[ $1 == - ]]; then echo "-"; else echo "$1%"; fi; }
bytes() { if [[ $1 == - ]]; then echo "-"; else human "$1"; fi; }

row "server processes" $(for t in $TARGETS; do case $t in techcare) echo "2-workers";; nchan) echo "2-workers";; ws) echo "1-thread";; esac; done)
row "connections open/failed" $(pair load connections failed ident)
row "connect rate (conn/s)" $(vals load connect_per_s human)
row "joins/s (1 channel per conn)" $(vals load joins_per_s human)
row "joins/s ($MEM_CHANNELS channels per conn)" $(vals idle joins_per_s human)
row "delivered msgs/s (max, window $WINDOW)" $(vals load delivered_per_s human)
row "latency p50/p99 ms (at max)" $(pair load p50_us p99_us ms)
row "latency p50/p99 ms ($LATENCY_RATE pub/s/channel)" $(pair load fixed_p50_us fixed_p99_us ms)
row "delivered msgs/s ($LATENCY_RATE pub/s/channel)" $(vals load fixed_delivered_per_s human)
row "server mem/conn, idle, $MEM_CHANNELS ch (bytes)" $(vals idle mem_per_conn_bytes bytes)
row "  same, RSS delta (bytes)" $(vals idle rss_per_conn_bytes bytes)
row "server mem/conn, 1 ch (bytes)" $(vals load mem_per_conn_bytes bytes)
row "server CPU at max (% of 1 core)" $(vals load server_cpu_pct cpu)
row "server CPU at fixed rate" $(vals load fixed_server_cpu_pct cpu)
row "loadgen CPU at max" $(vals load loadgen_cpu_pct cpu)
row "machine CPU busy at max (of $(nproc)00%)" $(vals load machine_cpu_pct cpu)
row "  of which softirq (loopback TCP)" $(vals load softirq_cpu_pct cpu)
row "machine busy before the load run" $(for t in $TARGETS; do echo "${QUIET[$t]:--}%"; done)
row "connections closed during the run" $(vals load closed ident)
echo "notes: ws is Node, single-threaded: one core at most. nchan subscribes in the upgrade request (no joins)."
echo "       recipients per publish: techcare $PER_CHANNEL (broadcast.self), nchan $((PER_CHANNEL - PUBLISHERS)) (publishers use /pub), ws $((PER_CHANNEL - 1)) (sender skipped)."

if [[ $PERF == 1 && -f $TMP/perf.data ]]; then
    echo
    echo "== perf: techcare-realtime during fan-out ($PERF_SECONDS s), top symbols (self) =="
    perf report -i "$TMP/perf.data" --stdio --no-children --sort symbol 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -25
fi
