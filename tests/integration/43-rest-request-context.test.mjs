// 43. PostgREST's request context through /rest/v1: every request and RPC
// sets request.headers (a JSON object of every header but Cookie, names
// lower-cased), request.method, request.path (below /rest/v1, as PostgREST
// behind Supabase's gateway sees it) and request.cookies (the Cookie header
// as a JSON object), next to request.jwt.claims and the role. A function
// reads them back; a policy that reads a header (a W3C traceparent) decides
// a read; a column default sees them in a write; a header value with bytes
// that are not UTF-8 still makes valid JSON; and nothing of a header
// (tokens included) reaches the server's log.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { T, httpRequest } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const SETUP = `
create function public.tc_request_context() returns json language sql stable as $$
  select json_build_object(
    'headers', current_setting('request.headers', true)::json,
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'cookies', current_setting('request.cookies', true)::json,
    'claims', current_setting('request.jwt.claims', true)::json,
    'role', current_user)
$$;
grant execute on function public.tc_request_context() to anon, authenticated, service_role;

create table public.tc_traced (id int primary key, note text not null);
alter table public.tc_traced enable row level security;
create policy tc_traced_with_trace on public.tc_traced for select to anon, authenticated
  using (current_setting('request.headers', true)::json->>'traceparent' like '00-%');
grant select on public.tc_traced to anon, authenticated;
insert into public.tc_traced values (1, 'seen only with a traceparent');

create table public.tc_ctx_log (
  id serial primary key,
  note text,
  method text default current_setting('request.method', true),
  path text default current_setting('request.path', true),
  trace text default current_setting('request.headers', true)::json->>'traceparent',
  theme text default current_setting('request.cookies', true)::json->>'theme');
