// 11. HTTP: health, metrics, the broadcast API, realtime-js's REST fallback.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { VSNS, httpPipeline, httpRequest, joined, listen, metrics, newClient, sign, nowS, startServer, teardown, topicName } from './harness.mjs';

describe('HTTP', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(() => teardown(server));

  const auth = (token = server.token()) => ({ apikey: server.apikey, authorization: `Bearer ${token}` });
  const postJson = (path, body, headers = auth()) =>
    httpRequest(server.port, path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  test('GET /health → 200 JSON with the open connection count', async () => {
    const before = await httpRequest(server.port, '/health');
    assert.equal(before.status, 200);
    assert.match(before.headers['content-type'], /^application\/json/);
    assert.equal(before.json.status, 'ok');
    assert.equal(before.json.postgres_changes, 'off'); // no database configured here
    const client = newClient(server);
    await joined(client.channel(topicName()));
    const r = await httpRequest(server.port, '/health');
    assert.equal(r.json.connections, before.json.connections + 1);
    for (const p of ['/api/health', '/realtime/v1/api/health']) assert.equal((await httpRequest(server.port, p)).status, 200, p);
  });

  test('GET /metrics → Prometheus text with the realtime_* series', async () => {
    const client = newClient(server);
    await joined(client.channel(topicName()));
    const r = await httpRequest(server.port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain/);
    assert.match(r.text, /^# TYPE realtime_connections gauge$/m);
    const m = await metrics(server);
    for (const name of ['realtime_connections', 'realtime_channels', 'realtime_connects_total', 'realtime_messages_in_total',
      'realtime_messages_out_total', 'realtime_joins_total', 'realtime_broadcasts_total', 'realtime_http_requests_total',
      'realtime_slow_consumer_closes_total', 'realtime_idle_closes_total']) {
      assert.ok(m.has(name), `missing ${name}`);
      assert.ok(Number.isFinite(m.get(name)), `${name} is not a number`);
    }
    assert.ok(m.get('realtime_connections') >= 1);
    assert.ok(m.get('realtime_channels') >= 1);
    assert.ok(m.get('realtime_joins_total') >= 1);
  });

  test('unknown paths → 404; CORS preflight → 204; GET on the broadcast API → 405', async () => {
    assert.equal((await httpRequest(server.port, '/nope')).status, 404);
    const pre = await httpRequest(server.port, '/realtime/v1/api/broadcast', { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
    assert.equal((await httpRequest(server.port, '/realtime/v1/api/broadcast')).status, 405);
  });

  test('HEAD: the headers a GET gets, no body, and the next answer on the connection intact', async () => {
    const get = await httpRequest(server.port, '/nope');
    const { responses, rest } = await httpPipeline(server.port, [
      { method: 'HEAD', path: '/health' },
      { method: 'HEAD', path: '/nope' },
      { method: 'HEAD', path: '/realtime/v1/api/broadcast' },
      { method: 'GET', path: '/health' },
    ]);
    assert.equal(rest.length, 0, `bytes after the last answer: ${JSON.stringify(rest.toString().slice(0, 120))}`);
    assert.deepEqual(responses.map((r) => r.status), [200, 404, 405, 200]);
    assert.ok(Number(responses[0].headers['content-length']) > 0, 'a HEAD says how long the GET body is');
    assert.equal(responses[1].headers['content-length'], get.headers['content-length']);
    assert.equal(JSON.parse(responses[3].body).status, 'ok');
  });

  for (const vsn of VSNS) {
    describe(`vsn ${vsn} subscriber`, () => {
      test('POST /realtime/v1/api/broadcast {messages} → 202, delivered', async () => {
        const topic = topicName();
        const client = newClient(server, { vsn });
        const inbox = listen(client.channel(topic));
        await joined(client.getChannels()[0]);
        const r = await postJson('/realtime/v1/api/broadcast', {
          messages: [
            { topic, event: 'rest-1', payload: { a: 1 } },
            { topic, event: 'rest-2', payload: { b: [1, 2] }, private: false },
            { topic: topicName('nobody'), event: 'lost', payload: {} },
          ],
        });
        assert.equal(r.status, 202, r.text);
        const m1 = await inbox.wait((m) => m.event === 'rest-1');
        const m2 = await inbox.wait((m) => m.event === 'rest-2');
        assert.deepEqual(m1.payload, { a: 1 });
        assert.deepEqual(m2.payload, { b: [1, 2] });
        assert.deepEqual(inbox.items.map((m) => m.event), ['rest-1', 'rest-2']);
      });

      test('POST /realtime/v1/api/broadcast/<topic>/events/<event> with JSON → 202, delivered', async () => {
        const topic = topicName();
        const client = newClient(server, { vsn });
        const inbox = listen(client.channel(topic));
        await joined(client.getChannels()[0]);
        const r = await postJson(`/realtime/v1/api/broadcast/${topic}/events/single`, { hello: 'world', n: [1, 2, 3] });
        assert.equal(r.status, 202, r.text);
        const m = await inbox.wait((x) => x.event === 'single');
        assert.deepEqual(m.payload, { hello: 'world', n: [1, 2, 3] });
      });

      test('channel.httpSend() from realtime-js → 202 and delivered', async () => {
        const topic = topicName();
        const sub = newClient(server, { vsn });
        const inbox = listen(sub.channel(topic));
        await joined(sub.getChannels()[0]);
        const sender = newClient(server, { vsn, token: server.token() });
        const res = await sender.channel(topic).httpSend('via-http', { x: 'y' });
        assert.deepEqual(res, { success: true });
        const m = await inbox.wait((x) => x.event === 'via-http');
        assert.deepEqual(m.payload, { x: 'y' });
      });

      test('channel.send() on a channel that is not joined falls back to the HTTP API', async () => {
        const topic = topicName();
        const sub = newClient(server, { vsn });
        const inbox = listen(sub.channel(topic));
        await joined(sub.getChannels()[0]);
        const sender = newClient(server, { vsn, token: server.token() });
        const ch = sender.channel(topic); // never subscribed
        const before = (await metrics(server)).get('realtime_http_requests_total');
        assert.equal(await ch.send({ type: 'broadcast', event: 'fallback', payload: { via: 'rest' } }), 'ok');
        const m = await inbox.wait((x) => x.event === 'fallback');
        assert.deepEqual(m.payload, { via: 'rest' });
        assert.equal(sender.isConnected(), false, 'the sender never opened a WebSocket');
        assert.ok(sender.testLogs.some((l) => /falling back to REST/.test(l.msg)), 'realtime-js took its REST path');
        assert.ok((await metrics(server)).get('realtime_http_requests_total') > before);
      });
    });
  }

  test('application/octet-stream → delivered as binary (ArrayBuffer) to a vsn 2.0.0 client, skipped for vsn 1.0.0', async () => {
    const topic = topicName();
    const v2 = newClient(server, { vsn: '2.0.0' });
    const v1 = newClient(server, { vsn: '1.0.0' });
    const in2 = listen(v2.channel(topic));
    const in1 = listen(v1.channel(topic));
    await joined(v2.getChannels()[0]);
    await joined(v1.getChannels()[0]);
    const bytes = crypto.randomBytes(1000);
    const r = await httpRequest(server.port, `/realtime/v1/api/broadcast/${topic}/events/blob`, {
      method: 'POST', headers: { ...auth(), 'content-type': 'application/octet-stream' }, body: bytes,
    });
    assert.equal(r.status, 202, r.text);
    const m = await in2.wait((x) => x.event === 'blob');
    assert.ok(m.payload instanceof ArrayBuffer);
    assert.deepEqual(Buffer.from(m.payload), bytes);
    // marker: JSON sent after the binary reaches the vsn 1 client, the binary never does
    assert.equal((await postJson(`/realtime/v1/api/broadcast/${topic}/events/marker`, {})).status, 202);
    await in1.wait((x) => x.event === 'marker');
    assert.deepEqual(in1.items.map((x) => x.event), ['marker']);
  });

  test('httpSend() with an ArrayBuffer goes out as octet-stream and arrives as the same bytes', async () => {
    const topic = topicName();
    const sub = newClient(server, { vsn: '2.0.0' });
    const inbox = listen(sub.channel(topic));
    await joined(sub.getChannels()[0]);
    const sender = newClient(server, { token: server.token() });
    const bytes = Uint8Array.from([0, 255, 1, 254, 2]);
    assert.deepEqual(await sender.channel(topic).httpSend('bin', bytes.buffer), { success: true });
    const m = await inbox.wait((x) => x.event === 'bin');
    assert.deepEqual([...new Uint8Array(m.payload)], [...bytes]);
  });

  describe('refusals', () => {
    test('bad, expired or missing token → 401 with the reason', async () => {
      const topic = topicName();
      const forged = sign({ role: 'service_role', exp: nowS() + 60 }, 'x'.repeat(40));
      const cases = [
        [{ authorization: `Bearer ${forged}` }, /^Failed to validate JWT signature$/],
        [{ authorization: `Bearer ${server.token({ expIn: -5 })}` }, /^Token has expired/],
        [{ authorization: 'Bearer garbage' }, /not a valid JWT/],
        [{ apikey: forged }, /^Failed to validate JWT signature$/],
        [{}, /^API key is missing/],
      ];
      for (const [headers, re] of cases) {
        const r = await postJson('/realtime/v1/api/broadcast', { messages: [{ topic, event: 'e', payload: {} }] }, headers);
        assert.equal(r.status, 401, `${JSON.stringify(headers)} → ${r.status}`);
        assert.match(r.json.error, re);
        const r2 = await postJson(`/realtime/v1/api/broadcast/${topic}/events/e`, {}, headers);
        assert.equal(r2.status, 401);
      }
      // realtime-js reports the refusal
      const sender = newClient(server, { token: server.token({ expIn: -5 }) });
      await assert.rejects(sender.channel(topic).httpSend('e', { a: 1 }), /Token has expired/);
    });

    test('malformed bodies → 400; a refused request publishes nothing', async () => {
      const topic = topicName();
      const client = newClient(server);
      const inbox = listen(client.channel(topic));
      await joined(client.getChannels()[0]);
      const bad = [
        ['/realtime/v1/api/broadcast', 'not json'],
        ['/realtime/v1/api/broadcast', JSON.stringify({ messages: 'nope' })],
        ['/realtime/v1/api/broadcast', JSON.stringify({ messages: [{ topic, event: 'ok-one', payload: {} }, { topic, payload: {} }] })],
        ['/realtime/v1/api/broadcast', JSON.stringify({ messages: [{ topic, event: 'priv', payload: {}, private: true }] })],
        [`/realtime/v1/api/broadcast/${topic}/events/e`, '{broken'],
      ];
      for (const [p, body] of bad) {
        const r = await httpRequest(server.port, p, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body });
        assert.equal(r.status, 400, `${p} ${body} → ${r.status}`);
        assert.equal(typeof r.json.error, 'string');
      }
      assert.equal((await httpRequest(server.port, `/realtime/v1/api/broadcast/${topic}`, { method: 'POST', headers: auth(), body: '{}' })).status, 404);
      assert.equal((await postJson(`/realtime/v1/api/broadcast/${topic}/events/marker`, {})).status, 202);
      await inbox.wait((m) => m.event === 'marker');
      assert.deepEqual(inbox.items.map((m) => m.event), ['marker'], 'nothing from a refused batch was published');
    });
  });
});
