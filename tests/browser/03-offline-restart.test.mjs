// Browser tests, part 3: the seed's 10.1 step 4. The customer's browser goes
// offline for 30 s while changes are committed (a status change, a new bid,
// a chat message, a notification); then the server is stopped and started
// again while more are committed. Each time the connection indicator leaves
// "live" and comes back, and every change made meanwhile is on the page,
// without a reload.
//
// What Chromium's offline emulation (context.setOffline) does to an open
// WebSocket: nothing visible to the page. The socket neither closes nor
// errors; its frames, both ways, are held and delivered once the context is
// back online (true of Chromium 156 for 30 s, less than realtime-js's
// heartbeat timeout). So the app's "offline" here comes from the browser's
// offline event (web/src/realtime/realtime.js), and the missed changes reach
// the page either as those held frames or by the lists' reload on rejoin.
// The server restart is the case where the socket really drops.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { DEMO, T, bid, booking, markPage, seen, startApp, tid, waitFor } from './browser.mjs';

const B01 = booking(1); // alice, pending, bids X01 (tom) and X02 (tina)
const B03 = booking(3); // alice, in_progress, tina; chat
const X01 = bid(1);
const X02 = bid(2);

let app;
let alice;
let bidsTab; // alice's tracker of B01: its status, its bids, the bell
let chatTab; // alice's tracker of B03: its status, the chat, the bell
const marks = [];

before(async () => {
  app = await startApp();
  alice = await app.signIn(DEMO.alice.email);
  bidsTab = alice.page;
  await bidsTab.goto(`/customer/bookings/${B01}`);
  chatTab = await alice.newPage(`/customer/bookings/${B03}`);
  for (const page of [bidsTab, chatTab]) {
    await seen(page.getByTestId('booking-tracker').locator(tid('list-status', { status: 'live' })), 'the tracker to be live');
    await seen(page.getByTestId('bids-list').locator(tid('list-status', { status: 'live' })), 'the bids to be live');
    marks.push(await markPage(page));
  }
  await seen(chatTab.getByTestId('chat').locator(tid('list-status', { status: 'live' })), 'the chat to be live');
});
after(async () => { await app?.stop(); });

const state = (page) => page.getByTestId('connection-state').getAttribute('data-state');
const unread = async () => Number((await app.rows(`select count(*) as n from public.notifications where user_id = '${DEMO.alice.id}' and read_at is null`))[0].n);

/** Every change of a round is on alice's pages: the bell (count, and the
 * note in its list, in both tabs), the bids and status of B01, the chat and
 * status of B03. */
async function allOnPage({ note, noteTitle, bids, b01, b03, chat }) {
  const n = await unread();
  for (const page of [bidsTab, chatTab]) {
    await page.bringToFront(); // a tab behind another gets no animation frames: Playwright's clicks wait for them
    await seen(page.locator(tid('notification-count', { count: n })), `the bell to count ${n} unread`);
    await page.getByTestId('notification-bell').click();
    await seen(page.getByTestId(`notification-item-${note}`).filter({ hasText: noteTitle }), 'the note in the bell\'s list');
    await page.getByTestId('notification-bell').click();
  }
  for (const [id, status, text] of bids) {
    const row = bidsTab.locator(tid(`bid-row-${id}`, { status }));
    await seen(text ? row.filter({ hasText: text }) : row, `bid ${id} ${status} on B01's tracker`);
  }
  await seen(bidsTab.locator(tid('booking-status', { status: b01 })), `B01 ${b01}`);
  await seen(chatTab.locator(tid('booking-status', { status: b03 })), `B03 ${b03}`);
  await seen(chatTab.locator(tid('chat-message', { mine: 'false' })).filter({ hasText: chat }), `"${chat}" in B03's chat`);
  for (const notReloaded of marks) await notReloaded();
}

