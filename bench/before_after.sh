#!/usr/bin/env bash
# bench/before_after.sh: issue 9's before/after, back to back in one session.
# Builds BASE (default 891ae5d, the commit before the isolation work) from
# `git archive` into a scratch directory (the repository is not touched),
# and the working tree into BUILD_DIR; then runs, for each binary, with the
# same tc-loadgen (this tree's):
#   cdc         bench/cdc.sh, CLIENTS=$CDC_CLIENTS RATES="$CDC_RATES" DURATION=$CDC_DURATION
#   run         bench/run.sh, TARGETS=techcare CONNECTIONS=$RUN_CONNECTIONS
#   adversary   bench/adversary.sh: every variant for the working tree,
#               BASE_ADV_VARIANTS for the base
# and prints the tables side by side. Everything each step printed stays in
# OUT. About 20 minutes with the defaults.
#
# Environment (defaults in brackets):
#   BASE [891ae5d]  BUILD_DIR [<repo>/build]  OUT [a new /tmp/tc-before-after.*]
#   STEPS ["cdc run adversary"]  CDC_CLIENTS [1000]  CDC_RATES ["100 1000"]
#   CDC_DURATION [10]  RUN_CONNECTIONS [10000]
#   ADV_VARIANTS ["none regex burst stall slowloris all"]  BASE_ADV_VARIANTS ["none regex"]
#   QUIET_WAIT [60] (handed to each script: s to wait for an idle machine per run)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

BASE=${BASE:-891ae5d}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
STEPS=${STEPS:-cdc run adversary}
CDC_CLIENTS=${CDC_CLIENTS:-1000}
CDC_RATES=${CDC_RATES:-100 1000}
CDC_DURATION=${CDC_DURATION:-10}
RUN_CONNECTIONS=${RUN_CONNECTIONS:-10000}
ADV_VARIANTS=${ADV_VARIANTS:-none regex burst stall slowloris all}
BASE_ADV_VARIANTS=${BASE_ADV_VARIANTS:-none regex}
export QUIET_WAIT=${QUIET_WAIT:-60}
OUT=${OUT:-$(mktemp -d /tmp/tc-before-after.XXXXXX)}
mkdir -p "$OUT"

BASE_ID=$(git rev-parse --short "$BASE")
HEAD_ID=$(git rev-parse --short HEAD)
DIRTY=
[[ -z $(git status --porcelain --untracked-files=no -- src) ]] || DIRTY=" + uncommitted changes in src/"
echo "# base: $BASE_ID; current: $HEAD_ID$DIRTY; outputs in $OUT"

echo "# building the base ($BASE_ID) in $OUT/base-build"
rm -rf "$OUT/base-src"
mkdir -p "$OUT/base-src"
git archive "$BASE" | tar -x -C "$OUT/base-src"
cmake -S "$OUT/base-src" -B "$OUT/base-build" >/dev/null
cmake --build "$OUT/base-build" -j2 --target techcare-realtime >/dev/null
BASE_SERVER=$OUT/base-build/techcare-realtime
echo "# building the current tree in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" >/dev/null
cmake --build "$BUILD_DIR" -j2 --target techcare-realtime tc-loadgen >/dev/null
CUR_SERVER=$BUILD_DIR/techcare-realtime

# How busy the machine was all along (other sessions share it): every 15 s.
( while :; do echo "$(date +%T) loadavg $(cut -d' ' -f1-3 /proc/loadavg) busy $(busy_pct)%"; sleep 14; done ) \
    >"$OUT/load.txt" 2>&1 &
LOAD_PID=$!
trap 'kill "$LOAD_PID" 2>/dev/null || true' EXIT

