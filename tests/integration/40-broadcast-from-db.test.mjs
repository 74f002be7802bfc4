// Broadcast from the database: rows inserted into realtime.messages
// (realtime.send, realtime.send_binary, realtime.broadcast_changes from a
// trigger) reach the channel they name over the same replication stream as
// Postgres Changes; private ones only subscribers of the private channel
// whose realtime.messages SELECT policies admitted them at join; and a
// join's config.broadcast.replication_ready gets supabase/realtime's system
// message. Stock supabase-js clients, both protocol versions, a real
// PostgreSQL set up as supabase/realtime's end-to-end check sets it up.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Inbox, T, VSNS, WebSocket, startServer, subscribe, teardown, waitFor } from './harness.mjs';
import { DEMO, DEMO_PASSWORD, startStack } from './dbharness.mjs';

const READY = { extension: 'system', status: 'ok', message: 'Replication connection established' };

// As test/e2e/realtime-check.ts of supabase/realtime: policies for topic:%,
// a table whose trigger calls realtime.broadcast_changes.
const SETUP = `
create policy "e2e receive on topic" on realtime.messages as permissive
  for select to authenticated using (realtime.topic() like 'topic:%');
create policy "e2e broadcast on topic" on realtime.messages as permissive
  for insert to authenticated with check (realtime.topic() like 'topic:%');
create table public.broadcast_changes (id text primary key, value text not null, topic text not null);
alter table public.broadcast_changes enable row level security;
create policy "e2e full access" on public.broadcast_changes as permissive for all to authenticated using (true);
grant select, insert, update, delete on public.broadcast_changes to authenticated;
create function public.broadcast_changes_for_table_trigger() returns trigger language plpgsql as $$
declare topic text;
begin
  topic = coalesce(new.topic, old.topic);
  perform realtime.broadcast_changes(topic, tg_op, tg_op, tg_table_name, tg_table_schema, new, old, tg_level);
  return null;
end $$;
create trigger broadcast_changes_trigger after insert or update or delete on public.broadcast_changes
  for each row execute function public.broadcast_changes_for_table_trigger();
`;

const lit = (s) => `'${String(s).replaceAll("'", "''")}'`;
const newTopic = () => `topic:${crypto.randomUUID()}`;

