// Database-backed integration tests: one throwaway PostgreSQL cluster per
// test file, the real server pointed at it, supabase-js clients, and
// ground truth read straight from the database.
//
//   const stack = await startStack();      // cluster + server (demo data loaded)
//   stack.anonKey / stack.serviceKey        // keys signed with the server's secret
//   stack.client(key)                       // a stock supabase-js client
//   await stack.signIn('alice@customer.demo')   // {client, session, claims}
//   await stack.db.psqlAs(claims, 'select id from public.bookings')  // rows as that user sees them
//   await stack.db.rows('select ...')       // rows as the superuser
//   await stack.stop();                     // server exit 0 asserted, cluster stopped and removed
//   await stack.db.restart({ mode: 'immediate' })  // PostgreSQL restarted, same port and data
//   await stack.restartServer()             // a new server on the same port, secret and database
//   const s = stack.db.session(); await s.run('insert ...')   // one long-lived psql session
//
// The cluster comes from `scripts/db.sh start --dir $TMP --port $PORT --fast`
// (the same script developers use), on a free port below the ephemeral
// range, as tests/db/run.sh picks it. Queries as the superuser go through
// psql over the cluster's unix socket (no npm PostgreSQL client); results
// come back as one JSON document built by json_agg.
//
// This file is not a test file: `node --test tests/integration/` only runs
// *.test.mjs.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { createClient } from '@supabase/supabase-js';

import { REPO, Server, T, WebSocket, nowS, sign, startServer, teardown, waitFor, withTimeout } from './harness.mjs';

export { createClient };

const PGBIN = '/usr/lib/postgresql/15/bin';
const DB_SH = path.join(REPO, 'scripts', 'db.sh');

export const DEMO_PASSWORD = 'techcare-demo';
export const DEMO = {
  alice: { id: 'c0000000-0000-4000-8000-000000000001', email: 'alice@customer.demo', role: 'customer' },
  bob: { id: 'c0000000-0000-4000-8000-000000000002', email: 'bob@customer.demo', role: 'customer' },
  carol: { id: 'c0000000-0000-4000-8000-000000000003', email: 'carol@customer.demo', role: 'customer' },
  tom: { id: '7ec00000-0000-4000-8000-000000000001', email: 'tom@tech.demo', role: 'technician' },
  tina: { id: '7ec00000-0000-4000-8000-000000000002', email: 'tina@tech.demo', role: 'technician' },
  victor: { id: '7ec00000-0000-4000-8000-000000000003', email: 'victor@tech.demo', role: 'technician' },
  admin: { id: 'ad000000-0000-4000-8000-000000000001', email: 'admin@techcare.demo', role: 'admin' },
};
export const TABLES = ['profiles', 'technicians', 'bookings', 'bids', 'messages', 'notifications', 'payments', 'reviews'];

