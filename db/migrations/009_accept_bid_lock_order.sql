-- accept_bid() locked the bid, then its booking, then updated the booking's
-- other pending bids. Two customers' devices accepting two bids of one
-- booking at once each held one bid and waited for the other's: a deadlock.
-- Lock the booking first (every accept of that booking queues on it), then
-- the bid: the loser waits, then sees "the booking is already accepted".

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
