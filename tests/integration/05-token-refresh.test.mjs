// 5. tokens on a live channel: refresh with setAuth keeps it joined past
// the old token's expiry; without refresh the server closes the channel.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { T, VSNS, RawWs, joined, listen, newClient, nowS, startServer, teardown, topicName, waitFor } from './harness.mjs';

const SHORT = 3; // seconds the short-lived token lives

// The tests wait for wall-clock expiry; they run concurrently so the file
// waits for that once, not once per test.
describe('token lifetime on joined channels', { concurrency: true }, () => {
  let server;
  before(async () => { server = await startServer(); });
  after(() => teardown(server));

  /** Waits (no sleep: a poll on the wall clock) until the server's clock,
   * which counts whole seconds, is past exp. */
  const pastExpiry = (exp) =>
    waitFor(() => Date.now() / 1000 >= exp + 1.05, { timeout: T(SHORT * 1000 + 4000), message: `wall clock past exp ${exp}` });

  for (const vsn of VSNS) {
    describe(`vsn ${vsn}`, () => {
      test('setAuth before expiry keeps the channel; without it the channel is shut down', async () => {
        const topic = topicName();
        const exp = nowS() + SHORT;
        const short = server.token({ exp });

        // the sender keeps a long-lived token throughout
        const sender = newClient(server, { vsn, token: server.token() });
        const chS = sender.channel(topic, { config: { broadcast: { ack: true } } });
        await joined(chS);

        // refreshed: joins with the short token, then setAuth(1 h token)
        const refreshed = newClient(server, { vsn, token: short });
        const chR = refreshed.channel(topic);
        const inR = listen(chR);
        const sysR = listen(chR, 'system', {});
        await joined(chR);

        // expiring: joins with the short token and never refreshes
        const expiring = newClient(server, { vsn, token: short });
        const chE = expiring.channel(topic);
        const inE = listen(chE);
        const sysE = listen(chE, 'system', {});
        await joined(chE);

        // all three receive before expiry
        assert.equal(await chS.send({ type: 'broadcast', event: 'before', payload: { n: 0 } }), 'ok');
        await inR.wait((m) => m.event === 'before');
        await inE.wait((m) => m.event === 'before');

        await refreshed.setAuth(server.token({ expIn: 3600 }));

        // the expiring channel is told, then closed
        const sys = await sysE.wait(() => true, { timeout: T(SHORT * 1000 + 5000), message: 'system event on the expiring channel' });
        assert.equal(sys.status, 'error');
        assert.match(sys.message, /^Token has expired/);
        assert.equal(sys.channel, topic);
        await waitFor(() => chE.state === 'closed', { message: `expiring channel closed (state ${chE.state})` });
        assert.ok(chE.statusLog.some((s) => s.status === 'CLOSED'), 'subscribe callback saw CLOSED');
        assert.ok(nowS() >= exp, 'closed no earlier than exp');

        await pastExpiry(exp);
        assert.equal(await chS.send({ type: 'broadcast', event: 'after', payload: { n: 1 } }), 'ok');
        const m = await inR.wait((x) => x.event === 'after', { message: 'broadcast after expiry on the refreshed channel' });
        assert.deepEqual(m.payload, { n: 1 });
        assert.equal(chR.state, 'joined');
        assert.equal(sysR.count(), 0, `refreshed channel got system events: ${JSON.stringify(sysR.items)}`);
        assert.equal(refreshed.isConnected(), true);
        // the closed channel got nothing after it closed
        assert.equal(inE.count((x) => x.event === 'after'), 0);
        // the socket of the expired client is still usable: a new channel joins
        await expiring.setAuth(server.token());
        await joined(expiring.channel(topicName()));
      });
    });
  }

  test('on the wire: system error then phx_close on the join_ref; the topic is gone afterwards', async () => {
    const topic = `realtime:${topicName()}`;
    const exp = nowS() + 2;
    const raw = await RawWs.open(server, { vsn: '2.0.0' });
    const jr = (await raw.join(topic, { access_token: server.token({ exp }) })).ref;
    const sender = newClient(server, { vsn: '2.0.0' });
    const chS = sender.channel(topic.slice(9), { config: { broadcast: { ack: true } } });
    await joined(chS);

    const sys = await raw.frames.wait((f) => f.event === 'system', { timeout: T(6000), message: 'system frame' });
    assert.equal(sys.join_ref, jr);
    assert.equal(sys.payload.status, 'error');
    assert.equal(sys.payload.extension, 'system');
    assert.match(sys.payload.message, /^Token has expired \d+ seconds ago$/);
    const close = await raw.frames.wait((f) => f.event === 'phx_close', { message: 'phx_close' });
    assert.equal(close.join_ref, jr);
    assert.ok(raw.frames.items.indexOf(sys) < raw.frames.items.indexOf(close), 'system comes before phx_close');

    // a push on the closed topic is refused, and a broadcast sent now never arrives
    assert.equal(await chS.send({ type: 'broadcast', event: 'late', payload: {} }), 'ok');
    const r = await raw.request({ join_ref: jr, topic, event: 'broadcast', payload: { type: 'broadcast', event: 'x', payload: {} } });
    assert.equal(r.payload.status, 'error');
    assert.equal(r.payload.response.reason, 'unmatched topic');
    const hb = await raw.request({ topic: 'phoenix', event: 'heartbeat', payload: {} });
    assert.equal(hb.payload.status, 'ok');
    assert.equal(raw.frames.count((f) => f.event === 'broadcast'), 0);
    await raw.close();
  });

  test('an access_token push with an invalid token shuts the channel down with the reason', async () => {
    const client = newClient(server, { vsn: '2.0.0' });
    const ch = client.channel(topicName());
    const sys = listen(ch, 'system', {});
    await joined(ch);
    await client.setAuth(server.token({ expIn: -10 }));
    const s = await sys.wait();
    assert.equal(s.status, 'error');
    assert.match(s.message, /^Token has expired/);
    await waitFor(() => ch.state === 'closed', { message: 'channel closed' });
  });
});
