// 30. Isolation over HTTP (issue 9): a slow client holds a descriptor for one
// deadline at most. A request's line and headers must arrive within
// --http-header-timeout-ms (from accept, or from its first byte on a
// keep-alive connection), its body within --http-body-timeout-ms after them
// (else 408 and close); an idle keep-alive connection is closed after
// --http-idle-timeout-ms. An upgraded socket's heartbeat timeout counts from
// its last complete frame, so a frame trickled in byte by byte does not keep
// it open. At the connection ceiling (the file limit minus a reserve) new
// connections still get /health, /metrics or a 503, never a reset or a hang.
// The broadcast API's `private` flag is a strict boolean.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

// The file-limit case must start the server under `ulimit -n`. harness.mjs
// spawns TC_SERVER_BIN itself, so this file points TC_SERVER_BIN at a small
// wrapper that applies `ulimit -n $TC_TEST_NOFILE` when that variable is in
// the server's environment, then execs the real binary (same pid, so
// SIGTERM and the exit-code check still reach the server). It has to be set
// before harness.mjs reads it: hence the dynamic import below. The timeout
// scale harness.mjs derives from the binary's path is carried over.
const HERE = path.dirname(fileURLToPath(import.meta.url));
const REAL_BIN = process.env.TC_SERVER_BIN
  ? path.resolve(process.env.TC_SERVER_BIN)
  : path.resolve(HERE, '..', '..', 'build', 'techcare-realtime');
if (!process.env.TC_TIMEOUT_SCALE) process.env.TC_TIMEOUT_SCALE = /asan|ubsan|tsan|sanitiz/i.test(REAL_BIN) ? '3' : '1';
const WRAP_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-nofile-'));
const WRAPPER = path.join(WRAP_DIR, 'server');
fs.writeFileSync(WRAPPER, [
  '#!/bin/sh',
  'if [ -n "$TC_TEST_NOFILE" ]; then ulimit -n "$TC_TEST_NOFILE" || exit 97; fi',
  'exec "$TC_TEST_REAL_BIN" "$@"',
  '',
].join('\n'), { mode: 0o755 });
process.env.TC_SERVER_BIN = WRAPPER;
process.env.TC_TEST_REAL_BIN = REAL_BIN;
process.on('exit', () => fs.rmSync(WRAP_DIR, { recursive: true, force: true }));

const {
  RawTcp, RawWs, T, encodeClientFrame, httpRequest, joined, listen, metrics, newClient, startServer, teardown,
  topicName, waitFor,
} = await import('./harness.mjs');

const HEADER_MS = 1500;
const BODY_MS = 1500;
const IDLE_MS = 1000;
const HEARTBEAT_MS = 500; // silent sockets close after 2 × this
const TICK_MS = 1000; // deadlines are checked by the worker's one-second tick

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** A raw TCP client that records what it receives and when. */
class Raw {
  constructor(sock) {
    this.sock = sock;
    this.chunks = [];
    this.closed = false;
    this.sent = 0;
    this.firstDataAt = 0;
    sock.on('data', (d) => { if (!this.firstDataAt) this.firstDataAt = Date.now(); this.chunks.push(d); });
    sock.on('close', () => { this.closed = true; this.closedAt = Date.now(); });
    sock.on('error', (e) => { this.error = e; });
    Raw.live.add(this);
  }

  static open(port, first = '') {
    const sock = net.connect(port, '127.0.0.1');
    const raw = new Raw(sock);
    return new Promise((resolve, reject) => {
      sock.once('connect', () => { raw.connectedAt = Date.now(); if (first) raw.write(first); resolve(raw); });
      sock.once('error', reject);
    });
  }

