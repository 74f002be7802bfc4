// 6. refused tokens: at join (CHANNEL_ERROR with the server's reason) and
// on the connection itself (the upgrade is refused).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { RawWs, T, VSNS, b64url, httpRequest, metrics, newClient, nowS, sign, startServer, subscribe, teardown, topicName, waitFor } from './harness.mjs';

describe('refused tokens', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(() => teardown(server));

  // Tokens are made when a test runs (the server, and its secret, exist by then).
  const CASES = [
    { name: 'expired token', token: () => server.token({ expIn: -30 }), reason: /Token has expired (3\d|29) seconds ago/ },
    {
      name: 'token signed with another secret',
      token: () => sign({ role: 'authenticated', exp: nowS() + 3600 }, crypto.randomBytes(30).toString('base64url')),
      reason: /^Failed to validate JWT signature$/,
    },
    {
      name: 'alg none',
      token: () => `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ role: 'service_role', exp: nowS() + 3600 }))}.`,
      reason: /^Unsupported JWT algorithm: none$/,
    },
    {
      name: 'alg none with a copied HS256 signature',
      token: () => {
        const good = server.token().split('.');
        return `${b64url(JSON.stringify({ alg: 'none' }))}.${good[1]}.${good[2]}`;
      },
      reason: /^Unsupported JWT algorithm: none$/,
    },
    { name: 'missing role', token: () => sign({ exp: nowS() + 3600 }, server.secret), reason: /^Fields `role` and `exp` are required in JWT$/ },
    { name: 'missing exp', token: () => sign({ role: 'authenticated' }, server.secret), reason: /^Fields `role` and `exp` are required in JWT$/ },
    { name: 'garbage', token: () => 'this-is-not.a-jwt', reason: /not a valid JWT/ },
    { name: 'truncated signature', token: () => server.token().slice(0, -4), reason: /not a valid JWT|Failed to validate JWT signature/ },
  ];

  for (const vsn of VSNS) {
    describe(`vsn ${vsn}: join refused`, () => {
      for (const c of CASES) {
        test(`${c.name} → CHANNEL_ERROR with the reason`, async () => {
          const client = newClient(server, { vsn, token: c.token() });
          const ch = client.channel(topicName());
          const s = await subscribe(ch);
          assert.equal(s.status, 'CHANNEL_ERROR');
          assert.match(s.err.message, c.reason);
          assert.notEqual(ch.state, 'joined');
          await client.removeChannel(ch);
          // the socket survives a refused join: another join with a good token works
          await client.setAuth(server.token());
          const ok = await subscribe(client.channel(topicName()));
          assert.equal(ok.status, 'SUBSCRIBED');
        });
      }
    });
  }

  test('join refusal on the wire: phx_reply error with {reason}', async () => {
    const raw = await RawWs.open(server, { vsn: '2.0.0' });
    const r = await raw.join(`realtime:${topicName()}`, { access_token: server.token({ expIn: -5 }) });
    assert.equal(r.payload.status, 'error');
    assert.deepEqual(Object.keys(r.payload.response), ['reason']);
    assert.match(r.payload.response.reason, /^Token has expired \d+ seconds ago$/);
    await raw.close();
  });

  test('a forged apikey on the connection → HTTP 403 and the realtime-js client never opens', async () => {
    const forged = sign({ role: 'service_role', exp: nowS() + 3600 }, 'not-the-secret-0123456789012345678901234');
    await assert.rejects(RawWs.open(server, { apikey: forged }), (e) => {
      assert.equal(e.status, 403);
      assert.match(JSON.parse(e.body).error, /^Failed to validate JWT signature$/);
      return true;
    });
    const expired = server.token({ expIn: -60 });
    await assert.rejects(RawWs.open(server, { apikey: expired }), (e) => e.status === 403 && /Token has expired/.test(e.body));

    const before = (await metrics(server)).get('realtime_connects_total');
    const client = newClient(server, { apikey: forged });
    let opened = 0;
    let errors = 0;
    client.socketAdapter.onOpen(() => opened++);
    client.socketAdapter.onError(() => errors++);
    const ch = client.channel(topicName());
    ch.subscribe();
    await waitFor(() => errors >= 2, { timeout: T(5000), message: 'two failed connection attempts' });
    assert.equal(opened, 0);
    assert.equal(client.isConnected(), false);
    assert.notEqual(ch.state, 'joined');
    assert.equal((await metrics(server)).get('realtime_connects_total'), before, 'no upgrade was accepted');
  });

  test('no apikey on the connection → HTTP 401', async () => {
    await assert.rejects(RawWs.open(server, { apikey: null }), (e) => {
      assert.equal(e.status, 401);
      assert.equal(JSON.parse(e.body).error, 'API key is missing or not a valid string');
      return true;
    });
  });

  test('the apikey may come in a header instead of the query', async () => {
    const r = await httpRequest(server.port, '/realtime/v1/websocket?vsn=2.0.0', {
      headers: {
        upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13',
        'sec-websocket-key': crypto.randomBytes(16).toString('base64'), apikey: 'garbage',
      },
    });
    assert.equal(r.status, 403);
    assert.match(r.json.error, /not a valid JWT/);
  });

  test('refused tokens are counted in realtime_auth_errors_total', async () => {
    const m = await metrics(server);
    assert.ok(m.get('realtime_auth_errors_total') >= VSNS.length * CASES.length, `auth errors ${m.get('realtime_auth_errors_total')}`);
    assert.ok(m.get('realtime_join_errors_total') >= VSNS.length * CASES.length);
  });
});
