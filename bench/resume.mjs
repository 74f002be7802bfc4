// bench/resume.mjs: Postgres Changes resume (issue 13, docs/PROTOCOL.md,
// "Postgres Changes: positions and resume") under a server restart, with
// stock @supabase/realtime-js clients spread over PROCS Node processes.
// bench/resume.sh sets up the cluster and passes, in the environment,
// TC_PORT, SECRET, SERVER (the binary), SERVER_FLAGS (its flags, one per
// line), SLOT, SU_CONNINFO, PG_PID and the knobs (CLIENTS, CHANGES, TOPICS,
// PROCS, POLICY, CATCHUP_MAX, WORKERS). This process starts, kills and
// restarts the server itself.
//
// What runs (one scenario):
//   1. The server starts (default history: CDC_HISTORY_SECONDS 600,
//      CDC_HISTORY_MAX_BYTES 64 MiB). CLIENTS clients (one RealtimeClient
//      each, its own HS256 JWT, role authenticated, a random sub) join one
//      channel each with a postgres_changes INSERT binding on
//      public.bench_resume filtered k=eq.<i % TOPICS>. Each binding callback
//      stores the position it is handed (realtime-js's second argument) with
//      channel.updateJoinPayload({postgres_changes_resume: {after}}), as an
//      app would. One warm-up row per topic: every client has a position.
//   2. The server is killed (SIGKILL); every client is disconnected
//      (realtime-js's disconnect(): no reconnect timers run meanwhile).
//   3. CHANGES rows are committed, one per transaction, row n with
//      k = n % TOPICS (so CHANGES / TOPICS per topic, CLIENTS / TOPICS
//      subscribers each: CHANGES x CLIENTS / TOPICS replayed deliveries).
//   4. The server is started again (its history is rebuilt from the slot),
//      and as soon as it listens every client connect()s at once:
//      realtime-js rejoins each channel with its stored position.
//      Measured from that moment (t0): "live" = the client's "Subscribed to
//      PostgreSQL" with recovered: true; "caught up" = it has every row of
//      its topic. Lost = rows of its topic never received within
//      CATCHUP_MAX s; duplicated = a row received twice. Replayed
//      deliveries/s = all replayed deliveries / (last caught up - t0).
//      With LIVE_CHANGES > 0, that many more rows (seq CHANGES...) are
//      committed from t0 on at LIVE_RATE a second, one per transaction,
//      while the clients resume: "caught up" then includes them, each
//      exactly once too, whether a client gets it replayed or live.
//   5. The cost of the history: the slot's WAL (pg_current_wal_lsn() -
//      restart_lsn, and - confirmed_flush_lsn) with the server down after the
//      batch and again after the catch-up; WAL written per change; then the
//      server is killed and started twice with no client: with the default
//      window (the history rebuilt from the slot) and with
//      CDC_HISTORY_SECONDS=0, and (VmRSS default - VmRSS window 0) / the
//      changes the history then holds (its /metrics gauges when the server
//      has them, else the rows committed) = bytes per retained change.
import { fork, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { RealtimeClient } from '@supabase/realtime-js';
import WebSocket from 'ws';

import { Psql, procStat, treeTicks } from './lib.mjs';

const env = process.env;
const PORT = Number(env.TC_PORT);
const SECRET = env.SECRET;
const CLIENTS = Number(env.CLIENTS ?? 1000);
const CHANGES = Number(env.CHANGES ?? 10000);
const TOPICS = Number(env.TOPICS ?? 100);
const PROCS = Math.max(1, Number(env.PROCS ?? 2));
const POLICY = env.POLICY ?? 'db';
const CATCHUP_MAX = Number(env.CATCHUP_MAX ?? 120);
const UP_DELAY_MS = Number(env.UP_DELAY_MS ?? 0);
const LIVE_CHANGES = Number(env.LIVE_CHANGES ?? 0);
const LIVE_RATE = Number(env.LIVE_RATE ?? 1000);
const TOTAL = CHANGES + LIVE_CHANGES; // rows of the batch's phase: seq 0 .. TOTAL - 1

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => console.log(`# ${s}`);

async function waitUntil(pred, timeoutMs, interval = 5) {
  const deadline = nowMs() + timeoutMs;
  while (!(await pred())) {
    if (nowMs() > deadline) return false;
    await sleep(interval);
  }
  return true;
}

// ---- positions ------------------------------------------------------------------
function parsePos(s) {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8}):(\d+)$/i.exec(String(s ?? ''));
  return m ? [(BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`), BigInt(m[3])] : null;
}

// =================================================================================
// A worker: CLIENTS / PROCS clients, driven by the parent over IPC.
// =================================================================================
async function worker() {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const sign = (claims) => {
    const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    return `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`;
  };
  const nowS = () => Math.floor(Date.now() / 1000);
  const APIKEY = sign({ role: 'anon', iss: 'techcare-bench', iat: nowS(), exp: nowS() + 3 * 3600 });

  const clients = []; // {c, ch, k, live, caught, got: Uint8Array, n, dup, stale, sys: [], pos}
  let batch = null; // {phase, perTopic: [expected count], t0}
  const reply = (m) => process.send(m);

  const onRow = (cl, row, position) => {
    if (position !== undefined && position !== null) {
      cl.pos = position;
      cl.ch.updateJoinPayload({ postgres_changes_resume: { after: position } });
    }
    if (!row) return;
    if (row.phase === 'warm') { cl.warm = true; return; }
    if (!batch || row.phase !== batch.phase) { cl.other++; return; }
    const s = row.seq;
    if (!(s >= 0 && s < TOTAL) || s % TOPICS !== cl.k) { cl.other++; return; }
    if (cl.got[s]) { cl.dup++; return; }
    cl.got[s] = 1;
    (cl.posOf ??= new Map()).set(s, position);
    cl.n++;
    const t = nowMs();
    if (!cl.first) cl.first = t;
    cl.last = t;
    if (cl.n === batch.perTopic[cl.k]) cl.caught = t;
  };

  async function start({ from, count }) {
    for (let i = from; i < from + count; i++) {
      const c = new RealtimeClient(`ws://127.0.0.1:${PORT}/realtime/v1`, {
        // No reconnect of its own: a reconnect timer that fired just before
        // disconnect() still connects (phoenix's teardown callback), and the
        // benchmark decides when every client connects.
        transport: WebSocket, vsn: '2.0.0', params: { apikey: APIKEY }, timeout: 30000,
        reconnectAfterMs: () => 3600 * 1000, logger: () => {},
      });
      await c.setAuth(sign({ role: 'authenticated', aud: 'authenticated', sub: crypto.randomUUID(), iat: nowS(), exp: nowS() + 3 * 3600 }));
      const k = i % TOPICS;
      const ch = c.channel(`resume-${i}`);
      const cl = { i, c, ch, k, got: new Uint8Array(TOTAL), n: 0, dup: 0, other: 0, sys: [], pos: null, warm: false, events: [] };
      // What happened to its connection, for a client that never resumed.
      const ev = (what) => { cl.events.push(`${((nowMs() - (batch?.t0 ?? nowMs())) / 1000).toFixed(2)}s ${what}`); if (cl.events.length > 8) cl.events.shift(); };
      c.socketAdapter.onOpen(() => ev('open'));
      // The frames themselves, to tell a frame that never came from one realtime-js did not hand over.
      c.socketAdapter.onMessage((m) => {
        const r = m.event === 'postgres_changes' ? m.payload?.data?.record : null;
        if (r && batch && r.phase === batch.phase) (cl.frames ??= new Set()).add(r.seq);
      });
      c.socketAdapter.onClose((e) => ev(`close ${e?.code ?? ''} ${e?.reason ?? ''}`.trim()));
      c.socketAdapter.onError((e) => ev(`error ${e?.message ?? e?.type ?? ''}`.trim()));
      ch.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'bench_resume', filter: `k=eq.${k}` },
        (m, position) => onRow(cl, m.new, position));
      ch.on('system', {}, (m) => {
        if (m?.extension !== 'postgres_changes') return;
        cl.sys.push({ t: nowMs(), m });
        // Without any event yet, the join's position is where to resume from.
        if (m.status === 'ok' && m.position && cl.pos === null) {
          cl.pos = m.position;
          ch.updateJoinPayload({ postgres_changes_resume: { after: m.position } });
        }
      });
      ch.subscribe();
      clients.push(cl);
    }
    const ok = await waitUntil(() => clients.every((cl) => cl.sys.some((x) => x.m.status === 'ok')), 60000, 20);
    const stuck = clients.filter((cl) => !cl.sys.some((x) => x.m.status === 'ok'))
      .map((cl) => `client ${cl.i}: socket ${cl.c.connectionState()}, channel ${cl.ch.state}; ${cl.events.join(', ')}`);
    reply({ type: 'started', ok, joined: clients.length - stuck.length, stuck: stuck.slice(0, 5),
      failedOpens: clients.reduce((a, cl) => a + cl.events.filter((x) => / (close|error)/.test(x)).length, 0) });
  }

  const handlers = {
    start,
    async warm() {
      const ok = await waitUntil(() => clients.every((cl) => cl.warm), 30000, 10);
      reply({ type: 'warm', ok, n: clients.filter((cl) => cl.warm).length });
    },
    async down() {
      // realtime-js's disconnect() does nothing while the socket is still
      // closing, and a later connect() then does nothing either (phoenix
      // keeps the old conn): wait until the sockets are closed first, then
      // until each disconnect() has dropped its conn.
      await waitUntil(() => clients.every((cl) => cl.c.connectionState() === 'closed'), 10000, 10);
      await Promise.all(clients.map((cl) => cl.c.disconnect()));
      const ok = await waitUntil(() => clients.every((cl) => !cl.c.socketAdapter.getSocket().conn), 10000, 10);
      reply({ type: 'down', ok, resumeSet: clients.filter((cl) => parsePos(cl.ch.joinPush.payload().postgres_changes_resume?.after)).length });
    },
    async up({ phase, perTopic, t0 }) {
      batch = { phase, perTopic, t0 };
      const cpu0 = process.cpuUsage();
      for (const cl of clients) {
        cl.sysBefore = cl.sys.length;
        cl.caught = 0;
        cl.resumedAfter = cl.ch.joinPush.payload().postgres_changes_resume?.after;
      }
      const early = clients.filter((cl) => cl.c.isConnected() || cl.c.isConnecting()).length;
      const tSent = nowMs();
      for (const cl of clients) cl.c.connect();
      const tConnectCalled = nowMs();
      const noop = clients.filter((cl) => cl.c.connectionState() === 'closed').length;
      const deadline = tSent + CATCHUP_MAX * 1000;
      await waitUntil(() => clients.every((cl) => cl.caught) || nowMs() > deadline, CATCHUP_MAX * 1000 + 1000, 20);
      // A little longer for duplicates that would come after the last row.
      await sleep(500);
      const live = [];
      let recovered = 0;
      let notRecovered = 0;
      const reasons = new Map();
      for (const cl of clients) {
        const s = cl.sys.slice(cl.sysBefore).find((x) => x.m.status === 'ok' && x.m.message !== 'Position');
        if (s) live.push(s.t - t0);
        if (s?.m.recovered === true) recovered++;
        else {
          notRecovered++;
          const why = s ? `recovered ${s.m.recovered}: ${s.m.reason ?? ''}`
            : `no "Subscribed to PostgreSQL" (socket ${cl.c.connectionState()}, channel ${cl.ch.state}; ${cl.events.join(', ')})`;
          reasons.set(why, (reasons.get(why) ?? 0) + 1);
        }
      }
      // For a client that missed rows: which, and the positions around them.
      const lostDetail = [];
      for (const cl of clients) {
        if (cl.n >= perTopic[cl.k]) continue;
        const missing = [];
        for (let s = cl.k; s < TOTAL; s += TOPICS) if (!cl.got[s]) missing.push(s);
        const around = missing.slice(0, 3).map((s) => `seq ${s} (frame ${cl.frames?.has(s) ? 'received' : 'never received'}; ` +
          `between ${cl.posOf?.get(s - TOPICS) ?? '-'} and ${cl.posOf?.get(s + TOPICS) ?? '-'})`);
        const sys = cl.sys.slice(cl.sysBefore).map((x) => JSON.stringify(x.m)).join(' ');
        lostDetail.push(`client ${cl.i} (topic ${cl.k}) resumed after ${cl.resumedAfter}: missing ${missing.length}: ${around.join(', ')}; ${sys}`);
      }
      reply({
        type: 'up', tConnect: tConnectCalled - tSent, early, noop, lostDetail: lostDetail.slice(0, 5),
        live, recovered, notRecovered, reasons: [...reasons.entries()].slice(0, 5),
        caught: clients.map((cl) => (cl.caught ? cl.caught - t0 : Infinity)),
        first: Math.min(...clients.map((cl) => cl.first ?? Infinity)) - t0,
        last: Math.max(...clients.map((cl) => cl.last ?? 0)) - t0,
        delivered: clients.reduce((a, cl) => a + cl.n, 0),
        expected: clients.reduce((a, cl) => a + perTopic[cl.k], 0),
        dup: clients.reduce((a, cl) => a + cl.dup, 0),
        other: clients.reduce((a, cl) => a + cl.other, 0),
        cpuMs: ((u) => (u.user + u.system) / 1000)(process.cpuUsage(cpu0)),
        caughtAt: Math.max(...clients.map((cl) => (cl.caught ? cl.caught : 0))),
      });
    },
    async quit() {
      await Promise.all(clients.map((cl) => cl.c.disconnect()));
      reply({ type: 'quit' });
      setTimeout(() => process.exit(0), 100);
    },
  };
  process.on('message', (m) => {
    handlers[m.type](m).catch((e) => { console.error(`worker: ${e.stack || e}`); process.exit(1); });
  });
  process.on('disconnect', () => process.exit(0)); // the parent is gone
  reply({ type: 'hello' });
}