  write(s) { if (!this.closed && !this.sock.destroyed) { this.sock.write(s); this.sent += Buffer.byteLength(s); } }
  text() { return Buffer.concat(this.chunks).toString('latin1'); }
  status() { const m = /^HTTP\/1\.1 (\d{3}) /.exec(this.text()); return m ? Number(m[1]) : 0; }
  json() { const t = this.text(); return JSON.parse(t.slice(t.indexOf('\r\n\r\n') + 4)); }
  destroy() { this.sock.destroy(); Raw.live.delete(this); }
  static destroyAll() { for (const r of Raw.live) r.destroy(); }
}
Raw.live = new Set();

/** Writes one character of s to each client every `every` ms until stop(). */
function trickle(clients, s, every) {
  let i = 0;
  const t = setInterval(() => {
    if (i >= s.length) return;
    for (const c of clients) c.write(s[i]);
    i++;
  }, every);
  return { stop: () => clearInterval(t) };
}

describe('isolation over HTTP', () => {
  let server;
  before(async () => {
    server = await startServer({
      flags: [
        '--http-header-timeout-ms', String(HEADER_MS), '--http-body-timeout-ms', String(BODY_MS),
        '--http-idle-timeout-ms', String(IDLE_MS), '--heartbeat-interval-ms', String(HEARTBEAT_MS),
      ],
    });
  });
  after(async () => {
    Raw.destroyAll();
    await teardown(server);
  });

  test('slowloris: headers trickled a byte every 250 ms get 408 at the header deadline; a silent connection too; /health answers meanwhile', async () => {
    const before = (await metrics(server)).get('realtime_http_timeouts_total');
    const N = 20;
    const slow = await Promise.all(Array.from({ length: N }, () => Raw.open(server.port)));
    const silent = await Raw.open(server.port); // never sends a byte: the deadline counts from accept
    const started = Date.now();
    const head = `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`;
    const drip = trickle(slow, head, 250);
    let healthOk = 0;
    try {
      // /health keeps answering on fresh connections while the slow ones wait
      while (![...slow, silent].every((c) => c.status())) {
        const r = await httpRequest(server.port, '/health');
        assert.equal(r.status, 200);
        healthOk++;
        assert.ok(Date.now() - started < HEADER_MS + TICK_MS + T(3000), 'the slow requests were not answered in time');
        await pause(100);
      }
    } finally {
      drip.stop();
    }
    assert.ok(healthOk >= 5, `/health answered ${healthOk} times during the attack`);
    for (const c of [...slow, silent]) {
      assert.equal(c.status(), 408, c.text());
      assert.match(c.text(), /\r\nConnection: close\r\n/i);
      assert.match(c.json().error, /^Request Timeout: the request's line and headers did not arrive within 1500 ms$/);
      const at = c.firstDataAt - c.connectedAt;
      assert.ok(at >= HEADER_MS - 50, `408 after ${at} ms, before the ${HEADER_MS} ms deadline`);
      assert.ok(at < HEADER_MS + TICK_MS + T(1000), `408 only after ${at} ms`);
    }
    // bytes kept coming, and did not extend the deadline
    for (const c of slow) assert.ok(c.sent >= 4, `only ${c.sent} bytes were trickled`);
    await waitFor(() => [...slow, silent].every((c) => c.closed), { timeout: T(8000), message: 'the timed-out connections to close' });
    const m = await metrics(server);
    assert.ok(m.get('realtime_http_timeouts_total') - before >= N + 1, `timeouts counted: ${m.get('realtime_http_timeouts_total') - before}`);
    const warn = await server.waitForLog((l) => l.msg === 'http request timed out' && l.deadline === 'header');
    assert.equal(warn.level, 'warn');
    assert.match(warn.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(warn.limit_ms, HEADER_MS);
  });

  test('a body trickled after complete headers gets 408 at the body deadline, counted from the end of the headers', async () => {
    const c = await Raw.open(server.port);
    // headers sent slowly too, but within their deadline: the body deadline starts when they end
    const head = 'POST /realtime/v1/api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n';
    c.write(head.slice(0, 20));
    await pause(500);
    c.write(head.slice(20));
    const headersAt = Date.now();
    const drip = trickle([c], `{"messages":[${' '.repeat(200)}`, 200);
    try {
      await waitFor(() => c.status(), { timeout: BODY_MS + TICK_MS + T(3000), message: 'an answer to the slow body' });
    } finally {
      drip.stop();
    }
    assert.equal(c.status(), 408, c.text());
    assert.match(c.json().error, /^Request Timeout: the request's body did not arrive within 1500 ms$/);
    const at = c.firstDataAt - headersAt;
    assert.ok(at >= BODY_MS - 50, `408 after ${at} ms of body`);
    assert.ok(c.firstDataAt - c.connectedAt >= 500 + BODY_MS - 50, 'the body deadline counted from the end of the headers');
    assert.ok(c.sent > head.length + 3, 'body bytes kept coming');
    await waitFor(() => c.closed, { timeout: T(8000), message: 'the connection to close' });
    await server.waitForLog((l) => l.msg === 'http request timed out' && l.deadline === 'body');
  });

  test('an idle keep-alive connection is closed after the idle deadline, silently; until then it serves requests', async () => {
    const c = await Raw.open(server.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => c.text().includes('"status":"ok"'), { timeout: T(3000), message: 'the first answer' });
    assert.match(c.text(), /\r\nConnection: keep-alive\r\n/i);
    // idle for a while, then a second request on the same connection
    await pause(IDLE_MS / 2);
    c.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => c.text().split('HTTP/1.1 200').length === 3, { timeout: T(3000), message: 'the second answer' });
    const answeredAt = Date.now();
    await waitFor(() => c.closed, { timeout: IDLE_MS + TICK_MS + T(3000), message: 'the idle connection to close' });
    const idle = c.closedAt - answeredAt;
    assert.ok(idle >= IDLE_MS - 50, `closed after ${idle} ms idle`);
    assert.ok(!c.text().includes('408'), 'an idle connection has no request to answer');
    await server.waitForLog((l) => l.msg === 'idle http connection closed' && l.deadline === 'idle');
  });

  test('WebSocket: a frame trickled byte by byte is closed (1001) at the heartbeat timeout though bytes keep coming; clients that send frames stay', async () => {
    const client = newClient(server, { heartbeatIntervalMs: 100 });
    let closes = 0;
    client.socketAdapter.onClose(() => { closes++; });
    const ch = client.channel(topicName());
    await joined(ch);

    // a raw client that sends a ping frame every 200 ms: frames, not bytes, keep it
    const pinger = await RawTcp.open(server);
    const pings = setInterval(() => pinger.write(encodeClientFrame(9, Buffer.from('p'))), 200);

    const slow = await RawTcp.open(server);
    const openedAt = Date.now();
    // ~100 bytes at one every 100 ms: ~10 s to complete, far past the 1 s timeout
    const frame = encodeClientFrame(1, Buffer.from(JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(60) }])));
    let sent = 0;
    const drip = setInterval(() => { if (sent < frame.length) slow.write(frame.subarray(sent, ++sent)); }, 100);
    let close;
    try {
      close = await slow.frames.wait((f) => f.opcode === 8, { timeout: 2 * HEARTBEAT_MS + TICK_MS + T(3000), message: 'a close frame for the trickled frame' });
    } finally {
      clearInterval(drip);
    }
    const at = Date.now() - openedAt;
    assert.equal(close.code, 1001);
    assert.equal(close.reason, 'heartbeat timeout: incomplete frame');
    assert.ok(at >= 2 * HEARTBEAT_MS - 50, `closed after ${at} ms`);
    assert.ok(sent >= 5 && sent < frame.length, `${sent} of ${frame.length} bytes trickled before the close`);
    await server.waitForLog((l) => l.msg === 'idle client closed' && l.incomplete_frame === true);

    // the others lived through the same period
    clearInterval(pings);
    assert.equal(closes, 0, 'the heartbeating realtime-js client was closed');
    assert.equal(client.isConnected(), true);
    assert.equal(ch.state, 'joined');
    assert.ok(pinger.frames.count((f) => f.opcode === 10) >= 3, 'pongs for the pings');
    assert.equal(pinger.frames.count((f) => f.opcode === 8), 0, 'the pinging client was closed');
    pinger.destroy();
    slow.destroy();
  });

  test('broadcast API: private must be a boolean on both endpoints (400 naming it); true is refused as before; false is delivered', async () => {
    const topic = topicName();
    const sub = newClient(server);
    const inbox = listen(sub.channel(topic));
    await joined(sub.getChannels()[0]);
    const headers = { apikey: server.apikey, authorization: `Bearer ${server.token()}`, 'content-type': 'application/json' };
    const post = (p, body) => httpRequest(server.port, p, { method: 'POST', headers, body: JSON.stringify(body) });
    const batch = (extra) => post('/realtime/v1/api/broadcast', { messages: [{ topic, event: 'refused', payload: { a: 1 }, ...extra }] });

    for (const bad of ['true', 'false', 1, 0, null, {}, []]) {
      const r = await batch({ private: bad });
      assert.equal(r.status, 400, `private: ${JSON.stringify(bad)} → ${r.status}`);
      assert.equal(r.json.error, 'messages[0].private must be true or false');
    }
    // the index names the message at fault
    const second = await post('/realtime/v1/api/broadcast', {
      messages: [{ topic, event: 'refused', payload: {} }, { topic, event: 'refused', payload: {}, private: 'true' }],
    });
    assert.equal(second.status, 400);
    assert.equal(second.json.error, 'messages[1].private must be true or false');
    const priv = await batch({ private: true });
    assert.equal(priv.status, 400);
    assert.match(priv.json.error, /^private broadcasts are not available/);

    const one = (q) => post(`/realtime/v1/api/broadcast/${topic}/events/refused${q}`, { a: 1 });
    for (const q of ['?private=yes', '?private=TRUE', '?private=1', '?private=', '?private', `?private=${'t'.repeat(50)}`, '?x=1&private=%74rue%00']) {
      const r = await one(q);
      assert.equal(r.status, 400, `${q} → ${r.status}`);
      assert.equal(r.json.error, 'query parameter private must be true or false', q);
    }
    const privOne = await one('?private=true');
    assert.equal(privOne.status, 400);
    assert.match(privOne.json.error, /^private broadcasts are not available/);

    // false (or absent) is a public broadcast, delivered
    assert.equal((await batch({ private: false, event: 'public-batch' })).status, 202);
    assert.equal((await post(`/realtime/v1/api/broadcast/${topic}/events/public-one?private=false`, { b: 2 })).status, 202);
    assert.equal((await post(`/realtime/v1/api/broadcast/${topic}/events/public-plain`, { c: 3 })).status, 202);
    await inbox.wait((m) => m.event === 'public-plain');
    assert.deepEqual(inbox.items.map((m) => m.event), ['public-batch', 'public-one', 'public-plain'], 'nothing refused was delivered');
    assert.deepEqual(inbox.items[0].payload, { a: 1 });
  });

  test('GET /metrics exposes the timeout and file-limit counters', async () => {
    const m = await metrics(server);
    assert.ok(m.get('realtime_http_timeouts_total') >= 1);
    assert.ok(m.has('realtime_limit_open_files_total'));
    assert.equal(m.get('realtime_limit_open_files_total'), 0, 'no refusal below the ceiling');
  });
});

