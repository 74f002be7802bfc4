-- 005_techcare_rules.sql — TechCare's business rules, as triggers, plus
-- accept_bid() and the notifications the app shows in real time.
--
-- Row-level security (006) decides which rows a user may update; these
-- triggers decide what the update may change:
--   * state machines (bookings, bids), enforced for everyone, trusted or not;
--   * for plain users (see public.tc_is_trusted()), which columns their role
--     may change in that state. Admins, service_role and SECURITY DEFINER code
--     are trusted and only bound by the state machines.
-- Errors: 42501 (insufficient_privilege) "you may not do this",
--         23514 (check_violation) "this change is not legal in this state",
--         P0002 (no_data_found) "no such row (that you can see)".

------------------------------------------------------------------------------
-- Shared pieces
------------------------------------------------------------------------------

create or replace function public.tc_touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- The columns whose values differ between two images of a row.
create or replace function public.tc_changed_columns(a jsonb, b jsonb) returns text[]
language sql immutable set search_path = '' as $$
  select coalesce(array_agg(o.key order by o.key), '{}')
    from jsonb_each(a) o
   where o.value is distinct from b -> o.key
$$;

-- Raises 42501 unless the update changes only `allowed` columns
-- (updated_at is always allowed: tc_touch_updated_at sets it).
create or replace function public.tc_only_columns(old_row jsonb, new_row jsonb, allowed text[], who text)
returns void
language plpgsql stable set search_path = '' as $$
declare
  bad text[];
begin
  select coalesce(array_agg(c), '{}') into bad
    from unnest(public.tc_changed_columns(old_row, new_row)) c
   where c <> 'updated_at' and c <> all (allowed);
  if bad <> '{}' then
    raise exception '% may not change %', who, array_to_string(bad, ', ') using errcode = '42501';
  end if;
end
$$;

-- Inserts a notification. SECURITY DEFINER, called from the AFTER triggers
-- below; EXECUTE is revoked from request roles so users cannot notify others.
create or replace function public.tc_notify(p_user uuid, p_type text, p_title text, p_body text, p_data jsonb)
returns void
language sql volatile security definer set search_path = '' as $$
  insert into public.notifications (user_id, type, title, body, data)
  select p_user, p_type, p_title, p_body, coalesce(p_data, '{}')
   where p_user is not null
$$;
revoke execute on function public.tc_notify(uuid, text, text, text, jsonb) from public, anon, authenticated;

create or replace function public.tc_display_name(p_id uuid) returns text
language sql stable security definer set search_path = '' as $$
  select coalesce(nullif(p.full_name, ''), 'Someone') from public.profiles p where p.id = p_id
$$;
-- Internal: as REST rpc it would tell anyone the name behind any user id.
revoke execute on function public.tc_display_name(uuid) from public, anon, authenticated;

create trigger profiles_touch    before update on public.profiles    for each row execute function public.tc_touch_updated_at();
create trigger technicians_touch before update on public.technicians for each row execute function public.tc_touch_updated_at();
create trigger bookings_touch    before update on public.bookings    for each row execute function public.tc_touch_updated_at();
create trigger bids_touch        before update on public.bids        for each row execute function public.tc_touch_updated_at();
create trigger payments_touch    before update on public.payments    for each row execute function public.tc_touch_updated_at();
create trigger reviews_touch     before update on public.reviews     for each row execute function public.tc_touch_updated_at();

------------------------------------------------------------------------------
-- profiles, technicians: users edit their own details, admins the rest
------------------------------------------------------------------------------

create or replace function public.tc_profiles_guard() returns trigger
language plpgsql set search_path = '' as $$
begin
  if not public.tc_is_trusted() then
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new),
                                   '{full_name,phone,avatar_url}', 'a user');
  end if;
  return new;
end
$$;
create trigger profiles_guard before update on public.profiles
  for each row execute function public.tc_profiles_guard();

