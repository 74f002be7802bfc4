-- Writes: what each role may insert, update and delete, and that a customer
-- cannot touch another customer's rows. Status machines are in 03, accept_bid in 04.
begin;

-- anon -----------------------------------------------------------------------
select tests.login_anon();
select tests.throws($$insert into public.bookings (customer_id, service) values (gen_random_uuid(), 'x')$$,
                    '42501', 'anon cannot create a booking');
select tests.affects($$update public.bookings set description = 'x'$$, 0, 'anon updates no booking');
select tests.affects($$delete from public.notifications$$, 0, 'anon deletes no notification');
select tests.throws($$truncate public.bookings$$, '42501', 'anon cannot truncate (RLS does not cover TRUNCATE)');

-- customers: bookings ----------------------------------------------------------
select tests.login('alice@customer.demo');
select tests.lives($$insert into public.bookings (customer_id, service, price)
                     values (auth.uid(), 'Hang a mirror', 40)$$, 'alice creates a pending booking');
select tests.throws($$insert into public.bookings (customer_id, service)
                      values (tests.uid('bob@customer.demo'), 'x')$$, '42501', 'alice cannot create a booking for bob');
select tests.throws($$insert into public.bookings (customer_id, service, status)
                      values (auth.uid(), 'x', 'accepted')$$, '42501', 'a new booking must be pending');
select tests.throws($$insert into public.bookings (customer_id, service, technician_id)
                      values (auth.uid(), 'x', tests.uid('tom@tech.demo'))$$, '42501',
                    'a new booking has no technician (bids decide)');
select tests.affects($$update public.bookings set description = 'mine now' where id = tests.booking(6)$$, 0,
                     'alice cannot update bob''s booking');
select tests.affects($$update public.bookings set status = 'cancelled' where id = tests.booking(9)$$, 0,
                     'alice cannot cancel carol''s booking');
select tests.affects($$delete from public.bookings where id = tests.booking(1)$$, 0,
                     'customers do not delete bookings (they cancel)');
select tests.affects($$update public.bookings set description = 'Also the bathroom tap', price = 150
                       where id = tests.booking(1)$$, 1, 'alice edits her pending booking');
select tests.throws($$update public.bookings set customer_id = tests.uid('bob@customer.demo')
                      where id = tests.booking(1)$$, '42501', 'alice cannot give her booking away');

select tests.login('tom@tech.demo');
select tests.throws($$insert into public.bookings (customer_id, service) values (auth.uid(), 'x')$$,
                    '42501', 'a technician cannot create bookings');

-- customers: bids --------------------------------------------------------------
select tests.login('alice@customer.demo');
select tests.affects($$update public.bids set status = 'rejected' where id = tests.bid(5)$$, 0,
                     'alice cannot reject a bid on bob''s booking');
select tests.throws($$update public.bids set amount = 1 where id = tests.bid(2)$$, '42501',
                    'alice cannot change a bid''s amount');
select tests.throws($$update public.bids set status = 'accepted' where id = tests.bid(2)$$, '42501',
                    'alice cannot accept a bid by UPDATE (accept_bid does it)');
select tests.affects($$update public.bids set status = 'rejected' where id = tests.bid(2)$$, 1,
                     'alice rejects tina''s bid on her booking');
select tests.throws($$insert into public.bids (booking_id, technician_id, amount)
                      values (tests.booking(1), auth.uid(), 10)$$, '42501', 'a customer cannot bid');

select tests.login('tina@tech.demo');
select tests.rows($$select 1 from public.notifications where type = 'bid_rejected'
                    and data ->> 'bid_id' = tests.bid(2)::text$$, 1, 'tina is told her bid was rejected');

-- technicians: bids ------------------------------------------------------------
select tests.login('tom@tech.demo');
select tests.lives($$insert into public.bids (booking_id, technician_id, amount, message)
                     values (tests.booking(9), auth.uid(), 70, 'Today 5pm')$$, 'tom bids on carol''s pending booking');
select tests.throws($$insert into public.bids (booking_id, technician_id, amount)
                      values (tests.booking(8), auth.uid(), 70)$$, '42501', 'no bid on an accepted booking');
select tests.throws($$insert into public.bids (booking_id, technician_id, amount)
                      values (tests.booking(9), tests.uid('tina@tech.demo'), 70)$$, '42501',
                    'tom cannot bid in tina''s name');
