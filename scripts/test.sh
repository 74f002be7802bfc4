#!/usr/bin/env bash
# Runs every test: C unit tests and the realtime-js integration suite,
# against a normal build and again against an AddressSanitizer +
# UndefinedBehaviorSanitizer build. Installs what is missing first.
# Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
scripts/build.sh --asan || exit 1

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
passed=0; failed=0
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); echo "--- ok: $name"; else failed=$((failed + 1)); echo "--- FAILED: $name"; fi
}
step "unit tests" ctest --test-dir build --output-on-failure
step "unit tests (asan+ubsan)" ctest --test-dir build-asan --output-on-failure
step "integration (realtime-js)" env TC_SERVER_BIN="$PWD/build/techcare-realtime" \
  node --test --test-concurrency=1 tests/integration/
step "integration (realtime-js, asan+ubsan)" env TC_SERVER_BIN="$PWD/build-asan/techcare-realtime" \
  node --test --test-concurrency=1 tests/integration/
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
