// Browser-test harness: the real stack (PostgreSQL with the demo data, the
// server, the built app from web/dist) and Debian's Chromium driven by
// playwright-core, one browser context per person.
//
//   const app = await startApp();                 // stack + Chromium
//   const alice = await app.signIn('alice@customer.demo');   // {page, context, frames, ...}
//   await alice.page.getByTestId('booking-status').waitFor()
//   await app.sql("update public.bookings set ...")
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

import { REPO, T, waitFor } from '../integration/harness.mjs';
import { DEMO, DEMO_PASSWORD, startStack } from '../integration/dbharness.mjs';

export { DEMO, DEMO_PASSWORD, T, waitFor };

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

  /** A new browser context (its own storage: one person), page open at path. */
  async open(pathName = '/login', { viewport = { width: 1280, height: 900 } } = {}) {
    const context = await this.browser.newContext({ viewport, baseURL: this.url });
    const page = await context.newPage();
    const person = { context, page, frames: [], sent: [], consoleErrors: [] };
    page.on('websocket', (ws) => {
      ws.on('framereceived', (f) => person.frames.push(typeof f.payload === 'string' ? f.payload : Buffer.from(f.payload).toString('latin1')));
      ws.on('framesent', (f) => person.sent.push(typeof f.payload === 'string' ? f.payload : ''));
    });
    page.on('console', (m) => { if (m.type() === 'error') person.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => person.consoleErrors.push(String(e)));
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
  async connection(person, state, timeout = T(15000)) {
    await person.page.locator(`[data-testid="connection-state"][data-state="${state}"]`).waitFor({ timeout });
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
