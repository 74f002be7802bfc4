// 42. config.postgres_changes_options {wait, timeout} with stock supabase-js
// (realtime-js 2.119), both protocol versions, real PostgreSQL:
//  - with wait, SUBSCRIBED comes once the subscription is live: a row
//    inserted the moment SUBSCRIBED is reported is delivered, and the
//    "Subscribed to PostgreSQL" system message still follows;
//  - a refused binding is an error naming why, prefixed as realtime-js
//    documents ("RealtimeDisabledForConfiguration: ..."); without wait the
//    reason is the one it always was;
//  - on a server whose replication stream cannot be live (its replication
//    login is refused: deterministic), a waiting join is refused when its
//    timeout (clamped to at least 1 s) runs out, with
//    "PostgresChangesSubscribeTimeout: ..." naming the stream; a wait longer
//    than the server's own 8 s join timeout outlasts it; a join without
//    wait still gets the 8 s answer it always got; a server stopped while
//    such a join waits with its CDC thread refuses it and exits cleanly.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Inbox, T, VSNS, WebSocket, startServer, teardown } from './harness.mjs';
import { DEMO, createClient, startStack } from './dbharness.mjs';

const clientOpts = (vsn) => ({
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: WebSocket, vsn },
});

/** A channel with one postgres_changes binding; statuses and system
 * messages in one timeline. */
function channel(client, topic, binding, options) {
  const ch = client.channel(topic, options ? { config: { postgres_changes_options: options } } : undefined);
  const w = { ch, timeline: [], changes: new Inbox(`changes on ${topic}`), system: new Inbox(`system on ${topic}`) };
  ch.on('postgres_changes', { schema: 'public', ...binding }, (p) => {
    w.timeline.push(`change ${p.new?.title ?? ''}`);
    w.changes.push(p);
  });
  ch.on('system', {}, (p) => {
    w.timeline.push(`system ${p.status} ${p.message}`);
    w.system.push(p);
  });
  return w;
}

/** Subscribes; resolves {status, err, ms} at the first terminal status
 * (ms: from subscribe() to it). onSubscribed runs synchronously inside
 * the SUBSCRIBED callback. */
