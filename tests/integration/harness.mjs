// Integration-test harness for TechCare Realtime.
//
// Starts the real server binary (TC_SERVER_BIN, default build/techcare-realtime)
// on a free port with a random secret, waits for GET /health, captures its
// stderr, and stops it with SIGTERM asserting a clean exit 0 (under ASan a
// leak or any sanitizer report makes that fail). Clients are the real
// @supabase/realtime-js RealtimeClient over the `ws` package, plus raw `ws`
// and raw TCP clients for wire-level and malformed-input checks.
//
// Rule of the suite: never sleep and hope. Every wait is on an event or a
// polled predicate, with a timeout that fails with a message saying what
// was awaited.
//
// This file is not a test file: `node --test tests/integration/` only runs
// *.test.mjs.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { RealtimeClient } from '@supabase/realtime-js';
import WebSocket from 'ws';

export { RealtimeClient, WebSocket };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const SERVER_BIN = process.env.TC_SERVER_BIN
  ? path.resolve(process.env.TC_SERVER_BIN)
  : path.join(REPO, 'build', 'techcare-realtime');
export const VSNS = ['1.0.0', '2.0.0'];

// Sanitized builds are several times slower; scale every timeout with this.
export const SLOW = Number(process.env.TC_TIMEOUT_SCALE || (/asan|ubsan|tsan|sanitiz/i.test(SERVER_BIN) ? 3 : 1));
export const T = (ms) => Math.round(ms * SLOW);

// ---- timers -------------------------------------------------------------
//
// realtime-js leaves timers behind that outlive a test: the 10 s guard in
// its disconnect(), push timeouts for messages the server legitimately never
// answers (access_token), the deferred disconnect of an empty client. A
// node --test file process only exits once its event loop is empty, so each
// of those would add up to 10 s per file. We record every timer created
// through the global setTimeout and, once a file's clients are all closed,
// unref the ones still pending so they can no longer hold the process.
const pendingTimers = new Set();
const origSetTimeout = globalThis.setTimeout;
const origClearTimeout = globalThis.clearTimeout;
globalThis.setTimeout = function trackedSetTimeout(fn, ms, ...args) {
  let t;
  const wrapped = typeof fn === 'function'
    ? function (...a) { pendingTimers.delete(t); return fn.apply(this, a); }
    : fn;
  t = origSetTimeout(wrapped, ms, ...args);
  pendingTimers.add(t);
  return t;
};
globalThis.clearTimeout = function trackedClearTimeout(t) {
  pendingTimers.delete(t);
  return origClearTimeout(t);
};
function unrefStrayTimers() {
  for (const t of pendingTimers) if (t && typeof t.unref === 'function') t.unref();
  pendingTimers.clear();
}

// ---- small async helpers -------------------------------------------------

/** Polls pred every `interval` ms until it returns a truthy value (which is
 * returned), rejecting with `message` after `timeout` ms. */
export async function waitFor(pred, { timeout = 5000, interval = 10, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeout} ms waiting for ${message}`);
    await new Promise((r) => origSetTimeout(r, interval));
  }
}

/** Rejects with `message` if p does not settle within ms. */
export function withTimeout(p, ms, message = 'operation') {
  let timer;
  const to = new Promise((_, reject) => {
    timer = origSetTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${message}`)), ms);
  });
  return Promise.race([p, to]).finally(() => origClearTimeout(timer));
}

/** Resolves with the first `event` emitted by emitter for which pred is true. */
export function once(emitter, event, { pred = () => true, timeout = 5000, message } = {}) {
  return withTimeout(
    new Promise((resolve) => {
      const h = (...a) => {
        if (!pred(...a)) return;
        emitter.off(event, h);
        resolve(a.length > 1 ? a : a[0]);
      };
      emitter.on(event, h);
    }),
    timeout,
    message || `event ${event}`,
  );
}

/** A list of received items that can be awaited: wait(pred) resolves with
 * the first item so far or later that matches. */
