// 1. connect + join, 2. heartbeat.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';

import { RawWs, T, VSNS, joined, newClient, once, startServer, teardown, topicName } from './harness.mjs';

describe('connect, join and heartbeat', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(() => teardown(server));

  for (const vsn of VSNS) {
    describe(`vsn ${vsn}`, () => {
      test('realtime-js subscribes: SUBSCRIBED, socket open', async () => {
        const client = newClient(server, { vsn });
        const ch = client.channel(topicName());
        await joined(ch);
        assert.equal(client.isConnected(), true);
        assert.equal(ch.state, 'joined');
        assert.match(client.endpointURL(), new RegExp(`vsn=${vsn.replace(/\./g, '\\.')}$`));
      });

      test('join reply on the wire is {status: ok, response: {postgres_changes: []}}', async () => {
        const raw = await RawWs.open(server, { vsn });
        const topic = `realtime:${topicName()}`;
        const reply = await raw.join(topic, { access_token: server.token() });
        assert.equal(reply.topic, topic);
        assert.equal(reply.join_ref, reply.ref, 'reply echoes the join_ref');
        assert.deepEqual(reply.payload, { status: 'ok', response: { postgres_changes: [] } });
        await raw.close();
      });

      test('join without access_token falls back to the connection apikey', async () => {
        const raw = await RawWs.open(server, { vsn });
        const reply = await raw.join(`realtime:${topicName()}`);
        assert.equal(reply.payload.status, 'ok');
        await raw.close();
      });

      test('raw heartbeat gets phx_reply ok with the same ref', async () => {
        const raw = await RawWs.open(server, { vsn });
        raw.sendRaw(vsn === '2.0.0'
          ? '[null,"1","phoenix","heartbeat",{}]'
          : '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}');
        const r = await raw.frames.wait((f) => f.ref === '1', { message: 'heartbeat reply' });
        assert.equal(r.topic, 'phoenix');
        assert.equal(r.event, 'phx_reply');
        assert.deepEqual(r.payload, { status: 'ok', response: {} });
        if (vsn === '2.0.0') assert.equal(r.join_ref, null);
        // a second one with another ref: the reply follows the ref
        raw.send({ ref: '77', topic: 'phoenix', event: 'heartbeat', payload: {} });
        const r2 = await raw.frames.wait((f) => f.ref === '77', { message: 'second heartbeat reply' });
        assert.equal(r2.payload.status, 'ok');
        await raw.close();
      });

      test('client.sendHeartbeat() is answered ok (heartbeat callback)', async () => {
        const client = newClient(server, { vsn });
        const beats = new EventEmitter();
        client.onHeartbeat((status, latency) => beats.emit('hb', { status, latency }));
        await joined(client.channel(topicName()));
        const ok = once(beats, 'hb', { pred: (h) => h.status === 'ok', timeout: T(3000), message: 'heartbeat ok' });
        await client.sendHeartbeat();
        const h = await ok;
        assert.equal(h.status, 'ok');
        assert.equal(typeof h.latency, 'number');
      });

      test('unknown event on topic phoenix is an error reply, not a disconnect', async () => {
        const raw = await RawWs.open(server, { vsn });
        const r = await raw.request({ topic: 'phoenix', event: 'bogus', payload: {} });
        assert.equal(r.payload.status, 'error');
        assert.equal(r.payload.response.reason, 'unknown event on topic phoenix');
        const hb = await raw.request({ topic: 'phoenix', event: 'heartbeat', payload: {} });
        assert.equal(hb.payload.status, 'ok');
        await raw.close();
      });
    });
  }

  test('a socket without vsn speaks 1.0.0 (Phoenix default)', async () => {
    const raw = await RawWs.open(server, { vsn: '1.0.0', query: `apikey=${server.apikey}` });
    raw.sendRaw('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"}');
    const r = await raw.frames.wait((f) => f.ref === '5');
    assert.equal(r.event, 'phx_reply');
    await raw.close();
  });

  test('an unknown vsn is refused with 400', async () => {
    await assert.rejects(RawWs.open(server, { vsn: '3.0.0' }), (e) => e.status === 400 && /only 1\.0\.0 and 2\.0\.0/.test(e.body));
  });
});
