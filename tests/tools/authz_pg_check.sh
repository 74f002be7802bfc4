#!/usr/bin/env bash
# tests/tools/authz_pg_check.sh: checks cdc/authz (the row-level security
# verdict on Postgres Changes) against a real PostgreSQL 15, through
# db/pool, with no mocks: builds the cmocka test tests/unit/cdc/test_cdc_authz
# (ASan + UBSan, in its own build directory), starts a throwaway cluster
# (unix socket only) in a temporary directory under /tmp, and runs the test
# with TC_AUTHZ_PG naming it (without it, ctest skips the test). The test
# creates the roles, tables, policies and publication it needs.
#
# Usage: tests/tools/authz_pg_check.sh
#        As root the cluster runs as the postgres user through runuser.
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin),
#   AUTHZ_BUILD_DIR (default build-authz/ in the tree, like build-fuzz/:
#   kept between runs so a second run only rebuilds what changed, and never
#   shared by two clones, whose CMake caches name different sources).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/scratch_pg.sh"
scratch_pg_init authz_pg_check

build=${AUTHZ_BUILD_DIR:-$root/build-authz}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTC_SANITIZE=ON >/dev/null
cmake --build "$build" --target test_cdc_authz -j2 >/dev/null

scratch_pg_start "--locale=C -E UTF8" "-c fsync=off -c wal_level=logical"

TC_AUTHZ_PG="host=$work port=$port user=postgres dbname=postgres" "$build/test_cdc_authz"
echo "authz_pg_check: all passed"
