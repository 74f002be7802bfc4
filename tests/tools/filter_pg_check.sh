#!/usr/bin/env bash
# tests/tools/filter_pg_check.sh: checks the postgres_changes filter module
# (src/cdc/filter.c) against a real PostgreSQL 15. Builds
# tests/tools/filter_pg_check.c with the module (ASan + UBSan), starts a
# throwaway cluster (C locale, UTF-8) in a temporary directory under /tmp on
# a free port (unix socket only), runs the check, stops the cluster and
# deletes it. Not part of ctest: it needs PostgreSQL (postgresql-15, whose
# contrib provides citext).
#
# Usage: tests/tools/filter_pg_check.sh [FILTERS [SEED]]   (default 3000 filters)
#        As root the cluster runs as the postgres user through runuser.
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), CC (default gcc)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
cc=${CC:-gcc}
work=$(mktemp -d /tmp/filter_pg_check.XXXXXX)
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
    chown postgres "$work"
    as_pg=(runuser -u postgres --)
fi

cleanup() {
    if [[ -f $work/data/postmaster.pid ]]; then
        "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A port nobody listens on (TCP is off, but the socket file name uses it).
port=""
for p in $(seq 55640 55740); do
    if ! ss -ltn 2>/dev/null | grep -q ":$p " && [[ ! -e /tmp/.s.PGSQL.$p && ! -e $work/.s.PGSQL.$p ]]; then
        port=$p
        break
    fi
done
[[ -n $port ]] || { echo "filter_pg_check: no free port" >&2; exit 2; }

"$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I"$root/src" "$root/tests/tools/filter_pg_check.c" "$root/src/cdc/filter.c" "$root/src/util/mem.c" \
    $(pkg-config --cflags --libs libpq) -lm -o "$work/filter_pg_check"

"${as_pg[@]}" "$pg_bin/initdb" -D "$work/data" -A trust -U postgres --locale=C -E UTF8 >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log" >&2; exit 2; }
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-p $port -k $work -c listen_addresses='' -c fsync=off" start >/dev/null ||
    { cat "$work/server.log" >&2; exit 2; }

"$work/filter_pg_check" "host=$work port=$port user=postgres dbname=postgres" "${1:-3000}" "${2:-1}"
