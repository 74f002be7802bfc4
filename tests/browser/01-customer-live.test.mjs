// Browser tests, part 1: a customer's screens in Chromium against the real
// stack. A status committed by SQL reaches the list and the tracker live
// (seed 10.1 step 2); another customer's rows never reach alice's pages nor
// her socket; a channel handed from one screen to the next across a route
// change keeps delivering; sign-out leaves nothing subscribed.
// One stack for the file: the tests run in order and build on its data.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { DEMO, T, bid, booking, markPage, messages, seen, startApp, tid, waitFor } from './browser.mjs';

const B01 = booking(1); // alice, pending, bids X01 (tom) and X02 (tina)
const B03 = booking(3); // alice, in_progress, tina; chat
const B05 = booking(5); // alice, cancelled
const B06 = booking(6); // bob, pending
const B08 = booking(8); // bob, accepted, tina; chat
const X06 = bid(6); // tina's accepted bid on B03

let app;
let alice; // signed in by the first test, used by every later one

before(async () => { app = await startApp(); });
after(async () => { await app?.stop(); });

const unread = async (uid) => Number((await app.rows(`select count(*) as n from public.notifications where user_id = '${uid}' and read_at is null`))[0].n);
const bellSays = (page, n, who) => seen(page.locator(tid('notification-count', { count: n })), `${who}'s bell to count ${n} unread`);
const inText = async (page) => page.evaluate(() => document.body.innerText);

test('a status changed by SQL appears on the customer\'s list and tracker without a reload (seed 10.1 step 2)', async () => {
  alice = await app.signIn(DEMO.alice.email);
  const { page } = alice;
  const notReloaded = await markPage(page);
  const list = page.getByTestId('customer-bookings');
  await seen(list.locator(tid('list-status', { status: 'live' })), 'alice\'s bookings list to be live');
  await seen(page.locator(tid(`booking-row-${B01}`, { status: 'pending' })), 'B01 listed as pending');

  // What accept_bid does, committed behind the page's back.
  await app.sql(`update public.bookings set status = 'accepted', technician_id = '${DEMO.tina.id}', price = 110 where id = '${B01}'`);
  await seen(page.locator(tid(`booking-row-${B01}`, { status: 'accepted' })), 'B01\'s row to turn accepted');

  await page.getByTestId(`booking-link-${B01}`).click();
  const tracker = page.getByTestId('booking-tracker');
  await seen(tracker.locator(tid('booking-status', { status: 'accepted' })), 'the tracker to show B01 accepted');
  await seen(tracker.locator(tid('list-status', { status: 'live' })), 'the tracker to be live');
  assert.equal(await page.getByTestId('booking-price').innerText(), '$110.00');

  await app.sql(`update public.bookings set status = 'in_progress' where id = '${B01}'`);
  await seen(tracker.locator(tid('booking-status', { status: 'in_progress' })), 'the tracker to show B01 in progress');
  await seen(page.locator(tid('status-timeline', { status: 'in_progress' })), 'the timeline to reach in progress');
  assert.equal(await page.locator('[data-testid="status-timeline"] [data-step="in_progress"]').getAttribute('data-state'), 'current');
  assert.equal(await page.locator('[data-testid="status-timeline"] [data-step="accepted"]').getAttribute('data-state'), 'done');
  await seen(page.getByTestId('chat'), 'the chat, now that B01 has a technician');

  // Back to the list (client-side): the row says what the database says.
  await page.getByRole('link', { name: '← My bookings', exact: true }).click();
  await seen(page.locator(tid(`booking-row-${B01}`, { status: 'in_progress' })), 'B01\'s row in progress on the list');
  await notReloaded();
  assert.deepEqual(alice.pageErrors, []);
});

