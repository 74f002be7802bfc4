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

source "$(dirname "${BASH_SOURCE[0]}")/scratch_pg.sh"
scratch_pg_init filter_pg_check

"$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I"$root/src" "$root/tests/tools/filter_pg_check.c" "$root/src/cdc/filter.c" "$root"/src/cdc/pg{value,time,array,like,regex,rxparse}.c "$root/src/util/mem.c" \
    $(pkg-config --cflags --libs libpq) -lm -o "$work/filter_pg_check"

scratch_pg_start "--locale=C -E UTF8" "-c fsync=off"

"$work/filter_pg_check" "host=$work port=$port user=postgres dbname=postgres" "${1:-3000}" "${2:-1}"
