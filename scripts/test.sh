#!/usr/bin/env bash
# Runs every test: C unit tests and the realtime-js integration suite,
# against a normal build and again against an AddressSanitizer +
# UndefinedBehaviorSanitizer build. Installs what is missing first.
# Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
. scripts/node.sh || exit 1
scripts/build.sh --asan --tsan || exit 1
scripts/web.sh || exit 1

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# A race report makes the server exit 66, which the harness counts as a failure.
export TSAN_OPTIONS="halt_on_error=0:exitcode=66:suppressions=$PWD/tests/tsan.supp"
passed=0; failed=0; broken=0
# What failed, repeated at the end: CI shows only the tail of the output.
recap=""
log=$(mktemp); trap 'rm -f "$log"' EXIT
# Runs one suite and adds its test counts (read from ctest's or node's own
# summary) to the totals; a suite that fails without counting a failed
# test (a crash, a build error) still counts as one failure.
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]} p=0 f=0
  if grep -q 'tests passed, ' "$log"; then
    local total; total=$(grep -oE 'out of [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    f=$(grep -oE '[0-9]+ tests failed' "$log" | tail -1 | grep -oE '^[0-9]+'); p=$((total - f))
  elif grep -qE '^# pass ' "$log"; then
    p=$(grep -E '^# pass ' "$log" | tail -1 | awk '{print $3}'); f=$(grep -E '^# fail ' "$log" | tail -1 | awk '{print $3}')
  elif grep -qE '^[0-9]+/[0-9]+ passed$' "$log"; then
    p=$(grep -E '^[0-9]+/[0-9]+ passed$' "$log" | tail -1 | cut -d/ -f1)
    f=$(( $(grep -E '^[0-9]+/[0-9]+ passed$' "$log" | tail -1 | cut -d/ -f2 | cut -d' ' -f1) - p ))
  elif grep -qE '^[0-9]+ passed, [0-9]+ failed' "$log"; then
    p=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $1}')
    f=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | awk '{print $3}')
  fi
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  # A suite that reports no count (the PostgreSQL check tools) counts as one test.
  [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && p=1
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" -eq 0 ]; then echo "--- ok: $name ($p passed)"; else
    broken=1; echo "--- FAILED: $name"
    recap+="FAILED: $name"$'\n'
    local why; why=$(grep -iE '^ *not ok |tests failed|FAIL|error' "$log" | head -20)
    # Nothing recognisable (a tool's own message): its last lines instead.
    [ -n "$why" ] || why=$(tail -5 "$log")
    recap+=$(sed 's/^ */  /' <<<"$why")$'\n'
  fi
}
step "layers: src/ includes point one way" scripts/check-layers.sh
step "format: C files as .clang-format writes them" scripts/check-format.sh
step "static analysis (cppcheck, clang-tidy) of src/" scripts/check-static.sh
step "database (schema, RLS, auth functions)" tests/db/run.sh
# Module checks against a real PostgreSQL (each builds its tool with ASan
# and UBSan and uses a throwaway cluster).
step "REST planner on PostgreSQL" bash tests/tools/rest_pg_check.sh
step "postgres_changes filters vs PostgreSQL WHERE" bash tests/tools/filter_pg_check.sh
step "pgoutput decoding vs to_jsonb" bash tests/tools/pgoutput_pg_check.sh
step "replication stream across a PostgreSQL restart" bash tests/tools/stream_check.sh
step "Postgres Changes authorization (cdc/authz) on PostgreSQL" bash tests/tools/authz_pg_check.sh
# Every parser's fuzz target, briefly (long runs: fuzz/run.sh by hand).
step "fuzz smoke (20,000 runs per target)" bash fuzz/run.sh 20000
step "unit tests" ctest --test-dir build --output-on-failure
step "unit tests (asan+ubsan)" ctest --test-dir build-asan --output-on-failure
# Node >= 22 takes test paths as globs, not folders.
for build in build build-asan; do
  tag=""; [ "$build" = build-asan ] && tag=", asan+ubsan"
  step "integration (realtime-js$tag)" env TC_SERVER_BIN="$PWD/$build/techcare-realtime" \
    node --test --test-concurrency=1 'tests/integration/*.test.mjs'
  step "web app: realtime module (supabase-js$tag)" env TC_SERVER_BIN="$PWD/$build/techcare-realtime" \
    node --test --test-concurrency=1 'tests/web/*.test.mjs'
  step "web app in Chromium$tag" env TC_SERVER_BIN="$PWD/$build/techcare-realtime" \
    node --test --test-concurrency=1 'tests/browser/*.test.mjs'
done
# The server's threads (workers, CDC thread, their inboxes) under
# ThreadSanitizer: the integration suite once more.
step "integration (realtime-js, tsan)" env TC_SERVER_BIN="$PWD/build-tsan/techcare-realtime" TC_RANDOM_CASES=2000 \
  node --test --test-concurrency=1 'tests/integration/*.test.mjs'
echo
[ -n "$recap" ] && printf '%s' "$recap"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
