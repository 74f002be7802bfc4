// Issue 9, isolation limits: what one client may pin on the server, and
// what its traffic may put in the logs.
//
//  - postgres_changes bindings per join, per connection (joined channels and
//    joins still being set up), and the length of one binding's filter;
//  - presence: the size of one tracked payload, and how many channels one
//    connection tracks on at once;
//  - channels per client address (127.0.0.1 and 127.0.0.2 are two
//    addresses on Linux's loopback, so "another host" is a real one);
//  - logs: with --debug-protocol and with ALLOW_CLIENT_LOG_LEVEL=1 +
//    ?log_level=debug, no JWT, refresh token or password appears anywhere
//    on stderr; without ALLOW_CLIENT_LOG_LEVEL, ?log_level=debug traces
//    nothing.
// Each refusal carries a reason naming its limit, is counted in /metrics
// and logged; the refused client's other channels and every other client
// keep working. Stock realtime-js / supabase-js, raw sockets for reasons
// realtime-js does not surface. Waits are on events, never sleeps.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  Inbox, RawTcp, RawWs, Server, T, WebSocket, encodeClientFrame, encodeText, freePort, joined, listen, metrics,
  newClient, sign, nowS, startServer, subscribe, teardown, topicName, waitFor, withTimeout,
} from './harness.mjs';
import { DEMO, DEMO_PASSWORD, createClient, startStack } from './dbharness.mjs';

// ---- helpers ----------------------------------------------------------------

/** A ws transport whose connections leave from another loopback address. */
function transportFrom(localAddress) {
  return class extends WebSocket {
    constructor(url, protocols) { super(url, protocols, { localAddress }); }
  };
}

/** A raw vsn 2 socket from localAddress. */
const rawFrom = (server, localAddress, { apikey = server.apikey } = {}) => RawWs.open(server, { apikey, localAddress });

const counter = async (server, name) => (await metrics(server)).get(name) ?? 0;

/** Presence track / broadcast over a raw socket; resolves with the reply. */
const track = (raw, topic, joinRef, payload) =>
  raw.request({ join_ref: joinRef, topic, event: 'presence', payload: { type: 'presence', event: 'track', payload } });
const untrack = (raw, topic, joinRef) =>
  raw.request({ join_ref: joinRef, topic, event: 'presence', payload: { type: 'presence', event: 'untrack' } });

const bookingsBinding = (extra = {}) => ({ event: '*', schema: 'public', table: 'bookings', ...extra });

/** n distinct postgres_changes bindings (distinct filters on bookings). */
const bindings = (n, tag = 'b') =>
  Array.from({ length: n }, (_, i) => bookingsBinding({ filter: `service=eq.${tag}-${i}` }));

// ---- postgres_changes bindings and filters --------------------------------------