function subscribe(w, { onSubscribed, timeout = T(40000) } = {}) {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${w.ch.topic}: no terminal status in ${timeout} ms (${w.timeline})`)), timeout);
    w.ch.subscribe((status, err) => {
      w.timeline.push(`status ${status}`);
      if (status === 'SUBSCRIBED' && onSubscribed) onSubscribed();
      if (['SUBSCRIBED', 'CHANNEL_ERROR', 'TIMED_OUT', 'CLOSED'].includes(status)) {
        clearTimeout(timer);
        resolve({ status, err, ms: Date.now() - t0 });
      }
    });
  });
}

describe('postgres_changes_options.wait', { timeout: T(120000) }, () => {
  let stack;
  const clients = {};
  const topic = (p) => `${p}-${crypto.randomUUID().slice(0, 8)}`;
  before(async () => {
    stack = await startStack();
    for (const vsn of VSNS) clients[vsn] = createClient(stack.url, stack.serviceKey, clientOpts(vsn));
  });
  after(async () => {
    for (const c of Object.values(clients)) await c.removeAllChannels().catch(() => {});
    await stack?.stop();
  });

  for (const vsn of VSNS) {
    test(`vsn ${vsn}: SUBSCRIBED once live; a row inserted at that moment is delivered`, async () => {
      const client = clients[vsn];
      const title = `wait-${vsn}-${crypto.randomUUID()}`;
      const w = channel(client, topic('wait'), { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${DEMO.alice.id}` },
        { wait: true, timeout: 5000 });
      let inserted;
      const r = await subscribe(w, {
        onSubscribed: () => {
          inserted = stack.db.psql(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'wait', '${title}')`);
        },
      });
      assert.equal(r.status, 'SUBSCRIBED', `${r.err?.message} (${w.timeline})`);
      await inserted;
      const p = await w.changes.wait((x) => x.new.title === title, { timeout: T(10000) });
      assert.equal(p.eventType, 'INSERT');
      const sys = await w.system.wait((x) => x.extension === 'postgres_changes', { timeout: T(5000) });
      assert.equal(sys.status, 'ok');
      assert.equal(sys.message, 'Subscribed to PostgreSQL');
      assert.equal(w.timeline[0], 'status SUBSCRIBED', `nothing before the reply: ${w.timeline}`);
      await client.removeChannel(w.ch);
    });

    test(`vsn ${vsn}: a refused binding names why; without wait the reason is unchanged`, async () => {
      const client = clients[vsn];
      const binding = { event: 'INSERT', table: 'tc_no_such_table' };
      const waiting = channel(client, topic('refused'), binding, { wait: true });
      const r1 = await subscribe(waiting);
      await client.removeChannel(waiting.ch);
      assert.equal(r1.status, 'CHANNEL_ERROR');
      assert.equal(r1.err.message,
        'RealtimeDisabledForConfiguration: Unable to subscribe to changes with given parameters: table public.tc_no_such_table does not exist');
      const plain = channel(client, topic('refused-plain'), binding);
      const r2 = await subscribe(plain);
      await client.removeChannel(plain.ch);
      assert.equal(r2.status, 'CHANNEL_ERROR');
      assert.equal(r2.err.message, 'Unable to subscribe to changes with given parameters: table public.tc_no_such_table does not exist');
      // a bad filter too
      const badFilter = channel(client, topic('refused-filter'), { event: 'INSERT', table: 'notifications', filter: 'nope=eq.1' }, { wait: true });
      const r3 = await subscribe(badFilter);
      await client.removeChannel(badFilter.ch);
      assert.equal(r3.status, 'CHANNEL_ERROR');
      assert.match(r3.err.message, /^RealtimeDisabledForConfiguration: Unable to subscribe to changes with given parameters: .*nope/);
    });
  }

  describe('a server whose replication stream cannot be live', () => {
    let server;
    before(async () => {
      // Same database and secret, but the replication login is refused:
      // the catalog reads (the pool's login) work, the stream never starts.
      server = await startServer({ env: { ...stack.db.serverEnv, DB_REPLICATION_PASSWORD: 'not-the-password' }, secret: stack.secret });
    });
    after(() => teardown(server));
    const key = () => stack.serviceKey;

    for (const vsn of VSNS) {
      test(`vsn ${vsn}: the wait runs out with PostgresChangesSubscribeTimeout naming the stream`, async () => {
        const client = createClient(server.httpBase, key(), clientOpts(vsn));
        const binding = { event: 'INSERT', table: 'notifications' };
        const w = channel(client, topic('dead'), binding, { wait: true, timeout: 1500 });
        const r = await subscribe(w);
        await client.removeChannel(w.ch);
        assert.equal(r.status, 'CHANNEL_ERROR', w.timeline.join(', '));
        assert.match(r.err.message, /^PostgresChangesSubscribeTimeout: Postgres Changes were not live within 1500 ms .*the replication stream is not live/);
        assert.ok(r.ms >= 1400 && r.ms < T(7000), `refused after ${r.ms} ms`);
        // a timeout below the floor waits the floor (1 s), not less
        const tiny = channel(client, topic('dead-tiny'), binding, { wait: true, timeout: 1 });
        const r2 = await subscribe(tiny);
        await client.removeChannel(tiny.ch);
        assert.equal(r2.status, 'CHANNEL_ERROR');
        assert.match(r2.err.message, /within 1000 ms/);
        assert.ok(r2.ms >= 900 && r2.ms < T(7000), `refused after ${r2.ms} ms`);
        await client.removeAllChannels();
      });
    }

    test('a wait beyond the server\'s 8 s join timeout outlasts it; without wait the 8 s answer is unchanged', async () => {
      const client = createClient(server.httpBase, key(), clientOpts('2.0.0'));
      const binding = { event: 'INSERT', table: 'notifications' };
      const long = channel(client, topic('dead-long'), binding, { wait: true, timeout: 9500 });
      const plain = channel(client, topic('dead-plain'), binding);
      const [r1, r2] = await Promise.all([subscribe(long), subscribe(plain)]);
      await client.removeAllChannels();
      assert.equal(r1.status, 'CHANNEL_ERROR');
      assert.match(r1.err.message, /^PostgresChangesSubscribeTimeout: .*within 9500 ms/);
      assert.ok(r1.ms >= 9400, `the waiting join was refused after ${r1.ms} ms`);
      assert.equal(r2.status, 'CHANNEL_ERROR');
      assert.equal(r2.err.message, 'Realtime was unable to connect to the project database');
      assert.ok(r2.ms >= 7500 && r2.ms < 9400, `the plain join was refused after ${r2.ms} ms`);
      // The waiting join's second attempt (posted at ~8 s) is still with
      // the CDC thread when this server stops: the next test's subject.
    });

    test('SIGTERM while a join waits with the CDC thread: refused with the reason, drained, exit 0', async () => {
      // Its own server, at debug level to see the second attempt posted.
      const s2 = await startServer({ env: { ...stack.db.serverEnv, DB_REPLICATION_PASSWORD: 'not-the-password', LOG_LEVEL: 'debug' }, secret: stack.secret });
      try {
        const client = createClient(s2.httpBase, key(), clientOpts('2.0.0'));
        const w = channel(client, topic('dead-stop'), { event: 'INSERT', table: 'notifications' }, { wait: true, timeout: 20000 });
        const r = subscribe(w, { timeout: T(30000) });
        // The first attempt ran out at the server's 8 s join timeout; the
        // second now waits in the CDC thread's list of joins.
        await s2.waitForLog((l) => l.msg === 'postgres changes wait: trying again', { timeout: T(12000) });
        const t0 = Date.now();
        const exit = await s2.stop(); // asserts exit 0 and no sanitizer (or TSan race) report
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.ok(Date.now() - t0 < T(5000), `stopped in ${Date.now() - t0} ms, not after the join's own timeout`);
        const got = await r;
        // The refusal reaches the client while its worker drains, or the
        // drain's close (1001) comes first; never SUBSCRIBED.
        assert.ok(['CHANNEL_ERROR', 'CLOSED'].includes(got.status), w.timeline.join(', '));
        const why = got.err?.message ?? '';
        if (/Postgres Changes/.test(why)) assert.equal(why, 'Postgres Changes stopped: the server is shutting down');
        assert.ok(s2.logs().some((l) => l.msg === 'stopped'), 'server logged "stopped"');
        await client.removeAllChannels();
      } finally {
        await teardown(s2);
      }
    });

    test('the server is fine afterwards: broadcast still joins at once', async () => {
      const client = createClient(server.httpBase, key(), clientOpts('2.0.0'));
      const ch = client.channel(topic('bc'));
      const w = { ch, timeline: [] };
      const r = await subscribe(w, { timeout: T(5000) });
      assert.equal(r.status, 'SUBSCRIBED');
      await client.removeAllChannels();
    });
  });
});
