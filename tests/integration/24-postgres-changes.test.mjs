// Postgres Changes with TechCare's schema, RLS and demo users: every
// subscription of the seed's sections 6.1 (customer), 6.2 (technician) and
// 6.3 (admin), with the seed's channel names and filters, receives exactly
// the changes it should, and nothing another user's row-level security
// hides. Real PostgreSQL (logical replication), real supabase-js.
//
// Absence is asserted without sleeping: after the expected changes, one
// transaction commits a marker change per subscription (a change that
// subscription must receive); per subscription changes arrive in commit
// order, so once its marker is in, everything committed before it has been
// delivered and the inbox can be compared exactly. Subscriptions that must
// receive nothing at all share their channel (one topic, one ordered stream)
// with a binding that receives the marker.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Inbox, T, subscribe, waitFor } from './harness.mjs';
import { DEMO, startStack } from './dbharness.mjs';

const uuid = () => crypto.randomUUID();
const PAYLOAD_KEYS = ['commit_timestamp', 'errors', 'eventType', 'new', 'old', 'schema', 'table'];

/** "EVENT table id" of a change, the row's id taken from the image the
 * event is about. */
const tag = (p) => `${p.eventType} ${p.table} ${p.eventType === 'DELETE' ? p.old?.id : p.new?.id}`;

/** The payload shape realtime-js builds from the server's data. */
function checkShape(p, label) {
  assert.deepEqual(Object.keys(p).sort(), PAYLOAD_KEYS, `${label}: payload keys`);
  assert.equal(p.schema, 'public', label);
  assert.match(p.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, `${label}: commit_timestamp`);
  assert.equal(p.errors, null, `${label}: errors`);
  assert.ok(['INSERT', 'UPDATE', 'DELETE'].includes(p.eventType), label);
  if (p.eventType === 'INSERT') {
    assert.deepEqual(p.old, {}, `${label}: INSERT has no old row`);
    assert.ok(p.new.id, `${label}: INSERT new row has its id`);
  } else if (p.eventType === 'UPDATE') {
    assert.ok(p.new.id, `${label}: UPDATE new row`);
    assert.equal(p.old.id, p.new.id, `${label}: UPDATE old row (replica identity)`);
  } else {
    assert.deepEqual(p.new, {}, `${label}: DELETE has no new row`);
    assert.ok(p.old.id, `${label}: DELETE old row`);
  }
}

/** A channel of a supabase-js client with named postgres_changes bindings,
 * each collecting into its own Inbox; `log` keeps every delivery of the
 * channel in arrival order. A channel of that name an earlier (failed) test
 * left on the client is removed first: supabase-js would hand it back. */
async function watch(client, topic, bindings) {
  for (const old of client.getChannels()) if (old.subTopic === topic || old.topic === `realtime:${topic}`) await client.removeChannel(old);
  const ch = client.channel(topic);
  const w = { ch, topic, boxes: {}, log: [], system: new Inbox(`system on ${topic}`) };
  for (const [key, b] of Object.entries(bindings)) {
    const box = new Inbox(`${topic} / ${key}`);
    box.cursor = 0;
    ch.on('postgres_changes', { schema: 'public', ...b }, (p) => {
      box.push(p);
      w.log.push({ key, p });
    });
    w.boxes[key] = box;
  }
  ch.on('system', {}, (p) => w.system.push(p));
  return w;
}

/** Subscribes; asserts SUBSCRIBED, binding ids, and the system message. */
async function joinOk(w) {
  const r = await subscribe(w.ch, { timeout: T(10000) });
  assert.equal(r.status, 'SUBSCRIBED', `${w.topic}: ${r.err?.message}`);
  for (const b of w.ch.bindings.postgres_changes) assert.ok(Number.isInteger(b.id) && b.id > 0, `binding id ${b.id}`);
  const sys = await w.system.wait((p) => p.extension === 'postgres_changes', { timeout: T(5000) });
  // position: where delivery starts (docs/PROTOCOL.md, "positions and resume")
  const { position, ...rest } = sys;
  assert.match(position, /^[0-9A-F]+\/[0-9A-F]+:\d+$/, `${w.topic}: start position`);
  assert.deepEqual(rest, { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: w.topic });
  return w;
}

