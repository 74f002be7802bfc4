-- Schema realtime: send / send_binary / broadcast_changes, private-channel
-- authorization on realtime.messages, the publications, replica identities.
begin;

-- realtime.send and friends, as the superuser ----------------------------------
select realtime.send('{"hello": "world"}', 'greet', 'topic:one', true);
select tests.rows($$select 1 from realtime.messages where topic = 'topic:one' and event = 'greet'
                    and extension = 'broadcast' and private and payload ->> 'hello' = 'world'
                    and payload ->> 'id' = id::text$$, 1,
                  'realtime.send inserts a private broadcast whose payload carries the message id');
select tests.is(realtime.topic(), 'topic:one', 'realtime.send sets realtime.topic for the transaction');
select realtime.send('{"id": "mine"}', 'e', 'topic:two', false);
select tests.rows($$select 1 from realtime.messages where topic = 'topic:two' and payload ->> 'id' = 'mine'
                    and not private$$, 1, 'an id already in the payload is kept; private false');
select realtime.send('{"n": 1}', 'e', 'topic:three');
select tests.rows($$select 1 from realtime.messages where topic = 'topic:three' and private$$, 1,
                  'private defaults to true');
select realtime.send_binary('\x0102ff', 'bin', 'topic:bin');
select tests.rows($$select 1 from realtime.messages where topic = 'topic:bin' and binary_payload = '\x0102ff'
                    and payload is null and private and event = 'bin'$$, 1, 'realtime.send_binary');
select tests.throws($$insert into realtime.messages (topic, extension, payload, binary_payload)
                      values ('t', 'broadcast', '{}', '\x00')$$, '23514', 'payload and binary_payload are exclusive');

select tests.lives($$select realtime.broadcast_changes('topic:bc', 'INSERT', 'INSERT', 'bookings', 'public', b, null, 'ROW')
                     from public.bookings b where b.id = tests.booking(1)$$, 'broadcast_changes from a row');
select tests.rows($$select 1 from realtime.messages where topic = 'topic:bc' and event = 'INSERT'
                    and payload ->> 'operation' = 'INSERT' and payload ->> 'table' = 'bookings'
                    and payload ->> 'schema' = 'public' and payload -> 'record' ->> 'id' = tests.booking(1)::text
                    and payload -> 'old_record' = 'null'::jsonb$$, 1,
                  'its payload: record, old_record, operation, table, schema');
select tests.throws($$select realtime.broadcast_changes('t', 'e', 'INSERT', 'x', 'public', row(1), null, 'STATEMENT')$$,
                    'P0001', 'broadcast_changes refuses statement-level triggers');
select tests.throws($$select realtime.broadcast_changes('t', 'e', 'TRUNCATE', 'x', 'public', row(1), null)$$,
                    'P0001', 'broadcast_changes refuses other operations');

-- send as a user: subject to RLS, never raising -----------------------------------
select tests.login('bob@customer.demo');
select tests.lives($$select realtime.send('{"typing": true}', 'typing', 'chat:' || tests.booking(2))$$,
                   'a refused realtime.send does not raise (it warns)');
select tests.login('alice@customer.demo');
select realtime.send('{"typing": true}', 'typing', 'chat:' || tests.booking(2));
select realtime.send('{"n": 1}', 'note', 'user:' || auth.uid() || ':notifications');
select realtime.send('{"n": 1}', 'note', 'user:' || tests.uid('bob@customer.demo'));
select tests.logout();
select tests.rows($$select 1 from realtime.messages where topic = 'chat:' || tests.booking(2)$$, 1,
                  'only the booking''s party got a message through on its chat topic');
select tests.rows($$select 1 from realtime.messages where topic like 'user:%'$$, 1,
                  'a user broadcasts on her own user: topic, not on another''s');