test('isolation: bob\'s new booking, bid, message, notification and status change reach bob, never alice\'s pages or socket', async () => {
  const tag = crypto.randomBytes(4).toString('hex');
  const secret = {
    service: `Secret service ${tag}`,
    bid: `bid-secret-${tag}`,
    chat: `chat-secret-${tag}`,
    note: `note-secret-${tag}`,
  };
  const bobBooking = crypto.randomUUID();
  const bobBid = crypto.randomUUID();
  const bobMsg = crypto.randomUUID();
  const bobNote = crypto.randomUUID();

  // alice watches two tabs: her list (and bell), and B03's tracker (booking,
  // bids, chat, typing). bob watches his list and B08's tracker.
  const aliceList = alice.page;
  const aliceB03 = await alice.newPage(`/customer/bookings/${B03}`);
  await app.connection(alice, 'live', T(15000), aliceB03);
  await seen(aliceB03.getByTestId('chat').locator(tid('list-status', { status: 'live' })), 'alice\'s B03 chat to be live');
  await seen(aliceB03.getByTestId('bids-list').locator(tid('list-status', { status: 'live' })), 'alice\'s B03 bids to be live');
  await seen(aliceList.getByTestId('customer-bookings').locator(tid('list-status', { status: 'live' })), 'alice\'s list to be live');

  const bob = await app.signIn(DEMO.bob.email);
  const bobB08 = await bob.newPage(`/customer/bookings/${B08}`);
  await seen(bobB08.getByTestId('chat').locator(tid('list-status', { status: 'live' })), 'bob\'s B08 chat to be live');
  await seen(bob.page.getByTestId('customer-bookings').locator(tid('list-status', { status: 'live' })), 'bob\'s list to be live');
  const aliceFramesBefore = alice.frames.length;

  await app.sql(`
    insert into public.bookings (id, customer_id, service, description, address, price, scheduled_at)
      values ('${bobBooking}', '${DEMO.bob.id}', '${secret.service}', 'bob only', '48 Oak Avenue', 99, now() + interval '1 day');
    insert into public.bids (id, booking_id, technician_id, amount, message)
      values ('${bobBid}', '${B06}', '${DEMO.tom.id}', 190, '${secret.bid}');
    insert into public.messages (id, booking_id, sender_id, body) values ('${bobMsg}', '${B08}', '${DEMO.tina.id}', '${secret.chat}');
    insert into public.notifications (id, user_id, type, title, body) values ('${bobNote}', '${DEMO.bob.id}', 'test', '${secret.note}', 'for bob only');
    update public.bookings set status = 'in_progress' where id = '${B08}';
  `);

  // The positive control: bob's pages show all of it, live.
  await seen(bob.page.locator(tid(`booking-row-${bobBooking}`, { status: 'pending' })), 'bob\'s new booking on his list');
  await seen(bobB08.locator(tid('booking-status', { status: 'in_progress' })), 'B08 in progress on bob\'s tracker');
  await seen(bobB08.getByTestId('chat-messages').getByText(secret.chat), 'tina\'s message on bob\'s chat');
  await bellSays(bobB08, await unread(DEMO.bob.id), 'bob');

  // A barrier on each kind of channel alice holds, committed after bob's
  // rows: once alice sees these, anything of bob's would have come before.
  const aliceMsg = `for alice ${tag}`;
  await app.sql(`
    insert into public.messages (booking_id, sender_id, body) values ('${B03}', '${DEMO.tina.id}', '${aliceMsg}');
    insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'test', 'alice barrier ${tag}');
    update public.bids set message = 'barrier ${tag}' where id = '${X06}';
    update public.bookings set price = 151 where id = '${B03}';
    update public.bookings set price = 61 where id = '${B05}';
  `);
  await seen(aliceB03.getByTestId('chat-messages').getByText(aliceMsg), 'tina\'s message to alice on B03');
  await seen(aliceB03.getByTestId(`bid-row-${X06}`).getByText(`barrier ${tag}`), 'X06\'s new message on alice\'s bids list');
  await waitFor(async () => (await aliceB03.getByTestId('booking-price').innerText()) === '$151.00', { timeout: T(10000), message: 'B03\'s new price on alice\'s tracker' });
  await waitFor(async () => (await aliceList.getByTestId(`booking-row-${B05}`).innerText()).includes('$61.00'), { timeout: T(10000), message: 'B05\'s new price on alice\'s list' });
  const aliceUnread = await unread(DEMO.alice.id);
  await bellSays(aliceList, aliceUnread, 'alice (list tab)');
  await bellSays(aliceB03, aliceUnread, 'alice (B03 tab)');

  // Nothing of bob's on alice's pages...
  const forbidden = [...Object.values(secret), bobBooking, bobBid, bobMsg, bobNote, DEMO.bob.id, B06, B08];
  for (const pg of [aliceList, aliceB03]) {
    await pg.bringToFront(); // a tab behind another gets no animation frames: Playwright's clicks wait for them
    await pg.getByTestId('notification-bell').click();
    await seen(pg.getByTestId('notification-list'), 'alice\'s notification list');
    const text = await inText(pg);
    const html = await pg.content();
    for (const s of forbidden) {
      assert.ok(!text.includes(s) && !html.includes(s), `alice's page ${pg.url()} shows ${s}`);
    }
    await pg.getByTestId('notification-bell').click();
  }
  assert.equal(await aliceList.getByTestId(`booking-row-${bobBooking}`).count(), 0);
  // ...nor in anything her browser received, ever (every frame of both tabs).
  assert.ok(alice.frames.length > aliceFramesBefore, 'alice received the barrier changes');
  for (const f of alice.frames) {
    for (const s of forbidden) assert.ok(!f.includes(s), `a frame alice received holds ${s}: ${f.slice(0, 300)}`);
  }
  assert.deepEqual([...alice.pageErrors, ...bob.pageErrors], []);
  await aliceB03.close();
  await app.close(bob);
  await aliceList.bringToFront();
});

