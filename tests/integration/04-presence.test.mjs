// 4. presence: sync, leave on disconnect, untrack, the typing indicator.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { RawWs, VSNS, disconnectClient, joined, listen, newClient, startServer, teardown, topicName, waitFor } from './harness.mjs';

describe('presence', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(() => teardown(server));

  /** A client joined to topic with presence key `key`, recording presence events. */
  async function member(vsn, topic, key) {
    const client = newClient(server, { vsn });
    const ch = client.channel(topic, { config: { presence: { key } } });
    const events = listen(ch, 'presence', { event: '*' });
    await joined(ch);
    return { client, ch, events };
  }
  const keys = (ch) => Object.keys(ch.presenceState()).sort();
  const stateIs = (ch, expected, message) =>
    waitFor(() => JSON.stringify(keys(ch)) === JSON.stringify([...expected].sort()), {
      message: `${message}: presence keys ${JSON.stringify(expected)} (have ${JSON.stringify(keys(ch))})`,
    });

  for (const vsn of VSNS) {
    describe(`vsn ${vsn}`, () => {
      test('two clients track and both see both keys; a disconnect is a leave', async () => {
        const topic = topicName();
        const alice = await member(vsn, topic, 'alice');
        const bob = await member(vsn, topic, 'bob');
        assert.equal(await alice.ch.track({ name: 'Alice', online_at: 1 }), 'ok');
        assert.equal(await bob.ch.track({ name: 'Bob', online_at: 2 }), 'ok');
        await stateIs(alice.ch, ['alice', 'bob'], 'alice sees');
        await stateIs(bob.ch, ['alice', 'bob'], 'bob sees');
        assert.ok(alice.events.count((e) => e.event === 'sync') >= 1, 'alice got sync');
        assert.ok(bob.events.count((e) => e.event === 'sync') >= 1, 'bob got sync');
        const j = await alice.events.wait((e) => e.event === 'join' && e.key === 'bob');
        assert.equal(j.newPresences[0].name, 'Bob');
        assert.equal(typeof j.newPresences[0].presence_ref, 'string');
        const bobMeta = alice.ch.presenceState().bob;
        assert.equal(bobMeta.length, 1);
        assert.equal(bobMeta[0].name, 'Bob');

        await disconnectClient(bob.client);
        const leave = await alice.events.wait((e) => e.event === 'leave' && e.key === 'bob', { message: 'leave of bob' });
        assert.equal(leave.leftPresences[0].name, 'Bob');
        await stateIs(alice.ch, ['alice'], 'after bob left, alice sees');
      });

      test('untrack removes the key for the others', async () => {
        const topic = topicName();
        const alice = await member(vsn, topic, 'alice');
        const carol = await member(vsn, topic, 'carol');
        assert.equal(await carol.ch.track({ status: 'here' }), 'ok');
        await stateIs(alice.ch, ['carol'], 'carol tracked');
        assert.equal(await carol.ch.untrack(), 'ok');
        await alice.events.wait((e) => e.event === 'leave' && e.key === 'carol', { message: 'leave of carol' });
        await stateIs(alice.ch, [], 'carol untracked');
        // carol's own view agrees, and she is still joined
        await stateIs(carol.ch, [], 'carol sees');
        assert.equal(carol.ch.state, 'joined');
      });

      test('typing indicator: re-tracking replaces the meta in the other client state', async () => {
        const topic = topicName();
        const viewer = await member(vsn, topic, 'viewer');
        const typist = await member(vsn, topic, 'u-42');
        assert.equal(await typist.ch.track({ user_id: 'u-42', typing: true }), 'ok');
        await waitFor(() => viewer.ch.presenceState()['u-42']?.[0]?.typing === true, { message: 'typing: true at the viewer' });
        assert.equal(await typist.ch.track({ user_id: 'u-42', typing: false }), 'ok');
        await waitFor(() => viewer.ch.presenceState()['u-42']?.[0]?.typing === false, { message: 'typing: false at the viewer' });
        const metas = viewer.ch.presenceState()['u-42'];
        assert.equal(metas.length, 1, `one meta per tracking channel, got ${JSON.stringify(metas)}`);
        assert.equal(metas[0].user_id, 'u-42');
        // the key never left: the viewer saw no leave without a matching join
        assert.deepEqual(keys(viewer.ch), ['u-42']);
      });

      test('a late joiner gets presence_state with the current members on its join_ref', async () => {
        const topic = topicName();
        const alice = await member(vsn, topic, 'alice');
        assert.equal(await alice.ch.track({ x: 1 }), 'ok');
        const raw = await RawWs.open(server, { vsn });
        const reply = await raw.join(`realtime:${topic}`, { config: { presence: { key: 'raw', enabled: true } } });
        assert.equal(reply.payload.status, 'ok');
        const st = await raw.frames.wait((f) => f.event === 'presence_state', { message: 'presence_state' });
        assert.equal(st.join_ref, reply.ref);
        assert.deepEqual(Object.keys(st.payload), ['alice']);
        assert.equal(st.payload.alice.metas.length, 1);
        assert.equal(st.payload.alice.metas[0].x, 1);
        assert.equal(typeof st.payload.alice.metas[0].phx_ref, 'string');
        await raw.close();
      });
    });
  }

  test('without a presence key the server assigns one (a UUID) that the others see', async () => {
    const topic = topicName();
    const viewer = await member('2.0.0', topic, 'viewer');
    const client = newClient(server, { vsn: '2.0.0' });
    const anon = client.channel(topic);
    await joined(anon);
    assert.equal(await anon.track({ who: 'anon' }), 'ok');
    const j = await viewer.events.wait((e) => e.event === 'join' && e.key !== 'viewer');
    assert.match(j.key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
