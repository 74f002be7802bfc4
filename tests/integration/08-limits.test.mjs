// 8. limits: channels per socket, duplicate joins, unmatched topics, rate limits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { RawTcp, RawWs, VSNS, encodeClientFrame, encodeText, joined, listen, newClient, startServer, subscribe, teardown, topicName } from './harness.mjs';

const JOINS_PER_S = 5;
const EVENTS_PER_S = 50;

describe('limits', () => {
  let server;
  before(async () => {
    server = await startServer({
      flags: ['--max-channels', '2', '--max-joins-per-second', String(JOINS_PER_S), '--max-events-per-second', String(EVENTS_PER_S)],
    });
  });
  after(() => teardown(server));

  for (const vsn of VSNS) {
    describe(`vsn ${vsn}`, () => {
      test('--max-channels 2: the third join errors "ChannelRateLimitReached: Too many channels"; leaving frees a slot', async () => {
        const client = newClient(server, { vsn });
        const c1 = client.channel(topicName());
        const c2 = client.channel(topicName());
        const c3 = client.channel(topicName());
        await joined(c1);
        await joined(c2);
        const s = await subscribe(c3);
        assert.equal(s.status, 'CHANNEL_ERROR');
        assert.equal(s.err.message, 'ChannelRateLimitReached: Too many channels');
        await client.removeChannel(c3);
        assert.equal(await client.removeChannel(c1), 'ok');
        await joined(client.channel(topicName()));
      });

      test('duplicate join of one topic on one socket: both replies ok, broadcasts arrive once, the old join_ref is dead', async () => {
        const topic = topicName();
        const wire = `realtime:${topic}`;
        const raw = await RawWs.open(server, { vsn });
        const r1 = await raw.join(wire, { join_ref: '10' });
        const r2 = await raw.join(wire, { join_ref: '20' });
        assert.equal(r1.payload.status, 'ok');
        assert.equal(r2.payload.status, 'ok');
        assert.equal(r2.join_ref, '20');
        // the topic counts once against --max-channels 2
        assert.equal((await raw.join(`realtime:${topicName()}`)).payload.status, 'ok');

        const sender = newClient(server, { vsn });
        const ch = sender.channel(topic, { config: { broadcast: { ack: true } } });
        await joined(ch);
        assert.equal(await ch.send({ type: 'broadcast', event: 'dup', payload: { n: 1 } }), 'ok');
        assert.equal(await ch.send({ type: 'broadcast', event: 'marker', payload: {} }), 'ok');
        await raw.frames.wait((f) => f.event === 'broadcast' && f.payload.event === 'marker');
        assert.equal(raw.frames.count((f) => f.event === 'broadcast' && f.payload.event === 'dup'), 1);

        const old = await raw.request({ join_ref: '10', topic: wire, event: 'broadcast', payload: { type: 'broadcast', event: 'x', payload: {} } });
        assert.deepEqual(old.payload, { status: 'error', response: { reason: 'unmatched topic' } });
        await raw.close();
      });

      test('unmatched topics get phx_reply error "unmatched topic"', async () => {
        const raw = await RawWs.open(server, { vsn });
        const notJoined = await raw.request({ join_ref: '1', topic: `realtime:${topicName()}`, event: 'broadcast', payload: { type: 'broadcast', event: 'e', payload: {} } });
        assert.deepEqual(notJoined.payload, { status: 'error', response: { reason: 'unmatched topic' } });
        const noPrefix = await raw.join('room-without-prefix');
        assert.deepEqual(noPrefix.payload, { status: 'error', response: { reason: 'unmatched topic' } });
        const empty = await raw.join('realtime:');
        assert.deepEqual(empty.payload, { status: 'error', response: { reason: 'You must provide a topic name' } });
        // leaving a topic never joined is fine (realtime-js does it)
        const leave = await raw.request({ join_ref: null, topic: `realtime:${topicName()}`, event: 'phx_leave', payload: {} });
        assert.equal(leave.payload.status, 'ok');
        await raw.close();
      });
    });
  }

  test('join rate limit: a burst over --max-joins-per-second is refused "ClientJoinRateLimitReached"', async () => {
    const raw = await RawWs.open(server, { vsn: '2.0.0' });
    const refs = [];
    for (let i = 0; i < 3 * JOINS_PER_S; i++) {
      const ref = raw.nextRef();
      refs.push(ref);
      raw.send({ join_ref: ref, ref, topic: `realtime:${topicName()}`, event: 'phx_join', payload: { config: {} } });
    }
    await Promise.all(refs.map((ref) => raw.frames.wait((f) => f.event === 'phx_reply' && f.ref === ref)));
    const reasons = raw.frames.items.filter((f) => f.event === 'phx_reply').map((f) => f.payload.response.reason);
    // 15 joins fall in at most two one-second windows of 5: at least 5 are over the rate
    assert.ok(reasons.filter((r) => r === 'ClientJoinRateLimitReached: Too many joins per second').length >= JOINS_PER_S, JSON.stringify(reasons));
    await raw.close();
  });

  test('message rate limit: one warning phx_error per window; others unaffected', async () => {
    const topic = topicName();
    const a = newClient(server);
    const b = newClient(server);
    const chA = a.channel(topic, { config: { broadcast: { ack: true } } });
    const chB = b.channel(topic);
    const inB = listen(chB);
    await joined(chA);
    await joined(chB);

    const raw = await RawWs.open(server, { vsn: '2.0.0' });
    for (let i = 0; i < 3 * EVENTS_PER_S; i++) raw.send({ ref: String(1000 + i), topic: 'phoenix', event: 'heartbeat', payload: {} });
    const warn = await raw.frames.wait((f) => f.event === 'phx_error');
    assert.equal(warn.topic, 'phoenix');
    assert.equal(warn.payload.reason, 'ClientRateLimitReached: Too many messages per second');
    // 150 messages span at most two windows: at most 100 answered, one warning each
    const answered = raw.frames.count((f) => f.event === 'phx_reply');
    assert.ok(answered <= 2 * EVENTS_PER_S, `${answered} heartbeats answered`);
    assert.ok(raw.frames.count((f) => f.event === 'phx_error') <= 2);
    assert.equal(raw.closeInfo, null);

    assert.equal(await chA.send({ type: 'broadcast', event: 'still', payload: {} }), 'ok');
    await inB.wait((m) => m.event === 'still');
    await raw.close();
  });

  test('message rate limit: 10x the limit in one window closes with 1008 (burst written at once)', async () => {
    const tcp = await RawTcp.open(server, { vsn: '2.0.0' });
    // One write, under the server's 64 KiB read buffer, so the server has
    // read every byte by the time it closes (see the next test). 22x the
    // limit: even split across two one-second windows, one holds over 10x.
    const burst = Buffer.concat(Array.from({ length: 22 * EVENTS_PER_S }, () =>
      encodeClientFrame(1, Buffer.from(encodeText('2.0.0', { topic: 'phoenix', event: 'heartbeat', payload: {} })))));
    assert.ok(burst.length < 60000);
    tcp.write(burst);
    const c = await tcp.frames.wait((f) => f.opcode === 8, { message: 'close frame' });
    assert.equal(c.code, 1008);
    assert.equal(c.reason, 'rate limit exceeded');
    await tcp.ended;
  });

  test('a client still sending when closed for rate limit receives the 1008 close frame', async () => {
    const raw = await RawWs.open(server, { vsn: '2.0.0' });
    for (let i = 0; i < 40 * EVENTS_PER_S; i++) raw.send({ ref: null, topic: 'phoenix', event: 'heartbeat', payload: {} });
    const c = await raw.closed;
    assert.equal(c.code, 1008, `close seen by the client: ${JSON.stringify(c)}`);
  });
});
