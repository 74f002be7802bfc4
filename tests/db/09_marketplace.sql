-- public.marketplace: a listing per booking open for bids, kept by trigger,
-- read only by verified technicians and admins (010_marketplace.sql).
-- Demo: B01 alice, B06 bob, B09 carol are pending.
begin;

select tests.login('tom@tech.demo');
select tests.is((select string_agg(right(booking_id::text, 2), ',' order by booking_id) from public.marketplace),
                '01,06,09', 'a verified technician sees every pending booking listed');
select tests.throws($$insert into public.marketplace (booking_id, service, created_at)
                      values (tests.booking(2), 'x', now())$$, '42501', 'nobody writes the listing by hand');

select tests.login('victor@tech.demo');
select tests.rows($$select 1 from public.marketplace$$, 0, 'an unverified technician sees no listing');
select tests.login('alice@customer.demo');
select tests.rows($$select 1 from public.marketplace$$, 0, 'a customer sees no listing');

select tests.lives($$insert into public.bookings (customer_id, service, price) values (auth.uid(), 'Hang a mirror', 40)$$,
                   'alice books a job');
select tests.login('admin@techcare.demo');
select tests.rows($$select 1 from public.marketplace m join public.bookings b on b.id = m.booking_id
                    where b.service = 'Hang a mirror' and m.price = 40$$, 1, 'the new booking is listed at once');

select tests.login('alice@customer.demo');
select tests.lives($$update public.bookings set price = 45 where id = tests.booking(1)$$, 'alice edits her budget');
select tests.login('tom@tech.demo');
select tests.is((select price from public.marketplace where booking_id = tests.booking(1)), 45.00::numeric(10,2),
                'the listing follows the booking');

select tests.login('alice@customer.demo');
select tests.lives($$select public.accept_bid(tests.bid(1))$$, 'alice accepts tom''s bid');
select tests.login('tina@tech.demo');
select tests.rows($$select 1 from public.marketplace where booking_id = tests.booking(1)$$, 0,
                  'an accepted booking leaves the marketplace for every technician');

select tests.login('carol@customer.demo');
select tests.lives($$update public.bookings set status = 'cancelled' where id = tests.booking(9)$$, 'carol cancels');
select tests.login('tom@tech.demo');
select tests.is((select string_agg(right(booking_id::text, 2), ',' order by booking_id) from public.marketplace
                  where booking_id in (tests.booking(1), tests.booking(6), tests.booking(9))),
                '06', 'so does a cancelled one');

select tests.logout();
rollback;
