-- db/demo.sql — demo data: three customers, three technicians (two verified),
-- one admin, and bookings in every status with their bids, chats, payments,
-- reviews and notifications. Every account's password is 'techcare-demo'.
--
--   alice@customer.demo  bob@customer.demo  carol@customer.demo     customers
--   tom@tech.demo  tina@tech.demo (verified)  victor@tech.demo (not)  technicians
--   admin@techcare.demo                                             admin
--
-- Idempotent: fixed ids and ON CONFLICT DO NOTHING, so running it again adds
-- nothing and undoes nothing the app changed since. Users go in first; the
-- sign-up triggers (004) create their profiles and technician rows from the
-- metadata; only users created by this run are then verified. Inserting bids,
-- messages, payments and reviews fires 005's notification triggers, which
-- write most of the demo notifications.
-- No BEGIN/COMMIT here: scripts/db.sh applies it in one transaction
-- (psql --single-transaction); it also works with plain `psql -f`.

set client_min_messages = warning;
drop table if exists pg_temp.demo_users, pg_temp.demo_new;
create temp table demo_users (id uuid primary key, email text, app_meta jsonb, user_meta jsonb);
create temp table demo_new (id uuid primary key);

insert into demo_users values
  ('c0000000-0000-4000-8000-000000000001', 'alice@customer.demo', '{}',
   '{"role": "customer", "full_name": "Alice Martin", "phone": "+1 555 0101"}'),
  ('c0000000-0000-4000-8000-000000000002', 'bob@customer.demo', '{}',
   '{"role": "customer", "full_name": "Bob Chen", "phone": "+1 555 0102"}'),
  ('c0000000-0000-4000-8000-000000000003', 'carol@customer.demo', '{}',
   '{"role": "customer", "full_name": "Carol Diaz", "phone": "+1 555 0103"}'),
  ('7ec00000-0000-4000-8000-000000000001', 'tom@tech.demo', '{}',
   '{"role": "technician", "full_name": "Tom Rivera", "phone": "+1 555 0201",
     "services": ["plumbing", "electrical"], "hourly_rate": "45.00",
     "bio": "Licensed plumber and electrician, 12 years in the trade."}'),
  ('7ec00000-0000-4000-8000-000000000002', 'tina@tech.demo', '{}',
   '{"role": "technician", "full_name": "Tina Okafor", "phone": "+1 555 0202",
     "services": ["hvac", "appliances"], "hourly_rate": "55.00",
     "bio": "HVAC and appliance repair; same-day visits."}'),
  ('7ec00000-0000-4000-8000-000000000003', 'victor@tech.demo', '{}',
   '{"role": "technician", "full_name": "Victor Novak", "phone": "+1 555 0203",
     "services": ["carpentry"], "hourly_rate": "35.00",
     "bio": "Carpentry and furniture assembly. Verification pending."}'),
  ('ad000000-0000-4000-8000-000000000001', 'admin@techcare.demo', '{"role": "admin"}',
   '{"full_name": "Ada Admin"}');

-- bcrypt is computed only for the rows actually inserted.
with ins as (
  insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at,
                          raw_app_meta_data, raw_user_meta_data)
  select d.id, 'authenticated', 'authenticated', d.email,
         extensions.crypt('techcare-demo', extensions.gen_salt('bf', 10)), now(),
         '{"provider": "email", "providers": ["email"]}'::jsonb || d.app_meta, d.user_meta
    from demo_users d
   where not exists (select 1 from auth.users u where u.id = d.id or lower(u.email) = d.email)
  returning id
)
insert into demo_new select id from ins;

insert into auth.identities (provider_id, user_id, provider, identity_data)
select d.id::text, d.id, 'email',
       jsonb_build_object('sub', d.id::text, 'email', d.email, 'email_verified', true, 'phone_verified', false)
  from demo_users d join demo_new n using (id)
on conflict do nothing;

