// The web app's realtime module resuming its channels (issue 13, "No
// gaps"; docs/PROTOCOL.md "Postgres Changes: positions and resume"): after a
// reconnect a list that was whole reads nothing again, and every change
// committed while it was away reaches it once, in commit order; when the
// server cannot resume (the position is older than its history), the list
// reads again. The real server and PostgreSQL, stock supabase-js in Node.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createRealtime, liveRows } from '../../web/src/realtime/index.js';
import { Server, T, WebSocket, waitFor } from '../integration/harness.mjs';
import { DEMO, DEMO_PASSWORD, startStack } from '../integration/dbharness.mjs';

const ALICE_B1 = 'b0000000-0000-4000-8000-000000000001'; // alice, pending
const ALICE_B2 = 'b0000000-0000-4000-8000-000000000002'; // alice, accepted (tom)
const BOB_B6 = 'b0000000-0000-4000-8000-000000000006'; // bob, pending: not on alice's lists
const FILTER = `customer_id=eq.${DEMO.alice.id}`;
// The binding liveRows makes of {table: 'bookings', filter}: a handler on
// the same topic with the same spec shares its channel and sees every change.
const SPEC = { changes: [{ event: '*', schema: 'public', table: 'bookings', filter: FILTER }] };

/**
 * A signed-in alice whose realtime-js connects through a gate: while the
 * gate is shut every connection attempt is refused (the network is down
 * for this client only; the server stays up), and drop() cuts the open
 * socket. Every text frame the client sends is kept (sent).
 */
async function session(stack, t) {
  const gate = { open: true, sockets: [], sent: [] };
  class GatedWebSocket extends WebSocket {
    constructor(url, ...rest) {
      super(gate.open ? url : 'ws://127.0.0.1:9/realtime/v1/websocket', ...rest); // port 9: refused
      gate.sockets.push(this);
    }

    send(data, ...rest) {
      if (typeof data === 'string') gate.sent.push(data);
      return super.send(data, ...rest);
    }
  }
  gate.drop = () => gate.sockets.at(-1).terminate();
  const client = stack.client(stack.anonKey, { realtime: { transport: GatedWebSocket, reconnectAfterMs: () => 100 } });
  const { error } = await client.auth.signInWithPassword({ email: DEMO.alice.email, password: DEMO_PASSWORD });
  if (error) throw new Error(`sign-in: ${error.message}`);
  // No polling while disconnected: any read here is the rejoin's.
  const rt = createRealtime(client, { lingerMs: 50, offlineAfterMs: T(60000), pollMs: 3600000 });
  const lists = [];
  rt.lists = lists; // aliceList's, released before the close
  // Also when the test failed: a list left behind would poll forever.
  t.after(async () => {
    gate.open = true;
    for (const l of lists) l.release();
    await rt.close();
  });
  return { client, rt, gate };
}

/** alice's bookings as a live list, counting its reads, and every change
 * its channel delivers (shared handler) with the position it came with. */
function aliceList(client, rt, topic) {
  const list = { reads: 0, changes: [] };
  list.store = liveRows(rt, {
    topic, table: 'bookings', filter: FILTER,
    async load() {
      list.reads++;
      const { data, error } = await client.from('bookings').select('*').eq('customer_id', DEMO.alice.id);
      if (error) throw new Error(error.message);
      return data;
    },
  });
  list.tap = rt.channel(topic, SPEC, { change: (c) => list.changes.push({ id: c.new?.id, price: Number(c.new?.price) }) });
  list.channel = () => rt.debug().channels.find((c) => c.topic === topic);
  list.price = (id) => Number(list.store.getSnapshot().rows.find((r) => r.id === id)?.price);
  list.release = () => { list.tap.release(); list.store.release(); };
  rt.lists?.push(list);
  return list;
}

/** The phx_join payloads the client sent for topic (vsn 1.0.0 or 2.0.0 frames). */
function joinsSent(gate, topic) {
  const out = [];
  for (const f of gate.sent) {
    let m;
    try { m = JSON.parse(f); } catch { continue; }
    const msg = Array.isArray(m) ? { topic: m[2], event: m[3], payload: m[4] } : m;
    if (msg?.event === 'phx_join' && msg.topic === `realtime:${topic}`) out.push(msg.payload);
  }
  return out;
}

