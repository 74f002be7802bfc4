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
//
// And a quiet channel (PROTOCOL.md, "positions and resume", point 6): with
// a 3 s history and other tables writing WAL, the slot moves on with time,
// a window behind; a channel that receives nothing is told newer positions
// ("Position"), so after the server is killed and restarted long after its
// last change, it still resumes, and a start position handed out while the
// history was empty is resumable after a crash too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Inbox, Server, T, metrics, waitFor } from './harness.mjs';
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

describe('a quiet channel keeps a position inside the window, across kill -9', () => {
  let stack;
  before(async () => {
    stack = await startStack({ flags: ['--cdc-history-seconds', '3', '--cdc-position-every-ms', '500'],
      prepare: (db) => db.psql('create table public.tc_unpublished (id bigserial primary key, v text);') });
  });
  after(async () => { await stack?.stop(); });

  test('"Position" messages; the slot moves a window behind; a resume after the crash is recovered', async () => {
    const got = [];
    const system = new Inbox('system');
    const sb = stack.client(stack.serviceKey);
    let stored = null;
    const ch = sb.channel('quiet');
    ch.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notifications' }, (p, pos) => {
      got.push({ pos, title: p.new.title });
      stored = pos;
      ch.updateJoinPayload({ postgres_changes_resume: { after: pos } });
    });
    ch.on('system', {}, (p) => {
      system.push(p);
      if (p.extension === 'postgres_changes' && p.position && p.status === 'ok') {
        stored = p.position; // the start, then each newer position
        ch.updateJoinPayload({ postgres_changes_resume: { after: p.position } });
      }
    });
    await new Promise((res, rej) => ch.subscribe((s, err) => (s === 'SUBSCRIBED' ? res() : s !== 'CLOSED' && rej(err ?? new Error(s)))));
    const start = await system.wait((p) => p.message === 'Subscribed to PostgreSQL', { timeout: T(10000) });
    await stack.db.psql(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'system', 'one');`);
    await waitFor(() => got.length === 1, { timeout: T(10000), message: 'the change live' });
    assert.ok(key(got[0].pos) > key(start.position));

    // Other tables write WAL while this channel hears nothing: the slot must
    // move on with time (bounded WAL), and the channel is told newer positions.
    const slot = async () => (await stack.db.rows(`select confirmed_flush_lsn::text as c from pg_replication_slots`))[0].c;
    const lsnKey = (lsn) => key(`${lsn}:0`);
    await waitFor(async () => {
      await stack.db.psql(`insert into public.tc_unpublished (v) values ('x');`);
      return lsnKey(await slot()) > key(got[0].pos);
    }, { timeout: T(30000), interval: 250, message: 'the slot moved past the last change, a window later' });
    const pos = await system.wait((p) => p.message === 'Position' && key(p.position) > key(got[0].pos), { timeout: T(10000) });
    assert.ok(lsnKey(await slot()) <= key(stored), `the slot (${await slot()}) is not past the position the channel holds (${stored})`);
    assert.ok(pos.position);

    // Killed and restarted: the channel rejoins with its newest position.
    const old = stack.server;
    old.proc.kill('SIGKILL');
    await old.exited;
    await stack.db.psql(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'system', 'while-down');`);
    stack.server = await new Server({ port: old.port, secret: old.secret, flags: old.flags, env: old.env }).start();
    const again = await system.wait((p) => p.message === 'Subscribed to PostgreSQL' && 'recovered' in p, { timeout: T(30000) });
    assert.equal(again.recovered, true, JSON.stringify(again));
    await waitFor(() => got.some((g) => g.title === 'while-down'), { timeout: T(10000), message: 'the change committed while down' });
    await stack.db.psql(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'system', 'after');`);
    await waitFor(() => got.some((g) => g.title === 'after'), { timeout: T(10000), message: 'live after the resume' });
    assert.deepEqual(got.map((g) => g.title), ['one', 'while-down', 'after'], 'each once, in order');
  });
});
