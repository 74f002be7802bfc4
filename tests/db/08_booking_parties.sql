-- Payments and reviews take their customer and technician from the booking
-- (005's tc_booking_parties): missing parties are filled in, different ones
-- refused. Written by trusted code, so run as the owner.
-- B02 alice accepted (tom), B04 alice completed (tom, already reviewed).
begin;
select tests.logout();

insert into public.payments (booking_id, amount) values (tests.booking(2), 50);
select tests.is((select row(customer_id, technician_id)::text from public.payments
                  where booking_id = tests.booking(2) and amount = 50),
                row(tests.uid('alice@customer.demo'), tests.uid('tom@tech.demo'))::text,
                'a payment without parties gets the booking''s customer and technician');
select tests.throws($$insert into public.payments (booking_id, amount, technician_id)
                      values (tests.booking(2), 60, tests.uid('tina@tech.demo'))$$, '23514',
                    'a payment naming another technician than the booking''s is refused');
select tests.throws($$update public.payments set customer_id = tests.uid('bob@customer.demo')
                      where booking_id = tests.booking(2) and amount = 50$$, '23514',
                    'a payment cannot be moved to another customer');
select tests.throws($$insert into public.reviews (booking_id, customer_id, rating)
                      values (tests.booking(4), tests.uid('bob@customer.demo'), 5)$$, '23514',
                    'a review by someone else than the booking''s customer is refused');

rollback;
