-- 003_realtime.sql — schema realtime as supabase/realtime's tenant migrations
-- leave it (priv/repo/tenant_schema in supabase/realtime), for the parts a
-- Supabase project's SQL touches: realtime.messages (Broadcast from the
-- database, and the table private-channel RLS policies are written on),
-- realtime.topic(), realtime.send(), realtime.send_binary(),
-- realtime.broadcast_changes(), and the publications.
--
-- Deliberate differences, so the server stays simple:
--   * realtime.messages is a plain table, not partitioned by day. Supabase
--     partitions it so its janitor can drop old days cheaply and relies on that
--     janitor to create tomorrow's partition (an insert with no partition is
--     lost). Here every insert lands, the logical-replication stream names one
--     relation, and realtime.tc_prune_messages() deletes old rows instead.
--     Columns, defaults, constraint and primary key (id, inserted_at) are the same.
--   * No realtime.subscription / apply_rls / list_changes ("walrus"): Postgres
--     Changes are matched and authorized by our server, not by SQL functions.

create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;
grant create, usage on schema realtime to supabase_realtime_admin;
grant supabase_realtime_admin to postgres;

create table if not exists realtime.messages (
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
);
-- The replay index of supabase/realtime: recent private broadcasts by topic.
create index if not exists messages_inserted_at_topic_index
  on realtime.messages (inserted_at desc, topic)
  where extension = 'broadcast' and private is true;

-- Deny by default: without a policy nobody but the owner and BYPASSRLS roles
-- (service_role) sees or writes a row. Private-channel policies (005, and any
-- the project adds) open it per topic.
alter table realtime.messages enable row level security;
alter table realtime.messages owner to supabase_realtime_admin;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;

-- The channel topic a private-channel authorization check or realtime.send is
-- about; policies on realtime.messages read it.
create or replace function realtime.topic() returns text
language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;

-- Broadcast a JSON payload to `topic` from SQL: the row is picked up from the
-- WAL and delivered to the channel's subscribers. The payload gets an `id`
-- (the message id) unless it has one. The insert is subject to the caller's
-- RLS on realtime.messages with realtime.topic() set to the topic; a failure
-- never aborts the caller's transaction, it becomes a WARNING, as upstream.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql as $$
declare
  msg_id uuid := gen_random_uuid();
begin
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (msg_id,
            case when payload ? 'id' then payload else jsonb_set(payload, '{id}', to_jsonb(msg_id)) end,
            event, topic, private, 'broadcast');
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', SQLERRM;
  end;
end
$$;

-- The same for raw bytes (delivered as a binary broadcast).
create or replace function realtime.send_binary(payload bytea, event text, topic text, private boolean default true)
returns void
language plpgsql as $$
begin
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, binary_payload, event, topic, private, extension)
    values (gen_random_uuid(), payload, event, topic, private, 'broadcast');
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', SQLERRM;
  end;
end
$$;

-- For row triggers: broadcast {old_record, record, operation, table, schema}
-- to topic_name as event event_name (always a private message). Unlike send(),
-- a bad call raises, so a misdeclared trigger is noticed.
create or replace function realtime.broadcast_changes(
  topic_name   text,
  event_name   text,
  operation    text,
  table_name   text,
  table_schema text,
  new          record,
  old          record,
  level        text default 'ROW'
) returns void
language plpgsql as $$
begin
  if level = 'STATEMENT' then
    raise exception 'function can only be triggered for each row, not for each statement';
  end if;
  if operation not in ('INSERT', 'UPDATE', 'DELETE') then
    raise exception 'Unexpected operation type: %', operation;
  end if;
  perform realtime.send(
    jsonb_build_object('old_record', old, 'record', new, 'operation', operation,
                       'table', table_name, 'schema', table_schema),
    event_name, topic_name);
exception when others then
  raise exception 'Failed to process the row: %', SQLERRM;
end
$$;

-- Retention in place of Supabase's dropping of day partitions: the server (or
-- cron) calls this periodically, as service_role. SECURITY DEFINER because
-- request roles (service_role included) have no DELETE on the table.
-- Returns the number of rows deleted.
create or replace function realtime.tc_prune_messages(p_keep interval default interval '3 days')
returns bigint
language sql volatile security definer set search_path = '' as $$
  with gone as (
    delete from realtime.messages where inserted_at < (now() - p_keep)::timestamp returning 1
  )
  select count(*) from gone
$$;

alter function realtime.topic() owner to supabase_realtime_admin;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
alter function realtime.send_binary(bytea, text, text, boolean) owner to supabase_realtime_admin;
alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  owner to supabase_realtime_admin;
alter function realtime.tc_prune_messages(interval) owner to supabase_realtime_admin;

grant execute on function realtime.topic(), realtime.send(jsonb, text, text, boolean),
  realtime.send_binary(bytea, text, text, boolean),
  realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  to postgres, anon, authenticated, service_role;
revoke execute on function realtime.tc_prune_messages(interval) from public;
grant execute on function realtime.tc_prune_messages(interval) to service_role;

-- Publications. supabase_realtime carries Postgres Changes: it starts empty and
-- tables are added to it (004, or a project's own ALTER PUBLICATION ... ADD
-- TABLE). supabase_realtime_messages_publication carries Broadcast from the
-- database, under the name supabase/realtime gives it. Both are created here,
-- by the owner of the tables, so the replication role needs no ownership.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime_messages_publication') then
    create publication supabase_realtime_messages_publication for table realtime.messages;
  end if;
end
$$;