create or replace function public.tc_technicians_guard() returns trigger
language plpgsql set search_path = '' as $$
begin
  if not public.tc_is_trusted() then
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new),
                                   '{services,hourly_rate,bio}', 'a technician');
  end if;
  if new.is_verified is distinct from old.is_verified then
    new.verified_at := case when new.is_verified then now() end;
  end if;
  return new;
end
$$;
create trigger technicians_guard before update on public.technicians
  for each row execute function public.tc_technicians_guard();

create or replace function public.tc_technicians_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.is_verified is distinct from old.is_verified then
    perform public.tc_notify(new.id, 'verification',
      case when new.is_verified then 'Your account is verified' else 'Your verification was revoked' end,
      case when new.is_verified then 'You can now see the marketplace and bid on jobs.'
           else 'Contact support to restore it.' end,
      jsonb_build_object('is_verified', new.is_verified));
  end if;
  return null;
end
$$;
create trigger technicians_notify after update of is_verified on public.technicians
  for each row execute function public.tc_technicians_notify();

------------------------------------------------------------------------------
-- bookings: pending -> accepted -> in_progress -> completed, or -> cancelled
--
--   edge                       plain users allowed        trusted
--   pending     -> accepted    nobody (use accept_bid)    yes, needs a technician
--   pending     -> cancelled   the customer               yes
--   accepted    -> in_progress the technician             yes
--   accepted    -> cancelled   the customer or technician yes
--   in_progress -> completed   the technician             yes
--   in_progress -> cancelled   nobody (an admin decides)  yes
--   completed, cancelled: final.
-- Besides status, a customer may edit service, description, scheduled_at,
-- address and price while the booking is pending; a technician only moves
-- the status.
------------------------------------------------------------------------------

create or replace function public.tc_booking_edge_ok(f public.booking_status, t public.booking_status)
returns boolean
language sql immutable set search_path = '' as $$
  select (f, t) in (('pending', 'accepted'), ('pending', 'cancelled'),
                    ('accepted', 'in_progress'), ('accepted', 'cancelled'),
                    ('in_progress', 'completed'), ('in_progress', 'cancelled'))
$$;

create or replace function public.tc_bookings_guard() returns trigger
language plpgsql set search_path = '' as $$
declare
  uid uuid := auth.uid();
  moved boolean := new.status is distinct from old.status;
begin
  if moved then
    if not public.tc_booking_edge_ok(old.status, new.status) then
      raise exception 'illegal booking status transition: % -> %', old.status, new.status
        using errcode = '23514';
    end if;
    if new.status in ('accepted', 'in_progress', 'completed') and new.technician_id is null then
      raise exception 'a booking cannot be % without a technician', new.status using errcode = '23514';
    end if;
  end if;

  if public.tc_is_trusted() then
    return new;
  end if;

  if uid is not distinct from old.customer_id then
    if moved and not (new.status = 'cancelled' and old.status in ('pending', 'accepted')) then
      raise exception 'a customer may not move a booking from % to %', old.status, new.status
        using errcode = '42501';
    end if;
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new),
      case when old.status = 'pending'
           then '{status,service,description,scheduled_at,address,price}'::text[]
           else '{status}'::text[] end,
      'the customer of a ' || old.status || ' booking');
  elsif uid is not distinct from old.technician_id then
    if moved and (old.status, new.status) not in (('accepted', 'in_progress'),
                                                   ('in_progress', 'completed'),
                                                   ('accepted', 'cancelled')) then
      raise exception 'a technician may not move a booking from % to %', old.status, new.status
        using errcode = '42501';
    end if;
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new), '{status}', 'a technician');
  else
    raise exception 'not a party to this booking' using errcode = '42501';
  end if;
  return new;
end
$$;
create trigger bookings_guard before update on public.bookings
  for each row execute function public.tc_bookings_guard();

