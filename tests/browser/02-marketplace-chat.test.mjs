// Browser tests, part 2: people working together, each in their own
// browser context. Chat both ways with the typing indicator (seed 10.1 step
// 3); a bid placed in the marketplace reaches the customer live, the
// customer accepts it and the job leaves every technician's marketplace
// and lands in the winner's jobs; a write the database refuses is shown in
// words; the phone layout; and, last, because it needs the time: a token
// refresh during the file, past the first token's expiry, without a rejoin.
// One stack for the file: the tests run in order and build on its data.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { DEMO, T, booking, decodeJwt, markPage, messages, seen, startApp, tid, waitFor } from './browser.mjs';

const B02 = booking(2); // alice, accepted, tom
const B03 = booking(3); // alice, in_progress, tina; chat
const B09 = booking(9); // carol, pending, no bids

let app;
let alice; // signed in first, kept on her pages for the token test at the end
let tina;
let aliceNotReloaded;

before(async () => {
  app = await startApp();
  alice = await app.signIn(DEMO.alice.email);
  aliceNotReloaded = await markPage(alice.page);
});
after(async () => { await app?.stop(); });

const unread = async (uid) => Number((await app.rows(`select count(*) as n from public.notifications where user_id = '${uid}' and read_at is null`))[0].n);
const live = (scope, what) => seen(scope.locator(tid('list-status', { status: 'live' })), `${what} to be live`);

/** Resolves once person's socket has had its join of topic accepted. */
function joined(person, topic) {
  return waitFor(() => messages(person.frames).some((m) => m.topic === `realtime:${topic}` && m.event === 'phx_reply' &&
    m.ref === m.joinRef && m.payload?.status === 'ok'), { timeout: T(10000), message: `${person.email}'s join of ${topic}` });
}

/** The typing flags of key's presence metas person received on topic, in order. */
function typingFlags(person, topic, key) {
  const out = [];
  for (const m of messages(person.frames)) {
    if (m.topic !== `realtime:${topic}`) continue;
    const joins = m.event === 'presence_diff' ? m.payload?.joins : m.event === 'presence_state' ? m.payload : null;
    for (const meta of joins?.[key]?.metas ?? []) out.push(!!meta.typing);
  }
  return out;
}

test('chat both ways between the customer and the assigned technician, with the typing indicator shown and cleared (seed 10.1 step 3)', async () => {
  const ap = alice.page;
  await ap.getByTestId(`booking-link-${B03}`).click();
  await live(ap.getByTestId('chat'), 'alice\'s chat');
  await joined(alice, `typing:${B03}`);

  tina = await app.signIn(DEMO.tina.email);
  const tp = tina.page;
  const tinaNotReloaded = await markPage(tp);
  await tp.getByTestId(`job-link-${B03}`).click();
  await seen(tp.locator(tid('booking-status', { status: 'in_progress' })), 'tina\'s job page for B03');
  await live(tp.getByTestId('chat'), 'tina\'s chat');
  await joined(tina, `typing:${B03}`);
  const typingA = ap.getByTestId('typing-indicator');
  const typingT = tp.getByTestId('typing-indicator');

  // alice types: tina sees it, alice does not see herself.
  const inputA = ap.getByTestId('chat-input');
  await inputA.pressSequentially('Is the AC fixable', { delay: 30 });
  await waitFor(async () => (await typingT.innerText()) === 'Alice Martin is typing…', { timeout: T(10000), message: 'tina to see "Alice Martin is typing…"' });
  assert.equal(await typingA.innerText(), '');
  // alice stops, the text still in the box and the box still focused: the
  // indicator clears by itself, because alice's page says typing:false a
  // few seconds after the last key (not only because a typing:true grows stale).
  const flagsBefore = typingFlags(tina, `typing:${B03}`, DEMO.alice.id).length;
  await waitFor(async () => (await typingT.innerText()) === '', { timeout: T(10000), message: 'tina\'s typing indicator to clear after alice stopped' });
  assert.deepEqual(typingFlags(tina, `typing:${B03}`, DEMO.alice.id).slice(flagsBefore), [false], 'tina received alice\'s typing:false');
  assert.equal(await inputA.inputValue(), 'Is the AC fixable');
  assert.ok(await inputA.evaluate((el) => el === document.activeElement), 'alice\'s input kept the focus');

  await inputA.pressSequentially(' today?');
  await inputA.press('Enter');
  const fromAlice = 'Is the AC fixable today?';
  await seen(tp.locator(tid('chat-message', { mine: 'false' })).filter({ hasText: fromAlice }), 'alice\'s message on tina\'s page');
  await seen(ap.locator(tid('chat-message', { mine: 'true' })).filter({ hasText: fromAlice }), 'alice\'s message on her own page');
  assert.match(await tp.locator(tid('chat-message', { mine: 'false' })).filter({ hasText: fromAlice }).innerText(), /Alice Martin/);
  assert.equal(await inputA.inputValue(), '', 'alice\'s box is emptied once sent');
  await waitFor(async () => (await typingT.innerText()) === '', { timeout: T(5000), message: 'no typing shown after the send' });

  // tina answers.
  const inputT = tp.getByTestId('chat-input');
  await inputT.pressSequentially('Yes, the capacitor', { delay: 30 });
  await waitFor(async () => (await typingA.innerText()) === 'Tina Okafor is typing…', { timeout: T(10000), message: 'alice to see "Tina Okafor is typing…"' });
  assert.equal(await typingT.innerText(), '');
  const tinaFlags = typingFlags(alice, `typing:${B03}`, DEMO.tina.id).length;
  await tp.getByTestId('chat-send').click();
  await seen(ap.locator(tid('chat-message', { mine: 'false' })).filter({ hasText: 'Yes, the capacitor' }), 'tina\'s message on alice\'s page');
  await seen(tp.locator(tid('chat-message', { mine: 'true' })).filter({ hasText: 'Yes, the capacitor' }), 'tina\'s message on her own page');
  await waitFor(async () => (await typingA.innerText()) === '', { timeout: T(10000), message: 'alice\'s typing indicator to clear after tina sent' });
  assert.equal(typingFlags(alice, `typing:${B03}`, DEMO.tina.id).slice(tinaFlags)[0], false, 'sending said typing:false');

  // Both are in the database once, in order, from the right senders.
  const rows = await app.rows(`select sender_id, body from public.messages where booking_id = '${B03}' order by created_at desc limit 2`);
  assert.deepEqual(rows.reverse(), [{ sender_id: DEMO.alice.id, body: fromAlice }, { sender_id: DEMO.tina.id, body: 'Yes, the capacitor' }]);
  assert.equal(await ap.locator(tid('chat-message')).filter({ hasText: fromAlice }).count(), 1, 'shown once on alice\'s page');
  assert.equal(await tp.locator(tid('chat-message')).filter({ hasText: fromAlice }).count(), 1, 'shown once on tina\'s page');
  await aliceNotReloaded();
  await tinaNotReloaded();
});

