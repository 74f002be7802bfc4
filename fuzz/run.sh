#!/usr/bin/env bash
# fuzz/run.sh: builds every fuzz/fuzz_*.c as a libFuzzer target (clang,
# ASan + UBSan, through CMake with -DTC_FUZZ=ON) and runs each for a fixed
# number of executions, then prints one line per target. Not run in CI: it
# takes minutes, and a fuzzer's value is in long runs on a developer box.
#
# Usage: fuzz/run.sh [RUNS]        RUNS defaults to $FUZZ_RUNS, else 1000000
# Environment:
#   FUZZ_RUNS       executions per target (the first argument wins)
#   FUZZ_MAX_LEN    -max_len for every target (default: per target, below)
#   FUZZ_BUILD_DIR  CMake build directory (default: build-fuzz)
#   FUZZ_BIN_DIR    directory of already built fuzz_* binaries: skip CMake
#   FUZZ_TARGETS    space-separated subset of target names to run
#
# Each target keeps its corpus in fuzz/corpus-<name>/ (gitignored); the
# seeds in fuzz/seeds/<name>/, when present, are read as a second corpus
# directory so new inputs never land among the committed seeds. Crash
# inputs and logs go to fuzz/out/. Exits non-zero if a build failed or any
# target crashed, leaked, timed out or ran out of memory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-${FUZZ_RUNS:-1000000}}
if ! [[ $runs =~ ^[0-9]+$ ]] || ((runs == 0)); then
    echo "run.sh: RUNS must be a positive integer, got '$runs'" >&2
    exit 2
fi
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
out=$root/fuzz/out
mkdir -p "$out"

# Every fuzz/fuzz_*.c is a target, named after its file.
targets=()
for src in "$root"/fuzz/fuzz_*.c; do
    [[ -e $src ]] || continue
    name=$(basename "$src" .c)
    if [[ -n ${FUZZ_TARGETS:-} && " $FUZZ_TARGETS " != *" $name "* ]]; then
        continue
    fi
    targets+=("$name")
done
if ((${#targets[@]} == 0)); then
    echo "run.sh: no fuzz/fuzz_*.c targets found" >&2
    exit 2
fi

# Inputs longer than a target's interesting range only slow it down; the
# HTTP reader needs room to cross its 8 KiB head limit.
max_len_for() {
    if [[ -n ${FUZZ_MAX_LEN:-} ]]; then
        echo "$FUZZ_MAX_LEN"
        return
    fi
    case $1 in
    fuzz_http_request) echo 10240 ;;
    *) echo 4096 ;;
    esac
}

if [[ -n ${FUZZ_BIN_DIR:-} ]]; then
    bindir=$FUZZ_BIN_DIR
else
    bindir=$build
    cmake -S "$root" -B "$build" -DTC_FUZZ=ON -DTC_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$out/cmake-configure.log" 2>&1 || {
        cat "$out/cmake-configure.log" >&2
        echo "run.sh: CMake configure failed" >&2
        exit 1
    }
    cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >"$out/cmake-build.log" 2>&1 || {
        tail -n 60 "$out/cmake-build.log" >&2
        echo "run.sh: build failed (full log: $out/cmake-build.log)" >&2
        exit 1
    }
fi

failed=0
results=()
for name in "${targets[@]}"; do
    bin=$bindir/$name
    log=$out/$name.log
    if [[ ! -x $bin ]]; then
        results+=("$name|-|NOT BUILT")
        failed=1
        continue
    fi
    corpus=$root/fuzz/corpus-$name
    mkdir -p "$corpus"
    dirs=("$corpus")
    [[ -d $root/fuzz/seeds/$name ]] && dirs+=("$root/fuzz/seeds/$name")
    echo "== $name: $runs runs, max_len $(max_len_for "$name")" >&2
    rc=0
    "$bin" -runs="$runs" -max_len="$(max_len_for "$name")" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/$name-" "${dirs[@]}" >"$log" 2>&1 || rc=$?

    # Executions: the final stats line, or the last status line if it died.
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [[ -z $execs ]]; then
        execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    execs=${execs:-0}
    if ((rc == 0)); then
        result=ok
    else
        failed=1
        kind=$({ grep -o -E 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-zA-Z-]+|runtime error|check failed|deadly signal|out-of-memory|timeout' "$log" || true; } | head -n 1)
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        result="FAILED (exit $rc${kind:+: $kind}${artifact:+; input $artifact}; log $log)"
    fi
    results+=("$name|$execs|$result")
done

printf '\n%-24s %12s  %s\n' target executions result
for row in "${results[@]}"; do
    IFS='|' read -r name execs result <<<"$row"
    printf '%-24s %12s  %s\n' "$name" "$execs" "$result"
done
exit "$failed"
