# tests/tools/scratch_pg.sh: sourced by the *_pg_check.sh tools. A bare,
# throwaway PostgreSQL 15 cluster (no TechCare schema) in a temporary
# directory, unix socket only, removed on exit.
#
#   source "$(dirname "$0")/scratch_pg.sh"
#   scratch_pg_init NAME             # sets root, cc, work (temp dir), port
#   scratch_pg_start "INITDB ARGS" "SERVER -c OPTIONS"
#   ... "host=$work port=$port user=postgres dbname=postgres" ...
#
# As root the cluster runs as the postgres user (runuser). Environment:
# PG_BIN (default /usr/lib/postgresql/15/bin), CC (default gcc).

scratch_pg_init() {
    local name=$1
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
    cc=${CC:-gcc}
    work=$(mktemp -d "/tmp/$name.XXXXXX")
    as_pg=()
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres "$work"
        as_pg=(runuser -u postgres --)
    fi
    trap scratch_pg_cleanup EXIT
    # A port nobody uses (TCP is off, but the socket file name carries it).
    port=""
    local p
    for p in $(seq 55440 55940); do
        if ! ss -ltn 2>/dev/null | grep -q ":$p " && [[ ! -e /tmp/.s.PGSQL.$p ]]; then
            port=$p
            break
        fi
    done
    [[ -n $port ]] || { echo "$name: no free port" >&2; exit 2; }
}

scratch_pg_cleanup() {
    if [[ -f $work/data/postmaster.pid ]]; then
        "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}

# $1: extra initdb arguments, $2: extra server options (both word-split).
scratch_pg_start() {
    # shellcheck disable=SC2086
    "${as_pg[@]}" "$pg_bin/initdb" -D "$work/data" -A trust -U postgres $1 >"$work/initdb.log" 2>&1 ||
        { cat "$work/initdb.log" >&2; exit 2; }
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
        -o "-p $port -k $work -c listen_addresses='' $2" start >/dev/null ||
        { cat "$work/server.log" >&2; exit 2; }
}
