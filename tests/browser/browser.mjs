// Browser-test harness: the real stack (PostgreSQL with the demo data, the
// server, the built app from web/dist) and Debian's Chromium driven by
// playwright-core, one browser context per person.
//
//   const app = await startApp();                 // stack + Chromium
//   const alice = await app.signIn('alice@customer.demo');   // {page, context, frames, ...}
//   await alice.page.getByTestId('booking-status').waitFor()
//   await app.sql("update public.bookings set ...")
//   const tab = await alice.newPage('/customer')          // another tab, same session
//   await seen(page.locator(tid('booking-row-' + booking(1), { status: 'accepted' })), 'B01 accepted')
//   const notReloaded = await markPage(page); ...; await notReloaded()   // live, not re-read
//   messages(alice.sent)                                  // Phoenix messages the page sent
//   await app.metrics()                                   // the server's /metrics
//   await app.stop();
//
// The app is served from a copy of web/dist with its own config.json (the
// anon key of this server's secret). Access tokens live JWT_EXP seconds
// (100 here, see SHORT_TOKEN_S), so supabase-js refreshes them during a test.
// Every WebSocket frame a page receives is kept (person.frames) so a test
// can check what reached the browser, not only what it shows.
//
// This file is not a test file: `node --test 'tests/browser/*.test.mjs'`
// only runs *.test.mjs.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { REPO, T, metrics, waitFor } from '../integration/harness.mjs';
import { DEMO, DEMO_PASSWORD, decodeJwt, startStack } from '../integration/dbharness.mjs';

export { DEMO, DEMO_PASSWORD, T, decodeJwt, waitFor };

export const CHROMIUM = process.env.TC_CHROMIUM || '/usr/bin/chromium';
// auth-js refreshes a session once it is within 90 s of expiry (three of
// its 30 s ticks, the first at sign-in): a 100 s token is refreshed about
// every 30 s, during normal use. At 90 s or less, every request would
// refresh first.
export const SHORT_TOKEN_S = 100;

const DIST = path.join(REPO, 'web', 'dist');

function copyDir(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const ent of fs.readdirSync(from, { withFileTypes: true })) {
    const a = path.join(from, ent.name);
    const b = path.join(to, ent.name);
    if (ent.isDirectory()) copyDir(a, b);
    else if (ent.isFile()) fs.copyFileSync(a, b);
  }
}

export const HOME = { customer: '/customer', technician: '/technician', admin: '/admin' };

/** Demo row ids: booking(3) = B03's id, bid(6) = X06's, as db/demo.sql has them. */
export const booking = (n) => `b0000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
export const bid = (n) => `b1d00000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A CSS selector for data-testid=id with the given data-* attributes. */
export function tid(id, attrs = {}) {
  return `[data-testid="${id}"]${Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join('')}`;
}

/** The Phoenix messages of frames (vsn 2.0.0 text frames: [join_ref, ref,
 * topic, event, payload]); others (binary broadcasts) are skipped. */
export function messages(frames) {
  const out = [];
  for (const f of frames) {
    try {
      const m = JSON.parse(f);
      if (Array.isArray(m) && m.length === 5) out.push({ joinRef: m[0], ref: m[1], topic: m[2], event: m[3], payload: m[4] });
    } catch { /* not JSON */ }
  }
  return out;
}

/** Marks a page so that a later check can tell it was never reloaded (a
 * reload or a full navigation drops the mark): live, not re-read. */
export async function markPage(page) {
  const mark = `tc-${Math.random().toString(36).slice(2)}`;
  await page.evaluate((m) => { window.__tcMark = m; }, mark);
  return async () => {
    const now = await page.evaluate(() => window.__tcMark ?? null);
    if (now !== mark) throw new Error(`the page was reloaded (mark ${mark} gone, have ${now})`);
  };
}

