// Broadcast replay, persisted broadcasts and private HTTP broadcasts
// (issue 12, parts 3 and 4), with stock realtime-js against a real
// PostgreSQL:
//   - config.broadcast.replay {since, limit} on a private channel replays
//     realtime.messages since `since`, the newest `limit` (at most 25),
//     oldest first, each with meta.replayed and meta.id, before any live
//     broadcast, none twice (also when a stored message is published while
//     the replay query waits), JSON and binary, across a server restart;
//   - send(..., {persist}) (vsn 2.0.0) and httpSend(..., {persist}) store the
//     message under the sender's token (INSERT policies decide), deliver it
//     live once with meta.id, and a later replay finds it; a ttl expires it;
//   - httpSend to a private channel, and the batch endpoint's private
//     messages, are authorized by the INSERT policies (403 naming the topic
//     when refused) and reach the private channel only;
//   - hostile inputs are refused with a reason.
// The policies are supabase/realtime's e2e check's: authenticated users
// read and write topics "topic:%"; "ro:%" is readable only.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { T, VSNS, joined, listen, newClient, subscribe, waitFor, RawWs, encodeUserBroadcastPush, encodeText } from './harness.mjs';
import { startStack } from './dbharness.mjs';

const POLICIES = `
create policy "t41 receive on topic" on realtime.messages for select to authenticated
  using (realtime.topic() like 'topic:%' or realtime.topic() like 'ro:%');
create policy "t41 broadcast on topic" on realtime.messages for insert to authenticated
  with check (realtime.topic() like 'topic:%');
-- "seam:%": the replay query (only it: the join's own check and inserts
-- pass at once) waits for advisory lock 41, which a test holds to keep a
-- replay running while live messages arrive.
create function public.t41_gate(p_event text) returns boolean language plpgsql volatile as $$
begin
  if p_event like 'tc_probe_%' or current_query() not like '%ORDER BY inserted_at DESC%' then return true; end if;
  perform pg_advisory_xact_lock_shared(41);
  return true;
end $$;
grant execute on function public.t41_gate(text) to authenticated;
create policy "t41 seam receive" on realtime.messages for select to authenticated
  using (realtime.topic() like 'seam:%' and public.t41_gate(event));
create policy "t41 seam broadcast" on realtime.messages for insert to authenticated
  with check (realtime.topic() like 'seam:%');
`;