-- Tell the other party; a cancelled pending booking rejects its open bids
-- (which tells their technicians).
create or replace function public.tc_bookings_after_status() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  actor uuid := auth.uid();
  data jsonb := jsonb_build_object('booking_id', new.id, 'status', new.status);
begin
  if new.status is not distinct from old.status then
    return null;
  end if;
  case new.status
    when 'accepted' then
      perform public.tc_notify(new.technician_id, 'booking_accepted', 'You got the job',
        format('%s accepted your bid for "%s".', public.tc_display_name(new.customer_id), new.service), data);
    when 'in_progress' then
      perform public.tc_notify(new.customer_id, 'booking_started', 'Work has started',
        format('%s started "%s".', public.tc_display_name(new.technician_id), new.service), data);
    when 'completed' then
      perform public.tc_notify(new.customer_id, 'booking_completed', 'Job completed',
        format('%s completed "%s". You can leave a review.', public.tc_display_name(new.technician_id), new.service), data);
    when 'cancelled' then
      if actor is distinct from new.customer_id then
        perform public.tc_notify(new.customer_id, 'booking_cancelled', 'Booking cancelled',
          format('"%s" was cancelled.', new.service), data);
      end if;
      if new.technician_id is not null and actor is distinct from new.technician_id then
        perform public.tc_notify(new.technician_id, 'booking_cancelled', 'Booking cancelled',
          format('"%s" was cancelled.', new.service), data);
      end if;
      update public.bids set status = 'rejected' where booking_id = new.id and status = 'pending';
    else
      null;
  end case;
  return null;
end
$$;
create trigger bookings_after_status after update of status on public.bookings
  for each row execute function public.tc_bookings_after_status();

------------------------------------------------------------------------------
-- bids: pending -> accepted (accept_bid) | rejected (the customer) | withdrawn
-- (the technician); a technician may revise amount and message while pending.
------------------------------------------------------------------------------

create or replace function public.tc_bids_guard() returns trigger
language plpgsql set search_path = '' as $$
declare
  uid uuid := auth.uid();
begin
  if new.status is distinct from old.status and
     not (old.status = 'pending' and new.status in ('accepted', 'rejected', 'withdrawn')) then
    raise exception 'illegal bid status transition: % -> %', old.status, new.status using errcode = '23514';
  end if;
  if public.tc_is_trusted() then
    return new;
  end if;
  if uid is not distinct from old.technician_id then
    if old.status <> 'pending' or new.status not in ('pending', 'withdrawn') then
      raise exception 'a technician may only revise or withdraw a pending bid' using errcode = '42501';
    end if;
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new), '{amount,message,status}', 'a technician');
  elsif exists (select 1 from public.bookings b where b.id = old.booking_id and b.customer_id = uid) then
    if new.status is distinct from 'rejected' then
      raise exception 'a customer may only reject a bid (accept it with accept_bid)' using errcode = '42501';
    end if;
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new), '{status}', 'a customer');
  else
    raise exception 'not a party to this bid' using errcode = '42501';
  end if;
  return new;
end
$$;
create trigger bids_guard before update on public.bids
  for each row execute function public.tc_bids_guard();

create or replace function public.tc_bids_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  bk public.bookings;
  data jsonb := jsonb_build_object('booking_id', new.booking_id, 'bid_id', new.id);
begin
  select * into bk from public.bookings where id = new.booking_id;
  if tg_op = 'INSERT' then
    if new.status = 'pending' then
      perform public.tc_notify(bk.customer_id, 'new_bid', 'New bid on "' || bk.service || '"',
        format('%s offered %s.', public.tc_display_name(new.technician_id), new.amount), data);
    end if;
  elsif new.status is distinct from old.status then
    if new.status = 'rejected' then
      perform public.tc_notify(new.technician_id, 'bid_rejected', 'Bid not accepted',
        format('Your bid on "%s" was not accepted.', bk.service), data);
    elsif new.status = 'withdrawn' then
      perform public.tc_notify(bk.customer_id, 'bid_withdrawn', 'Bid withdrawn',
        format('%s withdrew their bid on "%s".', public.tc_display_name(new.technician_id), bk.service), data);
    end if;
  end if;
  return null;
