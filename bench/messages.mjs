// bench/messages.mjs: Broadcast from the database, Postgres Changes and
// replay, measured side by side in one run with stock @supabase/realtime-js
// clients (vsn 2.0.0, over the `ws` package, all in this one Node process).
// bench/messages.sh sets up the cluster and the server and runs this; it
// passes TC_PORT, SECRET, SERVER_PID, PG_PID, SU_CONNINFO and the knobs
// (CLIENTS, TOPICS, RATES, DURATION, DRAIN_MAX, REPLAY_STORED, REPLAY_JOINS,
// REPLAY_REPEAT) in the environment.
//
// What runs:
//   - CLIENTS clients, each a RealtimeClient with its own HS256 JWT (role
//     authenticated, a random sub), joined to two channels: the private
//     channel "bench:<i % TOPICS>" (admitted by the SELECT policy on
//     realtime.messages for "bench:%") and a public channel with a
//     postgres_changes INSERT binding on public.bench_rows filtered
//     k=eq.<i % TOPICS> (RLS: using (true) for authenticated). So both
//     kinds fan a row out to the same CLIENTS / TOPICS clients.
//   - Broadcast from the database: a PL/pgSQL writer (bench.write_messages,
//     one psql session as the superuser, synchronous_commit on) commits
//     realtime.send(payload, event, 'bench:<n % TOPICS>', private => true)
//     at RATE rows/s for DURATION s, one transaction each, open loop.
//   - Postgres Changes: the same writer shape inserting into
//     public.bench_rows (bench.write_rows), same rate, same fan-out.
//   - Latency: every row carries clock_timestamp() (ms since the epoch,
//     taken just before the insert and its commit); the client's read time
//     minus it, per delivery. Same machine, same clock.
//   - delivered %: distinct (client, row) deliveries received, until every
//     expected one arrived or DRAIN_MAX s after the writer stopped, over
//     rows committed × subscribers of their topic. Percentiles are over the
//     expected deliveries: one that never came counts as infinitely late
//     ("lost"). Duplicates are counted apart (and would be a bug).
//   - msgs/s: distinct deliveries / the writer's seconds.
//   - CPU: utime + stime over the writer's window, % of one core: the
//     server; PostgreSQL (postmaster and all its children: the writer's
//     backend, the server's pool, the walsender); this Node process (the
//     clients).
//   - Replay: REPLAY_STORED messages stored on "bench:replay" 1 s apart
//     (the newest 1 s ago). supabase/realtime bounds a replay at 25
//     messages (limit is clamped to 25), and it returns the newest `limit`
//     since `since`, so a client cannot page through 1,000: each replaying
//     join gets the newest 25. Measured: a private join without replay
//     (time to SUBSCRIBED) against one with replay {since: 1 h ago, limit:
//     25} (time to SUBSCRIBED, and to the 25th replayed message), one join
//     at a time on one connected client; then REPLAY_JOINS such joins in
//     a row (25 × REPLAY_JOINS messages replayed) and REPLAY_JOINS
//     clients joining at once. Replay is measured twice: before the
//     broadcast scenarios (realtime.messages holds the history only) and
//     after (it also holds every row the broadcast writer stored).
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';

import { RealtimeClient } from '@supabase/realtime-js';
import WebSocket from 'ws';

import { Psql, procStat, treeTicks } from './lib.mjs';

const env = process.env;
const PORT = Number(env.TC_PORT);
const SECRET = env.SECRET;
const CLIENTS = Number(env.CLIENTS ?? 100);
const TOPICS = Number(env.TOPICS ?? 10);
const RATES = (env.RATES ?? '100 1000').split(/\s+/).filter(Boolean).map(Number);
const DURATION = Number(env.DURATION ?? 10);
const DRAIN_MAX = Number(env.DRAIN_MAX ?? 5);
const REPLAY_STORED = Number(env.REPLAY_STORED ?? 1000);
const REPLAY_JOINS = Number(env.REPLAY_JOINS ?? 40);
const REPLAY_REPEAT = Number(env.REPLAY_REPEAT ?? 50);
const SERVER_PID = Number(env.SERVER_PID);
const PG_PID = Number(env.PG_PID);
const SU_CONNINFO = env.SU_CONNINFO;
const REPLAY_LIMIT = 25; // supabase/realtime's bound, and the server's