test('a channel handed from one screen to the next across a route change keeps delivering; the bell\'s channel outlives the tracker\'s', async () => {
  // No two mounted components share a topic in this app (each list has its
  // own), so the sharing the module's ref counts exist for is the hand-over
  // between screens: the tracker of B03 unmounts, another tracker of B03
  // mounts within the module's linger and must take the same joined
  // channel, and get its changes.
  const { page } = alice;
  const notReloaded = await markPage(page);
  await page.goto(`/customer/bookings/${B03}`);
  const again = await markPage(page); // goto is a load: mark the new page
  await seen(page.getByTestId('booking-tracker').locator(tid('list-status', { status: 'live' })), 'B03\'s tracker to be live');
  await page.getByTestId('debug-toggle').click();
  const topic = `booking:${B03}`;
  const chan = page.locator(tid('debug-channel', { topic }));
  await seen(page.locator(tid('debug-channel', { topic, refs: 1, status: 'SUBSCRIBED' })), `the debug panel to show ${topic} subscribed with 1 ref`);
  const joins = () => messages(alice.sent).filter((m) => m.topic === `realtime:${topic}` && m.event === 'phx_join').length;
  const leaves = () => messages(alice.sent).filter((m) => m.topic === `realtime:${topic}` && m.event === 'phx_leave').length;
  const joins0 = joins();
  const leaves0 = leaves();
  assert.ok(joins0 >= 1);

  // Quick round trip: list, then back (history), both client-side.
  await page.getByRole('link', { name: '← My bookings', exact: true }).click();
  await seen(page.getByTestId('customer-bookings'), 'the list');
  await page.goBack();
  await seen(page.getByTestId('booking-tracker').locator(tid('list-status', { status: 'live' })), 'the new B03 tracker to be live');
  await seen(page.locator(tid('debug-channel', { topic, refs: 1, status: 'SUBSCRIBED' })), `${topic} held once again`);
  assert.equal(joins(), joins0, `${topic} was taken over, not joined again`);
  assert.equal(leaves(), leaves0, `${topic} was never left`);
  await app.sql(`update public.bookings set price = 152 where id = '${B03}'`);
  await waitFor(async () => (await page.getByTestId('booking-price').innerText()) === '$152.00', { timeout: T(10000), message: 'B03\'s new price on the tracker that took the channel over' });

  // Now leave for good: the tracker's channels are left (after the linger),
  // the bell's channel, held by the header all along, still delivers.
  await page.getByRole('link', { name: '← My bookings', exact: true }).click();
  await seen(chan, `${topic} to be dropped from the debug panel`, { state: 'detached' });
  await waitFor(() => leaves() === leaves0 + 1, { timeout: T(5000), message: `a phx_leave for ${topic}` });
  const bell = `user:${DEMO.alice.id}:notifications`;
  await seen(page.locator(tid('debug-channel', { topic: bell, refs: 1, status: 'SUBSCRIBED' })), 'the bell\'s channel still subscribed');
  await app.sql(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'test', 'after the tracker left')`);
  await bellSays(page, await unread(DEMO.alice.id), 'alice');

  // And coming back later joins afresh, and is live again.
  await page.getByTestId(`booking-link-${B03}`).click();
  await seen(page.getByTestId('booking-tracker').locator(tid('list-status', { status: 'live' })), 'B03\'s tracker live again');
  assert.equal(joins(), joins0 + 1, `${topic} joined again after it was left`);
  await app.sql(`update public.bookings set price = 153 where id = '${B03}'`);
  await waitFor(async () => (await page.getByTestId('booking-price').innerText()) === '$153.00', { timeout: T(10000), message: 'B03\'s new price after a fresh join' });
  await again();
  await assert.rejects(notReloaded(), /reloaded/, 'the mark check itself works: goto() was a load');
  assert.deepEqual(alice.pageErrors, []);
});

test('sign-out leaves nothing subscribed: every tab\'s socket closed, the server\'s connections and channels back to zero', async () => {
  const { page } = alice;
  const second = await alice.newPage(`/customer/bookings/${B03}`);
  await app.connection(alice, 'live', T(15000), second);
  await app.connection(alice, 'live');
  for (const p of app.people.filter((x) => x !== alice)) await app.close(p);
  const m0 = await app.metrics();
  assert.ok(m0.get('realtime_connections') >= 2, `alice's two tabs are connected (${m0.get('realtime_connections')})`);
  assert.ok(m0.get('realtime_channels') >= 2, `alice's channels are joined (${m0.get('realtime_channels')})`);

  await page.bringToFront();
  await page.getByTestId('sign-out').click();
  await page.waitForURL((u) => u.pathname === '/login', { timeout: T(10000) });
  await second.waitForURL((u) => u.pathname === '/login', { timeout: T(10000) });
  await waitFor(() => alice.openSockets().length === 0, { timeout: T(10000), message: 'the socket of each of alice\'s tabs to close' });
  await waitFor(async () => {
    const m = await app.metrics();
    return m.get('realtime_connections') === 0 && m.get('realtime_channels') === 0;
  }, { timeout: T(10000), interval: 100, message: 'the server to count 0 connections and 0 channels' });
  // Still nobody: no tab opened a new socket behind the log-in form.
  assert.equal(alice.openSockets().length, 0);
  await seen(page.getByTestId('login-form'), 'the log-in form');
  assert.deepEqual(alice.pageErrors, []);
});