// =================================================================================
// The parent.
// =================================================================================
function rssKiB(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return NaN;
  }
}
function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}
async function metrics() {
  try {
    const r = await fetch(`http://127.0.0.1:${PORT}/metrics`);
    const out = {};
    for (const line of (await r.text()).split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+([-+0-9.eE]+|NaN)$/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  } catch {
    return {};
  }
}
const historyGauges = (m) => Object.fromEntries(Object.entries(m).filter(([k]) => /history/i.test(k)));

let server = null;
let serverNo = 0;
async function startServer(extraEnv = {}) {
  const logPath = `${env.TMP_DIR ?? os.tmpdir()}/server-${++serverNo}.log`;
  const fd = fs.openSync(logPath, 'w');
  const flags = (env.SERVER_FLAGS ?? '').split('\n').filter(Boolean);
  const t0 = nowMs();
  const p = spawn(env.SERVER, flags, { env: { ...process.env, API_JWT_SECRET: SECRET, SLOT_NAME: env.SLOT, ...extraEnv },
    stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  let exited = false;
  p.on('exit', () => { exited = true; });
  const ok = await waitUntil(async () => exited || (await listening(PORT)), 30000, 10);
  if (!ok || exited) throw new Error(`the server did not come up; its log: ${logPath}\n${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
  server = { p, pid: p.pid, logPath, exited: () => exited };
  return nowMs() - t0;
}
async function killServer(sig = 'SIGKILL') {
  if (!server) return;
  const s = server;
  server = null;
  s.p.kill(sig);
  await waitUntil(() => s.exited(), 15000, 10);
  if (!s.exited()) s.p.kill('SIGKILL');
  await waitUntil(() => s.exited(), 5000, 10);
}
/** Until the history gauges stop changing (1 s the same; without gauges,
 * 3 s), at most 30 s. Returns when they last changed, ms after the call. */
async function settle() {
  let prev = '';
  let changedAt = 0;
  const t0 = nowMs();
  while (nowMs() - t0 < 30000) {
    const g = JSON.stringify(historyGauges(await metrics()));
    if (g !== prev) changedAt = nowMs() - t0;
    else if (g !== '{}' && nowMs() - t0 - changedAt >= 1000) return changedAt;
    if (g === '{}' && nowMs() - t0 > 3000) return changedAt;
    prev = g;
    await sleep(20);
  }
  return changedAt;
}

async function main() {
  const db = new Psql(env.SU_CONNINFO);
  const slotWal = async () => {
    const r = await db.run(`select coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), -1)::bigint || '|' ||
      coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), -1)::bigint || '|' || active
      from pg_replication_slots where slot_name = '${env.SLOT}'`);
    const [held, unconfirmed, active] = r.split('|');
    return { held: Number(held), unconfirmed: Number(unconfirmed), active: active === 't' };
  };
  const lsn = async () => db.run('select pg_current_wal_lsn()');
  const lsnDiff = async (a, b) => Number(await db.run(`select pg_wal_lsn_diff('${b}', '${a}')::bigint`));

  // ---- 1. the server, the clients, a position each ----
  const tStart1 = await startServer();
  log(`server up in ${tStart1.toFixed(0)} ms (pid ${server.pid}); ${CLIENTS} clients in ${PROCS} Node processes, ` +
    `postgres_changes INSERT on bench_resume k=eq.<i % ${TOPICS}> (policy: ${POLICY})`);
  const m0 = await metrics();
  const gauges0 = historyGauges(m0);
  log(`history gauges in /metrics: ${Object.keys(gauges0).length ? JSON.stringify(gauges0) : 'none'}`);

  const workers = [];
  const self = fileURLToPath(import.meta.url);
  for (let w = 0; w < PROCS; w++) {
    const p = fork(self, ['worker'], { env: process.env });
    const inbox = [];
    const waiters = [];
    p.on('message', (m) => { inbox.push(m); for (const f of waiters.splice(0)) f(); });
    p.on('exit', (code) => { if (code) { console.error(`worker ${w} exited ${code}`); process.exit(1); } });
    const next = async (type) => {
      for (;;) {
        const i = inbox.findIndex((m) => m.type === type);
        if (i >= 0) return inbox.splice(i, 1)[0];
        await new Promise((r) => waiters.push(r));
      }
    };
    workers.push({ p, next });
  }
  await Promise.all(workers.map((w) => w.next('hello')));
  const per = Math.ceil(CLIENTS / PROCS);
  const tj = nowMs();
  workers.forEach((w, i) => w.p.send({ type: 'start', from: i * per, count: Math.max(0, Math.min(per, CLIENTS - i * per)) }));
  const started = await Promise.all(workers.map((w) => w.next('started')));
  const joined = started.reduce((a, s) => a + s.joined, 0);
  log(`${joined}/${CLIENTS} channels joined (Subscribed to PostgreSQL) in ${(nowMs() - tj).toFixed(0)} ms; ` +
    `${started.reduce((a, s) => a + s.failedOpens, 0)} socket closes or errors on the way`);
  for (const s of started) for (const x of s.stuck) log(`not joined: ${x}`);
  if (joined !== CLIENTS) throw new Error('not every client joined');

  await db.run(`insert into public.bench_resume (k, seq, phase) select k, k, 'warm' from generate_series(0, ${TOPICS - 1}) k`);
  workers.forEach((w) => w.p.send({ type: 'warm' }));
  const warm = await Promise.all(workers.map((w) => w.next('warm')));
  log(`warm-up row per topic: ${warm.reduce((a, x) => a + x.n, 0)}/${CLIENTS} clients have it (and a position)`);

  // ---- 2. kill; 3. the batch ----
  await killServer('SIGKILL');
  workers.forEach((w) => w.p.send({ type: 'down' }));
  const downs = await Promise.all(workers.map((w) => w.next('down')));
  if (!downs.every((d) => d.ok)) log('WARNING: not every client dropped its connection');
  log(`server killed (SIGKILL); clients disconnected, ${downs.reduce((a, d) => a + d.resumeSet, 0)} with a resume position`);
  const phase = `batch_${Date.now()}`;
  const lsnA = await lsn();
  const tw = nowMs();
  await db.run(`call bench.write_batch('${phase}', ${CHANGES}, ${TOPICS})`);
  const writeS = (nowMs() - tw) / 1000;
  const lsnB = await lsn();
  const walBatch = await lsnDiff(lsnA, lsnB);
  const walDown = await slotWal();
  log(`${CHANGES} changes committed in ${writeS.toFixed(2)} s (one per transaction), ${walBatch} bytes of WAL; ` +
    `slot while down: ${walDown.held} bytes held, ${walDown.unconfirmed} unconfirmed`);

  // ---- 4. restart; everyone resumes at once ----
  const tRestart = await startServer();
  if (UP_DELAY_MS) { await settle(); await sleep(UP_DELAY_MS); }
  const t0 = nowMs();
  const ticks0 = (procStat(server.pid)?.ticks ?? NaN);
  const pg0 = treeTicks(Number(env.PG_PID));
  const perTopic = Array.from({ length: TOPICS }, (_, k) => Math.floor((TOTAL - 1 - k) / TOPICS) + 1);
  workers.forEach((w) => w.p.send({ type: 'up', phase, perTopic, t0 }));
  const liveWrite = LIVE_CHANGES
    ? db.run(`call bench.write_live('${phase}', ${CHANGES}, ${LIVE_CHANGES}, ${TOPICS}, ${LIVE_RATE})`).then(() => nowMs() - t0)
    : Promise.resolve(0);
  const ups = await Promise.all(workers.map((w) => w.next('up')));
  const liveWriteMs = await liveWrite;
  const ticks1 = (procStat(server.pid)?.ticks ?? NaN);
  const pg1 = treeTicks(Number(env.PG_PID));
  const tUpDone = nowMs();
  const live = ups.flatMap((u) => u.live).sort((a, b) => a - b);
  const caught = ups.flatMap((u) => u.caught).sort((a, b) => a - b);
  const sum = (f) => ups.reduce((a, u) => a + f(u), 0);
  const delivered = sum((u) => u.delivered);
  const expected = sum((u) => u.expected);
  const dup = sum((u) => u.dup);
  const recovered = sum((u) => u.recovered);
  const pct = (xs, q) => (xs.length ? xs[Math.max(0, Math.ceil(q * xs.length) - 1)] : Infinity);
  const lastCaught = caught[caught.length - 1];
  const firstDelivery = Math.min(...ups.map((u) => u.first));
  const lastDelivery = Math.max(...ups.map((u) => u.last));
  const catchupWindow = Number.isFinite(lastCaught) ? lastCaught : lastDelivery;
  const rssAfter = rssKiB(server.pid);
  const m1 = await metrics();
  const counters = ['realtime_cdc_resumes_total', 'realtime_cdc_resume_misses_total', 'realtime_cdc_replayed_changes_total',
    'realtime_cdc_rls_checks_total', 'realtime_cdc_match_budget_exceeded_total'].map((k) => (m1[k] === undefined ? '-' : Math.round(m1[k]).toLocaleString('en-US')));
  for (const u of ups) for (const [why, n] of u.reasons) log(`not recovered (${n}): ${why}`);
  if (sum((u) => u.early)) log(`WARNING: ${sum((u) => u.early)} clients were connected or connecting before they were told to`);
  if (sum((u) => u.noop)) log(`WARNING: connect() did nothing for ${sum((u) => u.noop)} clients`);
  for (const u of ups) for (const x of u.lostDetail) log(`LOST: ${x}`);
  log(`restart: listening ${tRestart.toFixed(0)} ms after exec; ${recovered}/${CLIENTS} recovered; ` +
    `${delivered}/${expected} replayed deliveries, ${dup} duplicated, ${sum((u) => u.other)} unexpected`);
  const walAfter = await slotWal();
  log(`slot after the catch-up: ${walAfter.held} bytes held, ${walAfter.unconfirmed} unconfirmed (active ${walAfter.active}); ` +
    `history gauges: ${JSON.stringify(historyGauges(m1))}`);
  const workerCpuMs = sum((u) => u.cpuMs);
  const upS = (tUpDone - t0) / 1000;
  const cpuPct = (ticks, secs) => `${((ticks / 100 / secs) * 100).toFixed(0)}`;

  workers.forEach((w) => w.p.send({ type: 'quit' }));
  await Promise.all(workers.map((w) => w.next('quit')));

  // ---- 5. memory per retained change: default window vs none, no client ----
  await killServer('SIGKILL');
  const tRebuild = await startServer();
  const tRebuilt = tRebuild + (await settle());
  const rssFull = rssKiB(server.pid);
  const mFull = await metrics();
  const walKept = await slotWal();
  await killServer('SIGKILL');
  await startServer({ CDC_HISTORY_SECONDS: '0' });
  await settle();
  const rssNone = rssKiB(server.pid);
  const mNone = await metrics();
  // With no history the server confirms what it has decoded: one more
  // change, then the slot's unconfirmed WAL should fall to about nothing.
  await db.run(`insert into public.bench_resume (k, seq, phase) values (0, 0, 'window0')`);
  const tw0 = nowMs();
  let walNone = await slotWal();
  await waitUntil(async () => (walNone = await slotWal()).unconfirmed < 8192, 30000, 200);
  const confirmS = (nowMs() - tw0) / 1000;
  await killServer('SIGTERM');
  const retainedRows = Number(await db.run('select count(*) from public.bench_resume'));
  const gFull = historyGauges(mFull);
  const changesGauge = Object.entries(gFull).find(([k]) => /change|entries|events|rows/i.test(k) && !/bytes/i.test(k));
  const bytesGauge = Object.entries(gFull).find(([k]) => /bytes/i.test(k) && !/max|limit/i.test(k));
  const retained = changesGauge ? changesGauge[1] : retainedRows;
  log(`no clients: RSS ${rssFull} KiB with the default window (history gauges ${JSON.stringify(gFull)}), ` +
    `${rssNone} KiB with CDC_HISTORY_SECONDS=0 (gauges ${JSON.stringify(historyGauges(mNone))})`);
  db.close();

  // ---- the table ----
  const ms = (x) => (Number.isFinite(x) ? `${Math.round(x).toLocaleString('en-US')} ms` : 'never');
  const n = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
  const kb = (b) => (Number.isFinite(b) && b >= 0 ? `${(b / 1024).toLocaleString('en-US', { maximumFractionDigits: 0 })} KiB` : '-');
  const rows = [
    ['clients / Node processes / topics', `${CLIENTS} / ${PROCS} / ${TOPICS} (${CLIENTS / TOPICS} subscribers per row)`],
    ['changes committed while down', `${n(CHANGES)} in ${writeS.toFixed(2)} s, one per transaction (${n(CHANGES / writeS)}/s)`],
    ...(LIVE_CHANGES ? [['changes committed during the resume (from t0)', `${n(LIVE_CHANGES)} in ${ms(liveWriteMs)}, one per transaction (${n(LIVE_CHANGES / (liveWriteMs / 1000))}/s)`]] : []),
    ['server exec -> listening (history rebuilt from the slot)', ms(tRestart)],
    ['connect() of all clients', ms(Math.max(...ups.map((u) => u.tConnect)))],
    ['recovered: true', `${recovered}/${CLIENTS}`],
    ['all live (recovered received), p50 / p99 / max', `${ms(pct(live, 0.5))} / ${ms(pct(live, 0.99))} / ${ms(live[live.length - 1])}`],
    ['all caught up, p50 / p99 / max', `${ms(pct(caught, 0.5))} / ${ms(pct(caught, 0.99))} / ${ms(lastCaught)}`],
    ['first / last replayed delivery', `${ms(firstDelivery)} / ${ms(lastDelivery)}`],
    [LIVE_CHANGES ? 'deliveries (replayed and live)' : 'replayed deliveries', `${n(delivered)} of ${n(expected)} (lost ${n(expected - delivered)}, duplicated ${n(dup)})`],
    ['replayed deliveries/s (to the last caught up)', n(delivered / (catchupWindow / 1000))],
    ['CPU, t0 to last caught up + 0.5 s, % of one core: server / PostgreSQL / clients',
      `${cpuPct(ticks1 - ticks0, upS)} / ${cpuPct(pg1 - pg0, upS)} / ${((workerCpuMs / 1000 / upS) * 100).toFixed(0)} % over ${upS.toFixed(1)} s`],
    ['server RSS after the catch-up', kb(rssAfter * 1024)],
    ['/metrics after: resumes / misses / replayed changes / RLS checks in PostgreSQL / match budget exceeded', counters.join(' / ')],
    ['WAL written per change (the batch)', `${n(walBatch / CHANGES)} bytes (${kb(walBatch)} for ${n(CHANGES)})`],
    ['slot WAL held / unconfirmed, server down', `${kb(walDown.held)} / ${kb(walDown.unconfirmed)}`],
    ['slot WAL held / unconfirmed, after the catch-up', `${kb(walAfter.held)} / ${kb(walAfter.unconfirmed)}`],
    ['slot WAL held / unconfirmed, restarted, idle', `${kb(walKept.held)} / ${kb(walKept.unconfirmed)}`],
    ['slot WAL held / unconfirmed, CDC_HISTORY_SECONDS=0, one change later',
      `${kb(walNone.held)} / ${kb(walNone.unconfirmed)} (${walNone.unconfirmed < 8192 ? `confirmed within ${confirmS.toFixed(1)} s` : `NOT confirmed within ${confirmS.toFixed(0)} s`})`],
    ['server RSS, no client: default window / window 0', `${kb(rssFull * 1024)} / ${kb(rssNone * 1024)}`],
    ['restart, no client: exec -> history rebuilt (gauges final)', `${ms(tRebuilt)} (listening after ${ms(tRebuild)})`],
    ['history: changes held (gauge or rows committed)', `${n(retained)}${changesGauge ? ` (${changesGauge[0]})` : ' (rows committed; no gauge)'}`],
    ['history bytes (gauge)', bytesGauge ? `${kb(bytesGauge[1])} (${bytesGauge[0]}), ${n(bytesGauge[1] / retained)} bytes per change` : '-'],
    ['RSS per retained change', `${n(((rssFull - rssNone) * 1024) / retained)} bytes`],
  ];
  if (bytesGauge) {
    const per = bytesGauge[1] / retained;
    const cap = 64 * 1024 * 1024 / per;
    rows.push(['derived: changes the 64 MiB bound holds; rate that fills it in 600 s',
      `${n(cap)} changes; ${n(cap / 600)} changes/s (above it the window is shorter than 600 s)`]);
    rows.push(['derived: slot WAL held at the default window, per change/s of steady load',
      `${kb(600 * (walBatch / CHANGES))} (600 s x ${n(walBatch / CHANGES)} bytes), up to ${n(cap / 600)} changes/s`]);
  }
  console.log();
  console.log(`== Postgres Changes resume after a server restart: ${CLIENTS} realtime-js clients resume at once; ` +
    `${os.cpus().length} cores shared by server, PostgreSQL (fsync off) and clients; policy ${POLICY}; ` +
    `server ${env.WORKERS ?? 2} workers (${env.MACHINE_BUSY ?? '?'} % busy before) ==`);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  for (const [a, b] of rows) console.log(`${a.padEnd(w0)}  ${b}`);
  console.log('times from the moment the restarted server listened and the clients were told to connect (t0);');
  console.log('live = "Subscribed to PostgreSQL" with recovered: true; caught up = every row of its topic received.');
  const bad = expected - delivered + dup + (CLIENTS - recovered);
  if (bad) console.log(`WARNING: ${expected - delivered} lost, ${dup} duplicated, ${CLIENTS - recovered} not recovered`);
  process.exit(0);
}

if (process.argv[2] === 'worker') {
  worker().catch((e) => { console.error(`bench/resume.mjs worker: ${e.stack || e}`); process.exit(1); });
} else {
  if (!PORT || !SECRET || !env.SU_CONNINFO || !env.SERVER || !env.SLOT) {
    console.error('bench/resume.mjs: run it through bench/resume.sh (needs TC_PORT, SECRET, SU_CONNINFO, SERVER, SLOT)');
    process.exit(2);
  }
  main().catch(async (e) => {
    console.error(`bench/resume.mjs: ${e.stack || e}`);
    await killServer('SIGKILL').catch(() => {});
    process.exit(1);
  });
}
