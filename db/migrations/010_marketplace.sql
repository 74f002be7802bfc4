-- 010_marketplace.sql — the marketplace as a table of its own: one row per
-- booking that is open for bids, and only while it is.
--
-- Why not just bookings filtered on status = 'pending': a booking leaves the
-- marketplace by an UPDATE (pending -> accepted / cancelled) after which the
-- other technicians may no longer read it, so Postgres Changes, judged on the
-- new row, rightly send them nothing (docs/ARCHITECTURE.md, "Authorization
-- semantics"), and their screens would keep a job nobody can take. Here the
-- same moment is a DELETE of the listing, judged on the old row, which every
-- verified technician may read: each of them hears that the job is gone, and
-- nothing else about it.
--
-- Written only by the trigger below (security definer); read by verified
-- technicians and admins, like pending bookings themselves (006).

create table public.marketplace (
  booking_id   uuid          primary key references public.bookings (id) on delete cascade,
  service      text          not null,
  description  text,
  address      text,
  scheduled_at timestamptz,
  price        numeric(10,2),
  created_at   timestamptz   not null,
  listed_at    timestamptz   not null default now()
);
comment on table public.marketplace is
  'Bookings open for bids (status pending), kept by trigger from public.bookings; a row is deleted when its booking leaves pending.';

alter table public.marketplace enable row level security;
grant select on public.marketplace to authenticated;
create policy "verified technicians and admins read the marketplace" on public.marketplace
  for select to authenticated using ((select public.is_verified_technician()) or (select public.is_admin()));

create or replace function public.tc_marketplace_sync() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.status = 'pending' then
    insert into public.marketplace as m (booking_id, service, description, address, scheduled_at, price, created_at)
    values (new.id, new.service, new.description, new.address, new.scheduled_at, new.price, new.created_at)
    on conflict (booking_id) do update
      set service = excluded.service, description = excluded.description, address = excluded.address,
          scheduled_at = excluded.scheduled_at, price = excluded.price
      where (m.service, m.description, m.address, m.scheduled_at, m.price)
            is distinct from (excluded.service, excluded.description, excluded.address, excluded.scheduled_at, excluded.price);
  elsif tg_op = 'UPDATE' and old.status = 'pending' then
    delete from public.marketplace where booking_id = new.id;
  end if;
  return null;
end
$$;
create trigger bookings_marketplace after insert or update on public.bookings
  for each row execute function public.tc_marketplace_sync();

insert into public.marketplace (booking_id, service, description, address, scheduled_at, price, created_at)
select id, service, description, address, scheduled_at, price, created_at from public.bookings where status = 'pending'
on conflict do nothing;

-- FULL: a DELETE carries the whole old row, so the policy above (which needs
-- nothing of the row) and a filter on any column can judge it.
alter table public.marketplace replica identity full;
alter publication supabase_realtime add table public.marketplace;
