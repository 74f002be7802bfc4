// Postgres Changes: positions and resume (docs/PROTOCOL.md, "Postgres
// Changes: positions and resume (our extension)"), with real PostgreSQL and
// stock realtime-js clients behaving as a real app would: every
// postgres_changes callback gets the change's position as its second
// argument and stores it with channel.updateJoinPayload({postgres_changes_resume:
// {after}}), so every automatic rejoin of realtime-js asks to resume.
//
// Six clients (alice, bob, carol, tom, tina, service_role; vsn 1.0.0 and
// 2.0.0 alternating; different filters, RLS deciding the rest) each behind
// their own small TCP proxy, and one writer committing numbered changes
// (INSERTs and UPDATEs of public.notifications, 1 to 3 per transaction).
// Ground truth is read from the table at the end: every change that really
// committed, which user it belongs to, its number (= commit order). Each
// client must receive exactly the changes it may see: none lost, none twice,
// in commit order, with strictly increasing positions, across
//   (a) a 30 s network cut (two hard cuts, two silent black holes; two
//       clients stay connected as a control); the service client misses
//       more than one replay chunk and is cut again in the middle of its
//       replay; the writer runs fast while they all rejoin,
//   (b) the server killed with SIGKILL and restarted on the same port, while
//       the writer commits before, during the down time and after (and a
//       fresh join on the new process gets only what commits after it),
//   (c) PostgreSQL restarted in immediate mode under the writer (two clients
//       also cut across it),
// and:
//   - a fresh join's `position` is a consistent start (snapshot after the
//     system message + events = the table),
//   - a new client (a page reload) resumes from the position the old one
//     stored,
//   - malformed, ancient and future positions answer recovered:false with a
//     reason, and the channel is live,
//   - replay authorizes "now": messages of a booking whose technician was
//     replaced are not replayed to the old technician (who saw them live
//     only before the change) and are all replayed to the new one (even
//     those she could not read when they committed),
//   - (d) a position older than the retained history (a server restarted
//     with CDC_HISTORY_SECONDS=1): recovered:false with the reason, then a
//     REST re-read plus the live events from `position` on equal the table.
// The server publishes notification UPDATEs here (TABLE_EVENTS), so bob's
// '*' binding gets both kinds. A failed comparison writes every client's
// deliveries (label, position) and the server's log tail to a JSON file in
// the temp directory, named in the assertion message.
//
// No sleeping to hope something arrived: every wait is on an event or a
// polled predicate with a timeout. The only fixed wait is the network cut
// itself (its length is the scenario) and the writer's pacing.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { RawWs, Server, T, disconnectClient, httpRequest, metrics, newClient, waitFor } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const CUT_MS = Number(process.env.TC_RESUME_CUT_MS || 30000);
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** waitFor whose failure message is computed when it fails (what(): the
 * state at that moment, not at the call). */
async function until(pred, timeout, what) {
  try {
    return await waitFor(pred, { timeout, interval: 20, message: 'x' });
  } catch (e) {
    if (!/^timed out/.test(e.message)) throw e;
    throw new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`);
  }
}
const uuid = () => crypto.randomUUID();

// ---- positions --------------------------------------------------------------

const POS_RE = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8}):(\d+)$/;
/** "<hi>/<lo>:<n>" → {lsn, i} (BigInt), or null if it is not a position. */
function parsePos(s) {
  const m = typeof s === 'string' ? POS_RE.exec(s) : null;
  if (!m) return null;
  return { lsn: (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`), i: BigInt(m[3]) };
}
function cmpPos(a, b) {
  const x = parsePos(a);
  const y = parsePos(b);
  if (!x || !y) throw new Error(`not positions: ${a} ${b}`);
  if (x.lsn !== y.lsn) return x.lsn < y.lsn ? -1 : 1;
  return x.i < y.i ? -1 : x.i > y.i ? 1 : 0;
}
/** Index of the first position in ps that is not a valid position or not
 * greater than the one before it, or -1. */
function firstBadPos(ps) {
  for (let i = 0; i < ps.length; i++) {
    if (!parsePos(ps[i])) return i;
    if (i > 0 && cmpPos(ps[i - 1], ps[i]) >= 0) return i;
  }
  return -1;
}

// ---- a TCP proxy that can cut a client off ----------------------------------

/** Sits between one realtime-js client and the server. cut() makes the
 * network go away: hard (both sockets destroyed: the client sees the close
 * at once) or silent (bytes are dropped both ways and nothing is closed:
 * the client finds out from its heartbeat, the server from nothing);
 * meanwhile new connections are accepted and closed at once. restore()
 * lets new ones through. */
class CutProxy {
  constructor(targetPort) {
    this.target = targetPort;
    this.up = true;
    this.pairs = new Set();
    this.accepted = 0; // connections passed through to the server
    this.refused = 0; // connection attempts while cut
  }