describe('postgres_changes limits (bindings per join, per connection, filter length)', { timeout: T(120000) }, () => {
  const PER_JOIN = 3;
  const PER_CONN = 5;
  const FILTER = 64;
  let stack;
  let admin; // signed-in demo admin: sees every booking

  before(async () => {
    stack = await startStack({
      flags: ['--max-bindings-per-join', String(PER_JOIN), '--max-bindings-per-client', String(PER_CONN),
        '--max-filter-bytes', String(FILTER)],
    });
    admin = await stack.signIn(DEMO.admin.email);
  });
  after(() => stack?.stop());

  const PER_JOIN_REASON = `TooManyBindings: a join may carry at most ${PER_JOIN} postgres_changes bindings (MAX_BINDINGS_PER_JOIN)`;
  const PER_CONN_REASON = `TooManyBindings: a connection may hold at most ${PER_CONN} postgres_changes bindings across its channels (MAX_BINDINGS_PER_CLIENT)`;
  const FILTER_REASON = `FilterTooLong: a postgres_changes filter may be at most ${FILTER} bytes (MAX_FILTER_BYTES)`;

  /** A supabase-js channel with the given bindings; inserts go to box. */
  function channelWith(client, topic, list) {
    const ch = client.channel(topic);
    const box = new Inbox(`changes on ${topic}`);
    const system = new Inbox(`system on ${topic}`);
    for (const b of list) ch.on('postgres_changes', b, (p) => box.push(p));
    ch.on('system', {}, (p) => system.push(p));
    return { ch, box, system };
  }

  async function live(w) {
    const s = await subscribe(w.ch, { timeout: T(10000) });
    assert.equal(s.status, 'SUBSCRIBED', s.err?.message);
    await w.system.wait((p) => p.extension === 'postgres_changes' && p.status === 'ok', { timeout: T(10000) });
    return w;
  }

  /** Subscribes and expects the refusal; the channel is removed at once so
   * realtime-js does not keep rejoining it. */
  async function refused(client, w, reason) {
    const s = await subscribe(w.ch, { timeout: T(10000) });
    assert.equal(s.status, 'CHANNEL_ERROR');
    assert.equal(s.err.message, reason);
    await client.removeChannel(w.ch);
  }

  const insertBooking = async (service) => {
    await stack.db.psql(`insert into public.bookings (customer_id, service) values ('${DEMO.alice.id}', '${service}');`);
  };

  test('a join with more bindings than MAX_BINDINGS_PER_JOIN is refused with its reason; the client keeps its other channels', async () => {
    const before = await counter(stack.server, 'realtime_limit_bindings_total');
    const ok = await live(channelWith(admin.client, topicName('pj-ok'), [bookingsBinding({ event: 'INSERT' }), ...bindings(PER_JOIN - 1)]));
    await refused(admin.client, channelWith(admin.client, topicName('pj-over'), bindings(PER_JOIN + 1)), PER_JOIN_REASON);
    const line = await stack.server.waitForLog((l) => l.msg === 'join refused' && l.reason === PER_JOIN_REASON);
    assert.equal(line.level, 'info');
    assert.ok((await counter(stack.server, 'realtime_limit_bindings_total')) >= before + 1);

    // The channel joined before the refusal still receives its changes.
    const service = `pj-${crypto.randomUUID()}`;
    await insertBooking(service);
    await ok.box.wait((p) => p.eventType === 'INSERT' && p.new.service === service, { timeout: T(10000) });
    await admin.client.removeChannel(ok.ch);
  });

  test('bindings per connection count every channel; leaving gives them back; a rejoin replaces its own', async () => {
    const client = stack.client(stack.anonKey);
    await client.realtime.setAuth(admin.session.access_token);
    const a = await live(channelWith(client, topicName('pc-a'), [bookingsBinding({ event: 'INSERT' }), ...bindings(2, 'a')])); // 3
    const b = await live(channelWith(client, topicName('pc-b'), bindings(2, 'b'))); // 5
    await refused(client, channelWith(client, topicName('pc-c'), bindings(1, 'c')), PER_CONN_REASON);
    await stack.server.waitForLog((l) => l.msg === 'join refused' && l.reason === PER_CONN_REASON);

    // Another connection has its own budget.
    const other = stack.client(stack.anonKey);
    await other.realtime.setAuth(admin.session.access_token);
    const o = await live(channelWith(other, topicName('pc-other'), [bookingsBinding({ event: 'INSERT' }), ...bindings(2, 'o')]));

    // Leaving b gives its 2 bindings back.
    assert.equal(await client.removeChannel(b.ch), 'ok');
    const c = await live(channelWith(client, topicName('pc-c2'), bindings(2, 'c')));

    // Both clients' first channels still receive changes.
    const service = `pc-${crypto.randomUUID()}`;
    await insertBooking(service);
    await a.box.wait((p) => p.new?.service === service, { timeout: T(10000) });
    await o.box.wait((p) => p.new?.service === service, { timeout: T(10000) });
    await client.removeChannel(a.ch);
    await client.removeChannel(c.ch);
    await other.removeChannel(o.ch);
  });

  test('joins still being set up count too (two joins in one TCP segment), and a rejoin is not counted twice', async () => {
    const tcp = await RawTcp.open(stack.server, { apikey: stack.anonKey });
    const replies = new Inbox('tcp replies');
    tcp.frames.ev.on('item', (f) => {
      if (f.opcode !== 1) return;
      const [joinRef, ref, topic, event, payload] = JSON.parse(f.payload.toString());
      replies.push({ joinRef, ref, topic, event, payload });
    });
    const join = (ref, topic, list) => encodeClientFrame(1, encodeText('2.0.0', {
      join_ref: ref, ref, topic, event: 'phx_join',
      payload: { config: { broadcast: { self: false }, presence: { key: '' }, postgres_changes: list, private: false }, access_token: admin.session.access_token },
    }));
    const t1 = `realtime:${topicName('pend-1')}`;
    const t2 = `realtime:${topicName('pend-2')}`;
    // Both arrive before the CDC thread can answer the first: the second
    // sees 3 pending + 3 asked > 5.
    tcp.write(Buffer.concat([join('1', t1, bindings(3, 'p1')), join('2', t2, bindings(3, 'p2'))]));
    const r2 = await replies.wait((r) => r.event === 'phx_reply' && r.ref === '2', { timeout: T(10000) });
    assert.deepEqual(r2.payload, { status: 'error', response: { reason: PER_CONN_REASON } });
    const r1 = await replies.wait((r) => r.event === 'phx_reply' && r.ref === '1', { timeout: T(10000) });
    assert.equal(r1.payload.status, 'ok', JSON.stringify(r1.payload));

    // Holding 3: a rejoin of t1 with 3 replaces them (3, not 6) ...
    tcp.write(join('3', t1, bindings(3, 'p1b')));
    const r3 = await replies.wait((r) => r.event === 'phx_reply' && r.ref === '3', { timeout: T(10000) });
    assert.equal(r3.payload.status, 'ok', JSON.stringify(r3.payload));
    // ... so 2 more fit, and then nothing.
    tcp.write(join('4', `realtime:${topicName('pend-4')}`, bindings(2, 'p4')));
    const r4 = await replies.wait((r) => r.event === 'phx_reply' && r.ref === '4', { timeout: T(10000) });
    assert.equal(r4.payload.status, 'ok', JSON.stringify(r4.payload));
    tcp.write(join('5', `realtime:${topicName('pend-5')}`, bindings(1, 'p5')));
    const r5 = await replies.wait((r) => r.event === 'phx_reply' && r.ref === '5', { timeout: T(10000) });
    assert.deepEqual(r5.payload, { status: 'error', response: { reason: PER_CONN_REASON } });
    tcp.destroy();
    await tcp.ended;
  });

  test('a filter longer than MAX_FILTER_BYTES is refused; one of exactly that length works', async () => {
    const before = await counter(stack.server, 'realtime_limit_filter_bytes_total');
    const exact = `service=eq.${'x'.repeat(FILTER - 'service=eq.'.length)}`;
    assert.equal(Buffer.byteLength(exact), FILTER);
    await refused(admin.client, channelWith(admin.client, topicName('f-over'), [bookingsBinding({ filter: `${exact}y` })]), FILTER_REASON);
    const ok = await live(channelWith(admin.client, topicName('f-ok'), [bookingsBinding({ event: 'INSERT', filter: exact })]));
    await stack.server.waitForLog((l) => l.msg === 'join refused' && l.reason === FILTER_REASON);
    assert.ok((await counter(stack.server, 'realtime_limit_filter_bytes_total')) >= before + 1);
    await insertBooking('x'.repeat(FILTER - 'service=eq.'.length));
    await ok.box.wait((p) => p.eventType === 'INSERT', { timeout: T(10000) });
    await admin.client.removeChannel(ok.ch);
  });
});

