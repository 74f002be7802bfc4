// 7. malformed input is answered (phx_error or a close code) while the other
// clients on the same topic keep working.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  RawTcp, RawWs, VSNS, encodeClientFrame, encodeText, encodeUserBroadcastPush, joined, listen, metrics, newClient, startServer,
  teardown, topicName,
} from './harness.mjs';

const MAX = 16384;

describe('malformed input', () => {
  let server;
  before(async () => { server = await startServer({ flags: ['--max-message-bytes', String(MAX)] }); });
  after(() => teardown(server));

  for (const vsn of VSNS) {
    describe(`vsn ${vsn}`, () => {
      const topic = topicName('malformed');
      const wire = `realtime:${topic}`;
      let chA, inB, seq = 0;

      before(async () => {
        const a = newClient(server, { vsn });
        const b = newClient(server, { vsn });
        chA = a.channel(topic, { config: { broadcast: { ack: true } } });
        const chB = b.channel(topic);
        inB = listen(chB);
        await joined(chA);
        await joined(chB);
      });

      /** The healthy realtime-js pair still exchanges a broadcast. */
      async function pairStillWorks() {
        const n = ++seq;
        assert.equal(await chA.send({ type: 'broadcast', event: 'health', payload: { n } }), 'ok');
        await inB.wait((m) => m.event === 'health' && m.payload.n === n, { message: `healthy broadcast #${n}` });
      }

      /** A raw ws client joined to the pair's topic. */
      async function rawOnTopic() {
        const raw = await RawWs.open(server, { vsn });
        assert.equal((await raw.join(wire)).payload.status, 'ok');
        return raw;
      }

      /** Asserts a phx_error on topic "phoenix" whose reason matches re, and
       * that the raw socket is still served afterwards. */
      async function answeredWithPhxError(raw, re) {
        const e = await raw.frames.wait((f) => f.event === 'phx_error', { message: 'phx_error' });
        assert.equal(e.topic, 'phoenix');
        assert.equal(e.ref, null);
        assert.match(e.payload.reason, /^malformed message: /);
        assert.match(e.payload.reason, re);
        const hb = await raw.request({ topic: 'phoenix', event: 'heartbeat', payload: {} });
        assert.equal(hb.payload.status, 'ok', 'socket still answers after the error');
        assert.equal(raw.closeInfo, null);
      }

      test('non-JSON text → phx_error "malformed message", socket kept', async () => {
        const raw = await rawOnTopic();
        raw.sendRaw('this is {not json');
        await answeredWithPhxError(raw, /invalid JSON/);
        await pairStillWorks();
        await raw.close();
      });

      test('JSON of the wrong shape → phx_error', async () => {
        const raw = await rawOnTopic();
        raw.sendRaw(vsn === '2.0.0' ? '["1","2","realtime:x"]' : '["1","2","realtime:x","e",{}]');
        await answeredWithPhxError(raw, vsn === '2.0.0' ? /expected a JSON array of 5 elements/ : /expected a JSON object/);
        raw.sendRaw(encodeText(vsn, { ref: '9', topic: wire, event: 'broadcast', payload: null }));
        const second = await raw.frames.wait((f) => f.event === 'phx_error' && /payload must be an object/.test(f.payload.reason), { message: 'second phx_error' });
        assert.equal(second.topic, 'phoenix');
        await pairStillWorks();
        await raw.close();
      });

      test(vsn === '2.0.0' ? 'binary frame of kind 9 → phx_error' : 'any binary frame → phx_error (vsn 1.0.0 has none)', async () => {
        const raw = await rawOnTopic();
        raw.sendRaw(Buffer.from([9, 0, 0, 0, 0, 0, 1, 0x7b, 0x7d]), { binary: true });
        await answeredWithPhxError(raw, vsn === '2.0.0' ? /unsupported binary message kind 9/ : /binary frames need vsn 2\.0\.0/);
        if (vsn === '2.0.0') {
          // truncated kind 3 header, and lengths beyond the frame
          raw.sendRaw(Buffer.from([3, 0, 0]), { binary: true });
          await raw.frames.wait((f) => f.event === 'phx_error' && /truncated binary frame header/.test(f.payload.reason));
          raw.sendRaw(Buffer.from([3, 0, 0, 200, 1, 0, 1, 0x61]), { binary: true });
          await raw.frames.wait((f) => f.event === 'phx_error' && /shorter than its declared lengths/.test(f.payload.reason));
          // a well-formed kind 3 push from the raw client still reaches the pair
          raw.sendRaw(encodeUserBroadcastPush({ topic: wire, event: 'from-raw', payload: { ok: true } }), { binary: true });
          const m = await inB.wait((x) => x.event === 'from-raw');
          assert.deepEqual(m.payload, { ok: true });
        }
        await pairStillWorks();
        await raw.close();
      });

      test('unmasked client frame (raw TCP) → close 1002', async () => {
        const tcp = await RawTcp.open(server, { vsn });
        tcp.sendText(encodeText(vsn, { join_ref: '1', ref: '1', topic: wire, event: 'phx_join', payload: { config: {} } }));
        await tcp.frames.wait((f) => f.opcode === 1 && f.payload.includes('phx_reply'), { message: 'join reply over raw TCP' });
        tcp.sendText(encodeText(vsn, { ref: '2', topic: 'phoenix', event: 'heartbeat', payload: {} }), { mask: false });
        const c = await tcp.frames.wait((f) => f.opcode === 8, { message: 'close frame' });
        assert.equal(c.code, 1002);
        assert.equal(c.reason, 'protocol error');
        await tcp.ended;
        await pairStillWorks();
      });

      test('reserved bits set (raw TCP) → close 1002', async () => {
        const tcp = await RawTcp.open(server, { vsn });
        const f = encodeClientFrame(1, Buffer.from(encodeText(vsn, { ref: '1', topic: 'phoenix', event: 'heartbeat', payload: {} })));
        f[0] |= 0x40; // RSV1 without a negotiated extension
        tcp.write(f);
        const c = await tcp.frames.wait((x) => x.opcode === 8);
        assert.equal(c.code, 1002);
        await tcp.ended;
        await pairStillWorks();
      });

      test('fragmented message with a ping in between is reassembled (raw TCP)', async () => {
        const tcp = await RawTcp.open(server, { vsn });
        const text = Buffer.from(encodeText(vsn, { join_ref: '1', ref: '1', topic: wire, event: 'phx_join', payload: { config: {} } }));
        tcp.write(encodeClientFrame(1, text.subarray(0, 10), { fin: false }));
        tcp.write(encodeClientFrame(9, Buffer.from('ping!')));
        tcp.write(encodeClientFrame(0, text.subarray(10, 20), { fin: false }));
        tcp.write(encodeClientFrame(0, text.subarray(20)));
        const pong = await tcp.frames.wait((x) => x.opcode === 0xa, { message: 'pong' });
        assert.equal(pong.payload.toString(), 'ping!');
        const reply = await tcp.frames.wait((x) => x.opcode === 1 && x.payload.includes('phx_reply'), { message: 'join reply' });
        const r = JSON.parse(reply.payload.toString());
        assert.equal(vsn === '2.0.0' ? r[4].status : r.payload.status, 'ok');
        tcp.destroy();
        await pairStillWorks();
      });

      test('invalid UTF-8 in a text frame → close 1007', async () => {
        const raw = await rawOnTopic();
        raw.sendRaw(Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d]), { binary: false });
        const c = await raw.closed;
        assert.equal(c.code, 1007);
        assert.equal(c.reason, 'invalid UTF-8 in text frame');
        await pairStillWorks();
      });

      test('a message over --max-message-bytes → close 1009', async () => {
        const raw = await rawOnTopic();
        raw.send({ ref: '5', topic: wire, event: 'broadcast', payload: { type: 'broadcast', event: 'x', payload: { pad: 'x'.repeat(MAX + 1) } } });
        const c = await raw.closed;
        assert.equal(c.code, 1009);
        assert.equal(c.reason, 'message too big');
        assert.equal(inB.count((m) => m.event === 'x'), 0);
        await pairStillWorks();
      });
    });
  }

  test('protocol errors are counted in realtime_protocol_errors_total', async () => {
    const m = await metrics(server);
    // per vsn at least: bad JSON, 2 wrong shapes, binary, unmasked, RSV, UTF-8, too big
    assert.ok(m.get('realtime_protocol_errors_total') >= 16, `protocol errors ${m.get('realtime_protocol_errors_total')}`);
  });
});
