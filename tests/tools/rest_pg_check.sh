#!/usr/bin/env bash
# tests/tools/rest_pg_check.sh: checks the REST planner against a real
# PostgreSQL 15. Builds tests/tools/rest_pg_check.c with the planner's
# sources (ASan + UBSan), starts a throwaway cluster in a temporary
# directory under /tmp on a free port (unix socket only), runs the check,
# stops the cluster and deletes it. Not part of ctest: it needs PostgreSQL.
#
# Usage: tests/tools/rest_pg_check.sh          (as root: the cluster runs as
#        the postgres user through runuser; as another user it runs as you)
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), CC (default gcc)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
cc=${CC:-gcc}
work=$(mktemp -d /tmp/rest_pg_check.XXXXXX)
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
for p in $(seq 55440 55540); do
    if ! ss -ltn 2>/dev/null | grep -q ":$p " && [[ ! -e /tmp/.s.PGSQL.$p && ! -e $work/.s.PGSQL.$p ]]; then
        port=$p
        break
    fi
done
[[ -n $port ]] || { echo "rest_pg_check: no free port" >&2; exit 2; }

"$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I"$root/src" "$root/tests/tools/rest_pg_check.c" "$root/src/rest/catalog.c" "$root/src/rest/query.c" \
    "$root/src/util/mem.c" "$root/src/util/buf.c" \
    $(pkg-config --cflags --libs jansson libpq) -o "$work/rest_pg_check"

"${as_pg[@]}" "$pg_bin/initdb" -D "$work/data" -A trust -U postgres >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log" >&2; exit 2; }
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-p $port -k $work -c listen_addresses=''" start >/dev/null ||
    { cat "$work/server.log" >&2; exit 2; }

"$work/rest_pg_check" "host=$work port=$port user=postgres dbname=postgres"
