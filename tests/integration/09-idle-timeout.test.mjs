// 9. idle timeout: a silent socket is closed (1001 "heartbeat timeout")
// after twice --heartbeat-interval-ms, a heartbeating realtime-js client is not.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';

import { RawWs, T, VSNS, joined, listen, metrics, newClient, once, startServer, teardown, topicName } from './harness.mjs';

const INTERVAL = 300;

describe('idle timeout', () => {
  let server;
  before(async () => { server = await startServer({ flags: ['--heartbeat-interval-ms', String(INTERVAL)] }); });
  after(() => teardown(server));

  for (const vsn of VSNS) {
    test(`vsn ${vsn}: a silent raw socket is closed with 1001 "heartbeat timeout"; a realtime-js client heartbeating every 100 ms stays`, async () => {
      const topic = topicName();
      const client = newClient(server, { vsn, heartbeatIntervalMs: 100 });
      const socketEvents = new EventEmitter();
      let closes = 0;
      client.socketAdapter.onClose(() => { closes++; socketEvents.emit('close'); });
      const beats = new EventEmitter();
      let oks = 0;
      client.onHeartbeat((status) => { if (status === 'ok') oks++; beats.emit(status); });
      const ch = client.channel(topic);
      const inbox = listen(ch);
      await joined(ch);

      const opened = Date.now();
      const raw = await RawWs.open(server, { vsn });
      const c = await Promise.race([
        raw.closed,
        once(socketEvents, 'close', { timeout: T(6000), message: 'either socket to close' }).then(() => { throw new Error('the heartbeating realtime-js client was closed'); }),
      ]);
      const idleFor = Date.now() - opened;
      assert.equal(c.code, 1001);
      assert.equal(c.reason, 'heartbeat timeout');
      assert.ok(idleFor >= 2 * INTERVAL - 50, `closed after ${idleFor} ms, before 2 × ${INTERVAL} ms`);
      assert.ok(idleFor < T(4000), `closed only after ${idleFor} ms`);

      // the realtime-js client lived through the same period, heartbeating
      assert.equal(closes, 0);
      assert.equal(client.isConnected(), true);
      assert.ok(oks >= Math.floor(idleFor / 200), `${oks} heartbeat replies in ${idleFor} ms`);
      assert.equal(ch.state, 'joined');
      // and is still served
      const raw2 = await RawWs.open(server, { vsn });
      const jr = (await raw2.join(`realtime:${topic}`)).ref;
      raw2.send({ join_ref: jr, ref: raw2.nextRef(), topic: `realtime:${topic}`, event: 'broadcast', payload: { type: 'broadcast', event: 'ping', payload: { t: 1 } } });
      await inbox.wait((m) => m.event === 'ping');
      await raw2.close();
    });
  }

  test('idle closes are counted in realtime_idle_closes_total', async () => {
    assert.ok((await metrics(server)).get('realtime_idle_closes_total') >= VSNS.length);
  });
});