// ---- presence ------------------------------------------------------------------------

describe('presence limits (payload bytes, tracked channels per connection)', { timeout: T(60000) }, () => {
  const BYTES = 256;
  const PER_CONN = 2;
  let server;
  before(async () => {
    server = await startServer({ flags: ['--max-presence-bytes', String(BYTES), '--max-presence-per-client', String(PER_CONN)] });
  });
  after(() => teardown(server));

  const SIZE_REASON = `PresencePayloadTooLarge: a presence payload may be at most ${BYTES} bytes of JSON (MAX_PRESENCE_PAYLOAD_BYTES)`;
  const COUNT_REASON = `TooManyPresences: a connection may track presence on at most ${PER_CONN} channels at once (MAX_PRESENCE_PER_CLIENT)`;
  /** {"b":"xxx..."} of exactly n bytes of JSON. */
  const payloadOf = (n) => ({ b: 'x'.repeat(n - '{"b":""}'.length) });

  test('a payload over MAX_PRESENCE_PAYLOAD_BYTES is refused: nothing stored, nothing broadcast; exactly the limit works', async () => {
    const topic = topicName('pres-size');
    const wire = `realtime:${topic}`;
    const before = await counter(server, 'realtime_limit_presence_total');

    // A stock client watching the topic's presence.
    const watcher = newClient(server);
    const wch = watcher.channel(topic, { config: { presence: { key: 'watcher' } } });
    const joins = new Inbox('presence joins');
    wch.on('presence', { event: 'join' }, (e) => joins.push(e));
    await joined(wch);

    const raw = await RawWs.open(server);
    const j = await raw.join(wire, { config: { presence: { key: 'big', enabled: true } } });
    assert.equal(j.payload.status, 'ok');
    const big = await track(raw, wire, j.join_ref, payloadOf(BYTES + 1));
    assert.deepEqual(big.payload, { status: 'error', response: { reason: SIZE_REASON } });
    const line = await server.waitForLog((l) => l.msg === 'presence refused' && l.reason === SIZE_REASON);
    assert.equal(line.level, 'info');
    // Exactly the limit is accepted, and it is the first join the watcher sees.
    const exact = await track(raw, wire, j.join_ref, payloadOf(BYTES));
    assert.equal(exact.payload.status, 'ok');
    const first = await joins.wait((e) => e.key === 'big');
    assert.equal(first.newPresences[0].b.length, BYTES - '{"b":""}'.length);
    assert.equal(joins.count((e) => e.key === 'big'), 1);
    assert.deepEqual(Object.keys(wch.presenceState()), ['big']);

    // realtime-js's own track() reports the refusal as 'error'.
    const stock = newClient(server);
    const sch = stock.channel(topic, { config: { presence: { key: 'stock' } } });
    await joined(sch);
    assert.equal(await sch.track(payloadOf(BYTES + 100)), 'error');
    assert.equal(await sch.track({ small: true }), 'ok');
    await joins.wait((e) => e.key === 'stock');
    assert.equal(joins.items.find((e) => e.key === 'stock').newPresences[0].small, true);
    assert.equal(joins.count((e) => e.key === 'stock'), 1);
    assert.ok((await counter(server, 'realtime_limit_presence_total')) >= before + 2);
    await raw.close();
  });

  test('tracking on more than MAX_PRESENCE_PER_CLIENT channels: the next is refused; re-track is an update; untrack and leave free a slot', async () => {
    const raw = await RawWs.open(server);
    const topics = [1, 2, 3, 4].map(() => `realtime:${topicName('pres-n')}`);
    const refs = [];
    for (const t of topics) {
      const r = await raw.join(t, { config: { broadcast: { ack: true, self: true }, presence: { key: 'me' } } });
      assert.equal(r.payload.status, 'ok');
      refs.push(r.join_ref);
    }
    assert.equal((await track(raw, topics[0], refs[0], { n: 0 })).payload.status, 'ok');
    assert.equal((await track(raw, topics[1], refs[1], { n: 1 })).payload.status, 'ok');
    assert.deepEqual((await track(raw, topics[2], refs[2], { n: 2 })).payload, { status: 'error', response: { reason: COUNT_REASON } });
    // an update where it already tracks takes no new slot
    assert.equal((await track(raw, topics[0], refs[0], { n: 'updated' })).payload.status, 'ok');
    // the refused connection's channels all keep working
    const b = await raw.request({ join_ref: refs[2], topic: topics[2], event: 'broadcast', payload: { type: 'broadcast', event: 'still', payload: { ok: 1 } } });
    assert.equal(b.payload.status, 'ok');
    await raw.frames.wait((f) => f.event === 'broadcast' && f.topic === topics[2] && f.payload.event === 'still');

    // Another connection has its own slots meanwhile.
    const other = await RawWs.open(server);
    for (const t of topics.slice(0, PER_CONN)) {
      const r = await other.join(t, { config: { presence: { key: 'other' } } });
      assert.equal((await track(other, t, r.join_ref, { other: true })).payload.status, 'ok');
    }

    // untrack frees a slot
    assert.equal((await untrack(raw, topics[1], refs[1])).payload.status, 'ok');
    assert.equal((await track(raw, topics[2], refs[2], { n: 2 })).payload.status, 'ok');
    assert.deepEqual((await track(raw, topics[3], refs[3], { n: 3 })).payload, { status: 'error', response: { reason: COUNT_REASON } });
    // leaving a tracked channel frees its slot too
    const left = await raw.request({ join_ref: refs[0], topic: topics[0], event: 'phx_leave', payload: {} });
    assert.equal(left.payload.status, 'ok');
    assert.equal((await track(raw, topics[3], refs[3], { n: 3 })).payload.status, 'ok');
    await raw.close();
    await other.close();
  });
});

