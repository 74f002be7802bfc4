-- Schema auth: roles, the request helpers, and the auth.tc_* functions the
-- C auth server calls (as authenticator).
begin;

-- roles ------------------------------------------------------------------------
select tests.ok((select rolcanlogin and not rolinherit and not rolreplication and not rolbypassrls
                   from pg_roles where rolname = 'authenticator'), 'authenticator: LOGIN NOINHERIT, nothing more');
select tests.ok(pg_has_role('authenticator', 'authenticated', 'MEMBER')
                and pg_has_role('authenticator', 'anon', 'MEMBER')
                and pg_has_role('authenticator', 'service_role', 'MEMBER'), 'authenticator may become each request role');
select tests.ok(not pg_has_role('authenticator', 'service_role', 'USAGE'), 'but inherits none of their rights');
select tests.ok((select rolbypassrls and not rolcanlogin from pg_roles where rolname = 'service_role'),
                'service_role: BYPASSRLS NOLOGIN');
select tests.ok((select not rolcanlogin and not rolbypassrls from pg_roles where rolname = 'anon')
                and (select not rolcanlogin and not rolbypassrls from pg_roles where rolname = 'authenticated'),
                'anon and authenticated: NOLOGIN, no BYPASSRLS');
select tests.ok((select rolreplication and rolcanlogin and not rolsuper from pg_roles
                  where rolname = 'techcare_replication'), 'techcare_replication: LOGIN REPLICATION');
select tests.ok(has_table_privilege('authenticated', 'public.bookings', 'SELECT, INSERT, UPDATE, DELETE')
                and not has_table_privilege('authenticated', 'public.bookings', 'TRUNCATE'),
                'request roles get DML on TechCare tables but not TRUNCATE');

-- default privileges: a table created later by postgres is reachable, guarded by its RLS
create table public.tc_later (id int primary key, owner uuid);
alter table public.tc_later enable row level security;
create policy own on public.tc_later for select to authenticated using (owner = auth.uid());
insert into public.tc_later values (1, tests.uid('alice@customer.demo')), (2, tests.uid('bob@customer.demo'));
select tests.ok(has_table_privilege('anon', 'public.tc_later', 'SELECT')
                and has_table_privilege('authenticated', 'public.tc_later', 'INSERT'),
                'default privileges grant a new table to the request roles');
select tests.login('alice@customer.demo');
select tests.rows('select 1 from public.tc_later', 1, 'and its RLS alone decides what they see');
select tests.logout();

-- request helpers ----------------------------------------------------------------
select tests.login('alice@customer.demo');
select tests.is(auth.uid(), tests.uid('alice@customer.demo'), 'auth.uid() reads request.jwt.claims');
select tests.is(auth.role(), 'authenticated', 'auth.role()');
select tests.is(auth.email(), 'alice@customer.demo', 'auth.email()');
select tests.is(auth.jwt() ->> 'aud', 'authenticated', 'auth.jwt()');
select set_config('request.jwt.claim.sub', tests.uid('bob@customer.demo')::text, true);
select tests.is(auth.uid(), tests.uid('bob@customer.demo'), 'the legacy request.jwt.claim.sub wins, as on Supabase');
select tests.logout();
select tests.is(auth.uid(), null::uuid, 'no claims, no uid');

-- who may call the auth server's functions -------------------------------------------
select tests.login('alice@customer.demo');
select tests.throws($$select auth.tc_sign_in('alice@customer.demo', 'techcare-demo')$$, '42501',
                    'authenticated may not call auth.tc_sign_in');
select tests.throws($$select auth.tc_create_user('x@y.z', 'pw', true)$$, '42501',
                    'authenticated may not create users');
select tests.login_anon();
select tests.throws($$select auth.tc_rotate_refresh_token('x')$$, '42501', 'anon may not rotate tokens');
select tests.logout();
set local role authenticator;
select tests.rows($$select * from auth.tc_sign_in('alice@customer.demo', 'techcare-demo')$$, 1,
                  'authenticator calls auth.tc_sign_in directly');
select tests.throws('select 1 from auth.users', '42501', 'authenticator itself cannot read auth.users');
reset role;