select tests.throws($$insert into public.bids (booking_id, technician_id, amount)
                      values (tests.booking(1), auth.uid(), 99)$$, '23505', 'one live bid per technician and booking');
select tests.throws($$insert into public.bids (booking_id, technician_id, amount, status)
                      values (tests.booking(6), auth.uid(), 99, 'accepted')$$, '42501', 'a new bid must be pending');
select tests.affects($$update public.bids set amount = 115, message = 'Can do 115' where id = tests.bid(1)$$, 1,
                     'tom revises his pending bid');
select tests.affects($$update public.bids set amount = 1 where id = tests.bid(2)$$, 0,
                     'tom cannot touch tina''s bid');
select tests.throws($$update public.bids set booking_id = tests.booking(6) where id = tests.bid(1)$$, '42501',
                    'a bid cannot move to another booking');
select tests.affects($$update public.bids set status = 'withdrawn' where id = tests.bid(1)$$, 1,
                     'tom withdraws his bid');
select tests.throws($$update public.bids set status = 'pending' where id = tests.bid(1)$$, '23514',
                    'a withdrawn bid stays withdrawn');
select tests.throws($$update public.bids set amount = 50 where id = tests.bid(3)$$, '42501',
                    'an accepted bid cannot be revised');

select tests.login('carol@customer.demo');
select tests.rows($$select 1 from public.notifications where type = 'new_bid'$$, 1, 'carol is told about tom''s bid');
select tests.login('alice@customer.demo');
select tests.rows($$select 1 from public.notifications where type = 'bid_withdrawn'$$, 1,
                  'alice is told tom withdrew');

select tests.login('victor@tech.demo');
select tests.throws($$insert into public.bids (booking_id, technician_id, amount)
                      values (tests.booking(9), auth.uid(), 60)$$, '42501', 'an unverified technician cannot bid');

-- messages ----------------------------------------------------------------------
select tests.login('alice@customer.demo');
select tests.lives($$insert into public.messages (booking_id, sender_id, body)
                     values (tests.booking(2), auth.uid(), 'See you tomorrow')$$, 'alice writes in her booking''s chat');
select tests.throws($$insert into public.messages (booking_id, sender_id, body)
                      values (tests.booking(7), auth.uid(), 'hi')$$, '42501', 'alice cannot write in bob''s chat');
select tests.throws($$insert into public.messages (booking_id, sender_id, body)
                      values (tests.booking(2), tests.uid('tom@tech.demo'), 'fake')$$, '42501',
                    'alice cannot write as tom');
select tests.affects($$update public.messages set body = 'edited'$$, 0, 'messages cannot be edited');
select tests.affects($$delete from public.messages$$, 0, 'messages cannot be deleted by users');

select tests.login('tom@tech.demo');
select tests.rows($$select 1 from public.notifications where type = 'new_message'
                    and data ->> 'booking_id' = tests.booking(2)::text$$, 2,
                  'tom is told about alice''s new message (and the demo one)');
select tests.lives($$insert into public.messages (booking_id, sender_id, body)
                     values (tests.booking(2), auth.uid(), 'Yes, 9am')$$, 'the assigned technician writes in the chat');

select tests.login('tina@tech.demo');
select tests.throws($$insert into public.messages (booking_id, sender_id, body)
                      values (tests.booking(1), auth.uid(), 'Any questions?')$$, '42501',
                    'a technician who only bid cannot write in the chat');

-- notifications -------------------------------------------------------------------
select tests.login('alice@customer.demo');
select tests.affects($$update public.notifications set read_at = now() where read_at is null$$, 7,
                     'alice marks her unread notifications read');
select tests.throws($$update public.notifications set title = 'x' where user_id = auth.uid()$$, '42501',
                    'a notification''s text is not editable');
select tests.affects($$update public.notifications set read_at = now()
                       where user_id = tests.uid('bob@customer.demo')$$, 0, 'alice cannot mark bob''s read');
select tests.affects($$delete from public.notifications where user_id = tests.uid('bob@customer.demo')$$, 0,
                     'alice cannot delete bob''s notifications');
select tests.throws($$insert into public.notifications (user_id, type, title)
                      values (tests.uid('bob@customer.demo'), 'spam', 'hi')$$, '42501',
                    'users cannot notify others');
select tests.throws($$select public.tc_notify(tests.uid('bob@customer.demo'), 'spam', 'hi', null, null)$$, '42501',
                    'users cannot call tc_notify');
