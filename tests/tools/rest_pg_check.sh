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

source "$(dirname "${BASH_SOURCE[0]}")/scratch_pg.sh"
scratch_pg_init rest_pg_check

"$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I"$root/src" "$root/tests/tools/rest_pg_check.c" "$root/src/rest/catalog.c" "$root"/src/rest/query*.c \
    "$root/src/util/mem.c" "$root/src/util/buf.c" "$root/src/util/pct.c" \
    $(pkg-config --cflags --libs jansson libpq) -o "$work/rest_pg_check"

scratch_pg_start "" ""

"$work/rest_pg_check" "host=$work port=$port user=postgres dbname=postgres"