test('a bid appears live on the customer\'s tracker; accepted, the job leaves both technicians\' marketplaces and lands in the winner\'s jobs', async () => {
  const carol = await app.signIn(DEMO.carol.email);
  const cp = carol.page;
  const carolNotReloaded = await markPage(cp);
  await cp.getByTestId(`booking-link-${B09}`).click();
  await seen(cp.locator(tid('booking-status', { status: 'pending' })), 'carol\'s tracker of B09');
  await live(cp.getByTestId('bids-list'), 'carol\'s bids list');

  const tom = await app.signIn(DEMO.tom.email);
  const op = tom.page;
  const tp = tina.page;
  await tp.getByRole('link', { name: '← Jobs', exact: true }).click();
  for (const [who, page] of [['tom', op], ['tina', tp]]) {
    await live(page.getByTestId('marketplace'), `${who}'s marketplace`);
    await seen(page.getByTestId(`market-row-${B09}`), `B09 in ${who}'s marketplace`);
    await live(page.getByTestId('my-jobs'), `${who}'s jobs`);
  }
  const tomNotReloaded = await markPage(op);
  const tinaNotReloaded = await markPage(tp);

  // Two bids, through the marketplace's forms.
  const place = async (page, amount, message) => {
    await page.getByTestId(`bid-amount-${B09}`).fill(String(amount));
    await page.getByTestId(`bid-message-${B09}`).fill(message);
    await page.getByTestId(`place-bid-${B09}`).click();
    await seen(page.locator(tid(`my-bid-${B09}`, { status: 'pending' })), 'the technician\'s own bid on B09');
  };
  await place(tp, 70, 'Tina can come this afternoon');
  await place(op, 72, 'Tom, tomorrow morning');
  const bids = await app.rows(`select id, technician_id from public.bids where booking_id = '${B09}'`);
  const tinaBid = bids.find((b) => b.technician_id === DEMO.tina.id).id;
  const tomBid = bids.find((b) => b.technician_id === DEMO.tom.id).id;
  await seen(cp.locator(tid(`bid-row-${tinaBid}`, { status: 'pending' })).filter({ hasText: 'Tina can come this afternoon' }), 'tina\'s bid on carol\'s tracker');
  await seen(cp.locator(tid(`bid-row-${tomBid}`, { status: 'pending' })).filter({ hasText: 'Tom, tomorrow morning' }), 'tom\'s bid on carol\'s tracker');
  assert.match(await cp.getByTestId(`bid-row-${tinaBid}`).innerText(), /\$70\.00/);

  await cp.getByTestId(`accept-bid-${tinaBid}`).click();
  await seen(cp.locator(tid('booking-status', { status: 'accepted' })), 'B09 accepted on carol\'s tracker');
  await seen(cp.locator(tid(`bid-row-${tinaBid}`, { status: 'accepted' })), 'tina\'s bid accepted on carol\'s tracker');
  await seen(cp.locator(tid(`bid-row-${tomBid}`, { status: 'rejected' })), 'tom\'s bid not accepted on carol\'s tracker');
  await waitFor(async () => (await cp.getByTestId('booking-price').innerText()) === '$70.00', { timeout: T(5000), message: 'the accepted amount as B09\'s price' });

  await seen(op.getByTestId(`market-row-${B09}`), 'B09 to leave tom\'s marketplace', { state: 'detached' });
  await seen(tp.getByTestId(`market-row-${B09}`), 'B09 to leave tina\'s marketplace', { state: 'detached' });
  await seen(tp.locator(tid(`job-row-${B09}`, { status: 'accepted' })), 'B09 in tina\'s jobs');
  assert.equal(await op.getByTestId(`job-row-${B09}`).count(), 0, 'B09 is not in tom\'s jobs');
  // Other listings stay where they were.
  assert.equal(await op.getByTestId(`market-row-${booking(1)}`).count(), 1);

  // The winner starts the job from her list; carol sees it at once.
  await tp.getByTestId(`start-job-${B09}`).click();
  await seen(cp.locator(tid('booking-status', { status: 'in_progress' })), 'B09 in progress on carol\'s tracker');
  await seen(tp.locator(tid(`job-row-${B09}`, { status: 'in_progress' })), 'B09 in progress in tina\'s jobs');
  for (const check of [carolNotReloaded, tomNotReloaded, tinaNotReloaded]) await check();
  assert.deepEqual([...carol.pageErrors, ...tom.pageErrors, ...tina.pageErrors], []);
  await app.close(carol);
  await app.close(tom);
});

