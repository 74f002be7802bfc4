#!/usr/bin/env bash
# tests/tools/stream_check.sh: checks cdc/stream (the logical replication
# connection) against a real PostgreSQL 15. Builds tests/tools/stream_check.c
# with src/cdc/stream.c (ASan + UBSan), starts a throwaway cluster with
# scripts/db.sh (--fast --no-demo) in a temporary directory under /tmp on a
# free port, runs `stream_check run` (creates the slot, streams N inserts
# across a PostgreSQL restart) and then `stream_check resume` (a new
# process: the slot is reused and nothing old comes back), stops the
# cluster and deletes it. Not part of ctest: it needs PostgreSQL and
# restarts it.
#
# Usage: tests/tools/stream_check.sh [N]      (default N=2000)
# Environment: CC (default gcc), KEEP=1 keeps the directory for a post-mortem.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
n=${1:-2000}
cc=${CC:-gcc}
work=$(mktemp -d /tmp/stream_check.XXXXXX)
chmod 711 "$work" # the postgres user must reach $work/db

cleanup() {
    "$root/scripts/db.sh" stop --dir "$work/db" >/dev/null 2>&1 || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "stream_check: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=""
for p in $(seq 55640 55740); do
    if ! ss -ltn 2>/dev/null | grep -q ":$p "; then
        port=$p
        break
    fi
done
[[ -n $port ]] || { echo "stream_check: no free port" >&2; exit 2; }

"$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I"$root/src" "$root/tests/tools/stream_check.c" "$root/src/cdc/stream.c" "$root/src/db/pqwatch.c" \
    "$root/src/util/log.c" "$root/src/util/redact.c" "$root/src/util/buf.c" "$root/src/util/mem.c" \
    $(pkg-config --cflags --libs libuv libpq) -o "$work/stream_check"

set -a
eval "$("$root/scripts/db.sh" start --dir "$work/db" --port "$port" --fast --no-demo)"
set +a
export STREAM_CHECK_DB_SH=$root/scripts/db.sh

"$work/stream_check" run "$n"
"$work/stream_check" resume "$n"
echo "stream_check: all passed"