update public.technicians set is_verified = true
 where id in ('7ec00000-0000-4000-8000-000000000001', '7ec00000-0000-4000-8000-000000000002')
   and id in (select id from demo_new);

-- Bookings: B01..B11, every status.
--   alice: B01 pending (2 bids), B02 accepted (tom), B03 in_progress (tina),
--          B04 completed (tom, paid, reviewed 5), B05 cancelled
--   bob:   B06 pending (1 bid, 1 withdrawn), B07 completed (tina, paid, review flagged),
--          B08 accepted (tina)
--   carol: B09 pending (no bid), B10 cancelled after acceptance (tom),
--          B11 completed (tom, payment pending, review hidden)
insert into public.bookings (id, customer_id, technician_id, status, service, description,
                             scheduled_at, address, price, created_at)
select v.id::uuid, v.customer::uuid, v.tech::uuid, v.status::public.booking_status, v.service, v.descr,
       now() + v.sched::interval, v.address, v.price, now() - v.age::interval
  from (values
    ('b0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', null,
     'pending', 'Leaking kitchen faucet', 'Drips constantly; the cartridge may be worn.',
     '2 days', '12 Elm Street, Springfield', 120.00, '3 hours'),
    ('b0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001', '7ec00000-0000-4000-8000-000000000001',
     'accepted', 'Replace bathroom light fixture', 'Ceiling fixture flickers, wants a new LED one.',
     '1 day', '12 Elm Street, Springfield', 90.00, '2 days'),
    ('b0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000001', '7ec00000-0000-4000-8000-000000000002',
     'in_progress', 'AC not cooling', 'Unit runs but blows warm air.',
     '0 hours', '12 Elm Street, Springfield', 150.00, '4 days'),
    ('b0000000-0000-4000-8000-000000000004', 'c0000000-0000-4000-8000-000000000001', '7ec00000-0000-4000-8000-000000000001',
     'completed', 'Unclog shower drain', null,
     '-5 days', '12 Elm Street, Springfield', 80.00, '8 days'),
    ('b0000000-0000-4000-8000-000000000005', 'c0000000-0000-4000-8000-000000000001', null,
     'cancelled', 'Install ceiling fan', 'Changed my mind.',
     '-1 days', '12 Elm Street, Springfield', 60.00, '6 days'),
    ('b0000000-0000-4000-8000-000000000006', 'c0000000-0000-4000-8000-000000000002', null,
     'pending', 'Dishwasher leaking', 'Water on the floor after each cycle.',
     '3 days', '48 Oak Avenue, Springfield', 200.00, '1 hour'),
    ('b0000000-0000-4000-8000-000000000007', 'c0000000-0000-4000-8000-000000000002', '7ec00000-0000-4000-8000-000000000002',
     'completed', 'Fridge not cold', null,
     '-10 days', '48 Oak Avenue, Springfield', 60.00, '12 days'),
    ('b0000000-0000-4000-8000-000000000008', 'c0000000-0000-4000-8000-000000000002', '7ec00000-0000-4000-8000-000000000002',
     'accepted', 'Furnace annual service', null,
     '5 days', '48 Oak Avenue, Springfield', 130.00, '1 day'),
    ('b0000000-0000-4000-8000-000000000009', 'c0000000-0000-4000-8000-000000000003', null,
     'pending', 'Outlet sparks when used', 'Living room, near the window.',
     '1 day', '7 Pine Road, Shelbyville', 75.00, '30 minutes'),
    ('b0000000-0000-4000-8000-000000000010', 'c0000000-0000-4000-8000-000000000003', '7ec00000-0000-4000-8000-000000000001',
     'cancelled', 'Water heater check', 'Cancelled: fixed by the landlord.',
     '-2 days', '7 Pine Road, Shelbyville', 70.00, '5 days'),
    ('b0000000-0000-4000-8000-000000000011', 'c0000000-0000-4000-8000-000000000003', '7ec00000-0000-4000-8000-000000000001',
     'completed', 'Replace toilet fill valve', null,
     '-3 days', '7 Pine Road, Shelbyville', 100.00, '7 days')
  ) as v(id, customer, tech, status, service, descr, sched, address, price, age)
