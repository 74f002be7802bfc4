-- public.accept_bid(bid_id): the customer picks a bid; the booking, the bid and
-- the competing bids change together.
-- B01 alice pending: X01 tom 120 pending, X02 tina 110 pending.
-- B06 bob pending: X05 tina 200 pending, X12 tom withdrawn.
begin;

select tests.login_anon();
select tests.throws($$select public.accept_bid(tests.bid(1))$$, '42501', 'anon may not call accept_bid');

select tests.login('bob@customer.demo');
select tests.throws($$select public.accept_bid(tests.bid(1))$$, 'P0002',
                    'bob cannot accept a bid on alice''s booking (reported as not found)');
select tests.throws($$select public.accept_bid(gen_random_uuid())$$, 'P0002', 'an unknown bid is not found');
select tests.throws($$select public.accept_bid(tests.bid(12))$$, '23514', 'a withdrawn bid cannot be accepted');

select tests.login('tom@tech.demo');
select tests.throws($$select public.accept_bid(tests.bid(1))$$, 'P0002', 'a bidder cannot accept his own bid');

select tests.login('alice@customer.demo');
select tests.is((select row(status, technician_id, price)::text from public.accept_bid(tests.bid(1))),
                row('accepted'::public.booking_status, tests.uid('tom@tech.demo'), 120.00::numeric(10,2))::text,
                'accept_bid returns the booking: accepted, tom, at his price');
select tests.is((select string_agg(right(id::text, 2) || '=' || status, ',' order by id) from public.bids
                  where booking_id = tests.booking(1)),
                '01=accepted,02=rejected', 'the bid is accepted and the other rejected');
select tests.throws($$select public.accept_bid(tests.bid(2))$$, '23514', 'a booking is accepted only once');

select tests.login('tom@tech.demo');
select tests.rows($$select 1 from public.notifications where type = 'booking_accepted'
                    and data ->> 'booking_id' = tests.booking(1)::text$$, 1, 'tom is told he got the job');
select tests.rows($$select 1 from public.messages where booking_id = tests.booking(1)$$, 0,
                  'tom may now read the (empty) chat');
select tests.lives($$insert into public.messages (booking_id, sender_id, body)
                     values (tests.booking(1), auth.uid(), 'Thanks, see you tomorrow')$$,
                   'and write in it');

select tests.login('tina@tech.demo');
select tests.rows($$select 1 from public.notifications where type = 'bid_rejected'
                    and data ->> 'booking_id' = tests.booking(1)::text$$, 1, 'tina is told her bid lost');
select tests.rows($$select 1 from public.bookings where id = tests.booking(1)$$, 0,
                  'the booking has left tina''s marketplace');

-- an admin may accept on a customer's behalf
select tests.login('admin@techcare.demo');
select tests.is((select status from public.accept_bid(tests.bid(5))), 'accepted'::public.booking_status,
                'an admin accepts a bid for bob');

-- a technician whose verification was revoked cannot be hired
select tests.logout();
insert into public.bids (id, booking_id, technician_id, amount)
values ('b1d00000-0000-4000-8000-000000000099', tests.booking(9), tests.uid('victor@tech.demo'), 50);
select tests.login('carol@customer.demo');
select tests.throws($$select public.accept_bid('b1d00000-0000-4000-8000-000000000099')$$, '23514',
                    'an unverified technician''s bid cannot be accepted');

rollback;
