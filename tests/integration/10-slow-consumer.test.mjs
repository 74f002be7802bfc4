// 10. slow consumer: a client that stops reading is closed (1013) once its
// send queue passes --send-queue-bytes, while a fast subscriber on the same
// topic receives every message.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { RawTcp, T, VSNS, encodeText, joined, listen, metrics, newClient, startServer, teardown, topicName, waitFor } from './harness.mjs';

const QUEUE = 65536;
const PAYLOAD = 4096;   // bytes of padding per broadcast
const BURST = 8;        // broadcasts per step: 32 KiB, under the fast client's own queue limit
const MAX_MESSAGES = 4000; // 16 MiB: far more than the kernel buffers can hide

describe('slow consumer', () => {
  let server;
  before(async () => {
    server = await startServer({ flags: ['--send-queue-bytes', String(QUEUE), '--max-events-per-second', '1000000'] });
  });
  after(() => teardown(server));

  for (const vsn of VSNS) {
    test(`vsn ${vsn}: a paused reader is closed with 1013, the fast subscriber gets every message`, async () => {
      const topic = topicName('flood');
      const wire = `realtime:${topic}`;

      const slow = await RawTcp.open(server, { vsn });
      slow.sendText(encodeText(vsn, { join_ref: '1', ref: '1', topic: wire, event: 'phx_join', payload: { config: {} } }));
      await slow.frames.wait((f) => f.opcode === 1 && f.payload.includes('phx_reply'), { message: 'slow client join reply' });
      slow.sock.pause(); // stop reading: the kernel buffers fill, then the server's queue

      const fastClient = newClient(server, { vsn });
      const fast = fastClient.channel(topic);
      const got = listen(fast, 'broadcast', { event: 'flood' });
      await joined(fast);
      const sender = newClient(server, { vsn });
      const chS = sender.channel(topic);
      await joined(chS);

      const pad = 'p'.repeat(PAYLOAD);
      const slowCloses = () => server.logs().filter((l) => l.msg === 'slow consumer closed').length;
      const closesBefore = slowCloses();
      let sent = 0;
      // Paced flood: a burst, then wait until the fast subscriber has it all,
      // so only the paused client can fall behind.
      while (sent < MAX_MESSAGES && slowCloses() === closesBefore) {
        for (let i = 0; i < BURST; i++) {
          await chS.send({ type: 'broadcast', event: 'flood', payload: { seq: sent++, pad } });
        }
        await got.waitCount(sent, () => true, { timeout: T(5000), message: `fast subscriber to have ${sent} messages` });
      }
      assert.equal(slowCloses(), closesBefore + 1, `the paused client was not closed after ${sent} messages (${sent * PAYLOAD} bytes)`);
      const log = server.logs().filter((l) => l.msg === 'slow consumer closed').at(-1);
      assert.equal(log.limit, QUEUE);
      process.env.TC_VERBOSE && console.log(`slow consumer closed after ${sent} messages`);

      // a few more after the close: the fast client still gets everything, in order
      for (let i = 0; i < BURST; i++) await chS.send({ type: 'broadcast', event: 'flood', payload: { seq: sent++, pad } });
      await got.waitCount(sent, () => true, { message: `all ${sent} messages at the fast subscriber` });
      assert.deepEqual(got.items.map((m) => m.payload.seq), Array.from({ length: sent }, (_, i) => i));
      assert.equal(fast.state, 'joined');

      // resume reading: what the kernel held, then the close frame, then EOF
      slow.sock.resume();
      await withEnd(slow);
      const close = slow.frames.items.find((f) => f.opcode === 8);
      assert.ok(close, `no close frame after ${slow.bytesIn} bytes (TCP closed)`);
      assert.equal(close.code, 1013);
      assert.equal(close.reason, 'slow consumer: send queue full');
      assert.equal(slow.frames.items.at(-1), close, 'close is the last frame');
      // what it did get is an in-order prefix of the flood
      const seqs = slow.frames.items.filter((f) => f.opcode !== 8).map((f) => seqOf(vsn, f)).filter((s) => s !== null);
      assert.ok(seqs.length < sent, 'the slow client did not get everything');
      seqs.forEach((s, i) => assert.equal(s, i, 'slow client frames are an in-order prefix'));

      const m = await metrics(server);
      assert.ok(m.get('realtime_slow_consumer_closes_total') >= 1);
    });
  }
});

/** Waits for the slow socket's TCP close. */
function withEnd(tcp) {
  return waitFor(async () => { await tcp.ended; return true; }, { timeout: T(8000), message: 'slow client TCP close' });
}

/** The flood seq number carried by a server frame, or null for other frames. */
function seqOf(vsn, f) {
  if (f.opcode === 2) {
    const b = f.payload;
    if (b[0] !== 4) return null;
    const o = 5 + b[1] + b[2] + b[3];
    return JSON.parse(b.subarray(o).toString()).seq;
  }
  const v = JSON.parse(f.payload.toString());
  const msg = vsn === '2.0.0' ? v[4] : v.payload;
  return msg && msg.event === 'flood' ? msg.payload.seq : null;
}
