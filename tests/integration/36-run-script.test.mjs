// scripts/run.sh and the server's signals, as a new user meets them:
//   - a terminal's Ctrl-C reaches the script and the server at once (one
//     process group), and the script passes it on as SIGTERM: the server
//     must still drain (clients get 1001, "stopped" is logged, exit 0);
//   - with the port taken, run.sh must not print its banner and exit 0, but
//     exit non-zero with the server's reason;
//   - switches accept on/off, true/false, yes/no, 1/0, as flags and as
//     environment variables.
// run.sh always runs build/techcare-realtime, so its part is skipped for the
// sanitizer pass (the switches and signals are checked on that binary).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { REPO, SERVER_BIN, T, WebSocket, freePort, startServer, waitFor } from './harness.mjs';

const RUN_SH = path.join(REPO, 'scripts', 'run.sh');
const NORMAL_BUILD = path.resolve(SERVER_BIN) === path.join(REPO, 'build', 'techcare-realtime');
const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'techcare-run-'));
fs.chmodSync(dbDir, 0o755);
after(() => {
  spawnSync(path.join(REPO, 'scripts', 'db.sh'), ['stop', '--dir', path.join(dbDir, 'pg')]);
  fs.rmSync(dbDir, { recursive: true, force: true });
});

/** Spawns run.sh in its own process group (as a terminal runs a job). */
function runScript(env) {
  const p = spawn(RUN_SH, [], {
    cwd: REPO,
    detached: true,
    env: { ...process.env, API_JWT_SECRET: crypto.randomBytes(24).toString('hex'), TC_DB_DIR: path.join(dbDir, 'pg'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { text: '' };
  p.stdout.on('data', (d) => { out.text += d; });
  p.stderr.on('data', (d) => { out.text += d; });
  const exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  return { p, out, exited };
}

async function pgPort() {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + crypto.randomInt(10000);
    const busy = await new Promise((resolve) => {
      const s = net.createServer().once('error', () => resolve(true)).listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
    if (!busy) return port;
  }
  throw new Error('no free port');
}

describe('scripts/run.sh', { skip: !NORMAL_BUILD && 'run.sh runs the normal build only' }, () => {
  let dbPort; // one cluster for both runs: run.sh keeps it between starts

  test('with its port taken it exits non-zero with the server\'s reason, and prints no banner', { timeout: T(240000) }, async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '0.0.0.0', r));
    const port = blocker.address().port;
    try {
      dbPort ??= await pgPort();
      const run = runScript({ PORT: String(port), DB_PORT: String(dbPort) });
      const e = await run.exited;
      assert.notEqual(e.code, 0, run.out.text.slice(-2000));
      assert.match(run.out.text, /bind|address already in use/i, 'the server\'s reason is shown');
      assert.match(run.out.text, /did not start/);
      assert.doesNotMatch(run.out.text, /Demo sign-ins/, 'no banner for a server that is not there');
    } finally {
      blocker.close();
    }
  });

  test('Ctrl-C (SIGINT to the whole process group) drains: clients get 1001, "stopped", exit 0', { timeout: T(240000) }, async () => {
    const port = await freePort();
    dbPort ??= await pgPort();
    const run = runScript({ PORT: String(port), DB_PORT: String(dbPort) });
    await waitFor(() => /Demo sign-ins/.test(run.out.text) || run.p.exitCode !== null,
      { timeout: T(200000), interval: 100, message: 'run.sh banner' });
    assert.match(run.out.text, /Demo sign-ins/, run.out.text.slice(-2000));
    const anon = /ANON_KEY=(\S+)/.exec(run.out.text)[1];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/realtime/v1/websocket?apikey=${anon}&vsn=1.0.0`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    process.kill(-run.p.pid, 'SIGINT'); // what a terminal does
    assert.equal(await closed, 1001);
    const e = await run.exited;
    assert.equal(e.code, 0, run.out.text.slice(-2000));
    assert.match(run.out.text, /"msg":"stopped"/);
  });
});

describe('the server', () => {
  test('a second signal during the drain does not kill it', async () => {
    const server = await startServer({ flags: ['--drain-timeout-ms', '2000'] });
    const ws = new WebSocket(`${server.wsEndpoint}/websocket?apikey=${server.apikey}&vsn=1.0.0`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    server.proc.kill('SIGINT');
    await server.waitForLog((l) => l.msg === 'shutting down');
    server.proc.kill('SIGTERM');
    assert.equal(await closed, 1001);
    const e = await server.stop(); // asserts exit 0 and no sanitizer report
    assert.equal(e.code, 0);
    assert.ok(server.logs().some((l) => l.msg === 'stopped'));
  });

  for (const [v, want] of [['on', 0], ['off', 0], ['true', 0], ['FALSE', 0], ['yes', 0], ['no', 0], ['1', 0], ['0', 0], ['maybe', 2]]) {
    test(`POSTGRES_CHANGES=${v} and --postgres-changes ${v} are ${want ? 'refused with a reason' : 'accepted'}`, () => {
      const a = spawnSync(SERVER_BIN, ['--help'], { env: { ...process.env, POSTGRES_CHANGES: v } });
      // "--flag value" takes the next word only when it is a switch value;
      // a wrong one is refused in the "--flag=value" form.
      const b = want
        ? spawnSync(SERVER_BIN, [`--postgres-changes=${v}`, '--help'], { env: process.env })
        : spawnSync(SERVER_BIN, ['--postgres-changes', v, '--debug-protocol', v, '--help'], { env: process.env });
      for (const r of [a, b]) {
        assert.equal(r.status, want, r.stderr.toString());
        if (want) assert.match(r.stderr.toString(), /is not a switch \(on\/off/);
      }
    });
  }

  test('a switch alone as a flag means on, and the next option is still read', () => {
    const r = spawnSync(SERVER_BIN, ['--debug-protocol', '--port', '1', '--help'], { env: process.env });
    assert.equal(r.status, 0, r.stderr.toString());
  });
});
