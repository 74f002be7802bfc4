-- 004_techcare_schema.sql — TechCare's tables, and the helper functions the
-- row-level security policies (006) and rules (005) are written with.
--
-- Who may do what is decided in 005 (triggers: state machines, columns a role
-- may change) and 006 (policies: which rows a role sees and writes). Here: the
-- shape of the data and its integrity.
--
-- Deleting a user (DELETE FROM auth.users) cascades to their profile and what
-- hangs off it, except payments: financial records are ON DELETE RESTRICT, so a
-- user with payments cannot be hard-deleted (ban them: auth.users.banned_until).

do $$ begin
  create type public.app_role       as enum ('customer', 'technician', 'admin');
  create type public.booking_status as enum ('pending', 'accepted', 'in_progress', 'completed', 'cancelled');
  create type public.bid_status     as enum ('pending', 'accepted', 'rejected', 'withdrawn');
  create type public.payment_status as enum ('pending', 'succeeded', 'failed', 'refunded');
  create type public.review_status  as enum ('visible', 'hidden', 'flagged');
exception when duplicate_object then null;
end $$;

-- One per auth user, created by the trigger at the end of this file.
create table public.profiles (
  id         uuid        primary key references auth.users (id) on delete cascade,
  role       public.app_role not null default 'customer',
  full_name  text        not null default '',
  phone      text,
  avatar_url text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- The professional side of a technician's profile.
create table public.technicians (
  id           uuid          primary key references public.profiles (id) on delete cascade,
  services     text[]        not null default '{}',     -- e.g. {plumbing,electrical}
  hourly_rate  numeric(10,2) check (hourly_rate >= 0),
  rating       numeric(3,2)  check (rating between 0 and 5),  -- mean of visible reviews, NULL if none
  rating_count integer       not null default 0,
  is_verified  boolean       not null default false,   -- set by admins only
  verified_at  timestamptz,
  bio          text,
  created_at   timestamptz   not null default now(),
  updated_at   timestamptz   not null default now()
);

create table public.bookings (
  id            uuid          primary key default gen_random_uuid(),
  customer_id   uuid          not null references public.profiles (id) on delete cascade,
  technician_id uuid          references public.technicians (id) on delete set null,
  status        public.booking_status not null default 'pending',
  service       text          not null check (length(service) between 1 and 200),
  description   text,
  scheduled_at  timestamptz,
  address       text,
  price         numeric(10,2) check (price >= 0),       -- the customer's budget, then the accepted bid
  created_at    timestamptz   not null default now(),
  updated_at    timestamptz   not null default now()
);
create index bookings_customer_id_idx   on public.bookings (customer_id);
create index bookings_technician_id_idx on public.bookings (technician_id);
create index bookings_pending_idx       on public.bookings (created_at desc) where status = 'pending';

create table public.bids (
  id            uuid          primary key default gen_random_uuid(),
  booking_id    uuid          not null references public.bookings (id) on delete cascade,
  technician_id uuid          not null references public.technicians (id) on delete cascade,
  amount        numeric(10,2) not null check (amount > 0),
  message       text,
  status        public.bid_status not null default 'pending',
  created_at    timestamptz   not null default now(),
  updated_at    timestamptz   not null default now()
);
-- One live bid per technician and booking; a withdrawn or rejected one may be followed by a new one.
create unique index bids_one_live_per_technician
  on public.bids (booking_id, technician_id) where status in ('pending', 'accepted');
create index bids_technician_id_idx on public.bids (technician_id);

-- The chat of a booking (table name as in the seed design; realtime.messages is another table).
create table public.messages (
  id         uuid        primary key default gen_random_uuid(),
  booking_id uuid        not null references public.bookings (id) on delete cascade,
  sender_id  uuid        not null references public.profiles (id) on delete cascade,
  body       text        not null check (length(body) between 1 and 4000),
  created_at timestamptz not null default now()
);
create index messages_booking_id_created_at_idx on public.messages (booking_id, created_at);

create table public.notifications (
  id         uuid        primary key default gen_random_uuid(),
  user_id    uuid        not null references public.profiles (id) on delete cascade,
  type       text        not null,      -- new_bid, bid_rejected, booking_accepted, new_message, ...
  title      text        not null,
  body       text,
  data       jsonb       not null default '{}',   -- ids the app links to: booking_id, bid_id, ...
  read_at    timestamptz,
  created_at timestamptz not null default now()
);
create index notifications_user_id_created_at_idx on public.notifications (user_id, created_at desc);

create table public.payments (
  id            uuid          primary key default gen_random_uuid(),
  booking_id    uuid          not null references public.bookings (id) on delete restrict,
  customer_id   uuid          not null references public.profiles (id) on delete restrict,
  technician_id uuid          not null references public.technicians (id) on delete restrict,
  amount        numeric(10,2) not null check (amount > 0),
  currency      char(3)       not null default 'USD',
  status        public.payment_status not null default 'pending',
  provider_ref  text,                                   -- the payment provider's id
  created_at    timestamptz   not null default now(),
  updated_at    timestamptz   not null default now()
);
create index payments_booking_id_idx    on public.payments (booking_id);
create index payments_customer_id_idx   on public.payments (customer_id);
create index payments_technician_id_idx on public.payments (technician_id);

create table public.reviews (
  id            uuid        primary key default gen_random_uuid(),
  booking_id    uuid        not null unique references public.bookings (id) on delete cascade,
  customer_id   uuid        not null references public.profiles (id) on delete cascade,
  technician_id uuid        not null references public.technicians (id) on delete cascade,
  rating        smallint    not null check (rating between 1 and 5),
  comment       text,
  status        public.review_status not null default 'visible',   -- moderated by admins
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create index reviews_technician_id_idx on public.reviews (technician_id);
create index reviews_customer_id_idx   on public.reviews (customer_id);

------------------------------------------------------------------------------
-- Helpers for policies and rules. SECURITY DEFINER so that they read profiles
-- and bookings without recursing into those tables' own policies; STABLE so a
-- policy that wraps them in a sub-select, `(select public.is_admin())`,
-- evaluates them once per statement instead of once per row; empty
-- search_path, every name qualified. They only ever answer about the caller
-- (auth.uid()), so exposing them as REST rpc leaks nothing.
------------------------------------------------------------------------------

create or replace function public.current_app_role() returns public.app_role
language sql stable security definer set search_path = '' as $$
  select p.role from public.profiles p where p.id = auth.uid()
$$;

create or replace function public.is_admin() returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin')
$$;

-- Verified technicians see the marketplace and may bid.
create or replace function public.is_verified_technician() returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.technicians t
                   join public.profiles p on p.id = t.id
                  where t.id = auth.uid() and t.is_verified and p.role = 'technician')
$$;

-- Whether the caller is the customer or the assigned technician of a booking
-- (private realtime channels about a booking, 007).
create or replace function public.is_booking_participant(p_booking uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.bookings b
                  where b.id = p_booking
                    and (b.customer_id = auth.uid() or b.technician_id = auth.uid()))
$$;

-- Whether the statement runs with more than a plain user's rights: as a role
-- other than anon/authenticated (postgres, service_role, the owner inside a
-- SECURITY DEFINER function such as accept_bid) or as an admin user. The rules
-- in 005 check a plain user's changes column by column and let these through.
-- SECURITY INVOKER on purpose: current_user must be the caller's.
create or replace function public.tc_is_trusted() returns boolean
language sql stable set search_path = '' as $$
  select current_user not in ('anon', 'authenticated') or public.is_admin()
$$;

------------------------------------------------------------------------------
-- Sign-up creates the profile (and, for technicians, the technicians row).
-- The role comes from app metadata (set only by trusted code: the service
-- key, the admin API, db/demo.sql) or else from user metadata, where a user
-- choosing at sign-up may say customer or technician, never admin.
------------------------------------------------------------------------------

create or replace function public.tc_handle_new_user() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_role public.app_role;
begin
  v_role := case
    when new.raw_app_meta_data ->> 'role' in ('customer', 'technician', 'admin')
      then (new.raw_app_meta_data ->> 'role')::public.app_role
    when new.raw_user_meta_data ->> 'role' in ('customer', 'technician')
      then (new.raw_user_meta_data ->> 'role')::public.app_role
    else 'customer' end;
  insert into public.profiles (id, role, full_name, phone, avatar_url)
  values (new.id, v_role,
          coalesce(new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'name', ''),
          new.raw_user_meta_data ->> 'phone',
          new.raw_user_meta_data ->> 'avatar_url')
  on conflict (id) do nothing;
  return new;
end
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.tc_handle_new_user();

-- A technician profile always has its technicians row (unverified). Details a
-- technician may give at sign-up come from user metadata; verification never.
create or replace function public.tc_ensure_technician_row() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  meta jsonb;
begin
  if new.role <> 'technician' then
    return new;
  end if;
  select u.raw_user_meta_data into meta from auth.users u where u.id = new.id;
  insert into public.technicians (id, services, hourly_rate, bio)
  values (new.id,
          coalesce((select array_agg(s) from jsonb_array_elements_text(
                      case when jsonb_typeof(meta -> 'services') = 'array' then meta -> 'services' end) s),
                   '{}'),
          case when meta ->> 'hourly_rate' ~ '^[0-9]+(\.[0-9]{1,2})?$'
               then (meta ->> 'hourly_rate')::numeric end,
          meta ->> 'bio')
  on conflict (id) do nothing;
  return new;
end
$$;

create trigger profiles_ensure_technician_row
  after insert or update of role on public.profiles
  for each row execute function public.tc_ensure_technician_row();
