// 20. Auth (the GoTrue subset) through stock supabase-js against a real
// database: sign-up, password sign-in, refresh-token rotation and reuse,
// sign-out, the user endpoint, the admin API, and the access tokens'
// claims. Facts are checked in the database (as the superuser) as well as
// in the answers.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { T, nowS, sign } from './harness.mjs';
import { DEMO, DEMO_PASSWORD, decodeJwt, startStack } from './dbharness.mjs';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const uniqueEmail = (tag) => `${tag}-${process.pid}-${crypto.randomBytes(4).toString('hex')}@itest.demo`;

describe('auth (GoTrue subset) with supabase-js', { timeout: T(60000) }, () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(() => stack?.stop());

  const sessionCount = (userId) => stack.db.value(`select count(*) from auth.sessions where user_id = '${userId}'`);

  describe('sign-up', () => {
    test('a new account gets a session at once and is a customer', async () => {
      const email = uniqueEmail('new');
      const client = stack.client();
      const { data, error } = await client.auth.signUp({ email, password: 'secret-123', options: { data: { full_name: 'New Person' } } });
      assert.equal(error, null);
      assert.ok(data.session, 'sign-up returns a session (addresses are auto-confirmed)');
      assert.ok(data.session.access_token && data.session.refresh_token);
      assert.equal(data.user.email, email);
      assert.equal(data.user.app_metadata.role, 'customer');
      assert.equal(data.user.user_metadata.full_name, 'New Person');
      assert.equal(decodeJwt(data.session.access_token).app_metadata.role, 'customer');
      const [p] = await stack.db.rows(`select p.role, p.full_name from public.profiles p join auth.users u using (id) where u.email = '${email}'`);
      assert.deepEqual(p, { role: 'customer', full_name: 'New Person' });
      // The session it holds is live: GET /auth/v1/user answers.
      const me = await client.auth.getUser();
      assert.equal(me.error, null);
      assert.equal(me.data.user.email, email);
    });

    test('user metadata cannot make an account admin or technician', async () => {
      for (const role of ['admin', 'technician']) {
        const email = uniqueEmail(`esc-${role}`);
        const { data, error } = await stack.client().auth.signUp({ email, password: 'secret-123', options: { data: { role } } });
        assert.equal(error, null);
        assert.equal(data.user.app_metadata.role, 'customer', `data.role=${role}`);
        assert.equal(await stack.db.value(`select p.role from public.profiles p join auth.users u using (id) where u.email = '${email}'`), 'customer');
        assert.equal(await stack.db.value(`select count(*) from public.technicians t join auth.users u using (id) where u.email = '${email}'`), 0);
      }
    });

    test('a registered email (any case) → 422 email_exists, surfaced by supabase-js; nothing is created', async () => {
      const before = await stack.db.value('select count(*) from auth.users');
      for (const email of [DEMO.alice.email, DEMO.alice.email.toUpperCase()]) {
        const { data, error } = await stack.client().auth.signUp({ email, password: 'another-pass' });
        assert.ok(error, `sign-up of ${email} must fail`);
        assert.equal(error.status, 422);
        assert.ok(['user_already_exists', 'email_exists'].includes(error.code), `code ${error.code}`);
        assert.equal(error.name, 'AuthApiError');
        assert.equal(data.session, null);
      }
      // The wire answer itself.
      const raw = await stack.fetch('/auth/v1/signup', { method: 'POST', body: { email: DEMO.bob.email, password: 'another-pass' } });
      assert.equal(raw.status, 422);
      assert.equal(raw.json.error_code, 'email_exists');
      assert.equal(await stack.db.value('select count(*) from auth.users'), before);
      // The demo password still works (the row was not touched).
      await stack.signIn(DEMO.alice.email);
    });

    // supabase-js apps tell "this address is already registered" from a
    // sign-up answer by user.identities being empty (GoTrue's obfuscated
    // answer when confirmations are on), so a new account must list its
    // email identity.
    test('the sign-up answer lists the new email identity', async () => {
      const email = uniqueEmail('ident');
      const { data, error } = await stack.client().auth.signUp({ email, password: 'secret-123' });
      assert.equal(error, null);
      assert.equal(await stack.db.value(`select count(*) from auth.identities i join auth.users u on u.id = i.user_id where u.email = '${email}'`), 1);
      assert.equal(data.user.identities?.length, 1);
      assert.equal(data.user.identities[0].provider, 'email');
    });

    test('a password shorter than 6 characters → 422 weak_password (AuthWeakPasswordError)', async () => {
      const email = uniqueEmail('weak');
      const { error } = await stack.client().auth.signUp({ email, password: '12345' });
      assert.equal(error?.status, 422);
      assert.equal(error.code, 'weak_password');
      assert.equal(error.name, 'AuthWeakPasswordError');
      assert.equal(await stack.db.value(`select count(*) from auth.users where email = '${email}'`), 0);
    });
  });

  describe('password sign-in', () => {
    test('good credentials → a session for that user', async () => {
      const { session, user, claims } = await stack.signIn(DEMO.tom.email);
      assert.equal(user.id, DEMO.tom.id);
      assert.equal(session.user.email, DEMO.tom.email);
      assert.equal(session.token_type, 'bearer');
      assert.equal(claims.sub, DEMO.tom.id);
      assert.equal(await stack.db.value(`select count(*) from auth.sessions where id = '${claims.session_id}' and user_id = '${DEMO.tom.id}'`), 1);
    });

    test('wrong password and unknown email → the same 400 invalid_credentials', async () => {
      const c = stack.client();
      const wrong = await c.auth.signInWithPassword({ email: DEMO.alice.email, password: 'not-the-password' });
      const unknown = await c.auth.signInWithPassword({ email: uniqueEmail('nobody'), password: DEMO_PASSWORD });
      for (const [what, r] of [['wrong password', wrong], ['unknown email', unknown]]) {
        assert.equal(r.data.session, null, what);
        assert.equal(r.error?.status, 400, what);
        assert.equal(r.error.code, 'invalid_credentials', what);
        assert.equal(r.error.message, 'Invalid login credentials', what);
      }
    });

    test('an unconfirmed address cannot sign in (400 email_not_confirmed)', async () => {
      const admin = stack.client(stack.serviceKey);
      const email = uniqueEmail('unconfirmed');
      const created = await admin.auth.admin.createUser({ email, password: 'secret-123', email_confirm: false });
      assert.equal(created.error, null);
      const { error } = await stack.client().auth.signInWithPassword({ email, password: 'secret-123' });
      assert.equal(error?.status, 400);
      assert.equal(error.code, 'email_not_confirmed');
      assert.equal(await sessionCount(created.data.user.id), 0);
    });
  });

  describe('refresh tokens', () => {
    test('refreshSession rotates: new access and refresh tokens, same session', async () => {
      const { client, session } = await stack.signIn(DEMO.carol.email);
      const { data, error } = await client.auth.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(error, null);
      assert.notEqual(data.session.refresh_token, session.refresh_token);
      // A freshly signed access token for the same session. Tokens carry no
      // jti, so one issued within the same second as the previous one is
      // byte-identical to it (as GoTrue's would be): compare the claims.
      const before = decodeJwt(session.access_token);
      const now = decodeJwt(data.session.access_token);
      assert.equal(now.session_id, before.session_id);
      assert.equal(now.sub, DEMO.carol.id);
      assert.ok(now.iat >= before.iat && now.exp === now.iat + 3600);
      assert.equal((await stack.fetch('/auth/v1/user', { token: data.session.access_token })).status, 200);
      assert.equal(data.user.id, DEMO.carol.id);
      const [old] = await stack.db.rows(`select revoked from auth.refresh_tokens where token = '${session.refresh_token}'`);
      assert.equal(old.revoked, true);
      const [child] = await stack.db.rows(`select revoked, parent from auth.refresh_tokens where token = '${data.session.refresh_token}'`);
      assert.deepEqual(child, { revoked: false, parent: session.refresh_token });
    });

    // Documented behaviour (auth.tc_rotate_refresh_token, GoTrue's reuse
    // interval): within 10 s of its rotation, a rotated token presented
    // again answers with the token that replaced it — a client racing itself
    // (two tabs) is not punished. No new token and no new session are made.
    test('reusing a just-rotated token returns the same child token, no new session', async () => {
      const { client, session, claims } = await stack.signIn(DEMO.bob.email);
      const first = await client.auth.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(first.error, null);
      const child = first.data.session.refresh_token;
      const tokensBefore = await stack.db.value(`select count(*) from auth.refresh_tokens where session_id = '${claims.session_id}'`);
      const again = await stack.client().auth.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(again.error, null);
      assert.equal(again.data.session.refresh_token, child);
      assert.equal(decodeJwt(again.data.session.access_token).session_id, claims.session_id);
      assert.equal(await stack.db.value(`select count(*) from auth.refresh_tokens where session_id = '${claims.session_id}'`), tokensBefore);
      assert.equal(await stack.db.value(`select count(*) from auth.sessions where id = '${claims.session_id}'`), 1);
    });

    test('reusing a rotated token after the reuse interval → 400 refresh_token_already_used and the session ends', async () => {
      const { client, session, claims } = await stack.signIn(DEMO.bob.email);
      const first = await client.auth.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(first.error, null);
      // Age the rotation past the 10 s interval instead of sleeping.
      await stack.db.psql(`update auth.refresh_tokens set updated_at = now() - interval '11 seconds' where token = '${session.refresh_token}';`);
      const reuse = await stack.client().auth.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(reuse.error?.status, 400);
      assert.equal(reuse.error.code, 'refresh_token_already_used');
      assert.equal(await stack.db.value(`select count(*) from auth.sessions where id = '${claims.session_id}'`), 0);
      // Neither party keeps the session: the child is dead too.
      const child = await stack.client().auth.refreshSession({ refresh_token: first.data.session.refresh_token });
      assert.equal(child.error?.status, 400);
      assert.equal(child.error.code, 'refresh_token_not_found');
    });

    test('a made-up refresh token → 400 refresh_token_not_found', async () => {
      const { data, error } = await stack.client().auth.refreshSession({ refresh_token: 'made-up-token-0123456789' });
      assert.equal(data.session, null);
      assert.equal(error?.status, 400);
      assert.equal(error.code, 'refresh_token_not_found');
    });
  });

  describe('sign-out', () => {
    test('after signOut the refresh token is dead and the old access token gets 403 session_not_found', async () => {
      const email = uniqueEmail('signout');
      const up = await stack.client().auth.signUp({ email, password: 'secret-123' });
      assert.equal(up.error, null);
      const { client, session, claims } = await stack.signIn(email, 'secret-123');
      assert.equal(await sessionCount(claims.sub), 2);
      const out = await client.auth.signOut(); // scope global: every session of the user
      assert.equal(out.error, null);
      assert.equal(await sessionCount(claims.sub), 0);
      const r = await stack.client().auth.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(r.error?.status, 400);
      assert.equal(r.error.code, 'refresh_token_not_found');
      const raw = await stack.fetch('/auth/v1/user', { token: session.access_token });
      assert.equal(raw.status, 403);
      assert.equal(raw.json.error_code, 'session_not_found');
      // supabase-js turns session_not_found into AuthSessionMissingError.
      const u = await stack.client().auth.getUser(session.access_token);
      assert.equal(u.data.user, null);
      assert.equal(u.error?.name, 'AuthSessionMissingError');
    });

    test("signOut({ scope: 'local' }) ends only that session", async () => {
      const email = uniqueEmail('local');
      assert.equal((await stack.client().auth.signUp({ email, password: 'secret-123' })).error, null);
      const a = await stack.signIn(email, 'secret-123');
      const b = await stack.signIn(email, 'secret-123');
      assert.equal((await a.client.auth.signOut({ scope: 'local' })).error, null);
      assert.equal((await stack.fetch('/auth/v1/user', { token: a.session.access_token })).status, 403);
      const still = await stack.fetch('/auth/v1/user', { token: b.session.access_token });
      assert.equal(still.status, 200);
      assert.equal(still.json.email, email);
    });
  });

  describe('the user endpoint', () => {
    test('getUser() answers the signed-in user, with and without an explicit JWT', async () => {
      const { client, session } = await stack.signIn(DEMO.tina.email);
      for (const r of [await client.auth.getUser(), await stack.client().auth.getUser(session.access_token)]) {
        assert.equal(r.error, null);
        assert.equal(r.data.user.id, DEMO.tina.id);
        assert.equal(r.data.user.email, DEMO.tina.email);
        assert.equal(r.data.user.app_metadata.role, 'technician');
        assert.equal(r.data.user.aud, 'authenticated');
      }
    });

    test('updateUser({ data }) merges into user_metadata', async () => {
      const email = uniqueEmail('meta');
      const up = await stack.client().auth.signUp({ email, password: 'secret-123', options: { data: { full_name: 'Meta Person', phone: '+1 555 0199' } } });
      assert.equal(up.error, null);
      const { client } = await stack.signIn(email, 'secret-123');
      const r1 = await client.auth.updateUser({ data: { city: 'Springfield' } });
      assert.equal(r1.error, null);
      assert.deepEqual(r1.data.user.user_metadata, { full_name: 'Meta Person', phone: '+1 555 0199', city: 'Springfield' });
      const r2 = await client.auth.updateUser({ data: { city: 'Shelbyville', phone: null } });
      assert.equal(r2.error, null);
      // A key set to null is removed (auth.tc_update_user strips nulls after merging).
      assert.deepEqual(r2.data.user.user_metadata, { full_name: 'Meta Person', city: 'Shelbyville' });
      const meta = await stack.db.value(`select raw_user_meta_data from auth.users where email = '${email}'`);
      assert.deepEqual(meta, { full_name: 'Meta Person', city: 'Shelbyville' });
      // app_metadata is not the user's to write: it stays as it was.
      assert.equal(r2.data.user.app_metadata.role, 'customer');
    });

    test('no bearer → 401; forged, expired and alg=none tokens → 4xx', async () => {
      const none = await stack.fetch('/auth/v1/user');
      assert.equal(none.status, 401);
      const claims = { sub: DEMO.alice.id, role: 'authenticated', aud: 'authenticated', email: DEMO.alice.email };
      const forged = sign({ ...claims, exp: nowS() + 3600 }, 'not-the-server-secret-0123456789abcdef');
      const expired = sign({ ...claims, iat: nowS() - 7200, exp: nowS() - 3600 }, stack.secret);
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, exp: nowS() + 3600 })}.`;
      for (const [what, tok] of [['forged', forged], ['expired', expired], ['alg none', algNone]]) {
        const r = await stack.fetch('/auth/v1/user', { token: tok });
        assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status}`);
        assert.equal(r.json?.error_code, 'bad_jwt', what);
        const js = await stack.client().auth.getUser(tok);
        assert.equal(js.data.user, null, what);
        assert.ok(js.error, what);
      }
      // PUT with a forged token changes nothing.
      const put = await stack.fetch('/auth/v1/user', { method: 'PUT', token: forged, body: { data: { hacked: true } } });
      assert.equal(put.status, 403);
      assert.equal(await stack.db.value(`select raw_user_meta_data ? 'hacked' from auth.users where id = '${DEMO.alice.id}'`), false);
    });
  });

  describe('admin API', () => {
    test('createUser / getUserById / deleteUser with the service_role key', async () => {
      const admin = stack.client(stack.serviceKey).auth.admin;
      const email = uniqueEmail('admin-made');
      const c = await admin.createUser({ email, password: 'secret-123', email_confirm: true });
      assert.equal(c.error, null);
      assert.match(c.data.user.id, UUID_RE);
      assert.equal(c.data.user.email, email);
      assert.ok(c.data.user.email_confirmed_at, 'email_confirm: true confirms the address');
      const id = c.data.user.id;
      assert.equal(await stack.db.value(`select role from public.profiles where id = '${id}'`), 'customer');

      const g = await admin.getUserById(id);
      assert.equal(g.error, null);
      assert.equal(g.data.user.id, id);
      assert.equal(g.data.user.email, email);
      assert.equal(g.data.user.app_metadata.role, 'customer');

      // The new account signs in.
      const s = await stack.signIn(email, 'secret-123');
      assert.equal(s.claims.sub, id);

      const d = await admin.deleteUser(id);
      assert.equal(d.error, null);
      assert.equal(await stack.db.value(`select count(*) from auth.users where id = '${id}'`), 0);
      assert.equal(await stack.db.value(`select count(*) from public.profiles where id = '${id}'`), 0);
      assert.equal(await sessionCount(id), 0);
      const gone = await admin.getUserById(id);
      assert.equal(gone.error?.status, 404);
      assert.equal(gone.error.code, 'user_not_found');
      const again = await admin.deleteUser(id);
      assert.equal(again.error?.status, 404);
    });

    test('createUser with app_metadata.role technician makes a technician profile', async () => {
      const admin = stack.client(stack.serviceKey).auth.admin;
      const email = uniqueEmail('admin-tech');
      const c = await admin.createUser({ email, password: 'secret-123', email_confirm: true, app_metadata: { role: 'technician' } });
      assert.equal(c.error, null);
      assert.equal(c.data.user.app_metadata.role, 'technician');
      const [t] = await stack.db.rows(`select p.role, t.is_verified from public.profiles p join public.technicians t using (id) where p.id = '${c.data.user.id}'`);
      assert.deepEqual(t, { role: 'technician', is_verified: false });
    });

    // auth.tc_create_user returns the row as inserted; the AFTER INSERT
    // triggers (profile creation, then tc_sync_app_role) write
    // raw_app_meta_data.role afterwards, so the answer misses it, and the
    // identity it inserted is not in the answer's snapshot either.
    test('createUser answers with the stored user, like getUserById does', async () => {
      const admin = stack.client(stack.serviceKey).auth.admin;
      const c = await admin.createUser({ email: uniqueEmail('admin-role'), password: 'secret-123', email_confirm: true });
      assert.equal(c.error, null);
      const g = await admin.getUserById(c.data.user.id);
      assert.equal(g.data.user.app_metadata.role, 'customer');
      assert.equal(g.data.user.identities.length, 1);
      assert.equal(c.data.user.app_metadata.role, g.data.user.app_metadata.role);
      assert.equal(c.data.user.identities.length, 1);
    });

    test('the admin API with the anon key or a user token → 403 not_admin, nothing changes', async () => {
      const { session } = await stack.signIn(DEMO.admin.email); // even an admin *user* is not the service role
      const before = await stack.db.value('select count(*) from auth.users');
      for (const [what, key] of [['anon key', stack.anonKey], ['user token', session.access_token]]) {
        const admin = stack.client(key).auth.admin;
        const c = await admin.createUser({ email: uniqueEmail('nope'), password: 'secret-123', email_confirm: true });
        assert.equal(c.error?.status, 403, `${what} createUser`);
        assert.equal(c.error.code, 'not_admin', `${what} createUser`);
        const g = await admin.getUserById(DEMO.bob.id);
        assert.equal(g.error?.status, 403, `${what} getUserById`);
        assert.equal(g.error.code, 'not_admin');
        const d = await admin.deleteUser(DEMO.bob.id);
        assert.equal(d.error?.status, 403, `${what} deleteUser`);
        assert.equal(d.error.code, 'not_admin');
      }
      assert.equal(await stack.db.value('select count(*) from auth.users'), before);
      assert.equal(await stack.db.value(`select count(*) from auth.users where id = '${DEMO.bob.id}'`), 1);
    });
  });

  describe('access-token claims', () => {
    for (const who of ['alice', 'tom', 'victor', 'admin']) {
      test(`${who} (${DEMO[who].role})`, async () => {
        const { session, claims } = await stack.signIn(DEMO[who].email);
        assert.equal(claims.sub, DEMO[who].id);
        assert.equal(claims.role, 'authenticated');
        assert.equal(claims.aud, 'authenticated');
        assert.equal(claims.email, DEMO[who].email);
        assert.match(claims.session_id, UUID_RE);
        assert.equal(claims.exp - claims.iat, 3600, 'JWT_EXP default');
        assert.ok(Math.abs(claims.iat - nowS()) <= 5, 'iat is now');
        assert.equal(claims.app_metadata.role, DEMO[who].role);
        assert.equal(session.expires_in, 3600);
        assert.equal(session.expires_at, claims.exp);
        assert.equal(await stack.db.value(`select user_id from auth.sessions where id = '${claims.session_id}'`), DEMO[who].id);
        // The header: HS256.
        const header = JSON.parse(Buffer.from(session.access_token.split('.')[0], 'base64url').toString());
        assert.equal(header.alg, 'HS256');
      });
    }
  });
});
