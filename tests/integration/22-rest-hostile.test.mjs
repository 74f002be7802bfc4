// 22. Hostile REST requests: SQL in identifiers, operators, order and
// bodies, the system catalogs, absurd ranges, oversized and invalid
// bodies, bad JWTs. Each gets a 4xx and runs nothing.
//
// "Runs nothing" is checked two ways, without pg_stat_statements:
//   * the database's fingerprint (row count + md5 of every row of every
//     table the API can reach, a canary table created for this file, the
//     list of tables) is the same after every request as before;
//   * the authenticator login logs every statement it runs
//     (ALTER ROLE authenticator SET log_statement = 'all'), and for a
//     request the planner refuses, the cluster log gains no statement but
//     transaction control and the schema-cache query; for a request whose
//     hostile text does reach PostgreSQL, it is only ever a bind parameter,
//     never part of a statement's text.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { T, nowS, sign, withTimeout } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const CANARY_ROWS = 3;

describe('hostile REST requests', { timeout: T(60000) }, () => {
  let stack;
  let fp0; // the fingerprint everything is compared with
  let logPath;
  let alice;

  before(async () => {
    stack = await startStack({
      prepare: (db) => db.psql(
        'create table public.canary (id int primary key, note text not null);\n' +
        "insert into public.canary select g, 'chirp ' || g from generate_series(1, 3) g;\n" +
        "alter role authenticator set log_statement = 'all';\n"),
    });
    logPath = path.join(stack.db.dir, 'postgres.log');
    alice = await stack.signIn(DEMO.alice.email);
    // Warm the schema cache so that it is not (re)loaded mid-test.
    assert.equal((await stack.fetch('/rest/v1/canary?select=id', { token: stack.serviceKey })).status, 200);
    fp0 = await stack.db.fingerprint(['public.canary']);
    assert.equal(fp0['public.canary'].split(':')[0], String(CANARY_ROWS));
  });
  after(() => stack?.stop());

  // ---- "ran nothing" -------------------------------------------------------

  const logSize = () => fs.statSync(logPath).size;
  /** SQL texts the server's connections executed (or tried to: an error
   * logs "STATEMENT:  ...") since offset; the extended protocol logs
   * "LOG:  execute <unnamed>: ...", the simple one "LOG:  statement: ...". */
  function statementsSince(offset) {
    const fd = fs.openSync(logPath, 'r');
    try {
      const len = logSize() - offset;
      const buf = Buffer.alloc(Math.max(0, len));
      fs.readSync(fd, buf, 0, buf.length, offset);
      const out = [];
      for (const line of buf.toString('utf8').split('\n')) {
        const m = /\b(?:LOG: {2}(?:execute [^:]*|statement)|STATEMENT): {1,2}(.*)$/.exec(line);
        if (m) out.push(m[1]);
      }
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }
  const harmless = (sql) => /^(BEGIN|COMMIT|ROLLBACK)$/.test(sql) ||
    sql.startsWith("SELECT set_config('request.jwt.claims'") ||
    sql.startsWith("SELECT 't'::text AS kind, n.nspname::text AS schema"); // the schema cache

  /** Sends the request; asserts a 4xx (or one of `statuses`), no statement
   * but transaction control run for it, and no change in the database. */
  async function refused(what, send, { statuses, code, reachesDb = false, marker = /drop|delete|truncate|insert|update|pg_sleep/i } = {}) {
    const off = logSize();
    const r = await send();
    if (statuses) assert.ok(statuses.includes(r.status), `${what}: status ${r.status} not in ${statuses}: ${r.text}`);
    else assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}: ${r.text}`);
    if (code) assert.equal(r.json?.code, code, `${what}: ${r.text}`);
    if (r.status >= 400) assert.equal(typeof r.json?.message, 'string', `${what}: a PostgREST error body`);
    const ran = statementsSince(off).filter((s) => !harmless(s));
    if (reachesDb) {
      // Allowed to run, as a parameterised statement: the text has no trace of the payload.
      assert.ok(ran.length > 0, `${what}: no statement logged (is log_statement on?)`);
      for (const s of ran) assert.doesNotMatch(s, marker, `${what}: hostile text in executed SQL: ${s}`);
    } else {
      assert.deepEqual(ran, [], `${what}: the planner should have refused it before any SQL ran`);
    }
    assert.deepEqual(await stack.db.fingerprint(['public.canary']), fp0, `${what}: the database changed`);
    return r;
  }

  const svc = (p, o = {}) => stack.fetch(p, { token: stack.serviceKey, ...o });
  const get = (p, o) => () => svc(p, o);

  // ---- SQL in identifiers --------------------------------------------------

  test('SQL in select, column and table names', async () => {
    const cases = [
      ['/rest/v1/bookings?select=id;drop table canary', 'PGRST100'],
      ['/rest/v1/bookings?select=id%3Bdrop%20table%20canary', 'PGRST100'],
      ['/rest/v1/bookings?select=%22id%5C%22;%20drop%20table%20canary;--%22', '42703'],
      ['/rest/v1/bookings?select=id,(select 1)', 'PGRST100'],
      ['/rest/v1/bookings?select=id::text;drop table canary', 'PGRST100'],
      ['/rest/v1/bookings?select=id::text)%20from%20canary;--', 'PGRST100'],
      ['/rest/v1/bookings?select=x:id),(delete from canary', 'PGRST100'],
      ['/rest/v1/bookings?select=canary(*)', 'PGRST100'],
      ['/rest/v1/bookings?select=count()', 'PGRST123'],
      ['/rest/v1/bookings?%22id%5C%22;%20drop=eq.1', 'PGRST100'], // an unterminated quoted name
      ['/rest/v1/bookings?%22id%5C%22;%20drop%22=eq.1', '42703'], // a quoted name that is no column
      ['/rest/v1/bookings?id;drop table canary=eq.1', 'PGRST100'],
      ['/rest/v1/bookings;delete from canary', 'PGRST205'],
      ['/rest/v1/bookings%3Bdelete%20from%20canary', 'PGRST205'],
      ['/rest/v1/canary%22;drop%20table%20canary;--', 'PGRST205'],
      ['/rest/v1/%2e%2e%2fauth%2fv1%2fadmin%2fusers', null],
    ];
    for (const [p, code] of cases) await refused(p, get(p), { code: code ?? undefined });
  });

  test('SQL in operators and values', async () => {
    const cases = [
      // hostile text that reaches PostgreSQL only as a bind parameter (and fails to parse as the column's type)
      ['/rest/v1/bookings?id=eq.1;drop table canary', '22P02', true],
      ['/rest/v1/canary?id=eq.1;drop table canary', '22P02', true],
      ['/rest/v1/canary?id=in.(1,2);delete from canary', 'PGRST100', false],
      ['/rest/v1/canary?id=in.(1);drop table canary', 'PGRST100', false],
      ['/rest/v1/canary?id=xx.1', 'PGRST100', false],
      ['/rest/v1/canary?id=eq(1)', 'PGRST100', false],
      ['/rest/v1/canary?id=eq(any).1)%20or%20(1=1', '22P02', true], // the value is one bound array literal
      ['/rest/v1/canary?id=drop.1', 'PGRST100', false],
      ['/rest/v1/canary?id=eq', 'PGRST100', false],
      ['/rest/v1/canary?id=.1', 'PGRST100', false],
      ['/rest/v1/canary?id=not.xx.1', 'PGRST100', false],
      ['/rest/v1/canary?id=is.null;drop table canary', 'PGRST100', false],
      ['/rest/v1/canary?id=fts(english;drop).x', 'PGRST100', false],
      ['/rest/v1/canary?or=(id.eq.1);drop table canary', 'PGRST100', false],
      ['/rest/v1/canary?or=(id.eq.1,id.eq.2))', 'PGRST100', false],
      ['/rest/v1/canary?or=(id.eq.1,note.xx.2)', 'PGRST100', false],
      ['/rest/v1/canary?and=(id.gt.0', 'PGRST100', false],
      [`/rest/v1/canary?or=${'('.repeat(40)}id.eq.1${')'.repeat(40)}`, 'PGRST100', false],
      ['/rest/v1/canary?order=id;drop table canary', 'PGRST100', false],
      ['/rest/v1/canary?order=id.desc;drop table canary', 'PGRST100', false],
      ['/rest/v1/canary?order=(select 1)', 'PGRST100', false],
      ['/rest/v1/canary?order=id.sideways', 'PGRST100', false],
      ['/rest/v1/canary?limit=1;drop table canary', 'PGRST100', false],
      ['/rest/v1/canary?offset=1;drop table canary', 'PGRST100', false],
    ];
    for (const [p, code, reachesDb] of cases) await refused(p, get(p), { code, reachesDb });
    // A quote in a value is just a value: it matches nothing, and the
    // statement text carries only $n.
    const r = await refused("note=eq.x' or '1'='1", get("/rest/v1/canary?note=eq.x'%20or%20'1'='1"), { statuses: [200], reachesDb: true, marker: /'1'='1/ });
    assert.deepEqual(r.json, []);
    const like = await refused('like with quotes', get("/rest/v1/canary?note=like.*'%20or%20note%20like%20'*"), { statuses: [200], reachesDb: true, marker: / or note/ });
    assert.deepEqual(like.json, []);
  });

  // ---- system catalogs and other schemas -----------------------------------

  test('pg_catalog and auth tables are unreachable', async () => {
    await refused('pg_user', get('/rest/v1/pg_user'), { code: 'PGRST205' });
    await refused('pg_authid', get('/rest/v1/pg_authid'), { code: 'PGRST205' });
    await refused('pg_catalog.pg_authid', get('/rest/v1/pg_catalog.pg_authid'), { code: 'PGRST205' });
    await refused('pg_roles', get('/rest/v1/pg_roles?select=rolname,rolpassword'), { code: 'PGRST205' });
    await refused('Accept-Profile: pg_catalog', get('/rest/v1/pg_user', { headers: { 'accept-profile': 'pg_catalog' } }), { code: 'PGRST106' });
    await refused('Accept-Profile: auth', get('/rest/v1/users', { headers: { 'accept-profile': 'auth' } }), { code: 'PGRST106' });
    await refused('Content-Profile: auth', get('/rest/v1/users', { method: 'POST', headers: { 'content-profile': 'auth' }, body: { email: 'x@y.z' } }), { code: 'PGRST106' });
    await refused('Content-Profile: pg_catalog', get('/rest/v1/pg_authid', { method: 'DELETE', headers: { 'content-profile': 'pg_catalog' } }), { code: 'PGRST106' });
    await refused('rpc pg_sleep', get('/rest/v1/rpc/pg_sleep', { method: 'POST', body: { seconds: 5 } }), { code: 'PGRST202' });
    await refused('rpc pg_catalog.pg_sleep', get('/rest/v1/rpc/pg_catalog.pg_sleep?seconds=5'), { code: 'PGRST202' });
    await refused('rpc auth.tc_create_user', get('/rest/v1/rpc/tc_create_user', { method: 'POST', body: { p_email: 'evil@x.y', p_password: 'secret-123' } }), { code: 'PGRST202' });
  });

  test('internal functions are not callable by users', async () => {
    const tok = alice.session.access_token;
    const call = (fn, body) => () => stack.fetch(`/rest/v1/rpc/${fn}`, { method: 'POST', token: tok, body });
    // tc_notify would let anyone notify anyone; tc_display_name would map ids to names.
    await refused('rpc tc_notify as alice', call('tc_notify', { p_user: DEMO.bob.id, p_type: 'x', p_title: 'spam', p_body: 'spam', p_data: {} }),
      { statuses: [403], code: '42501', reachesDb: true });
    await refused('rpc tc_display_name as alice', call('tc_display_name', { p_id: DEMO.bob.id }), { statuses: [403], code: '42501', reachesDb: true });
    await refused('rpc tc_refresh_rating as alice', call('tc_refresh_rating', { p_technician: DEMO.tom.id }), { statuses: [403], code: '42501', reachesDb: true });
    await refused('rpc accept_bid on GET', () => stack.fetch(`/rest/v1/rpc/accept_bid?bid_id=b1d00000-0000-4000-8000-000000000001`, { token: tok }),
      { statuses: [405] });
  });

  // ---- ranges ------------------------------------------------------------------

  test('absurd ranges, limits and offsets', async () => {
    await refused('limit=1e30', get('/rest/v1/canary?limit=1e30'), { code: 'PGRST100' });
    await refused('limit=-1', get('/rest/v1/canary?limit=-1'), { code: 'PGRST100' });
    await refused('limit=20 digits', get('/rest/v1/canary?limit=99999999999999999999'), { code: 'PGRST100' });
    await refused('offset=-1', get('/rest/v1/canary?offset=-1'), { code: 'PGRST100' });
    await refused('offset=0x10', get('/rest/v1/canary?offset=0x10'), { code: 'PGRST100' });
    await refused('Range: 5-2', get('/rest/v1/canary', { headers: { range: '5-2' } }), { statuses: [416], code: 'PGRST103' });
    await refused('offset past the end, counted', get('/rest/v1/canary', { headers: { range: '100-200', prefer: 'count=exact' } }),
      { statuses: [416], code: 'PGRST103', reachesDb: true });
    await refused('limit and offset on a write', get('/rest/v1/canary?id=gt.0&limit=1', { method: 'DELETE' }), { code: 'PGRST100' });
    // A bound PostgREST reads as an unbounded integer: a range past int64 is
    // not an error (PostgREST answers the rows), but it must not wrap
    // around, crash, or change anything.
    const huge = await refused('Range: 0-99999999999999999999', get('/rest/v1/canary?select=id&order=id', { headers: { range: '0-99999999999999999999' } }),
      { statuses: [200, 206, 416], reachesDb: true });
    if (huge.status === 200) assert.deepEqual(huge.json, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    const maxOff = await refused('offset=INT64_MAX', get('/rest/v1/canary?select=id&offset=9223372036854775807&limit=2'), { statuses: [200, 416], reachesDb: true });
    if (maxOff.status === 200) assert.deepEqual(maxOff.json, []);
    const maxRange = await refused('Range at INT64_MAX', get('/rest/v1/canary?select=id', { headers: { range: '9223372036854775806-9223372036854775807', prefer: 'count=exact' } }),
      { statuses: [416], reachesDb: true });
    assert.equal(maxRange.json.code, 'PGRST103');
  });

  // ---- bodies -------------------------------------------------------------------

  /** Raw HTTP/1.1 over TCP: headers (and optionally part of a body); resolves
   * with the status line's code once the server answers or closes. */
  function rawRequest(head, body = '') {
    return withTimeout(new Promise((resolve, reject) => {
      const s = net.connect(stack.server.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
        if (m && got.includes('\r\n\r\n')) { s.destroy(); resolve({ status: Number(m[1]), text: got }); }
      });
      s.on('error', reject);
      s.on('close', () => { const m = /^HTTP\/1\.1 (\d{3})/.exec(got); if (m) resolve({ status: Number(m[1]), text: got }); else reject(new Error(`closed without an answer: ${got}`)); });
      s.on('connect', () => { s.write(head); if (body) s.write(body); });
    }), T(5000), 'raw HTTP answer');
  }

  test('an oversized body → 413 before it is read', async () => {
    const big = 2 * 1024 * 1024; // the default limit is 1 MiB
    const off = logSize();
    const head = `POST /rest/v1/canary HTTP/1.1\r\nHost: x\r\napikey: ${stack.anonKey}\r\nAuthorization: Bearer ${stack.serviceKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${big}\r\n\r\n`;
    const r = await rawRequest(head, '[{"id": 100, "note": "');
    assert.equal(r.status, 413);
    // Chunked: no length up front, the limit applies while reading.
    const chunk = Buffer.alloc(256 * 1024, 'a').toString();
    const headC = `POST /rest/v1/canary HTTP/1.1\r\nHost: x\r\napikey: ${stack.anonKey}\r\nAuthorization: Bearer ${stack.serviceKey}\r\n` +
      'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    let chunked = '';
    for (let i = 0; i < 6; i++) chunked += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    const rc = await rawRequest(headC, chunked);
    assert.equal(rc.status, 413);
    // fetch(), as supabase-js would send it.
    const rows = Array.from({ length: 40000 }, (_, i) => ({ id: 1000 + i, note: 'x'.repeat(40) }));
    let viaFetch;
    try { viaFetch = await svc('/rest/v1/canary', { method: 'POST', body: rows }); } catch (e) { viaFetch = { status: 0, error: e }; }
    assert.ok(viaFetch.status === 413 || viaFetch.status === 0, `fetch of a ${JSON.stringify(rows).length}-byte body: ${viaFetch.status}`);
    assert.deepEqual(statementsSince(off).filter((s) => !/^(BEGIN|COMMIT|ROLLBACK)$/.test(s) && !s.startsWith("SELECT set_config('request.jwt.claims'")), []);
    assert.deepEqual(await stack.db.fingerprint(['public.canary']), fp0);
    // The server is fine afterwards.
    assert.equal((await svc('/rest/v1/canary?select=id')).status, 200);
  });

  test('invalid JSON and hostile bodies', async () => {
    // o's own headers must not replace the content type (they add to it)
    const post = (p, body, o = {}) => () => svc(p, { method: 'POST', body, ...o, headers: { 'content-type': 'application/json', ...o.headers } });
    await refused('truncated JSON', post('/rest/v1/canary', '{"id": 4, "note": "x"'), { code: 'PGRST102' });
    await refused('not JSON', post('/rest/v1/canary', "id=4&note=x'); drop table canary; --"), { code: 'PGRST102' });
    await refused('empty body', post('/rest/v1/canary', ''), { code: 'PGRST102' });
    await refused('array of scalars', post('/rest/v1/canary', '[1, 2]'), { code: 'PGRST102' });
    await refused('keys differ', post('/rest/v1/canary', '[{"id": 4, "note": "a"}, {"id": 5}]'), { code: 'PGRST102' });
    await refused('SQL in a key', post('/rest/v1/canary', '{"note\\"; drop table canary; --": "x", "id": 4}'), { code: 'PGRST204' });
    await refused('unknown key', post('/rest/v1/canary', '{"id": 4, "note": "x", "evil": 1}'), { code: 'PGRST204' });
    await refused('SQL in columns=', post('/rest/v1/canary?columns=id;drop table canary', '{"id": 4, "note": "x"}'), { code: 'PGRST100' });
    await refused('SQL in on_conflict=', post('/rest/v1/canary?on_conflict=id);drop table canary;--', '{"id": 1, "note": "x"}',
      { headers: { prefer: 'resolution=merge-duplicates' } }), { code: 'PGRST100' });
    await refused('PATCH with invalid JSON', () => svc('/rest/v1/canary?id=eq.1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"note": ' }), { code: 'PGRST102' });
    await refused('PATCH with an array', () => svc('/rest/v1/canary?id=eq.1', { method: 'PATCH', body: [{ note: 'x' }] }), { code: 'PGRST102' });
    await refused('rpc with invalid JSON', post('/rest/v1/rpc/accept_bid', '{"bid_id": '), { code: 'PGRST102' });
    // Values are data, whatever they contain: the row goes in as typed text
    // (a rolled-back insert so the fingerprint holds).
    await refused('a value that looks like SQL, refused by the primary key', post('/rest/v1/canary?id=eq.1',
      '{"id": 1, "note": "x\'); drop table canary; --"}', { headers: { prefer: 'return=representation' } }),
    { statuses: [409], code: '23505', reachesDb: true, marker: /drop table/ });
  });

  test('a write over Prefer: max-affected is rolled back', async () => {
    await refused('DELETE 3 rows, max-affected=1', get('/rest/v1/canary?id=gte.1', { method: 'DELETE', headers: { prefer: 'handling=strict, max-affected=1, return=representation' } }),
      { statuses: [400], code: 'PGRST124', reachesDb: true, marker: /drop/ });
    await refused('PATCH 3 rows, max-affected=2', get('/rest/v1/canary?id=gte.1', { method: 'PATCH', body: { note: 'overwritten' }, headers: { prefer: 'handling=strict, max-affected=2' } }),
      { statuses: [400], code: 'PGRST124', reachesDb: true, marker: /drop/ });
    await refused('Prefer garbage with handling=strict', get('/rest/v1/canary?id=eq.1', { method: 'DELETE', headers: { prefer: 'handling=strict, drop-table=canary' } }),
      { statuses: [400], code: 'PGRST122' });
  });

  // ---- tokens ---------------------------------------------------------------------

  test('forged, expired and unusable JWTs → 401', async () => {
    const claims = { role: 'service_role', iss: 'techcare-test' };
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const cases = [
      ['forged (wrong secret)', sign({ ...claims, exp: nowS() + 3600 }, 'not-the-server-secret-at-all-0123456789'), 'PGRST301'],
      ['expired', sign({ ...claims, exp: nowS() - 60 }, stack.secret), 'PGRST303'],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, exp: nowS() + 3600 })}.`, 'PGRST301'],
      ['garbage', 'not.a.jwt', 'PGRST301'],
      ['tampered payload', (() => { const [h, , s] = stack.serviceKey.split('.'); return `${h}.${b64({ ...claims, role: 'service_role', exp: nowS() + 99999 })}.${s}`; })(), 'PGRST301'],
      ['role postgres', sign({ role: 'postgres', exp: nowS() + 3600 }, stack.secret), 'PGRST301'],
      ['role authenticator', sign({ role: 'authenticator', exp: nowS() + 3600 }, stack.secret), 'PGRST301'],
    ];
    for (const [what, tok, code] of cases) {
      for (const [how, o] of [['bearer', { token: tok }], ['apikey only', { apikey: tok }]]) {
        await refused(`${what} (${how})`, () => stack.fetch('/rest/v1/canary?select=id', o), { statuses: [401], code });
        await refused(`${what} (${how}) DELETE`, () => stack.fetch('/rest/v1/canary?id=gte.1', { method: 'DELETE', ...o }), { statuses: [401], code });
      }
    }
    await refused('no key at all', () => fetch(`${stack.url}/rest/v1/canary`).then(async (r) => ({ status: r.status, json: await r.json(), text: '' })), { statuses: [401] });
  });

  test('the service role bypasses RLS; anon and users see what RLS allows', async () => {
    const all = await svc('/rest/v1/bookings?select=id');
    assert.equal(all.status, 200);
    assert.equal(all.json.length, 11);
    const anon = await stack.fetch('/rest/v1/bookings?select=id');
    assert.deepEqual(anon.json, []);
    const mine = await stack.fetch('/rest/v1/bookings?select=id', { token: alice.session.access_token });
    assert.equal(mine.json.length, 5);
    // A table without RLS (the canary) is open to every request role, as on
    // Supabase: that is why every TechCare table enables RLS.
    assert.equal((await stack.fetch('/rest/v1/canary?select=id')).json.length, CANARY_ROWS);
  });

  test('after all of that: the canary lives, nothing changed, the server answers', async () => {
    assert.deepEqual(await stack.db.fingerprint(['public.canary']), fp0);
    assert.deepEqual(await stack.db.rows('select id, note from public.canary order by id'),
      [1, 2, 3].map((id) => ({ id, note: `chirp ${id}` })));
    const h = await stack.fetch('/health');
    assert.equal(h.status, 200);
    const ok = await stack.client(stack.serviceKey).from('canary').select('id').order('id');
    assert.deepEqual(ok.data, [{ id: 1 }, { id: 2 }, { id: 3 }]);
  });
});
