#!/usr/bin/env bash
# tests/tools/pgoutput_pg_check.sh: checks the pgoutput decoder and its
# value conversion against a real PostgreSQL 15 (see pgoutput_pg_check.c).
# Builds tests/tools/pgoutput_pg_check.c with src/cdc/pgoutput.c (ASan +
# UBSan), starts a throwaway cluster (wal_level=logical, two-phase on) in a
# temporary directory under /tmp on a free port (unix socket only), runs
# the check, stops the cluster and deletes it. Not part of ctest: it needs
# PostgreSQL.
#
# Usage: tests/tools/pgoutput_pg_check.sh   (as root: the cluster runs as the
#        postgres user through runuser; as another user it runs as you)
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), CC (default gcc)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
cc=${CC:-gcc}
work=$(mktemp -d /tmp/pgoutput_pg_check.XXXXXX)
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
for p in $(seq 55540 55640); do
    if ! ss -ltn 2>/dev/null | grep -q ":$p " && [[ ! -e /tmp/.s.PGSQL.$p && ! -e $work/.s.PGSQL.$p ]]; then
        port=$p
        break
    fi
done
[[ -n $port ]] || { echo "pgoutput_pg_check: no free port" >&2; exit 2; }

"$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I"$root/src" "$root/tests/tools/pgoutput_pg_check.c" "$root/src/cdc/pgoutput.c" \
    "$root/src/util/mem.c" "$root/src/util/buf.c" \
    $(pkg-config --cflags --libs libpq) -o "$work/pgoutput_pg_check"

"${as_pg[@]}" "$pg_bin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
    >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 2; }
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-p $port -k $work -c listen_addresses='' -c wal_level=logical -c max_prepared_transactions=10" \
    start >/dev/null || { cat "$work/server.log" >&2; exit 2; }

"$work/pgoutput_pg_check" "host=$work port=$port user=postgres dbname=postgres"