if (!PORT || !SECRET || !SU_CONNINFO) {
  console.error('bench/messages.mjs: run it through bench/messages.sh (needs TC_PORT, SECRET, SU_CONNINFO)');
  process.exit(2);
}

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.log(`# ${s}`);

// ---- tokens -------------------------------------------------------------------
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function sign(claims) {
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}
const nowS = () => Math.floor(Date.now() / 1000);
const APIKEY = sign({ role: 'anon', iss: 'techcare-bench', iat: nowS(), exp: nowS() + 3 * 3600 });
const userToken = () => sign({ role: 'authenticated', aud: 'authenticated', sub: crypto.randomUUID(), iat: nowS(),
  exp: nowS() + 3 * 3600 });

// ---- CPU ------------------------------------------------------------------------
function cpuSnap() {
  const u = process.cpuUsage();
  return { t: nowMs(), server: procStat(SERVER_PID)?.ticks ?? 0, pg: treeTicks(PG_PID), node: (u.user + u.system) / 1000 };
}
function cpuPct(a, b) {
  const s = (b.t - a.t) / 1000;
  if (s < 1) return {}; // 10 ms ticks: a shorter window says nothing
  return {
    server: ((b.server - a.server) / 100 / s) * 100,
    pg: ((b.pg - a.pg) / 100 / s) * 100,
    node: ((b.node - a.node) / 1000 / s) * 100,
  };
}

// ---- clients --------------------------------------------------------------------
async function newClient() {
  const c = new RealtimeClient(`ws://127.0.0.1:${PORT}/realtime/v1`, {
    transport: WebSocket,
    vsn: '2.0.0',
    params: { apikey: APIKEY },
    timeout: 15000,
    reconnectAfterMs: () => 1000,
    logger: () => {},
  });
  await c.setAuth(userToken());
  return c;
}

function connected(c, timeout = 15000) {
  c.connect();
  const deadline = Date.now() + timeout;
  return (async () => {
    while (!c.isConnected()) {
      if (Date.now() > deadline) throw new Error('WebSocket did not open');
      await sleep(5);
    }
  })();
}