export class Inbox {
  constructor(label = 'message') {
    this.items = [];
    this.label = label;
    this.ev = new EventEmitter();
    this.ev.setMaxListeners(0);
  }
  push(x) {
    this.items.push(x);
    this.ev.emit('item', x);
  }
  count(pred = () => true) {
    return this.items.filter(pred).length;
  }
  wait(pred = () => true, { timeout = T(5000), message } = {}) {
    const hit = this.items.find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    return once(this.ev, 'item', { pred, timeout, message: message || this.label });
  }
  /** Resolves once `n` matching items have arrived. */
  waitCount(n, pred = () => true, { timeout = T(5000), message } = {}) {
    return waitFor(() => this.count(pred) >= n, {
      timeout,
      message: message || `${n} × ${this.label} (have ${this.count(pred)})`,
    });
  }
}

// ---- JWT ---------------------------------------------------------------

export const b64url = (buf) => Buffer.from(buf).toString('base64url');
export const nowS = () => Math.floor(Date.now() / 1000);

/** HS256 JWT over claims (object) with secret. header may be overridden. */
export function sign(claims, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const mac = crypto.createHmac('sha256', secret).update(input).digest();
  return `${input}.${b64url(mac)}`;
}

// ---- the server ----------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** GET/POST helper on node:http (a fresh connection each time). */
export function httpRequest(port, pathName, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: pathName, method, headers: { connection: 'close', ...headers }, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          const text = buf.toString('utf8');
          let json;
          try { json = JSON.parse(text); } catch { json = undefined; }
          resolve({ status: res.statusCode, headers: res.headers, body: buf, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Writes every request ({method, path, headers}) on one kept-alive
 * connection (the last one asks to close it), reads until the server
 * closes, and splits the bytes into responses the way a client must: a
 * HEAD's answer and a 204 or 304 have no body, every other one
 * Content-Length bytes. Returns {responses: [{status, headers, body}],
 * rest}: rest holds bytes that belong to no response (none, if the server
 * framed its answers right). */
export async function httpPipeline(port, requests, { timeout = T(5000) } = {}) {
  let bytes = await rawExchange(port, requests.map((r, i) => {
    const h = { host: `127.0.0.1:${port}`, ...r.headers, connection: i === requests.length - 1 ? 'close' : 'keep-alive' };
    return `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  }).join(''), { timeout, what: 'the pipelined answers' });
  const responses = [];
  for (const r of requests) {
    const head = parseResponseHead(bytes);
    if (!head) break;
    const bodyless = r.method === 'HEAD' || head.status === 204 || head.status === 304;
    const len = bodyless ? 0 : Number(head.headers['content-length'] ?? 0);
    responses.push({ ...head, body: bytes.subarray(head.headLen, head.headLen + len) });
    bytes = bytes.subarray(head.headLen + len);
  }
  return { responses, rest: bytes };
}

/** Writes text verbatim on a fresh connection and resolves with every
 * byte read until the server closes it. */
export async function rawExchange(port, text, { timeout = T(5000), what = 'the answer' } = {}) {
  const sock = net.connect(port, '127.0.0.1');
  const chunks = [];
  const done = new Promise((resolve, reject) => {
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', resolve);
    sock.on('error', reject);
  });
  sock.write(text);
  try { await withTimeout(done, timeout, what); } finally { sock.destroy(); }
  return Buffer.concat(chunks);
}

/** The response head at the start of bytes: {status, statusLine, headers
 * (names lower-cased), headLen}, or null when there is none. */
export function parseResponseHead(bytes) {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = bytes.subarray(0, end).toString().split('\r\n');
  const headers = {};
  for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(statusLine.split(' ')[1]), statusLine, headers, headLen: end + 4 };
}

const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)|runtime error:|SUMMARY: \w+Sanitizer/;

export class Server {
  constructor({ port, secret, flags, env }) {
    this.port = port;
    this.secret = secret;
    this.flags = flags;
    this.env = env;
    this.stderrLines = [];
    this.ev = new EventEmitter();
    this.ev.setMaxListeners(0);
    this.exit = null; // {code, signal} once exited
  }

  get wsEndpoint() { return `ws://127.0.0.1:${this.port}/realtime/v1`; }
  get httpBase() { return `http://127.0.0.1:${this.port}`; }

  /** A JWT signed with the server's secret; expIn seconds from now. */
  token({ expIn = 3600, role = 'authenticated', sub = 'user-1', ...extra } = {}) {
    return sign({ role, sub, exp: nowS() + expIn, ...extra }, this.secret);
  }

  get apikey() {
    if (!this._apikey) this._apikey = sign({ role: 'anon', iss: 'techcare-test', exp: nowS() + 3 * 3600 }, this.secret);
    return this._apikey;
  }

  logs() { return this.stderrLines.map((l) => { try { return JSON.parse(l); } catch { return { raw: l }; } }); }

  /** Resolves with the first parsed stderr JSON line (past or future) matching pred. */
  waitForLog(pred, { timeout = T(5000), message = 'server log line' } = {}) {
    const hit = this.logs().find(pred);
    if (hit) return Promise.resolve(hit);
    return once(this.ev, 'line', {
      pred: (l) => { try { return pred(JSON.parse(l)); } catch { return false; } },
      timeout,
      message,
    }).then((l) => JSON.parse(l));
  }

  stderrTail(n = 40) { return this.stderrLines.slice(-n).join('\n'); }

  async start(readyTimeout = T(10000)) {
    const args = ['--host', '127.0.0.1', '--port', String(this.port), ...this.flags];
    this.proc = spawn(SERVER_BIN, args, {
      env: { ...process.env, API_JWT_SECRET: this.secret, ...this.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    let partial = '';
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => {
      partial += d;
      let i;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        this.stderrLines.push(line);
        this.ev.emit('line', line);
      }
    });
    this.proc.stderr.on('end', () => { if (partial) { this.stderrLines.push(partial); this.ev.emit('line', partial); } });
    const spawnError = new Promise((_, reject) => this.proc.on('error', reject));
    await Promise.race([
      spawnError,
      this.exited.then((e) => { throw new Error(`server exited during start-up (${JSON.stringify(e)}):\n${this.stderrTail()}`); }),
      waitFor(async () => {
        try {
          const r = await httpRequest(this.port, '/health');
          return r.status === 200;
        } catch {
          return false;
        }
      }, { timeout: readyTimeout, interval: 20, message: `GET /health on port ${this.port}` }),
    ]);
    return this;
  }

  /** SIGTERM, then asserts exit code 0 within the timeout and no sanitizer
   * report on stderr. Returns {code, signal}. */
  async stop({ timeout = T(10000) } = {}) {
    if (!this.proc) return null;
    if (!this.exit) this.proc.kill('SIGTERM');
    let e;
    try {
      e = await withTimeout(this.exited, timeout, `server (pid ${this.proc.pid}) to exit after SIGTERM`);
    } catch (err) {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`${err.message}\n--- server stderr ---\n${this.stderrTail()}`);
    }
    // Let the stderr pipe drain so a late sanitizer summary is seen.
    await withTimeout(new Promise((r) => (this.proc.stderr.readableEnded ? r() : this.proc.stderr.on('end', r))), 2000, 'stderr EOF').catch(() => {});
    const report = this.stderrLines.find((l) => SANITIZER_RE.test(l));
    if (e.code !== 0 || e.signal !== null || report) {
      throw new Error(`server did not exit cleanly: ${JSON.stringify(e)}${report ? ` (sanitizer: ${report})` : ''}\n--- server stderr ---\n${this.stderrTail(80)}`);
    }
    return e;
  }
}

/** Starts a server; flags are extra command-line flags. */
export async function startServer({ flags = [], env = {}, port, secret } = {}) {
  const s = new Server({
    port: port ?? (await freePort()),
    secret: secret ?? crypto.randomBytes(30).toString('base64url'), // 40 chars
    flags: ['--workers', '2', '--drain-timeout-ms', '3000', ...flags],
    env,
  });
  return s.start();
}

/** Prometheus text → Map(name → number). */
export async function metrics(server) {
  const r = await httpRequest(server.port, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const m = new Map();
  for (const line of r.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [name, value] = line.split(/\s+/);
    m.set(name, Number(value));
  }
  return m;
}

// ---- realtime-js clients -------------------------------------------------

const liveClients = new Set();
const liveRaw = new Set();

/** A RealtimeClient for server, tracked for cleanup. `token` (optional) is
 * set with setAuth before anything joins, so joins carry it. */
export function newClient(server, { vsn = '2.0.0', apikey, token, ...opts } = {}) {
  const logs = [];
  const client = new RealtimeClient(server.wsEndpoint, {
    transport: WebSocket,
    vsn,
    params: { apikey: apikey ?? server.apikey },
    timeout: T(5000),
    reconnectAfterMs: () => 100,
    logger: (kind, msg, data) => logs.push({ kind, msg, data }),
    ...opts,
  });
  client.testLogs = logs;
  if (token) client.setAuth(token);
  liveClients.add(client);
  return client;
}

/** Subscribes channel and resolves with {status, err} at the first status
 * in `until` (default: the terminal ones). The full history is kept on
 * channel.statusLog. */
export function subscribe(channel, { until = ['SUBSCRIBED', 'CHANNEL_ERROR', 'TIMED_OUT', 'CLOSED'], timeout = T(5000) } = {}) {
  channel.statusLog = channel.statusLog || [];
  channel.statusEv = channel.statusEv || new EventEmitter();
  const p = once(channel.statusEv, 'status', {
    pred: (s) => until.includes(s.status),
    timeout,
    message: `channel ${channel.topic} to reach ${until.join('|')}`,
  });
  channel.subscribe((status, err) => {
    const s = { status, err };
    channel.statusLog.push(s);
    channel.statusEv.emit('status', s);
  });
  return p;
}

/** Subscribes and asserts SUBSCRIBED. */
export async function joined(channel, opts) {
  const s = await subscribe(channel, opts);
  if (s.status !== 'SUBSCRIBED') throw new Error(`expected SUBSCRIBED on ${channel.topic}, got ${s.status}: ${s.err?.message}`);
  return channel;
}

/** Resolves when the channel reports `status` again (n-th time overall). */
export function waitStatus(channel, status, { nth = 1, timeout = T(5000) } = {}) {
  return waitFor(() => (channel.statusLog || []).filter((s) => s.status === status).length >= nth, {
    timeout,
    message: `${channel.topic} status ${status} #${nth}`,
  });
}

/** Collects every `type` event (broadcast, system, presence...) of a
 * channel. Register before subscribe. */
export function listen(channel, type = 'broadcast', filter = { event: '*' }) {
  const box = new Inbox(`${type} on ${channel.topic}`);
  channel.on(type, filter, (m) => box.push(m));
  return box;
}

/** Closes the socket of a client through client.disconnect(). */
export async function disconnectClient(client) {
  for (const ch of client.getChannels()) ch.teardown();
  await withTimeout(client.disconnect(), T(5000), 'client.disconnect()').catch(() => {});
}

// ---- raw WebSocket clients (wire-level) ----------------------------------

/** Decodes one server frame into {join_ref, ref, topic, event, payload}. */
export function decodeFrame(vsn, data, isBinary) {
  if (isBinary) {
    const b = Buffer.from(data);
    if (b[0] !== 4) return { binaryKind: b[0], raw: b };
    const [tl, el, ml, enc] = [b[1], b[2], b[3], b[4]];
    let o = 5;
    const topic = b.subarray(o, o + tl).toString(); o += tl;
    const event = b.subarray(o, o + el).toString(); o += el;
    const meta = b.subarray(o, o + ml).toString(); o += ml;
    const body = b.subarray(o);
    const payload = { type: 'broadcast', event, payload: enc === 1 ? JSON.parse(body.toString()) : body };
    if (ml) payload.meta = JSON.parse(meta);
    return { join_ref: null, ref: null, topic, event: 'broadcast', payload, binary: true, encoding: enc };
  }
  const v = JSON.parse(data.toString());
  if (vsn === '2.0.0') {
    if (!Array.isArray(v) || v.length !== 5) throw new Error(`vsn 2 frame is not a 5-array: ${data}`);
    const [join_ref, ref, topic, event, payload] = v;
    return { join_ref, ref, topic, event, payload };
  }
  return v;
}

/** Encodes a client message as a vsn 1 object or vsn 2 array text frame. */
export function encodeText(vsn, { join_ref = null, ref = null, topic, event, payload = {} }) {
  return vsn === '2.0.0'
    ? JSON.stringify([join_ref, ref, topic, event, payload])
    : JSON.stringify({ join_ref, ref, topic, event, payload });
}

/** vsn 2 binary kind 3 (user broadcast push). */
export function encodeUserBroadcastPush({ join_ref = '', ref = '', topic, event, meta = '', encoding = 1, payload }) {
  const s = (x) => Buffer.from(x, 'utf8');
  const jr = s(join_ref), rf = s(ref), tp = s(topic), ev = s(event), mt = s(meta);
  const body = Buffer.isBuffer(payload) ? payload : s(JSON.stringify(payload));
  return Buffer.concat([Buffer.from([3, jr.length, rf.length, tp.length, ev.length, mt.length, encoding]), jr, rf, tp, ev, mt, body]);
}

export class RawWs {
  constructor(ws, vsn) {
    this.ws = ws;
    this.vsn = vsn;
    this.frames = new Inbox('raw frame');
    this.refN = 0;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        liveRaw.delete(this);
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => {
      let f;
      try { f = decodeFrame(vsn, data, isBinary); } catch (e) { f = { undecodable: String(data), error: e.message }; }
      this.frames.push(f);
    });
    ws.on('error', () => {}); // the close event says what happened
    liveRaw.add(this);
  }

  /** Opens a socket; resolves when open, rejects with {status, body} on a
   * refused upgrade. */
  static open(server, { vsn = '2.0.0', apikey = server.apikey, query, urlPath = '/realtime/v1/websocket', localAddress } = {}) {
    const q = query ?? `${apikey === null ? '' : `apikey=${encodeURIComponent(apikey)}&`}vsn=${vsn}`;
    // localAddress: another loopback address (127.0.0.2, ...) is another
    // client address to the server's per-address limits and budgets.
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}${urlPath}?${q}`, localAddress ? { localAddress } : undefined);
    return withTimeout(new Promise((resolve, reject) => {
      const raw = new RawWs(ws, vsn);
      ws.on('open', () => resolve(raw));
      ws.on('unexpected-response', (req, res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          const err = new Error(`upgrade refused with ${res.statusCode}: ${body}`);
          err.status = res.statusCode;
          err.body = body;
          ws.terminate();
          reject(err);
        });
      });
      ws.on('error', (e) => reject(e));
    }), T(5000), 'raw WebSocket open');
  }

  nextRef() { return String(++this.refN); }

  send(msg) { this.ws.send(encodeText(this.vsn, msg)); }
  sendRaw(data, { binary = false } = {}) { this.ws.send(data, { binary }); }

  /** Sends a message with a fresh ref and resolves with its phx_reply. */
  async request(msg, { timeout = T(5000) } = {}) {
    const ref = msg.ref ?? this.nextRef();
    this.send({ ...msg, ref });
    return this.frames.wait((f) => f.event === 'phx_reply' && f.ref === ref, { timeout, message: `phx_reply to ref ${ref} (${msg.event})` });
  }

  /** Joins topic (full wire topic), join_ref = ref as realtime-js does. */
  join(topic, { config = {}, access_token, join_ref } = {}) {
    const ref = join_ref ?? this.nextRef();
    const payload = { config: { broadcast: { ack: false, self: false }, presence: { key: '', enabled: false }, postgres_changes: [], private: false, ...config } };
    if (access_token) payload.access_token = access_token;
    return this.request({ join_ref: ref, ref, topic, event: 'phx_join', payload });
  }

  close() {
    if (this.closeInfo) return this.closed;
    try { this.ws.close(1000); } catch { /* already failed */ }
    return withTimeout(this.closed, T(3000), 'raw ws close').catch(() => { this.ws.terminate(); });
  }
}

// ---- raw TCP client (frames the `ws` package refuses to write) -----------

/** Encodes one client frame; mask=false writes a forbidden unmasked frame. */
export function encodeClientFrame(opcode, payload, { mask = true, fin = true } = {}) {
  const data = Buffer.from(payload);
  const len = data.length;
  const head = [];
  head.push((fin ? 0x80 : 0) | opcode);
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 255);
  else {
    head.push(m | 127);
    const l = Buffer.alloc(8);
    l.writeBigUInt64BE(BigInt(len));
    head.push(...l);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, out]);
}

export class RawTcp {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = new Inbox('tcp frame');
    this.bytesIn = 0;
    this.ended = new Promise((resolve) => sock.on('close', resolve));
    sock.on('error', () => {});
  }

  /** Connects and completes the WebSocket handshake. */
  static async open(server, { vsn = '2.0.0', apikey = server.apikey } = {}) {
    const sock = net.connect(server.port, '127.0.0.1');
    await withTimeout(new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); }), T(5000), 'tcp connect');
    const key = crypto.randomBytes(16).toString('base64');
    sock.write(
      `GET /realtime/v1/websocket?apikey=${encodeURIComponent(apikey)}&vsn=${vsn} HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const c = new RawTcp(sock);
    let head = Buffer.alloc(0);
    await withTimeout(new Promise((resolve, reject) => {
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const i = head.indexOf('\r\n\r\n');
        if (i < 0) return;
        sock.off('data', onData);
        const status = head.subarray(0, i).toString().split('\r\n')[0];
        if (!/^HTTP\/1\.1 101 /.test(status)) return reject(new Error(`handshake refused: ${status}`));
        const expect = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        if (!head.subarray(0, i).toString().includes(`Sec-WebSocket-Accept: ${expect}`)) return reject(new Error('bad Sec-WebSocket-Accept'));
        c.attach(head.subarray(i + 4));
        resolve();
      };
      sock.on('data', onData);
    }), T(5000), 'websocket handshake');
    c.vsn = vsn;
    return c;
  }

  attach(rest) {
    this.sock.on('data', (d) => this.feed(d));
    if (rest.length) this.feed(rest);
  }

  feed(d) {
    this.bytesIn += d.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const op = b[0] & 0x0f;
      let len = b[1] & 0x7f;
      let o = 2;
      if (b[1] & 0x80) throw new Error('server frames must not be masked');
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); o = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); o = 10; }
      if (b.length < o + len) return;
      const payload = b.subarray(o, o + len);
      this.buf = b.subarray(o + len);
      const f = { opcode: op, payload };
      if (op === 8) { f.code = len >= 2 ? payload.readUInt16BE(0) : 1005; f.reason = payload.subarray(2).toString(); }
      this.frames.push(f);
    }
  }

  write(buf) { this.sock.write(buf); }
  sendText(text, opts) { this.write(encodeClientFrame(1, Buffer.from(text), opts)); }
  sendBinary(buf, opts) { this.write(encodeClientFrame(2, buf, opts)); }
  destroy() { this.sock.destroy(); }
}

// ---- cleanup --------------------------------------------------------------

/** Closes every client this process made, then frees stray timers. Call
 * from each file's after hook before stopping the server. */
export async function closeAllClients() {
  await Promise.all([...liveClients].map((c) => disconnectClient(c)));
  liveClients.clear();
  await Promise.all([...liveRaw].map((r) => r.close()));
  liveRaw.clear();
  unrefStrayTimers();
}

/** Standard after-hook body: clients, then each server with an asserted exit 0. */
export async function teardown(...servers) {
  await closeAllClients();
  const errors = [];
  for (const s of servers) {
    if (!s) continue;
    try { await s.stop(); } catch (e) { errors.push(e); }
  }
  unrefStrayTimers();
  if (errors.length) throw errors[0];
}

let uniq = 0;
/** A topic name unique within this process. */
export const topicName = (prefix = 'room') => `${prefix}-${process.pid}-${++uniq}`;
