#!/usr/bin/env bash
# bench/adversary.sh: "one user can never hurt the others" (issue 9), measured.
# The Postgres Changes benchmark's set-up (bench/cdc.sh: a throwaway
# PostgreSQL cluster, the TechCare users in bulk, the seed's subscriptions
# per role, a writer at a fixed rate), with CLIENTS honest clients, and per
# VARIANT a fresh server plus hostile clients from tc-loadgen --adversary:
#
#   none       no hostile client: the baseline
#   regex      one signed-in customer (from 127.0.0.2) on REGEX_CHANNELS x
#              REGEX_BINDINGS bookings bindings, each filtered with a costly
#              regex (description=imatch.((a?){I}){J}X, all distinct), POSTing
#              through /rest/v1/bookings, with its own token, a booking whose
#              description is REGEX_KIB KiB of 'a's every REGEX_INTERVAL s
#   burst      one transaction inserting BURST_ROWS pending bookings every
#              BURST_INTERVAL s, as the database superuser (every connected
#              technician and admin receives each row)
#   stall      one admin (from 127.0.0.3) subscribed to every table that never
#              reads; when the server drops it, it reconnects and stalls again
#   slowloris  SLOWLORIS connections (from 127.0.0.4) sending a request head
#              one byte per second, reopened when the server closes them
#   all        all four at once (a comma list, e.g. regex,burst, runs those)
#
# The honest clients are measured the same way in every variant: the rows
# the writer commits in the DURATION s window are marked, their recipients
# among the connected clients computed from the subscriptions and the
# policies, and commit -> client latency taken over those deliveries,
# whenever they arrive (one that never arrives counts as infinitely late).
# It prints one table: honest p50/p99/max, delivered %, server CPU and peak
# RSS, and what the server's /metrics counted of the attack.
#
# Environment (defaults in brackets):
#   VARIANTS ["none regex burst stall slowloris all"]
#   CLIENTS [1000] (honest clients)  RATE [200] (honest changes/s)
#   DURATION [20] (s measured)  WARMUP [5]  DRAIN_MAX [15] (s to wait for the
#     writer's end marker after the window)
#   MIX [70,25,5]  WRITE_MIX [50,25,15,10]  BIDDERS [1000]  (as in cdc.sh)
#   REGEX_CHANNELS [5] REGEX_BINDINGS [100] REGEX_KIB [512] REGEX_INTERVAL [1]
#   BURST_ROWS [12000] BURST_INTERVAL [10]  SLOWLORIS [200]  STALL_MAX [30]
#   SETTLE [2] (s between starting the hostile clients and the writer)
#   WORKERS [2] (server event-loop threads)  THREADS [1] (loadgen threads)
#   BUILD_DIR [<repo>/build]  SERVER [$BUILD_DIR/techcare-realtime] (a
#     prebuilt binary to drive instead, e.g. an older commit's build)
#   LABEL [the server's path] (named in the table's title)
#   KEEP [0] (1: keep logs)  QUIET_WAIT [20]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

VARIANTS=${VARIANTS:-none regex burst stall slowloris all}
CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-200}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
DRAIN_MAX=${DRAIN_MAX:-15}
MIX=${MIX:-70,25,5}
WRITE_MIX=${WRITE_MIX:-50,25,15,10}
BIDDERS=${BIDDERS:-1000}
REGEX_CHANNELS=${REGEX_CHANNELS:-5}
REGEX_BINDINGS=${REGEX_BINDINGS:-100}
REGEX_KIB=${REGEX_KIB:-512}
REGEX_INTERVAL=${REGEX_INTERVAL:-1}
BURST_ROWS=${BURST_ROWS:-12000}
BURST_INTERVAL=${BURST_INTERVAL:-10}
SLOWLORIS=${SLOWLORIS:-200}
STALL_MAX=${STALL_MAX:-30}
SETTLE=${SETTLE:-2}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-1}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-20}
SECRET=${SECRET:-bench-secret-0123456789abcdef0123456789abcdef0123456789abcdef}

for v in $VARIANTS; do # a variant may also combine some: regex,burst
    for part in ${v//,/ }; do
        case $part in none|regex|burst|stall|slowloris|all) ;; *) echo "adversary.sh: unknown variant $part" >&2; exit 2 ;; esac
    done
done