test('a write the database refuses shows its reason in words (the technician started the job as the customer cancelled it)', async () => {
  const ap = alice.page;
  await ap.getByRole('link', { name: '← My bookings', exact: true }).click();
  await ap.getByTestId(`booking-link-${B02}`).click();
  await seen(ap.locator(tid('booking-status', { status: 'accepted' })), 'B02 accepted on alice\'s tracker');
  await live(ap.getByTestId('booking-tracker'), 'alice\'s B02 tracker');
  await ap.getByTestId('cancel-booking').click();
  const confirm = await seen(ap.getByTestId('confirm-cancel-booking'), 'the confirmation button');

  // tom's start, committed only once alice's cancel waits for its row lock.
  const held = await app.stack.db.hold(`update public.bookings set status = 'in_progress' where id = '${B02}'`);
  try {
    await confirm.click();
    await waitFor(async () => Number((await app.rows(`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%bookings%'`))[0].n) > 0,
      { timeout: T(10000), message: 'alice\'s cancel to wait for the row lock' });
  } finally {
    await held.release();
  }
  const error = await seen(ap.getByTestId('error-message'), 'the error banner');
  const text = await error.innerText();
  assert.match(text, /Could not cancel: A customer may not move a booking from in_progress to cancelled/, text);
  assert.doesNotMatch(text, /42501|\{|"code"|undefined|\[object/, 'no codes or raw objects in the message');
  await seen(ap.locator(tid('booking-status', { status: 'in_progress' })), 'B02 in progress, as the database has it');
  assert.equal(await ap.getByTestId('cancel-booking').count(), 0, 'no cancel button left for an in-progress job');
  assert.equal((await app.rows(`select status from public.bookings where id = '${B02}'`))[0].status, 'in_progress');
  await aliceNotReloaded();
});

test('phone width (375×740): no horizontal scroll on any dashboard, its detail page, the open bell or the debug panel', async () => {
  const viewport = { width: 375, height: 740 };
  const overflow = (page) => page.evaluate(() => {
    const de = document.documentElement;
    const scrolls = (el) => {
      for (let p = el.parentElement; p; p = p.parentElement) {
        if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return true;
      }
      return false;
    };
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > de.clientWidth + 0.5 && !scrolls(e))
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}${e.dataset.testid ? `[${e.dataset.testid}]` : ''}`);
    return { scrollWidth: de.scrollWidth, clientWidth: de.clientWidth, wide: wide.slice(0, 10) };
  });
  const screens = [
    [DEMO.alice.email, [['/customer', 'customer-bookings'], [`/customer/bookings/${B03}`, 'booking-tracker']]],
    [DEMO.tina.email, [['/technician', 'marketplace'], [`/technician/jobs/${B03}`, 'job-page']]],
    [DEMO.admin.email, [['/admin', 'admin-bookings'], [`/admin/bookings/${B03}`, 'admin-booking']]],
  ];
  for (const [email, pages] of screens) {
    const who = await app.signIn(email, { viewport });
    for (const [path, main] of pages) {
      if (new URL(who.page.url()).pathname !== path) await who.page.goto(path);
      await seen(who.page.getByTestId(main), `${main} at ${path}`);
      await app.connection(who, 'live');
      for (const [state, open, close] of [
        ['as loaded', null, null],
        ['bell open', 'notification-bell', 'notification-bell'],
        ['debug panel open', 'debug-toggle', 'debug-toggle'],
      ]) {
        if (open) {
          await who.page.getByTestId(open).click();
          await seen(who.page.getByTestId(open === 'debug-toggle' ? 'debug-panel' : 'notification-list'), `${state} at ${path}`);
        }
        const o = await overflow(who.page);
        assert.ok(o.scrollWidth <= o.clientWidth && o.wide.length === 0,
          `${email} ${path} (${state}): page ${o.scrollWidth}px wide in a ${o.clientWidth}px window; too wide: ${o.wide.join(', ')}`);
        if (close) await who.page.getByTestId(close).click();
      }
    }
    assert.deepEqual(who.pageErrors, []);
    await app.close(who);
  }
});

test('a token refresh mid-session: the new token reaches every channel, which outlive the first token and keep delivering without a rejoin', async () => {
  // alice signed in as the file began; her bell's channel (in the header,
  // never unmounted) joined with that first token. Its expiry is what the
  // server would close the channel on, had the refreshed token not reached it.
  const bell = `realtime:user:${DEMO.alice.id}:notifications`;
  const sent = () => messages(alice.sent).filter((m) => m.topic === bell);
  const firstJoin = sent().find((m) => m.event === 'phx_join');
  assert.ok(firstJoin, 'the bell joined');
  const first = decodeJwt(firstJoin.payload.access_token);
  assert.equal(first.sub, DEMO.alice.id);

  const refreshed = await waitFor(() => sent().find((m) => m.event === 'access_token' && decodeJwt(m.payload.access_token).exp > first.exp),
    { timeout: T(60000), interval: 200, message: 'the page to hand a refreshed token to the bell\'s channel' });
  const second = decodeJwt(refreshed.payload.access_token);
  assert.equal(second.sub, DEMO.alice.id);

  // Past the first token's expiry (plus the server's tick)...
  await waitFor(() => Date.now() / 1000 > first.exp + 2, { timeout: T(1000) * 120, interval: 500, message: `the first token's expiry (${new Date(first.exp * 1000).toISOString()})` });
  await app.connection(alice, 'live');
  // ...a change committed now arrives on the same join.
  const n = await unread(DEMO.alice.id);
  await app.sql(`insert into public.notifications (user_id, type, title) values ('${DEMO.alice.id}', 'test', 'after the first token expired')`);
  await seen(alice.page.locator(tid('notification-count', { count: n + 1 })), `alice's bell to count ${n + 1}`);
  await app.sql(`update public.bookings set price = 95 where id = '${B02}'`);
  await waitFor(async () => (await alice.page.getByTestId('booking-price').innerText()) === '$95.00', { timeout: T(10000), message: 'B02\'s new price on alice\'s tracker' });

  assert.equal(sent().filter((m) => m.event === 'phx_join').length, 1, 'the bell\'s channel was never joined again');
  const expired = alice.frames.filter((f) => /Token has expired/i.test(f));
  assert.deepEqual(expired, [], 'the server never closed a channel for an expired token');
  // Every channel the page holds now had the refreshed token (or a later one).
  const joinedTopics = new Set(messages(alice.sent).filter((m) => m.event === 'phx_join' && decodeJwt(m.payload.access_token).exp <= first.exp).map((m) => m.topic));
  const left = new Set(messages(alice.sent).filter((m) => m.event === 'phx_leave').map((m) => m.topic));
  for (const topic of joinedTopics) {
    if (left.has(topic)) continue;
    assert.ok(messages(alice.sent).some((m) => m.topic === topic && m.event === 'access_token' && decodeJwt(m.payload.access_token).exp > first.exp),
      `${topic}, joined with the first token, was handed a refreshed one`);
  }
  await aliceNotReloaded();
  assert.deepEqual(alice.pageErrors, []);
});