on conflict do nothing;

insert into public.bids (id, booking_id, technician_id, amount, message, status, created_at)
select v.id::uuid, v.booking::uuid, v.tech::uuid, v.amount, v.msg, v.status::public.bid_status,
       now() - v.age::interval
  from (values
    ('b1d00000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001', '7ec00000-0000-4000-8000-000000000001',
     120.00, 'Can come tomorrow morning with a new cartridge.', 'pending', '2 hours'),
    ('b1d00000-0000-4000-8000-000000000002', 'b0000000-0000-4000-8000-000000000001', '7ec00000-0000-4000-8000-000000000002',
     110.00, 'Available this afternoon.', 'pending', '1 hour'),
    ('b1d00000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-000000000002', '7ec00000-0000-4000-8000-000000000001',
     90.00, 'Fixture included.', 'accepted', '47 hours'),
    ('b1d00000-0000-4000-8000-000000000004', 'b0000000-0000-4000-8000-000000000002', '7ec00000-0000-4000-8000-000000000002',
     95.00, null, 'rejected', '46 hours'),
    ('b1d00000-0000-4000-8000-000000000005', 'b0000000-0000-4000-8000-000000000006', '7ec00000-0000-4000-8000-000000000002',
     200.00, 'Probably the door gasket; parts included.', 'pending', '40 minutes'),
    ('b1d00000-0000-4000-8000-000000000006', 'b0000000-0000-4000-8000-000000000003', '7ec00000-0000-4000-8000-000000000002',
     150.00, null, 'accepted', '95 hours'),
    ('b1d00000-0000-4000-8000-000000000007', 'b0000000-0000-4000-8000-000000000004', '7ec00000-0000-4000-8000-000000000001',
     80.00, null, 'accepted', '190 hours'),
    ('b1d00000-0000-4000-8000-000000000008', 'b0000000-0000-4000-8000-000000000007', '7ec00000-0000-4000-8000-000000000002',
     60.00, null, 'accepted', '285 hours'),
    ('b1d00000-0000-4000-8000-000000000009', 'b0000000-0000-4000-8000-000000000008', '7ec00000-0000-4000-8000-000000000002',
     130.00, null, 'accepted', '23 hours'),
    ('b1d00000-0000-4000-8000-000000000010', 'b0000000-0000-4000-8000-000000000010', '7ec00000-0000-4000-8000-000000000001',
     70.00, null, 'accepted', '118 hours'),
    ('b1d00000-0000-4000-8000-000000000011', 'b0000000-0000-4000-8000-000000000011', '7ec00000-0000-4000-8000-000000000001',
     100.00, null, 'accepted', '166 hours'),
    ('b1d00000-0000-4000-8000-000000000012', 'b0000000-0000-4000-8000-000000000006', '7ec00000-0000-4000-8000-000000000001',
     210.00, 'Sorry, fully booked this week.', 'withdrawn', '50 minutes')
  ) as v(id, booking, tech, amount, msg, status, age)
on conflict do nothing;