-- private channel authorization, the way supabase/realtime checks it: probe
-- rows inserted by the server, then SELECT (may receive) and INSERT (may send)
-- under the user's role with realtime.topic set.
insert into realtime.messages (id, topic, extension) values
  ('00000000-0000-4000-8000-0000000000a1', 'typing:' || tests.booking(2), 'presence'),
  ('00000000-0000-4000-8000-0000000000a2', 'typing:' || tests.booking(2), 'broadcast');
select set_config('realtime.topic', 'typing:' || tests.booking(2), true);
do $$
declare
  r record;
begin
  for r in select * from (values ('alice@customer.demo', 2), ('tom@tech.demo', 2), ('admin@techcare.demo', 2),
                                 ('bob@customer.demo', 0), ('tina@tech.demo', 0), ('anon', 0)) v(who, n)
  loop
    if r.who = 'anon' then perform tests.login_anon(); else perform tests.login(r.who); end if;
    perform tests.rows($q$select 1 from realtime.messages where id in ('00000000-0000-4000-8000-0000000000a1',
                                                                      '00000000-0000-4000-8000-0000000000a2')$q$,
                       r.n, r.who || ' may receive on typing:<B02>: ' || (r.n > 0));
    if r.n > 0 then
      perform tests.lives($q$insert into realtime.messages (topic, extension) values (realtime.topic(), 'broadcast')$q$,
                          r.who || ' may send on typing:<B02>');
    else
      perform tests.throws($q$insert into realtime.messages (topic, extension) values (realtime.topic(), 'broadcast')$q$,
                           '42501', r.who || ' may not send on typing:<B02>');
    end if;
  end loop;
  perform tests.logout();
end
$$;
select set_config('realtime.topic', 'chat:not-a-uuid', true);
select tests.login('alice@customer.demo');
select tests.throws($$insert into realtime.messages (topic, extension) values (realtime.topic(), 'broadcast')$$,
                    '42501', 'a malformed booking topic is refused, not an error');
select set_config('realtime.topic', 'public:bookings', true);
select tests.throws($$insert into realtime.messages (topic, extension) values (realtime.topic(), 'broadcast')$$,
                    '42501', 'topics TechCare does not define stay closed');
select tests.throws($$delete from realtime.messages$$, '42501', 'users have no DELETE on realtime.messages');
select tests.logout();

-- publications and replica identity ----------------------------------------------------
select tests.is((select string_agg(tablename, ',' order by tablename) from pg_publication_tables
                  where pubname = 'supabase_realtime'),
                'bids,bookings,marketplace,messages,notifications,payments,profiles,reviews,technicians',
                'supabase_realtime publishes the seed''s six tables plus profiles, reviews and the marketplace');
select tests.ok((select pubinsert and pubupdate and pubdelete from pg_publication where pubname = 'supabase_realtime'),
                'with inserts, updates and deletes');
select tests.is((select string_agg(schemaname || '.' || tablename, ',') from pg_publication_tables
                  where pubname = 'supabase_realtime_messages_publication'), 'realtime.messages',
                'database broadcasts have their own publication');
select tests.is((select string_agg(relname || '=' || relreplident::text, ',' order by relname) from pg_class
                  where relnamespace = 'public'::regnamespace and relname in
                    ('bids', 'bookings', 'messages', 'notifications', 'payments', 'profiles', 'reviews', 'technicians')),
                'bids=f,bookings=f,messages=f,notifications=f,payments=f,profiles=d,reviews=d,technicians=f',
                'replica identity FULL where filters need the old row');

-- retention ---------------------------------------------------------------------------------
insert into realtime.messages (topic, extension, inserted_at) values ('old', 'broadcast', now() - interval '4 days');
select tests.login('alice@customer.demo');
select tests.throws($$select realtime.tc_prune_messages()$$, '42501', 'users cannot prune');
select tests.logout();
set local role service_role;
select tests.is(realtime.tc_prune_messages(), 1::bigint, 'service_role prunes messages older than 3 days');
reset role;

rollback;
