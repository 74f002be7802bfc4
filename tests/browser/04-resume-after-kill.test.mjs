// Browser tests, part 4: the seed's 10.1 step 4 with the server killed
// (SIGKILL: no close frame, no drain) instead of stopped, and issue 13's
// "no gaps" (docs/PROTOCOL.md "Postgres Changes: positions and resume").
// A customer's and a technician's dashboards and their chats of one job are
// open; while no server runs, bookings move on, chat messages and a bid are
// written and a new job is booked, straight into the database; a new
// server starts on the same port. Every page is then whole again without
// reading its lists again: the server replays what each channel missed
// after its last position, each change once. Checked by what the pages ask
// the REST API (nothing for their lists), by the app's own counters (rejoins
// resumed, lists read again), and by each change being shown exactly once.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { Server } from '../integration/harness.mjs';
import { DEMO, T, booking, markPage, messages, seen, startApp, tid, waitFor } from './browser.mjs';

const B02 = booking(2); // alice, accepted, tom: on alice's bookings
const B03 = booking(3); // alice, in_progress, tina; chat
const B08 = booking(8); // bob, accepted, tina: in tina's jobs
const B09 = booking(9); // carol, pending, no bids: in tina's marketplace

// The tables the pages' live lists read (useLiveRows); profiles are name
// look-ups by id, not lists.
const LIST_READ = /\/rest\/v1\/(bookings|bids|messages|notifications|marketplace|technicians|reviews|payments)\b/;

let app;
let alice;
let tina;
let pages; // [{who, page}]
const listReads = []; // GETs of a list's table, every page, as {who, url}

before(async () => {
  app = await startApp();
  alice = await app.signIn(DEMO.alice.email); // on /customer: her bookings
  tina = await app.signIn(DEMO.tina.email); // on /technician: marketplace, jobs
  const aliceChat = await alice.newPage(`/customer/bookings/${B03}`);
  const tinaChat = await tina.newPage(`/technician/jobs/${B03}`);
  pages = [
    { who: 'alice /customer', page: alice.page },
    { who: 'alice B03', page: aliceChat },
    { who: 'tina /technician', page: tina.page },
    { who: 'tina B03', page: tinaChat },
  ];
  for (const { who, page } of pages) {
    page.on('request', (r) => { if (r.method() === 'GET' && LIST_READ.test(r.url())) listReads.push({ who, url: r.url() }); });
  }
  await seen(alice.page.getByTestId('customer-bookings').locator(tid('list-status', { status: 'live' })), 'alice\'s bookings live');
  await seen(tina.page.getByTestId('marketplace').locator(tid('list-status', { status: 'live' })), 'tina\'s marketplace live');
  await seen(tina.page.getByTestId('my-jobs').locator(tid('list-status', { status: 'live' })), 'tina\'s jobs live');
  for (const page of [aliceChat, tinaChat]) await seen(page.getByTestId('chat').locator(tid('list-status', { status: 'live' })), 'the chat live');
});
after(async () => { await app?.stop(); });

const indicator = (page) => page.getByTestId('connection-state');
const state = (page) => indicator(page).getAttribute('data-state');
const counts = async (page) => ({
  resumes: Number(await indicator(page).getAttribute('data-resumes')),
  rereads: Number(await indicator(page).getAttribute('data-rereads')),
});

/** SIGKILL, then whileDown, then a new server on the same port, secret,
 * flags and environment (the same database and replication slot). */
async function killAndRestart(whileDown) {
  const { stack } = app;
  const old = stack.server;
  old.proc.kill('SIGKILL');
  await old.exited;
  await whileDown();
  stack.server = await new Server({ port: old.port, secret: old.secret, flags: old.flags, env: old.env }).start();
}