describe('postgres_changes with TechCare RLS (seed section 6)', { timeout: 120000 }, () => {
  let stack, db;
  const u = {}; // signed-in demo users: {client, claims, ...}

  before(async () => {
    stack = await startStack();
    db = stack.db;
    const names = ['alice', 'bob', 'carol', 'tom', 'tina', 'victor', 'admin'];
    const sessions = await Promise.all(names.map((n) => stack.signIn(DEMO[n].email)));
    names.forEach((n, i) => { u[n] = sessions[i]; });
  });
  after(() => stack?.stop());

  /** Runs markerSql in one transaction, then for each [box, expected, marker]
   * waits for the marker (a tag, or a predicate on the payload) and asserts
   * the deliveries since the last check, before the marker, are exactly
   * `expected` (tags in order; a Set: in any order). */
  async function settle(markerSql, checks) {
    await db.psql(`begin;\n${markerSql};\ncommit;\n`);
    for (const [box, expected, marker] of checks) {
      const isMark = typeof marker === 'function' ? marker : (p) => tag(p) === marker;
      await box.wait(isMark, { timeout: T(10000), message: `${box.label}: marker ${marker}` });
      const idx = box.items.findIndex((p, i) => i >= box.cursor && isMark(p));
      const got = box.items.slice(box.cursor, idx);
      box.cursor = idx + 1;
      got.forEach((p) => checkShape(p, box.label));
      checkShape(box.items[idx], box.label);
      if (expected instanceof Set) assert.deepEqual(got.map(tag).sort(), [...expected].sort(), box.label);
      else assert.deepEqual(got.map(tag), expected, box.label);
    }
  }
  /** A marker that is an UPDATE of row id setting description to 'marker'. */
  const markUpd = (id) => (p) => p.eventType === 'UPDATE' && p.new.id === id && p.new.description === 'marker';

  const now = () => db.value('select clock_timestamp()');
  /** Tags of notifications written for a user since t0 (trigger-made ones included). */
  const notifsSince = async (user, t0) => new Set((await db.rows(
    `select id from public.notifications where user_id = '${user}' and created_at > '${t0}'`)).map((r) => `INSERT notifications ${r.id}`));
  const insertNotif = (id, user) =>
    `insert into public.notifications (id, user_id, type, title) values ('${id}', '${user}', 'marker', 'marker')`;

  test('customer (6.1): dashboard, booking tracker, bids, chat and notification bell', async () => {
    const me = DEMO.alice.id;
    const { data: X, error } = await u.alice.client.from('bookings')
      .insert({ customer_id: me, service: 'Realtime test: leaking pipe', price: 100 }).select().single();
    assert.ifError(error);
    const bk = await joinOk(await watch(u.alice.client, 'public:bookings', {
      dashboard: { event: 'UPDATE', table: 'bookings', filter: `customer_id=eq.${me}` },
      tracker: { event: 'UPDATE', table: 'bookings', filter: `id=eq.${X.id}` },
    }));
    const bids = await joinOk(await watch(u.alice.client, `bids:${X.id}`, { bids: { event: 'INSERT', table: 'bids', filter: `booking_id=eq.${X.id}` } }));
    const chat = await joinOk(await watch(u.alice.client, `chat:${X.id}`, { chat: { event: 'INSERT', table: 'messages', filter: `booking_id=eq.${X.id}` } }));
    const bell = await joinOk(await watch(u.alice.client, `user:${me}:notifications`, {
      bell: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${me}` } }));
    const t0 = await now();

    // Two technicians bid; alice accepts tom's; both sides chat.
    const { data: tomBid, error: e1 } = await u.tom.client.from('bids').insert({ booking_id: X.id, technician_id: DEMO.tom.id, amount: 95 }).select().single();
    assert.ifError(e1);
    const { data: tinaBid, error: e2 } = await u.tina.client.from('bids').insert({ booking_id: X.id, technician_id: DEMO.tina.id, amount: 90 }).select().single();
    assert.ifError(e2);
    await db.psql("update public.bookings set description = 'not alice''s' where id = 'b0000000-0000-4000-8000-000000000006'");
    const acc = await u.alice.client.rpc('accept_bid', { bid_id: tomBid.id });
    assert.ifError(acc.error);
    const { data: m1, error: e3 } = await u.tom.client.from('messages').insert({ booking_id: X.id, sender_id: DEMO.tom.id, body: 'On my way' }).select().single();
    assert.ifError(e3);
    const { data: m2, error: e4 } = await u.alice.client.from('messages').insert({ booking_id: X.id, sender_id: me, body: 'Great' }).select().single();
    assert.ifError(e4);
    // A message in alice's other chat (B02): not this chat's, but it notifies her.
    await db.psql(`insert into public.messages (booking_id, sender_id, body) values ('b0000000-0000-4000-8000-000000000002', '${DEMO.tom.id}', 'other chat')`);
    // Another of alice's bookings changes (dashboard only), and bob gets a notification (nobody here).
    await db.psql(`update public.bookings set description = 'edited' where id = 'b0000000-0000-4000-8000-000000000005';
      insert into public.notifications (user_id, type, title) values ('${DEMO.bob.id}', 'x', 'for bob')`);
    const bell1 = await notifsSince(me, t0);
    assert.equal(bell1.size, 4, 'two new_bid and two new_message notifications in the database');

    const markBid = uuid();
    const markMsg = uuid();
    const markNote = uuid();
    await settle(
      `update public.bookings set description = 'marker' where id = '${X.id}';
       insert into public.bids (id, booking_id, technician_id, amount, status) values ('${markBid}', '${X.id}', '${DEMO.victor.id}', 1, 'withdrawn');
       insert into public.messages (id, booking_id, sender_id, body) values ('${markMsg}', '${X.id}', '${me}', 'marker');
       ${insertNotif(markNote, me)}`,
      [
        [bk.boxes.dashboard, [`UPDATE bookings ${X.id}`, 'UPDATE bookings b0000000-0000-4000-8000-000000000005'], markUpd(X.id)],
        [bk.boxes.tracker, [`UPDATE bookings ${X.id}`], markUpd(X.id)],
        [bids.boxes.bids, [`INSERT bids ${tomBid.id}`, `INSERT bids ${tinaBid.id}`], `INSERT bids ${markBid}`],
        [chat.boxes.chat, [`INSERT messages ${m1.id}`, `INSERT messages ${m2.id}`], `INSERT messages ${markMsg}`],
        [bell.boxes.bell, bell1, `INSERT notifications ${markNote}`],
      ]);
    // The dashboard's first update is "my booking was accepted", with both row images.
    const accepted = bk.boxes.dashboard.items.find((p) => p.new.id === X.id);
    assert.equal(accepted.old.status, 'pending');
    assert.equal(accepted.new.status, 'accepted');
    assert.equal(accepted.new.technician_id, DEMO.tom.id);
    assert.equal(accepted.new.price, 95);
    assert.equal(accepted.new.customer_id, me);
    const bid = bids.boxes.bids.items[0];
    assert.deepEqual({ ...bid.new }, { ...tomBid, amount: 95 });
    const note = bell.boxes.bell.items[0];
    assert.equal(note.new.type, 'new_bid');
    assert.equal(note.new.data.booking_id, X.id);
    for (const w of [bk, bids, chat, bell]) await u.alice.client.removeChannel(w.ch);
  });

  test('technician (6.2): dashboard, marketplace, active jobs, chat and bell; unverified victor sees no marketplace', async () => {
    const topics = (tech) => watch(u[tech].client, 'public:bookings', {
      dash: { event: '*', table: 'bookings', filter: `technician_id=eq.${DEMO[tech].id}` },
      market: { event: 'INSERT', table: 'bookings', filter: 'status=eq.pending' },
      active: { event: 'UPDATE', table: 'bookings', filter: `technician_id=eq.${DEMO[tech].id}` },
    });
    const tom = await joinOk(await topics('tom'));
    const tina = await joinOk(await topics('tina'));
    const victor = await joinOk(await topics('victor'));
    const bellTom = await joinOk(await watch(u.tom.client, `user:${DEMO.tom.id}:notifications`, { bell: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${DEMO.tom.id}` } }));
    const bellTina = await joinOk(await watch(u.tina.client, `user:${DEMO.tina.id}:notifications`, { bell: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${DEMO.tina.id}` } }));
    const t0 = await now();

    // Carol posts a job: the marketplace of both verified technicians, not victor's.
    const { data: Y, error } = await u.carol.client.from('bookings').insert({ customer_id: DEMO.carol.id, service: 'Realtime test: outlet' }).select().single();
    assert.ifError(error);
    const chatTina = await joinOk(await watch(u.tina.client, `chat:${Y.id}`, { chat: { event: 'INSERT', table: 'messages', filter: `booking_id=eq.${Y.id}` } }));
    // Tom only bids: he is not a party of Y's chat. The bell binding on the
    // same channel carries the marker.
    const chatTom = await joinOk(await watch(u.tom.client, `chat:${Y.id}`, {
      chat: { event: 'INSERT', table: 'messages', filter: `booking_id=eq.${Y.id}` },
      bell: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${DEMO.tom.id}` } }));
    const { data: bt, error: e1 } = await u.tom.client.from('bids').insert({ booking_id: Y.id, technician_id: DEMO.tom.id, amount: 80 }).select().single();
    assert.ifError(e1);
    const { data: bn, error: e2 } = await u.tina.client.from('bids').insert({ booking_id: Y.id, technician_id: DEMO.tina.id, amount: 70 }).select().single();
    assert.ifError(e2);
    assert.ok(bt.id && bn.id);
    assert.ifError((await u.carol.client.rpc('accept_bid', { bid_id: bn.id })).error); // Y: tina's, accepted
    const st = await u.tina.client.from('bookings').update({ status: 'in_progress' }).eq('id', Y.id).select();
    assert.ifError(st.error);
    assert.equal(st.data.length, 1);
    const { data: msg, error: e3 } = await u.tina.client.from('messages').insert({ booking_id: Y.id, sender_id: DEMO.tina.id, body: 'Starting now' }).select().single();
    assert.ifError(e3);
    // Tom's existing job B02 edited by an admin; a job assigned to tom created and deleted.
    await db.psql("update public.bookings set description = 'bring a ladder' where id = 'b0000000-0000-4000-8000-000000000002'");
    const Z = uuid();
    await db.psql(`insert into public.bookings (id, customer_id, technician_id, status, service) values ('${Z}', '${DEMO.bob.id}', '${DEMO.tom.id}', 'accepted', 'Z');`);
    await db.psql(`delete from public.bookings where id = '${Z}'`);
    const tomNotes = await notifsSince(DEMO.tom.id, t0);
    const tinaNotes = await notifsSince(DEMO.tina.id, t0);
    assert.equal(tomNotes.size, 1, 'tom: bid_rejected');
    assert.equal(tinaNotes.size, 1, 'tina: booking_accepted');

    // Markers: tom's B02 and tina's Y are updated; a pending job is posted
    // with victor as technician (victor's own row; marketplace for the
    // verified ones); a message on Y and notifications for both.
    const M = uuid();
    const msgMark = uuid();
    const nTom = uuid();
    const nTina = uuid();
    await settle(
      `update public.bookings set description = 'marker' where id = 'b0000000-0000-4000-8000-000000000002';
       update public.bookings set description = 'marker' where id = 'b0000000-0000-4000-8000-000000000003';
       insert into public.bookings (id, customer_id, technician_id, status, service) values ('${M}', '${DEMO.carol.id}', '${DEMO.victor.id}', 'pending', 'marker');
       ${insertNotif(nTom, DEMO.tom.id)}; ${insertNotif(nTina, DEMO.tina.id)};
       insert into public.messages (id, booking_id, sender_id, body) values ('${msgMark}', '${Y.id}', '${DEMO.carol.id}', 'marker')`,
      [
        [tom.boxes.dash, ['UPDATE bookings b0000000-0000-4000-8000-000000000002', `INSERT bookings ${Z}`, `DELETE bookings ${Z}`],
          markUpd('b0000000-0000-4000-8000-000000000002')],
        [tom.boxes.active, ['UPDATE bookings b0000000-0000-4000-8000-000000000002'], markUpd('b0000000-0000-4000-8000-000000000002')],
        [tom.boxes.market, [`INSERT bookings ${Y.id}`], `INSERT bookings ${M}`],
        [tina.boxes.dash, [`UPDATE bookings ${Y.id}`, `UPDATE bookings ${Y.id}`], markUpd('b0000000-0000-4000-8000-000000000003')],
        [tina.boxes.active, [`UPDATE bookings ${Y.id}`, `UPDATE bookings ${Y.id}`], markUpd('b0000000-0000-4000-8000-000000000003')],
        [tina.boxes.market, [`INSERT bookings ${Y.id}`], `INSERT bookings ${M}`],
        [victor.boxes.market, [], `INSERT bookings ${M}`],
        [victor.boxes.dash, [], `INSERT bookings ${M}`],
        [chatTina.boxes.chat, [`INSERT messages ${msg.id}`], `INSERT messages ${msgMark}`],
        [chatTom.boxes.bell, tomNotes, `INSERT notifications ${nTom}`],
        [bellTom.boxes.bell, tomNotes, `INSERT notifications ${nTom}`],
        [bellTina.boxes.bell, tinaNotes, `INSERT notifications ${nTina}`],
      ]);
    // Victor's channel (one ordered stream): only his own new row, on the two bindings it matches.
    assert.deepEqual(victor.log.map((l) => `${l.key} ${tag(l.p)}`).sort(), [`dash INSERT bookings ${M}`, `market INSERT bookings ${M}`]);
    assert.equal(chatTom.boxes.chat.items.length, 0, 'tom is not a party of the chat of a job he only bid on');
    // Tina's two updates: accepted by carol, then started by her.
    const [a, s] = tina.boxes.dash.items;
    assert.deepEqual([a.old.status, a.new.status, a.old.technician_id, a.new.technician_id], ['pending', 'accepted', null, DEMO.tina.id]);
    assert.deepEqual([s.old.status, s.new.status], ['accepted', 'in_progress']);
    // Tom's deleted job: the DELETE carries the whole old row (replica identity full).
    const del = tom.boxes.dash.items.find((p) => p.eventType === 'DELETE');
    assert.equal(del.old.customer_id, DEMO.bob.id);
    assert.equal(del.old.technician_id, DEMO.tom.id);
    assert.equal(del.old.status, 'accepted');
    for (const [c, w] of [['tom', tom], ['tina', tina], ['victor', victor], ['tom', bellTom], ['tina', bellTina], ['tina', chatTina], ['tom', chatTom]]) {
      await u[c].client.removeChannel(w.ch);
    }
  });

  test('admin (6.3): new profiles, all bookings, new reviews, technicians awaiting verification', async () => {
    const w = await joinOk(await watch(u.admin.client, 'public:admin', {
      profiles: { event: 'INSERT', table: 'profiles' },
      bookings: { event: '*', table: 'bookings' },
      reviews: { event: 'INSERT', table: 'reviews' },
      verify: { event: 'INSERT', table: 'technicians', filter: 'is_verified=eq.false' },
    }));
    // The seed's channel names, one per subscription, as the app opens them.
    const seedNamed = await joinOk(await watch(u.admin.client, 'public:profiles', { p: { event: 'INSERT', table: 'profiles' } }));
    const newTech = uuid();
    const newCust = uuid();
    const B = uuid();
    const R = uuid();
    // Two sign-ups (profiles; the technician also gets an unverified technicians row).
    await db.psql(`insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data) values
      ('${newTech}', 'authenticated', 'authenticated', 'newtech@tech.demo', '{}', '{"role":"technician","full_name":"New Tech"}'),
      ('${newCust}', 'authenticated', 'authenticated', 'newcust@customer.demo', '{}', '{"role":"customer"}')`);
    // Verifying it is an UPDATE: not what TechVerification subscribes to.
    await db.psql(`update public.technicians set is_verified = true where id = '${newTech}'`); // UPDATE: not subscribed
    // A booking's whole life: created, completed, reviewed, deleted.
    await db.psql(`insert into public.bookings (id, customer_id, technician_id, status, service, price, scheduled_at)
                   values ('${B}', '${DEMO.carol.id}', '${DEMO.tom.id}', 'in_progress', 'Admin test', 42.5, '2024-01-01 10:00:00+00')`);
    await db.psql(`update public.bookings set status = 'completed' where id = '${B}'`);
    await db.psql(`insert into public.reviews (id, booking_id, rating, comment) values ('${R}', '${B}', 4, 'ok')`);
    const jsonRow = async (table, id) => JSON.parse((await db.psql(
      `set timezone = 'UTC';\nselect to_jsonb(t) from public.${table} t where id = '${id}';\n`)).trim().split('\n').pop());
    const ref = await jsonRow('bookings', B);
    await db.psql(`delete from public.bookings where id = '${B}'`);

    const newTech2 = uuid();
    const mark = uuid();
    await settle(
      `insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data) values
         ('${newTech2}', 'authenticated', 'authenticated', 'newtech2@tech.demo', '{}', '{"role":"technician"}');
       insert into public.bookings (id, customer_id, service) values ('${mark}', '${DEMO.carol.id}', 'marker');`,
      [
        [w.boxes.profiles, [`INSERT profiles ${newTech}`, `INSERT profiles ${newCust}`], `INSERT profiles ${newTech2}`],
        [seedNamed.boxes.p, [`INSERT profiles ${newTech}`, `INSERT profiles ${newCust}`], `INSERT profiles ${newTech2}`],
        [w.boxes.verify, [`INSERT technicians ${newTech}`], `INSERT technicians ${newTech2}`],
        [w.boxes.bookings, [`INSERT bookings ${B}`, `UPDATE bookings ${B}`, `DELETE bookings ${B}`], `INSERT bookings ${mark}`],
      ]);
    assert.deepEqual(w.boxes.reviews.items.map(tag), [`INSERT reviews ${R}`]);
    // The DELETE carries the full old row: what to_jsonb gave for it before.
    const del = w.boxes.bookings.items.find((p) => p.eventType === 'DELETE');
    assert.deepEqual(del.old, ref);
    assert.equal(del.old.price, 42.5);
    assert.equal(del.old.scheduled_at, '2024-01-01T10:00:00+00:00');
    await u.admin.client.removeChannel(w.ch);
    await u.admin.client.removeChannel(seedNamed.ch);
  });

  test("leaks: a customer never receives another customer's rows, filtered or not", async () => {
    const alice = DEMO.alice.id;
    const { data: X, error } = await u.alice.client.from('bookings').insert({ customer_id: alice, service: 'Realtime test: leak' }).select().single();
    assert.ifError(error);
    const X2 = uuid();
    const leak = await joinOk(await watch(u.bob.client, 'leak:bob', {
      bkAll: { event: '*', table: 'bookings' },
      bkAlice: { event: '*', table: 'bookings', filter: `customer_id=eq.${alice}` },
      bkX: { event: '*', table: 'bookings', filter: `id=eq.${X.id}` },
      bidsAll: { event: '*', table: 'bids' },
      bidsX: { event: '*', table: 'bids', filter: `booking_id=eq.${X.id}` },
      msgAll: { event: '*', table: 'messages' },
      msgX: { event: 'INSERT', table: 'messages', filter: `booking_id=eq.${X.id}` },
      notAll: { event: '*', table: 'notifications' },
      notAlice: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${alice}` },
      payAll: { event: '*', table: 'payments' },
      payAlice: { event: '*', table: 'payments', filter: `customer_id=eq.${alice}` },
      payX: { event: 'INSERT', table: 'payments', filter: `booking_id=eq.${X.id}` },
      mine: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${DEMO.bob.id}` },
    }));
    // Alice's own view of her payments: '*' on an INSERT-only table.
    const pays = await joinOk(await watch(u.alice.client, `user:${alice}:payments`, { pay: { event: '*', table: 'payments', filter: `customer_id=eq.${alice}` } }));

    // A whole job of alice's: bids, acceptance, chat, work, payment, a refund.
    const { data: bid, error: e1 } = await u.tom.client.from('bids').insert({ booking_id: X.id, technician_id: DEMO.tom.id, amount: 50 }).select().single();
    assert.ifError(e1);
    assert.ifError((await u.tina.client.from('bids').insert({ booking_id: X.id, technician_id: DEMO.tina.id, amount: 55 })).error);
    assert.ifError((await u.alice.client.rpc('accept_bid', { bid_id: bid.id })).error);
    assert.ifError((await u.alice.client.from('messages').insert({ booking_id: X.id, sender_id: alice, body: 'secret gate code 1234' })).error);
    assert.ifError((await u.tom.client.from('bookings').update({ status: 'in_progress' }).eq('id', X.id)).error);
    assert.ifError((await u.tom.client.from('bookings').update({ status: 'completed' }).eq('id', X.id)).error);
    const P = uuid();
    await db.psql(`insert into public.payments (id, booking_id, amount, status) values ('${P}', '${X.id}', 50, 'succeeded')`);
    await db.psql(`update public.payments set status = 'refunded' where id = '${P}'`);
    await db.psql(`insert into public.bookings (id, customer_id, service) values ('${X2}', '${alice}', 'x2');
                   delete from public.bookings where id = '${X2}';`);
    // Bob's own booking changes: his unfiltered subscription works.
    await db.psql("update public.bookings set description = 'bob''s' where id = 'b0000000-0000-4000-8000-000000000006'");

    const mark = uuid();
    const P2 = uuid();
    await settle(`${insertNotif(mark, DEMO.bob.id)};
       insert into public.payments (id, booking_id, amount, status) values ('${P2}', '${X.id}', 1, 'pending')`, [
      [leak.boxes.mine, [], `INSERT notifications ${mark}`],
      [pays.boxes.pay, [`INSERT payments ${P}`], `INSERT payments ${P2}`],
    ]);
    assert.deepEqual(leak.log.map((l) => `${l.key} ${tag(l.p)}`).sort(),
      ['bkAll UPDATE bookings b0000000-0000-4000-8000-000000000006', `mine INSERT notifications ${mark}`, `notAll INSERT notifications ${mark}`],
      'bob receives his own rows only');
    for (const { p } of leak.log) {
      const text = JSON.stringify(p);
      assert.ok(!text.includes(alice) && !text.includes(X.id), `leaked to bob: ${text}`);
    }
    await u.bob.client.removeChannel(leak.ch);
    await u.alice.client.removeChannel(pays.ch);
  });

  test('leaks: bids are sealed; an unverified technician gets no marketplace; anon gets nothing', async () => {
    const { data: Y, error } = await u.bob.client.from('bookings').insert({ customer_id: DEMO.bob.id, service: 'Realtime test: sealed' }).select().single();
    assert.ifError(error);
    const tom = await joinOk(await watch(u.tom.client, `bids:${Y.id}`, {
      all: { event: '*', table: 'bids' },
      onY: { event: '*', table: 'bids', filter: `booking_id=eq.${Y.id}` },
    }));
    const victor = await joinOk(await watch(u.victor.client, 'public:bookings', {
      market: { event: 'INSERT', table: 'bookings', filter: 'status=eq.pending' },
      all: { event: '*', table: 'bookings' },
      bell: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${DEMO.victor.id}` },
    }));
    const anon = stack.client();
    const nobody = await joinOk(await watch(anon, 'public:bookings', {
      all: { event: '*', table: 'bookings' },
      market: { event: 'INSERT', table: 'bookings', filter: 'status=eq.pending' },
    }));
    const { data: tinaBid, error: e1 } = await u.tina.client.from('bids').insert({ booking_id: Y.id, technician_id: DEMO.tina.id, amount: 10 }).select().single();
    assert.ifError(e1);
    await db.psql(`update public.bids set amount = 9 where id = '${tinaBid.id}'`);
    assert.ifError((await u.bob.client.from('bookings').insert({ customer_id: DEMO.bob.id, service: 'Realtime test: market' })).error);
    const { data: tomBid, error: e2 } = await u.tom.client.from('bids').insert({ booking_id: Y.id, technician_id: DEMO.tom.id, amount: 12 }).select().single();
    assert.ifError(e2);
    const vmark = uuid();
    await settle(`${insertNotif(vmark, DEMO.victor.id)}`, [
      [tom.boxes.all, [], `INSERT bids ${tomBid.id}`],
      [tom.boxes.onY, [], `INSERT bids ${tomBid.id}`],
      [victor.boxes.bell, [], `INSERT notifications ${vmark}`],
    ]);
    assert.deepEqual(victor.log.map((l) => l.key), ['bell'], 'victor: nothing from the marketplace');
    // Bob (the customer) rejects tina's bid; tom still sees only his own.
    assert.ifError((await u.bob.client.from('bids').update({ status: 'rejected' }).eq('id', tinaBid.id)).error);
    assert.ifError((await u.tom.client.from('bids').update({ amount: 11 }).eq('id', tomBid.id)).error);
    await tom.boxes.onY.wait((p) => p.eventType === 'UPDATE' && p.new.amount === 11);
    assert.deepEqual(tom.log.map((l) => `${l.key} ${tag(l.p)}`).sort(), [
      `all INSERT bids ${tomBid.id}`, `all UPDATE bids ${tomBid.id}`, `onY INSERT bids ${tomBid.id}`, `onY UPDATE bids ${tomBid.id}`]);
    assert.ok(!JSON.stringify(tom.log).includes(tinaBid.id), 'tina\'s bid leaked to tom');
    // anon: no policy admits it; its channel was open all along and got nothing.
    assert.deepEqual(nobody.log, []);
    await u.tom.client.removeChannel(tom.ch);
    await u.victor.client.removeChannel(victor.ch);
    await anon.removeChannel(nobody.ch);
  });

  test('DELETE: the full old row (replica identity full), the filter on the old row; key only with the default identity', async () => {
    const alice = DEMO.alice.id;
    const mine = await joinOk(await watch(u.alice.client, 'public:bookings', { bk: { event: '*', table: 'bookings', filter: `customer_id=eq.${alice}` } }));
    const adm = await joinOk(await watch(u.admin.client, 'admin:deletes', {
      del: { event: 'DELETE', table: 'bookings' },
      reviews: { event: '*', table: 'reviews' },
      fourStars: { event: '*', table: 'reviews', filter: 'rating=eq.4' },
    }));
    const svc = stack.client(stack.serviceKey);
    const service = await joinOk(await watch(svc, 'service:deletes', { del: { event: 'DELETE', table: 'bookings' } }));
    const B = uuid();
    const R = uuid();
    await db.psql(`insert into public.bookings (id, customer_id, technician_id, status, service, description, price, scheduled_at, address)
                   values ('${B}', '${alice}', '${DEMO.tom.id}', 'completed', 'To delete', 'multi
line "quoted" \\ text', 12.34, '2030-06-01 08:30:00+02', 'x');
                   insert into public.reviews (id, booking_id, rating, comment) values ('${R}', '${B}', 4, 'fine');`);
    const jsonRow = async (table, id) => JSON.parse((await db.psql(
      `set timezone = 'UTC';\nselect to_jsonb(t) from public.${table} t where id = '${id}';\n`)).trim().split('\n').pop());
    const ref = await jsonRow('bookings', B);
    await db.psql(`delete from public.bookings where id = '${B}'`); // cascades to the review
    const mark = uuid();
    await settle(`insert into public.bookings (id, customer_id, service) values ('${mark}', '${alice}', 'marker');
                  delete from public.bookings where id = '${mark}'`, [
      [mine.boxes.bk, [`INSERT bookings ${B}`, `DELETE bookings ${B}`, `INSERT bookings ${mark}`], `DELETE bookings ${mark}`],
      [adm.boxes.del, [`DELETE bookings ${B}`], `DELETE bookings ${mark}`],
      [service.boxes.del, [`DELETE bookings ${B}`], `DELETE bookings ${mark}`],
    ]);
    for (const box of [mine.boxes.bk, adm.boxes.del, service.boxes.del]) {
      const del = box.items.find((p) => p.eventType === 'DELETE' && p.old.id === B);
      assert.deepEqual(del.old, ref, `${box.label}: the whole old row`);
    }
    assert.equal(ref.scheduled_at, '2030-06-01T06:30:00+00:00');
    // reviews has the default replica identity: its DELETE carries the key
    // only, so a filter on another column cannot match it.
    assert.deepEqual(adm.boxes.reviews.items.map(tag), [`INSERT reviews ${R}`, `DELETE reviews ${R}`]);
    assert.deepEqual(adm.boxes.reviews.items[1].old, { id: R });
    assert.deepEqual(adm.boxes.fourStars.items.map(tag), [`INSERT reviews ${R}`]);
    await u.alice.client.removeChannel(mine.ch);
    await u.admin.client.removeChannel(adm.ch);
    await svc.removeChannel(service.ch);
  });

  test('a token refresh (setAuth) keeps the subscriptions flowing', async () => {
    const alice = DEMO.alice.id;
    const w = await joinOk(await watch(u.alice.client, `user:${alice}:notifications`, { bell: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${alice}` } }));
    const n1 = uuid();
    await settle(insertNotif(n1, alice), [[w.boxes.bell, [], `INSERT notifications ${n1}`]]);
    for (let i = 0; i < 2; i++) {
      await u.alice.client.realtime.setAuth(stack.token({ sub: alice, email: DEMO.alice.email, session_id: uuid() }, { expIn: 3600 + 60 * (i + 1) }));
      const n = uuid();
      // Bob's notification in between must still not arrive.
      await db.psql(`insert into public.notifications (user_id, type, title) values ('${DEMO.bob.id}', 'x', 'bob')`);
      await settle(insertNotif(n, alice), [[w.boxes.bell, [], `INSERT notifications ${n}`]]);
    }
    assert.equal(w.ch.state, 'joined');
    await u.alice.client.removeChannel(w.ch);
  });

  test('status: /health says streaming; /metrics counts channels, transactions and events', async () => {
    const health = (await stack.fetch('/health')).json;
    assert.equal(health.postgres_changes, 'streaming');
    const alice = DEMO.alice.id;
    const w = await joinOk(await watch(u.alice.client, `user:${alice}:status`, { bell: { event: 'INSERT', table: 'notifications', filter: `user_id=eq.${alice}` } }));
    const series = async () => Object.fromEntries((await stack.fetch('/metrics')).text.split('\n')
      .filter((l) => l.startsWith('realtime_cdc_')).map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    const before = await series();
    const n = uuid();
    await settle(insertNotif(n, alice), [[w.boxes.bell, [], `INSERT notifications ${n}`]]);
    // gauges are refreshed by the CDC thread every 100 ms
    await waitFor(async () => (await series()).realtime_cdc_channels >= 1, { timeout: T(3000), interval: 50, message: 'cdc channels gauge' });
    const after = await series();
    assert.equal(after.realtime_cdc_streaming, 1);
    assert.ok(after.realtime_cdc_transactions_total > before.realtime_cdc_transactions_total, 'transactions counted');
    assert.ok(after.realtime_cdc_events_total > before.realtime_cdc_events_total, 'events counted');
    await u.alice.client.removeChannel(w.ch);
  });

  test('marketplace (6.2): a verified technician on status=eq.pending INSERT gets new pending bookings only', async () => {
    const w = await joinOk(await watch(u.tina.client, 'public:bookings', { market: { event: 'INSERT', table: 'bookings', filter: 'status=eq.pending' } }));
    const { data: P1, error } = await u.bob.client.from('bookings').insert({ customer_id: DEMO.bob.id, service: 'Realtime test: fix door', price: 30 }).select().single();
    assert.ifError(error);
    const A = uuid();
    const P2 = uuid();
    await db.psql(`insert into public.bookings (id, customer_id, technician_id, status, service) values ('${A}', '${DEMO.carol.id}', '${DEMO.tom.id}', 'accepted', 'not pending');
                   insert into public.bookings (id, customer_id, service) values ('${P2}', '${DEMO.carol.id}', 'pending too');
                   update public.bookings set description = 'edited' where id = '${P1.id}';`);
    const mark = uuid();
    await settle(`insert into public.bookings (id, customer_id, service) values ('${mark}', '${DEMO.alice.id}', 'marker')`,
      [[w.boxes.market, [`INSERT bookings ${P1.id}`, `INSERT bookings ${P2}`], `INSERT bookings ${mark}`]]);
    const got = w.boxes.market.items[0].new;
    assert.equal(got.status, 'pending');
    assert.equal(got.customer_id, DEMO.bob.id);
    assert.equal(got.price, 30);
    assert.equal(got.technician_id, null);
    await u.tina.client.removeChannel(w.ch);
  });

  test("RLS on the row image: a job leaving the marketplace is not delivered to the technicians who no longer see it", async () => {
    const tina = await joinOk(await watch(u.tina.client, 'public:bookings', { all: { event: '*', table: 'bookings' } }));
    const tom = await joinOk(await watch(u.tom.client, 'public:bookings', { all: { event: '*', table: 'bookings' } }));
    const { data: P, error } = await u.bob.client.from('bookings').insert({ customer_id: DEMO.bob.id, service: 'Realtime test: RLS image' }).select().single();
    assert.ifError(error);
    const { data: bid, error: e1 } = await u.tom.client.from('bids').insert({ booking_id: P.id, technician_id: DEMO.tom.id, amount: 20 }).select().single();
    assert.ifError(e1);
    assert.ifError((await u.bob.client.rpc('accept_bid', { bid_id: bid.id })).error);
    const mark = uuid();
    await settle(`insert into public.bookings (id, customer_id, service) values ('${mark}', '${DEMO.carol.id}', 'marker')`, [
      [tina.boxes.all, [`INSERT bookings ${P.id}`], `INSERT bookings ${mark}`],
      [tom.boxes.all, [`INSERT bookings ${P.id}`, `UPDATE bookings ${P.id}`], `INSERT bookings ${mark}`],
    ]);
    await u.tina.client.removeChannel(tina.ch);
    await u.tom.client.removeChannel(tom.ch);
  });
});
