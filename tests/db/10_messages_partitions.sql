-- realtime.messages partitioned by day (migration 011): the shape, the
-- partitions ahead, the default partition that loses no insert, retention
-- by realtime.tc_messages_maintain, and the publication through the root.
begin;

select tests.is((select relkind::text from pg_class where oid = 'realtime.messages'::regclass), 'p',
                'realtime.messages is partitioned');
select tests.is((select pg_get_partkeydef('realtime.messages'::regclass)), 'RANGE (inserted_at)',
                'by range of inserted_at');
select tests.ok((select relrowsecurity from pg_class where oid = 'realtime.messages'::regclass), 'RLS stays on');
select tests.is((select relowner::regrole::text from pg_class where oid = 'realtime.messages'::regclass),
                'supabase_realtime_admin', 'owned by supabase_realtime_admin');
select tests.is((select string_agg(a.attname, ',' order by a.attnum) from pg_attribute a
                  where a.attrelid = 'realtime.messages'::regclass and a.attnum > 0 and not a.attisdropped),
                'topic,extension,payload,event,private,updated_at,inserted_at,id,binary_payload,tc_expires_at,tc_delivered',
                'the columns of 003, in order, then 012''s (persisted broadcasts)');
select tests.is((select string_agg(policyname, ',' order by policyname) from pg_policies
                  where schemaname = 'realtime' and tablename = 'messages'),
                'techcare: parties receive on their topics,techcare: parties send on their topics',
                'the policies were copied over');
select tests.ok(has_table_privilege('authenticated', 'realtime.messages', 'select, insert, update')
                and not has_table_privilege('authenticated', 'realtime.messages', 'delete'), 'grants kept');
select tests.ok(to_regclass('realtime.messages_unpartitioned') is null, 'the plain table is gone');

-- partitions around today, and the default
select tests.ok(to_regclass('realtime.messages_default') is not null, 'a default partition exists');
select tests.rows($$select 1 from generate_series(localtimestamp::date - 1, localtimestamp::date + 3, '1 day') d
                    where to_regclass('realtime.messages_' || to_char(d, 'YYYY_MM_DD')) is null$$, 0,
                  'day partitions from yesterday to three days ahead');

-- inserts land in their day's partition, or the default
select realtime.send('{"n": 1}', 'e', 'part:today', false);
select tests.is((select tableoid::regclass::text from realtime.messages where topic = 'part:today'),
                'realtime.messages_' || to_char(localtimestamp, 'YYYY_MM_DD'), 'today''s row is in today''s partition');
insert into realtime.messages (topic, extension, inserted_at) values ('part:far', 'broadcast', '2001-02-03 04:05:06');
select tests.is((select tableoid::regclass::text from realtime.messages where topic = 'part:far'),
                'realtime.messages_default', 'a day without a partition lands in the default, not lost');
insert into realtime.messages (topic, extension, inserted_at)
  values ('part:future', 'broadcast', localtimestamp + interval '20 days');
select tests.rows($$select 1 from realtime.messages where topic = 'part:future'$$, 1, 'so does a day far ahead');

-- retention (the partition of two days ago made as maintenance would have made it then)
set local role supabase_realtime_admin;
select format('create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
              'messages_' || to_char(localtimestamp - interval '2 days', 'YYYY_MM_DD'),
              (localtimestamp - interval '2 days')::date::timestamp, (localtimestamp - interval '1 day')::date::timestamp)
  \gexec
reset role;
insert into realtime.messages (topic, extension, inserted_at)
  values ('part:old', 'broadcast', localtimestamp - interval '2 days');
select tests.lives($$select realtime.tc_messages_maintain(interval '3 days', 3)$$, 'maintenance runs again');
select tests.rows($$select 1 from realtime.messages where topic in ('part:today', 'part:old', 'part:future')$$, 3,
                  'rows inside the retention stay');
select tests.rows($$select 1 from realtime.messages where topic = 'part:far'$$, 0,
                  'old rows of the default partition are pruned');
select tests.is((select dropped from realtime.tc_messages_maintain(interval '1 day', 3)), 1,
                'with one day kept, the partition of two days ago is dropped');
select tests.ok(to_regclass('realtime.messages_' || to_char(localtimestamp - interval '2 days', 'YYYY_MM_DD')) is null,
                'its table is gone');
select tests.rows($$select 1 from realtime.messages where topic = 'part:old'$$, 0, 'with its rows');
select tests.is((select created from realtime.tc_messages_maintain(interval '3 days', 5)), 2,
                'more days ahead: two more partitions');
select tests.throws($$select realtime.tc_messages_maintain(interval '3 days', 400)$$, 'P0001',
                    'days ahead are bounded');
-- a day whose rows sit in the default keeps them there
insert into realtime.messages (topic, extension, inserted_at)
  values ('part:day8', 'broadcast', localtimestamp::date + 8);
select tests.is((select created from realtime.tc_messages_maintain(interval '3 days', 8)), 2,
                'a day already in the default gets no partition; the others do');
select tests.rows($$select 1 from realtime.messages where topic = 'part:day8'$$, 1, 'and its row stays readable');

-- who may maintain
select tests.login('alice@customer.demo');
select tests.throws($$select realtime.tc_messages_maintain()$$, '42501', 'users cannot maintain partitions');
select tests.logout();
set local role service_role;
select tests.lives($$select realtime.tc_messages_maintain()$$, 'service_role can');
reset role;

-- RLS through the parent still decides; partitions are not a way around it
select tests.login('alice@customer.demo');
select tests.rows($$select 1 from realtime.messages where topic like 'part:%'$$, 0,
                  'a user sees no row of another topic through the parent');
select tests.throws($$select 1 from realtime.messages_default$$, '42501', 'nor through a partition');
select tests.logout();

-- the publication
select tests.ok((select pubviaroot from pg_publication where pubname = 'supabase_realtime_messages_publication'),
                'the messages publication publishes through the root');
select tests.ok((select pubinsert and not pubupdate and not pubdelete and not pubtruncate from pg_publication
                  where pubname = 'supabase_realtime_messages_publication'), 'inserts only');
select tests.is((select string_agg(schemaname || '.' || tablename, ',') from pg_publication_tables
                  where pubname = 'supabase_realtime_messages_publication'), 'realtime.messages',
                'and lists realtime.messages only');

rollback;