const uid = () => crypto.randomUUID();
const topicName = (prefix = 'topic') => `${prefix}:${uid()}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('broadcast replay, persist, private HTTP broadcast', { timeout: T(240000) }, () => {
  let stack, token;

  before(async () => {
    stack = await startStack({ demo: false, prepare: (db) => db.psql(POLICIES) });
    token = stack.token({ sub: uid() });
  });
  after(() => stack?.stop());

  const client = (vsn = '2.0.0', tok = token) => newClient(stack.server, { vsn, token: tok });

  /** Stores a private broadcast as the superuser, inserted at atMs (ms
   * since the epoch, the server's own conversion of `since`). */
  async function store(topic, event, payload, atMs) {
    const id = uid();
    await stack.db.psql(
      `insert into realtime.messages (id, topic, extension, private, event, payload, inserted_at)
       values ('${id}', :'topic', 'broadcast', true, :'event', :'payload'::jsonb,
               to_timestamp(${Math.round(atMs)}::bigint / 1000.0)::timestamp)`,
      { topic, event, payload: JSON.stringify(payload) });
    return id;
  }

  /** Waits until the replication stream has passed every row committed so
   * far: a marker row on a public topic, committed after them, reaches a
   * subscriber only once the stream has decoded them (commit order). Rows
   * stored as history are then behind the stream, and Broadcast from the
   * database cannot also deliver them live to a channel that joins next. */
  async function settle() {
    const topic = topicName('settle');
    const c = client();
    const ch = c.channel(topic, { config: { private: false } });
    const box = listen(ch);
    await joined(ch);
    // A marker committed before the server's replication slot exists is
    // never streamed (slow starts: ThreadSanitizer), so one is committed
    // each second until one arrives; anything that old is behind the
    // stream too.
    await waitFor(async () => {
      await stack.db.psql(
        `insert into realtime.messages (topic, extension, private, event, payload)
         values (:'topic', 'broadcast', false, 'settled', '{}'::jsonb)`, { topic });
      return box.waitCount(1, undefined, { timeout: 1000 }).then(() => true, () => false);
    }, { timeout: T(30000), interval: 0, message: `a marker on ${topic} through the replication stream` });
    await c.removeAllChannels();
    c.disconnect();
  }

  function replayChannel(c, topic, replay, extra = {}) {
    return c.channel(topic, { config: { private: true, broadcast: { replay, ...extra } } });
  }

  for (const vsn of VSNS) {
    test(`vsn ${vsn}: replay delivers the newest "limit" since "since", oldest first, with meta.replayed and meta.id`, async () => {
      const topic = topicName();
      const ids = [];
      const base = Date.now() - 10000;
      await store(topic, 'm', { n: -1 }, base - 60000); // before since
      for (let i = 0; i < 5; i++) ids.push(await store(topic, 'm', { n: i }, base + i * 100));
      await store(topicName(), 'm', { other: true }, base + 50); // another topic
      await settle();
      const since = base - 30000;
      const c = client(vsn);
      const ch = replayChannel(c, topic, { since, limit: 3 });
      const box = listen(ch);
      await joined(ch);
      await box.waitCount(3);
      await sleep(200); // nothing more comes
      assert.deepEqual(box.items.map((m) => m.payload.n), [2, 3, 4]);
      for (const [i, m] of box.items.entries()) {
        assert.equal(m.meta?.replayed, true);
        assert.equal(m.meta?.id, ids[i + 2]);
      }
      // since excludes what is older; a limit above 25 is clamped, not refused
      const c2 = client(vsn);
      const ch2 = replayChannel(c2, topic, { since: base + 250, limit: 1000 });
      const box2 = listen(ch2);
      await joined(ch2);
      await box2.waitCount(2);
      await sleep(200);
      assert.deepEqual(box2.items.map((m) => m.payload.n), [3, 4]);
    });
  }

  test('replay runs under the joining user: SELECT policies decide, and a public channel or bad params are refused', async () => {
    const c = client();
    // public channel (realtime-js refuses it itself: a raw join)
    const raw = await RawWs.open(stack.server, { apikey: token });
    raw.ws.send(encodeText('2.0.0', { join_ref: '1', ref: '1', topic: `realtime:${topicName()}`, event: 'phx_join',
      payload: { config: { private: false, broadcast: { replay: { since: 0, limit: 1 } } }, access_token: token } }));
    const j = await raw.frames.wait((f) => f.event === 'phx_reply' && f.ref === '1');
    assert.equal(j.payload.status, 'error');
    assert.match(j.payload.response.reason, /Replay is not allowed for public channels/);
    raw.ws.close();
    let r;
    // wrong types / values
    for (const replay of [{ since: 'yesterday', limit: 1 }, { since: 0, limit: -1 }, { since: 0, limit: 'x' }, { since: 1.5 }, true]) {
      const ch = replayChannel(c, topicName(), replay);
      r = await subscribe(ch);
      assert.equal(r.status, 'CHANNEL_ERROR', JSON.stringify(replay));
      assert.match(r.err.message, /UnableToReplayMessages: Replay params are not valid/);
      await c.removeChannel(ch);
    }
    // no SELECT policy for anon: the join itself is refused
    const anon = client('2.0.0', stack.token({ role: 'anon' }));
    const ch = replayChannel(anon, topicName(), { since: 0, limit: 5 });
    r = await subscribe(ch);
    assert.equal(r.status, 'CHANNEL_ERROR');
    assert.match(r.err.message, /You do not have permissions to read from this Channel topic/);
  });

  test('binary messages are replayed as binary on vsn 2.0.0 and skipped on vsn 1.0.0', async () => {
    const topic = topicName();
    const bytes = [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff];
    await stack.db.psql(`select realtime.send_binary('\\xdeadbeef00ff'::bytea, 'bin', :'topic', true)`, { topic });
    await store(topic, 'json', { after: true }, Date.now());
    await settle();
    const since = Date.now() - 10000;
    const c2 = client('2.0.0');
    const ch2 = replayChannel(c2, topic, { since, limit: 5 });
    const box2 = listen(ch2);
    await joined(ch2);
    await box2.waitCount(2);
    const bin = box2.items.find((m) => m.event === 'bin');
    assert.deepEqual([...new Uint8Array(bin.payload)], bytes);
    assert.equal(bin.meta.replayed, true);
    const c1 = client('1.0.0');
    const ch1 = replayChannel(c1, topic, { since, limit: 5 });
    const box1 = listen(ch1);
    await joined(ch1);
    await box1.wait((m) => m.event === 'json');
    await sleep(200);
    assert.equal(box1.count((m) => m.event === 'bin'), 0);
  });

  test('at the seam: live broadcasts wait for the replay, and a message stored meanwhile arrives exactly once', async () => {
    for (let round = 0; round < 3; round++) {
      const topic = topicName('seam');
      const base = Date.now() - 3000;
      for (let i = 0; i < 3; i++) await store(topic, 'm', { n: `r${i}` }, base + i * 100);
      await settle();
      const sender = client();
      const sch = sender.channel(topic, { config: { private: true, broadcast: { ack: true } } });
      await joined(sch);
      // The replay's SELECT waits behind this lock (t41_gate); inserts do not.
      const lock = await stack.db.hold('select pg_advisory_xact_lock(41)');
      const c = client();
      const ch = replayChannel(c, topic, { since: Date.now() - 60000, limit: 25 });
      const box = listen(ch);
      await joined(ch);
      assert.equal(await sch.send({ type: 'broadcast', event: 'm', payload: { n: 'live1' } }), 'ok');
      assert.deepEqual(await sch.httpSend('m', { n: 'stored' }, { persist: true }), { success: true });
      assert.equal(await sch.send({ type: 'broadcast', event: 'm', payload: { n: 'live2' } }), 'ok');
      await sleep(300);
      assert.equal(box.items.length, 0, 'nothing before the replay');
      await lock.release();
      await box.waitCount(6);
      await sleep(300);
      const ns = box.items.map((m) => m.payload.n);
      assert.deepEqual(ns.slice(0, 3), ['r0', 'r1', 'r2']);
      assert.deepEqual(ns.filter((n) => n === 'stored').length, 1, `exactly once: ${ns}`);
      assert.equal(ns.length, 6, `${ns}`);
      // Held live messages follow, each publisher's in its order (the HTTP
      // one and the socket may be on different workers: no order between them).
      assert.deepEqual([...ns.slice(3)].sort(), ['live1', 'live2', 'stored']);
      assert.ok(ns.indexOf('live1') < ns.indexOf('live2'), `${ns}`);
      assert.ok(box.items.slice(0, 3).every((m) => m.meta.replayed));
      const st = box.items.find((m) => m.payload.n === 'stored');
      assert.ok(!st.meta?.replayed && st.meta?.id, 'the stored one came live, with its id');
    }
  });

  test('persist through send (vsn 2.0.0): stored under the sender, delivered live once with meta.id, replayed later', async () => {
    const topic = topicName();
    const sender = client();
    const sch = sender.channel(topic, { config: { private: true, broadcast: { ack: true } } });
    const rc = client('1.0.0');
    const rch = rc.channel(topic, { config: { private: true } });
    const live = listen(rch);
    await joined(sch);
    await joined(rch);
    assert.equal(await sch.send({ type: 'broadcast', event: 'p', payload: { v: 1 }, persist: true }), 'ok');
    assert.equal(await sch.send({ type: 'broadcast', event: 'p', payload: { v: 2 }, persist: { ttl: 1 } }), 'ok');
    await live.waitCount(2);
    assert.ok(live.items.every((m) => /^[0-9a-f-]{36}$/.test(m.meta?.id) && !m.meta.replayed));
    const rows = await stack.db.rows(`select id::text, payload, tc_delivered, tc_expires_at is not null as ttl
      from realtime.messages where topic = '${topic}' order by inserted_at`);
    assert.deepEqual(rows.map((r) => [r.payload.v, r.tc_delivered, r.ttl]), [[1, true, false], [2, true, true]]);
    assert.deepEqual(rows.map((r) => r.id), live.items.map((m) => m.meta.id));
    await sleep(1500); // the second one's ttl passes
    const c = client();
    const ch = replayChannel(c, topic, { since: Date.now() - 60000, limit: 10 });
    const box = listen(ch);
    await joined(ch);
    await box.waitCount(1);
    await sleep(200);
    assert.deepEqual(box.items.map((m) => [m.payload.v, m.meta.replayed, m.meta.id]), [[1, true, rows[0].id]]);
    // realtime-js itself refuses persist on vsn 1.0.0 and on public channels
    const v1 = client('1.0.0');
    const v1ch = v1.channel(topic, { config: { private: true, broadcast: { ack: true } } });
    await joined(v1ch);
    assert.equal(await v1ch.send({ type: 'broadcast', event: 'p', payload: {}, persist: true }), 'error');
  });

  test('persist refused by the server: read-only topic, bad ttl, public channel (raw frames)', async () => {
    for (const [topic, priv, meta, want] of [
      [topicName('ro'), true, '{"persist":true}', /You do not have permissions to write to this Channel topic/],
      [topicName(), true, '{"persist":{"ttl":-1}}', /persist.ttl must be a positive integer/],
      [topicName(), true, '{"persist":"yes"}', /persist must be true, false/],
      [topicName(), false, '{"persist":true}', /persist is only available on private channels/],
    ]) {
      const raw = await RawWs.open(stack.server, { apikey: token });
      const t = `realtime:${topic}`;
      raw.ws.send(encodeText('2.0.0', { join_ref: '1', ref: '1', topic: t, event: 'phx_join',
        payload: { config: { private: priv, broadcast: { ack: true } }, access_token: token } }));
      const j = await raw.frames.wait((f) => f.event === 'phx_reply' && f.ref === '1');
      assert.equal(j.payload.status, 'ok');
      raw.ws.send(encodeUserBroadcastPush({ join_ref: '1', ref: '2', topic: t, event: 'e', meta, payload: { a: 1 } }));
      const r = await raw.frames.wait((f) => f.event === 'phx_reply' && f.ref === '2');
      assert.equal(r.payload.status, 'error');
      assert.match(r.payload.response.error ?? r.payload.response.reason, want);
      raw.ws.close();
    }
  });

  test('httpSend: private allowed reaches the private channel only, persisted is replayed (across a server restart), refused names the topic', async () => {
    const topic = topicName();
    for (const vsn of VSNS) {
      const rc = client(vsn);
      const priv = rc.channel(topic, { config: { private: true } });
      const pub = client(vsn).channel(topic, { config: {} }); // a client has one channel per topic
      const pbox = listen(priv);
      const ubox = listen(pub);
      await joined(priv);
      await joined(pub);
      const sender = client();
      const sch = sender.channel(topic, { config: { private: true } });
      assert.deepEqual(await sch.httpSend('h', { vsn }), { success: true });
      assert.deepEqual(await sch.httpSend('h', { vsn, stored: true }, { persist: true }), { success: true });
      assert.deepEqual(await sch.httpSend('h', { vsn, ttl: true }, { persist: { ttl: 600 } }), { success: true });
      if (vsn === '2.0.0') assert.deepEqual(await sch.httpSend('bin', new Uint8Array([1, 2, 3])), { success: true });
      await pbox.waitCount(vsn === '2.0.0' ? 4 : 3);
      const bin = pbox.items.find((m) => m.event === 'bin');
      if (vsn === '2.0.0') assert.deepEqual([...new Uint8Array(bin.payload)], [1, 2, 3]);
      assert.equal(pbox.items.filter((m) => m.payload?.stored).length, 1);
      assert.ok(pbox.items.find((m) => m.payload?.stored).meta.id);
      await sleep(200);
      assert.equal(ubox.items.length, 0, 'nothing reaches the public channel of that name');
      // refused: a read-only topic, and anon (no INSERT policy at all)
      const ro = topicName('ro');
      const rch = sender.channel(ro, { config: { private: true } });
      await assert.rejects(rch.httpSend('h', { x: 1 }), (e) => e.message.includes(`write to this Channel topic: ${ro}`));
      await assert.rejects(rch.httpSend('h', { x: 1 }, { persist: true }), (e) => e.message.includes(ro));
    }
    const stored = await stack.db.value(`select count(*) from realtime.messages where topic = '${topic}'`);
    assert.equal(Number(stored), 4);
    await stack.restartServer();
    const c = client();
    const ch = replayChannel(c, topic, { since: Date.now() - 60000, limit: 25 });
    const box = listen(ch);
    await joined(ch);
    await box.waitCount(4);
    await sleep(200);
    assert.equal(box.items.length, 4);
    assert.ok(box.items.every((m) => m.meta.replayed === true && (m.payload.stored || m.payload.ttl)));
  });

  test('batch endpoint: private messages authorized per topic, all or nothing, 403 naming the topic', async () => {
    const topic = topicName();
    const rc = client();
    const priv = rc.channel(topic, { config: { private: true } });
    const box = listen(priv);
    await joined(priv);
    const ok = await stack.fetch('/realtime/v1/api/broadcast', { method: 'POST', token, body: {
      messages: [{ topic, event: 'b', payload: { n: 1 }, private: true }, { topic: uid(), event: 'b', payload: {} }] } });
    assert.equal(ok.status, 202, ok.text);
    await box.wait((m) => m.payload.n === 1);
    const ro = topicName('ro');
    const no = await stack.fetch('/realtime/v1/api/broadcast', { method: 'POST', token, body: {
      messages: [{ topic, event: 'b', payload: { n: 2 }, private: true }, { topic: ro, event: 'b', payload: {}, private: true }] } });
    assert.equal(no.status, 403, no.text);
    assert.match(no.json.error, new RegExp(`write to this Channel topic: ${ro}`));
    await sleep(300);
    assert.equal(box.count((m) => m.payload.n === 2), 0, 'nothing of a refused batch is published');
    // anon's token has no INSERT policy
    const anon = await stack.fetch('/realtime/v1/api/broadcast', { method: 'POST', token: stack.anonKey, body: {
      messages: [{ topic, event: 'b', payload: {}, private: true }] } });
    assert.equal(anon.status, 403);
  });

  test('hostile HTTP inputs are refused cleanly', async () => {
    const topic = encodeURIComponent(topicName());
    const url = (q) => `/realtime/v1/api/broadcast/${topic}/events/e?${q}`;
    const post = (q, body, headers = {}) => stack.fetch(url(q), { method: 'POST', token, body, headers });
    let r = await post('private=true&persist=true', '{"a":', { 'content-type': 'application/json' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /not valid JSON/);
    r = await post('private=true&persist=true', '{"a":"\\u0000"}', { 'content-type': 'application/json' });
    assert.equal(r.status, 400, r.text); // jansson or jsonb: either refuses a NUL
    r = await post('private=true&persist%5Bttl%5D=abc', '{}', { 'content-type': 'application/json' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /persist\[ttl\] must be a positive integer/);
    r = await post('private=true&persist=yes', '{}', { 'content-type': 'application/json' });
    assert.equal(r.status, 400);
    r = await post('persist=true', '{}', { 'content-type': 'application/json' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /only available on private channels/);
    r = await post('private=true&persist=true', JSON.stringify({ big: 'x'.repeat(2 * 1024 * 1024) }),
      { 'content-type': 'application/json' });
    assert.equal(r.status, 413);
    const rows = await stack.db.value(`select count(*) from realtime.messages where topic = '${decodeURIComponent(topic)}'`);
    assert.equal(Number(rows), 0);
    // the server is still well
    assert.equal((await stack.fetch('/health')).status, 200);
  });
});