// ---- channels per client address --------------------------------------------------------

describe('channels per client address (MAX_CHANNELS_PER_IP)', { timeout: T(60000) }, () => {
  const MAX = 4;
  const REASON = `ChannelsPerIpLimitReached: at most ${MAX} channels may be joined from one client address (MAX_CHANNELS_PER_IP)`;
  let server;
  before(async () => { server = await startServer({ flags: ['--max-channels-per-ip', String(MAX)] }); });
  after(() => teardown(server));

  /** Joins distinct topics on raw until one is refused; returns how many joined. */
  async function fill(raw, limit = MAX + 2) {
    for (let i = 0; i < limit; i++) {
      const r = await raw.join(`realtime:${topicName('ip-fill')}`);
      if (r.payload.status !== 'ok') {
        assert.deepEqual(r.payload, { status: 'error', response: { reason: REASON } });
        return i;
      }
    }
    return limit;
  }

  test('the address is refused past the limit across its connections; another address is not; leaving and closing give slots back exactly once', async () => {
    const before = await counter(server, 'realtime_limit_channels_per_ip_total');
    const a = newClient(server);
    const chans = [];
    for (let i = 0; i < MAX; i++) {
      const ch = a.channel(topicName('ip-a'), { config: { broadcast: { self: true, ack: true } } });
      await joined(ch);
      chans.push(ch);
    }
    const over = a.channel(topicName('ip-a-over'));
    const s = await subscribe(over);
    assert.equal(s.status, 'CHANNEL_ERROR');
    assert.equal(s.err.message, REASON);
    await a.removeChannel(over);
    const line = await server.waitForLog((l) => l.msg === 'join refused' && l.reason === REASON);
    assert.equal(line.level, 'info');

    // Another connection from the same address: refused too.
    const same = await RawWs.open(server);
    assert.equal(await fill(same), 0);

    // Another address (127.0.0.2) is unaffected, and talks with a's channels.
    const b = newClient(server, { transport: transportFrom('127.0.0.2') });
    const bch = b.channel(chans[0].subTopic, { config: { broadcast: { ack: true } } });
    await joined(bch);
    const inbox = listen(chans[0]);
    assert.equal(await bch.send({ type: 'broadcast', event: 'hello', payload: { from: 'b' } }), 'ok');
    await inbox.wait((m) => m.event === 'hello');
    // a's own channels keep working after the refusal
    assert.equal(await chans[1].send({ type: 'broadcast', event: 'self', payload: {} }), 'ok');
    const far = await rawFrom(server, '127.0.0.2');
    assert.equal(await fill(far, 3), 3);
    await far.close();

    // Leaving one of a's channels frees exactly one slot. realtime-js
    // resolves removeChannel at once, without waiting for the server's
    // answer to the leave (phoenix triggers "ok" locally once the channel is
    // leaving), so the other connection's joins may come first: they are
    // refused until the leave is in, then exactly one succeeds.
    assert.equal(await a.removeChannel(chans[3]), 'ok');
    await waitFor(async () => (await fill(same)) === 1, { timeout: T(5000), message: 'the leave to free exactly one slot' });
    assert.equal(await fill(same), 0, 'only one slot was freed');

    // Closing every connection gives every slot back, exactly once: a new
    // connection joins MAX channels (a rejoin of one it holds costs
    // nothing and is never refused), and the next distinct one is refused.
    await a.disconnect();
    await same.close();
    const fresh = await RawWs.open(server);
    const held = `realtime:${topicName('ip-held')}`;
    await waitFor(async () => (await fresh.join(held)).payload.status === 'ok',
      { timeout: T(5000), message: 'the closed connections to give their channels back' });
    assert.equal(await fill(fresh, MAX - 1), MAX - 1); // 1 + (MAX - 1) = MAX
    for (let i = 0; i < 2; i++) {
      const again = await fresh.join(held);
      assert.equal(again.payload.status, 'ok', 'a rejoin of a held topic is never refused');
    }
    assert.equal(await fill(fresh), 0);
    assert.ok((await counter(server, 'realtime_limit_channels_per_ip_total')) >= before + 4);
    await fresh.close();
    await b.disconnect();
  });
});