-- sign-up and sign-in -------------------------------------------------------------------
select tests.lives($$select auth.tc_create_user('  New.Tech@Example.COM ', 'correct horse', true, '{}',
                     '{"full_name": "Nia Tech", "role": "technician", "services": ["hvac"], "hourly_rate": "40"}')$$,
                   'tc_create_user');
select tests.is((select email from auth.users where email like 'new.tech%'), 'new.tech@example.com',
                'emails are stored trimmed and lowercased');
select tests.ok((select encrypted_password like '$2a$10$%' from auth.users where email = 'new.tech@example.com'),
                'passwords are bcrypt, cost 10 (GoTrue''s format)');
select tests.is((select p.role::text || '/' || p.full_name || '/' || t.services::text || '/' || t.is_verified
                   from public.profiles p join public.technicians t using (id)
                  where p.id = tests.uid('new.tech@example.com')),
                'technician/Nia Tech/{hvac}/false', 'sign-up creates the profile and an unverified technician row');
select tests.throws($$select auth.tc_create_user('NEW.TECH@example.com', 'x', true)$$, '23505',
                    'an email is registered once, whatever its case');
select tests.throws($$select auth.tc_create_user('not-an-email', 'x', true)$$, '22023', 'an email is required');
select auth.tc_create_user('sneaky@example.com', 'pw', true, '{}', '{"role": "admin"}');
select tests.is((select role from public.profiles where id = tests.uid('sneaky@example.com')),
                'customer'::public.app_role, 'user metadata cannot make an admin');
select auth.tc_create_user('boss@example.com', 'pw', true, '{"role": "admin"}', '{}');
select tests.is((select role from public.profiles where id = tests.uid('boss@example.com')),
                'admin'::public.app_role, 'app metadata (trusted) can');

select tests.rows($$select * from auth.tc_sign_in('new.tech@example.com', 'correct horse')$$, 1,
                  'sign-in with the right password');
select tests.rows($$select * from auth.tc_sign_in('NEW.TECH@EXAMPLE.COM', 'correct horse')$$, 1,
                  'sign-in ignores the email''s case');
select tests.rows($$select * from auth.tc_sign_in('new.tech@example.com', 'wrong horse')$$, 0,
                  'no row for a wrong password');
select tests.rows($$select * from auth.tc_sign_in('nobody@example.com', 'correct horse')$$, 0,
                  'no row for an unknown email');
select tests.rows($$select * from auth.tc_sign_in('alice@customer.demo', 'techcare-demo')$$, 1,
                  'demo users sign in with techcare-demo');
select tests.ok((select last_sign_in_at = now() from auth.users where email = 'new.tech@example.com'),
                'sign-in records last_sign_in_at');

select tests.is((select concat_ws('|', j ->> 'email', j -> 'app_metadata' ->> 'provider',
                                  j -> 'user_metadata' ->> 'full_name', jsonb_array_length(j -> 'identities'),
                                  j ->> 'aud', (j ->> 'email_confirmed_at') like '____-__-__T__:__:__.______Z')
                   from (select auth.tc_user_json(u) j from auth.tc_get_user(tests.uid('new.tech@example.com')) u) s),
                'new.tech@example.com|email|Nia Tech|1|authenticated|t', 'tc_user_json is GoTrue''s user object');

-- updates, bans, deletion ------------------------------------------------------------------
select auth.tc_update_user(tests.uid('new.tech@example.com'), p_password => 'battery staple',
                           p_user_meta => '{"full_name": null, "nickname": "Nia"}');
select tests.rows($$select * from auth.tc_sign_in('new.tech@example.com', 'battery staple')$$, 1,
                  'the new password works');
select tests.rows($$select * from auth.tc_sign_in('new.tech@example.com', 'correct horse')$$, 0,
                  'the old one does not');
select tests.is((select raw_user_meta_data - 'services' - 'hourly_rate' from auth.users
                  where email = 'new.tech@example.com'),
                '{"role": "technician", "nickname": "Nia"}'::jsonb, 'user metadata merges; null removes a key');
select auth.tc_update_user(tests.uid('new.tech@example.com'), p_ban => interval '1 day');
select tests.ok((select banned_until > now() from auth.users where email = 'new.tech@example.com'), 'a ban');
select auth.tc_update_user(tests.uid('new.tech@example.com'), p_ban => interval '0');
select tests.ok((select banned_until is null from auth.users where email = 'new.tech@example.com'), 'lifted');