IFS=, read -r mix_c mix_t mix_a <<<"$MIX"
N_CUST=$(( (CLIENTS * mix_c + 50) / 100 ))
N_TECH_CONN=$(( (CLIENTS * mix_t + 50) / 100 ))
N_ADMIN=$(( CLIENTS - N_CUST - N_TECH_CONN ))
N_TECH=$(( BIDDERS > N_TECH_CONN ? BIDDERS : N_TECH_CONN ))
(( N_CUST >= 100 )) || N_CUST=100
(( N_TECH_CONN >= 1 )) || N_TECH_CONN=1
# One customer (regex, burst) and one admin (stall) more than the honest
# clients use: the hostile ones (tc-loadgen takes the first unused of each).
DB_CUST=$(( N_CUST + 1 ))
DB_ADMIN=$(( N_ADMIN + 1 ))

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The honest clients all come from 127.0.0.1: the per-address connection and
# channel limits off (the hostile ones come from other addresses anyway).
# Everything else keeps the server's defaults: they are what is measured.
bench_build
LABEL=${LABEL:-$SERVER}

bench_workdir adv

# ---- the database --------------------------------------------------------------
bench_db_start
echo "# creating $DB_CUST customers (2 bookings each), $N_TECH verified technicians, $DB_ADMIN admins"
bench_db_users "$DB_CUST" "$N_TECH" "$DB_ADMIN" "$N_TECH_CONN"

# ---- the server: a fresh one, on a fresh slot, per variant ---------------------
TC_PORT=$(free_port)
slot_no=0
start_server() { # log
    SLOT=bench_adv_$$_$((++slot_no))
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
    echo "adversary.sh: the server did not come up; its log:" >&2
    cat "$1" >&2
    exit 1
}

# One counter from the server's /metrics ("-" if it has no such counter).
metric() { awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print "-" }' "$2"; }

declare -A R
order=()
for v in $VARIANTS; do
    # Every variant starts from the same rows: no bids yet (each pair bids
    # once), none of the hostile customer's bookings (regex and burst rows).
    psql_su -c "delete from public.bids" \
            -c "delete from public.bookings where customer_id = (select id from bench.customers where idx = $N_CUST)" \
            -c "vacuum analyze public.bookings, public.bids, public.notifications" >/dev/null
    busy=$(wait_quiet_pct "$v")
    start_server "$TMP/server-$v.log"
    lglog=$TMP/loadgen-$v.log
    out=$TMP/out-$v.txt
    args=(--pg-changes --port "$TC_PORT" --secret "$SECRET" --db "$SU_CONNINFO" --connections "$CLIENTS"
          --mix "$MIX" --write-mix "$WRITE_MIX" --change-rate "$RATE" --duration "$DURATION" --warmup "$WARMUP"
          --drain-max "$DRAIN_MAX" --threads "$THREADS" --server-pid "$SERVER_PID" --pg-pid "$PG_PID" --csv
          --adversary "$v" --adv-regex-channels "$REGEX_CHANNELS" --adv-regex-bindings "$REGEX_BINDINGS"
          --adv-regex-kib "$REGEX_KIB" --adv-regex-interval "$REGEX_INTERVAL" --adv-burst-rows "$BURST_ROWS"
          --adv-burst-interval "$BURST_INTERVAL" --adv-slowloris "$SLOWLORIS" --adv-stall-max "$STALL_MAX"
          --adv-settle "$SETTLE")
    echo "# variant $v (machine $busy % busy before; slot $SLOT): tc-loadgen ${args[*]/$SECRET/SECRET}"
    "$LOADGEN" "${args[@]}" >"$out" 2>"$lglog" || echo "# tc-loadgen exited non-zero; see $lglog" >&2
    grep -v -E '^(adv)?csv,' "$out" | sed 's/^/    /'
    alive=1
    kill -0 "$SERVER_PID" 2>/dev/null || alive=0
    hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    curl -s -m 5 "http://127.0.0.1:$TC_PORT/metrics" >"$TMP/metrics-$v.txt" 2>/dev/null || true
    for m in realtime_cdc_match_budget_exceeded_total realtime_slow_consumer_closes_total \
             realtime_http_timeouts_total realtime_cdc_stream_pauses_total; do
        R[$v:$m]=$(metric "$m" "$TMP/metrics-$v.txt")
    done
    R[$v:hwm_mb]=$(awk -v k="${hwm_kb:-0}" 'BEGIN { printf "%.0f", k / 1024 }')
    R[$v:busy]=$busy
    R[$v:alive]=$alive
    for pfx in csv advcsv; do
        header=$(grep -E "^$pfx,(clients|marked_rows)," "$out" | tail -1 || true)
        values=$(grep "^$pfx," "$out" | grep -v -E "^$pfx,(clients|marked_rows)," | tail -1 || true)
        if [[ -n $header && -n $values ]]; then
            IFS=, read -r -a h <<<"$header"
            IFS=, read -r -a vv <<<"$values"
            for i in "${!h[@]}"; do R[$v:${h[$i]}]=${vv[$i]}; done
        fi
    done
    if [[ -z ${R[$v:expected]:-} ]]; then
        echo "adversary.sh: no result for variant $v; its log:" >&2
        tail -20 "$lglog" >&2
    fi
    order+=("$v")
    if [[ $alive == 0 ]]; then
        echo "adversary.sh: the server died in variant $v; its log:" >&2
        tail -30 "$TMP/server-$v.log" >&2
        SERVER_PID=
    fi
    bench_stop_server 15
