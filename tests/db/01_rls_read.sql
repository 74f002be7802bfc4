-- What each role reads in each table, against db/demo.sql (see the table of
-- bookings there). Counts first, then the exact sets where they matter.
begin;

-- who        profiles technicians bookings bids messages notifications payments reviews
do $$
declare
  r record;
begin
  for r in select * from (values
    ('anon',                0, 0,  0,  0,  0,  0, 0, 0),
    ('alice@customer.demo', 3, 2,  5,  6,  6,  6, 1, 1),
    ('bob@customer.demo',   3, 2,  3,  4,  3,  3, 1, 2),
    ('carol@customer.demo', 3, 2,  3,  2,  1,  0, 1, 2),
    ('tom@tech.demo',       4, 2,  7,  6,  5,  7, 2, 2),
    ('tina@tech.demo',      4, 2,  6,  6,  5,  5, 1, 2),
    ('victor@tech.demo',    3, 3,  0,  0,  0,  1, 0, 1),
    ('admin@techcare.demo', 7, 3, 11, 12, 10, 23, 3, 3)
  ) v(who, profiles, technicians, bookings, bids, messages, notifications, payments, reviews)
  loop
    if r.who = 'anon' then perform tests.login_anon(); else perform tests.login(r.who); end if;
    perform tests.rows('select 1 from public.profiles',      r.profiles,      r.who || ' reads profiles');
    perform tests.rows('select 1 from public.technicians',   r.technicians,   r.who || ' reads technicians');
    perform tests.rows('select 1 from public.bookings',      r.bookings,      r.who || ' reads bookings');
    perform tests.rows('select 1 from public.bids',          r.bids,          r.who || ' reads bids');
    perform tests.rows('select 1 from public.messages',      r.messages,      r.who || ' reads messages');
    perform tests.rows('select 1 from public.notifications', r.notifications, r.who || ' reads notifications');
    perform tests.rows('select 1 from public.payments',      r.payments,      r.who || ' reads payments');
    perform tests.rows('select 1 from public.reviews',       r.reviews,       r.who || ' reads reviews');
    perform tests.rows('select 1 from realtime.messages',    0,               r.who || ' reads no realtime.messages');
    perform tests.throws('select 1 from auth.users',          '42501',         r.who || ' cannot read auth.users');
    perform tests.throws('select 1 from auth.refresh_tokens', '42501',         r.who || ' cannot read auth.refresh_tokens');
    perform tests.logout();
  end loop;
end
$$;

-- Exact sets (booking n = b0000000-...-0000000000nn).
create function pg_temp.booking_nos(q text) returns text language plpgsql as $$
declare s text;
begin
  execute 'select string_agg(right(id::text, 2), '','' order by id) from (' || q || ') q' into s;
  return s;
end $$;

select tests.login('alice@customer.demo');
select tests.is(pg_temp.booking_nos('select id from public.bookings'), '01,02,03,04,05', 'alice: exactly her bookings');
select tests.is((select string_agg(full_name, ',' order by full_name) from public.profiles),
                'Alice Martin,Tina Okafor,Tom Rivera', 'alice: herself and the verified technicians');
select tests.is((select count(*) from public.bids b where b.booking_id not in
                   (select id from public.bookings where customer_id = tests.uid('alice@customer.demo'))),
                0::bigint, 'alice: only bids on her own bookings');
select tests.rows($$select 1 from public.notifications where user_id <> tests.uid('alice@customer.demo')$$, 0,
                  'alice: no one else''s notifications');
select tests.rows($$select 1 from public.reviews where status <> 'visible'$$, 0,
                  'alice: no hidden or flagged review (hers is visible)');

select tests.login('bob@customer.demo');
select tests.is(pg_temp.booking_nos('select id from public.bookings'), '06,07,08', 'bob: exactly his bookings');
select tests.rows($$select 1 from public.bookings where id = 'b0000000-0000-4000-8000-000000000001'$$, 0,
                  'bob cannot read alice''s pending booking');
select tests.rows($$select 1 from public.messages where booking_id = 'b0000000-0000-4000-8000-000000000002'$$, 0,
                  'bob cannot read alice''s chat');
select tests.rows($$select 1 from public.reviews where status = 'flagged'$$, 1, 'bob reads his own flagged review');

select tests.login('tom@tech.demo');
select tests.is(pg_temp.booking_nos('select id from public.bookings'), '01,02,04,06,09,10,11',
                'tom: assigned bookings and the pending marketplace');
select tests.is((select string_agg(right(id::text, 2), ',' order by id) from public.bids), '01,03,07,10,11,12',
                'tom: only his own bids (sealed bidding)');
select tests.is((select string_agg(full_name, ',' order by full_name) from public.profiles),
                'Alice Martin,Carol Diaz,Tina Okafor,Tom Rivera', 'tom: his customers and verified technicians');
select tests.rows($$select 1 from public.messages where booking_id = 'b0000000-0000-4000-8000-000000000001'$$, 0,
                  'tom cannot read the chat of a pending booking he only bid on');
select tests.rows($$select 1 from public.reviews where status = 'hidden'$$, 1, 'tom reads the hidden review about him');

select tests.login('tina@tech.demo');
select tests.is(pg_temp.booking_nos('select id from public.bookings'), '01,03,06,07,08,09',
                'tina: assigned bookings and the pending marketplace');
select tests.rows($$select 1 from public.bids where technician_id <> tests.uid('tina@tech.demo')$$, 0,
                  'tina sees no competitor''s bid');

select tests.login('victor@tech.demo');
select tests.rows($$select 1 from public.bookings where status = 'pending'$$, 0,
                  'an unverified technician does not see the marketplace');
select tests.rows($$select 1 from public.technicians where id = tests.uid('victor@tech.demo')$$, 1,
                  'victor reads his own technician row');

select tests.login('carol@customer.demo');
select tests.rows($$select 1 from public.technicians where not is_verified$$, 0,
                  'customers do not see unverified technicians');

select tests.login_anon();
select tests.rows('select 1 from public.profiles union all select 1 from public.technicians', 0,
                  'anon sees no profile or technician, even verified ones');

rollback;
