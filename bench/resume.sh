#!/usr/bin/env bash
# bench/resume.sh: Postgres Changes resume after a server restart (issue 13,
# docs/PROTOCOL.md "Postgres Changes: positions and resume"). Starts a
# throwaway PostgreSQL cluster (scripts/db.sh --fast --no-demo, temp dir, free
# port), adds a table public.bench_resume in publication supabase_realtime
# with RLS and a writer procedure, builds techcare-realtime, and runs
# bench/resume.mjs (stock realtime-js clients over PROCS Node 22 processes,
# from scripts/node.sh), which starts, kills and restarts the server on one
# permanent slot and prints the table: 1,000 clients subscribed, the server
# SIGKILLed, 10,000 changes committed, the server started again, every client
# resuming at once; time to live and to caught up, replayed deliveries/s,
# lost and duplicated; the slot's WAL and the server's memory per retained
# change. What each figure means: bench/resume.mjs's header. Cleans up at
# the end. Not part of scripts/test.sh.
#
# Environment (defaults in brackets):
#   CLIENTS [1000] (one RealtimeClient and one channel each)
#   CHANGES [10000] (committed while the server is down, one per transaction)
#   TOPICS [100] (client i's binding: k=eq.<i % TOPICS>; row n has
#     k = n % TOPICS: CLIENTS / TOPICS subscribers per row, CHANGES / TOPICS
#     rows per client to replay)
#   PROCS [2] (Node processes the clients are spread over)
#   POLICIES ["db"] (one scenario each, on a fresh cluster state and slot:
#     "db": a SELECT policy the server cannot decide itself (k in (select k
#     from public.bench_readable)), so every replayed change is authorized in
#     PostgreSQL; "plain": using (true), decided in the server)
#   CATCHUP_MAX [120] (s to wait for every client to catch up)
#   LIVE_CHANGES [0] LIVE_RATE [1000] (rows committed, at that many a
#     second, while the clients resume: live changes during the catch-up)
#   UP_DELAY_MS [0] (after the restart, wait for the history gauges to settle
#     and this long before the clients connect: with CDC_HISTORY_MAX_BYTES
#     below the batch, their positions are then older than the history)
#   WORKERS [2]  BUILD_DIR [<repo>/build]  SERVER [$BUILD_DIR/techcare-realtime]
#   KEEP [0] (1: keep logs)  QUIET_WAIT [20]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

export CLIENTS=${CLIENTS:-1000}
export CHANGES=${CHANGES:-10000}
export TOPICS=${TOPICS:-100}
export PROCS=${PROCS:-2}
export CATCHUP_MAX=${CATCHUP_MAX:-120}
export UP_DELAY_MS=${UP_DELAY_MS:-0}
export LIVE_CHANGES=${LIVE_CHANGES:-0}
export LIVE_RATE=${LIVE_RATE:-1000}
POLICIES=${POLICIES:-db}
export WORKERS=${WORKERS:-2}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-20}
SECRET=${SECRET:-bench-secret-0123456789abcdef0123456789abcdef0123456789abcdef}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_build_server
. scripts/node.sh

bench_workdir resume   # bench/resume.mjs runs and stops the server itself

# ---- the database --------------------------------------------------------------
bench_db_start
echo "# public.bench_resume (RLS, in supabase_realtime), bench.write_batch"
psql_su -v topics="$TOPICS" <<'SQL'
set client_min_messages = warning;
create schema bench;
-- In public: the server prepares its checks before it takes the subscriber's
-- role, as its pool's login role, which needs to see the schema.
create table public.bench_readable (k int primary key);
insert into public.bench_readable select generate_series(0, :topics - 1);
grant select on public.bench_readable to authenticated;
create table public.bench_resume (id bigserial primary key, k int not null, seq int not null, phase text not null,
                                  pad text not null default repeat('x', 64), t timestamptz not null default clock_timestamp());
alter table public.bench_resume enable row level security;
grant select on public.bench_resume to authenticated;
alter publication supabase_realtime add table public.bench_resume;

-- p_n rows, one transaction each, row i on topic i % p_topics.
create procedure bench.write_batch(p_phase text, p_n int, p_topics int)
language plpgsql as $$
begin
  for i in 0 .. p_n - 1 loop
    insert into public.bench_resume (k, seq, phase) values (i % p_topics, i, p_phase);
    commit;
  end loop;
end $$;

-- p_n rows from seq p_from on, one transaction each, paced at p_rate a second.
create procedure bench.write_live(p_phase text, p_from int, p_n int, p_topics int, p_rate int)
language plpgsql as $$
declare
  t0 timestamptz := clock_timestamp();
  ahead float8;
begin
  for i in 0 .. p_n - 1 loop
    insert into public.bench_resume (k, seq, phase) values ((p_from + i) % p_topics, p_from + i, p_phase);
    commit;
    ahead := extract(epoch from t0 + (i + 1) * interval '1 second' / p_rate - clock_timestamp());
    if ahead > 0 then perform pg_sleep(ahead); end if;
  end loop;
end $$;
SQL

TC_PORT=$(free_port)
flags=(--host 127.0.0.1 --port "$TC_PORT" --workers "$WORKERS" --max-events-per-second 1000000
       --max-joins-per-second 1000 --drain-timeout-ms 1000 "${ISOLATION_FLAGS[@]}" --log-level warn)
for policy in $POLICIES; do
    case $policy in
        db) using='k in (select r.k from public.bench_readable r)' ;;
        plain) using='true' ;;
        *) echo "resume.sh: unknown policy $policy (db, plain)" >&2; exit 2 ;;
    esac
    psql_su -c "drop policy if exists bench_read on public.bench_resume" \
            -c "create policy bench_read on public.bench_resume for select to authenticated using ($using)" \
            -c "truncate public.bench_resume" >/dev/null
    SLOT=bench_resume_$$_$policy
    busy=$(wait_quiet_pct "resume ($policy)")
    echo "# scenario: policy $policy, slot $SLOT, port $TC_PORT, machine $busy % busy before"
    mkdir -p "$TMP/$policy"
    TC_PORT=$TC_PORT SECRET=$SECRET SERVER=$SERVER SERVER_FLAGS=$(printf '%s\n' "${flags[@]}") SLOT=$SLOT \
        SU_CONNINFO=$SU_CONNINFO PG_PID=$PG_PID POLICY=$policy TMP_DIR=$TMP/$policy MACHINE_BUSY=$busy \
        node bench/resume.mjs
    bench_stop_server 10   # drops the slot (the server is already stopped)
done