done

# ---- the table ------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { if (u == "" || u == "-") print "-"; else if (u < 0) print "lost"; else printf "%.1f", u / 1000 }'; }
echo
echo "== Isolation: $CLIENTS honest clients ($MIX % customers/technicians/admins, seed subscriptions), $RATE changes/s"
echo "   ($WRITE_MIX % messages/bids/booking updates/booking inserts), ${DURATION} s measured per variant, fresh server each;"
echo "   server: $LABEL; $(nproc) cores shared by server, PostgreSQL and loadgen =="
printf "%-16s %9s %9s %9s %10s %7s %8s %7s %9s %9s %9s %9s %5s\n" \
    variant p50_ms p99_ms max_ms delivered closed srv_cpu rss_MB budget_ex slow_cls http_tmo cdc_pause busy
for v in "${order[@]}"; do
    g() { local x=${R[$v:$1]:-}; echo "${x:--}"; }
    dp=$(g delivered_pct)
    [[ $dp == - ]] || dp="$dp%"
    cpu=$(g server_cpu_pct)
    [[ $cpu == - ]] || cpu="$cpu%"
    printf "%-16s %9s %9s %9s %10s %7s %8s %7s %9s %9s %9s %9s %4s%%\n" "$v" \
        "$(ms "$(g p50_us)")" "$(ms "$(g p99_us)")" "$(ms "$([[ $(g arrived) == 0 ]] && echo - || g max_us)")" \
        "$dp" "$(g closed)" "$cpu" "$(g hwm_mb)" \
        "$(g realtime_cdc_match_budget_exceeded_total)" "$(g realtime_slow_consumer_closes_total)" \
        "$(g realtime_http_timeouts_total)" "$(g realtime_cdc_stream_pauses_total)" "$(g busy)"
done
echo
echo "what the hostile clients did (per variant):"
for v in "${order[@]}"; do
    g() { local x=${R[$v:$1]:-}; echo "${x:--}"; }
    line="  $v: honest rows $(g marked_rows), deliveries expected $(g expected), arrived $(g arrived)"
    case ,$v, in *,regex,*|*,all,*) line+="; regex joins ok/refused $(g regex_joins_ok)/$(g regex_joins_refused), subscribed $(g regex_subscribed), big bookings POSTed $(g posts_ok) (failed $(g posts_failed))" ;; esac
    case ,$v, in *,burst,*|*,all,*) line+="; bursts committed $(g bursts_ok)" ;; esac
    case ,$v, in *,stall,*|*,all,*) line+="; stalled connections $(g stall_conns), dropped by the server $(g stall_dropped)" ;; esac
    case ,$v, in *,slowloris,*|*,all,*) line+="; slowloris opened $(g slow_opened), 408s $(g slow_408), closed by the server $(g slow_closed)" ;; esac
    [[ ${R[$v:alive]} == 1 ]] || line+="; THE SERVER DIED"
    echo "$line"
done
echo "columns: p50/p99/max = commit -> honest client latency over every delivery the rows committed in the window"
echo "  should bring (recipients from the subscriptions and policies), whenever it arrived; lost = that percentile"
echo "  falls among deliveries that never arrived (within DRAIN_MAX = $DRAIN_MAX s of the writer's end marker);"
echo "  delivered = arrived / expected; closed = honest clients the server closed; srv_cpu = server CPU over the window, % of one core; rss_MB = the server's"
echo "  peak RSS (VmHWM); budget_ex, slow_cls, http_tmo, cdc_pause = the server's /metrics at the end:"
echo "  realtime_cdc_match_budget_exceeded_total, realtime_slow_consumer_closes_total, realtime_http_timeouts_total,"
echo "  realtime_cdc_stream_pauses_total (- = the server has no such counter); busy = machine busy before the run."
