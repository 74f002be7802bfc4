-- 007_techcare_realtime.sql — what TechCare publishes to Realtime, and who may
-- use its private channels.

-- Postgres Changes: the seed's six tables (section 2.1) plus profiles and
-- reviews, which the admin screens subscribe to (section 6.3).
alter publication supabase_realtime add table
  public.bookings, public.messages, public.notifications, public.bids,
  public.technicians, public.payments, public.profiles, public.reviews;

-- Replica identity: what the WAL keeps of the OLD row on UPDATE and DELETE.
-- With DEFAULT it is the primary key only, so an UPDATE carries no old values
-- and a DELETE only the id; a filter on another column (customer_id=eq.X) cannot
-- be matched on a DELETE, and an UPDATE cannot tell what changed. FULL logs the
-- whole old row, which costs WAL only on UPDATE/DELETE.
--   bookings       FULL: filters on customer_id / technician_id / status (6.1, 6.2);
--                  a booking leaving the marketplace (status pending -> accepted)
--                  and a reassignment must be visible from the old row.
--   bids           FULL: filtered by booking_id (6.1); old status on UPDATE.
--   messages       FULL: filtered by booking_id (chat); messages are insert-only,
--                  so FULL only costs anything on a moderation DELETE.
--   notifications  FULL: filtered by user_id; marking read is an UPDATE whose
--                  old row is small.
--   technicians    FULL: filtered by is_verified (6.3), whose old value tells
--                  "just verified" apart from "edited while verified".
--   payments       FULL: filtered by customer_id / technician_id; rare updates.
--   profiles       DEFAULT: subscribed without filter (admin, INSERT only).
--   reviews        DEFAULT: subscribed without filter (admin moderation).
alter table public.bookings      replica identity full;
alter table public.bids          replica identity full;
alter table public.messages      replica identity full;
alter table public.notifications replica identity full;
alter table public.technicians   replica identity full;
alter table public.payments      replica identity full;
alter table public.profiles      replica identity default;
alter table public.reviews       replica identity default;

-- Private channels (Broadcast and Presence with `private: true`) are
-- authorized by RLS on realtime.messages with realtime.topic() set to the
-- channel's topic: SELECT to receive, INSERT to send, as in supabase/realtime.
-- TechCare's topics, from the seed design:
--   chat:<booking>, typing:<booking>, bids:<booking>, booking:<booking>
--       the booking's customer and assigned technician
--   user:<user id>  and  user:<user id>:<anything>
--       that user only
-- and admins may use any topic. Other topics are public channels' business:
-- no policy here admits them (a project may add its own, as supabase/realtime's
-- e2e check adds one for topic:%).
create or replace function public.tc_can_use_topic(p_topic text) returns boolean
language sql stable security definer set search_path = '' as $$
  select case
    when p_topic is null then false
    when public.is_admin() then true
    when p_topic ~ '^(chat|typing|bids|booking):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
      then public.is_booking_participant(split_part(p_topic, ':', 2)::uuid)
    when p_topic ~ '^user:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(:.*)?$'
      then split_part(p_topic, ':', 2)::uuid = auth.uid()
    else false
  end
$$;

create policy "techcare: parties receive on their topics" on realtime.messages
  for select to authenticated using ((select public.tc_can_use_topic(realtime.topic())));

create policy "techcare: parties send on their topics" on realtime.messages
  for insert to authenticated with check ((select public.tc_can_use_topic(realtime.topic())));
