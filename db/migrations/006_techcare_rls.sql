-- 006_techcare_rls.sql — who sees and writes which rows of TechCare's tables.
--
-- Every table has RLS on and policies only for `authenticated`: anon sees and
-- writes nothing (the app requires sign-in; nothing here is public to the
-- internet). service_role bypasses RLS. Within a row a policy admits, 005's
-- triggers decide which columns and status changes are allowed.
--
--               customer                      technician                        admin
-- profiles      own; technicians of own       own; verified technicians;        all
--               bookings; verified techs      customers of assigned bookings
-- technicians   verified; those of own        verified; own                     all
--               bookings
-- bookings      own (insert: pending,         assigned; pending ones if         all
--               no technician)                verified (the marketplace)
-- bids          on own bookings (may reject)  own (insert on pending bookings    all
--                                             if verified; revise, withdraw)
-- messages      of own bookings               of assigned bookings              all
-- notifications own (mark read, delete)       own (mark read, delete)           all
-- payments      own (read only)               own (read only)                   all
-- reviews       visible + own (insert for     visible + about them (may flag)   all
--               own completed booking)
--
-- Decisions:
--   * Bids are sealed: a technician sees only their own bids, never competitors'
--     amounts on the same job (no undercutting by a few cents, no price leak).
--   * The marketplace (pending bookings, including their address) is open to
--     verified technicians only: an unverified account sees no customer data.
--   * Chat is between the customer and the assigned technician: a technician
--     who has only bid cannot read or write the chat.
--   * Phones in profiles are seen by whoever sees the row: the counterpart of a
--     booking (to arrange the visit) and, for verified technicians, every
--     signed-in user (a business listing).
--   * Payments are written by trusted code only (provider webhooks through
--     service_role, or an admin); users only read theirs.
--
-- Efficiency: auth.uid() and the helpers are wrapped as (select ...) so they
-- are evaluated once per statement (an InitPlan), not once per row, and
-- "rows of my bookings" is written `booking_id in (select ...)`, a hashed
-- sub-plan computed once, rather than a correlated EXISTS per row.

alter table public.profiles      enable row level security;
alter table public.technicians   enable row level security;
alter table public.bookings      enable row level security;
alter table public.bids          enable row level security;
alter table public.messages      enable row level security;
alter table public.notifications enable row level security;
alter table public.payments      enable row level security;
alter table public.reviews       enable row level security;

-- Admins: everything, everywhere (005's state machines still apply).
do $$
declare
  t text;
begin
  foreach t in array array['profiles', 'technicians', 'bookings', 'bids', 'messages',
                           'notifications', 'payments', 'reviews'] loop
    execute format('create policy "admins manage all" on public.%I for all to authenticated '
                   'using ((select public.is_admin())) with check ((select public.is_admin()))', t);
  end loop;
end
$$;

-- profiles ------------------------------------------------------------------

create policy "read own, verified technicians and booking counterparts" on public.profiles
  for select to authenticated using (
    id = (select auth.uid())
    or id in (select t.id from public.technicians t where t.is_verified)
    or id in (select b.technician_id from public.bookings b where b.customer_id = (select auth.uid())
              union
              select b.customer_id from public.bookings b where b.technician_id = (select auth.uid())));

create policy "update own" on public.profiles
  for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- technicians ---------------------------------------------------------------

create policy "read verified, own and of own bookings" on public.technicians
  for select to authenticated using (
    is_verified
    or id = (select auth.uid())
    or id in (select b.technician_id from public.bookings b where b.customer_id = (select auth.uid())));

create policy "update own" on public.technicians
  for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- bookings ------------------------------------------------------------------

create policy "parties read; verified technicians read pending" on public.bookings
  for select to authenticated using (
    customer_id = (select auth.uid())
    or technician_id = (select auth.uid())
    or (status = 'pending' and (select public.is_verified_technician())));

create policy "customers create pending bookings" on public.bookings
  for insert to authenticated with check (
    customer_id = (select auth.uid())
    and status = 'pending'
    and technician_id is null
    and (select public.current_app_role()) = 'customer');

create policy "parties update" on public.bookings
  for update to authenticated
  using (customer_id = (select auth.uid()) or technician_id = (select auth.uid()))
  with check (customer_id = (select auth.uid()) or technician_id = (select auth.uid()));

-- bids ----------------------------------------------------------------------

create policy "bidder and booking customer read" on public.bids
  for select to authenticated using (
    technician_id = (select auth.uid())
    or booking_id in (select b.id from public.bookings b where b.customer_id = (select auth.uid())));

create policy "verified technicians bid on pending bookings" on public.bids
  for insert to authenticated with check (
    technician_id = (select auth.uid())
    and status = 'pending'
    and (select public.is_verified_technician())
    and booking_id in (select b.id from public.bookings b where b.status = 'pending'));

create policy "bidder and booking customer update" on public.bids
  for update to authenticated
  using (technician_id = (select auth.uid())
         or booking_id in (select b.id from public.bookings b where b.customer_id = (select auth.uid())))
  with check (technician_id = (select auth.uid())
         or booking_id in (select b.id from public.bookings b where b.customer_id = (select auth.uid())));

-- messages ------------------------------------------------------------------

create policy "booking parties read" on public.messages
  for select to authenticated using (
    booking_id in (select b.id from public.bookings b
                    where b.customer_id = (select auth.uid()) or b.technician_id = (select auth.uid())));

create policy "booking parties write as themselves" on public.messages
  for insert to authenticated with check (
    sender_id = (select auth.uid())
    and booking_id in (select b.id from public.bookings b
                        where b.customer_id = (select auth.uid()) or b.technician_id = (select auth.uid())));

-- notifications -------------------------------------------------------------

create policy "read own" on public.notifications
  for select to authenticated using (user_id = (select auth.uid()));

create policy "mark own read" on public.notifications
  for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

create policy "delete own" on public.notifications
  for delete to authenticated using (user_id = (select auth.uid()));

-- payments ------------------------------------------------------------------

create policy "parties read" on public.payments
  for select to authenticated using (
    customer_id = (select auth.uid()) or technician_id = (select auth.uid()));

-- reviews -------------------------------------------------------------------

create policy "read visible, own and about me" on public.reviews
  for select to authenticated using (
    status = 'visible'
    or customer_id = (select auth.uid())
    or technician_id = (select auth.uid()));

create policy "customers review their completed bookings" on public.reviews
  for insert to authenticated with check (
    customer_id = (select auth.uid())
    and status = 'visible'
    and booking_id in (select b.id from public.bookings b
                        where b.customer_id = (select auth.uid()) and b.status = 'completed'));

create policy "author edits, technician flags" on public.reviews
  for update to authenticated
  using (customer_id = (select auth.uid()) or technician_id = (select auth.uid()))
  with check (customer_id = (select auth.uid()) or technician_id = (select auth.uid()));

-- Privileges RLS does not govern: TRUNCATE ignores policies, and REFERENCES /
-- TRIGGER are never needed by request roles. Supabase's default privileges
-- grant them; take them back on TechCare's own tables.
revoke truncate, references, trigger on
  public.profiles, public.technicians, public.bookings, public.bids, public.messages,
  public.notifications, public.payments, public.reviews
  from anon, authenticated;