grant select, insert on public.tc_ctx_log to authenticated;
grant usage on sequence public.tc_ctx_log_id_seq to authenticated;
`;

describe('PostgREST request context (request.headers, method, path, cookies)', { timeout: T(60000) }, () => {
  let stack;
  let alice;
  before(async () => {
    stack = await startStack({ prepare: (db) => db.psql(SETUP) });
    alice = await stack.signIn(DEMO.alice.email);
  });
  after(() => stack?.stop());

  test('an RPC through supabase-js reads headers, method, path and claims', async () => {
    const client = stack.client(stack.anonKey, {
      global: { headers: { 'X-Client-Version': 'techcare-web/1.2.3', traceparent: TRACEPARENT } },
    });
    const { data: signed, error: e0 } = await client.auth.signInWithPassword({ email: DEMO.bob.email, password: 'techcare-demo' });
    assert.ifError(e0);
    const { data, error } = await client.rpc('tc_request_context');
    assert.ifError(error);
    assert.equal(data.method, 'POST');
    assert.equal(data.path, '/rpc/tc_request_context');
    assert.equal(data.role, 'authenticated');
    assert.equal(data.claims.sub, DEMO.bob.id);
    const h = data.headers;
    assert.equal(typeof h, 'object');
    for (const k of Object.keys(h)) assert.equal(k, k.toLowerCase(), `header name ${k} is lower-cased`);
    assert.equal(h['x-client-version'], 'techcare-web/1.2.3');
    assert.equal(h.traceparent, TRACEPARENT);
    assert.equal(h.authorization, `Bearer ${signed.session.access_token}`, 'Authorization is there, as in PostgREST');
    assert.equal(h.apikey, stack.anonKey);
    assert.equal(h['content-type'], 'application/json');
    assert.equal(h.cookie, undefined);
    assert.deepEqual(data.cookies, {});
  });

  test('raw HTTP: cookies parsed, Cookie left out of the headers, mixed-case names, GET', async () => {
    const r = await httpRequest(stack.server.port, '/rest/v1/rpc/tc_request_context', {
      method: 'GET',
      headers: {
        apikey: stack.anonKey,
        'X-Mixed-CASE': 'Value Keeps Its Case',
        Cookie: 'sessionId=abc123; theme=dark; tok=a=b==; flag',
      },
    });
    assert.equal(r.status, 200, r.text);
    const data = r.json;
    assert.equal(data.method, 'GET');
    assert.equal(data.path, '/rpc/tc_request_context');
    assert.equal(data.role, 'anon');
    assert.equal(data.headers['x-mixed-case'], 'Value Keeps Its Case');
    assert.equal(data.headers.cookie, undefined);
    assert.equal(data.headers.authorization, undefined, 'no Authorization header was sent');
    assert.equal(data.headers.host, `127.0.0.1:${stack.server.port}`);
    assert.deepEqual(data.cookies, { sessionId: 'abc123', theme: 'dark', tok: 'a=b==', flag: '' });
  });

  test('a header value that is not UTF-8 still gives valid JSON (U+FFFD)', async () => {
    const r = await httpRequest(stack.server.port, '/rest/v1/rpc/tc_request_context', {
      method: 'POST',
      // node:http writes header strings as latin1: \u00e9 is the single byte 0xE9
      headers: { apikey: stack.anonKey, 'content-type': 'application/json', 'x-latin1': 'caf\u00e9', Cookie: 'n=caf\u00e9' },
      body: '{}',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.headers['x-latin1'], 'caf\ufffd');
    assert.deepEqual(r.json.cookies, { n: 'caf\ufffd' });
  });

  test('a policy that reads request.headers decides a table read', async () => {
    const plain = stack.client(alice.session.access_token);
    const traced = stack.client(stack.anonKey, { global: { headers: { traceparent: TRACEPARENT } } });
    const { data: none, error: e1 } = await plain.from('tc_traced').select('*');
    assert.ifError(e1);
    assert.deepEqual(none, []);
    const { data: rows, error: e2 } = await traced.from('tc_traced').select('id, note');
    assert.ifError(e2);
    assert.deepEqual(rows, [{ id: 1, note: 'seen only with a traceparent' }]);
  });

  test('a write sees the context too (column defaults), in the open transaction of a single-object insert', async () => {
    const c = stack.client(stack.anonKey, { global: { headers: { traceparent: TRACEPARENT, Authorization: `Bearer ${alice.session.access_token}` } } });
    const { data, error } = await c.from('tc_ctx_log').insert({ note: 'w' }).select('method, path, trace').single();
    assert.ifError(error);
    assert.deepEqual(data, { method: 'POST', path: '/tc_ctx_log', trace: TRACEPARENT });
    const r = await httpRequest(stack.server.port, '/rest/v1/tc_ctx_log?select=method,path,theme', {
      method: 'POST',
      headers: { apikey: stack.anonKey, authorization: `Bearer ${alice.session.access_token}`, 'content-type': 'application/json',
        prefer: 'return=representation', cookie: 'theme=light' },
      body: JSON.stringify({ note: 'raw' }),
    });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json, [{ method: 'POST', path: '/tc_ctx_log', theme: 'light' }]);
  });

  test('the context is transaction-local: the next request on the connection does not see the last one\'s', async () => {
    // the server's pool has a few connections; enough requests reuse each
    const withCookie = { apikey: stack.anonKey, cookie: 'left=over', 'x-left': 'over' };
    for (let i = 0; i < 6; i++) await httpRequest(stack.server.port, '/rest/v1/rpc/tc_request_context', { headers: withCookie });
    for (let i = 0; i < 6; i++) {
      const r = await httpRequest(stack.server.port, '/rest/v1/rpc/tc_request_context', { headers: { apikey: stack.anonKey } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.cookies, {});
      assert.equal(r.json.headers['x-left'], undefined);
    }
  });

  test('no header value (tokens included) reaches the server log', async () => {
    const probe = `probe-${crypto.randomUUID()}`;
    const r = await httpRequest(stack.server.port, '/rest/v1/rpc/tc_request_context', {
      headers: { apikey: stack.anonKey, authorization: `Bearer ${alice.session.access_token}`, 'x-probe': probe, cookie: `s=${probe}` },
    });
    assert.equal(r.status, 200, r.text);
    // and one that fails in the database, with the context set
    const bad = await httpRequest(stack.server.port, '/rest/v1/rpc/tc_no_such_function', {
      headers: { apikey: stack.anonKey, 'x-probe': probe },
    });
    assert.equal(bad.status, 404, bad.text);
    const lines = stack.server.stderrLines.join('\n');
    assert.ok(!lines.includes(probe), 'a header value was logged');
    assert.ok(!lines.includes(alice.session.access_token), 'a token was logged');
    assert.ok(!lines.includes(stack.anonKey), 'the apikey was logged');
  });
});
