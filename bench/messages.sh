#!/usr/bin/env bash
# bench/messages.sh: Broadcast from the database, Postgres Changes and replay
# (issue 12), side by side in one run. Starts a throwaway PostgreSQL cluster
# (scripts/db.sh --fast --no-demo, temp dir, free port), adds what the
# benchmark needs (a SELECT policy on realtime.messages for "bench:%", a
# table public.bench_rows with RLS in publication supabase_realtime, writer
# procedures, REPLAY_STORED stored messages on topic "bench:replay" with
# past inserted_at), builds and starts one techcare-realtime on a fresh
# replication slot, and runs bench/messages.mjs (stock realtime-js clients,
# Node 22 from scripts/node.sh), which prints the table. Cleans up at the end.
# What each figure means: bench/messages.mjs's header and docs/BENCHMARKS.md,
# "Broadcast from the database and replay (issue 12)".
#
# Environment (defaults in brackets):
#   CLIENTS [100] (WebSocket clients, one realtime-js RealtimeClient each)
#   TOPICS [10] (client i joins private "bench:<i % TOPICS>" and a
#     postgres_changes channel filtered k=eq.<i % TOPICS>)
#   RATES ["100 1000"] (rows/s the writer commits, one row per transaction)
#   DURATION [10] (s the writer writes per scenario)  DRAIN_MAX [5]
#   REPLAY_STORED [1000] (stored messages on "bench:replay", 1 s apart)
#   REPLAY_JOINS [40] (replaying joins, sequential and concurrent)
#   REPLAY_REPEAT [50] (single joins timed, with and without replay)
#   WORKERS [2]  BUILD_DIR [<repo>/build]  SERVER [$BUILD_DIR/techcare-realtime]
#   KEEP [0] (1: keep logs)  QUIET_WAIT [20]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

export CLIENTS=${CLIENTS:-100}
export TOPICS=${TOPICS:-10}
export RATES=${RATES:-100 1000}
export DURATION=${DURATION:-10}
export DRAIN_MAX=${DRAIN_MAX:-5}
export REPLAY_STORED=${REPLAY_STORED:-1000}
export REPLAY_JOINS=${REPLAY_JOINS:-40}
export REPLAY_REPEAT=${REPLAY_REPEAT:-50}
WORKERS=${WORKERS:-2}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-20}
SECRET=${SECRET:-bench-secret-0123456789abcdef0123456789abcdef0123456789abcdef}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_build_server
. scripts/node.sh

bench_workdir messages

# ---- the database --------------------------------------------------------------
bench_db_start
echo "# policies, public.bench_rows, writer procedures, $REPLAY_STORED stored messages on bench:replay"
psql_su -v stored="$REPLAY_STORED" <<'SQL'
set client_min_messages = warning;
create schema bench;
-- Private channels "bench:%": authenticated users may join and read (the
-- join's check, Broadcast from the database's admission, replay's query).
create policy "bench read" on realtime.messages for select to authenticated
  using (realtime.topic() like 'bench:%');

-- Postgres Changes: a table every authenticated user may read.
create table public.bench_rows (id bigserial primary key, k int not null, phase text not null,
                                seq int not null, t float8 not null);
alter table public.bench_rows enable row level security;
create policy "bench read rows" on public.bench_rows for select to authenticated using (true);
grant select on public.bench_rows to authenticated;
alter publication supabase_realtime add table public.bench_rows;

-- The writers: rows at p_rate per second for p_seconds, one transaction
-- each (open loop: a row is due at t0 + n / p_rate, whatever the delivery
-- does), round-robin over p_topics topics; each row carries
-- clock_timestamp() in ms since the epoch ("t") and its number ("seq").
-- elapsed: the seconds it took.
create procedure bench.write_messages(p_phase text, p_rate int, p_seconds float8, p_topics int,
                                      inout elapsed float8 default null)
language plpgsql as $$
declare
  t0 timestamptz := clock_timestamp();
  total int := ceil(p_rate * p_seconds);
  n int := 0;
  due int;
begin
  while n < total loop
    due := least(total, floor(extract(epoch from clock_timestamp() - t0) * p_rate)::int + 1);
    while n < due loop
      perform realtime.send(jsonb_build_object('t', extract(epoch from clock_timestamp()) * 1000, 'seq', n,
                                               'phase', p_phase),
                            p_phase, 'bench:' || (n % p_topics), true);
      commit;
      n := n + 1;
    end loop;
    if n < total then perform pg_sleep(0.001); end if;
  end loop;
  elapsed := extract(epoch from clock_timestamp() - t0);
end $$;

create procedure bench.write_rows(p_phase text, p_rate int, p_seconds float8, p_topics int,
                                  inout elapsed float8 default null)
language plpgsql as $$
declare
  t0 timestamptz := clock_timestamp();
  total int := ceil(p_rate * p_seconds);
  n int := 0;
  due int;
begin
  while n < total loop
    due := least(total, floor(extract(epoch from clock_timestamp() - t0) * p_rate)::int + 1);
    while n < due loop
      insert into public.bench_rows (k, phase, seq, t)
        values (n % p_topics, p_phase, n, extract(epoch from clock_timestamp()) * 1000);
      commit;
      n := n + 1;
    end loop;
    if n < total then perform pg_sleep(0.001); end if;
  end loop;
  elapsed := extract(epoch from clock_timestamp() - t0);
end $$;

-- Replay's history: today's partitions first (rows of a day already in the
-- default partition would keep that day's partition from being created),
-- then the stored messages, 1 s apart, the newest 1 s ago.
select realtime.tc_messages_maintain(interval '72 hours', 3) \g /dev/null
insert into realtime.messages (id, topic, extension, private, event, payload, inserted_at)
select gen_random_uuid(), 'bench:replay', 'broadcast', true, 'stored',
       jsonb_build_object('seq', i, 'pad', repeat('x', 100)),
       (now() at time zone 'utc') - make_interval(secs => (:stored - i))
  from generate_series(0, :stored - 1) i;
analyze;
SQL

# ---- the server ------------------------------------------------------------------
TC_PORT=$(free_port)
SLOT=bench_messages_$$
busy=$(wait_quiet_pct "messages")
API_JWT_SECRET=$SECRET SLOT_NAME=$SLOT \
    "$SERVER" --host 127.0.0.1 --port "$TC_PORT" --workers "$WORKERS" \
    --max-events-per-second 1000000 --max-joins-per-second 1000 --drain-timeout-ms 1000 \
    "${ISOLATION_FLAGS[@]}" --log-level warn >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
    port_listening "$TC_PORT" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
done
if ! port_listening "$TC_PORT"; then
    echo "messages.sh: the server did not come up; its log:" >&2
    cat "$TMP/server.log" >&2
    exit 1
fi
echo "# server pid $SERVER_PID on port $TC_PORT (slot $SLOT), PostgreSQL pid $PG_PID on port $PG_PORT; machine $busy % busy before"

TC_PORT=$TC_PORT SECRET=$SECRET SERVER_PID=$SERVER_PID PG_PID=$PG_PID SU_CONNINFO=$SU_CONNINFO \
    MACHINE_BUSY=$busy SERVER_WORKERS=$WORKERS node bench/messages.mjs
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "messages.sh: the server died; its log:" >&2
    tail -30 "$TMP/server.log" >&2
    exit 1
fi