async function truth(stack) {
  const rows = await stack.db.rows(`select id, price from public.bookings where customer_id = '${DEMO.alice.id}' order by id`);
  return rows.map((r) => [r.id, Number(r.price)]);
}
function shown(list) {
  return list.store.getSnapshot().rows.map((r) => [r.id, Number(r.price)]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** SIGKILL, as a crash: no close frame, no drain. whileDown runs before a
 * new server starts on the same port, secret, flags and environment. */
async function killAndRestart(stack, whileDown) {
  const old = stack.server;
  old.proc.kill('SIGKILL');
  await old.exited;
  if (whileDown) await whileDown();
  stack.server = await new Server({ port: old.port, secret: old.secret, flags: old.flags, env: old.env }).start();
}

describe('with the history (600 s by default)', () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });
  const sql = (text) => stack.db.psql(text);
  const price = (id, p) => sql(`update public.bookings set price = ${p} where id = '${id}'`);

  test('killed server, no event before: the position of "Subscribed to PostgreSQL" resumes, and nothing is read again', async (t) => {
    const { client, rt, gate } = await session(stack, t);
    const list = aliceList(client, rt, 'resume-2');
    await waitFor(() => list.store.getSnapshot().status === 'live', { timeout: T(5000), message: 'the list live' });
    const position = list.channel().position;
    assert.equal(typeof position, 'string', `a position from the system message: ${position}`);
    assert.equal(list.changes.length, 0);
    // First in the file, so that the history holds no change yet (as on a
    // quiet morning). Transactions on tables no publication carries go on
    // (sign-ins; here a table of the test's own), and the crash comes once
    // the server has received WAL past the position and told the slot what
    // it keeps: its status update after that (one a second) either
    // confirmed the slot past the position or did not, and either way the
    // position must resume.
    const lsn = position.split(':')[0];
    await sql('create table if not exists public.tc_test_unpublished (n int)');
    const replies = new Set();
    await waitFor(async () => {
      await sql('insert into public.tc_test_unpublished values (1)');
      const [r] = await stack.db.rows(`select s.write_lsn > '${lsn}'::pg_lsn as wrote, s.reply_time::text as at,
          sl.confirmed_flush_lsn > '${lsn}'::pg_lsn as confirmed
        from pg_replication_slots sl join pg_stat_replication s on s.pid = sl.active_pid where sl.slot_name = 'techcare_realtime'`);
      if (r?.confirmed) return true;
      if (r?.wrote) replies.add(r.at);
      return replies.size > 3; // status updates since it received past the position
    }, { timeout: T(15000), interval: 200, message: `the server to receive WAL past ${lsn} and answer PostgreSQL` });

    await killAndRestart(stack, async () => {
      await waitFor(() => list.store.getSnapshot().status === 'stale', { timeout: T(5000), message: 'the list stale while the server is down' });
      await price(ALICE_B1, 210);
      await price(ALICE_B2, 211);
    });
    await waitFor(() => list.channel()?.joins >= 2 && list.store.getSnapshot().status === 'live',
      { timeout: T(15000), message: 'rejoined the new server and live' });
    await price(ALICE_B1, 212);
    await waitFor(() => list.changes.some((c) => c.price === 212), { timeout: T(5000), message: 'the change made after the rejoin' });
    assert.ok(joinsSent(gate, 'resume-2').slice(1).every((j) => j.postgres_changes_resume?.after === position),
      'every rejoin asked to resume after the system message\'s position');
    assert.equal(list.channel().resume, 'resumed', 'the server\'s answer to the resume');
    assert.deepEqual(list.changes, [{ id: ALICE_B1, price: 210 }, { id: ALICE_B2, price: 211 }, { id: ALICE_B1, price: 212 }]);
    assert.equal(list.reads, 1, 'the list was not read again');
    assert.deepEqual([list.channel().resumes, list.channel().rereads], [1, 0]);
    assert.deepEqual(shown(list), await truth(stack));
    list.release();
    await rt.close();
  });

  test('a dropped connection resumes: every change committed meanwhile arrives once, in commit order, and nothing is read again', async (t) => {
    const { client, rt, gate } = await session(stack, t);
    const list = aliceList(client, rt, 'resume-1');
    await waitFor(() => list.store.getSnapshot().status === 'live', { timeout: T(5000), message: 'the list live' });
    assert.equal(list.reads, 1);
    await price(ALICE_B1, 200); // live, so the channel's position is an event's
    await waitFor(() => list.price(ALICE_B1) === 200, { timeout: T(5000), message: 'the live change' });
    const position = list.channel().position;
    assert.equal(typeof position, 'string', `a position from the event: ${position}`);
    assert.equal(joinsSent(gate, 'resume-1').at(-1)?.postgres_changes_resume, undefined, 'the first join asks no resume');

    gate.open = false;
    gate.drop();
    await waitFor(() => list.store.getSnapshot().status === 'stale', { timeout: T(5000), message: 'the list stale while away' });
    // Committed while alice's client is away: separate transactions, one
    // with two changes, and one change alice's filter does not match.
    await price(ALICE_B1, 201);
    await price(ALICE_B2, 202);
    await sql(`begin; update public.bookings set price = 203 where id = '${ALICE_B1}';
      update public.bookings set price = 204 where id = '${BOB_B6}';
      update public.bookings set price = 205 where id = '${ALICE_B2}'; commit;`);
    const before = list.changes.length;
    gate.open = true;

    await waitFor(() => list.channel()?.joins === 2 && list.store.getSnapshot().status === 'live',
      { timeout: T(10000), message: 'rejoined and live' });
    // In commit order, so once a change made now is there, nothing older can follow.
    await price(ALICE_B2, 206);
    await waitFor(() => list.changes.some((c) => c.price === 206), { timeout: T(5000), message: 'the change made after the rejoin' });
    const rejoin = joinsSent(gate, 'resume-1').at(-1);
    assert.deepEqual(rejoin?.postgres_changes_resume, { after: position }, 'the rejoin asked to resume after the last position');
    assert.equal(list.channel().resume, 'resumed', 'the server\'s answer to the resume');
    assert.deepEqual(list.changes.slice(before), [
      { id: ALICE_B1, price: 201 }, { id: ALICE_B2, price: 202 }, { id: ALICE_B1, price: 203 }, { id: ALICE_B2, price: 205 },
      { id: ALICE_B2, price: 206 },
    ], 'every missed change once, in commit order, then live');
    assert.equal(list.reads, 1, 'the list was not read again');
    const ch = list.channel();
    assert.deepEqual([ch.resumes, ch.rereads], [1, 0]);
    assert.deepEqual(rt.totals, { resumes: 1, rereads: 0 });
    assert.deepEqual(shown(list), await truth(stack), 'the list is the database');
    list.release();
    await rt.close();
  });

  test('a channel the server closes is joined again with its position: resumed, nothing read again', async (t) => {
    const { client, rt, gate } = await session(stack, t);
    const list = aliceList(client, rt, 'resume-3');
    await waitFor(() => list.store.getSnapshot().status === 'live', { timeout: T(5000), message: 'the list live' });
    await price(ALICE_B1, 220);
    await waitFor(() => list.price(ALICE_B1) === 220, { timeout: T(5000), message: 'the live change' });
    const position = list.channel().position;
    // An expired token closes the channel (system error and phx_close);
    // realtime-js leaves it closed and the module joins a new one.
    const ch = client.realtime.getChannels().find((c) => c.topic === 'realtime:resume-3');
    const expired = stack.token({ sub: DEMO.alice.id }, { expIn: -10 });
    ch.socket.push({ topic: ch.topic, event: 'access_token', payload: { access_token: expired }, ref: ch.socket._makeRef?.() ?? '99' });
    await waitFor(() => rt.debug().log.some((l) => /resume-3: closed by the server/.test(l.text)), { timeout: T(5000), message: 'the server closed the channel' });
    await price(ALICE_B2, 221); // committed while the channel is closed
    await waitFor(() => list.channel()?.joins >= 2 && list.price(ALICE_B2) === 221, { timeout: T(10000), message: 'joined again, the change on the list' });
    assert.deepEqual(joinsSent(gate, 'resume-3').at(-1)?.postgres_changes_resume, { after: position });
    assert.equal(list.reads, 1, 'the list was not read again');
    assert.deepEqual(list.changes.map((c) => c.price), [220, 221]);
    list.release();
    await rt.close();
  });
});

