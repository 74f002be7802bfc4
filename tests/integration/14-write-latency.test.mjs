// Frames the server queues outside a read must still be written promptly.
// One worker, so every connection shares one loop and nothing else wakes it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { RawWs, nowS, startServer, teardown, topicName } from './harness.mjs';

// A healthy loop writes within a few ms; a frame left for the next
// one-second tick would take ~1000 ms (a bug once: see git history). Deliberately not scaled for sanitizer builds.
const PROMPT_MS = 400;


describe('write latency of frames queued outside the read path', () => {
  let server, quiet;
  before(async () => {
    server = await startServer({ flags: ['--workers', '1', '--heartbeat-interval-ms', '300'] }); // idle closes
    quiet = await startServer({ flags: ['--workers', '1'] }); // default 25 s heartbeat: nothing but the test wakes it
  });
  after(() => teardown(server, quiet));

  /** Two raw clients on one topic, both tracked in presence. */
  async function presencePair() {
    const wire = `realtime:${topicName()}`;
    const watcher = await RawWs.open(quiet);
    const wr = (await watcher.join(wire, { config: { presence: { key: 'watcher', enabled: true } } })).ref;
    const leaver = await RawWs.open(quiet);
    const lr = (await leaver.join(wire, { config: { presence: { key: 'leaver', enabled: true } } })).ref;
    for (const [c, jr] of [[watcher, wr], [leaver, lr]]) {
      const r = await c.request({ join_ref: jr, topic: wire, event: 'presence', payload: { type: 'presence', event: 'track', payload: { on: 1 } } });
      assert.equal(r.payload.status, 'ok');
    }
    await watcher.frames.wait((f) => f.event === 'presence_diff' && f.payload.joins.leaver);
    return { watcher, leaver };
  }

  test('a presence leave caused by a TCP reset reaches the others at once (control)', async () => {
    const { watcher, leaver } = await presencePair();
    const t0 = Date.now();
    leaver.ws.terminate();
    await watcher.frames.wait((f) => f.event === 'presence_diff' && f.payload.leaves.leaver);
    assert.ok(Date.now() - t0 < PROMPT_MS, `leave after ${Date.now() - t0} ms`);
    await watcher.close();
  });

  test('a presence leave caused by a clean close handshake reaches the others at once', async () => {
    const { watcher, leaver } = await presencePair();
    const t0 = Date.now();
    await leaver.close();
    await watcher.frames.wait((f) => f.event === 'presence_diff' && f.payload.leaves.leaver);
    const took = Date.now() - t0;
    await watcher.close();
    assert.ok(took < PROMPT_MS, `leave after ${took} ms`);
  });

  test('the idle-timeout close frame is written when the server decides, not a tick later', async () => {
    const raw = await RawWs.open(server);
    const c = await raw.closed;
    const seen = Date.now();
    assert.equal(c.code, 1001);
    const decided = Date.parse(server.logs().filter((l) => l.msg === 'idle client closed').at(-1).ts);
    assert.ok(seen - decided < PROMPT_MS, `close frame ${seen - decided} ms after the server decided`);
  });

  test('the token-expiry system message is written when the server decides, not a tick later', async () => {
    // a heartbeating client would wake the loop and hide the delay, so this
    // one stays silent, on a server with the default heartbeat interval
    const raw = await RawWs.open(quiet);
    const exp = nowS() + 1;
    await raw.join(`realtime:${topicName()}`, { access_token: quiet.token({ exp }) });
    const f = await raw.frames.wait((x) => x.event === 'system', { timeout: 4000 });
    const seen = Date.now();
    assert.equal(f.payload.status, 'error');
    const decided = Date.parse(quiet.logs().filter((l) => l.msg === 'channel shut down').at(-1).ts);
    await raw.close();
    assert.ok(seen - decided < PROMPT_MS, `system frame ${seen - decided} ms after the server decided`);
  });
});