insert into public.messages (id, booking_id, sender_id, body, created_at)
select v.id::uuid, v.booking::uuid, v.sender::uuid, v.body, now() - v.age::interval
  from (values
    ('3e550000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001',
     'Hi Tom, the fixture is in the upstairs bathroom.', '30 hours'),
    ('3e550000-0000-4000-8000-000000000002', 'b0000000-0000-4000-8000-000000000002', '7ec00000-0000-4000-8000-000000000001',
     'Got it, I will bring a 60W-equivalent LED fixture.', '29 hours'),
    ('3e550000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000001',
     'The unit is in the backyard, gate code 4321.', '3 hours'),
    ('3e550000-0000-4000-8000-000000000004', 'b0000000-0000-4000-8000-000000000003', '7ec00000-0000-4000-8000-000000000002',
     'On site now, checking the refrigerant.', '1 hour'),
    ('3e550000-0000-4000-8000-000000000005', 'b0000000-0000-4000-8000-000000000004', '7ec00000-0000-4000-8000-000000000001',
     'All done, the drain runs freely.', '5 days'),
    ('3e550000-0000-4000-8000-000000000006', 'b0000000-0000-4000-8000-000000000004', 'c0000000-0000-4000-8000-000000000001',
     'Thanks, great work!', '5 days'),
    ('3e550000-0000-4000-8000-000000000007', 'b0000000-0000-4000-8000-000000000007', 'c0000000-0000-4000-8000-000000000002',
     'The fridge is warm again since yesterday.', '9 days'),
    ('3e550000-0000-4000-8000-000000000008', 'b0000000-0000-4000-8000-000000000007', '7ec00000-0000-4000-8000-000000000002',
     'I will come back and check the compressor relay.', '9 days'),
    ('3e550000-0000-4000-8000-000000000009', 'b0000000-0000-4000-8000-000000000008', '7ec00000-0000-4000-8000-000000000002',
     'Please clear access to the furnace before I arrive.', '20 hours'),
    ('3e550000-0000-4000-8000-000000000010', 'b0000000-0000-4000-8000-000000000011', 'c0000000-0000-4000-8000-000000000003',
     'The toilet keeps running after flushing.', '6 days')
  ) as v(id, booking, sender, body, age)
on conflict do nothing;

insert into public.payments (id, booking_id, amount, status, provider_ref, created_at)
select v.id::uuid, v.booking::uuid, v.amount, v.status::public.payment_status, v.ref, now() - v.age::interval
  from (values
    ('9a900000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000004', 80.00, 'succeeded', 'demo_pi_0001', '5 days'),
    ('9a900000-0000-4000-8000-000000000002', 'b0000000-0000-4000-8000-000000000007', 60.00, 'succeeded', 'demo_pi_0002', '9 days'),
    ('9a900000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-000000000011', 100.00, 'pending', 'demo_pi_0003', '2 days')
  ) as v(id, booking, amount, status, ref, age)
on conflict do nothing;

insert into public.reviews (id, booking_id, rating, comment, status, created_at)
select v.id::uuid, v.booking::uuid, v.rating, v.comment, v.status::public.review_status, now() - v.age::interval
  from (values
    ('4e710000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000004', 5,
     'Quick and tidy, explained everything.', 'visible', '5 days'),
    ('4e710000-0000-4000-8000-000000000002', 'b0000000-0000-4000-8000-000000000007', 2,
     'Had to come back twice. Worst service ever, total scam!!!', 'flagged', '8 days'),
    ('4e710000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-000000000011', 1,
     '[removed by moderation]', 'hidden', '2 days')
  ) as v(id, booking, rating, comment, status, age)
on conflict do nothing;

-- A few notifications no trigger writes.
insert into public.notifications (id, user_id, type, title, body, data, read_at, created_at)
select v.id::uuid, v.usr::uuid, v.type, v.title, v.body, v.data::jsonb,
       case when v.is_read then now() end, now() - v.age::interval
  from (values
    ('40710000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', 'welcome',
     'Welcome to TechCare', 'Book a technician in minutes.', '{}', true, '14 days'),
    ('40710000-0000-4000-8000-000000000002', '7ec00000-0000-4000-8000-000000000003', 'verification',
     'Verification in progress', 'We are reviewing your documents.', '{}', false, '3 days'),
    ('40710000-0000-4000-8000-000000000003', 'ad000000-0000-4000-8000-000000000001', 'moderation',
     'A review was flagged', 'Review on "Fridge not cold" needs moderation.',
     '{"review_id": "4e710000-0000-4000-8000-000000000002"}', false, '8 days')
  ) as v(id, usr, type, title, body, data, is_read, age)
on conflict do nothing;

drop table demo_users, demo_new;