describe('broadcast from the database', { timeout: 180000 }, () => {
  let stack;
  const extra = [];

  before(async () => {
    stack = await startStack();
    await stack.db.psql(SETUP);
  });
  after(async () => {
    await teardown(...extra);
    await stack?.stop();
  });

  /** A supabase-js client of vsn signed in as email (or anon). */
  async function clientFor(vsn, email) {
    const c = stack.client(stack.anonKey, { realtime: { transport: WebSocket, vsn } });
    if (email) {
      const { error } = await c.auth.signInWithPassword({ email, password: DEMO_PASSWORD });
      assert.ifError(error);
    }
    return c;
  }

  /** Joins topic with config; resolves {ch, box (broadcasts), sys (system messages), status, message}. */
  async function open(client, topic, config, { expect = 'SUBSCRIBED' } = {}) {
    const ch = client.channel(topic, { config });
    const box = new Inbox(`broadcasts on ${topic}`);
    const sys = new Inbox(`system on ${topic}`);
    ch.on('broadcast', { event: '*' }, (m) => box.push(m));
    ch.on('system', {}, (m) => sys.push(m));
    const st = await subscribe(ch, { timeout: T(10000) });
    if (expect) assert.equal(st.status, expect, `${topic}: ${st.err?.message}`);
    return { ch, box, sys, status: st.status, message: st.err?.message ?? '' };
  }

  const sql = (q) => stack.db.psql(q);

  for (const vsn of VSNS) {
    test(`vsn ${vsn}: replication_ready, then realtime.send on a private channel, with meta.id`, async () => {
      const alice = await clientFor(vsn, DEMO.alice.email);
      const topic = newTopic();
      const c = await open(alice, topic, { private: true, broadcast: { replication_ready: true } });
      const ready = await c.sys.wait((m) => m.extension === 'system', { timeout: T(10000), message: 'replication ready' });
      assert.deepEqual(ready, { ...READY, channel: topic });

      await sql(`select realtime.send('{"hello": "world", "n": [1, 2.5, null]}', 'greet', ${lit(topic)}, true)`);
      const m = await c.box.wait((x) => x.event === 'greet', { timeout: T(5000) });
      const [row] = await stack.db.rows(`select id from realtime.messages where topic = ${lit(topic)}`);
      assert.equal(m.type, 'broadcast');
      assert.deepEqual(m.payload, { hello: 'world', n: [1, 2.5, null], id: row.id });
      assert.deepEqual(m.meta, { id: row.id });
      await alice.removeAllChannels();
    });

    test(`vsn ${vsn}: public and private messages of one topic reach only their own channel`, async () => {
      const alice = await clientFor(vsn, DEMO.alice.email);
      const anon = await clientFor(vsn);
      const topic = newTopic();
      const priv = await open(alice, topic, { private: true });
      const pub = await open(anon, topic, {});
      await sql(`select realtime.send('{"to": "private"}', 'e', ${lit(topic)}, true);
                 select realtime.send('{"to": "public"}', 'e', ${lit(topic)}, false);
                 select realtime.send('{"to": "private", "last": true}', 'e', ${lit(topic)}, true);
                 select realtime.send('{"to": "public", "last": true}', 'e', ${lit(topic)}, false);`);
      await priv.box.wait((m) => m.payload.last, { timeout: T(5000) });
      await pub.box.wait((m) => m.payload.last, { timeout: T(5000) });
      assert.deepEqual(priv.box.items.map((m) => m.payload.to), ['private', 'private']);
      assert.deepEqual(pub.box.items.map((m) => m.payload.to), ['public', 'public']);
      await alice.removeAllChannels();
      await anon.removeAllChannels();
    });

    test(`vsn ${vsn}: send_binary`, async () => {
      const alice = await clientFor(vsn, DEMO.alice.email);
      const topic = newTopic();
      const c = await open(alice, topic, { private: true });
      await sql(`select realtime.send_binary('\\xdeadbeef00ff'::bytea, 'bin', ${lit(topic)}, true);
                 select realtime.send('{"after": true}', 'marker', ${lit(topic)}, true);`);
      await c.box.wait((m) => m.event === 'marker', { timeout: T(5000) });
      const bins = c.box.items.filter((m) => m.event === 'bin');
      if (vsn === '2.0.0') {
        assert.equal(bins.length, 1);
        const got = new Uint8Array(bins[0].payload);
        assert.deepEqual([...got], [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]);
        assert.ok(bins[0].meta?.id, 'a binary broadcast carries its id too');
      } else {
        // vsn 1.0.0 has no binary form: supabase/realtime sends it nothing
        assert.equal(bins.length, 0);
      }
      await alice.removeAllChannels();
    });
  }

  test('broadcast_changes from a trigger: INSERT, UPDATE and DELETE of a REST write', async () => {
    const alice = await clientFor('2.0.0', DEMO.alice.email);
    const topic = newTopic();
    const c = await open(alice, topic, { private: true, broadcast: { replication_ready: true } });
    await c.sys.wait((m) => m.status === 'ok', { timeout: T(10000) });
    const id = crypto.randomUUID();
    let r = await alice.from('broadcast_changes').insert({ id, value: 'one', topic });
    assert.ifError(r.error);
    r = await alice.from('broadcast_changes').update({ value: 'two' }).eq('id', id);
    assert.ifError(r.error);
    r = await alice.from('broadcast_changes').delete().eq('id', id);
    assert.ifError(r.error);
    await c.box.waitCount(3, () => true, { timeout: T(5000) });
    const [ins, upd, del] = c.box.items.map((m) => ({ event: m.event, ...m.payload }));
    assert.equal(ins.event, 'INSERT');
    assert.equal(ins.operation, 'INSERT');
    assert.equal(ins.schema, 'public');
    assert.equal(ins.table, 'broadcast_changes');
    assert.deepEqual(ins.record, { id, value: 'one', topic });
    assert.equal(ins.old_record, null);
    assert.equal(upd.event, 'UPDATE');
    assert.deepEqual(upd.record, { id, value: 'two', topic });
    assert.deepEqual(upd.old_record, { id, value: 'one', topic });
    assert.equal(del.event, 'DELETE');
    assert.equal(del.record, null);
    assert.deepEqual(del.old_record, { id, value: 'two', topic });
    await alice.removeAllChannels();
  });

  test('a subscriber whose policies refuse the topic never joins and never receives', async () => {
    const [booking] = await stack.db.rows(
      `select id from public.bookings where customer_id = '${DEMO.alice.id}' and technician_id is not null order by id limit 1`);
    const topic = `chat:${booking.id}`;
    const alice = await clientFor('2.0.0', DEMO.alice.email);
    const bob = await clientFor('2.0.0', DEMO.bob.email);
    const anon = await clientFor('1.0.0');
    const a = await open(alice, topic, { private: true });
    const b = await open(bob, topic, { private: true }, { expect: 'CHANNEL_ERROR' });
    assert.match(b.message, /You do not have permissions to read from this Channel topic/);
    const p = await open(anon, topic, {}); // the public channel of the same name is another topic
    await sql(`select realtime.broadcast_changes(${lit(topic)}, 'status', 'UPDATE', 'bookings', 'public', b, b)
                 from public.bookings b where b.id = ${lit(booking.id)};
               select realtime.send('{"last": true}', 'note', ${lit(topic)}, true);
               select realtime.send('{"public": true}', 'note', ${lit(topic)}, false);`);
    await a.box.wait((m) => m.payload.last, { timeout: T(5000) });
    await p.box.wait((m) => m.payload.public, { timeout: T(5000) });
    assert.equal(a.box.count(), 2);
    assert.equal(a.box.items[0].payload.record.id, booking.id);
    assert.equal(b.box.count(), 0);
    assert.equal(p.box.count(), 1, 'the public channel hears only the public message');
    await alice.removeAllChannels();
    await bob.removeAllChannels();
    await anon.removeAllChannels();
  });

  test('hostile rows are dropped cleanly and the stream goes on; a rolled-back send never arrives', async () => {
    const alice = await clientFor('2.0.0', DEMO.alice.email);
    const topic = newTopic();
    const c = await open(alice, topic, { private: true });
    const t = lit(topic);
    await sql(`
      -- over MAX_MESSAGE_BYTES (1 MiB)
      select realtime.send(jsonb_build_object('big', repeat('x', 1100000)), 'big', ${t}, true);
      -- columns missing or of the wrong kind, straight into the table
      insert into realtime.messages (topic, extension, event, private, payload) values (${t}, 'broadcast', null, true, '{}');
      insert into realtime.messages (topic, extension, event, private, payload) values (${t}, 'broadcast', 'e', null, '{}');
      insert into realtime.messages (topic, extension, event, private) values (${t}, 'broadcast', 'nopayload', true);
      insert into realtime.messages (topic, extension, event, private, payload) values (${t}, 'presence', 'pres', true, '{}');
      insert into realtime.messages (topic, extension, event, private, payload)
        values (${t}, 'broadcast', repeat('e', 300), true, '{}');
      insert into realtime.messages (topic, extension, event, private, payload)
        values (${lit('topic:' + 'x'.repeat(300))}, 'broadcast', 'long-topic', true, '{}');
      begin; select realtime.send('{"rolled": "back"}', 'rb', ${t}, true); rollback;
      -- JSON that is not an object is JSON all the same: delivered as it is
      -- (realtime.send cannot add an id to a scalar, so straight into the table)
      insert into realtime.messages (topic, extension, event, private, payload)
        values (${t}, 'broadcast', 'scalar', true, '"just a string"');
      select realtime.send('{"unicode": "é 中 😀", "quote": "\\"", "nul": "\\\\u0000"}', 'text', ${t}, true);
      select realtime.send('{"last": true}', 'last', ${t}, true);`);
    await c.box.wait((m) => m.event === 'last', { timeout: T(10000) });
    assert.deepEqual(c.box.items.map((m) => m.event), ['scalar', 'text', 'last']);
    assert.equal(c.box.items[0].payload, 'just a string');
    assert.equal(c.box.items[1].payload.unicode, 'é 中 😀');
    assert.equal(c.box.items[1].payload.quote, '"');
    // the server is fine: a new message still arrives, and /health is ok
    await sql(`select realtime.send('{"again": true}', 'again', ${t}, true)`);
    await c.box.wait((m) => m.event === 'again', { timeout: T(5000) });
    const h = await stack.fetch('/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.postgres_changes, 'streaming');
    await alice.removeAllChannels();
  });

  test('many messages in one transaction arrive all, in order', async () => {
    const alice = await clientFor('2.0.0', DEMO.alice.email);
    const topic = newTopic();
    const c = await open(alice, topic, { private: true });
    await sql(`select realtime.send(jsonb_build_object('i', i), 'n', ${lit(topic)}, true) from generate_series(1, 2000) i`);
    await c.box.waitCount(2000, () => true, { timeout: T(20000) });
    assert.deepEqual(c.box.items.map((m) => m.payload.i), Array.from({ length: 2000 }, (_, i) => i + 1));
    await alice.removeAllChannels();
  });

  test('replication_ready: an error when the stream never comes, or there is none', async () => {
    // A second server on the same database, its own slot, the messages
    // publication missing: the stream runs without it, so never ready.
    const late = await startServer({
      secret: stack.secret,
      env: { ...stack.db.serverEnv, SLOT_NAME: 'tc_test_not_ready', MESSAGES_PUBLICATION: 'no_such_publication',
        REPLICATION_READY_TIMEOUT_MS: '1000' },
    });
    extra.push(late);
    const off = await startServer({ secret: stack.secret, env: { ...stack.db.serverEnv, POSTGRES_CHANGES: 'off' } });
    extra.push(off);
    for (const server of [late, off]) {
      const { createClient } = await import('@supabase/supabase-js');
      const client = createClient(server.httpBase, stack.anonKey, {
        auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: WebSocket },
      });
      const { error } = await client.auth.signInWithPassword({ email: DEMO.alice.email, password: DEMO_PASSWORD });
      assert.ifError(error);
      const topic = newTopic();
      const c = await open(client, topic, { private: true, broadcast: { replication_ready: true } });
      const err = await c.sys.wait((m) => m.extension === 'system', { timeout: T(8000) });
      assert.deepEqual(err, { extension: 'system', status: 'error',
        message: 'Replication connection was not established in time', channel: topic });
      await waitFor(() => c.ch.state === 'closed', { timeout: T(5000), message: 'phx_close after the error' });
      await client.removeAllChannels();
    }
  });
});
