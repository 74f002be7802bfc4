// Postgres Changes: a channel that falls out of the history while it is
// still catching up (docs/PROTOCOL.md, "positions and resume", point 5).
//
// The server's change history is small (64 KiB) and the client address's
// filter rate bound is at its floor (CDC_MATCH_RATE 1,000 units a second),
// which the replay pays 32 units per history entry from: the replay of 150
// missed changes then takes seconds, a pace set by the bound, not by timing.
// While it runs, one transaction of 400 rows pushes the history past the
// channel's cursor. The channel must then hear a second "Subscribed to
// PostgreSQL" with recovered:false and a reason, get nothing twice, nothing
// out of order, none of the 400 rows (they are before its new start), and
// every change after it live (once the address's bound has drained).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Inbox, T, metrics, waitFor } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const key = (pos) => {
  const [lsn, ord] = pos.split(':');
  const [hi, lo] = lsn.split('/');
  return ((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)) * 4294967296n + BigInt(ord);
};

describe('a resuming channel that the history passes while it catches up', () => {
  let stack;
  before(async () => {
    stack = await startStack({ flags: ['--cdc-history-bytes', '65536', '--cdc-match-rate', '1000'] });
  });
  after(async () => { await stack?.stop(); });

  test('second system message recovered:false, then live from its position; nothing twice, in order', async () => {
    const insert = (n, tag) => stack.db.psql(`insert into public.notifications (user_id, type, title)
      select '${DEMO.alice.id}', 'system', '${tag}-' || g from generate_series(1, ${n}) g;`);
    const got = [];
    const system = new Inbox('system');
    const sb = stack.client(stack.serviceKey);
    const open = () => {
      const ch = sb.channel('lost');
      ch.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notifications' }, (p, pos) => {
        got.push({ pos, title: p.new.title });
        ch.updateJoinPayload({ postgres_changes_resume: { after: pos } });
      });
      ch.on('system', {}, (p) => system.push({ ...p, seen: got.length })); // seen: events before it
      return ch;
    };
    const subscribed = (ch) => new Promise((res, rej) => ch.subscribe((s, err) => (s === 'SUBSCRIBED' ? res() : s !== 'CLOSED' && rej(err ?? new Error(s)))));
    const kept = async () => (await metrics(stack.server)).get('realtime_cdc_history_changes');
    let ch = open();
    await subscribed(ch);
    await system.wait((p) => p.message === 'Subscribed to PostgreSQL', { timeout: T(10000) });
    await insert(1, 'first');
    await waitFor(() => got.length === 1, { timeout: T(10000), message: 'the first change live' });
    const last = got[0].pos;
    await sb.removeChannel(ch);

    // 150 small entries, well within 64 KiB; decoded before the rejoin, so
    // they are replayed from the history, not received live
    await insert(150, 'missed');
    await waitFor(async () => (await kept()) >= 151, { timeout: T(10000), interval: 50, message: 'the missed changes in the history' });
    ch = open();
    ch.updateJoinPayload({ postgres_changes_resume: { after: last } });
    await subscribed(ch);
    const resumed = await system.wait((p) => 'recovered' in p, { timeout: T(10000) });
    assert.equal(resumed.recovered, true, JSON.stringify(resumed));
    assert.equal(resumed.position, last);

    await insert(400, 'flood'); // more than the history holds: it moves past the cursor
    const lost = await system.wait((p) => p.recovered === false, { timeout: T(20000), message: 'recovered:false while catching up' });
    assert.match(lost.reason, /moved past .* while this channel caught up/);
    const replayed = got.slice(1, lost.seen).map((g) => g.title);
    assert.ok(replayed.length < 150, `the replay was cut short (${replayed.length} of 150 replayed)`);
    assert.deepEqual(replayed, replayed.map((_, i) => `missed-${i + 1}`), 'the oldest missed changes, in order, once');

    // Live from its new position. The replay spent the address's rate bound
    // (that is what made it slow), and a change decoded while it is spent
    // does not match; so probes go in until one arrives, and from then on,
    // with nothing else spending the bound, every change must.
    let probes = 0;
    await waitFor(async () => {
      if (got.some((g) => g.title.startsWith('probe'))) return true;
      await insert(1, `probe${++probes}`);
      return false;
    }, { timeout: T(20000), interval: 200, message: 'a live change after the new start' });
    await insert(3, 'after');
    await waitFor(() => got.filter((g) => g.title.startsWith('after-')).length === 3, { timeout: T(10000), message: 'every later change, live' });
    for (const g of got.slice(lost.seen)) assert.ok(key(g.pos) > key(lost.position), `${g.pos} (${g.title}) after the new start ${lost.position}`);
    for (let i = 1; i < got.length; i++) assert.ok(key(got[i].pos) > key(got[i - 1].pos), `in order, once: ${got[i - 1].pos} then ${got[i].pos}`);
  });
});