test('offline for 30 s: the indicator says offline throughout, then live, and every change committed meanwhile is on the page (seed 10.1 step 4)', async (t) => {
  for (const page of [bidsTab, chatTab]) await app.connection(alice, 'live', T(15000), page);
  const tag = crypto.randomBytes(4).toString('hex');
  const newBid = crypto.randomUUID();
  const note = crypto.randomUUID();
  const chat = `While you were offline ${tag}`;
  const framesBefore = alice.frames.length;
  const socketsBefore = alice.sockets.length;

  await alice.context.setOffline(true);
  const offlineAt = Date.now();
  for (const page of [bidsTab, chatTab]) await app.connection(alice, 'offline', T(5000), page);
  // The lists say so too: what they show may no longer be current.
  await seen(bidsTab.getByTestId('bids-list').locator(tid('list-status', { status: 'stale' })), 'the bids list to say stale while offline');

  await app.sql(`
    update public.bids set status = 'withdrawn' where id = '${X01}';
    insert into public.bids (id, booking_id, technician_id, amount, message) values ('${newBid}', '${B01}', '${DEMO.tom.id}', 115, 'Offline bid ${tag}');
    insert into public.messages (booking_id, sender_id, body) values ('${B03}', '${DEMO.tina.id}', '${chat}');
    update public.bookings set status = 'completed' where id = '${B03}';
    insert into public.notifications (id, user_id, type, title) values ('${note}', '${DEMO.alice.id}', 'test', 'Offline note ${tag}');
  `);
  // A message written meanwhile cannot go: the page says why in words, and
  // keeps the draft.
  await chatTab.bringToFront();
  const draft = `Sent once back online ${tag}`;
  await chatTab.getByTestId('chat-input').fill(draft);
  await chatTab.getByTestId('chat-send').click();
  const sendError = await seen(chatTab.getByTestId('chat-error'), 'the chat\'s error while offline');
  assert.equal(await sendError.innerText(), 'Cannot reach the TechCare server. Check your connection and try again.');
  assert.equal(await chatTab.getByTestId('chat-input').inputValue(), draft, 'the draft is kept');
  // The indicator keeps saying offline for the 30 s.
  await waitFor(async () => {
    for (const page of [bidsTab, chatTab]) {
      const s = await state(page);
      if (s !== 'offline') throw new Error(`the indicator said "${s}" ${Date.now() - offlineAt} ms into the 30 s offline`);
    }
    return Date.now() - offlineAt >= 30000;
  }, { timeout: 35000, interval: 250, message: '30 s offline' });
  const shownOffline = await chatTab.locator(tid('chat-message')).filter({ hasText: chat }).count();
  t.diagnostic(`while offline: ${alice.frames.length - framesBefore} frame(s) received, the chat message shown ${shownOffline} time(s)`);

  await alice.context.setOffline(false);
  const onlineAt = Date.now();
  for (const page of [bidsTab, chatTab]) await app.connection(alice, 'live', T(20000), page);
  t.diagnostic(`live again ${Date.now() - onlineAt} ms after going online`);
  await allOnPage({
    note, noteTitle: `Offline note ${tag}`, chat, b01: 'pending', b03: 'completed',
    bids: [[X01, 'withdrawn'], [X02, 'pending'], [newBid, 'pending', `Offline bid ${tag}`]],
  });
  await seen(chatTab.getByTestId('review-form'), 'the review form of the completed job');
  // The kept draft goes now.
  await chatTab.bringToFront();
  await chatTab.getByTestId('chat-send').click();
  await seen(chatTab.locator(tid('chat-message', { mine: 'true' })).filter({ hasText: draft }), 'the kept draft, sent, on the chat');
  assert.equal(await chatTab.getByTestId('chat-error').count(), 0, 'the error is gone once sent');
  assert.equal((await app.rows(`select count(*) as n from public.messages where body = '${draft}' and sender_id = '${DEMO.alice.id}'`))[0].n, 1);
  t.diagnostic(`every change on the page ${Date.now() - onlineAt} ms after going online`);
  t.diagnostic(`new sockets opened across the offline period: ${alice.sockets.length - socketsBefore}`);
  assert.deepEqual(alice.pageErrors, []);
});

test('server stopped and started again: the indicator leaves live and comes back, and every change committed while it was down is on the page', async () => {
  for (const page of [bidsTab, chatTab]) await app.connection(alice, 'live', T(15000), page);
  const tag = crypto.randomBytes(4).toString('hex');
  const newBid = crypto.randomUUID();
  const note = crypto.randomUUID();
  const chat = `While the server was down ${tag}`;
  const seenDown = new Set();

  await app.stack.restartServer({
    whileDown: async () => {
      await waitFor(async () => {
        for (const page of [bidsTab, chatTab]) if ((await state(page)) !== 'live') seenDown.add(page);
        return seenDown.size === 2;
      }, { timeout: T(15000), interval: 100, message: 'both tabs\' indicators to leave "live"' });
      await app.sql(`
        update public.bids set status = 'withdrawn' where id = '${X02}';
        insert into public.bids (id, booking_id, technician_id, amount, message) values ('${newBid}', '${B01}', '${DEMO.tina.id}', 105, 'Restart bid ${tag}');
        insert into public.messages (booking_id, sender_id, body) values ('${B03}', '${DEMO.tina.id}', '${chat}');
        insert into public.notifications (id, user_id, type, title) values ('${note}', '${DEMO.alice.id}', 'test', 'Restart note ${tag}');
        update public.bookings set status = 'cancelled' where id = '${B01}';
      `);
      for (const page of [bidsTab, chatTab]) {
        const s = await state(page);
        assert.ok(['reconnecting', 'offline'].includes(s), `the indicator says "${s}" while the server is down`);
      }
    },
  });
  for (const page of [bidsTab, chatTab]) await app.connection(alice, 'live', T(30000), page);
  // Cancelling B01 rejected its open bids (the new one too); withdrawn ones
  // are no longer listed once the booking is closed.
  await allOnPage({
    note, noteTitle: `Restart note ${tag}`, chat, b01: 'cancelled', b03: 'completed',
    bids: [[newBid, 'rejected', `Restart bid ${tag}`]],
  });
  assert.equal(await bidsTab.getByTestId(`bid-row-${X02}`).count(), 0, 'the withdrawn bid is not listed on a closed booking');
  assert.equal(await bidsTab.getByTestId(`accept-bid-${newBid}`).count(), 0, 'no accept button on a cancelled booking');
  assert.deepEqual(alice.pageErrors, []);
});
