// The web app's realtime module (web/src/realtime/) on its own: the real
// server, a real PostgreSQL with the demo data, stock supabase-js in Node.
// Each test states the seed bug it guards against (docs/SEED.md).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createRealtime, liveRows, parseLsn } from '../../web/src/realtime/index.js';
// ws, as realtime-js's transport: Node 22's own WebSocket reports a refused
// connection as an error without a close, and realtime-js then never retries.
import { T, WebSocket, metrics, waitFor } from '../integration/harness.mjs';
import { DEMO, DEMO_PASSWORD, startStack } from '../integration/dbharness.mjs';

const ALICE_B1 = 'b0000000-0000-4000-8000-000000000001'; // alice, pending
const ALICE_B2 = 'b0000000-0000-4000-8000-000000000002'; // alice, accepted (tom)
let stack;

before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });

/** A signed-in customer with its own realtime service; fast reconnects so a
 * test does not wait realtime-js's 10 s back-off. */
async function session(who = 'alice', opts = {}) {
  const client = stack.client(stack.anonKey, { realtime: { transport: WebSocket, reconnectAfterMs: () => 100 } });
  const { data, error } = await client.auth.signInWithPassword({ email: DEMO[who].email, password: DEMO_PASSWORD });
  if (error) throw new Error(`sign-in: ${error.message}`);
  const s = data.session;
  const rt = createRealtime(client, { lingerMs: 50, offlineAfterMs: T(1500), pollMs: 200, ...opts });
  const states = [rt.state];
  rt.onState((st) => states.push(st));
  return { client, rt, states, s };
}

const sql = (text) => stack.db.psql(text);
const setStatus = (id, price) => sql(`update public.bookings set price = ${price} where id = '${id}'`);

describe('shared channels', () => {
  test('two subscribers of one channel both get every change; releasing one never silences the other (seed 3: one handler per channel)', async () => {
    const { rt } = await session();
    const spec = { changes: [{ event: 'UPDATE', table: 'bookings', filter: `customer_id=eq.${DEMO.alice.id}` }] };
    const a = [], b = [];
    const ha = rt.channel('shared-1', spec, { change: (c) => a.push(c.new.price) });
    const hb = rt.channel('shared-1', spec, { change: (c) => b.push(c.new.price) });
    await waitFor(() => ha.ready && rt.state === 'live', { timeout: T(5000), message: 'channel ready' });
    assert.equal(rt.debug().channels.find((c) => c.topic === 'shared-1').refs, 2, 'one channel, two holders');
    assert.equal(rt.debug().channels.filter((c) => c.topic === 'shared-1').length, 1);
    await setStatus(ALICE_B1, 121);
    await waitFor(() => a.length === 1 && b.length === 1, { timeout: T(5000), message: 'both got the change' });
    ha.release();
    await setStatus(ALICE_B1, 122);
    await waitFor(() => b.length === 2, { timeout: T(5000), message: 'the remaining holder got the next change' });
    assert.deepEqual(a.map(Number), [121]);
    assert.deepEqual(b.map(Number), [121, 122]);
    assert.equal(hb.status, 'SUBSCRIBED');
    hb.release();
    await waitFor(() => rt.debug().channels.length === 0, { timeout: T(3000), message: 'channel left once nobody holds it' });
    await rt.close();
  });

  test('the same topic with other bindings is refused with a reason, not silently merged', async () => {
    const { rt } = await session();
    const h = rt.channel('shared-2', { changes: [{ table: 'bookings' }] });
    assert.throws(() => rt.channel('shared-2', { changes: [{ table: 'bids' }] }), /already joined with other bindings/);
    h.release();
    await rt.close();
  });

  test('changes carry their commit LSN, in commit order', async () => {
    const { rt } = await session();
    const got = [];
    const h = rt.channel('lsn-1', { changes: [{ event: 'UPDATE', table: 'bookings', filter: `customer_id=eq.${DEMO.alice.id}` }] },
      { change: (c) => got.push(c) });
    await waitFor(() => h.ready, { timeout: T(5000), message: 'ready' });
    await setStatus(ALICE_B1, 130);
    await setStatus(ALICE_B2, 131);
    await waitFor(() => got.length === 2, { timeout: T(5000), message: 'two changes' });
    const [x, y] = got.map((c) => parseLsn(c.lsn));
    assert.ok(x !== null && y !== null, `LSNs present: ${got.map((c) => c.lsn)}`);
    assert.ok(x < y, 'in commit order');
    // The admin's live panel charts this: commit to publication, measured.
    const m = await metrics(stack.server);
    assert.ok(m.has('realtime_cdc_lag_ms'), '/metrics has realtime_cdc_lag_ms');
    assert.ok(m.get('realtime_cdc_lag_ms') < T(5000), `lag ${m.get('realtime_cdc_lag_ms')} ms`);
    h.release();
    await rt.close();
  });

  test('a refused join is reported in words and does not hold the indicator back from live', async () => {
    const { rt } = await session();
    const ok = rt.channel('user:' + DEMO.alice.id, { private: true, broadcast: {} });
    const errors = [];
    const bad = rt.channel('chat:b0000000-0000-4000-8000-000000000006', { private: true, broadcast: {} }, // bob's booking
      { status: (st, why) => { if (st === 'CHANNEL_ERROR') errors.push(why); } });
    await waitFor(() => errors.length > 0, { timeout: T(5000), message: 'refusal' });
    assert.match(errors[0], /unauthorized|not allowed|denied|permission/i);
    await waitFor(() => rt.state === 'live', { timeout: T(5000), message: 'live despite the refused channel' });
    ok.release(); bad.release();
    await rt.close();
  });
});

