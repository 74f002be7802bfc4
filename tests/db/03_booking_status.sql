-- The booking state machine: pending -> accepted -> in_progress -> completed,
-- cancellations, who may take which edge, and the notifications each sends.
-- B01 alice pending, B02 alice accepted (tom), B03 alice in_progress (tina),
-- B04 alice completed (tom), B08 bob accepted (tina), B09 carol pending.
begin;

-- illegal edges, for everyone ------------------------------------------------
select tests.login('alice@customer.demo');
select tests.throws($$update public.bookings set status = 'completed' where id = tests.booking(1)$$, '23514',
                    'pending -> completed is illegal');
select tests.throws($$update public.bookings set status = 'in_progress' where id = tests.booking(1)$$, '23514',
                    'pending -> in_progress is illegal');
select tests.login('admin@techcare.demo');
select tests.throws($$update public.bookings set status = 'cancelled' where id = tests.booking(4)$$, '23514',
                    'completed is final, even for an admin');
select tests.throws($$update public.bookings set status = 'accepted' where id = tests.booking(9)$$, '23514',
                    'accepted needs a technician, even for an admin');
select tests.logout();
select tests.throws($$update public.bookings set status = 'pending' where id = tests.booking(2)$$, '23514',
                    'accepted -> pending is illegal, even for the superuser');

-- who may take a legal edge ----------------------------------------------------
select tests.login('alice@customer.demo');
select tests.throws($$update public.bookings set status = 'accepted', technician_id = tests.uid('tom@tech.demo')
                      where id = tests.booking(1)$$, '42501', 'a customer cannot accept by UPDATE');
select tests.throws($$update public.bookings set status = 'in_progress' where id = tests.booking(2)$$, '42501',
                    'a customer cannot start the work');
select tests.throws($$update public.bookings set status = 'cancelled' where id = tests.booking(3)$$, '42501',
                    'a customer cannot cancel work in progress');
select tests.throws($$update public.bookings set description = 'changed' where id = tests.booking(2)$$, '42501',
                    'a customer cannot edit an accepted booking');

select tests.login('tom@tech.demo');
select tests.throws($$update public.bookings set status = 'completed' where id = tests.booking(2)$$, '23514',
                    'accepted -> completed skips in_progress');
select tests.throws($$update public.bookings set price = 500 where id = tests.booking(2)$$, '42501',
                    'a technician cannot change the price');
select tests.affects($$update public.bookings set status = 'in_progress' where id = tests.booking(8)$$, 0,
                     'tom cannot move tina''s booking');
select tests.affects($$update public.bookings set status = 'cancelled' where id = tests.booking(1)$$, 0,
                     'a bidder cannot cancel a pending booking');
select tests.affects($$update public.bookings set status = 'in_progress' where id = tests.booking(2)$$, 1,
                     'tom starts his accepted booking');
select tests.affects($$update public.bookings set status = 'completed' where id = tests.booking(2)$$, 1,
                     'tom completes it');
select tests.throws($$update public.bookings set status = 'in_progress' where id = tests.booking(2)$$, '23514',
                    'completed -> in_progress is illegal');

select tests.login('alice@customer.demo');
select tests.is((select string_agg(type, ',' order by created_at, type) from public.notifications
                  where data ->> 'booking_id' = tests.booking(2)::text and type like 'booking_%'),
                'booking_completed,booking_started', 'alice is told the work started and completed');
select tests.lives($$insert into public.reviews (booking_id, rating, comment)
                     values (tests.booking(2), 4, 'Good job')$$, 'alice reviews the completed booking');
select tests.is((select technician_id from public.reviews where booking_id = tests.booking(2)),
                tests.uid('tom@tech.demo'), 'the review''s technician comes from the booking');

select tests.login('tina@tech.demo');
select tests.throws($$update public.bookings set status = 'cancelled' where id = tests.booking(3)$$, '42501',
                    'a technician cannot cancel work in progress');
select tests.affects($$update public.bookings set status = 'cancelled' where id = tests.booking(8)$$, 1,
                     'the technician may cancel an accepted booking');
select tests.login('bob@customer.demo');
select tests.rows($$select 1 from public.notifications where type = 'booking_cancelled'$$, 1,
                  'bob is told tina cancelled');
select tests.login('tina@tech.demo');
select tests.rows($$select 1 from public.notifications where type = 'booking_cancelled'$$, 0,
                  'the one who cancels is not notified');

select tests.login('admin@techcare.demo');
select tests.affects($$update public.bookings set status = 'cancelled' where id = tests.booking(3)$$, 1,
                     'an admin may cancel work in progress');

-- cancelling a pending booking rejects its open bids ------------------------------
select tests.login('alice@customer.demo');
select tests.affects($$update public.bookings set description = 'Drips at night', scheduled_at = now() + interval '3 days'
                       where id = tests.booking(1)$$, 1, 'a customer edits a pending booking');
select tests.affects($$update public.bookings set status = 'cancelled' where id = tests.booking(1)$$, 1,
                     'a customer cancels a pending booking');
select tests.throws($$update public.bookings set status = 'pending' where id = tests.booking(1)$$, '23514',
                    'cancelled is final');
select tests.logout();
select tests.is((select string_agg(status::text, ',' order by id) from public.bids where booking_id = tests.booking(1)),
                'rejected,rejected', 'its pending bids are rejected');
select tests.rows($$select 1 from public.notifications where type = 'bid_rejected'
                    and data ->> 'booking_id' = tests.booking(1)::text$$, 2, 'both bidders are told');
select tests.ok((select updated_at = now() from public.bookings where id = tests.booking(1)),
                'updated_at moves on update');

rollback;