// ---- connections per client address ---------------------------------------------------------

describe('connections per client address (MAX_CONNECTIONS_PER_IP)', { timeout: T(60000) }, () => {
  const MAX = 3;
  let server;
  before(async () => { server = await startServer({ flags: ['--max-connections-per-ip', String(MAX)] }); });
  after(() => teardown(server));

  test('the address is refused with 429 past the limit; another address is not; a closed connection gives its slot back', async () => {
    const before = await counter(server, 'realtime_limit_connections_per_ip_total');
    const held = [];
    for (let i = 0; i < MAX; i++) held.push(await rawFrom(server, '127.0.0.2'));
    const refused = await rawFrom(server, '127.0.0.2').then(() => null, (e) => e);
    assert.ok(refused, 'the connection past the limit was accepted');
    assert.equal(refused.status, 429);
    assert.equal(JSON.parse(refused.body).error,
      'MaxConnectionsPerIp: too many connections from this address (MAX_CONNECTIONS_PER_IP)');
    assert.equal(await counter(server, 'realtime_limit_connections_per_ip_total'), before + 1);
    await server.waitForLog((l) => l.msg === 'connection refused' && l.limit === MAX);

    // 127.0.0.1 is another address: unaffected, and the held ones still work.
    const other = await RawWs.open(server);
    assert.equal((await other.join(`realtime:${topicName('ip-conn')}`)).payload.status, 'ok');
    assert.equal((await held[0].join(`realtime:${topicName('ip-conn')}`)).payload.status, 'ok');

    // One closes: its slot comes back, once.
    await held.pop().close();
    await waitFor(async () => {
      const again = await rawFrom(server, '127.0.0.2').catch(() => null);
      if (again) held.push(again);
      return again;
    }, { timeout: T(5000), message: 'the closed connection to give its slot back' });
    const still = await rawFrom(server, '127.0.0.2').then(() => null, (e) => e);
    assert.equal(still?.status, 429);
    for (const h of held) await h.close();
    await other.close();
  });
});

