-- tests/db/_helpers.sql — loaded by tests/db/run.sh into the throwaway cluster
-- before the tests. Plain SQL assertions, no pgTAP.
--
-- A test file is one transaction that ends in ROLLBACK, so files do not see
-- each other's changes. Inside it:
--   select tests.login('alice@customer.demo');   -- become that user, as the server
--                                                -- does per request (SET LOCAL ROLE
--                                                -- authenticated + request.jwt.claims)
--   select tests.login_anon();  select tests.logout();   -- anon / back to postgres
--   select tests.rows('select ... ', 5, 'label');        -- the query returns 5 rows
--   select tests.is(got, want, 'label');
--   select tests.throws('sql', '42501', 'label');        -- fails with that SQLSTATE
--   select tests.lives('sql', 'label');                  -- succeeds (effects kept)
--   select tests.affects('sql', 1, 'label');             -- changes exactly 1 row
-- Each assertion prints NOTICE "ok - label" or "not ok - label: why" and never
-- raises, so one failure does not hide the next; run.sh counts the lines.
-- Queries run with the caller's role: they are SECURITY INVOKER functions.

drop schema if exists tests cascade;
create schema tests;
grant usage on schema tests to anon, authenticated, service_role, authenticator;

-- The id of a demo user (SECURITY DEFINER: request roles cannot read auth.users).
create function tests.uid(p_email text) returns uuid
language sql stable security definer set search_path = '' as $$
  select id from auth.users where email = lower(p_email)
$$;

create function tests.login(p_email text) returns uuid
language plpgsql as $$
declare
  v uuid := tests.uid(p_email);
begin
  if v is null then
    raise exception 'tests.login: no user %', p_email;
  end if;
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claim.sub', '', true);
  perform set_config('request.jwt.claims',
    jsonb_build_object('sub', v, 'role', 'authenticated', 'aud', 'authenticated',
                       'email', lower(p_email))::text, true);
  return v;
end
$$;

create function tests.login_anon() returns void
language plpgsql as $$
begin
  perform set_config('role', 'anon', true);
  perform set_config('request.jwt.claim.sub', '', true);
  perform set_config('request.jwt.claims', '{"role": "anon"}', true);
end
$$;

create function tests.logout() returns void
language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
  perform set_config('request.jwt.claim.sub', '', true);
end
$$;

create function tests.pass(p_label text) returns void
language plpgsql as $$ begin raise notice 'ok - %', p_label; end $$;

create function tests.fail(p_label text, p_why text) returns void
language plpgsql as $$ begin raise notice 'not ok - %: %', p_label, p_why; end $$;

create function tests.ok(p_cond boolean, p_label text) returns void
language plpgsql as $$
begin
  if p_cond is true then perform tests.pass(p_label);
  else perform tests.fail(p_label, 'condition is ' || coalesce(p_cond::text, 'null')); end if;
end
$$;

create function tests.is(p_got anyelement, p_want anyelement, p_label text) returns void
language plpgsql as $$
begin
  if p_got is not distinct from p_want then perform tests.pass(p_label);
  else perform tests.fail(p_label, format('got %s, want %s', coalesce(p_got::text, 'NULL'),
                                                           coalesce(p_want::text, 'NULL'))); end if;
end
$$;

create function tests.rows(p_query text, p_want bigint, p_label text) returns void
language plpgsql as $$
declare
  n bigint;
begin
  execute 'select count(*) from (' || p_query || ') q' into n;
  perform tests.is(n, p_want, p_label);
exception when others then
  perform tests.fail(p_label, format('error %s: %s', sqlstate, sqlerrm));
end
$$;

create function tests.throws(p_sql text, p_sqlstate text, p_label text) returns void
language plpgsql as $$
begin
  begin
    execute p_sql;
  exception when others then
    if p_sqlstate is null or sqlstate = p_sqlstate then
      perform tests.pass(p_label);
    else
      perform tests.fail(p_label, format('failed with %s (%s), want %s', sqlstate, sqlerrm, p_sqlstate));
    end if;
    return;
  end;
  perform tests.fail(p_label, 'succeeded, want error ' || coalesce(p_sqlstate, 'any'));
end
$$;

create function tests.lives(p_sql text, p_label text) returns void
language plpgsql as $$
begin
  execute p_sql;
  perform tests.pass(p_label);
exception when others then
  perform tests.fail(p_label, format('error %s: %s', sqlstate, sqlerrm));
end
$$;

create function tests.affects(p_sql text, p_want bigint, p_label text) returns void
language plpgsql as $$
declare
  n bigint;
begin
  execute p_sql;
  get diagnostics n = row_count;
  perform tests.is(n, p_want, p_label);
exception when others then
  perform tests.fail(p_label, format('error %s: %s', sqlstate, sqlerrm));
end
$$;

-- Fixed ids of db/demo.sql: booking n is b0000000-0000-4000-8000-0000000000nn, etc.
create function tests.demo_id(p_prefix text, p_n int) returns uuid
language sql immutable as $$
  select (p_prefix || '-0000-4000-8000-' || lpad(p_n::text, 12, '0'))::uuid
$$;
create function tests.booking(n int) returns uuid language sql immutable as $$ select tests.demo_id('b0000000', n) $$;
create function tests.bid(n int)     returns uuid language sql immutable as $$ select tests.demo_id('b1d00000', n) $$;
create function tests.review(n int)  returns uuid language sql immutable as $$ select tests.demo_id('4e710000', n) $$;

grant execute on all functions in schema tests to anon, authenticated, service_role, authenticator;
