-- 011_messages_partitions.sql — realtime.messages partitioned by day, as
-- supabase/realtime has it (lib/realtime/tenants/repo/migrations/
-- 20241030150047_messages_partitioning and priv/repo/tenant_schema), so old
-- days go by dropping a partition instead of deleting rows one by one.
--
-- What stays as 003 made it: every column, default and constraint, the
-- primary key (id, inserted_at), the replay index, RLS on, the owner, the
-- grants, every policy (copied over below, so 007's and a project's own
-- survive), realtime.send / send_binary / broadcast_changes / tc_probe /
-- tc_channel_access / tc_prune_messages (their bodies name the table, not
-- its OID).
--
-- What is new:
--   * day partitions realtime.messages_YYYY_MM_DD, [day, day + 1) on
--     inserted_at, created ahead by realtime.tc_messages_maintain();
--   * a DEFAULT partition, realtime.messages_default, so that an insert is
--     never lost for lack of a partition (supabase/realtime's send() loses
--     it with a warning when its janitor did not run): rows of a day that
--     has no partition (maintenance late, a clock far off, an explicit old
--     inserted_at) land there and are pruned row by row;
--   * the publication supabase_realtime_messages_publication publishes
--     through the root (publish_via_partition_root = true): the server sees
--     every row as realtime.messages, whatever partition holds it; and it
--     publishes inserts only (the only rows that become broadcasts).
--
-- Retention: realtime.tc_messages_maintain(keep, ahead) drops the day
-- partitions whose whole day is older than `keep`, deletes rows older than
-- `keep` from the default partition, and creates the partitions from
-- yesterday to `ahead` days after today. The server calls it from the CDC
-- thread (as service_role) at start and every hour (MESSAGES_RETENTION_HOURS, default 72 = 3
-- days, as supabase/realtime's janitor keeps them; MESSAGES_PARTITIONS_AHEAD
-- is fixed at 3 days). Without the server, cron may call it as service_role.

-- 1. Move the plain table aside (its index names are schema-wide, so they go too).
alter table realtime.messages rename to messages_unpartitioned;
alter table realtime.messages_unpartitioned rename constraint messages_pkey to messages_unpartitioned_pkey;
alter table realtime.messages_unpartitioned
  rename constraint messages_payload_exclusive to messages_unpartitioned_payload_exclusive;
alter index if exists realtime.messages_inserted_at_topic_index rename to messages_unpartitioned_topic_index;

-- 2. The partitioned table, column for column.
create table realtime.messages (
  topic          text      not null,
  extension      text      not null,              -- 'broadcast' or 'presence'
  payload        jsonb,
  event          text,
  private        boolean   default false,
  updated_at     timestamp not null default now(),
  inserted_at    timestamp not null default now(),
  id             uuid      not null default gen_random_uuid(),
  binary_payload bytea,
  constraint messages_payload_exclusive check (payload is null or binary_payload is null),
  constraint messages_pkey primary key (id, inserted_at)
) partition by range (inserted_at);
create index messages_inserted_at_topic_index
  on realtime.messages (inserted_at desc, topic)
  where extension = 'broadcast' and private is true;
create table realtime.messages_default partition of realtime.messages default;

alter table realtime.messages enable row level security;
alter table realtime.messages owner to supabase_realtime_admin;
alter table realtime.messages_default owner to supabase_realtime_admin;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;

-- 3. The policies, copied from the old table whatever they are.
do $$
declare
  p record;
  stmt text;
begin
  for p in select * from pg_policies where schemaname = 'realtime' and tablename = 'messages_unpartitioned' loop
    stmt := format('create policy %I on realtime.messages as %s for %s to %s',
                   p.policyname, p.permissive, p.cmd,
                   (select string_agg(case when r = 'public' then 'public' else quote_ident(r) end, ', ')
                      from unnest(p.roles) r));
    if p.qual is not null then
      stmt := stmt || ' using (' || p.qual || ')';
    end if;
    if p.with_check is not null then
      stmt := stmt || ' with check (' || p.with_check || ')';
    end if;
    execute stmt;
  end loop;
end
$$;

-- 4. Partition upkeep. SECURITY DEFINER as the table's owner: only the owner
-- may create or drop partitions. Returns what it did, for the server's log.
create or replace function realtime.tc_messages_maintain(p_keep interval default interval '3 days',
                                                         p_ahead integer default 3,
                                                         out created integer, out dropped integer,
                                                         out pruned bigint)
-- lock_timeout: creating or dropping a partition locks the table; a long
-- transaction on it makes this call fail (and be tried again), not wait.
language plpgsql volatile security definer set search_path = '' set lock_timeout = '5s' as $$
declare
  today date := localtimestamp::date;
  horizon timestamp := localtimestamp - greatest(p_keep, interval '1 hour');
  d date;
  part record;
  day_of date;
begin
  created := 0;
  dropped := 0;
  if p_ahead < 0 or p_ahead > 31 then
    raise exception 'p_ahead must be between 0 and 31 days, not %', p_ahead;
  end if;
  -- Old days: a partition goes once all of its day is older than the horizon.
  for part in
    select c.relname from pg_catalog.pg_inherits i
      join pg_catalog.pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'realtime.messages'::regclass and c.relname ~ '^messages_\d{4}_\d{2}_\d{2}$'
  loop
    day_of := to_date(substr(part.relname, 10), 'YYYY_MM_DD');
    if day_of + 1 <= horizon then
      execute format('drop table realtime.%I', part.relname);
      dropped := dropped + 1;
    end if;
  end loop;
  with gone as (
    delete from realtime.messages_default where inserted_at < horizon returning 1
  ) select count(*) into pruned from gone;
  -- Days ahead. A day whose rows already sit in the default partition keeps
  -- them there (attaching would fail the default's constraint); it is
  -- pruned row by row like the rest of the default.
  for d in select generate_series(today - 1, today + p_ahead, interval '1 day')::date loop
    if d + 1 <= horizon or to_regclass(format('realtime.%I', 'messages_' || to_char(d, 'YYYY_MM_DD'))) is not null then
      continue;
    end if;
    begin
      execute format('create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
                     'messages_' || to_char(d, 'YYYY_MM_DD'), d::timestamp, (d + 1)::timestamp);
      created := created + 1;
    exception when check_violation then
      null;
    end;
  end loop;
end
$$;
alter function realtime.tc_messages_maintain(interval, integer) owner to supabase_realtime_admin;
revoke execute on function realtime.tc_messages_maintain(interval, integer) from public;
grant execute on function realtime.tc_messages_maintain(interval, integer) to service_role;

-- 5. The rows, then the old table. Partitions first, so today's rows land in theirs.
do $$ begin perform realtime.tc_messages_maintain(interval '3 days', 3); end $$;
insert into realtime.messages (topic, extension, payload, event, private, updated_at, inserted_at, id, binary_payload)
  select topic, extension, payload, event, private, updated_at, inserted_at, id, binary_payload
    from realtime.messages_unpartitioned;
drop table realtime.messages_unpartitioned;

-- 6. The publication: dropping the old table took it out; the new one goes
-- in through its root. Only inserts are broadcast, so only inserts are
-- published: the default partition's pruning and any UPDATE stay out of the
-- stream.
alter publication supabase_realtime_messages_publication
  set (publish_via_partition_root = true, publish = 'insert');
alter publication supabase_realtime_messages_publication add table realtime.messages;