end
$$;
create trigger bids_notify after insert or update of status on public.bids
  for each row execute function public.tc_bids_notify();

-- The customer (or an admin) accepts a bid: the booking gets the bid's
-- technician and amount and becomes accepted, the bid accepted, the other
-- open bids rejected — in one transaction, under row locks, so two accepts
-- racing on one booking cannot both win. Callable as REST rpc:
--   supabase.rpc('accept_bid', { bid_id })  -> the updated booking
-- A bid on someone else's booking is reported as not found, like a missing one.
-- Locks the booking before the bid: every accept of one booking queues on
-- the booking row, so two accepts racing for two of its bids cannot each
-- hold a bid the other must reject (a deadlock); the loser waits, then sees
-- "the booking is already accepted".
create or replace function public.accept_bid(bid_id uuid) returns public.bookings
language plpgsql volatile security definer set search_path = '' as $$
declare
  uid uuid := auth.uid();
  b   public.bids;
  bk  public.bookings;
begin
  if uid is null then
    raise exception 'sign in to accept a bid' using errcode = '42501';
  end if;
  select * into bk from public.bookings
   where id = (select x.booking_id from public.bids x where x.id = accept_bid.bid_id)
     for update;
  if found then
    select * into b from public.bids where id = accept_bid.bid_id for update;
  end if;
  if not found or (bk.customer_id <> uid and not public.is_admin()) then
    raise exception 'bid not found' using errcode = 'P0002';
  end if;
  if bk.status <> 'pending' then
    raise exception 'the booking is already %', bk.status using errcode = '23514';
  end if;
  if b.status <> 'pending' then
    raise exception 'the bid is %', b.status using errcode = '23514';
  end if;
  if not exists (select 1 from public.technicians t where t.id = b.technician_id and t.is_verified) then
    raise exception 'the technician is not verified' using errcode = '23514';
  end if;

  update public.bids set status = 'rejected'
   where booking_id = bk.id and id <> b.id and status = 'pending';
  update public.bids set status = 'accepted' where id = b.id;
  update public.bookings
     set status = 'accepted', technician_id = b.technician_id, price = b.amount
   where id = bk.id
  returning * into bk;
  return bk;
end
$$;
revoke execute on function public.accept_bid(uuid) from public, anon;
grant execute on function public.accept_bid(uuid) to authenticated, service_role;

------------------------------------------------------------------------------
-- messages: immutable; each one notifies the other party (both, if an admin writes)
------------------------------------------------------------------------------

create or replace function public.tc_messages_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  bk public.bookings;
  who uuid;
begin
  select * into bk from public.bookings where id = new.booking_id;
  foreach who in array array[bk.customer_id, bk.technician_id] loop
    if who is not null and who <> new.sender_id then
      perform public.tc_notify(who, 'new_message',
        'New message from ' || public.tc_display_name(new.sender_id),
        left(new.body, 140),
        jsonb_build_object('booking_id', new.booking_id, 'message_id', new.id));
    end if;
  end loop;
  return null;
end
$$;
create trigger messages_notify after insert on public.messages
  for each row execute function public.tc_messages_notify();

------------------------------------------------------------------------------
-- notifications: the owner only marks them read
------------------------------------------------------------------------------

create or replace function public.tc_notifications_guard() returns trigger
language plpgsql set search_path = '' as $$
begin
  if not public.tc_is_trusted() then
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new), '{read_at}', 'a user');
  end if;
  return new;
end
$$;
create trigger notifications_guard before update on public.notifications
  for each row execute function public.tc_notifications_guard();

------------------------------------------------------------------------------
-- payments (written by trusted code only): parties come from the booking
------------------------------------------------------------------------------

