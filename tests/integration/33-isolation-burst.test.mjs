// Issue 9, "paced bursts": someone else's large transaction must never cost a
// reading client its connection, and must cost the server a bounded amount
// of memory that goes back to the system afterwards.
//
//  1. One REST insert of 12,000 pending bookings (the attack measured before:
//     the admin and every technician were closed with 1013 after 4-5,000 of
//     them). Now every reading subscriber gets all 12,000, in order, and stays
//     joined; only a client that does not read at all is closed (1013).
//  2. A 100,000-row transaction committed in PostgreSQL with small queue and
//     backlog bounds: the stream is paused and resumed (WAL waits in
//     PostgreSQL), the admin receives all 100,000 exactly once and in order,
//     even though the WAL sender is killed in the middle (the transaction
//     comes again from its BEGIN; its parts already delivered are skipped),
//     and the server's peak memory stays bounded and falls back afterwards.
//
// Real PostgreSQL (logical replication), stock supabase-js. Waits are on
// events or polled predicates with timeouts, never sleeps.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { RawTcp, SERVER_BIN, T, encodeText, metrics, subscribe, waitFor } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

// Sanitizer builds use their own allocators: ASan quarantines freed memory,
// TSan's keeps it; only the normal build can show memory going back.
const ASAN = /asan|tsan|sanitiz/i.test(SERVER_BIN);
const MB = 1024 * 1024;

/** VmRSS and VmHWM of a process, bytes. */
function memOf(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A supabase-js channel counting INSERTs of bookings whose service starts
 * with prefix; `seq` is the number after the prefix, in arrival order. */
async function countInserts(client, topic, prefix) {
  const ch = client.channel(topic);
  const w = { ch, seqs: [], other: 0 };
  ch.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'bookings' }, (p) => {
    const s = p.new?.service ?? '';
    if (s.startsWith(prefix)) w.seqs.push(Number(s.slice(prefix.length)));
    else w.other++;
  });
  const st = await subscribe(ch, { timeout: T(15000) });
  assert.equal(st.status, 'SUBSCRIBED', `${topic}: ${st.err?.message}`);
  return w;
}

/** Joins bookings INSERTs over a raw TCP WebSocket (so reading can be
 * paused) and waits for "Subscribed to PostgreSQL". */
async function rawSubscriber(server, token) {
  const tcp = await RawTcp.open(server, { vsn: '2.0.0' });
  const topic = 'realtime:burst-raw';
  tcp.sendText(encodeText('2.0.0', {
    join_ref: '1', ref: '1', topic, event: 'phx_join',
    payload: { config: { postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'bookings' }] }, access_token: token },
  }));
  await tcp.frames.wait((f) => f.opcode === 1 && f.payload.includes('Subscribed to PostgreSQL'), {
    timeout: T(15000), message: 'raw subscriber: Subscribed to PostgreSQL',
  });
  return tcp;
}

function assertInOrder(seqs, n, label) {
  assert.equal(seqs.length, n, `${label}: ${seqs.length} of ${n} received`);
  for (let i = 0; i < n; i++) if (seqs[i] !== i) assert.fail(`${label}: position ${i} holds ${seqs[i]} (lost, duplicated or out of order)`);
}

