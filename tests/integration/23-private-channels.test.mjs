// Private channels: a join with config.private is authorized by the RLS
// policies on realtime.messages (007_techcare_realtime.sql: a booking's chat,
// typing, bids and booking topics belong to its customer and its assigned
// technician), with realtime.topic() set to the channel's topic, as
// supabase/realtime does it. Real PostgreSQL, real supabase-js.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { T, waitFor } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

/** Subscribes and resolves the first terminal status with its error. */
function subscribe(channel) {
  return new Promise((resolve) => {
    channel.subscribe((status, err) => {
      if (status !== 'SUBSCRIBED' && status !== 'CHANNEL_ERROR' && status !== 'TIMED_OUT') return;
      resolve({ status, message: err?.message ?? '' });
    });
  });
}

describe('private channels', { timeout: 60000 }, () => {
  let stack, booking, alice, tech, bob;

  before(async () => {
    stack = await startStack();
    [booking] = await stack.db.rows(
      `select id, technician_id from public.bookings
        where customer_id = '${DEMO.alice.id}' and technician_id is not null order by id limit 1`);
    assert.ok(booking, 'demo data has an assigned booking of alice');
    const techEmail = Object.values(DEMO).find((u) => u.id === booking.technician_id).email;
    [alice, tech, bob] = await Promise.all([stack.signIn(DEMO.alice.email), stack.signIn(techEmail),
      stack.signIn(DEMO.bob.email)]);
  });
  after(() => stack?.stop());

  const topic = () => `chat:${booking.id}`;

  test("a booking's customer and technician join its private chat and exchange broadcast and presence", async () => {
    const got = [];
    // A presence listener makes realtime-js ask for presence (and so for
    // presence_state), as with Supabase.
    const a = alice.client.channel(topic(), { config: { private: true, broadcast: { ack: true }, presence: { key: 'alice' } } })
      .on('presence', { event: 'sync' }, () => {});
    const t = tech.client.channel(topic(), { config: { private: true, presence: { key: 'tech' } } })
      .on('broadcast', { event: 'msg' }, ({ payload }) => got.push(payload));
    assert.deepEqual(await subscribe(a), { status: 'SUBSCRIBED', message: '' });
    assert.deepEqual(await subscribe(t), { status: 'SUBSCRIBED', message: '' });
    assert.equal(await a.send({ type: 'broadcast', event: 'msg', payload: { text: 'on my way?' } }), 'ok');
    await waitFor(() => got.length === 1, { timeout: T(5000), message: 'the technician receives the broadcast' });
    assert.deepEqual(got[0], { text: 'on my way?' });
    assert.equal(await t.track({ typing: true }), 'ok');
    await waitFor(() => a.presenceState().tech?.[0]?.typing === true,
      { timeout: T(5000), message: "alice sees the technician's typing presence" });
    // supabase-js hands back the same channel object for a topic it has: leave.
    await alice.client.removeChannel(a);
    await tech.client.removeChannel(t);
  });

  test('another customer is refused with supabase/realtime\'s message', async () => {
    const c = bob.client.channel(topic(), { config: { private: true } });
    const r = await subscribe(c);
    assert.equal(r.status, 'CHANNEL_ERROR');
    assert.match(r.message, new RegExp(`You do not have permissions to read from this Channel topic: ${topic()}`));
    await bob.client.removeChannel(c);
  });

  test('anon is refused; a public channel of the same name is another topic', async () => {
    const anon = stack.client();
    const priv = anon.channel(topic(), { config: { private: true } });
    assert.equal((await subscribe(priv)).status, 'CHANNEL_ERROR');
    await anon.removeChannel(priv);

    // A public subscriber on the same name hears neither side of the private chat.
    const heard = [];
    const pub = anon.channel(topic(), { config: { broadcast: { self: true } } })
      .on('broadcast', { event: '*' }, ({ payload }) => heard.push(payload));
    assert.equal((await subscribe(pub)).status, 'SUBSCRIBED');
    const a = alice.client.channel(topic(), { config: { private: true, broadcast: { ack: true } } });
    assert.equal((await subscribe(a)).status, 'SUBSCRIBED');
    assert.equal(await a.send({ type: 'broadcast', event: 'secret', payload: { n: 1 } }), 'ok');
    // Marker on the public topic: once it arrives, the private one would have too.
    assert.equal(await pub.send({ type: 'broadcast', event: 'marker', payload: { n: 2 } }), 'ok');
    await waitFor(() => heard.some((p) => p.n === 2), { timeout: T(5000), message: 'public marker' });
    assert.ok(!heard.some((p) => p.n === 1), 'the private broadcast leaked to the public channel');
    await alice.client.removeChannel(a);
    await anon.removeChannel(pub);
  });

  test('a technician who only bid, not assigned, cannot join the chat', async () => {
    const other = Object.values(DEMO).find((u) => u.role === 'technician' && u.id !== booking.technician_id);
    const s = await stack.signIn(other.email);
    const c = s.client.channel(topic(), { config: { private: true } });
    const r = await subscribe(c);
    assert.equal(r.status, 'CHANNEL_ERROR');
    assert.match(r.message, /You do not have permissions to read/);
    await s.client.removeChannel(c);
  });

  test('a new token is checked again: keeping access keeps the channel, losing it ends it', async () => {
    const got = [];
    const systems = [];
    const t = tech.client.channel(topic(), { config: { private: true, broadcast: { ack: true } } });
    const a = alice.client.channel(topic(), { config: { private: true } })
      .on('broadcast', { event: 'msg' }, ({ payload }) => got.push(payload))
      .on('system', {}, (p) => systems.push(p));
    assert.equal((await subscribe(t)).status, 'SUBSCRIBED');
    assert.equal((await subscribe(a)).status, 'SUBSCRIBED');

    // Another token of alice's: re-checked, still allowed, still receiving.
    await alice.client.realtime.setAuth(stack.token({ sub: DEMO.alice.id, email: DEMO.alice.email }, { expIn: 7200 }));
    assert.equal(await t.send({ type: 'broadcast', event: 'msg', payload: { n: 1 } }), 'ok');
    await waitFor(() => got.some((p) => p.n === 1), { timeout: T(5000), message: 'still receiving after refresh' });

    // A token of someone who may not read this booking's chat: the channel ends.
    await alice.client.realtime.setAuth(stack.token({ sub: DEMO.bob.id, email: DEMO.bob.email }));
    await waitFor(() => systems.some((p) => p.status === 'error'), { timeout: T(5000), message: 'system error' });
    const err = systems.find((p) => p.status === 'error');
    assert.equal(err.message, `You no longer have permission to read from this Channel topic: ${topic()}`);
    await waitFor(() => a.state === 'closed', { timeout: T(5000), message: 'channel closed (phx_close)' });
    await tech.client.removeChannel(t);
    await alice.client.removeChannel(a);
  });
});