test('server killed and started again: every page is whole, each change shown once, and no list is read again (seed 10.1 step 4, issue 13)', async (t) => {
  for (const { page } of pages) await app.connection(alice, 'live', T(15000), page);
  // Every list on every page has had its first read, so any read from here
  // on is a read again.
  for (const { who, page } of pages) {
    await waitFor(async () => {
      const st = await page.locator(tid('list-status')).evaluateAll((els) => els.map((el) => el.dataset.status));
      return st.length > 0 && st.every((x) => x === 'live');
    }, { timeout: T(15000), interval: 100, message: `every list on ${who} live` });
  }
  const marks = [];
  for (const { page } of pages) marks.push(await markPage(page));
  const before = [];
  for (const { page } of pages) before.push(await counts(page));
  const readsBefore = listReads.length;
  const framesBefore = new Map([alice, tina].map((p) => [p, p.frames.length]));

  const tag = crypto.randomBytes(4).toString('hex');
  const chat = [`From tina while down ${tag} 1`, `From alice while down ${tag} 2`, `From tina while down ${tag} 3`];
  const bidId = crypto.randomUUID();
  const newJob = crypto.randomUUID();
  const killedAt = Date.now();
  await killAndRestart(async () => {
    await waitFor(async () => {
      for (const { page } of pages) if ((await state(page)) === 'live') return false;
      return true;
    }, { timeout: T(15000), interval: 100, message: 'every page\'s indicator to leave "live"' });
    // One transaction each, as the app would write them.
    await app.sql(`insert into public.messages (booking_id, sender_id, body) values ('${B03}', '${DEMO.tina.id}', '${chat[0]}')`);
    await app.sql(`insert into public.messages (booking_id, sender_id, body) values ('${B03}', '${DEMO.alice.id}', '${chat[1]}')`);
    await app.sql(`insert into public.bids (id, booking_id, technician_id, amount, message) values ('${bidId}', '${B09}', '${DEMO.tina.id}', 70, 'Bid while down ${tag}')`);
    await app.sql(`insert into public.bookings (id, customer_id, status, service, address, price) values ('${newJob}', '${DEMO.bob.id}', 'pending', 'Booked while down ${tag}', '48 Oak Avenue, Springfield', 95)`);
    await app.sql(`insert into public.messages (booking_id, sender_id, body) values ('${B03}', '${DEMO.tina.id}', '${chat[2]}')`);
    // Jobs started (not B03 completed: that would open its review form, a
    // list the page reads for the first time).
    await app.sql(`update public.bookings set status = 'in_progress' where id in ('${B02}', '${B08}')`);
  });
  t.diagnostic(`server down ${Date.now() - killedAt} ms`);

  for (const { page } of pages) await app.connection(alice, 'live', T(30000), page);
  const [aHome, aChat, tHome, tChat] = pages.map((p) => p.page);
  await seen(aHome.locator(tid(`booking-row-${B02}`, { status: 'in_progress' })), 'B02 in progress on alice\'s bookings');
  await seen(tHome.locator(tid(`job-row-${B08}`, { status: 'in_progress' })), 'B08 in progress in tina\'s jobs');
  await seen(tHome.locator(tid(`my-bid-${B09}`, { status: 'pending' })), 'tina\'s new bid on B09 in her marketplace');
  await seen(tHome.getByTestId(`market-row-${newJob}`).filter({ hasText: `Booked while down ${tag}` }), 'the new job in tina\'s marketplace');
  for (const page of [aChat, tChat]) {
    for (const body of chat) await seen(page.locator(tid('chat-message')).filter({ hasText: body }), `"${body}" in a chat`);
  }
  // Delivery is in commit order: once a message written now is shown, no
  // replayed change can still be on its way to duplicate one.
  const sentinel = `After the restart ${tag}`;
  await app.sql(`insert into public.messages (booking_id, sender_id, body) values ('${B03}', '${DEMO.alice.id}', '${sentinel}')`);
  for (const page of [aChat, tChat]) await seen(page.locator(tid('chat-message')).filter({ hasText: sentinel }), 'the message written after the restart');

  for (const page of [aChat, tChat]) {
    for (const body of [...chat, sentinel]) {
      assert.equal(await page.locator(tid('chat-message')).filter({ hasText: body }).count(), 1, `"${body}" shown once`);
    }
  }
  assert.equal(await aHome.locator(tid(`booking-row-${B02}`)).count(), 1, 'B02 listed once on alice\'s bookings');
  assert.equal(await tHome.locator(tid(`job-row-${B08}`)).count(), 1, 'B08 listed once in tina\'s jobs');
  assert.equal(await tHome.getByTestId(`market-row-${newJob}`).count(), 1, 'the new job listed once');
  assert.equal(await tHome.getByTestId(`my-bid-${B09}`).count(), 1, 'one bid of tina\'s on B09');

  // What the server answered each rejoin (for the report when this fails).
  for (const person of [alice, tina]) {
    for (const m of messages(person.frames.slice(framesBefore.get(person)))) {
      if (m.event === 'system' && m.payload?.extension === 'postgres_changes' && m.payload.recovered !== true) {
        t.diagnostic(`${person.email} ${m.topic}: ${JSON.stringify(m.payload)}`);
      }
    }
  }
  // Nothing read again: no list GET since the kill, and the app's own counters agree.
  assert.deepEqual(listReads.slice(readsBefore), [], 'no page read a list again');
  for (const [i, { who, page }] of pages.entries()) {
    const now = await counts(page);
    assert.equal(now.rereads, before[i].rereads, `${who}: no list read again (indicator's counter)`);
    assert.ok(now.resumes > before[i].resumes, `${who}: its channels resumed (${before[i].resumes} -> ${now.resumes})`);
  }
  for (const notReloaded of marks) await notReloaded();
  for (const person of [alice, tina]) assert.deepEqual(person.pageErrors, []);
});