describe('a large transaction reaches every reading client, paced', () => {
  let stack;
  before(async () => {
    // A short slow-consumer timeout keeps the test quick; the queue limit is
    // the default (4 MiB), far below what 12,000 events weigh.
    stack = await startStack({ flags: ['--slow-consumer-ms', '4000'] });
  });
  after(async () => { await stack?.stop(); });

  test('12,000 bookings in one REST insert: admin and technicians get all, in order, none closed; a non-reader is closed', async () => {
    const N = 12000;
    const alice = await stack.signIn(DEMO.alice.email);
    const admin = await stack.signIn(DEMO.admin.email);
    const watchers = [];
    for (const u of [admin, await stack.signIn(DEMO.tom.email), await stack.signIn(DEMO.tina.email)]) {
      watchers.push(await countInserts(u.client, `burst-${u.user.email}`, 'burst-'));
    }
    const stalled = await rawSubscriber(stack.server, admin.session.access_token);
    stalled.sock.pause(); // never reads again until the end

    // Each watcher's connection also gets broadcasts (not paced) while the
    // burst's frames (paced) fill its queue: the two must not be confused
    // (a miscount once closed reading clients with "send queue full").
    const echoes = [];
    for (const [i, u] of [admin, await stack.signIn(DEMO.tom.email)].entries()) {
      const ch = u.client.channel(`echo-${i}`, { config: { broadcast: { self: true } } });
      let got = 0;
      ch.on('broadcast', { event: 'tick' }, () => { got++; });
      assert.equal((await subscribe(ch)).status, 'SUBSCRIBED');
      echoes.push({ ch, got: () => got });
    }
    let ticking = true;
    const ticker = (async () => {
      while (ticking) {
        for (const e of echoes) await e.ch.send({ type: 'broadcast', event: 'tick', payload: { pad: 'x'.repeat(512) } });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const before = await metrics(stack.server);
    const rows = Array.from({ length: N }, (_, i) => ({ customer_id: DEMO.alice.id, service: `burst-${i}` }));
    const body = JSON.stringify(rows);
    assert.ok(body.length > 800000, 'the body is as large as the measured attack');
    const r = await stack.fetch('/rest/v1/bookings', {
      method: 'POST', token: alice.session.access_token, body, headers: { 'content-type': 'application/json', prefer: 'return=minimal' },
    });
    assert.equal(r.status, 201, r.text);

    try {
      for (const w of watchers) {
        await waitFor(() => w.seqs.length >= N, { timeout: T(60000), interval: 50, message: `${w.ch.topic}: ${N} inserts` });
      }
    } finally {
      ticking = false;
      await ticker;
    }
    for (const e of echoes) assert.ok(e.got() > 0, 'the broadcasts went through during the burst');
    // the non-reader goes within the slow-consumer timeout (plus the tick)
    await waitFor(async () => (await metrics(stack.server)).get('realtime_slow_consumer_closes_total') > before.get('realtime_slow_consumer_closes_total'),
      { timeout: T(15000), interval: 100, message: 'the stalled client to be closed' });
    for (const w of watchers) {
      assertInOrder(w.seqs, N, w.ch.topic);
      assert.equal(w.ch.state, 'joined', `${w.ch.topic} is still joined`);
      assert.ok(!w.ch.statusLog.some((s) => s.status !== 'SUBSCRIBED'), `${w.ch.topic} statuses: ${JSON.stringify(w.ch.statusLog)}`);
    }
    const m = await metrics(stack.server);
    assert.equal(m.get('realtime_slow_consumer_closes_total') - before.get('realtime_slow_consumer_closes_total'), 1,
      'only the client that does not read is closed');
    const log = stack.server.logs().filter((l) => l.msg === 'slow consumer closed').at(-1);
    assert.ok(['not reading', 'behind for longer than the slow consumer timeout'].includes(log.why), JSON.stringify(log));

    // The stalled client's connection ends. Its close frame (1013) sits behind
    // what the kernel already holds for it; a client that still does not
    // read after 5 s loses it with the connection, so only its code is checked.
    stalled.sock.resume();
    await waitFor(async () => { await stalled.ended; return true; }, { timeout: T(10000), message: 'stalled client TCP close' });
    const close = stalled.frames.items.find((f) => f.opcode === 8);
    if (close) assert.equal(close.code, 1013);
    // the backlog drains to nothing once the stalled client is gone
    await waitFor(async () => (await metrics(stack.server)).get('realtime_cdc_backlog_bytes') === 0,
      { timeout: T(10000), interval: 100, message: 'realtime_cdc_backlog_bytes back to 0' });
  });
});

describe('a 100,000-row transaction: bounded memory, paused stream, exactly once across a WAL sender kill', () => {
  let stack;
  before(async () => {
    // The smallest queue bound: one part of the transaction (1,024 changes
    // of ~1.5 KB) passes it, so the stream pauses on every build, however
    // fast decoding and delivery are relative to each other.
    // The change history (kept for resumes) is bounded too: 4 MiB here,
    // so what stays resident after the burst is that bound, not the burst.
    stack = await startStack({
      flags: ['--cdc-queue-bytes', String(1 * MB), '--cdc-backlog-bytes', String(4 * MB),
        '--cdc-history-bytes', String(4 * MB)],
    });
  });
  after(async () => { await stack?.stop(); });

  test('all 100,000 arrive once and in order; memory is bounded and returned', async (t) => {
    const N = 100000;
    const admin = await stack.signIn(DEMO.admin.email);
    const w = await countInserts(admin.client, 'big-tx', 'big-');
    const pid = stack.server.proc.pid;
    const base = memOf(pid);

    const insert = stack.db.psql(`insert into public.bookings (customer_id, service, description)
      select '${DEMO.alice.id}', 'big-' || (g - 1), repeat('d', 200) from generate_series(1, ${N}) g;`);
    // Once the stream has had to pause and part of the transaction is out,
    // kill the WAL sender: the rest must come again, nothing twice.
    await waitFor(async () => (await metrics(stack.server)).get('realtime_cdc_stream_pauses_total') >= 1 && w.seqs.length >= 10000,
      { timeout: T(120000), interval: 50, message: 'a paused stream with part of the transaction out' });
    assert.ok(w.seqs.length < N, 'the kill lands in the middle of the transaction');
    const killed = await stack.db.psql(`select count(pg_terminate_backend(pid)) from pg_stat_replication;`);
    assert.equal(killed.trim(), '1', 'one WAL sender terminated');
    await insert;

    await waitFor(() => w.seqs.length >= N, { timeout: T(240000), interval: 100, message: `${N} inserts (have ${w.seqs.length})` });
    // a marker committed afterwards arrives after everything: nothing more trails
    await stack.db.psql(`insert into public.bookings (customer_id, service) values ('${DEMO.alice.id}', 'marker');`);
    await waitFor(() => w.other >= 1, { timeout: T(20000), message: 'marker insert' });
    assertInOrder(w.seqs, N, 'admin');
    await stack.server.waitForLog((l) => l.msg === 'replication stream lost' || l.msg === 'postgres changes: replication stream lost',
      { timeout: T(5000), message: 'the stream loss in the log' });

    const peak = memOf(pid).hwm - base.hwm;
    // The queue and backlog bounds are 1 + 4 MiB; decoding, pointers and
    // allocator slack come on top. Before this issue the same transaction
    // peaked at 489 MB with the default settings. Since migration 010 the
    // transaction also carries a marketplace listing per pending booking
    // (a trigger): 200,000 changes. Under ASan the peak adds up to 256 MB of
    // freed memory held in quarantine, and redzones: 453-458 MB measured.
    const bound = (ASAN ? 560 : 160) * MB;
    t.diagnostic(`peak resident memory grew by ${(peak / MB).toFixed(0)} MB (bound ${bound / MB})`);
    assert.ok(peak < bound, `peak resident memory grew by ${(peak / MB).toFixed(0)} MB (bound ${bound / MB})`);
    if (!ASAN) {
      // (see ASAN above)
      await waitFor(() => memOf(pid).rss < base.rss + 48 * MB, {
        timeout: T(20000), interval: 200,
        message: `resident memory back near ${(base.rss / MB).toFixed(0)} MB (now ${(memOf(pid).rss / MB).toFixed(0)} MB)`,
      });
    }
    const m = await metrics(stack.server);
    assert.ok(m.get('realtime_cdc_stream_pauses_total') >= 1);
    // the history kept the newest changes of the burst, within its bound
    assert.ok(m.get('realtime_cdc_history_changes') > 0, 'the history keeps the newest changes');
    assert.ok(m.get('realtime_cdc_history_bytes') <= 4 * MB, `history ${m.get('realtime_cdc_history_bytes')} bytes within 4 MiB`);
    if (process.env.TC_VERBOSE) {
      fs.appendFileSync(process.env.TC_VERBOSE, `100k rows: peak +${(peak / MB).toFixed(0)} MB, rss after ${(memOf(pid).rss / MB).toFixed(0)} MB ` +
        `(base ${(base.rss / MB).toFixed(0)}), pauses ${m.get('realtime_cdc_stream_pauses_total')}\n`);
    }
  });
});
