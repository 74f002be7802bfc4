// Issue 9, the small ones:
//  - /rest/v1 reads a body as JSON only when it is one: application/json
//    (any parameters, any case) or no Content-Type, as PostgREST; anything
//    else is refused with 415 and PostgREST's code and message
//    (PGRST102, "Content-Type not acceptable: <type>") and runs nothing;
//  - passwords longer than bcrypt's 72 bytes are refused with GoTrue's
//    answer (400 validation_failed "Password cannot be longer than 72
//    characters") on sign-up, password change and the admin API;
//  - a token whose exp is present but not a NumericDate is told so, on the
//    socket, on REST and on auth, instead of "role and exp are required".
// Real PostgreSQL, stock supabase-js; facts checked in the database.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { RawWs, T, httpRequest, nowS, sign } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const EXP_MSG = 'Field `exp` in JWT must be a NumericDate: an integer number of seconds since the epoch';
const ROLE_MSG = 'Field `role` in JWT must be a non-empty string';
const MISSING_MSG = 'Fields `role` and `exp` are required in JWT';
const PW_MSG = 'Password cannot be longer than 72 characters';

const uniqueEmail = (tag) => `${tag}-${process.pid}-${crypto.randomBytes(4).toString('hex')}@itest.demo`;

describe('small isolation fixes', { timeout: T(90000) }, () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(() => stack?.stop());

  // ---- REST bodies -------------------------------------------------------------------

  describe('REST request bodies and Content-Type', () => {
    const title = () => `ct-${crypto.randomUUID()}`;
    const countTitle = (t) => stack.db.value(`select count(*) from public.notifications where title = '${t}'`);
    const row = (t) => JSON.stringify({ user_id: DEMO.alice.id, type: 'test', title: t });

    /** A raw request with exactly these headers (node:http adds no Content-Type). */
    const post = (path, { method = 'POST', ctype, body, token = stack.serviceKey } = {}) => httpRequest(stack.server.port, path, {
      method,
      headers: { apikey: stack.anonKey, authorization: `Bearer ${token}`, ...(ctype === undefined ? {} : { 'content-type': ctype }) },
      body,
    });

    test('text/plain (and other types) → 415 PGRST102 "Content-Type not acceptable: <type>", and nothing runs', async () => {
      for (const ctype of ['text/plain', 'text/plain;charset=UTF-8', ' TEXT/PLAIN ; charset=utf-8', 'application/x-www-form-urlencoded', 'text/csv', 'application/jsonx']) {
        const t = title();
        const r = await post('/rest/v1/notifications', { ctype, body: row(t) });
        const type = ctype.split(';')[0].trim();
        assert.equal(r.status, 415, `${ctype}: ${r.text}`);
        assert.deepEqual(r.json, { code: 'PGRST102', details: null, hint: null, message: `Content-Type not acceptable: ${type}` }, ctype);
        assert.equal(await countTitle(t), 0, `${ctype}: nothing inserted`);
      }
      // PATCH and rpc bodies are checked too; nothing changes.
      const [{ id, title: before }] = await stack.db.rows(`select id, title from public.notifications where user_id = '${DEMO.alice.id}' limit 1`);
      const p = await post(`/rest/v1/notifications?id=eq.${id}`, { method: 'PATCH', ctype: 'text/plain', body: JSON.stringify({ title: 'changed' }) });
      assert.equal(p.status, 415);
      assert.equal(await stack.db.value(`select title from public.notifications where id = '${id}'`), before);
      const rpc = await post('/rest/v1/rpc/accept_bid', { ctype: 'text/plain', body: JSON.stringify({ bid_id: crypto.randomUUID() }) });
      assert.equal(rpc.status, 415);
      assert.equal(rpc.json.code, 'PGRST102');
      // PostgREST reads the query string before the body: its errors come first ...
      const q = await post('/rest/v1/notifications?columns=title;drop', { ctype: 'text/plain', body: row(title()) });
      assert.equal(q.status, 400);
      assert.equal(q.json.code, 'PGRST100');
      // ... and the body's media type before the schema cache: an unknown table is 415 too.
      const unknown = await post('/rest/v1/no_such_table', { ctype: 'text/plain', body: '{}' });
      assert.equal(unknown.status, 415);
    });

    test('application/json with parameters or in any case, or no Content-Type at all, is read as JSON', async () => {
      for (const ctype of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8', undefined]) {
        const t = title();
        const r = await post('/rest/v1/notifications', { ctype, body: row(t) });
        assert.equal(r.status, 201, `${ctype}: ${r.text}`);
        assert.equal(await countTitle(t), 1, `${ctype}: inserted once`);
      }
      // supabase-js, as every app sends it
      const t = title();
      const { error } = await stack.client(stack.serviceKey).from('notifications').insert({ user_id: DEMO.alice.id, type: 'test', title: t });
      assert.equal(error, null);
      assert.equal(await countTitle(t), 1);
    });

    test('methods whose body PostgREST does not read, and requests without a valid token, are not judged by Content-Type', async () => {
      const t = title();
      await stack.db.psql(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'test', '${t}');`);
      const del = await post(`/rest/v1/notifications?title=eq.${t}`, { method: 'DELETE', ctype: 'text/plain', body: 'ignored' });
      assert.equal(del.status, 204, del.text);
      assert.equal(await countTitle(t), 0);
      const get = await post('/rest/v1/notifications?select=id&limit=1', { method: 'GET', ctype: 'text/plain' });
      assert.equal(get.status, 200);
      // authentication comes first, as in PostgREST
      const bad = await post('/rest/v1/notifications', { ctype: 'text/plain', body: row(title()), token: sign({ role: 'service_role', exp: nowS() + 60 }, 'wrong-secret-wrong-secret-wrong-secret') });
      assert.equal(bad.status, 401);
    });
  });

  // ---- passwords ------------------------------------------------------------------------

  describe('passwords longer than 72 bytes (bcrypt reads no more)', () => {
    test('sign-up with a 100,000-character password is refused (400 validation_failed); nothing is created', async () => {
      const email = uniqueEmail('long');
      const { data, error } = await stack.client().auth.signUp({ email, password: 'p'.repeat(100000) });
      assert.ok(error);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'validation_failed');
      assert.equal(error.message, PW_MSG);
      assert.equal(data.session, null);
      const raw = await stack.fetch('/auth/v1/signup', { method: 'POST', body: { email, password: 'q'.repeat(73) } });
      assert.equal(raw.status, 400);
      assert.deepEqual(raw.json, { code: 400, error_code: 'validation_failed', msg: PW_MSG });
      assert.equal(await stack.db.value(`select count(*) from auth.users where email = '${email}'`), 0);
    });

    test('72 bytes work (sign-up and sign-in); the limit is in bytes, not characters', async () => {
      const email = uniqueEmail('p72');
      const pw = `${'a'.repeat(70)}Z9`;
      assert.equal(Buffer.byteLength(pw), 72);
      const { data, error } = await stack.client().auth.signUp({ email, password: pw });
      assert.equal(error, null);
      assert.ok(data.session?.access_token);
      const signIn = await stack.client().auth.signInWithPassword({ email, password: pw });
      assert.equal(signIn.error, null);
      // bcrypt would have taken these 72 bytes for the whole password: not any more
      const { error: longer } = await stack.client().auth.signUp({ email: uniqueEmail('p73'), password: `${pw}!` });
      assert.equal(longer?.message, PW_MSG);

      const e36 = 'é'.repeat(36); // 72 bytes
      const e37 = 'é'.repeat(37); // 37 characters, 74 bytes
      const ok = await stack.client().auth.signUp({ email: uniqueEmail('e36'), password: e36 });
      assert.equal(ok.error, null);
      const over = await stack.client().auth.signUp({ email: uniqueEmail('e37'), password: e37 });
      assert.equal(over.error?.status, 400);
      assert.equal(over.error?.message, PW_MSG);
    });

    test('password change and the admin API refuse them too; the old password keeps working', async () => {
      const email = uniqueEmail('chg');
      const client = stack.client();
      const { error } = await client.auth.signUp({ email, password: 'first-pass-1' });
      assert.equal(error, null);
      const upd = await client.auth.updateUser({ password: 'x'.repeat(200) });
      assert.equal(upd.error?.status, 400);
      assert.equal(upd.error?.code, 'validation_failed');
      assert.equal(upd.error?.message, PW_MSG);
      assert.equal((await stack.client().auth.signInWithPassword({ email, password: 'first-pass-1' })).error, null);

      const admin = stack.client(stack.serviceKey).auth.admin;
      const created = await admin.createUser({ email: uniqueEmail('adm'), password: 'y'.repeat(73), email_confirm: true });
      assert.equal(created.error?.status, 400);
      assert.equal(created.error?.message, PW_MSG);
      const { data: u } = await admin.createUser({ email: uniqueEmail('adm-ok'), password: 'fine-pass-1', email_confirm: true });
      assert.ok(u.user?.id);
      const changed = await admin.updateUserById(u.user.id, { password: 'z'.repeat(100000) });
      assert.equal(changed.error?.status, 400);
      assert.equal(changed.error?.message, PW_MSG);
      assert.equal((await stack.client().auth.signInWithPassword({ email: u.user.email, password: 'fine-pass-1' })).error, null);
    });
  });

  // ---- exp that is not a NumericDate ---------------------------------------------------------

  describe('a token whose exp is not an integer', () => {
    const tok = (claims) => sign({ role: 'authenticated', sub: DEMO.alice.id, ...claims }, stack.secret);
    const cases = [
      ['exp "abc"', { exp: 'abc' }, EXP_MSG],
      ['exp 1.5', { exp: 1.5 }, EXP_MSG],
      ['exp "<a date as a string>"', { exp: String(nowS() + 3600) }, EXP_MSG],
      ['role 7', { role: 7, exp: nowS() + 3600 }, ROLE_MSG],
      ['no exp', {}, MISSING_MSG],
    ];

    for (const [label, claims, msg] of cases) {
      test(`${label}: the socket, REST and auth all say "${msg}"`, async () => {
        const bad = tok(claims);
        // WebSocket join (the connection's own apikey is valid)
        const raw = await RawWs.open(stack.server, { apikey: stack.anonKey });
        const r = await raw.join(`realtime:exp-${crypto.randomBytes(3).toString('hex')}`, { access_token: bad });
        assert.deepEqual(r.payload, { status: 'error', response: { reason: msg } });
        await raw.close();
        // WebSocket upgrade with it as the apikey
        await assert.rejects(RawWs.open(stack.server, { apikey: bad }), (e) => e.status === 403 && JSON.parse(e.body).error === msg);
        // REST, through supabase-js
        const { error } = await stack.client(stack.anonKey, { global: { headers: { Authorization: `Bearer ${bad}` } } })
          .from('bookings').select('id').limit(1);
        assert.equal(error?.code, 'PGRST301');
        assert.equal(error?.message, msg);
        // auth
        const me = await stack.fetch('/auth/v1/user', { token: bad });
        assert.equal(me.status, 403);
        assert.deepEqual(me.json, { code: 403, error_code: 'bad_jwt', msg });
      });
    }
  });
});