  async start() {
    this.srv = net.createServer((c) => this.onConn(c));
    await new Promise((resolve, reject) => {
      this.srv.once('error', reject);
      this.srv.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.srv.address().port;
    return this;
  }

  get wsEndpoint() { return `ws://127.0.0.1:${this.port}/realtime/v1`; }

  onConn(c) {
    c.on('error', () => {});
    if (!this.up) {
      this.refused++;
      c.destroy();
      return;
    }
    this.accepted++;
    const u = net.connect(this.target, '127.0.0.1');
    u.on('error', () => {});
    const pair = { c, u, live: true };
    this.pairs.add(pair);
    c.on('data', (d) => { if (pair.live) u.write(d); });
    u.on('data', (d) => { if (pair.live) c.write(d); });
    const closed = () => {
      if (!pair.live) return; // silent: the other side learns nothing
      this.pairs.delete(pair);
      c.destroy();
      u.destroy();
    };
    c.on('close', closed);
    u.on('close', closed);
  }

  cut({ silent = false } = {}) {
    this.up = false;
    for (const p of [...this.pairs]) {
      if (silent) {
        p.live = false;
      } else {
        this.pairs.delete(p);
        p.live = false;
        p.c.destroy();
        p.u.destroy();
      }
    }
  }

  /** A silently cut connection ends on the client's side only: the server
   * still has it (its writes go nowhere) while the client connects again,
   * as after a NAT or Wi-Fi change. stop() ends it. */
  restore() {
    for (const p of this.pairs) if (!p.live) p.c.destroy();
    this.up = true;
  }

  async stop() {
    this.up = false;
    for (const p of this.pairs) { p.c.destroy(); p.u.destroy(); }
    this.pairs.clear();
    await new Promise((r) => this.srv.close(r));
  }
}

// ---- a client that resumes ---------------------------------------------------

/** A stock RealtimeClient (vsn, token) with one channel whose bindings
 * (key → postgres_changes filter) store every event with its position, and
 * which keeps postgres_changes_resume.after at the last position seen, as a
 * real app does. A "Subscribed to PostgreSQL" that did not recover (a fresh
 * join, or recovered:false) resets it to the message's position.
 * onSystem(m, r) (also r.onSystem) runs for each postgres_changes system
 * message, r.onEvent(r) after each event. */
function resumer({ label, endpoint, apikey, vsn, token, topic, bindings, resume, onSystem }) {
  const client = newClient({ wsEndpoint: endpoint, apikey }, {
    vsn,
    token,
    reconnectAfterMs: () => 200,
    heartbeatIntervalMs: T(5000),
  });
  const ch = client.channel(topic);
  const r = { label, vsn, client, ch, topic, events: [], system: [], statuses: [], last: null, onSystem };
  const setAfter = (pos) => {
    r.last = pos;
    ch.updateJoinPayload({ postgres_changes_resume: { after: pos } });
  };
  for (const [key, filter] of Object.entries(bindings)) {
    ch.on('postgres_changes', { schema: 'public', ...filter }, (p, pos) => {
      r.events.push({ key, p, pos });
      setAfter(pos);
      if (r.onEvent) r.onEvent(r);
    });
  }
  ch.on('system', {}, (m) => {
    if (m?.extension !== 'postgres_changes') return;
    // What this join asked for: the join payload realtime-js sent.
    const asked = ch.channelAdapter.joinPush.payload().postgres_changes_resume;
    const entry = { ...m, asked: asked === undefined ? undefined : JSON.parse(JSON.stringify(asked)), eventsBefore: r.events.length };
    r.system.push(entry);
    if (m.status === 'ok' && m.recovered !== true && parsePos(m.position)) setAfter(m.position);
    if (r.onSystem) r.onSystem(entry, r);
  });
  if (resume !== undefined) ch.updateJoinPayload({ postgres_changes_resume: resume });
  ch.subscribe((status, err) => r.statuses.push({ status, err: err?.message }));
  r.ok = () => r.system.filter((m) => m.status === 'ok' && m.message === 'Subscribed to PostgreSQL'); // not the "Position" ones
  /** Waits for the n-th "Subscribed to PostgreSQL". */
  r.subscribed = (n = 1, timeout = T(20000)) => until(() => r.ok().length >= n && r.ok()[n - 1], timeout,
    () => `${label}: "Subscribed to PostgreSQL" #${n} (system ${JSON.stringify(r.system)}; statuses ${JSON.stringify(r.statuses.slice(-6))})`);
  return r;
}

// ---- the writer and the ground truth ----------------------------------------

const USERS = ['alice', 'bob', 'carol', 'tom'];
const writers = new Set(); // closed by the suite's after hook if a test failed first

/** Commits numbered changes to public.notifications of one `type`: change
 * number c is an INSERT of a row with data.n = c for USERS[c % 4], or (every
 * fifth) an UPDATE appending c to data.u of an earlier row; 1, 1, 2, 1, 3
 * changes per transaction. One session, one transaction at a time: commit
 * order is number order. A transaction that fails because the connection
 * went away (PostgreSQL restarting) may or may not have committed; the
 * table says (truth()). */
class Writer {
  constructor(db, type) {
    this.db = db;
    this.type = type;
    this.c = 0;
    this.txns = 0;
    this.failed = 0;
    this.rows = []; // ids of rows whose INSERT is known to have committed
    this.session = db.session();
    this.closed = false;
    writers.add(this);
  }

  insertSql(c, who) {
    const id = uuid();
    return [id, `insert into public.notifications (id, user_id, type, title, data) values ('${id}', '${DEMO[who].id}', ` +
      `'${this.type}', 'resume ${c}', jsonb_build_object('n', ${c}));`];
  }

  /** One transaction; resolves false if the connection was lost under it. */
  async txn(whos) {
    if (this.closed) throw new Error('writer closed');
    const k = whos ? whos.length : [1, 1, 2, 1, 3][this.txns % 5];
    this.txns++;
    const sql = ['begin;'];
    const ids = [];
    for (let i = 0; i < k; i++) {
      const c = ++this.c;
      if (!whos && c % 5 === 0 && this.rows.length) {
        const id = this.rows[(c * 7) % this.rows.length];
        sql.push(`update public.notifications set data = jsonb_set(data, '{u}', coalesce(data->'u', '[]'::jsonb) || to_jsonb(${c})) where id = '${id}';`);
      } else {
        const [id, s] = this.insertSql(c, whos ? whos[i] : USERS[c % 4]);
        ids.push(id);
        sql.push(s);
      }
    }
    sql.push('commit;');
    try {
      await this.session.run(sql.join('\n'));
      this.rows.push(...ids);
      return true;
    } catch (e) {
      if (this.closed) return false; // closed under it (a failed test's cleanup)
      if (!e.sessionLost && !/terminating connection|server closed|connection|shutting down|starting up/i.test(e.message)) throw e;
      this.failed++;
      await this.session.close().catch(() => {});
      const s = await waitFor(async () => {
        const x = this.db.session();
        try { await x.run('select 1;'); return x; } catch { await x.close().catch(() => {}); return null; }
      }, { timeout: T(30000), interval: 100, message: 'PostgreSQL to accept connections again' });
      if (this.closed) await s.close();
      else this.session = s;
      return false;
    }
  }

  /** n transactions, gapMs apart. */
  async burst(n, gapMs = 0) {
    for (let i = 0; i < n; i++) {
      await this.txn();
      if (gapMs) await delay(gapMs);
    }
  }

  /** Transactions gapMs apart (of whos' INSERTs if given) until stop() is awaited. */
  loop(gapMs, whos) {
    let stopping = false;
    const done = (async () => {
      while (!stopping && !this.closed) {
        await this.txn(whos);
        if (gapMs) await delay(gapMs);
      }
    })();
    done.catch(() => {}); // a failure is seen by whoever awaits stop()
    return { stop: async () => { stopping = true; await done; } };
  }

  /** The last transaction: one INSERT for each of USERS and tina, so every
   * client of a scenario has its own last change to wait for. */
  async marker() {
    for (;;) if (await this.txn([...USERS, 'tina'])) return;
  }

  /** Every committed change of this writer in commit order:
   * {c, op, user, label}. */
  async truth() {
    const rows = await this.db.rows(`select user_id as "user", (data->>'n')::int as n, coalesce(data->'u', '[]'::jsonb) as u ` +
      `from public.notifications where type = '${this.type}'`);
    const out = [];
    for (const r of rows) {
      out.push({ c: r.n, op: 'INSERT', user: r.user });
      for (const u of r.u) out.push({ c: u, op: 'UPDATE', user: r.user });
    }
    out.sort((a, b) => a.c - b.c);
    for (const x of out) x.label = `${x.op[0]}${x.c}`;
    return out;
  }

  close() {
    this.closed = true;
    writers.delete(this);
    return this.session.close();
  }
}

/** The label of a received change: I<n> or U<n>. */
function labelOf(p) {
  if (p.eventType === 'INSERT') return `I${p.new?.data?.n}`;
  if (p.eventType === 'UPDATE') { const u = p.new?.data?.u || []; return `U${u[u.length - 1]}`; }
  return `${p.eventType}?`;
}

/** Lost, duplicated, unexpected and out-of-order labels. */
function compare(got, want) {
  const g = new Set(got);
  const w = new Set(want);
  const seen = new Set();
  const dups = [];
  for (const x of got) { if (seen.has(x)) dups.push(x); seen.add(x); }
  const num = (l) => Number(l.slice(1));
  return {
    received: got.length,
    lost: want.filter((x) => !g.has(x)).slice(0, 20),
    lostCount: want.filter((x) => !g.has(x)).length,
    duplicated: dups.slice(0, 20),
    unexpected: got.filter((x) => !w.has(x)).slice(0, 20),
    inCommitOrder: got.every((x, i) => i === 0 || num(got[i - 1]) < num(x)),
  };
}
const clean = (n) => ({ received: n, lost: [], lostCount: 0, duplicated: [], unexpected: [], inCommitOrder: true });

// ---- the suite -----------------------------------------------------------------

describe('postgres_changes positions and resume', { timeout: T(300000) }, () => {
  let stack;
  const u = {}; // signed-in demo users
  const proxies = [];

  before(async () => {
    // Notifications publish UPDATEs too here (by default they are INSERT
    // only), so bob's '*' binding gets both kinds.
    stack = await startStack({ serverEnv: { TABLE_EVENTS: 'public.messages:INSERT,public.notifications:INSERT|UPDATE,public.payments:INSERT' } });
    const names = ['alice', 'bob', 'carol', 'tom', 'tina'];
    const sessions = await Promise.all(names.map((n) => stack.signIn(DEMO[n].email)));
    names.forEach((n, i) => { u[n] = sessions[i]; u[n].token = sessions[i].session.access_token; });
  });
  after(async () => {
    for (const w of [...writers]) await w.close().catch(() => {});
    for (const p of proxies) await p.stop().catch(() => {});
    await stack?.stop();
  });

  const proxy = async () => {
    const p = await new CutProxy(stack.server.port).start();
    proxies.push(p);
    return p;
  };

  /** The six clients of a scenario, each with its own proxy, and what each
   * may see (a predicate on a ground-truth change). */
  async function sixClients(t, name, type) {
    const specs = [
      { who: 'alice', vsn: '2.0.0', binding: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` },
        sees: (x) => x.user === DEMO.alice.id && x.op === 'INSERT' },
      { who: 'bob', vsn: '1.0.0', binding: { event: '*', table: 'notifications', filter: `user_id=eq.${DEMO.bob.id}` },
        sees: (x) => x.user === DEMO.bob.id },
      { who: 'carol', vsn: '2.0.0', binding: { event: 'INSERT', table: 'notifications' },
        sees: (x) => x.user === DEMO.carol.id && x.op === 'INSERT' },
      { who: 'tom', vsn: '1.0.0', binding: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` },
        sees: (x) => x.user === DEMO.tom.id && x.op === 'INSERT' },
      { who: 'tina', vsn: '2.0.0', binding: { event: '*', table: 'notifications' }, // RLS: only her own (the marker)
        sees: (x) => x.user === DEMO.tina.id },
      { who: 'service', vsn: '1.0.0', binding: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` },
        sees: (x) => x.op === 'INSERT' },
    ];
    const out = [];
    t.after(() => closeAll(out));
    for (const s of specs) {
      const p = await proxy();
      const r = resumer({
        label: `${name}/${s.who} (vsn ${s.vsn})`, endpoint: p.wsEndpoint, apikey: stack.anonKey, vsn: s.vsn,
        token: s.who === 'service' ? stack.serviceKey : u[s.who].token,
        topic: `${name}-${s.who}`, bindings: { n: s.binding },
      });
      r.proxy = p;
      r.sees = s.sees;
      out.push(r);
    }
    for (const r of out) {
      const sys = await r.subscribed(1);
      assert.ok(parsePos(sys.position), `${r.label}: a fresh join's system message has a position: ${JSON.stringify(sys)}`);
      assert.equal(sys.recovered, undefined, `${r.label}: no "recovered" without a resume`);
    }
    return out;
  }

  /** Commits the marker, then checks every client against the table. */
  async function settle(w, clients, what) {
    await w.marker();
    const truth = await w.truth();
    const report = {};
    const want = {};
    for (const r of clients) {
      const labels = truth.filter(r.sees).map((x) => x.label);
      want[r.label] = clean(labels.length);
      const last = labels[labels.length - 1];
      await until(() => r.events.some((e) => labelOf(e.p) === last), T(30000), 'x')
        .catch(() => {}); // the comparison below says what is missing
      report[r.label] = compare(r.events.map((e) => labelOf(e.p)), labels);
      const bad = firstBadPos(r.events.map((e) => e.pos));
      if (bad >= 0) report[r.label].positionsNotIncreasing = r.events.slice(Math.max(0, bad - 1), bad + 1).map((e) => e.pos);
    }
    let dump = '';
    try { assert.deepEqual(report, want); } catch {
      // Evidence for a failure: every client's deliveries (label, position,
      // binding) and system messages, next to the ground truth.
      dump = path.join(os.tmpdir(), `tc-resume-${what.replace(/\W+/g, '-')}-${process.pid}.json`);
      fs.writeFileSync(dump, JSON.stringify({
        truth: truth.map((x) => `${x.label} ${x.user}`),
        clients: clients.map((r) => ({ label: r.label, system: r.system, statuses: r.statuses,
          events: r.events.map((e) => `${labelOf(e.p)} ${e.pos} ${e.p.eventType} ${e.p.new?.id ?? e.p.old?.id}`) })),
        serverLog: stack.server.stderrTail(200),
      }, null, 1));
    }
    assert.deepEqual(report, want, `${what}: every client gets exactly its changes, once, in commit order${dump ? ` (deliveries in ${dump})` : ''}`);
    // A replayed change is the live one: the same position and payload
    // (record, old record, commit_timestamp, ...) for every client that
    // got it, whether live or from the history.
    const seen = new Map(); // label → {label of the client, pos, payload JSON}
    const differ = [];
    for (const r of clients) {
      for (const e of r.events) {
        const l = labelOf(e.p);
        const mine = { client: r.label, pos: e.pos, payload: JSON.stringify(e.p) };
        const first = seen.get(l);
        if (!first) seen.set(l, mine);
        else if (first.pos !== mine.pos || first.payload !== mine.payload) differ.push({ change: l, a: first, b: mine });
      }
    }
    assert.deepEqual(differ.slice(0, 3), [], `${what}: one change, one position and payload for every client (${differ.length} differ)`);
    return truth;
  }

  async function closeAll(clients) {
    for (const r of clients) await disconnectClient(r.client);
    for (const r of clients) if (r.proxy) await r.proxy.stop();
  }

  test('a fresh join: "Subscribed to PostgreSQL" has a position; snapshot after it + events = the table', async (t) => {
    const type = 'resume_snapshot';
    const w = new Writer(stack.db, type);
    t.after(() => w.close());
    // Rows before the joins, already decoded by the server (a subscriber
    // got them): they come before the position, so only the snapshot has
    // them. Then more rows committed all through the joins.
    const watcher = resumer({ label: 'snapshot/watcher', endpoint: stack.server.wsEndpoint, apikey: stack.anonKey, vsn: '2.0.0',
      token: stack.serviceKey, topic: 'snapshot-watcher', bindings: { n: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` } } });
    t.after(() => closeAll([watcher]));
    await watcher.subscribed(1);
    for (let i = 0; i < 5; i++) await w.txn(['alice']);
    await until(() => watcher.events.length >= 5, T(10000), () => `the watcher: the 5 rows before the joins (${watcher.events.length})`);
    const early = watcher.events.map((e) => e.p.new.id);
    const writing = w.loop(5, ['alice']);
    const rest = u.alice.client;
    const snapshots = {};
    const clients = ['1.0.0', '2.0.0'].map((vsn) => resumer({
      label: `snapshot/alice (vsn ${vsn})`, endpoint: stack.server.wsEndpoint, apikey: stack.anonKey, vsn, token: u.alice.token,
      topic: `snapshot-${vsn}`, bindings: { n: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` } },
      onSystem: (m, r) => {
        // A real app re-reads what it shows right after this message.
        snapshots[r.label] ??= rest.from('notifications').select('id').eq('type', type).then(({ data, error }) => {
          if (error) throw new Error(`REST read: ${error.message}`);
          return data.map((x) => x.id);
        });
      },
    }));
    t.after(() => closeAll(clients));
    for (const r of clients) await r.subscribed(1);
    const snaps = {};
    for (const r of clients) snaps[r.label] = await snapshots[r.label];
    // Some live events after the snapshot, then stop and settle.
    for (const r of clients) await waitFor(() => r.events.length >= 10, { timeout: T(10000), message: `${r.label}: 10 events` });
    await writing.stop();
    const [markId, markSql] = w.insertSql(++w.c, 'alice');
    await w.session.run(markSql);
    const table = (await stack.db.rows(`select id from public.notifications where type = '${type}' and user_id = '${DEMO.alice.id}'`)).map((x) => x.id).sort();
    for (const r of clients) {
      await waitFor(() => r.events.some((e) => e.p.new.id === markId), { timeout: T(10000), message: `${r.label}: the last row` });
      const sys = r.ok()[0];
      const evIds = r.events.map((e) => e.p.new.id);
      assert.deepEqual(early.filter((id) => !snaps[r.label].includes(id)), [], `${r.label}: the snapshot has the rows from before the join`);
      assert.deepEqual(early.filter((id) => evIds.includes(id)), [], `${r.label}: rows decoded before the join are not events`);
      assert.deepEqual([...new Set([...snaps[r.label], ...evIds])].sort(), table, `${r.label}: snapshot ∪ events = the table`);
      assert.equal(new Set(evIds).size, evIds.length, `${r.label}: no event twice`);
      assert.equal(firstBadPos(r.events.map((e) => e.pos)), -1, `${r.label}: positions strictly increase`);
      assert.ok(r.events.every((e) => cmpPos(e.pos, sys.position) > 0),
        `${r.label}: every event is after the join's position ${sys.position} (first ${r.events[0]?.pos})`);
      // Events at or before the position would be in the snapshot; those
      // after it may or may not be (they committed around the read).
      console.log(`# fresh join ${r.label}: snapshot ${snaps[r.label].length} rows, ${evIds.length} events, ` +
        `${evIds.filter((id) => snaps[r.label].includes(id)).length} in both; table ${table.length}`);
    }
  });

  test('malformed, ancient and future positions: recovered:false with a reason, and the channel is live', async (t) => {
    const type = 'resume_malformed';
    const cases = [
      { name: 'after "garbage"', resume: { after: 'garbage' } },
      { name: 'after 5', resume: { after: 5 } },
      { name: 'after null', resume: { after: null } },
      { name: 'resume "garbage"', resume: 'garbage' },
      { name: 'after 0/0:0 (older than the history)', resume: { after: '0/0:0' }, reason: /older than the retained history/ },
      { name: 'after FFFFFFFF/FFFFFFFF:0 (ahead of the database)', resume: { after: 'FFFFFFFF/FFFFFFFF:0' } },
    ];
    const clients = cases.map((c, i) => {
      const vsn = i % 2 ? '1.0.0' : '2.0.0';
      const r = resumer({
        label: `malformed/${c.name} (vsn ${vsn})`, endpoint: stack.server.wsEndpoint, apikey: stack.anonKey, vsn, token: u.bob.token,
        topic: `malformed-${i}`, bindings: { n: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` } }, resume: c.resume,
      });
      r.case = c;
      return r;
    });
    t.after(() => closeAll(clients));
    for (const r of clients) {
      const sys = await r.subscribed(1);
      assert.equal(sys.recovered, false, `${r.label}: recovered: ${JSON.stringify(sys)}`);
      assert.ok(typeof sys.reason === 'string' && sys.reason.length > 0, `${r.label}: a reason: ${JSON.stringify(sys)}`);
      if (r.case.reason) assert.match(sys.reason, r.case.reason, r.label);
      assert.ok(parsePos(sys.position), `${r.label}: the position it is live from: ${JSON.stringify(sys)}`);
      assert.equal(r.events.length, 0, `${r.label}: nothing replayed`);
    }
    const w = new Writer(stack.db, type);
    t.after(() => w.close());
    const [id, sql] = w.insertSql(1, 'bob');
    await w.session.run(sql);
    for (const r of clients) {
      const e = await waitFor(() => r.events.find((x) => x.p.new.id === id), { timeout: T(10000), message: `${r.label}: a live change` });
      assert.ok(cmpPos(e.pos, r.ok()[0].position) > 0, `${r.label}: the live change is after the position`);
    }
    assert.equal((await httpRequest(stack.server.port, '/health')).status, 200, 'the server is fine');
  });

  test('replay authorizes now: a booking\'s messages go to its new technician, not to the replaced one', async (t) => {
    const booking = uuid();
    await stack.db.psql(`insert into public.bookings (id, customer_id, technician_id, status, service) ` +
      `values ('${booking}', '${DEMO.alice.id}', '${DEMO.tom.id}', 'accepted', 'resume: authorization now')`);
    const t0 = await stack.db.value('select clock_timestamp()');
    const mk = (who) => ({
      msgs: { event: 'INSERT', table: 'messages', filter: `booking_id=eq.${booking}` },
      notes: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${DEMO[who].id}` },
    });
    const clients = {};
    t.after(() => closeAll(Object.values(clients)));
    for (const [i, who] of ['alice', 'tom', 'tina'].entries()) {
      const p = await proxy();
      const vsn = i % 2 ? '1.0.0' : '2.0.0';
      clients[who] = resumer({ label: `auth/${who} (vsn ${vsn})`, endpoint: p.wsEndpoint, apikey: stack.anonKey, vsn,
        token: u[who].token, topic: `auth-now-${who}`, bindings: mk(who) });
      clients[who].proxy = p;
    }
    for (const r of Object.values(clients)) await r.subscribed(1);
    const msg = (id, body) => `insert into public.messages (id, booking_id, sender_id, body) values ('${id}', '${booking}', '${DEMO.alice.id}', '${body}');`;
    const m = [uuid(), uuid(), uuid(), uuid()];
    await stack.db.psql(msg(m[0], 'before the cut'));
    for (const who of ['alice', 'tom']) {
      await waitFor(() => clients[who].events.some((e) => e.p.new?.id === m[0]), { timeout: T(10000), message: `${who}: m0 live` });
    }
    // tom's notification of m0 too, so his stored position is past it.
    await waitFor(() => clients.tom.events.some((e) => e.key === 'notes' && e.p.new.data?.message_id === m[0]),
      { timeout: T(10000), message: 'tom: the notification of m0' });

    const tinaLive = clients.tina.events.length; // m0 was not hers when it committed
    for (const r of Object.values(clients)) r.proxy.cut();
    // While they are away: two messages tom may read when they commit, the
    // booking goes to tina, one more message, then a marker notification each.
    await stack.db.psql(msg(m[1], 'while away 1'));
    await stack.db.psql(msg(m[2], 'while away 2'));
    await stack.db.psql(`update public.bookings set technician_id = '${DEMO.tina.id}' where id = '${booking}'`);
    await stack.db.psql(msg(m[3], 'after the reassignment'));
    const marks = {};
    await stack.db.psql(['alice', 'tom', 'tina'].map((who) => {
      marks[who] = uuid();
      return `insert into public.notifications (id, user_id, type, title) values ('${marks[who]}', '${DEMO[who].id}', 'resume_auth_marker', 'marker');`;
    }).join('\n'));
    for (const r of Object.values(clients)) r.proxy.restore();

    const notes = async (who) => (await stack.db.rows(`select id from public.notifications where user_id = '${DEMO[who].id}' ` +
      `and created_at >= '${t0}' order by created_at, id`)).map((x) => x.id);
    const expect = {
      alice: { msgs: m, notes: await notes('alice') },
      tom: { msgs: [m[0]], notes: await notes('tom') },
      // Not tina's booking when m0..m2 committed (so m0 was not hers live),
      // hers now: her stored position is from before m0, and m0..m3 are
      // all replayed ("that its token may read now").
      tina: { msgs: m, notes: await notes('tina') },
    };
    assert.equal(tinaLive, 0, 'tina got nothing live before the cut');
    assert.ok(expect.tom.notes.length >= 4, `tom got notifications of m0..m2 and his marker (${expect.tom.notes.length})`);
    for (const [who, r] of Object.entries(clients)) {
      const sys = await r.subscribed(2, T(30000));
      assert.equal(sys.recovered, true, `${r.label}: resumed: ${JSON.stringify(sys)}`);
      assert.equal(sys.position, sys.asked?.after, `${r.label}: position = after`);
      await waitFor(() => r.events.some((e) => e.p.new?.id === marks[who]), { timeout: T(15000), message: `${r.label}: its marker` });
      const got = { msgs: r.events.filter((e) => e.key === 'msgs').map((e) => e.p.new.id),
        notes: r.events.filter((e) => e.key === 'notes').map((e) => e.p.new.id) };
      assert.deepEqual(got, expect[who], `${r.label}: what it may read now, in commit order`);
      assert.ok(r.proxy.accepted >= 2, `${r.label}: it really reconnected`);
    }
  });

  test('a new client (a page reload) resumes from the position the old one stored', async (t) => {
    const type = 'resume_reload';
    const w = new Writer(stack.db, type);
    t.after(() => w.close());
    const mk = (vsn, resume) => resumer({
      label: `reload/carol (vsn ${vsn})`, endpoint: stack.server.wsEndpoint, apikey: stack.anonKey, vsn, token: u.carol.token,
      topic: 'reload-carol', bindings: { n: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` } }, resume,
    });
    const a = mk('2.0.0');
    t.after(() => closeAll([a]));
    await a.subscribed(1);
    for (let i = 0; i < 10; i++) await w.txn(['carol']);
    await until(() => a.events.length >= 10, T(10000), () => `the first page: 10 changes (${a.events.length})`);
    const stored = a.last; // what the page kept (say in localStorage)
    await closeAll([a]);
    for (let i = 0; i < 10; i++) await w.txn(['carol']);
    const b = mk('1.0.0', { after: stored });
    t.after(() => closeAll([b]));
    const sys = await b.subscribed(1);
    assert.equal(sys.recovered, true, `resumed by a new client: ${JSON.stringify(sys)}`);
    assert.equal(sys.position, stored);
    for (let i = 0; i < 5; i++) await w.txn(['carol']);
    const want = (await w.truth()).map((x) => x.label);
    await until(() => b.events.some((e) => labelOf(e.p) === want[want.length - 1]), T(10000),
      () => `the second page: the last change (${b.events.length})`);
    const got = [...a.events, ...b.events].map((e) => labelOf(e.p));
    assert.deepEqual(compare(got, want), clean(want.length), 'both pages together: every change once, in order');
    assert.equal(firstBadPos([...a.events, ...b.events].map((e) => e.pos)), -1, 'positions strictly increase across the pages');
  });

  test('resume from inside a transaction; INSERT, UPDATE and DELETE replayed exactly as they were live', async (t) => {
    const alice = DEMO.alice.id;
    const mk = (name, vsn, resume) => resumer({
      label: `intx/${name} (vsn ${vsn})`, endpoint: stack.server.wsEndpoint, apikey: stack.anonKey, vsn, token: u.alice.token,
      topic: `intx-${name}`, bindings: { b: { event: '*', table: 'bookings', filter: `customer_id=eq.${alice}` } }, resume,
    });
    const live = mk('live', '2.0.0');
    // The service role sees bob's booking too: its position is one alice
    // never saw.
    const all = resumer({ label: 'intx/service', endpoint: stack.server.wsEndpoint, apikey: stack.anonKey, vsn: '2.0.0',
      token: stack.serviceKey, topic: 'intx-service', bindings: { b: { event: 'INSERT', table: 'bookings' } } });
    t.after(() => closeAll([live, all]));
    await live.subscribed(1);
    await all.subscribed(1);
    const [x, y, z, v] = [uuid(), uuid(), uuid(), uuid()];
    const ins = (id, who) => `insert into public.bookings (id, customer_id, service) values ('${id}', '${who}', 'resume ${id.slice(0, 8)}');`;
    // One transaction: alice's x, bob's y (not hers), alice's z.
    await stack.db.psql(`begin;\n${ins(x, alice)}\n${ins(y, DEMO.bob.id)}\n${ins(z, alice)}\ncommit;\n`);
    await stack.db.psql(`update public.bookings set description = 'edited' where id = '${x}';`);
    await stack.db.psql(`update public.bookings set description = 'not hers' where id = '${y}';`);
    await stack.db.psql(`delete from public.bookings where id = '${z}';`);
    await stack.db.psql(ins(v, alice));
    const id = (e) => e.p.new?.id ?? e.p.old?.id;
    await until(() => live.events.some((e) => id(e) === v), T(10000), () => `live: the last change (${live.events.length})`);
    assert.deepEqual(live.events.map((e) => `${e.p.eventType} ${id(e)}`),
      [`INSERT ${x}`, `INSERT ${z}`, `UPDATE ${x}`, `DELETE ${z}`, `INSERT ${v}`], 'live: alice\'s changes');
    const [px, pz] = [live.events[0].pos, live.events[1].pos];
    const lsn = px.split(':')[0];
    await until(() => all.events.some((e) => e.p.new.id === z), T(10000), 'the service view of the transaction');
    const py = all.events.find((e) => e.p.new.id === y).pos;
    assert.ok(py.startsWith(`${lsn}:`) && pz.startsWith(`${lsn}:`), `one transaction, one LSN: ${px} ${py} ${pz}`);
    assert.ok(cmpPos(px, py) < 0 && cmpPos(py, pz) < 0, `positions in statement order: ${px} ${py} ${pz}`);
    // New clients resuming from: before the transaction, alice's x, bob's y
    // (a position she never saw), alice's z.
    const from = [[`${lsn}:0`, 0], [px, 1], [py, 1], [pz, 2]];
    const rs = from.map(([after], i) => mk(`from-${i}`, i % 2 ? '1.0.0' : '2.0.0', { after }));
    t.after(() => closeAll(rs));
    const wire = (e) => JSON.stringify([e.pos, e.p]);
    for (const [i, r] of rs.entries()) {
      const sys = await r.subscribed(1);
      assert.equal(sys.recovered, true, `${r.label}: ${JSON.stringify(sys)}`);
      assert.equal(sys.position, from[i][0], `${r.label}: position = after`);
      await until(() => r.events.some((e) => id(e) === v), T(10000), () => `${r.label}: the last change (${r.events.length})`);
      assert.deepEqual(r.events.map(wire), live.events.slice(from[i][1]).map(wire), `${r.label}: replayed = what was live after its position`);
    }
  });

  test('a change that matches two bindings of a channel: replayed to both, as live', async (t) => {
    const type = 'resume_two_bindings';
    const w = new Writer(stack.db, type);
    t.after(() => w.close());
    const bindings = {
      byType: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` },
      mine: { event: '*', table: 'notifications', filter: `user_id=eq.${DEMO.alice.id}` },
    };
    const mk = (name, vsn, resume) => resumer({ label: `two/${name} (vsn ${vsn})`, endpoint: stack.server.wsEndpoint, apikey: stack.anonKey,
      vsn, token: u.alice.token, topic: `two-${name}`, bindings, resume });
    const live = mk('live', '1.0.0');
    t.after(() => closeAll([live]));
    const start = (await live.subscribed(1)).position;
    for (let i = 0; i < 6; i++) await w.txn(['alice', 'bob']); // bob's: RLS keeps them from alice
    const want = (await w.truth()).filter((x) => x.user === DEMO.alice.id).map((x) => x.label);
    const last = want[want.length - 1];
    const done = (r) => r.events.filter((e) => labelOf(e.p) === last).length === 2;
    await until(() => done(live), T(10000), () => `live: both bindings got ${last} (${live.events.length})`);
    const got = (r, key) => r.events.filter((e) => e.key === key).map((e) => labelOf(e.p));
    assert.deepEqual([got(live, 'byType'), got(live, 'mine')], [want, want], 'live: every change of alice to both bindings');
    const resumed = mk('resumed', '2.0.0', { after: start });
    t.after(() => closeAll([resumed]));
    assert.equal((await resumed.subscribed(1)).recovered, true);
    await until(() => done(resumed), T(10000), () => `resumed: both bindings got ${last} (${resumed.events.length})`);
    const wire = (e) => JSON.stringify([e.key, e.pos, e.p]);
    assert.deepEqual(resumed.events.map(wire), live.events.map(wire), 'the replay is what was live: each change once per binding');
  });

  test(`(a) a ${CUT_MS / 1000} s network cut: realtime-js reconnects by itself and resumes, nothing lost or doubled`, async (t) => {
    const w = new Writer(stack.db, 'resume_cut');
    t.after(() => w.close());
    const clients = await sixClients(t, 'cut', 'resume_cut');
    // alice and tom are cut hard, bob and service silently; carol and tina
    // stay connected (the control). The service client misses more changes
    // than one replay chunk holds (256).
    const cut = { alice: 'hard', bob: 'silent', tom: 'hard', service: 'silent' };
    const who = (r) => r.topic.slice('cut-'.length);
    const svc = clients.find((r) => who(r) === 'service');
    await w.burst(30);
    for (const r of clients) {
      if (cut[who(r)]) await until(() => r.events.length >= 5, T(10000), () => `${r.label}: changes before the cut (${r.events.length})`);
    }
    let writing = w.loop(80);
    await until(() => w.txns >= 35, T(5000), 'the writer going');
    const t0 = Date.now();
    for (const r of clients) if (cut[who(r)]) r.proxy.cut({ silent: cut[who(r)] === 'silent' });
    await delay(CUT_MS);
    const atRestore = w.c; // changes numbered up to this one committed during the cut or before
    // Back, with the writer going fast while everyone rejoins. The service
    // client's network drops again (hard) after the tenth change of its
    // replay, while the server still has chunks of it to send, and comes
    // back once realtime-js has tried to reconnect.
    await writing.stop();
    writing = w.loop(2);
    let recutAt = null;
    svc.onEvent = () => {
      if (recutAt === null && svc.ok().length === 2 && svc.events.length - svc.ok()[1].eventsBefore >= 10) {
        recutAt = svc.events.length;
        svc.proxy.cut();
      }
    };
    for (const r of clients) if (cut[who(r)]) r.proxy.restore();
    const cutMs = Date.now() - t0;
    await svc.subscribed(2, T(30000));
    await until(() => recutAt !== null && svc.proxy.refused >= 1, T(10000), () => `the service client cut again (at ${recutAt}) and trying to reconnect`);
    svc.proxy.restore();
    for (const r of clients) {
      if (!cut[who(r)]) continue;
      const n = r === svc ? 3 : 2;
      await r.subscribed(n, T(30000));
      for (const m of r.ok().slice(1)) {
        assert.equal(m.recovered, true, `${r.label}: resumed after the cut: ${JSON.stringify(m)}`);
        assert.equal(m.position, m.asked?.after, `${r.label}: position = the after it sent`);
      }
      assert.ok(r.ok()[1].eventsBefore > 0, `${r.label}: it had events before the cut`);
      assert.equal(r.ok().length, n, `${r.label}: rejoined ${n - 1} time(s): ${JSON.stringify(r.system)}`);
    }
    await writing.stop();
    await w.burst(20);
    const truth = await settle(w, clients, 'network cut');
    for (const r of clients) {
      if (cut[who(r)]) assert.ok(r.proxy.accepted >= 2, `${r.label}: reconnected (${r.proxy.accepted} connections, ${r.proxy.refused} refused)`);
      else assert.equal(r.ok().length, 1, `${r.label}: the control client never rejoined`);
    }
    // What the service client got back of what it missed: more than one chunk.
    const replayed = svc.events.slice(svc.ok()[1].eventsBefore).filter((e) => Number(labelOf(e.p).slice(1)) <= atRestore).length;
    if (CUT_MS >= 30000) assert.ok(replayed > 256, `the service client's resumes replayed more than one chunk (${replayed} changes)`);
    // The marker is one transaction of five INSERTs: one LSN, increasing index.
    const tail = svc.events.slice(-5).map((e) => parsePos(e.pos));
    assert.ok(tail.every((p) => p.lsn === tail[0].lsn), 'one transaction: one commit LSN');
    assert.ok(tail.every((p, i) => i === 0 || p.i > tail[i - 1].i), 'index increases within the transaction');
    console.log(`# network cut: ${truth.length} changes in ${w.txns} transactions, cut ${cutMs} ms; the service client ` +
      `resumed with ${replayed} missed changes; changes per client ${clients.map((r) => `${who(r)} ${r.events.length}`).join(', ')}; ` +
      `the service client cut again after ${recutAt - svc.ok()[1].eventsBefore} changes of its replay, ` +
      `resumed with ${svc.ok()[2].eventsBefore - recutAt} more taken before the cut`);
  });

  test('(b) the server killed with SIGKILL and restarted: every client resumes, nothing lost or doubled', async (t) => {
    const w = new Writer(stack.db, 'resume_kill');
    t.after(() => w.close());
    const clients = await sixClients(t, 'kill', 'resume_kill');
    await w.burst(40);
    for (const r of clients) {
      if (r.topic !== 'kill-tina') await until(() => r.events.length >= 5, T(10000), () => `${r.label}: changes before the kill (${r.events.length})`);
    }
    const writing = w.loop(10);
    const old = stack.server;
    const before = w.c;
    old.proc.kill('SIGKILL');
    await old.exited;
    const atKill = w.c;
    // Down for a while, the writer going on.
    await waitFor(() => w.c >= atKill + 40, { timeout: T(20000), message: 'changes committed while no server runs' });
    stack.server = await new Server({ port: old.port, secret: old.secret, flags: old.flags, env: old.env }).start();
    const atStart = w.c;
    for (const r of clients) {
      const sys = await r.subscribed(2, T(30000));
      assert.equal(sys.recovered, true, `${r.label}: resumed after the kill: ${JSON.stringify(sys)}\n${stack.server.stderrTail(10)}`);
      assert.equal(sys.position, sys.asked?.after, `${r.label}: position = the after it sent`);
    }
    await writing.stop();
    // A fresh join on the new process, once the service client has every
    // change committed so far (so the server has decoded them all): the
    // window the restart decoded again is not news to it; it gets exactly
    // what commits after its join.
    const svc = clients.find((r) => r.topic === 'kill-service');
    const lastInsert = (await w.truth()).filter((x) => x.op === 'INSERT').pop().label;
    await until(() => svc.events.some((e) => labelOf(e.p) === lastInsert), T(20000), `the service client: ${lastInsert}`);
    const cAtJoin = w.c;
    const fresh = resumer({ label: 'kill/fresh service (vsn 2.0.0)', endpoint: stack.server.wsEndpoint, apikey: stack.anonKey, vsn: '2.0.0',
      token: stack.serviceKey, topic: 'kill-fresh', bindings: { n: { event: 'INSERT', table: 'notifications', filter: 'type=eq.resume_kill' } } });
    fresh.sees = (x) => x.op === 'INSERT' && x.c > cAtJoin;
    t.after(() => closeAll([fresh]));
    await fresh.subscribed(1);
    clients.push(fresh);
    await w.burst(20);
    const truth = await settle(w, clients, 'server SIGKILL');
    console.log(`# SIGKILL: ${truth.length} changes; killed after change ${atKill} (burst ended at ${before}), ` +
      `restarted at ${atStart}; changes per client ${clients.map((r) => r.events.length).join(', ')}`);
  });

  test('(c) PostgreSQL restarted in immediate mode under the writer: nothing lost or doubled', async (t) => {
    const w = new Writer(stack.db, 'resume_pg');
    t.after(() => w.close());
    const clients = await sixClients(t, 'pg', 'resume_pg');
    const cutWho = new Set(['pg-alice', 'pg-bob']);
    await w.burst(40);
    const writing = w.loop(10);
    await waitFor(() => w.c >= 100, { timeout: T(20000), message: 'the writer going' });
    for (const r of clients) if (cutWho.has(r.topic)) r.proxy.cut();
    const t0 = Date.now();
    await stack.db.restart({ mode: 'immediate', timeout: T(20000) });
    const restartMs = Date.now() - t0;
    for (const r of clients) if (cutWho.has(r.topic)) r.proxy.restore();
    await until(() => w.failed > 0 && w.c >= 250, T(30000), () => `the writer through the restart (${w.c} changes, ${w.failed} failed)`);
    for (const r of clients) {
      if (!cutWho.has(r.topic)) continue;
      const sys = await r.subscribed(2, T(40000));
      assert.equal(sys.recovered, true, `${r.label}: resumed across the PostgreSQL restart: ${JSON.stringify(sys)}`);
    }
    await writing.stop();
    await w.burst(20);
    const truth = await settle(w, clients, 'PostgreSQL immediate restart');
    console.log(`# PostgreSQL immediate restart (${restartMs} ms): ${truth.length} of ${w.c} changes committed, ${w.failed} ` +
      `transactions cut off; system messages per client ${clients.map((r) => r.system.length).join(', ')}`);
  });

  test('(d) a position older than the retained history: recovered:false with a reason; re-read + live = the table', async (t) => {
    // A server that keeps one second of history.
    const old = stack.server;
    await old.stop();
    stack.server = await new Server({ port: old.port, secret: old.secret, flags: old.flags, env: { ...old.env, CDC_HISTORY_SECONDS: '1' } }).start();
    const type = 'resume_evict';
    const w = new Writer(stack.db, type);
    t.after(() => w.close());
    const p = await proxy();
    let snapshot = null;
    const rest = u.alice.client;
    const r = resumer({
      label: 'evict/alice (vsn 1.0.0)', endpoint: p.wsEndpoint, apikey: stack.anonKey, vsn: '1.0.0', token: u.alice.token,
      topic: 'evict-alice', bindings: { n: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` } },
      onSystem: (m) => {
        if (m.recovered === false) {
          snapshot = rest.from('notifications').select('id').eq('type', type).then(({ data, error }) => {
            if (error) throw new Error(`REST read: ${error.message}`);
            return data.map((x) => x.id);
          });
        }
      },
    });
    t.after(() => closeAll([r]));
    r.proxy = p;
    await r.subscribed(1);
    const ins = async () => { const [id, sql] = w.insertSql(++w.c, 'alice'); await w.session.run(sql); return id; };
    for (let i = 0; i < 5; i++) await ins();
    await waitFor(() => r.events.length >= 5, { timeout: T(10000), message: 'the first 5 changes' });
    const P = r.last;
    p.cut();
    const missed = [];
    for (let i = 0; i < 5; i++) missed.push(await ins());

    // Wait until P has left the history: a probe joins with after = P
    // until it answers recovered:false (new commits keep the history moving).
    const probe = async () => {
      const raw = await RawWs.open(stack.server, { vsn: '1.0.0', apikey: stack.anonKey });
      try {
        const ref = raw.nextRef();
        raw.send({ join_ref: ref, ref, topic: 'realtime:evict-probe', event: 'phx_join', payload: {
          config: { broadcast: { ack: false, self: false }, presence: { key: '', enabled: false }, private: false,
            postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'notifications', filter: 'type=eq.resume_evict_probe' }] },
          access_token: stack.serviceKey, postgres_changes_resume: { after: P } } });
        const f = await raw.frames.wait((x) => x.event === 'system' && x.payload?.extension === 'postgres_changes', { timeout: T(10000), message: 'probe system message' });
        return f.payload;
      } finally {
        await raw.close();
      }
    };
    let lastProbe;
    await until(async () => {
      missed.push(await ins());
      lastProbe = await probe();
      return lastProbe.recovered === false;
    }, T(20000), () => `position ${P} to leave a 1 s history (last probe ${JSON.stringify(lastProbe)})`);

    const writing = w.loop(10); // changes go on around the rejoin
    const t0 = Date.now();
    p.restore();
    const sys = await r.subscribed(2, T(20000));
    assert.equal(sys.recovered, false, `not recovered: ${JSON.stringify(sys)}`);
    assert.equal(sys.asked?.after, P, 'the rejoin asked for P');
    assert.match(sys.reason, /older than the retained history/, `the reason: ${JSON.stringify(sys)}`);
    assert.ok(cmpPos(sys.position, P) > 0, `live from a position after P (${sys.position} vs ${P})`);
    await waitFor(() => r.events.length >= sys.eventsBefore + 10, { timeout: T(10000), message: 'live changes after the rejoin' });
    await writing.stop();
    const lastId = await ins();
    await waitFor(() => r.events.some((e) => e.p.new.id === lastId), { timeout: T(10000), message: 'the last change' });
    const snap = await snapshot;
    const after = r.events.slice(sys.eventsBefore);
    const afterIds = after.map((e) => e.p.new.id);
    const table = (await stack.db.rows(`select id from public.notifications where type = '${type}' and user_id = '${DEMO.alice.id}'`))
      .map((x) => x.id).sort();
    assert.deepEqual([...new Set([...snap, ...afterIds])].sort(), table, 'the re-read plus the live changes = the table');
    assert.equal(new Set(afterIds).size, afterIds.length, 'no change twice');
    assert.ok(after.every((e) => cmpPos(e.pos, sys.position) > 0), 'every change after the rejoin is after its position');
    // The first rows missed were evicted before the rejoin: not replayed.
    // (Later ones may be after the position the rejoin got, and delivered.)
    assert.deepEqual(missed.slice(0, 5).filter((id) => afterIds.includes(id)), [], 'nothing evicted is replayed');
    assert.equal(firstBadPos(r.events.map((e) => e.pos)), -1, 'positions strictly increase');
    console.log(`# eviction: rejoined ${Date.now() - t0} ms after the restore; re-read ${snap.length} rows, ${after.length} live ` +
      `changes after the rejoin, table ${table.length}`);
  });

  test('(d) by bytes: a position pushed out by CDC_HISTORY_MAX_BYTES answers recovered:false, and the history stays in its bound', async (t) => {
    const old = stack.server;
    await old.stop();
    const max = 65536; // the smallest bound the server takes: a few hundred notifications
    const env = { ...old.env, CDC_HISTORY_MAX_BYTES: String(max) };
    delete env.CDC_HISTORY_SECONDS;
    stack.server = await new Server({ port: old.port, secret: old.secret, flags: old.flags, env }).start();
    const type = 'resume_bytes';
    const p = await proxy();
    const r = resumer({
      label: 'bytes/alice (vsn 2.0.0)', endpoint: p.wsEndpoint, apikey: stack.anonKey, vsn: '2.0.0', token: u.alice.token,
      topic: 'bytes-alice', bindings: { n: { event: 'INSERT', table: 'notifications', filter: `type=eq.${type}` } },
    });
    t.after(() => closeAll([r]));
    r.proxy = p;
    await r.subscribed(1);
    const insertMany = (n) => stack.db.psql(`insert into public.notifications (user_id, type, title, data) ` +
      `select '${DEMO.alice.id}', '${type}', 'bulk ' || i, jsonb_build_object('n', i) from generate_series(1, ${n}) i;`);
    await insertMany(3);
    await until(() => r.events.length >= 3, T(10000), () => `the first 3 changes (${r.events.length})`);
    const P = r.last;
    p.cut();
    await insertMany(2000); // far more than 64 KiB of history
    const m = await until(async () => {
      const x = await metrics(stack.server);
      return x.get('realtime_cdc_history_changes') >= 100 ? x : null;
    }, T(10000), 'the history to fill');
    assert.ok(m.get('realtime_cdc_history_bytes') <= max, `history bytes ${m.get('realtime_cdc_history_bytes')} within ${max}`);
    assert.ok(m.get('realtime_cdc_history_changes') < 2000, `the oldest changes went (${m.get('realtime_cdc_history_changes')} kept)`);
    p.restore();
    const sys = await r.subscribed(2, T(20000));
    assert.equal(sys.recovered, false, `not recovered: ${JSON.stringify(sys)}`);
    assert.equal(sys.asked?.after, P);
    assert.match(sys.reason, /older than the retained history/, JSON.stringify(sys));
    const before = r.events.length;
    const id = uuid();
    await stack.db.psql(`insert into public.notifications (id, user_id, type, title) values ('${id}', '${DEMO.alice.id}', '${type}', 'after');`);
    const e = await until(() => r.events.find((x) => x.p.new.id === id), T(10000), 'a live change after the rejoin');
    assert.equal(r.events.length, before + 1, 'nothing of the 2000 was replayed');
    assert.ok(cmpPos(e.pos, sys.position) > 0);
    console.log(`# history by bytes: ${m.get('realtime_cdc_history_changes')} changes in ${m.get('realtime_cdc_history_bytes')} bytes ` +
      `kept of 2000; resume refused: ${sys.reason}`);
  });
});
