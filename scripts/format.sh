#!/usr/bin/env bash
# Formats C files in place with the repository's .clang-format: the files
# given, or every C file git tracks under src/ tests/ fuzz/ bench/ (the set
# scripts/check-format.sh checks). Usage: scripts/format.sh [file...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/need.sh
need clang-format clang-format
if [ $# -gt 0 ]; then
  printf '%s\n' "$@"
else
  c_files
fi | xargs -r -P"$(nproc)" -n8 clang-format -i
