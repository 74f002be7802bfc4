-- 001_roles.sql — the roles and grants every Supabase project has, plus ours.
--
-- SQL written for Supabase assumes three request roles and one login role:
--   anon           requests without a user (the anon key)            NOLOGIN
--   authenticated  requests with a user JWT                          NOLOGIN
--   service_role   the service key: trusted backends, bypasses RLS   NOLOGIN BYPASSRLS
--   authenticator  the login our server connects as; it owns no privileges of its
--                  own (NOINHERIT) and becomes one of the three above per request
--                  with SET LOCAL ROLE, exactly as PostgREST and Realtime do.
-- Its password is not set here (migrations are plain SQL applied by `psql -f`):
-- scripts/db.sh sets it from DB_PASSWORD after the migrations.
--
-- Logical replication (next issue) gets its own role, techcare_replication
-- (LOGIN REPLICATION), rather than REPLICATION on authenticator, because:
--   * a replication connection can create slots and decode the WAL of every table,
--     including auth.users' password hashes, whatever the publication lists; that
--     power should not ride along with the role every REST request starts from;
--   * pg_hba.conf can admit it to the `replication` pseudo-database alone, with its
--     own password, and pg_stat_replication names it, so it is visible and revocable
--     on its own;
--   * the CDC pipeline can move to a separate process later without new grants.
-- It needs no table privileges: pgoutput on PostgreSQL 15 streams the published
-- tables without checking SELECT, and the publications are created here by the
-- owner of the tables (the replication role could not create them itself).
--
-- Roles are cluster-wide, so every CREATE is guarded: applying this file to a
-- second database of the same cluster is harmless.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'techcare_replication') then
    create role techcare_replication login replication noinherit;
  end if;
  -- Supabase's realtime schema is owned by this role (see 003); nobody logs in as it.
  if not exists (select from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;
end
$$;

-- authenticator may become any request role (SET LOCAL ROLE), never inherit them.
grant anon, authenticated, service_role to authenticator;

-- Extensions live in their own schema, as on Supabase (SQL written for Supabase
-- calls extensions.crypt(), extensions.uuid_generate_v4(), ...).
create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
grant usage on schema extensions to anon, authenticated, service_role;

-- Schema public the way Supabase sets it up: every request role may use it, and
-- whatever `postgres` (the role that applies migrations) creates there later is
-- granted to them, so a table created by SQL written for Supabase is reachable
-- through the API and guarded only by its row-level security.
grant usage on schema public to anon, authenticated, service_role;
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant all on all functions in schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