describe('liveRows', () => {
  test('subscribe, load, then apply what arrived meanwhile: a change committed during the load is not lost', async () => {
    const { client, rt } = await session();
    let during = 0;
    const store = liveRows(rt, {
      topic: 'rows-1', table: 'bookings', filter: `customer_id=eq.${DEMO.alice.id}`,
      async load() {
        const { data, error } = await client.from('bookings').select('*').eq('customer_id', DEMO.alice.id);
        if (error) throw new Error(error.message);
        if (during++ === 0) await setStatus(ALICE_B1, 140); // committed after the read, before the rows are shown
        return data;
      },
    });
    await waitFor(() => Number(store.getSnapshot().rows.find((r) => r.id === ALICE_B1)?.price) === 140,
      { timeout: T(5000), message: 'the change made during the load is shown' });
    assert.equal(store.getSnapshot().status, 'live');
    const truth = await stack.db.rows(`select id from public.bookings where customer_id = '${DEMO.alice.id}'`);
    assert.deepEqual(store.getSnapshot().rows.map((r) => r.id).sort(), truth.map((r) => r.id).sort());
    store.release();
    await rt.close();
  });

  test('a booking leaves the marketplace for every technician when it stops being pending (a DELETE of its listing)', async () => {
    const { client, rt } = await session('tom');
    const store = liveRows(rt, {
      topic: 'market-1', table: 'marketplace', key: 'booking_id',
      async load() { const { data, error } = await client.from('marketplace').select('*'); if (error) throw new Error(error.message); return data; },
    });
    await waitFor(() => store.getSnapshot().status === 'live' && store.getSnapshot().rows.some((r) => r.booking_id === ALICE_B1),
      { timeout: T(5000), message: 'marketplace loaded' });
    await sql(`update public.bookings set status = 'cancelled' where id = '${ALICE_B1}'`);
    await waitFor(() => !store.getSnapshot().rows.some((r) => r.booking_id === ALICE_B1), { timeout: T(5000), message: 'left the marketplace' });
    store.release();
    await rt.close();
  });
});

