// 21. REST (the PostgREST subset) with stock supabase-js under row-level
// security: what each kind of user sees is exactly what PostgreSQL's
// policies give that user (ground truth: the same SELECT run with psql as
// the request role with the same JWT claims), customers cannot reach each
// other's data, the writes the app needs go through, and the query grammar
// (filters, order, limit, range, count, single, upsert, delete) answers
// what the equivalent SQL answers.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { T, httpPipeline, waitFor } from './harness.mjs';
import { DEMO, TABLES, decodeJwt, ids, startStack } from './dbharness.mjs';

// Demo rows (db/demo.sql).
const B = (n) => `b0000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const BID = (n) => `b1d00000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const MSG = (n) => `3e550000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const byId = (rows) => [...(rows ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

describe('REST under row-level security with supabase-js', { timeout: T(60000) }, () => {
  let stack;
  const as = {}; // name → {client, claims}
  before(async () => {
    stack = await startStack();
    for (const who of ['alice', 'bob', 'tom', 'tina', 'victor', 'admin']) as[who] = await stack.signIn(DEMO[who].email);
    as.anon = { client: stack.client(stack.anonKey), claims: decodeJwt(stack.anonKey) };
    as.service = { client: stack.client(stack.serviceKey), claims: decodeJwt(stack.serviceKey) };
  });
  after(() => stack?.stop());

  const truth = (who, sql) => stack.db.psqlAs(as[who].claims, sql);

  describe('every table, every kind of user: select(*) returns exactly what RLS gives them', () => {
    for (const who of ['alice', 'tom', 'victor', 'admin', 'anon']) {
      test(who, async () => {
        const seen = {};
        for (const t of TABLES) {
          const { data, error, status } = await as[who].client.from(t).select('*');
          assert.equal(error, null, `${who} ${t}: ${error?.message}`);
          assert.equal(status, 200);
          const expected = await truth(who, `select * from public.${t}`);
          assert.deepEqual(ids(data), ids(expected), `${who} sees the rows of ${t} that RLS admits`);
          assert.deepEqual(byId(data), byId(expected), `${who}: the rows of ${t} are the database's, column for column`);
          seen[t] = data.length;
        }
        // The comparisons above mean something only if the policies admit
        // something for signed-in users and nothing for anon.
        const expect = {
          alice: { bookings: 5, payments: 1, messages: 6 },
          tom: { bookings: 7 }, // own 4 + pending 3 (verified)
          victor: { bookings: 0, bids: 0 }, // unverified: no marketplace
          admin: { bookings: 11, bids: 12, messages: 10, payments: 3, reviews: 3 },
          anon: Object.fromEntries(TABLES.map((t) => [t, 0])),
        }[who];
        for (const [t, n] of Object.entries(expect)) assert.equal(seen[t], n, `${who}: ${t} count`);
      });
    }

    test('the service role key bypasses RLS', async () => {
      for (const t of TABLES) {
        const { data, error } = await as.service.client.from(t).select('id');
        assert.equal(error, null);
        assert.deepEqual(ids(data), ids(await stack.db.rows(`select id from public.${t}`)), t);
      }
    });
  });

  describe("a customer cannot read or write another customer's data", () => {
    let fp;
    before(async () => { fp = await stack.db.fingerprint(); });

    test("bob's booking, bids, messages and notifications are invisible to alice", async () => {
      const c = as.alice.client;
      const bobNotif = await stack.db.value(`select id from public.notifications where user_id = '${DEMO.bob.id}' limit 1`);
      assert.ok(bobNotif, 'bob has notifications in the demo data');
      for (const [t, col, val] of [['bookings', 'id', B(6)], ['bookings', 'customer_id', DEMO.bob.id], ['bids', 'id', BID(5)],
        ['bids', 'booking_id', B(6)], ['messages', 'id', MSG(7)], ['messages', 'booking_id', B(7)],
        ['notifications', 'id', bobNotif], ['notifications', 'user_id', DEMO.bob.id], ['payments', 'customer_id', DEMO.bob.id]]) {
        const { data, error } = await c.from(t).select('*').eq(col, val);
        assert.equal(error, null);
        assert.deepEqual(data, [], `${t}.${col} = bob's`);
      }
    });

    test('updates and deletes of his rows affect 0 rows', async () => {
      const c = as.alice.client;
      const bobNotif = await stack.db.value(`select id from public.notifications where user_id = '${DEMO.bob.id}' limit 1`);
      for (const [t, patch, id] of [['bookings', { description: 'pwned' }, B(6)], ['bids', { status: 'rejected' }, BID(5)],
        ['notifications', { read_at: new Date().toISOString() }, bobNotif]]) {
        const u = await c.from(t).update(patch, { count: 'exact' }).eq('id', id).select();
        assert.equal(u.error, null, `update ${t}: ${u.error?.message}`);
        assert.deepEqual(u.data, [], `update ${t}`);
        assert.equal(u.count, 0);
        const d = await c.from(t).delete({ count: 'exact' }).eq('id', id).select();
        assert.equal(d.error, null, `delete ${t}`);
        assert.deepEqual(d.data, [], `delete ${t}`);
        assert.equal(d.count, 0);
      }
      const m = await c.from('messages').delete().eq('booking_id', B(7)).select();
      assert.deepEqual(m.data, []);
    });

    test("inserts in someone else's name → 42501, 403 (401 for anon)", async () => {
      const c = as.alice.client;
      const cases = [
        ['bookings', { customer_id: DEMO.bob.id, service: 'Booked for bob' }],
        ['messages', { booking_id: B(7), sender_id: DEMO.alice.id, body: 'into bob’s chat' }], // not her booking
        ['messages', { booking_id: B(2), sender_id: DEMO.tom.id, body: 'pretending to be tom' }], // her booking, not her name
        ['notifications', { user_id: DEMO.bob.id, type: 'spam', title: 'hi bob' }],
        ['bids', { booking_id: B(1), technician_id: DEMO.tom.id, amount: 1 }],
        ['payments', { booking_id: B(4), amount: 1 }],
      ];
      for (const [t, row] of cases) {
        const { error, status, data } = await c.from(t).insert(row).select();
        assert.equal(error?.code, '42501', `${t} ${JSON.stringify(row)}: ${error?.message}`);
        assert.equal(status, 403, t);
        assert.equal(data, null);
      }
      for (const [t, row] of cases) {
        const { error, status } = await as.anon.client.from(t).insert(row);
        assert.equal(error?.code, '42501', `anon ${t}`);
        assert.equal(status, 401, `anon ${t}`);
      }
    });

    test('anon can call nothing private either', async () => {
      const r = await as.anon.client.rpc('accept_bid', { bid_id: BID(1) });
      assert.equal(r.status, 401);
      assert.equal(r.error?.code, '42501');
      const u = await as.anon.client.from('bookings').update({ description: 'x' }).eq('id', B(1)).select();
      assert.deepEqual(u.data, []);
      const { count } = await as.anon.client.from('profiles').select('*', { count: 'exact', head: true });
      assert.equal(count, 0);
    });

    test('nothing above changed a row', async () => {
      assert.deepEqual(await stack.db.fingerprint(), fp);
    });
  });

  describe('the writes the app needs', () => {
    let booking, tinaBid, tomBid;

    test('a customer creates a booking', async () => {
      const row = { customer_id: DEMO.alice.id, service: 'Fix garage door', description: 'Spring snapped', address: '12 Elm Street, Springfield',
        price: 140.5, scheduled_at: new Date(Date.now() + 86400e3).toISOString() };
      const { data, error, status } = await as.alice.client.from('bookings').insert(row).select().single();
      assert.equal(error, null, error?.message);
      assert.equal(status, 201);
      assert.equal(data.status, 'pending');
      assert.equal(data.technician_id, null);
      assert.equal(data.customer_id, DEMO.alice.id);
      assert.equal(Number(data.price), 140.5);
      booking = data;
      assert.equal(await stack.db.value(`select status from public.bookings where id = '${booking.id}'`), 'pending');
      // Not as someone else's technician, not already accepted.
      const bad = await as.alice.client.from('bookings').insert({ ...row, status: 'accepted', technician_id: DEMO.tom.id }).select();
      assert.equal(bad.error?.code, '42501');
      // A technician cannot create bookings.
      const tech = await as.tom.client.from('bookings').insert({ customer_id: DEMO.tom.id, service: 'x' }).select();
      assert.equal(tech.error?.code, '42501');
    });

    test('verified technicians bid on it; an unverified one cannot', async () => {
      const t = await as.tina.client.from('bids').insert({ booking_id: booking.id, technician_id: DEMO.tina.id, amount: 120, message: 'Tomorrow 9am' }).select().single();
      assert.equal(t.error, null, t.error?.message);
      assert.equal(t.status, 201);
      tinaBid = t.data;
      const m = await as.tom.client.from('bids').insert({ booking_id: booking.id, technician_id: DEMO.tom.id, amount: 130 }).select().single();
      assert.equal(m.error, null);
      tomBid = m.data;
      const v = await as.victor.client.from('bids').insert({ booking_id: booking.id, technician_id: DEMO.victor.id, amount: 50 }).select();
      assert.equal(v.error?.code, '42501');
      assert.equal(v.status, 403);
      // Sealed bids: tina sees her bid only; alice sees both.
      assert.deepEqual(ids((await as.tina.client.from('bids').select('id').eq('booking_id', booking.id)).data), [tinaBid.id]);
      assert.deepEqual(ids((await as.alice.client.from('bids').select('id').eq('booking_id', booking.id)).data), ids([tinaBid, tomBid]));
      // The trigger told alice.
      assert.equal(await stack.db.value(`select count(*) from public.notifications where user_id = '${DEMO.alice.id}' and type = 'new_bid' and data->>'booking_id' = '${booking.id}'`), 2);
    });

    test("the customer accepts a bid with rpc('accept_bid'); others cannot", async () => {
      const bob = await as.bob.client.rpc('accept_bid', { bid_id: tinaBid.id });
      assert.equal(bob.error?.code, 'P0002', 'a bid on someone else’s booking is "not found"');
      assert.equal(await stack.db.value(`select status from public.bids where id = '${tinaBid.id}'`), 'pending');

      const { data, error, status } = await as.alice.client.rpc('accept_bid', { bid_id: tinaBid.id });
      assert.equal(error, null, error?.message);
      assert.equal(status, 200);
      assert.equal(data.id, booking.id);
      assert.equal(data.status, 'accepted');
      assert.equal(data.technician_id, DEMO.tina.id);
      assert.equal(Number(data.price), 120);
      const bids = await stack.db.rows(`select id, status from public.bids where booking_id = '${booking.id}' order by amount`);
      assert.deepEqual(bids, [{ id: tinaBid.id, status: 'accepted' }, { id: tomBid.id, status: 'rejected' }]);
      const again = await as.alice.client.rpc('accept_bid', { bid_id: tomBid.id });
      assert.equal(again.error?.code, '23514', 'the booking is already accepted');
    });

    /** Bob's new booking with bids from tina and tom, both accepted at
     * once. With lockFirst, the superuser holds the booking's row lock
     * until both calls wait on it, so they run truly side by side. */
    async function raceAccepts(tag, { lockFirst = false } = {}) {
      const { data: bk } = await as.bob.client.from('bookings').insert({ customer_id: DEMO.bob.id, service: `Race ${tag}` }).select().single();
      const { data: b1 } = await as.tina.client.from('bids').insert({ booking_id: bk.id, technician_id: DEMO.tina.id, amount: 10 }).select().single();
      const { data: b2 } = await as.tom.client.from('bids').insert({ booking_id: bk.id, technician_id: DEMO.tom.id, amount: 11 }).select().single();
      assert.ok(bk && b1 && b2);
      const lock = lockFirst ? await stack.db.hold(`select 1 from public.bookings where id = '${bk.id}' for update`) : null;
      const calls = Promise.all([b1, b2].map((b) => as.bob.client.rpc('accept_bid', { bid_id: b.id })));
      if (lock) {
        try {
          await waitFor(async () => Number(await stack.db.value(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '%accept_bid%' and pid <> pg_backend_pid()")) === 2,
          { timeout: T(10000), interval: 20, message: 'both accept_bid calls to wait on the booking lock' });
        } finally {
          await lock.release();
        }
      }
      return { bk, bids: [b1, b2], results: await calls };
    }

    test('two accepts racing on one booking: exactly one wins', async () => {
      for (const lockFirst of [false, true]) {
        const { bk, bids: [b1, b2], results } = await raceAccepts(`lock ${lockFirst}`, { lockFirst });
        const won = results.filter((r) => !r.error);
        assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.error?.message ?? 'ok')));
        // The loser: "the booking is already accepted" (23514). A deadlock
        // (40P01) was possible when accept_bid locked the bid first.
        assert.equal(results.find((r) => r.error).error.code, '23514');
        const winner = won[0].data.technician_id === DEMO.tina.id ? b1 : b2;
        const db = await stack.db.rows(`select b.id, b.status, k.status as booking, k.technician_id from public.bids b join public.bookings k on k.id = b.booking_id where k.id = '${bk.id}' order by b.id`);
        assert.equal(db.length, 2);
        for (const r of db) {
          assert.equal(r.status, r.id === winner.id ? 'accepted' : 'rejected');
          assert.equal(r.booking, 'accepted');
          assert.equal(r.technician_id, winner.technician_id);
        }
      }
    });

    test('the losing accept gets "already accepted", not a deadlock', async () => {
      const { results } = await raceAccepts('forced', { lockFirst: true });
      const lost = results.find((r) => r.error);
      assert.ok(lost);
      assert.equal(lost.error.code, '23514', `HTTP ${lost.status} ${lost.error.code} ${lost.error.message}`);
    });

    test('both parties chat; the losing bidder cannot read or write the chat', async () => {
      const a = await as.alice.client.from('messages').insert({ booking_id: booking.id, sender_id: DEMO.alice.id, body: 'Side gate is open' }).select().single();
      assert.equal(a.error, null, a.error?.message);
      const t = await as.tina.client.from('messages').insert({ booking_id: booking.id, sender_id: DEMO.tina.id, body: 'See you at 9' }).select().single();
      assert.equal(t.error, null, t.error?.message);
      for (const who of ['alice', 'tina']) {
        const { data } = await as[who].client.from('messages').select('id, body, sender_id').eq('booking_id', booking.id).order('created_at');
        assert.deepEqual(ids(data), ids([a.data, t.data]), who);
      }
      const tom = await as.tom.client.from('messages').select('*').eq('booking_id', booking.id);
      assert.deepEqual(tom.data, []);
      const w = await as.tom.client.from('messages').insert({ booking_id: booking.id, sender_id: DEMO.tom.id, body: 'me too' });
      assert.equal(w.error?.code, '42501');
      // Each message notified the other party.
      assert.equal(await stack.db.value(`select count(*) from public.notifications where type = 'new_message' and data->>'booking_id' = '${booking.id}'`), 2);
    });

    test('an admin verifies victor; victor then sees the marketplace', async () => {
      // victor may not verify himself, tom may not verify him.
      const self = await as.victor.client.from('technicians').update({ is_verified: true }).eq('id', DEMO.victor.id).select();
      assert.equal(self.error?.code, '42501');
      const other = await as.tom.client.from('technicians').update({ is_verified: true }).eq('id', DEMO.victor.id).select();
      assert.deepEqual(other.data, []);
      assert.equal(await stack.db.value(`select is_verified from public.technicians where id = '${DEMO.victor.id}'`), false);

      const { data, error } = await as.admin.client.from('technicians').update({ is_verified: true }).eq('id', DEMO.victor.id).select().single();
      assert.equal(error, null, error?.message);
      assert.equal(data.is_verified, true);
      assert.ok(data.verified_at);
      assert.equal(await stack.db.value(`select count(*) from public.notifications where user_id = '${DEMO.victor.id}' and type = 'verification' and title = 'Your account is verified'`), 1);
      const seen = await as.victor.client.from('bookings').select('id');
      const expected = await truth('victor', "select id from public.bookings");
      assert.ok(expected.length > 0);
      assert.deepEqual(ids(seen.data), ids(expected));
    });
  });

  describe('the query grammar answers what SQL answers', () => {
    const q = () => as.admin.client.from('bookings');
    const sqlIds = (where, tail = '') => truth('admin', `select id from public.bookings where ${where} ${tail}`);

    test('eq, neq, lt, lte, gt, gte, in, is, like, ilike, not', async () => {
      const cases = [
        [q().select('id').eq('status', 'pending'), "status = 'pending'"],
        [q().select('id').neq('status', 'pending'), "status <> 'pending'"],
        [q().select('id').lt('price', 100), 'price < 100'],
        [q().select('id').lte('price', 100), 'price <= 100'],
        [q().select('id').gt('price', 100), 'price > 100'],
        [q().select('id').gte('price', 100), 'price >= 100'],
        [q().select('id').in('status', ['accepted', 'completed']), "status in ('accepted', 'completed')"],
        [q().select('id').is('technician_id', null), 'technician_id is null'],
        [q().select('id').not('technician_id', 'is', null), 'technician_id is not null'],
        [q().select('id').like('service', '%ea%'), "service like '%ea%'"],
        [q().select('id').like('service', '*ea*'), "service like '%ea%'"],
        [q().select('id').ilike('service', '%LEAK%'), "service ilike '%leak%'"],
        [q().select('id').not('status', 'eq', 'pending'), "not (status = 'pending')"],
        [q().select('id').not('status', 'in', '(pending,cancelled)'), "status not in ('pending', 'cancelled')"],
        [q().select('id').gte('price', 75).lt('price', 130).eq('customer_id', DEMO.alice.id), `price >= 75 and price < 130 and customer_id = '${DEMO.alice.id}'`],
        [q().select('id').or('status.eq.cancelled,price.gt.140'), "status = 'cancelled' or price > 140"],
      ];
      for (const [query, where] of cases) {
        const { data, error } = await query;
        assert.equal(error, null, `${where}: ${error?.message}`);
        const expected = await sqlIds(where);
        assert.deepEqual(ids(data), ids(expected), where);
        assert.ok(expected.length > 0 || where.includes('ea'), `the case "${where}" selects something`);
      }
    });

    test('order, limit, range', async () => {
      const ord = 'order by price desc nulls first, id asc';
      const all = (await sqlIds('true', ord)).map((r) => r.id);
      const o = await q().select('id').order('price', { ascending: false, nullsFirst: true }).order('id');
      assert.deepEqual(o.data.map((r) => r.id), all);
      const l = await q().select('id').order('price', { ascending: false, nullsFirst: true }).order('id').limit(3);
      assert.deepEqual(l.data.map((r) => r.id), all.slice(0, 3));
      const r = await q().select('id').order('price', { ascending: false, nullsFirst: true }).order('id').range(2, 4);
      assert.deepEqual(r.data.map((x) => x.id), all.slice(2, 5));
      const asc = await q().select('id,price').order('price').order('id');
      assert.deepEqual(asc.data.map((x) => x.id), (await sqlIds('true', 'order by price asc nulls last, id')).map((x) => x.id));
    });

    test("count: 'exact' → count and Content-Range; head: true → no body", async () => {
      const total = (await sqlIds("status = 'pending'")).length;
      assert.ok(total >= 3);
      const c = await q().select('id', { count: 'exact' }).eq('status', 'pending').order('id').range(0, 1);
      assert.equal(c.error, null);
      assert.equal(c.count, total);
      assert.equal(c.data.length, 2);
      assert.equal(c.status, 206, 'a partial answer');
      const h = await q().select('*', { count: 'exact', head: true }).eq('status', 'pending');
      assert.equal(h.count, total);
      assert.equal(h.data, null);
      // On the wire.
      const raw = await stack.fetch('/rest/v1/bookings?select=id&status=eq.pending&order=id', {
        token: as.admin.session.access_token, headers: { prefer: 'count=exact', range: '0-1' },
      });
      assert.equal(raw.status, 206);
      assert.equal(raw.headers.get('content-range'), `0-1/${total}`);
      const plain = await stack.fetch('/rest/v1/bookings?select=id&status=eq.pending', { token: as.admin.session.access_token });
      assert.equal(plain.status, 200);
      assert.equal(plain.headers.get('content-range'), `0-${total - 1}/*`);
      // As alice the count is of her rows only.
      const mine = await as.alice.client.from('bookings').select('*', { count: 'exact', head: true });
      assert.equal(mine.count, (await truth('alice', 'select id from public.bookings')).length);
      // HEAD answers (a count, two refusals) on one kept-alive connection,
      // as fetch's pool reuses it: no body, so the next answer reads intact.
      // (Not an unknown table: that reloads the schema cache, and the cache
      // test below needs its own reload.)
      const headers = { apikey: stack.anonKey, authorization: `Bearer ${as.admin.session.access_token}`, prefer: 'count=exact' };
      const { responses, rest } = await httpPipeline(stack.server.port, [
        { method: 'HEAD', path: '/rest/v1/bookings?select=id&status=eq.pending', headers },
        { method: 'HEAD', path: '/rest/v1/bookings?status=nosuchop.x', headers },
        { method: 'HEAD', path: '/rest/v1/bookings', headers: { ...headers, authorization: 'Bearer not-a-token' } },
        { method: 'GET', path: '/rest/v1/bookings?select=id&status=eq.pending', headers },
      ]);
      assert.equal(rest.length, 0, `bytes after the last answer: ${JSON.stringify(rest.toString().slice(0, 120))}`);
      assert.deepEqual(responses.map((r) => r.status), [200, 400, 401, 200]);
      assert.equal(responses[0].headers['content-range'], `0-${total - 1}/${total}`);
      assert.equal(JSON.parse(responses[3].body).length, total);
    });

    test('single() and maybeSingle()', async () => {
      const one = await q().select('*').eq('id', B(1)).single();
      assert.equal(one.error, null);
      assert.equal(one.data.id, B(1));
      assert.ok(!Array.isArray(one.data));
      const many = await q().select('*').eq('status', 'pending').single();
      assert.equal(many.status, 406);
      assert.equal(many.error?.code, 'PGRST116');
      assert.equal(many.data, null);
      const none = await q().select('*').eq('id', crypto.randomUUID()).single();
      assert.equal(none.status, 406);
      assert.equal(none.error?.code, 'PGRST116');
      // Invisible is the same as missing: bob's booking for alice.
      const hidden = await as.alice.client.from('bookings').select('*').eq('id', B(6)).single();
      assert.equal(hidden.status, 406);
      const m0 = await q().select('*').eq('id', crypto.randomUUID()).maybeSingle();
      assert.equal(m0.error, null);
      assert.equal(m0.data, null);
      const m1 = await q().select('*').eq('id', B(2)).maybeSingle();
      assert.equal(m1.data?.id, B(2));
      const m2 = await q().select('*').eq('status', 'pending').maybeSingle();
      assert.equal(m2.error?.code, 'PGRST116');
    });

    test('insert(...).select().single() that writes 2 rows → 406 and rolled back', async () => {
      const service = `Rolled back ${crypto.randomUUID()}`;
      const rows = [1, 2].map(() => ({ customer_id: DEMO.alice.id, service, price: 10 }));
      const { error, status } = await as.alice.client.from('bookings').insert(rows).select().single();
      assert.equal(status, 406);
      assert.equal(error?.code, 'PGRST116');
      assert.equal(await stack.db.value(`select count(*) from public.bookings where service = '${service}'`), 0);
      // Without single() the insert commits both.
      const ok = await as.alice.client.from('bookings').insert(rows).select();
      assert.equal(ok.status, 201);
      assert.equal(ok.data.length, 2);
      assert.equal(await stack.db.value(`select count(*) from public.bookings where service = '${service}'`), 2);
      // An update of those 2 rows with single() → 406, rolled back too.
      const upd = await as.alice.client.from('bookings').update({ description: 'both' }).eq('service', service).select().single();
      assert.equal(upd.status, 406);
      assert.equal(upd.error?.code, 'PGRST116');
      assert.equal(await stack.db.value(`select count(*) from public.bookings where service = '${service}' and description = 'both'`), 0);
      // And a delete of both.
      const del = await as.admin.client.from('bookings').delete().eq('service', service).select().single();
      assert.equal(del.status, 406);
      assert.equal(await stack.db.value(`select count(*) from public.bookings where service = '${service}'`), 2);
    });

    test('upsert: merge an existing row and insert a new one', async () => {
      const existing = await stack.db.value(`select id from public.bookings where customer_id = '${DEMO.alice.id}' and status = 'pending' order by created_at limit 1`);
      const fresh = crypto.randomUUID();
      const rows = [
        { id: existing, customer_id: DEMO.alice.id, service: 'Leaking kitchen faucet', description: 'Upserted description' },
        { id: fresh, customer_id: DEMO.alice.id, service: 'Upserted new booking', description: 'New' },
      ];
      const { data, error, status } = await as.alice.client.from('bookings').upsert(rows).select();
      assert.equal(error, null, error?.message);
      assert.equal(status, 201);
      assert.deepEqual(ids(data), ids(rows));
      const db = await stack.db.rows(`select id, description, status from public.bookings where id in ('${existing}', '${fresh}') order by description`);
      assert.deepEqual(db, [{ id: fresh, description: 'New', status: 'pending' }, { id: existing, description: 'Upserted description', status: 'pending' }]);
      // ignoreDuplicates leaves the existing row alone.
      const ign = await as.alice.client.from('bookings').upsert([{ id: existing, customer_id: DEMO.alice.id, service: 'Leaking kitchen faucet', description: 'Ignored' }], { ignoreDuplicates: true }).select();
      assert.equal(ign.error, null);
      assert.deepEqual(ign.data, []);
      assert.equal(await stack.db.value(`select description from public.bookings where id = '${existing}'`), 'Upserted description');
      // Upserting onto bob's booking is refused (his row is not hers to update).
      const bob = await as.alice.client.from('bookings').upsert([{ id: B(6), customer_id: DEMO.alice.id, service: 'Dishwasher leaking', description: 'stolen' }]).select();
      assert.ok(bob.error, 'upsert onto another customer’s row fails');
      assert.equal(await stack.db.value(`select customer_id from public.bookings where id = '${B(6)}'`), DEMO.bob.id);
    });

    test('delete with return=representation returns the deleted rows', async () => {
      const [n] = await stack.db.rows(`select id, title from public.notifications where user_id = '${DEMO.alice.id}' order by created_at limit 1`);
      assert.ok(n);
      const { data, error, status } = await as.alice.client.from('notifications').delete().eq('id', n.id).select('id, title');
      assert.equal(error, null);
      assert.equal(status, 200);
      assert.deepEqual(data, [n]);
      assert.equal(await stack.db.value(`select count(*) from public.notifications where id = '${n.id}'`), 0);
      const min = await as.alice.client.from('notifications').delete().eq('id', n.id);
      assert.equal(min.status, 204);
      assert.equal(min.data, null);
    });
  });

  describe('the schema cache', () => {
    test('a table created after start is served once it is named (the cache reloads)', async () => {
      await stack.db.psql('create table public.late_table (id int primary key, v text);\n' +
        "insert into public.late_table values (1, 'one');\n" +
        'alter table public.late_table enable row level security;\n' +
        "create policy \"read own\" on public.late_table for select to authenticated using (v = 'one');\n");
      const svc = await as.service.client.from('late_table').select('*');
      assert.equal(svc.error, null, svc.error?.message);
      assert.deepEqual(svc.data, [{ id: 1, v: 'one' }]);
      const alice = await as.alice.client.from('late_table').select('id');
      assert.deepEqual(alice.data, [{ id: 1 }]);
      const anon = await as.anon.client.from('late_table').select('id');
      assert.deepEqual(anon.data, []);
    });
  });
});