/** The payload of a JWT, unverified. */
export function decodeJwt(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw new Error(`not a JWT: ${token}`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

// ---- processes ------------------------------------------------------------

/** Runs a command to completion; resolves {code, stdout, stderr}. */
function run(cmd, args, { env, input, timeout = T(60000) } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${timeout} ms`)); }, timeout);
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    p.stdin.on('error', () => {}); // a psql that died early: its exit code says why
    p.stdin.end(input ?? '');
  });
}

/** KEY=value lines as db.sh prints them (printf %q: our values need no unquoting). */
function parseEnvLines(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/** Whether something accepts connections on 127.0.0.1:port. */
function portBusy(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** A port below the kernel's ephemeral range (as tests/db/run.sh picks it):
 * outgoing connections never hold it, so PostgreSQL can bind it. */
async function pickPgPort() {
  let lo = 20000;
  let hi = 32000;
  try {
    const eph = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (eph > lo + 1000) hi = eph - 1;
  } catch { /* keep the defaults */ }
  for (let i = 0; i < 100; i++) {
    const p = lo + crypto.randomInt(hi - lo);
    if (!(await portBusy(p))) return p;
  }
  throw new Error('no free port for PostgreSQL');
}

// ---- the cluster ----------------------------------------------------------

export class TestDb {
  constructor(tmp, dir, env) {
    this.tmp = tmp;
    this.dir = dir;
    this.holds = new Set(); // psql sessions of hold() still open
    this.env = env; // DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, DB_SUPERUSER, DB_SOCKET_DIR ...
  }

  /** The server's connection settings. */
  get serverEnv() {
    const e = this.env;
    return { DB_HOST: e.DB_HOST, DB_PORT: e.DB_PORT, DB_USER: e.DB_USER, DB_PASSWORD: e.DB_PASSWORD, DB_NAME: e.DB_NAME,
      DB_REPLICATION_USER: e.DB_REPLICATION_USER, DB_REPLICATION_PASSWORD: e.DB_REPLICATION_PASSWORD };
  }

  /** Creates and starts a cluster with the migrations and (unless demo is
   * false) db/demo.sql, in a new temporary directory. fast: fsync and
   * synchronous commit off (tests); false for latency figures, since WAL
   * then waits up to wal_writer_delay (200 ms) to reach the replication stream. */
  static async start({ demo = true, fast = true } = {}) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'techcare-itest-'));
    fs.chmodSync(tmp, 0o755); // the server runs as `postgres` and must reach DIR
    const dir = path.join(tmp, 'pg');
    const env = {
      DB_PASSWORD: crypto.randomBytes(12).toString('hex'),
      DB_REPLICATION_PASSWORD: crypto.randomBytes(12).toString('hex'),
      POSTGRES_PASSWORD: crypto.randomBytes(12).toString('hex'),
    };
    let last;
    for (let attempt = 0; attempt < 3; attempt++) { // another process may take the port first
      const port = await pickPgPort();
      const args = ['start', '--dir', dir, '--port', String(port), ...(fast ? ['--fast'] : []), ...(demo ? [] : ['--no-demo'])];
      last = await run(DB_SH, args, { env });
      if (last.code === 0) {
        const facts = parseEnvLines(last.stdout);
        for (const k of ['DB_HOST', 'DB_PORT', 'DB_USER', 'DB_PASSWORD', 'DB_NAME', 'DB_SUPERUSER', 'DB_SOCKET_DIR',
          'DB_REPLICATION_USER', 'DB_REPLICATION_PASSWORD']) {
          if (!facts[k]) throw new Error(`scripts/db.sh start printed no ${k}:\n${last.stdout}`);
        }
        return new TestDb(tmp, dir, facts);
      }
      if (!/port .* is taken|could not bind/.test(last.stderr)) break;
      await run(DB_SH, ['stop', '--dir', dir]).catch(() => {});
    }
    await run(DB_SH, ['stop', '--dir', dir]).catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`scripts/db.sh start failed (exit ${last.code}):\n${last.stderr}`);
  }

  /** Runs a psql script as the superuser over the unix socket; resolves
   * with its stdout (unaligned, tuples only), rejects on any SQL error.
   * vars become psql variables (:'name' in the script). */
  async psql(script, vars = {}) {
    const e = this.env;
    const args = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', e.DB_SOCKET_DIR, '-p', e.DB_PORT,
      '-U', e.DB_SUPERUSER, '-d', e.DB_NAME];
    for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
    const r = await run(path.join(PGBIN, 'psql'), args, {
      input: script,
      env: { PGOPTIONS: '-c client_min_messages=warning', PGCONNECT_TIMEOUT: '10' },
    });
    if (r.code !== 0) throw new Error(`psql failed (exit ${r.code}): ${r.stderr.trim()}\n--- script ---\n${script}`);
    return r.stdout;
  }

  /** Opens a superuser session that runs `sql` inside a transaction and
   * keeps it open (holding whatever locks it took) until release() commits
   * it. Resolves once `sql` has run. */
  async hold(sql) {
    const e = this.env;
    const p = spawn(path.join(PGBIN, 'psql'), ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', e.DB_SOCKET_DIR, '-p', e.DB_PORT,
      '-U', e.DB_SUPERUSER, '-d', e.DB_NAME], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => p.on('close', resolve));
    this.holds.add(p); // stop() kills it if the test never released it
    exited.then(() => this.holds.delete(p));
    p.stdin.on('error', () => {});
    p.stdin.write(`begin;\n${sql};\nselect 'held-' || pg_backend_pid();\n`);
    let exitCode = null;
    exited.then((code) => { exitCode = code; });
    try {
      await waitFor(() => {
        if (exitCode !== null) throw new Error(`psql exited (${exitCode}) before holding: ${err}`);
        return /held-\d+/.test(out);
      }, { timeout: T(10000), message: `psql to run: ${sql}` });
    } catch (e) {
      p.kill('SIGKILL');
      throw e;
    }
    let released;
    return {
      pid: Number(/held-(\d+)/.exec(out)[1]),
      /** Commits and ends the session (idempotent). */
      release: () => {
        released ??= (async () => {
          p.stdin.end('commit;\n');
          const code = await withTimeout(exited, T(10000), 'psql (hold) to exit').catch((e) => { p.kill('SIGKILL'); throw e; });
          if (code !== 0) throw new Error(`psql (hold) exited ${code}: ${err}`);
        })();
        return released;
      },
    };
  }

  /** The rows of a query as the superuser (RLS bypassed), as objects. */
  async rows(query) {
    const out = await this.psql(`select coalesce(json_agg(_q), '[]') from (${query}) _q;\n`);
    return JSON.parse(out);
  }

  /** One value: the first column of the first row (text), or null. */
  async value(query) {
    const rows = await this.rows(query);
    if (!rows.length) return null;
    return Object.values(rows[0])[0];
  }

  /** Ground truth: the rows of a query run as the request role of claims
   * (claims.role: anon, authenticated or service_role) with
   * request.jwt.claims set, exactly as the server prepares a request; the
   * transaction is rolled back, so a write here changes nothing. */
  async psqlAs(claims, query) {
    const role = claims?.role ?? 'anon';
    if (!['anon', 'authenticated', 'service_role'].includes(role)) throw new Error(`psqlAs: not a request role: ${role}`);
    const out = await this.psql(
      'begin;\n' +
        `set local role ${role};\n` +
        "select set_config('request.jwt.claims', :'claims', true) \\g /dev/null\n" +
        `select coalesce(json_agg(_q), '[]') from (${query}) _q;\n` +
        'rollback;\n',
      { claims: JSON.stringify(claims ?? {}) },
    );
    return JSON.parse(out);
  }

  /** A fingerprint of every table the REST API could reach, plus auth's:
   * row count and an md5 over the rows in a stable order. Compared before
   * and after hostile requests. extra: more table names (schema-qualified). */
  async fingerprint(extra = []) {
    const tables = [...TABLES.map((t) => `public.${t}`), 'auth.users', 'auth.identities', ...extra];
    const parts = tables.map((t) =>
      `select '${t}' as t, (select count(*) from ${t}) as n, ` +
      `(select md5(coalesce(string_agg(x::text, ',' order by x::text), '')) from ${t} x) as h`);
    const rows = await this.rows(parts.join(' union all '));
    const fp = {};
    for (const r of rows) fp[r.t] = `${r.n}:${r.h}`;
    fp['#tables'] = await this.value("select string_agg(schemaname || '.' || tablename, ',' order by schemaname, tablename) from pg_tables " +
      "where schemaname not in ('pg_catalog', 'information_schema')");
    return fp;
  }

  /** Stops PostgreSQL, leaving the cluster on disk: mode 'fast' is
   * `scripts/db.sh stop` (pg_ctl -m fast), 'immediate' is pg_ctl -m
   * immediate (no shutdown checkpoint: the next start runs crash recovery).
   * Rejects if it takes longer than timeout ms (PostgreSQL may still be
   * shutting down then: an immediate shutdown ends that). */
  async shutdown({ mode = 'fast', timeout = T(60000) } = {}) {
    for (const p of this.holds) p.kill('SIGKILL');
    this.holds.clear();
    let r;
    if (mode === 'fast') {
      r = await run(DB_SH, ['stop', '--dir', this.dir], { timeout });
    } else if (mode === 'immediate') {
      const args = ['-D', path.join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop'];
      r = process.getuid?.() === 0
        ? await run('runuser', ['-u', 'postgres', '--', path.join(PGBIN, 'pg_ctl'), ...args], { timeout })
        : await run(path.join(PGBIN, 'pg_ctl'), args, { timeout });
    } else {
      throw new Error(`shutdown: unknown mode ${mode}`);
    }
    if (r.code !== 0) throw new Error(`stopping PostgreSQL (${mode}) failed (exit ${r.code}): ${r.stderr}`);
  }

  /** Starts the same cluster again on the same port with the same passwords
   * (`scripts/db.sh start --no-demo`: demo.sql is not run again, so the
   * restart itself writes nothing to the published tables). */
  async startAgain() {
    const e = this.env;
    const env = { DB_PASSWORD: e.DB_PASSWORD, DB_REPLICATION_PASSWORD: e.DB_REPLICATION_PASSWORD, POSTGRES_PASSWORD: e.DB_SUPERUSER_PASSWORD };
    let last;
    for (let attempt = 0; attempt < 20; attempt++) { // the old postmaster's port may linger for a moment
      last = await run(DB_SH, ['start', '--dir', this.dir, '--port', String(e.DB_PORT), '--fast', '--no-demo'], { env });
      if (last.code === 0) return;
      if (!/port .* is taken|could not bind/.test(last.stderr)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`scripts/db.sh start (again) failed (exit ${last.code}):\n${last.stderr}`);
  }

  /** shutdown({mode}) then startAgain(): PostgreSQL restarts on the same
   * port and data directory (replication slots and all). */
  async restart({ mode = 'fast', timeout } = {}) {
    await this.shutdown({ mode, timeout });
    await this.startAgain();
  }

  /** A persistent superuser psql session (one backend), for many small
   * statements without a process per statement; see PgSession. */
  session() {
    return new PgSession(this.env);
  }

  async stop() {
    for (const p of this.holds) p.kill('SIGKILL'); // a test that failed before release()
    this.holds.clear();
    const r = await run(DB_SH, ['stop', '--dir', this.dir]);
    fs.rmSync(this.tmp, { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`scripts/db.sh stop failed (exit ${r.code}): ${r.stderr}`);
  }
}

/**
 * One psql process kept open over the unix socket as the superuser:
 *   const s = db.session();
 *   const out = await s.run('insert ...; select ...;');   // stdout text (-At)
 *   s.close();
 * Requests run one at a time in order. run() rejects with the error text if
 * the script printed an ERROR (the session goes on: ON_ERROR_STOP is off, so
 * a failed transaction must be ended by the script itself, e.g. with a
 * final `rollback`/`commit`), and every pending or later run() rejects once
 * psql exits (the connection was lost: PostgreSQL restarted, say).
 * Each request ends with \echo and \warn markers, so its stdout and stderr
 * are known to be complete.
 */
export class PgSession {
  constructor(env) {
    this.proc = spawn(path.join(PGBIN, 'psql'), ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=0', '-h', env.DB_SOCKET_DIR,
      '-p', env.DB_PORT, '-U', env.DB_SUPERUSER, '-d', env.DB_NAME], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PGOPTIONS: '-c client_min_messages=error', PGCONNECT_TIMEOUT: '5' },
    });
    this.out = '';
    this.err = '';
    this.seq = 0;
    this.queue = []; // {marker, resolve, reject}
    this.exitCode = null;
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.setEncoding('utf8');
    this.proc.stdout.on('data', (d) => { this.out += d; this.pump(); });
    this.proc.stderr.on('data', (d) => { this.err += d; this.pump(); });
    this.proc.stdin.on('error', () => {});
    this.proc.on('close', (code) => {
      this.exitCode = code ?? -1;
      const why = new Error(`psql session ended (exit ${code}): ${this.err.trim().slice(-500)}`);
      why.sessionLost = true;
      for (const q of this.queue.splice(0)) q.reject(why);
    });
  }

  pump() {
    while (this.queue.length) {
      const q = this.queue[0];
      const io = this.out.indexOf(q.marker);
      const ie = this.err.indexOf(q.marker);
      if (io < 0 || ie < 0) return;
      const out = this.out.slice(0, io);
      const err = this.err.slice(0, ie);
      this.out = this.out.slice(io + q.marker.length + 1);
      this.err = this.err.slice(ie + q.marker.length + 1);
      this.queue.shift();
      if (/(^|\n)(psql:[^\n]*)?(ERROR|FATAL|PANIC):/.test(err)) {
        const e = new Error(`SQL failed: ${err.trim()}`);
        e.stdout = out;
        q.reject(e);
      } else {
        q.resolve(out);
      }
    }
  }

  /** Runs a script; resolves with its stdout. */
  run(script) {
    if (this.exitCode !== null) {
      const e = new Error(`psql session ended (exit ${this.exitCode})`);
      e.sessionLost = true;
      return Promise.reject(e);
    }
    const marker = `__tc_end_${process.pid}_${++this.seq}__`;
    return new Promise((resolve, reject) => {
      this.queue.push({ marker, resolve, reject });
      this.proc.stdin.write(`${script}\n\\echo ${marker}\n\\warn ${marker}\n`);
    });
  }

  /** Ends the session (waits for psql to exit). */
  async close() {
    if (this.exitCode !== null) return;
    const done = new Promise((r) => this.proc.once('close', r));
    this.proc.stdin.end('\\q\n');
    await withTimeout(done, T(10000), 'psql session to exit').catch(() => this.proc.kill('SIGKILL'));
  }
}

// ---- the stack: cluster + server + clients -------------------------------

const clientOpts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false }, realtime: { transport: WebSocket } };

export class Stack {
  constructor(db, server) {
    this.db = db;
    this.server = server;
    this.url = server.httpBase;
    this.secret = server.secret;
    this.anonKey = sign({ role: 'anon', iss: 'techcare-test', iat: nowS(), exp: nowS() + 3 * 3600 }, server.secret);
    this.serviceKey = sign({ role: 'service_role', iss: 'techcare-test', iat: nowS(), exp: nowS() + 3 * 3600 }, server.secret);
    this.clients = [];
  }

  /** A stock supabase-js client for this server with key as its apikey
   * (and default bearer). */
  client(key = this.anonKey, extra = {}) {
    const c = createClient(this.url, key, { ...clientOpts, ...extra });
    this.clients.push(c);
    return c;
  }

  /** Signs a demo (or any) user in with supabase-js; resolves
   * {client, session, user, claims} (claims: the access token's payload). */
  async signIn(email, password = DEMO_PASSWORD) {
    const client = this.client();
    const { data, error } = await client.auth.signInWithPassword({ email, password });
    if (error) throw new Error(`sign-in of ${email} failed: ${error.status} ${error.code} ${error.message}`);
    return { client, session: data.session, user: data.user, claims: decodeJwt(data.session.access_token) };
  }

  /** fetch() against the server with the anon key as apikey (and bearer
   * token if given); resolves {status, headers, text, json}. */
  async fetch(pathName, { method = 'GET', token, apikey = this.anonKey, headers = {}, body } = {}) {
    const h = { apikey, ...headers };
    if (token !== undefined && token !== null) h.authorization = `Bearer ${token}`;
    if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
      body = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.url + pathName, { method, headers: h, body });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** A JWT signed with the server's secret (role authenticated by default). */
  token(claims = {}, { expIn = 3600 } = {}) {
    return sign({ role: 'authenticated', aud: 'authenticated', iat: nowS(), exp: nowS() + expIn, ...claims }, this.secret);
  }

  /** Stops the server (clean exit asserted) and starts a new one with the
   * same port, secret, flags and environment on the same database (so the
   * same replication slot): clients of the old one can reconnect to the
   * same URL, and their keys and tokens stay valid. whileDown (optional,
   * async) runs between the two. */
  async restartServer({ whileDown } = {}) {
    const old = this.server;
    await old.stop();
    if (whileDown) await whileDown(); // e.g. commit changes no server is there to stream
    this.server = await new Server({ port: old.port, secret: old.secret, flags: old.flags, env: old.env }).start();
    return this.server;
  }

  /** Stops the server (exit 0 and no sanitizer report asserted, as the
   * harness does), then stops and removes the cluster. */
  async stop() {
    let err;
    for (const c of this.clients) {
      try { await c.removeAllChannels(); } catch { /* never connected */ }
    }
    try { await teardown(this.server); } catch (e) { err = e; }
    try { await this.db.stop(); } catch (e) { err = err ?? e; }
    if (err) throw err;
  }
}

/** A cluster (demo data unless demo: false), then the server on it. An
 * optional prepare(db) runs as the superuser before the server starts. */
export async function startStack({ demo = true, fast = true, prepare, serverEnv = {}, flags = [] } = {}) {
  const db = await TestDb.start({ demo, fast });
  let server;
  try {
    if (prepare) await prepare(db);
    server = await startServer({ env: { ...db.serverEnv, ...serverEnv }, flags });
  } catch (e) {
    await db.stop().catch(() => {});
    throw e;
  }
  return new Stack(db, server);
}

/** Sorted ids of rows, for set comparisons. */
export const ids = (rows) => (rows ?? []).map((r) => r.id).sort();