describe('connection', () => {
  test('states follow the socket: connecting, live, reconnecting, offline, live; reconnects never give up (seed 8.4: 5 tries, then silence)', async () => {
    const { client, rt, states } = await session('alice');
    let opens = 0, closes = 0;
    client.realtime.stateChangeCallbacks.close.push(['t', () => closes++]);
    client.realtime.stateChangeCallbacks.open.push(['t', () => opens++]);
    const store = liveRows(rt, {
      topic: 'conn-1', table: 'bookings', filter: `customer_id=eq.${DEMO.alice.id}`,
      async load() { const { data, error } = await client.from('bookings').select('*').eq('customer_id', DEMO.alice.id); if (error) throw new Error(error.message); return data; },
    });
    await waitFor(() => rt.state === 'live' && store.getSnapshot().status === 'live', { timeout: T(5000), message: 'live' });
    assert.equal(states[0], 'connecting');
    const joinsBefore = rt.debug().channels[0].joins;
    await stack.restartServer({
      whileDown: async () => {
        await waitFor(() => rt.state === 'offline', { timeout: T(8000), message: 'offline while the server is down' });
        await waitFor(() => closes >= 8, { timeout: T(8000), message: 'more than the seed\'s 5 attempts' });
        await setStatus(ALICE_B2, 150); // committed while nobody streams it
        assert.equal(store.getSnapshot().status, 'stale');
      },
    });
    await waitFor(() => rt.state === 'live', { timeout: T(10000), message: 'live again after the restart' });
    await waitFor(() => Number(store.getSnapshot().rows.find((r) => r.id === ALICE_B2)?.price) === 150,
      { timeout: T(5000), message: 'the change made while away is on the list after the rejoin' });
    assert.ok(rt.debug().channels[0].joins > joinsBefore, 'rejoined');
    assert.ok(states.includes('reconnecting') && states.includes('offline'), `states: ${states.join(' > ')}`);
    assert.ok(opens >= 1);
    store.release();
    await rt.close();
  });

  test('a token refresh is handed to the live channel: no rejoin, no lost change (seed 5.1 / 8.2)', async () => {
    const { client, rt } = await session('alice');
    const got = [];
    const h = rt.channel('refresh-1', { changes: [{ event: 'UPDATE', table: 'bookings', filter: `customer_id=eq.${DEMO.alice.id}` }] },
      { change: (c) => got.push(c.new.price) });
    await waitFor(() => h.ready, { timeout: T(5000), message: 'ready' });
    const before = rt.debug().channels[0].joins;
    const { data, error } = await client.auth.refreshSession();
    assert.ifError(error);
    await waitFor(() => client.realtime.accessTokenValue === data.session.access_token, { timeout: T(3000), message: 'realtime has the new token' });
    await setStatus(ALICE_B1, 160);
    await waitFor(() => got.map(Number).includes(160), { timeout: T(5000), message: 'change after the refresh' });
    assert.equal(rt.debug().channels[0].joins, before, 'the channel was not re-joined');
    assert.ok(rt.debug().log.some((l) => /token refreshed/.test(l.text)), 'the refresh is in the debug log');
    h.release();
    await rt.close();
  });

  test('close() (sign-out) leaves nothing subscribed on the client or the server', async () => {
    const { client, rt } = await session('bob');
    const a = rt.channel('close-1', { changes: [{ table: 'bookings', filter: `customer_id=eq.${DEMO.bob.id}` }] });
    const b = rt.channel('user:' + DEMO.bob.id, { private: true, broadcast: {}, presence: { key: DEMO.bob.id } });
    await waitFor(() => a.ready && b.ready, { timeout: T(5000), message: 'both ready' });
    await rt.close();
    assert.equal(client.realtime.getChannels().length, 0);
    assert.equal(client.realtime.isConnected(), false);
    assert.deepEqual(rt.debug().channels, []);
  });
});

describe('a channel the server closes', () => {
  test('is joined again with the current token, and its list catches up (realtime-js leaves a closed channel closed)', async () => {
    const { client, rt } = await session('alice', { offlineAfterMs: T(60000) });
    const store = liveRows(rt, {
      topic: 'closed-1', table: 'bookings', filter: `customer_id=eq.${DEMO.alice.id}`,
      async load() { const { data, error } = await client.from('bookings').select('*').eq('customer_id', DEMO.alice.id); if (error) throw new Error(error.message); return data; },
    });
    await waitFor(() => store.getSnapshot().status === 'live', { timeout: T(5000), message: 'live' });
    // The server ends the channel as it does for an expired token: an
    // access_token it refuses ("Token has expired") closes it.
    const ch = client.realtime.getChannels().find((c) => c.topic === 'realtime:closed-1');
    const expired = stack.token({ sub: DEMO.alice.id }, { expIn: -10 });
    ch.socket.push({ topic: ch.topic, event: 'access_token', payload: { access_token: expired }, ref: ch.socket._makeRef?.() ?? '99' });
    await waitFor(() => rt.debug().log.some((l) => /closed by the server/.test(l.text)), { timeout: T(5000), message: 'the server closed the channel' });
    await setStatus(ALICE_B2, 170); // committed while the channel is closed
    await waitFor(() => rt.debug().channels[0]?.joins >= 2 && rt.state === 'live', { timeout: T(10000), message: 'joined again' });
    await waitFor(() => Number(store.getSnapshot().rows.find((r) => r.id === ALICE_B2)?.price) === 170,
      { timeout: T(5000), message: 'the change made while closed is on the list' });
    store.release();
    await rt.close();
  });
});
