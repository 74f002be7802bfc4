// 3. broadcast between clients: self, ack, binary payloads, large payloads.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { RawWs, VSNS, joined, listen, newClient, startServer, teardown, topicName } from './harness.mjs';

const MAX_MESSAGE = 128 * 1024;

describe('broadcast', () => {
  let server;
  before(async () => { server = await startServer({ flags: ['--max-message-bytes', String(MAX_MESSAGE)] }); });
  after(() => teardown(server));

  /** Two clients of vsn joined to one topic; a listens to every broadcast. */
  async function pair(vsn, { selfA = false, selfB = false, ackB = false } = {}) {
    const topic = topicName();
    const a = newClient(server, { vsn });
    const b = newClient(server, { vsn });
    const chA = a.channel(topic, { config: { broadcast: { self: selfA } } });
    const chB = b.channel(topic, { config: { broadcast: { self: selfB, ack: ackB } } });
    const inA = listen(chA);
    const inB = listen(chB);
    await joined(chA);
    await joined(chB);
    return { topic, a, b, chA, chB, inA, inB };
  }

  for (const vsn of VSNS) {
    describe(`vsn ${vsn}`, () => {
      test('a broadcast reaches the other client with event and payload intact', async () => {
        const { chA, chB, inA } = await pair(vsn);
        const payload = { text: 'héllo ✓ 🎉', n: 42, nested: { list: [1, null, true] } };
        assert.equal(await chB.send({ type: 'broadcast', event: 'chat', payload }), 'ok');
        const m = await inA.wait((x) => x.event === 'chat');
        assert.equal(m.type, 'broadcast');
        assert.deepEqual(m.payload, payload);
        // the listener filter by event works on what the server sent
        const only = listen(chA, 'broadcast', { event: 'only-this' });
        await chB.send({ type: 'broadcast', event: 'other', payload: { i: 1 } });
        await chB.send({ type: 'broadcast', event: 'only-this', payload: { i: 2 } });
        const m2 = await only.wait();
        assert.deepEqual(m2.payload, { i: 2 });
        assert.equal(only.count(), 1);
        // 'other' was sent first, so it has arrived by now, exactly once
        assert.equal(inA.count((x) => x.event === 'other'), 1);
      });

      test('self: false — the sender does not receive its own broadcast', async () => {
        const { chA, chB, inA, inB } = await pair(vsn, { selfB: false });
        await chB.send({ type: 'broadcast', event: 'mine', payload: { id: 'from-b' } });
        await inA.wait((x) => x.event === 'mine');
        // A's reply is published after B's message, so B's own copy (if the
        // server sent one) would be in front of it on B's socket.
        await chA.send({ type: 'broadcast', event: 'marker', payload: {} });
        await inB.wait((x) => x.event === 'marker');
        assert.equal(inB.count((x) => x.event === 'mine'), 0);
      });

      test('self: true — the sender receives its own broadcast', async () => {
        const { chB, inA, inB } = await pair(vsn, { selfB: true });
        await chB.send({ type: 'broadcast', event: 'echo', payload: { k: 'v' } });
        const own = await inB.wait((x) => x.event === 'echo');
        assert.deepEqual(own.payload, { k: 'v' });
        await inA.wait((x) => x.event === 'echo');
      });

      test('ack: true — send() resolves ok after the server reply', async () => {
        const { chB, inA } = await pair(vsn, { ackB: true });
        const r = await chB.send({ type: 'broadcast', event: 'acked', payload: { a: 1 } });
        assert.equal(r, 'ok');
        await inA.wait((x) => x.event === 'acked');
      });

      test('ack on the wire: phx_reply ok on the push ref', async () => {
        const topic = `realtime:${topicName()}`;
        const raw = await RawWs.open(server, { vsn });
        const jr = (await raw.join(topic, { config: { broadcast: { ack: true, self: true } } })).ref;
        const reply = await raw.request({ join_ref: jr, topic, event: 'broadcast', payload: { type: 'broadcast', event: 'e', payload: { x: 1 } } });
        assert.deepEqual(reply.payload, { status: 'ok', response: {} });
        const own = await raw.frames.wait((f) => f.event === 'broadcast');
        assert.equal(own.topic, topic);
        assert.equal(own.payload.event, 'e');
        assert.deepEqual(own.payload.payload, { x: 1 });
        await raw.close();
      });

      test('a large payload near --max-message-bytes arrives intact', async () => {
        const { chB, inA } = await pair(vsn, { ackB: true });
        // room for the envelope (topic, event, JSON framing) under the limit
        const big = crypto.randomBytes((MAX_MESSAGE - 2048) * 3 / 4).toString('base64');
        assert.ok(big.length > MAX_MESSAGE - 4096);
        assert.equal(await chB.send({ type: 'broadcast', event: 'big', payload: { big } }), 'ok');
        const m = await inA.wait((x) => x.event === 'big');
        assert.equal(m.payload.big.length, big.length);
        assert.equal(m.payload.big, big);
      });
    });
  }

  test('binary payload (vsn 2.0.0): ArrayBuffer arrives as ArrayBuffer with identical bytes; a vsn 1.0.0 subscriber gets the JSON broadcasts but not the binary one', async () => {
    const topic = topicName();
    const sender = newClient(server, { vsn: '2.0.0' });
    const v2 = newClient(server, { vsn: '2.0.0' });
    const v1 = newClient(server, { vsn: '1.0.0' });
    const chS = sender.channel(topic, { config: { broadcast: { ack: true } } });
    const ch2 = v2.channel(topic);
    const ch1 = v1.channel(topic);
    const in2 = listen(ch2);
    const in1 = listen(ch1);
    await joined(chS);
    await joined(ch2);
    await joined(ch1);

    const bytes = crypto.randomBytes(4096);
    bytes[0] = 0; bytes[1] = 0xff; bytes[2] = 0xc3; // NUL and invalid UTF-8 on purpose
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    assert.equal(await chS.send({ type: 'broadcast', event: 'json-before', payload: { n: 1 } }), 'ok');
    assert.equal(await chS.send({ type: 'broadcast', event: 'blob', payload: ab }), 'ok');
    assert.equal(await chS.send({ type: 'broadcast', event: 'json-after', payload: { n: 2 } }), 'ok');

    const got = await in2.wait((x) => x.event === 'blob');
    assert.ok(got.payload instanceof ArrayBuffer, `payload is ${Object.prototype.toString.call(got.payload)}`);
    assert.deepEqual(Buffer.from(got.payload), bytes);
    await in2.wait((x) => x.event === 'json-after');

    // vsn 1.0.0 has no binary frames: the raw payload cannot be carried, so
    // the server skips it for vsn 1 subscribers (as supabase/realtime does)
    // while JSON broadcasts on either side of it still arrive, in order.
    await in1.wait((x) => x.event === 'json-after');
    assert.deepEqual(in1.items.map((x) => x.event), ['json-before', 'json-after']);
  });

  test('binary payload on the wire: kind 4 frame with encoding 0 and the exact bytes', async () => {
    const topic = `realtime:${topicName()}`;
    const raw = await RawWs.open(server, { vsn: '2.0.0' });
    await raw.join(topic);
    const sender = newClient(server, { vsn: '2.0.0' });
    const ch = sender.channel(topic.slice('realtime:'.length), { config: { broadcast: { ack: true } } });
    await joined(ch);
    const bytes = Uint8Array.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    assert.equal(await ch.send({ type: 'broadcast', event: 'bin', payload: bytes.buffer }), 'ok');
    const f = await raw.frames.wait((x) => x.binary);
    assert.equal(f.encoding, 0);
    assert.equal(f.topic, topic);
    assert.equal(f.payload.event, 'bin');
    assert.deepEqual([...f.payload.payload], [...bytes]);
    await raw.close();
  });
});