-- refresh tokens ------------------------------------------------------------------------------
create temp table t1 as
  select * from auth.tc_issue_refresh_token(tests.uid('alice@customer.demo'), null, 'test-agent', '127.0.0.1');
select tests.ok((select length(refresh_token) = 22 from t1), 'a refresh token is 22 url-safe characters');
select tests.rows($$select 1 from auth.sessions where id = (select session_id from t1)
                    and user_agent = 'test-agent'$$, 1, 'sign-in starts a session');
create temp table r1 as select * from auth.tc_rotate_refresh_token((select refresh_token from t1));
select tests.is((select status from r1), 'ok', 'rotation succeeds');
select tests.ok((select r1.refresh_token <> t1.refresh_token and r1.session_id = t1.session_id from r1, t1),
                'it returns a new token in the same session');
select tests.ok((select revoked from auth.refresh_tokens where token = (select refresh_token from t1)),
                'the old token is revoked');
select tests.is((select parent from auth.refresh_tokens where token = (select refresh_token from r1)),
                (select refresh_token from t1)::varchar, 'the new token''s parent is the old one');
select tests.is((select refresh_token from auth.tc_rotate_refresh_token((select refresh_token from t1))),
                (select refresh_token from r1),
                'within the reuse interval the old token yields the current one (two tabs racing)');
select tests.is((select status from auth.tc_rotate_refresh_token((select refresh_token from t1), interval '0')),
                'revoked', 'reusing a revoked token after the interval is detected');
select tests.rows($$select 1 from auth.sessions where id = (select session_id from t1)$$, 0,
                  'and the whole session is revoked');
select tests.is((select status from auth.tc_rotate_refresh_token((select refresh_token from r1))), 'not_found',
                'so the thief''s (or victim''s) newer token is dead too');
select tests.is((select status from auth.tc_rotate_refresh_token('no-such-token')), 'not_found',
                'an unknown token is not found');
select tests.throws($$select auth.tc_issue_refresh_token(tests.uid('bob@customer.demo'), (select session_id from t1))$$,
                    'P0002', 'a token is issued only into the user''s own live session');

-- logout scopes
create temp table s as
  select n, (auth.tc_issue_refresh_token(tests.uid('bob@customer.demo'))).session_id from generate_series(1, 3) n;
select tests.ok(auth.tc_session_is_active((select session_id from s where n = 1)), 'a session is active');
select tests.is(auth.tc_logout((select session_id from s where n = 1), 'local'), 1, 'logout local ends one session');
select tests.ok(not auth.tc_session_is_active((select session_id from s where n = 1)), 'which is then inactive');
select tests.is(auth.tc_logout((select session_id from s where n = 2), 'others'), 1, 'logout others ends the rest');
select tests.is(auth.tc_logout((select session_id from s where n = 2), 'global'), 1, 'logout global ends all');
select tests.throws($$select auth.tc_logout((auth.tc_issue_refresh_token(tests.uid('bob@customer.demo'))).session_id,
                                            'everywhere')$$, '22023', 'an unknown logout scope is refused');
select tests.is(auth.tc_logout(gen_random_uuid(), 'local'), 0, 'logging out of an unknown session ends nothing');
select tests.rows($$select 1 from auth.refresh_tokens r join s using (session_id)$$, 0,
                  'ended sessions take their refresh tokens with them');

-- deleting a user removes what hangs off it
select auth.tc_issue_refresh_token(tests.uid('new.tech@example.com'));
select tests.ok(auth.tc_delete_user(tests.uid('new.tech@example.com')), 'tc_delete_user');
select tests.rows($$select 1 from public.profiles p where not exists (select 1 from auth.users u where u.id = p.id)
                    union all select 1 from auth.sessions s where not exists (select 1 from auth.users u where u.id = s.user_id)
                    union all select 1 from auth.identities i where not exists (select 1 from auth.users u where u.id = i.user_id)$$,
                  0, 'profile, technician row, sessions and identities go with it');
select tests.throws($$delete from auth.users where email = 'alice@customer.demo'$$, '23503',
                    'a user with payments cannot be hard-deleted');

rollback;