step() { # name which -> runs a script with its output in OUT/name-which.txt
    local name=$1 which=$2 server
    server=$([[ $which == base ]] && echo "$BASE_SERVER" || echo "$CUR_SERVER")
    echo "# $(date +%T) $name, $which ($server); $(uptime | sed 's/.*load/load/')"
    case $name in
        cdc) env CLIENTS="$CDC_CLIENTS" "RATES_$CDC_CLIENTS=$CDC_RATES" DURATION="$CDC_DURATION" SERVER="$server" \
                BUILD_DIR="$BUILD_DIR" bash bench/cdc.sh ;;
        run) TARGETS=techcare CONNECTIONS=$RUN_CONNECTIONS SERVER=$server BUILD_DIR=$BUILD_DIR bash bench/run.sh ;;
        adversary)
            VARIANTS=$([[ $which == base ]] && echo "$BASE_ADV_VARIANTS" || echo "$ADV_VARIANTS") \
                LABEL="$which ($([[ $which == base ]] && echo "$BASE_ID" || echo "$HEAD_ID$DIRTY"))" \
                SERVER=$server BUILD_DIR=$BUILD_DIR bash bench/adversary.sh ;;
    esac >"$OUT/$name-$which.txt" 2>&1 || echo "# $name ($which) failed; see $OUT/$name-$which.txt" >&2
}
for s in $STEPS; do
    step "$s" base
    step "$s" current
done

# ---- side by side ---------------------------------------------------------------
echo
echo "== before/after: base $BASE_ID vs current $HEAD_ID$DIRTY, same tc-loadgen, $(nproc) cores =="
if [[ $STEPS == *cdc* ]]; then
    echo
    echo "-- bench/cdc.sh, $CDC_CLIENTS clients, ${CDC_DURATION} s per rate (latency ms; CPU % of one core) --"
    printf "%-18s %22s %22s %11s %11s %8s %8s %12s\n" "clients @ chg/s" "p50/p95/p99 base" "p50/p95/p99 current" \
        "msgs/s base" "current" "srv base" "current" "sustained b/c"
    # the table's rows: clients target committed delivered msgs/chg p50 p95 p99 max srv pg pg-split gen drain busy sustained
    rows() { awk '/^clients +target/ { t = 1; next } t && /^ +[0-9]/ { print } /^columns:/ { t = 0 }' "$1"; }
    join -j1 <(rows "$OUT/cdc-base.txt" | awk '{ print $1 "@" $2, $6 "/" $7 "/" $8, $4, $10, $16 }' | sort) \
             <(rows "$OUT/cdc-current.txt" | awk '{ print $1 "@" $2, $6 "/" $7 "/" $8, $4, $10, $16 }' | sort) |
        sort -t@ -k1,1n -k2,2n |
        awk '{ printf "%-18s %22s %22s %11s %11s %8s %8s %12s\n", $1, $2, $6, $3, $7, $4, $8, $5 "/" $9 }'
fi
if [[ $STEPS == *run* ]]; then
    echo
    echo "-- bench/run.sh, techcare, $RUN_CONNECTIONS connections --"
    table() { awk '/^metric +techcare/ { t = 1; next } t && /^notes:/ { t = 0 } t { print }' "$1"; }
    printf "%-48s %16s %16s\n" metric base current
    paste -d'\t' <(table "$OUT/run-base.txt") <(table "$OUT/run-current.txt") |
        awk -F'\t' '{ label = substr($1, 1, 40); sub(/ +$/, "", label)
                      b = substr($1, 41); gsub(/ /, "", b); c = substr($2, 41); gsub(/ /, "", c)
                      printf "%-48s %16s %16s\n", label, b, c }'
fi
if [[ $STEPS == *adversary* ]]; then
    for w in base current; do
        echo
        awk '/^== Isolation/ { t = 1 } t && /^columns:/ { t = 0 } t { print }' "$OUT/adversary-$w.txt"
    done
fi
kill "$LOAD_PID" 2>/dev/null || true
echo
echo "-- machine load during the runs, the benchmarks included ($OUT/load.txt, every 15 s; busy = all cores over 1 s); the busy-before of each table is what others used --"
awk '{ split($7, b, "%"); n++; s += b[1]; if (b[1] > m) m = b[1]; l += $3 } END {
       if (n) printf "samples %d, mean busy %.0f %% of %d00 %%, max %d %%, mean 1-min load %.2f\n", n, s / n, '"$(nproc)"', m, l / n }' \
    "$OUT/load.txt"
echo
echo "# outputs: $OUT"
