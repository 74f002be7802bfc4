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

source "$(dirname "${BASH_SOURCE[0]}")/scratch_pg.sh"
scratch_pg_init pgoutput_pg_check

"$cc" -std=c11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I"$root/src" "$root/tests/tools/pgoutput_pg_check.c" "$root/src/cdc/pgoutput.c" "$root"/src/cdc/pg{json,type,time,value,array}.c \
    "$root/src/util/mem.c" "$root/src/util/buf.c" "$root/src/util/hash.c" "$root/src/util/htab.c" \
    $(pkg-config --cflags --libs libpq) -o "$work/pgoutput_pg_check"

scratch_pg_start "-E UTF8 --locale=C.UTF-8" "-c wal_level=logical -c max_prepared_transactions=10"

"$work/pgoutput_pg_check" "host=$work port=$port user=postgres dbname=postgres"
