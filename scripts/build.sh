#!/usr/bin/env bash
# Builds build/techcare-realtime; with --asan also build-asan/
# (AddressSanitizer + UndefinedBehaviorSanitizer), with --tsan also
# build-tsan/ (ThreadSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."
asan=0; tsan=0
for a in "$@"; do
  case "$a" in
    --asan) asan=1 ;;
    --tsan) tsan=1 ;;
    *) echo "build.sh: unknown option $a (--asan, --tsan)" >&2; exit 2 ;;
  esac
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
if [ "$asan" = 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTC_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
fi
if [ "$tsan" = 1 ]; then
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTC_TSAN=ON >/dev/null
  cmake --build build-tsan -j"$(nproc)"
fi