/** Subscribes; resolves at SUBSCRIBED, rejects at an error status. */
function subscribe(ch, timeout = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${ch.topic}: not SUBSCRIBED within ${timeout} ms`)), timeout);
    ch.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') {
        clearTimeout(timer);
        resolve();
      } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
        clearTimeout(timer);
        reject(new Error(`${ch.topic}: ${status} ${err?.message ?? ''}`));
      }
    });
  });
}

async function waitUntil(pred, timeoutMs, interval = 5) {
  const deadline = nowMs() + timeoutMs;
  while (!pred()) {
    if (nowMs() > deadline) return false;
    await sleep(interval);
  }
  return true;
}

// ---- live scenarios ---------------------------------------------------------------
const phases = new Map(); // phase name → its counters
const subsPerTopic = new Array(TOPICS).fill(0);
for (let i = 0; i < CLIENTS; i++) subsPerTopic[i % TOPICS]++;

function deliver(ci, phase, seq, t) {
  const now = nowMs();
  const P = phases.get(phase);
  if (!P || !(seq >= 0 && seq < P.cap)) return;
  const idx = ci * P.cap + seq;
  if (P.seen[idx]) { P.dup++; return; }
  P.seen[idx] = 1;
  P.lat.push(now - t);
  P.last = now;
  if (now - t > P.worst) { P.worst = now - t; P.worstAt = (t - P.t0) / 1000; }
}

let phaseNo = 0;
async function runPhase(writer, kind, rate, seconds) {
  const phase = `${kind}_${rate}_${++phaseNo}`;
  const cap = Math.ceil(rate * seconds);
  const P = { phase, cap, seen: new Uint8Array(CLIENTS * cap), lat: [], dup: 0, last: 0, worst: 0, worstAt: 0, t0: nowMs() };
  phases.set(phase, P);
  const proc = kind === 'bc' ? 'bench.write_messages' : 'bench.write_rows';
  const c0 = cpuSnap();
  const elapsed = Number(await writer.run(`call ${proc}('${phase}', ${rate}, ${seconds}, ${TOPICS})`));
  const c1 = cpuSnap();
  const stop = nowMs();
  const committed = Number(await writer.run(kind === 'bc'
    ? `select count(*) from realtime.messages where event = '${phase}'`
    : `select count(*) from public.bench_rows where phase = '${phase}'`));
  let expected = 0;
  for (let s = 0; s < committed; s++) expected += subsPerTopic[s % TOPICS];
  await waitUntil(() => P.lat.length >= expected, DRAIN_MAX * 1000);
  phases.delete(phase);
  const lat = Float64Array.from(P.lat).sort();
  const pct = (q) => {
    const i = Math.max(0, Math.ceil(q * expected) - 1);
    return i < lat.length ? lat[i] : Infinity;
  };
  return {
    rate, committed, elapsed, committedPerS: committed / elapsed, expected, received: lat.length, dup: P.dup,
    delivered: expected ? (100 * lat.length) / expected : 0,
    p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), max: lat.length ? lat[lat.length - 1] : Infinity,
    worstAt: P.worstAt, msgsPerS: lat.length / elapsed, drain: P.last ? (P.last - stop) / 1000 : -1, cpu: cpuPct(c0, c1),
  };
}

// ---- replay ---------------------------------------------------------------------
const SINCE = () => Date.now() - 3600 * 1000;

function percentiles(xs) {
  const a = Float64Array.from(xs).sort();
  const p = (q) => (a.length ? a[Math.max(0, Math.ceil(q * a.length) - 1)] : Infinity);
  return { p50: p(0.5), p95: p(0.95), p99: p(0.99), max: a.length ? a[a.length - 1] : Infinity };
}

/** One private join on client c: {sub: ms to SUBSCRIBED, all: ms to the
 * last replayed message (replay only), n: replayed messages, seqs}. */
async function timedJoin(c, { replay, limit = REPLAY_LIMIT, expect = REPLAY_LIMIT } = {}) {
  const config = { private: true };
  if (replay) config.broadcast = { replay: { since: SINCE(), limit } };
  const ch = c.channel('bench:replay', { config });
  const seqs = [];
  let done;
  const all = new Promise((r) => { done = r; });
  let tAll = 0;
  ch.on('broadcast', { event: '*' }, (m) => {
    if (!m.meta?.replayed) return;
    seqs.push(m.payload?.seq);
    if (seqs.length === expect) { tAll = nowMs(); done(); }
  });
  const t0 = nowMs();
  await subscribe(ch);
  const tSub = nowMs();
  if (replay) {
    await Promise.race([all, sleep(10000)]);
    if (limit > expect) await sleep(200); // a clamped limit: nothing beyond `expect` comes
  }
  await c.removeChannel(ch);
  return { sub: tSub - t0, all: tAll ? tAll - t0 : Infinity, n: seqs.length, seqs };
}

const newest = Array.from({ length: REPLAY_LIMIT }, (_, i) => REPLAY_STORED - REPLAY_LIMIT + i);
const isNewest = (seqs) => seqs.length === newest.length && seqs.every((s, i) => s === newest[i]);

async function replayScenarios(label) {
  const rows = [];
  const c = await newClient();
  await connected(c);
  await timedJoin(c, { replay: true }); // warm: the first join's connection setup in the server's pool

  let c0 = cpuSnap();
  const plain = [];
  for (let i = 0; i < REPLAY_REPEAT; i++) plain.push((await timedJoin(c)).sub);
  rows.push({ name: `private join, no replay: SUBSCRIBED ${label}`, joins: REPLAY_REPEAT, ...percentiles(plain), cpu: cpuPct(c0, cpuSnap()) });

  c0 = cpuSnap();
  const subs = [];
  const alls = [];
  let ok = 0;
  let got = 0;
  for (let i = 0; i < REPLAY_REPEAT; i++) {
    const r = await timedJoin(c, { replay: true });
    subs.push(r.sub);
    alls.push(r.all);
    got += r.n;
    if (isNewest(r.seqs)) ok++;
  }
  const cpu1 = cpuPct(c0, cpuSnap());
  rows.push({ name: `replay 25 of ${REPLAY_STORED}: SUBSCRIBED ${label}`, joins: REPLAY_REPEAT, ...percentiles(subs), cpu: cpu1 });
  rows.push({ name: `replay 25 of ${REPLAY_STORED}: all 25 in ${label}`, joins: REPLAY_REPEAT, ...percentiles(alls),
    delivered: (100 * got) / (REPLAY_LIMIT * REPLAY_REPEAT), cpu: cpu1, note: `${ok}/${REPLAY_REPEAT} got exactly the newest 25, oldest first` });

  // The bound: asking for 1,000 gets 25.
  const clamp = await timedJoin(c, { replay: true, limit: REPLAY_STORED, expect: REPLAY_LIMIT });

  // REPLAY_JOINS replaying joins in a row on the one connection.
  c0 = cpuSnap();
  const t0 = nowMs();
  const each = [];
  got = 0;
  for (let i = 0; i < REPLAY_JOINS; i++) {
    const r = await timedJoin(c, { replay: true });
    each.push(r.all);
    got += r.n;
  }
  const seqS = (nowMs() - t0) / 1000;
  rows.push({ name: `${REPLAY_JOINS} replay joins in a row ${label}`, joins: REPLAY_JOINS, ...percentiles(each),
    delivered: (100 * got) / (REPLAY_LIMIT * REPLAY_JOINS), msgsPerS: got / seqS, cpu: cpuPct(c0, cpuSnap()),
    note: `${got} replayed in ${seqS.toFixed(2)} s incl. leaves` });
  await c.removeAllChannels();
  c.disconnect();

  // REPLAY_JOINS clients, connected first, joining at once.
  const cs = await Promise.all(Array.from({ length: REPLAY_JOINS }, () => newClient()));
  await Promise.all(cs.map((x) => connected(x)));
  c0 = cpuSnap();
  const t1 = nowMs();
  const rs = await Promise.all(cs.map((x) => timedJoin(x, { replay: true })));
  const conS = (Math.max(...rs.map((r) => r.all)) ) / 1000;
  got = rs.reduce((a, r) => a + r.n, 0);
  rows.push({ name: `${REPLAY_JOINS} replay joins at once ${label}`, joins: REPLAY_JOINS, ...percentiles(rs.map((r) => r.all)),
    delivered: (100 * got) / (REPLAY_LIMIT * REPLAY_JOINS), msgsPerS: got / conS, cpu: cpuPct(c0, cpuSnap()),
    note: `${got} replayed, last after ${(conS * 1000).toFixed(1)} ms` });
  void t1;
  for (const x of cs) { await x.removeAllChannels(); x.disconnect(); }
  return { rows, clamp };
}

// ---- main -----------------------------------------------------------------------
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'lost');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'lost');
const int = (x) => (x === undefined ? '-' : Math.round(x).toLocaleString('en-US'));
const pc = (x) => (x === undefined ? '-' : `${Math.round(x)}%`);

async function main() {
  const writer = new Psql(SU_CONNINFO);
  const inTable = async () => Number(await writer.run('select count(*) from realtime.messages'));

  log(`replay before the live scenarios (realtime.messages: ${await inTable()} rows)`);
  const before = await replayScenarios('(history only)');

  log(`connecting ${CLIENTS} clients, each joining private bench:<i % ${TOPICS}> and postgres_changes k=eq.<i % ${TOPICS}>`);
  const clients = [];
  const pgReady = new Set();
  const tj = nowMs();
  for (let i = 0; i < CLIENTS; i++) {
    const c = await newClient();
    const k = i % TOPICS;
    const bc = c.channel(`bench:${k}`, { config: { private: true } });
    bc.on('broadcast', { event: '*' }, (m) => { const p = m.payload; if (p) deliver(i, p.phase, p.seq, p.t); });
    const pg = c.channel(`pg-bench:${k}`, { config: { private: false } });
    pg.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'bench_rows', filter: `k=eq.${k}` }, (m) => {
      const r = m.new;
      if (r) deliver(i, r.phase, r.seq, r.t);
    });
    pg.on('system', {}, (m) => { if (m?.extension === 'postgres_changes' && m?.status === 'ok') pgReady.add(i); });
    clients.push({ c, joins: Promise.all([subscribe(bc), subscribe(pg)]) });
  }
  await Promise.all(clients.map((x) => x.joins));
  const joinedMs = nowMs() - tj;
  if (!(await waitUntil(() => pgReady.size === CLIENTS, 15000))) {
    log(`WARNING: only ${pgReady.size}/${CLIENTS} clients got "Subscribed to PostgreSQL"`);
  }
  log(`${CLIENTS * 2} channels joined in ${joinedMs.toFixed(0)} ms`);

  // Warm-up (not reported): both paths at a low rate for 1 s.
  for (const kind of ['bc', 'pg']) {
    const w = await runPhase(writer, kind, 50, 1);
    log(`warm-up ${kind}: ${w.received}/${w.expected} delivered, p50 ${f2(w.p50)} ms`);
  }

  const live = [];
  for (const rate of RATES) {
    for (const kind of ['bc', 'pg']) {
      const r = await runPhase(writer, kind, rate, DURATION);
      r.kind = kind;
      live.push(r);
      log(`${kind === 'bc' ? 'broadcast from db' : 'postgres changes'} at ${rate}/s: ${r.committed} rows committed in ` +
        `${r.elapsed.toFixed(2)} s, ${r.received}/${r.expected} delivered, ${r.dup} duplicates, drained ${r.drain.toFixed(2)} s ` +
        `after the writer, max ${f1(r.max)} ms (a row committed ${r.worstAt.toFixed(2)} s into the window)`);
    }
  }
  for (const { c } of clients) { await c.removeAllChannels(); c.disconnect(); }

  log(`replay after the live scenarios (realtime.messages: ${await inTable()} rows)`);
  const after = await replayScenarios('(after the live rows)');
  writer.close();

  // ---- the table ----
  console.log();
  console.log(`== Broadcast from the database vs Postgres Changes (commit -> client) and replay; ${CLIENTS} realtime-js clients in one Node process,`);
  console.log(`   ${TOPICS} topics (${CLIENTS / TOPICS} subscribers per row on both paths); ${DURATION} s per live row; server ${env.SERVER_WORKERS ?? 2} workers;`);
  console.log(`   PostgreSQL 15 fsync off, writer synchronous_commit on; all on one ${(await import('node:os')).cpus().length}-core machine (${env.MACHINE_BUSY ?? '?'} % busy before) ==`);
  const hdr = ['scenario', 'rate/s', 'committed/s', 'delivered', 'p50_ms', 'p95_ms', 'p99_ms', 'msgs/s', 'srv_cpu', 'pg_cpu', 'node_cpu'];
  const w = [52, 7, 11, 10, 8, 8, 8, 9, 8, 7, 8];
  const line = (cells) => console.log(cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join(' '));
  line(hdr);
  for (const r of live) {
    line([r.kind === 'bc' ? 'broadcast from db (realtime.send, private)' : 'postgres changes (INSERT, RLS, filter)',
      int(r.rate), r.committedPerS.toFixed(1), `${r.delivered.toFixed(2)}%`, f1(r.p50), f1(r.p95), f1(r.p99), int(r.msgsPerS),
      pc(r.cpu.server), pc(r.cpu.pg), pc(r.cpu.node)]);
  }
  for (const set of [before, after]) {
    for (const r of set.rows) {
      line([r.name, `${r.joins}j`, '-', r.delivered === undefined ? '-' : `${r.delivered.toFixed(2)}%`, f1(r.p50), f1(r.p95), f1(r.p99),
        int(r.msgsPerS), pc(r.cpu?.server), pc(r.cpu?.pg), pc(r.cpu?.node)]);
    }
  }
  console.log('notes:');
  for (const set of [before, after]) for (const r of set.rows) if (r.note) console.log(`  ${r.name}: ${r.note}`);
  for (const [name, set] of [['before', before], ['after', after]]) {
    console.log(`  replay bound (${name}): limit ${REPLAY_STORED} asked, ${set.clamp.n} replayed ` +
      `(limit is clamped to ${REPLAY_LIMIT}, supabase/realtime's bound; a replay returns the newest ${REPLAY_LIMIT} since 'since', ` +
      `so ${REPLAY_STORED} stored messages cannot be paged through by joins)`);
  }
  console.log('columns: live rows: rate = rows/s offered (one row per transaction); committed/s = rows the writer got committed;');
  console.log('  delivered = distinct (client,row) deliveries / rows x subscribers, within DRAIN_MAX s of the writer stopping;');
  console.log("  p50..p99 = clock_timestamp() in the row -> client's read, over expected deliveries (lost = never came);");
  console.log('  msgs/s = deliveries / writer seconds; cpu = % of one core over the writer window (server; postmaster + children;');
  console.log('  this Node process; "-" for windows under 1 s). Replay rows: rate = joins (j); p50..p99 = per join, from subscribe() to SUBSCRIBED or to the');
  console.log('  25th replayed message; msgs/s = replayed messages / wall time (in a row: including each leave).');
  const dups = live.reduce((a, r) => a + r.dup, 0);
  if (dups) console.log(`WARNING: ${dups} duplicate deliveries`);
  process.exit(0);
}

main().catch((e) => {
  console.error(`bench/messages.mjs: ${e.stack || e}`);
  process.exit(1);
});
