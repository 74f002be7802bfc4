-- 002_auth.sql — schema auth: the GoTrue tables TechCare uses, the request
-- helpers RLS policies call (auth.uid(), auth.role(), auth.jwt()), and the small
-- SECURITY DEFINER functions our C auth server calls instead of touching tables.
--
-- Tables keep GoTrue's names, columns and types (a subset of its columns), so SQL
-- written for Supabase that reads auth.users or joins auth.sessions works here.
-- Request roles get no table privileges in this schema: anon and authenticated
-- only call the request helpers; the auth server goes through auth.tc_* below.
--
-- Error codes the auth server maps to HTTP (PostgREST's own mapping in brackets):
--   23505 unique_violation   email already registered          [409]
--   22023 invalid_parameter  bad argument (empty email, scope) [400]
--   P0002 no_data_found      session or user does not exist    [400]

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;
-- authenticator is NOINHERIT: it needs its own USAGE to call auth.tc_* directly.
grant usage on schema auth to authenticator;

create table if not exists auth.users (
  instance_id          uuid,
  id                   uuid        primary key default gen_random_uuid(),
  aud                  varchar(255) not null default 'authenticated',
  role                 varchar(255) not null default 'authenticated',
  email                varchar(255),
  encrypted_password   varchar(255) not null default '',   -- bcrypt ($2a$10$...), '' = no password
  email_confirmed_at   timestamptz,
  invited_at           timestamptz,
  confirmation_token   varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token       varchar(255),
  recovery_sent_at     timestamptz,
  last_sign_in_at      timestamptz,
  raw_app_meta_data    jsonb       not null default '{}',  -- set by trusted code only
  raw_user_meta_data   jsonb       not null default '{}',  -- set by the user at sign-up / update
  is_super_admin       boolean,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  phone                text        unique,
  phone_confirmed_at   timestamptz,
  confirmed_at         timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  banned_until         timestamptz,
  is_sso_user          boolean     not null default false,
  deleted_at           timestamptz,
  is_anonymous         boolean     not null default false
);
-- One account per email whatever its case (GoTrue lowercases in code; we enforce it).
create unique index if not exists users_email_key on auth.users (lower(email)) where is_sso_user = false;

create table if not exists auth.identities (
  id              uuid        primary key default gen_random_uuid(),
  provider_id     text        not null,
  user_id         uuid        not null references auth.users (id) on delete cascade,
  identity_data   jsonb       not null,
  provider        text        not null,
  last_sign_in_at timestamptz,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  email           text generated always as (lower(identity_data ->> 'email')) stored,
  unique (provider_id, provider)
);
create index if not exists identities_user_id_idx on auth.identities (user_id);

do $$ begin
  create type auth.aal_level as enum ('aal1', 'aal2', 'aal3');
exception when duplicate_object then null;
end $$;

-- One row per signed-in device; the access JWT carries its id as `session_id`.
create table if not exists auth.sessions (
  id           uuid        primary key default gen_random_uuid(),
  user_id      uuid        not null references auth.users (id) on delete cascade,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  factor_id    uuid,
  aal          auth.aal_level default 'aal1',
  not_after    timestamptz,                 -- the session ends then, if set
  refreshed_at timestamp,                   -- UTC, as GoTrue stores it
  user_agent   text,
  ip           inet,
  tag          text
);
create index if not exists sessions_user_id_created_at_idx on auth.sessions (user_id, created_at);

-- A chain of single-use tokens per session: each refresh revokes the token used
-- and issues a child whose `parent` is the token it replaced. user_id is text,
-- as in GoTrue.
create table if not exists auth.refresh_tokens (
  instance_id uuid,
  id          bigserial    primary key,
  token       varchar(255) unique,
  user_id     varchar(255),
  revoked     boolean      not null default false,
  created_at  timestamptz  not null default now(),
  updated_at  timestamptz  not null default now(),
  parent      varchar(255),
  session_id  uuid         references auth.sessions (id) on delete cascade
);
create index if not exists refresh_tokens_parent_idx on auth.refresh_tokens (parent);
create index if not exists refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);

------------------------------------------------------------------------------
-- Request helpers, as Supabase defines them. The server puts the verified JWT
-- payload in request.jwt.claims (PostgREST >= 9); request.jwt.claim.<name> is
-- the older per-claim form, still honoured first for compatibility.
------------------------------------------------------------------------------