select tests.affects($$delete from public.notifications where type = 'welcome'$$, 1, 'alice dismisses a notification');

-- payments ---------------------------------------------------------------------------
select tests.throws($$insert into public.payments (booking_id, amount) values (tests.booking(2), 90)$$, '42501',
                    'customers do not write payments');
select tests.affects($$update public.payments set status = 'refunded'$$, 0, 'customers do not update payments');

-- profiles and technicians ------------------------------------------------------------
select tests.affects($$update public.profiles set full_name = 'Alice M.' where id = auth.uid()$$, 1,
                     'alice renames herself');
select tests.throws($$update public.profiles set role = 'admin' where id = auth.uid()$$, '42501',
                    'alice cannot make herself admin');
select tests.affects($$update public.profiles set full_name = 'Bobby' where id = tests.uid('bob@customer.demo')$$, 0,
                     'alice cannot rename bob');
select tests.throws($$insert into public.profiles (id, role) values (gen_random_uuid(), 'admin')$$, '42501',
                    'users cannot create profiles');

select tests.login('tom@tech.demo');
select tests.affects($$update public.technicians set hourly_rate = 50, services = '{plumbing}' where id = auth.uid()$$, 1,
                     'tom edits his rate and services');
select tests.throws($$update public.technicians set is_verified = false where id = auth.uid()$$, '42501',
                    'a technician cannot change his verification');
select tests.throws($$update public.technicians set rating = 1 where id = auth.uid()$$, '42501',
                    'a technician cannot set his rating');
select tests.affects($$update public.technicians set is_verified = true where id = tests.uid('victor@tech.demo')$$, 0,
                     'tom cannot verify victor');

-- admins ------------------------------------------------------------------------------
select tests.login('admin@techcare.demo');
select tests.affects($$update public.technicians set is_verified = true where id = tests.uid('victor@tech.demo')$$, 1,
                     'the admin verifies victor');
select tests.affects($$update public.reviews set status = 'visible' where id = tests.review(3)$$, 1,
                     'the admin unhides a review');
select tests.affects($$update public.profiles set role = 'technician' where id = tests.uid('carol@customer.demo')$$, 1,
                     'the admin changes a role');
select tests.logout();
select tests.ok((select is_verified and verified_at is not null from public.technicians
                  where id = tests.uid('victor@tech.demo')), 'verification is timestamped');
select tests.is((select rating from public.technicians where id = tests.uid('tom@tech.demo')), 3.00,
                'tom''s rating follows his visible reviews (5 and 1)');
select tests.rows($$select 1 from public.technicians where id = tests.uid('carol@customer.demo')$$, 1,
                  'a profile turned technician gets its technicians row');

select tests.login('victor@tech.demo');
select tests.rows($$select 1 from public.notifications where type = 'verification'$$, 2,
                  'victor is told he is verified');
select tests.rows($$select 1 from public.bookings$$, 4, 'verified now, victor sees the 4 pending bookings (3 + alice''s new one)');

-- reviews -------------------------------------------------------------------------------
select tests.login('alice@customer.demo');
select tests.throws($$insert into public.reviews (booking_id, rating) values (tests.booking(2), 5)$$, '42501',
                    'no review before the booking is completed');
select tests.throws($$insert into public.reviews (booking_id, rating) values (tests.booking(7), 1)$$, '42501',
                    'no review of someone else''s booking');
select tests.throws($$insert into public.reviews (booking_id, rating) values (tests.booking(4), 4)$$, '23505',
                    'one review per booking');
select tests.affects($$update public.reviews set comment = 'Quick, tidy, friendly.' where id = tests.review(1)$$, 1,
                     'alice edits her review');
select tests.throws($$update public.reviews set status = 'hidden' where id = tests.review(1)$$, '42501',
                    'the author cannot moderate');

select tests.login('tina@tech.demo');
select tests.affects($$update public.reviews set status = 'flagged' where id = tests.review(1)$$, 0,
                     'tina cannot flag a review about tom');
select tests.login('tom@tech.demo');
select tests.throws($$update public.reviews set status = 'hidden' where id = tests.review(1)$$, '42501',
                    'tom cannot hide a review about him');
select tests.affects($$update public.reviews set status = 'flagged' where id = tests.review(1)$$, 1,
                     'tom flags a review about him');

rollback;