describe('with a 1 s history', () => {
  let stack;
  before(async () => { stack = await startStack({ serverEnv: { CDC_HISTORY_SECONDS: '1' } }); });
  after(async () => { await stack?.stop(); });
  const sql = (text) => stack.db.psql(text);
  const price = (id, p) => sql(`update public.bookings set price = ${p} where id = '${id}'`);

  /** What the server answers a join that resumes after position (a
   * separate client, on alice's bookings): the system message's payload. */
  async function probe(client, position, n) {
    const ch = client.channel(`probe-${n}`);
    let sys = null;
    ch.on('postgres_changes', { event: '*', schema: 'public', table: 'bookings', filter: FILTER }, () => {});
    ch.on('system', {}, (p) => { if (p?.extension === 'postgres_changes') sys = p; });
    ch.updateJoinPayload({ postgres_changes_resume: { after: position } });
    ch.subscribe();
    try {
      await waitFor(() => sys, { timeout: T(5000), message: 'the probe\'s system message' });
    } finally {
      await client.removeAllChannels();
    }
    return sys;
  }

  test('a position older than the history: the server says recovered: false and the list reads again, once, and is whole', async (t) => {
    const { client, rt, gate } = await session(stack, t);
    const list = aliceList(client, rt, 'too-old-1');
    await waitFor(() => list.store.getSnapshot().status === 'live', { timeout: T(5000), message: 'the list live' });
    await price(ALICE_B1, 300);
    await waitFor(() => list.price(ALICE_B1) === 300, { timeout: T(5000), message: 'the live change' });
    const position = list.channel().position;

    gate.open = false;
    gate.drop();
    await waitFor(() => list.store.getSnapshot().status === 'stale', { timeout: T(5000), message: 'the list stale while away' });
    await price(ALICE_B2, 301); // missed, and soon out of the history
    // Until the server no longer holds what came after the position (a
    // change of a row alice does not see keeps the history moving).
    const { client: prober } = await stack.signIn(DEMO.alice.email);
    t.after(() => prober.realtime.disconnect());
    let n = 0;
    let answer;
    await waitFor(async () => {
      await price(BOB_B6, 400 + n);
      answer = await probe(prober, position, n++);
      return answer.recovered === false;
    }, { timeout: T(15000), interval: 250, message: 'the server to answer recovered: false for the old position' });
    assert.match(String(answer.reason), /older than the retained history/, `reason: ${answer.reason}`);
    gate.open = true;

    await waitFor(() => list.channel()?.joins === 2 && list.store.getSnapshot().status === 'live' && list.price(ALICE_B2) === 301,
      { timeout: T(10000), message: 'rejoined, read again, the missed change on the list' });
    assert.deepEqual(joinsSent(gate, 'too-old-1').at(-1)?.postgres_changes_resume, { after: position }, 'it did ask to resume');
    assert.equal(list.reads, 2, 'read once more');
    const ch = list.channel();
    assert.match(ch.resume, /^not resumed: .*older than the retained history/);
    assert.deepEqual([ch.resumes, ch.rereads], [0, 1]);
    assert.ok(!list.changes.some((c) => c.price === 301), 'the missed change was not replayed');
    assert.deepEqual(shown(list), await truth(stack), 'the list is the database');
    // The position is the new start: the next rejoin can resume from it.
    assert.notEqual(ch.position, position);
    await price(ALICE_B1, 302);
    await waitFor(() => list.price(ALICE_B1) === 302, { timeout: T(5000), message: 'live after the re-read' });
    list.release();
    await rt.close();
  });
});