create or replace function auth.uid() returns uuid
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Functions for the C auth server. SECURITY DEFINER (owner postgres) with an
-- empty search_path, so they work whatever role calls them and cannot be
-- tricked by objects in the caller's path. EXECUTE is revoked from PUBLIC at
-- the end of this file and granted to authenticator (the server, calling them
-- directly) and service_role (trusted backends).
------------------------------------------------------------------------------

-- Timestamps in the form GoTrue's JSON uses, whatever the session TimeZone is.
create or replace function auth.tc_ts(t timestamptz) returns text
language sql immutable set search_path = '' as $$
  select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- bcrypt cost 10, like GoTrue, so hashes are interchangeable with Supabase's.
create or replace function auth.tc_hash_password(p_password text) returns text
language sql volatile set search_path = '' as $$
  select extensions.crypt(p_password, extensions.gen_salt('bf', 10))
$$;

-- 16 random bytes as unpadded base64url (22 characters).
create or replace function auth.tc_random_token() returns text
language sql volatile set search_path = '' as $$
  select translate(encode(extensions.gen_random_bytes(16), 'base64'), '+/=', '-_')
$$;

-- The user object GoTrue returns (GET /auth/v1/user, the `user` of a session).
create or replace function auth.tc_user_json(u auth.users) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'id', u.id,
    'aud', u.aud,
    'role', u.role,
    'email', coalesce(u.email, ''),
    'email_confirmed_at', auth.tc_ts(u.email_confirmed_at),
    'phone', coalesce(u.phone, ''),
    'confirmed_at', auth.tc_ts(u.confirmed_at),
    'last_sign_in_at', auth.tc_ts(u.last_sign_in_at),
    'app_metadata', u.raw_app_meta_data,
    'user_metadata', u.raw_user_meta_data,
    'identities', coalesce((
      select jsonb_agg(jsonb_build_object(
               'identity_id', i.id,
               'id', i.provider_id,
               'user_id', i.user_id,
               'identity_data', i.identity_data,
               'provider', i.provider,
               'last_sign_in_at', auth.tc_ts(i.last_sign_in_at),
               'created_at', auth.tc_ts(i.created_at),
               'updated_at', auth.tc_ts(i.updated_at),
               'email', i.email) order by i.created_at)
      from auth.identities i where i.user_id = u.id), '[]'::jsonb),
    'created_at', auth.tc_ts(u.created_at),
    'updated_at', auth.tc_ts(u.updated_at),
    'is_anonymous', u.is_anonymous)
    || case when u.banned_until is not null
            then jsonb_build_object('banned_until', auth.tc_ts(u.banned_until))
            else '{}'::jsonb end
$$;

-- Sign-up / admin createUser. Returns the new row; 23505 if the email is taken.
-- The AFTER INSERT trigger of 004 creates the user's profile from the metadata.
create or replace function auth.tc_create_user(
  p_email     text,
  p_password  text,
  p_confirmed boolean default false,
  p_app_meta  jsonb   default '{}',
  p_user_meta jsonb   default '{}'
) returns auth.users
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_email text := lower(trim(p_email));
  u auth.users;
begin
  if v_email is null or v_email = '' or position('@' in v_email) = 0 then
    raise exception 'a valid email is required' using errcode = '22023';
  end if;
  insert into auth.users (email, encrypted_password, email_confirmed_at,
                          raw_app_meta_data, raw_user_meta_data)
  values (v_email,
          case when coalesce(p_password, '') = '' then '' else auth.tc_hash_password(p_password) end,
          case when p_confirmed then now() end,
          '{"provider": "email", "providers": ["email"]}'::jsonb || coalesce(p_app_meta, '{}'),
          coalesce(p_user_meta, '{}'))
  returning * into u;
  insert into auth.identities (provider_id, user_id, provider, identity_data)
  values (u.id::text, u.id, 'email',
          jsonb_build_object('sub', u.id::text, 'email', v_email,
                             'email_verified', p_confirmed, 'phone_verified', false));
  return u;
end
$$;

-- Password sign-in: the user row if the password matches, else no row. The
-- caller decides what to say about unconfirmed emails and bans (GoTrue has
-- distinct errors for them), so those rows are returned too. When no account
-- matches, a bcrypt hash is still computed so that the answer takes as long as
-- a wrong password does and does not reveal which emails are registered.
create or replace function auth.tc_sign_in(p_email text, p_password text)
returns setof auth.users
language plpgsql volatile security definer set search_path = '' as $$
declare
  u auth.users;
