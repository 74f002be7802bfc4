// 13. reconnect: the server goes away and comes back on the same port;
// realtime-js reconnects by itself, rejoins, and receives again.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { T, VSNS, closeAllClients, joined, listen, newClient, startServer, teardown, topicName, waitStatus, waitFor } from './harness.mjs';

describe('reconnect', () => {
  const servers = [];
  after(() => teardown(...servers));

  for (const vsn of VSNS) {
    test(`vsn ${vsn}: stop the server, start a new one on the same port: the channel is SUBSCRIBED again and receives`, async () => {
      const first = await startServer();
      servers.push(first);
      const topic = topicName();
      const client = newClient(first, { vsn }); // reconnectAfterMs: 100 ms (harness default)
      const ch = client.channel(topic, { config: { presence: { key: 'me' } } });
      const inbox = listen(ch);
      const sync = listen(ch, 'presence', { event: 'sync' }); // presence on: every join gets a presence_state
      await joined(ch);
      assert.equal(await ch.track({ v: 1 }), 'ok');
      await waitFor(() => ch.presenceState().me, { message: 'own presence tracked' });
      const syncsBefore = sync.count();

      await first.stop();
      await waitFor(() => !client.isConnected(), { message: 'client to see the server gone' });

      const second = await startServer({ port: first.port, secret: first.secret });
      servers.push(second);
      await waitStatus(ch, 'SUBSCRIBED', { nth: 2, timeout: T(8000) });
      assert.equal(client.isConnected(), true);
      assert.equal(ch.state, 'joined');

      const sender = newClient(second, { vsn });
      const chS = sender.channel(topic, { config: { broadcast: { ack: true } } });
      await joined(chS);
      assert.equal(await chS.send({ type: 'broadcast', event: 'after-restart', payload: { ok: 1 } }), 'ok');
      const m = await inbox.wait((x) => x.event === 'after-restart');
      assert.deepEqual(m.payload, { ok: 1 });
      // presence starts empty on the new server: the rejoin re-syncs to it
      await sync.waitCount(syncsBefore + 1);
      await waitFor(() => Object.keys(ch.presenceState()).length === 0, { message: 'presence state resynced (empty)' });
      assert.equal(await ch.track({ v: 2 }), 'ok');
      await waitFor(() => ch.presenceState().me?.[0]?.v === 2, { message: 'tracked again on the new server' });
      await closeAllClients();
    });
  }
});
