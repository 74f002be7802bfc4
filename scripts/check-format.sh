#!/usr/bin/env bash
# Checks that every C file git tracks under src/ tests/ fuzz/ bench/ reads as
# clang-format writes it with the repository's .clang-format. Prints the
# files that differ and the command that fixes them; exits 1 if any does.
# Usage: scripts/check-format.sh [-v]   (-v also prints each file's diff)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/need.sh
need clang-format clang-format
verbose=0; [ "${1:-}" = -v ] && verbose=1

# Another major version formats some constructs differently: the tree is
# kept as Debian 12's clang-format 14 writes it.
major=$(clang-format --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+')
[ "$major" = 14 ] || echo "check-format: this is clang-format $major; the tree follows version 14 (Debian 12's)" >&2

# On every core, a few files per clang-format run: the names of those that differ.
bad=$(c_files | xargs -r -P"$(nproc)" -n16 sh -c \
  'for f; do clang-format --dry-run --Werror "$f" 2>/dev/null || echo "$f"; done' _ | sort)
if [ -z "$bad" ]; then
  echo "check-format: $(c_files | wc -l) files formatted"
  exit 0
fi
echo "check-format: $(echo "$bad" | wc -l) files differ from clang-format (.clang-format):"
for f in $bad; do
  echo "  $f"
  [ "$verbose" = 1 ] && { clang-format "$f" | diff -u "$f" - | sed 's/^/    /' || true; }
done
if [ "$(echo "$bad" | wc -l)" -le 5 ]; then
  echo "fix: scripts/format.sh $(echo $bad)"
else
  echo "fix: scripts/format.sh   (formats every C file; scripts/format.sh FILE... for some)"
fi
exit 1