begin
  select * into u from auth.users
   where lower(email) = lower(trim(p_email)) and deleted_at is null and not is_sso_user;
  if not found or u.encrypted_password = '' then
    perform auth.tc_hash_password(coalesce(p_password, ''));
    return;
  end if;
  if extensions.crypt(coalesce(p_password, ''), u.encrypted_password) <> u.encrypted_password then
    return;
  end if;
  update auth.users set last_sign_in_at = now() where id = u.id returning * into u;
  update auth.identities set last_sign_in_at = now() where user_id = u.id and provider = 'email';
  return next u;
end
$$;

create or replace function auth.tc_get_user(p_id uuid) returns setof auth.users
language sql stable security definer set search_path = '' as $$
  select * from auth.users where id = p_id and deleted_at is null
$$;

-- PUT /auth/v1/user and the admin update. NULL arguments leave a field alone;
-- metadata is merged key by key (a key set to JSON null is removed), as GoTrue
-- does. p_ban: NULL no change, '0' lifts a ban, otherwise bans for that long.
create or replace function auth.tc_update_user(
  p_id        uuid,
  p_email     text     default null,
  p_password  text     default null,
  p_user_meta jsonb    default null,
  p_app_meta  jsonb    default null,
  p_confirmed boolean  default null,
  p_ban       interval default null
) returns setof auth.users
language plpgsql volatile security definer set search_path = '' as $$
declare
  u auth.users;
begin
  update auth.users set
    email              = coalesce(lower(trim(p_email)), email),
    encrypted_password = case when p_password is null then encrypted_password
                              else auth.tc_hash_password(p_password) end,
    raw_user_meta_data = case when p_user_meta is null then raw_user_meta_data
                              else jsonb_strip_nulls(raw_user_meta_data || p_user_meta) end,
    raw_app_meta_data  = case when p_app_meta is null then raw_app_meta_data
                              else jsonb_strip_nulls(raw_app_meta_data || p_app_meta) end,
    email_confirmed_at = case when p_confirmed is null then email_confirmed_at
                              when p_confirmed then coalesce(email_confirmed_at, now())
                              else null end,
    banned_until       = case when p_ban is null then banned_until
                              when p_ban = interval '0' then null
                              else now() + p_ban end,
    updated_at         = now()
  where id = p_id and deleted_at is null
  returning * into u;
  if not found then
    return;
  end if;
  if p_email is not null then
    update auth.identities
       set identity_data = identity_data || jsonb_build_object('email', u.email), updated_at = now()
     where user_id = u.id and provider = 'email';
  end if;
  return next u;
end
$$;

-- Admin deleteUser: a hard delete; sessions, tokens, identities and the
-- profile go with it (ON DELETE CASCADE). True if a user was deleted.
create or replace function auth.tc_delete_user(p_id uuid) returns boolean
language plpgsql volatile security definer set search_path = '' as $$
begin
  delete from auth.users where id = p_id;
  return found;
end
$$;