// ---- logs: no token, refresh token or password, at any level -----------------------------

describe('logs hold no token, refresh token or password', { timeout: T(120000) }, () => {
  let stack;
  before(async () => { stack = await startStack(); });
  after(() => stack?.stop());

  /** A server on the stack's database (Postgres Changes off: the stack's own
   * server holds the replication slot). */
  async function logServer({ flags = [], env = {} } = {}) {
    const s = new Server({
      port: await freePort(),
      secret: stack.secret,
      flags: ['--workers', '2', '--drain-timeout-ms', '3000', ...flags],
      env: { ...stack.db.serverEnv, POSTGRES_CHANGES: '0', ...env },
    });
    return s.start();
  }

  /** The event of a traced frame (vsn 1 object or vsn 2 array), or null. */
  function frameEvent(text) {
    try {
      const f = JSON.parse(text);
      return Array.isArray(f) ? f[3] : f.event;
    } catch { return null; }
  }

  /** Everything a client does with secrets against server: password
   * sign-in, refresh, sign-up, password change, joins with tokens (good
   * and bad), access_token refreshes, a broadcast carrying a password and a
   * token, REST calls. Returns every secret used. realtimeParams: extra
   * socket URL parameters. */
  async function exercise(server, realtimeParams = {}, { traced = true } = {}) {
    const url = server.httpBase;
    const anonKey = sign({ role: 'anon', iss: 'techcare-test', exp: nowS() + 3600 }, stack.secret);
    const secrets = { anonKey, passwords: [DEMO_PASSWORD], tokens: [], refresh: [] };
    const client = createClient(url, anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { transport: WebSocket, params: realtimeParams, timeout: T(5000) },
    });
    const { data: s1, error: e1 } = await client.auth.signInWithPassword({ email: DEMO.bob.email, password: DEMO_PASSWORD });
    assert.ifError(e1);
    const { data: s2, error: e2 } = await client.auth.refreshSession({ refresh_token: s1.session.refresh_token });
    assert.ifError(e2);
    secrets.tokens.push(s1.session.access_token, s2.session.access_token);
    secrets.refresh.push(s1.session.refresh_token, s2.session.refresh_token);

    const newPassword = `pw-${crypto.randomBytes(9).toString('base64url')}`;
    const changed = `pw-${crypto.randomBytes(9).toString('base64url')}`;
    secrets.passwords.push(newPassword, changed);
    const signer = createClient(url, anonKey, { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: WebSocket } });
    const { data: su, error: e3 } = await signer.auth.signUp({ email: `logs-${crypto.randomBytes(5).toString('hex')}@itest.demo`, password: newPassword });
    assert.ifError(e3);
    secrets.tokens.push(su.session.access_token);
    secrets.refresh.push(su.session.refresh_token);
    const { error: e4 } = await signer.auth.updateUser({ password: changed });
    assert.ifError(e4);

    // Realtime with the user's session, then token changes on the live
    // channel: two access_token messages. (A refresh within the same
    // second may sign the very same claims, so the first change is to a
    // token of our own.)
    const ch = client.channel(topicName('logs'), { config: { broadcast: { ack: true } } });
    await joined(ch);
    const mine = sign({ role: 'authenticated', sub: DEMO.bob.id, aud: 'authenticated', exp: nowS() + 1800 }, stack.secret);
    secrets.tokens.push(mine);
    await client.realtime.setAuth(mine);
    await client.realtime.setAuth(s2.session.access_token);
    if (traced) {
      await server.waitForLog((l) => l.msg === 'protocol' && l.dir === 'in' && frameEvent(l.frame) === 'access_token',
        { message: 'the traced access_token message' });
    }
    assert.equal(await ch.send({ type: 'broadcast', event: 'creds', payload: { password: 'broadcast-pw-123', note: `Bearer ${s2.session.access_token}` } }), 'ok');
    secrets.passwords.push('broadcast-pw-123');

    // Raw joins: access_token (vsn 2), a forged token (refused), and an
    // access_token message with another token.
    const own = sign({ role: 'authenticated', sub: DEMO.bob.id, exp: nowS() + 600 }, stack.secret);
    const forged = sign({ role: 'service_role', exp: nowS() + 600 }, 'not-the-secret-not-the-secret-00');
    const later = sign({ role: 'authenticated', sub: DEMO.bob.id, exp: nowS() + 1200 }, stack.secret);
    secrets.tokens.push(own, forged, later);
    const raw = await RawWs.open(server, { apikey: anonKey, query: `apikey=${encodeURIComponent(anonKey)}&vsn=2.0.0${realtimeParams.log_level ? `&log_level=${realtimeParams.log_level}` : ''}` });
    const topic = `realtime:${topicName('logs-raw')}`;
    const j = await raw.join(topic, { access_token: own, config: { broadcast: { ack: true, self: false } } });
    assert.equal(j.payload.status, 'ok');
    const bad = await raw.join(`realtime:${topicName('logs-bad')}`, { access_token: forged });
    assert.equal(bad.payload.status, 'error');
    raw.send({ join_ref: j.join_ref, ref: raw.nextRef(), topic, event: 'access_token', payload: { access_token: later } });
    // (realtime-js sends vsn 2 broadcasts as binary frames, traced by size
    // only: this one is text.)
    const bc = await raw.request({ join_ref: j.join_ref, topic, event: 'broadcast',
      payload: { type: 'broadcast', event: 'creds', payload: { password: 'raw-pw-456', auth: { refresh_token: secrets.refresh[0] } } } });
    assert.equal(bc.payload.status, 'ok');
    secrets.passwords.push('raw-pw-456');
    const hb = await raw.request({ topic: 'phoenix', event: 'heartbeat', payload: {} });
    assert.equal(hb.payload.status, 'ok');
    await raw.close();

    // vsn 1 with the legacy user_token.
    const v1 = await RawWs.open(server, { vsn: '1.0.0', apikey: anonKey, query: `apikey=${encodeURIComponent(anonKey)}&vsn=1.0.0${realtimeParams.log_level ? `&log_level=${realtimeParams.log_level}` : ''}` });
    const userToken = sign({ role: 'authenticated', sub: DEMO.bob.id, exp: nowS() + 900 }, stack.secret);
    secrets.tokens.push(userToken);
    const ref = v1.nextRef();
    v1.send({ join_ref: ref, ref, topic: `realtime:${topicName('logs-v1')}`, event: 'phx_join', payload: { config: {}, user_token: userToken } });
    await v1.frames.wait((f) => f.event === 'phx_reply' && f.ref === ref);
    await v1.close();

    // REST with the user's token, and with a bad one.
    const rest = await fetch(`${url}/rest/v1/bookings?select=id`, { headers: { apikey: anonKey, authorization: `Bearer ${s2.session.access_token}` } });
    assert.equal(rest.status, 200);
    await rest.text();
    const badRest = await fetch(`${url}/rest/v1/bookings`, { headers: { apikey: anonKey, authorization: `Bearer ${forged}` } });
    assert.equal(badRest.status, 401);
    await badRest.text();

    await client.removeAllChannels();
    client.realtime.disconnect();
    return secrets;
  }

  /** Stops server (so its stderr is complete) and asserts none of the
   * secrets, and nothing JWT-shaped, is in any line. */
  async function assertClean(server, secrets) {
    await server.stop();
    const text = server.stderrLines.join('\n');
    const all = [secrets.anonKey, ...secrets.tokens, ...secrets.refresh, ...secrets.passwords];
    for (const s of all) {
      assert.ok(s && s.length >= 8);
      assert.ok(!text.includes(s), `a secret reached the log: ${s.slice(0, 12)}…\n${server.stderrLines.filter((l) => l.includes(s)).slice(0, 3).join('\n')}`);
    }
    for (const t of [secrets.anonKey, ...secrets.tokens]) {
      const [h, p, sig] = t.split('.');
      for (const part of [p, sig]) assert.ok(!text.includes(part.slice(0, 24)), 'part of a token reached the log');
      assert.ok(!text.includes(`${h}.`), 'a token header with its dot reached the log');
    }
    const jwtShaped = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\./;
    const hit = server.stderrLines.find((l) => jwtShaped.test(l));
    assert.equal(hit, undefined, `a JWT-shaped string reached the log: ${hit}`);
  }

  test('--debug-protocol with --log-level debug: frames are traced, tokens and passwords are not', async () => {
    const server = await logServer({ flags: ['--debug-protocol', '--log-level', 'debug'] });
    try {
      const secrets = await exercise(server);
      // The trace ran, and redacted what it had to.
      const traced = server.logs().filter((l) => l.msg === 'protocol' && typeof l.frame === 'string');
      assert.ok(traced.some((l) => frameEvent(l.frame) === 'phx_join' && l.frame.includes('"access_token":"[redacted]"')));
      assert.ok(traced.some((l) => frameEvent(l.frame) === 'phx_join' && l.frame.includes('"user_token":"[redacted]"')));
      assert.ok(traced.some((l) => frameEvent(l.frame) === 'broadcast' && l.frame.includes('"password":"[redacted]"') && l.frame.includes('"refresh_token":"[redacted]"')));
      assert.ok(server.logs().some((l) => l.msg === 'token refused'));
      await assertClean(server, secrets);
    } finally {
      await server.stop().catch(() => {});
    }
  });

  test('ALLOW_CLIENT_LOG_LEVEL=1 and ?log_level=debug: the client\'s frames are traced, without secrets', async () => {
    const server = await logServer({ env: { ALLOW_CLIENT_LOG_LEVEL: '1' } });
    try {
      const secrets = await exercise(server, { log_level: 'debug' });
      assert.ok(server.logs().some((l) => l.msg === 'protocol' && frameEvent(l.frame) === 'phx_join' && l.frame.includes('[redacted]')));
      await assertClean(server, secrets);
    } finally {
      await server.stop().catch(() => {});
    }
  });

  test('without ALLOW_CLIENT_LOG_LEVEL, ?log_level=debug traces nothing', async () => {
    const server = await logServer();
    try {
      const secrets = await exercise(server, { log_level: 'debug' }, { traced: false });
      await assertClean(server, secrets);
      assert.equal(server.logs().filter((l) => l.msg === 'protocol').length, 0);
    } finally {
      await server.stop().catch(() => {});
    }
  });
});