/** Waits for a locator to be visible (or state), failing with what was awaited. */
export async function seen(locator, what, { timeout = T(10000), state = 'visible' } = {}) {
  try {
    await locator.waitFor({ state, timeout });
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what} (${state}): ${e.message.split('\n')[0]}`);
  }
  return locator;
}

export class App {
  constructor(stack, browser, webRoot) {
    this.stack = stack;
    this.browser = browser;
    this.webRoot = webRoot;
    this.people = [];
  }

  get url() { return this.stack.url; }

  /** SQL as the superuser (psql); resolves when committed. */
  sql(text) { return this.stack.db.psql(text); }
  rows(query) { return this.stack.db.rows(query); }

  /** A new browser context (its own storage: one person), page open at path.
   * Every page of the context (person.newPage() opens more tabs) records
   * into the same person: frames / sent (WebSocket payloads received /
   * sent), sockets ({url, page, closed}), consoleErrors, pageErrors
   * (uncaught exceptions only). */
  async open(pathName = '/login', { viewport = { width: 1280, height: 900 } } = {}) {
    const context = await this.browser.newContext({ viewport, baseURL: this.url });
    const person = { context, page: null, pages: [], frames: [], sent: [], sockets: [], consoleErrors: [], pageErrors: [] };
    const attached = new WeakSet();
    const attach = (pg) => {
      if (attached.has(pg)) return;
      attached.add(pg);
      person.pages.push(pg);
      pg.on('websocket', (ws) => {
        const sock = { url: ws.url(), page: pg, closed: false };
        person.sockets.push(sock);
        ws.on('close', () => { sock.closed = true; });
        ws.on('framereceived', (f) => person.frames.push(typeof f.payload === 'string' ? f.payload : Buffer.from(f.payload).toString('latin1')));
        ws.on('framesent', (f) => person.sent.push(typeof f.payload === 'string' ? f.payload : ''));
      });
      pg.on('console', (m) => { if (m.type() === 'error') person.consoleErrors.push(m.text()); });
      pg.on('pageerror', (e) => { person.consoleErrors.push(String(e)); person.pageErrors.push(String(e)); });
    };
    context.on('page', attach);
    const page = await context.newPage();
    attach(page);
    person.page = page;
    /** The sockets still open: each open page's newest one, unless it
     * closed (Playwright reports no close for a socket its page dropped by
     * navigating away or closing). */
    person.openSockets = () => person.pages.filter((pg) => !pg.isClosed())
      .map((pg) => person.sockets.filter((s) => s.page === pg).at(-1))
      .filter((s) => s && !s.closed);
    /** Another tab of this person (same storage, so the same session).
     * Only the front tab gets animation frames, which Playwright's clicks
     * wait for: bringToFront() a tab before clicking in it. */
    person.newPage = async (p = '/') => {
      const pg = await context.newPage();
      attach(pg);
      await pg.goto(p);
      return pg;
    };
    await page.goto(pathName);
    this.people.push(person);
    return person;
  }

  /** Opens the app and signs in through the log-in form, as a person would. */
  async signIn(email, { password = DEMO_PASSWORD, viewport } = {}) {
    const person = await this.open('/login', { viewport });
    const { page } = person;
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: /^sign in$/i }).click();
    const role = Object.values(DEMO).find((d) => d.email === email)?.role;
    if (role) await page.waitForURL((u) => u.pathname.startsWith(HOME[role]), { timeout: T(15000) });
    person.email = email;
    person.id = Object.values(DEMO).find((d) => d.email === email)?.id;
    return person;
  }

  /** Waits until the page's connection indicator says state. */
  async connection(person, state, timeout = T(15000), page = person.page) {
    await page.locator(`[data-testid="connection-state"][data-state="${state}"]`).waitFor({ timeout })
      .catch((e) => { throw new Error(`connection indicator of ${person.email ?? 'a page'} never said "${state}" within ${timeout} ms: ${e.message}`); });
  }

  /** The server's /metrics as Map(name -> number) (labelled samples keep their labels in the name). */
  metrics() { return metrics(this.stack.server); }

  /** Closes a person's browser context (every tab and socket). */
  async close(person) {
    await person.context.close();
    this.people = this.people.filter((p) => p !== person);
  }

  async stop() {
    let err;
    for (const p of this.people) await p.context.close().catch(() => {});
    await this.browser?.close().catch(() => {});
    try { await this.stack.stop(); } catch (e) { err = e; }
    fs.rmSync(this.webRoot, { recursive: true, force: true });
    if (err) throw err;
  }
}

/** The stack with the built app, and Chromium. */
export async function startApp({ jwtExp = SHORT_TOKEN_S, serverEnv = {}, fast = true } = {}) {
  if (!fs.existsSync(path.join(DIST, 'index.html'))) throw new Error('web/dist is not built: run scripts/web.sh');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/deps.sh installs Debian's chromium`);
  const webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-web-'));
  copyDir(DIST, webRoot);
  const stack = await startStack({ fast, serverEnv: { WEB_ROOT: webRoot, JWT_EXP: String(jwtExp), ...serverEnv } });
  fs.writeFileSync(path.join(webRoot, 'config.json'), JSON.stringify({ anonKey: stack.anonKey }));
  let browser;
  try {
    // --no-sandbox: the tests run as root, where Chromium's sandbox cannot start.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  } catch (e) {
    await stack.stop().catch(() => {});
    fs.rmSync(webRoot, { recursive: true, force: true });
    throw e;
  }
  return new App(stack, browser, webRoot);
}