-- Starts a session when p_session_id is NULL (sign-in), otherwise adds a token
-- to an existing session of that user. Returns the token and the session id
-- (the access JWT's `session_id` claim).
create or replace function auth.tc_issue_refresh_token(
  p_user_id    uuid,
  p_session_id uuid default null,
  p_user_agent text default null,
  p_ip         inet default null,
  out refresh_token text,
  out session_id uuid
) language plpgsql volatile security definer set search_path = '' as $$
begin
  if p_session_id is null then
    insert into auth.sessions (user_id, user_agent, ip, aal)
    values (p_user_id, p_user_agent, p_ip, 'aal1')
    returning id into session_id;
  else
    select s.id into session_id from auth.sessions s
     where s.id = p_session_id and s.user_id = p_user_id;
    if not found then
      raise exception 'session not found' using errcode = 'P0002';
    end if;
  end if;
  refresh_token := auth.tc_random_token();
  insert into auth.refresh_tokens (token, user_id, session_id, revoked)
  values (refresh_token, p_user_id::text, session_id, false);
end
$$;

-- grant_type=refresh_token. Always returns one row whose status is
--   'ok'        refresh_token is the new token (or, see below, the current one)
--   'not_found' no such token (or its session has ended)    -> "Refresh Token Not Found"
--   'revoked'   the token was already used: the whole session is now revoked
--               (deleted, its tokens with it)              -> "Already Used"
-- Reuse detection is GoTrue's: a revoked token presented again means two
-- parties hold it, so neither may keep the session. Exception, as in GoTrue's
-- refresh-token reuse interval: within p_reuse_interval of the rotation, a
-- client racing itself (two tabs refreshing at once) gets the token that
-- replaced it instead. The row lock serialises concurrent rotations.
create or replace function auth.tc_rotate_refresh_token(
  p_token          text,
  p_reuse_interval interval default interval '10 seconds',
  out status        text,
  out refresh_token text,
  out session_id    uuid,
  out user_id       uuid
) language plpgsql volatile security definer set search_path = '' as $$
declare
  t     auth.refresh_tokens;
  child text;
begin
  select * into t from auth.refresh_tokens r where r.token = p_token for update;
  if not found or not exists (select 1 from auth.sessions s
                               where s.id = t.session_id
                                 and (s.not_after is null or s.not_after > now())) then
    status := 'not_found';
    return;
  end if;
  session_id := t.session_id;
  user_id := t.user_id::uuid;

  if t.revoked then
    select c.token into child from auth.refresh_tokens c
     where c.parent = t.token and not c.revoked
     order by c.id desc limit 1;
    if child is not null and t.updated_at > now() - p_reuse_interval then
      status := 'ok';
      refresh_token := child;
      return;
    end if;
    delete from auth.sessions s where s.id = t.session_id;
    status := 'revoked';
    return;
  end if;

  update auth.refresh_tokens set revoked = true, updated_at = now() where id = t.id;
  refresh_token := auth.tc_random_token();
  insert into auth.refresh_tokens (token, user_id, session_id, parent, revoked)
  values (refresh_token, t.user_id, t.session_id, t.token, false);
  update auth.sessions
     set refreshed_at = now() at time zone 'UTC', updated_at = now()
   where id = t.session_id;
  status := 'ok';
end
$$;

-- POST /auth/v1/logout?scope=global|local|others (supabase-js defaults to
-- global). Ending a session deletes it and, by cascade, its refresh tokens.
-- Returns how many sessions ended.
create or replace function auth.tc_logout(p_session_id uuid, p_scope text default 'global')
returns integer
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_user uuid;
  n integer;
begin
  select s.user_id into v_user from auth.sessions s where s.id = p_session_id;
  if not found then
    return 0;
  end if;
  case p_scope
    when 'local'  then delete from auth.sessions s where s.id = p_session_id;
    when 'global' then delete from auth.sessions s where s.user_id = v_user;
    when 'others' then delete from auth.sessions s where s.user_id = v_user and s.id <> p_session_id;
    else raise exception 'invalid logout scope: %', p_scope using errcode = '22023';
  end case;
  get diagnostics n = row_count;
  return n;
end
$$;

-- Whether an access token's session still exists (GoTrue answers 403
-- session_not_found for tokens of ended sessions).
create or replace function auth.tc_session_is_active(p_session_id uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from auth.sessions s
                  where s.id = p_session_id and (s.not_after is null or s.not_after > now()))
$$;

-- Functions are executable by PUBLIC by default: take that back for everything
-- but the request helpers, then grant the server and trusted backends.
revoke execute on function
  auth.tc_ts(timestamptz), auth.tc_hash_password(text), auth.tc_random_token(),
  auth.tc_user_json(auth.users),
  auth.tc_create_user(text, text, boolean, jsonb, jsonb),
  auth.tc_sign_in(text, text), auth.tc_get_user(uuid),
  auth.tc_update_user(uuid, text, text, jsonb, jsonb, boolean, interval),
  auth.tc_delete_user(uuid),
  auth.tc_issue_refresh_token(uuid, uuid, text, inet),
  auth.tc_rotate_refresh_token(text, interval),
  auth.tc_logout(uuid, text), auth.tc_session_is_active(uuid)
  from public;
grant execute on function
  auth.tc_user_json(auth.users),
  auth.tc_create_user(text, text, boolean, jsonb, jsonb),
  auth.tc_sign_in(text, text), auth.tc_get_user(uuid),
  auth.tc_update_user(uuid, text, text, jsonb, jsonb, boolean, interval),
  auth.tc_delete_user(uuid),
  auth.tc_issue_refresh_token(uuid, uuid, text, inet),
  auth.tc_rotate_refresh_token(text, interval),
  auth.tc_logout(uuid, text), auth.tc_session_is_active(uuid)
  to authenticator, service_role;