describe('file descriptor ceiling (ulimit -n 200)', () => {
  const NOFILE = 200;
  let server;
  before(async () => {
    server = await startServer({
      // long header deadline: the held connections must outlive the test
      flags: ['--max-connections-per-ip', '0', '--http-header-timeout-ms', String(T(60000))],
      env: { TC_TEST_NOFILE: String(NOFILE) },
    });
  });
  after(async () => {
    Raw.destroyAll();
    await teardown(server);
  });

  test('at the ceiling: /health 200 throughout, other requests and upgrades 503 (not a reset), service resumes when the holders leave', async () => {
    const limitLog = await server.waitForLog((l) => l.msg === 'file descriptor limit');
    assert.equal(limitLog.soft, NOFILE);
    const ceilingLog = await server.waitForLog((l) => l.msg === 'connection ceiling');
    assert.ok(ceilingLog.ceiling > 50 && ceilingLog.ceiling < NOFILE - 24, `ceiling ${ceilingLog.ceiling}`);

    // Hold connections with unfinished requests until requests are refused.
    // A refusal can come a little early: the probes' own connections count
    // until the server sees them closed. So a refusal counts once three
    // probes 50 ms apart agree; a 404 among them means "not full yet".
    const holders = [];
    let refused = null;
    let healthChecks = 0;
    const probe = async () => {
      const r = await httpRequest(server.port, '/not-here');
      assert.ok(r.status === 503 || r.status === 404, `probe after ${holders.length} holders: ${r.status}`);
      const h = await httpRequest(server.port, '/health');
      assert.equal(h.status, 200, `/health with ${holders.length} holders`);
      healthChecks++;
      return r;
    };
    while (holders.length < NOFILE && !refused) {
      holders.push(await Raw.open(server.port, 'GET /held HTTP/1.1\r\nHost: x\r\n'));
      let r = await probe();
      for (let k = 0; k < 3 && r.status === 503; k++) {
        await pause(50);
        r = await probe();
      }
      if (r.status === 503) refused = r;
    }
    assert.ok(refused, `no refusal with ${holders.length} connections held`);
    assert.ok(holders.length >= ceilingLog.ceiling && holders.length <= ceilingLog.ceiling + 8,
      `refusals began at ${holders.length} held connections, ceiling ${ceilingLog.ceiling}`);
    assert.equal(refused.headers.connection, 'close');
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(refused.json.error, /^Service Unavailable: the server is at its connection limit/);

    // still at the ceiling: every kind of request is answered, none reset
    for (let k = 0; k < 3; k++) {
      assert.equal((await httpRequest(server.port, '/not-here')).status, 503);
      assert.equal((await httpRequest(server.port, '/realtime/v1/api/broadcast', { method: 'POST', body: '{}' })).status, 503);
      assert.equal((await httpRequest(server.port, '/health')).status, 200);
    }
    await assert.rejects(RawWs.open(server), (e) => e.status === 503);
    const m = await metrics(server);
    assert.ok(m.get('realtime_limit_open_files_total') >= 7, `refusals counted: ${m.get('realtime_limit_open_files_total')}`);
    const warn = await server.waitForLog((l) => /^at the connection ceiling/.test(l.msg));
    assert.equal(warn.level, 'warn');
    assert.equal(warn.fd_limit, NOFILE);

    // more connections above the ceiling that send nothing: each sheds the
    // oldest such connection, so they cannot crowd /health out
    const floods = await Promise.all(Array.from({ length: 40 }, () => Raw.open(server.port)));
    for (let k = 0; k < 3; k++) assert.equal((await httpRequest(server.port, '/health')).status, 200);
    await waitFor(() => floods.filter((f) => f.closed).length >= 40 - 2 * 8, { timeout: T(5000), message: 'the flood to be shed' });
    assert.equal((await httpRequest(server.port, '/health')).status, 200);

    // the holders leave: normal service again
    for (const h of [...holders, ...floods]) h.destroy();
    await waitFor(async () => (await httpRequest(server.port, '/not-here')).status === 404, { timeout: T(5000), message: 'normal answers again' });
    const raw = await RawWs.open(server);
    assert.equal((await raw.join(`realtime:${topicName()}`)).payload.status, 'ok');
    await raw.close();
    assert.ok(healthChecks >= holders.length);
  });
});