-- Payments and reviews take their parties from the booking: missing ones
-- are filled in, different ones refused. TG_ARGV[0] names the row kind in
-- the error.
create or replace function public.tc_booking_parties() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  bk public.bookings;
begin
  select * into bk from public.bookings where id = new.booking_id;
  if not found then
    return new;   -- the foreign key reports it
  end if;
  new.customer_id := coalesce(new.customer_id, bk.customer_id);
  new.technician_id := coalesce(new.technician_id, bk.technician_id);
  if new.customer_id <> bk.customer_id or new.technician_id is distinct from bk.technician_id then
    raise exception '% parties do not match booking %', tg_argv[0], bk.id using errcode = '23514';
  end if;
  return new;
end
$$;
create trigger payments_parties before insert or update of booking_id, customer_id, technician_id
  on public.payments for each row execute function public.tc_booking_parties('payment');

create or replace function public.tc_payments_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.status = 'succeeded' and (tg_op = 'INSERT' or old.status is distinct from 'succeeded') then
    perform public.tc_notify(new.technician_id, 'payment_received', 'Payment received',
      format('%s %s received.', new.amount, new.currency),
      jsonb_build_object('booking_id', new.booking_id, 'payment_id', new.id));
  end if;
  return null;
end
$$;
create trigger payments_notify after insert or update of status on public.payments
  for each row execute function public.tc_payments_notify();

------------------------------------------------------------------------------
-- reviews: the customer of a completed booking writes one; its technician
-- may flag it; admins moderate (visible / hidden / flagged). The
-- technician's rating is the mean of their visible reviews.
------------------------------------------------------------------------------

create trigger reviews_before_insert before insert on public.reviews
  for each row execute function public.tc_booking_parties('review');

-- SECURITY INVOKER: it must see the caller, not the function owner.
create or replace function public.tc_reviews_guard() returns trigger
language plpgsql set search_path = '' as $$
declare
  uid uuid := auth.uid();
begin
  if public.tc_is_trusted() then
    return new;
  end if;
  if uid is not distinct from old.customer_id then
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new), '{rating,comment}', 'the author of a review');
  elsif uid is not distinct from old.technician_id then
    if not (old.status = 'visible' and new.status = 'flagged') then
      raise exception 'a technician may only flag a visible review' using errcode = '42501';
    end if;
    perform public.tc_only_columns(to_jsonb(old), to_jsonb(new), '{status}', 'a technician');
  else
    raise exception 'not a party to this review' using errcode = '42501';
  end if;
  return new;
end
$$;
create trigger reviews_guard before update on public.reviews
  for each row execute function public.tc_reviews_guard();

create or replace function public.tc_refresh_rating(p_technician uuid) returns void
language sql volatile security definer set search_path = '' as $$
  update public.technicians t
     set rating = r.avg, rating_count = r.n
    from (select round(avg(rating), 2) as avg, count(*)::int as n
            from public.reviews where technician_id = p_technician and status = 'visible') r
   where t.id = p_technician
     and (t.rating is distinct from r.avg or t.rating_count <> r.n)
$$;
revoke execute on function public.tc_refresh_rating(uuid) from public, anon, authenticated;

create or replace function public.tc_reviews_after() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform public.tc_refresh_rating(old.technician_id);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    if tg_op = 'INSERT' or new.technician_id <> old.technician_id then
      perform public.tc_refresh_rating(new.technician_id);
    end if;
    if tg_op = 'INSERT' then
      perform public.tc_notify(new.technician_id, 'new_review', 'New review',
        format('%s rated you %s/5.', public.tc_display_name(new.customer_id), new.rating),
        jsonb_build_object('booking_id', new.booking_id, 'review_id', new.id));
    end if;
  end if;
  return null;
end
$$;
create trigger reviews_after after insert or update or delete on public.reviews
  for each row execute function public.tc_reviews_after();
