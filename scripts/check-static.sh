#!/usr/bin/env bash
# Static analysis of src/: cppcheck (--enable=warning,portability,performance)
# and clang-tidy (the checks .clang-tidy lists), both over the compile
# database CMake writes, so each file is analysed with the flags it is built
# with. Prints every finding; exits 1 if there is any. A false positive is
# silenced on its line with a reason:
#   cppcheck:   // cppcheck-suppress <id> - why
#   clang-tidy: // NOLINT(<check>): why      (or NOLINTNEXTLINE above)
# Usage: scripts/check-static.sh [file...]   (default: every src/*.c)
# The compile database goes to build-static/ (STATIC_BUILD_DIR to change).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/need.sh
need cppcheck cppcheck
need clang-tidy clang-tidy
build=${STATIC_BUILD_DIR:-build-static}
cmake -S . -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
if [ $# -gt 0 ]; then
  files=$(for f in "$@"; do realpath "$f"; done)
else
  files=$(git ls-files -- 'src/*.c' | sed "s|^|$PWD/|")
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
jobs=$(nproc)

# cppcheck first: it takes seconds. Its findings go to stderr in one line
# each (the template); --error-exitcode makes any finding a failure.
mkdir -p "$build/cppcheck"
# cppcheck 2.10 matches --file-filter against paths relative to the project.
filters=(); for f in $files; do filters+=("--file-filter=${f#"$PWD"/}"); done
cppcheck_rc=0
cppcheck --project="$build/compile_commands.json" "${filters[@]}" -j"$jobs" --quiet \
  --enable=warning,portability,performance --inline-suppr --error-exitcode=1 \
  --cppcheck-build-dir="$build/cppcheck" \
  --template='{file}:{line}:{column}: {severity}: {message} [cppcheck-{id}]' 2> "$out/cppcheck" || cppcheck_rc=$?

# clang-tidy per file on every core; a header's finding is reported once
# however many files include it.
echo "$files" | xargs -r -P"$jobs" -n4 clang-tidy --quiet -p "$build" > "$out/tidy" 2> "$out/tidy.err" || true
grep -E '^/.*: (warning|error): ' "$out/tidy" | sort -u > "$out/tidy.found" || true

n_cpp=$(grep -cE ': (warning|error|style|performance|portability): ' "$out/cppcheck" || true)
n_tidy=$(wc -l < "$out/tidy.found")
if [ "$n_cpp" -gt 0 ] || [ "$cppcheck_rc" -ne 0 ]; then
  echo "== cppcheck: $n_cpp findings"; sed "s|$PWD/||" "$out/cppcheck"
fi
if [ "$n_tidy" -gt 0 ]; then
  echo "== clang-tidy: $n_tidy findings (with the analyzer's path: clang-tidy -p $build FILE)"
  sed "s|$PWD/||" "$out/tidy.found"
fi
# clang-tidy exits non-zero when it cannot parse a file: that is a failure too.
if grep -qE 'error: |Error while processing' "$out/tidy.err"; then
  echo "== clang-tidy could not analyse some files:"; grep -E 'error: |Error while processing' "$out/tidy.err" | sort -u
  n_tidy=$((n_tidy + 1))
fi
if [ "$n_cpp" -eq 0 ] && [ "$cppcheck_rc" -eq 0 ] && [ "$n_tidy" -eq 0 ]; then
  echo "check-static: $(echo "$files" | wc -l) files, no findings (cppcheck, clang-tidy)"
  exit 0
fi
echo "check-static: $((n_cpp + n_tidy)) findings"
exit 1
