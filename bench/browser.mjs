// Browser benchmark: commit -> on-screen latency and first load of each
// dashboard, on the demo data, in Debian's Chromium (headless) against the
// real server and PostgreSQL. Run by bench/browser.sh (which installs and
// builds first); prints a table.
//
//   TC_SERVER_BIN=build/techcare-realtime node bench/browser.mjs [changes=300] [loads=5]
//
// Latency: Node takes the time just before it sends an autocommit UPDATE or
// INSERT to a long-lived psql session; the page takes the time its DOM shows
// the new value (a MutationObserver installed before the run). Both are the
// same machine's clock (performance.timeOrigin + performance.now()). One
// change at a time, the next once the last is on screen, so nothing
// coalesces. Customer: a booking's price on the tracker page (UPDATE);
// admin: a new booking appearing in "All bookings" (INSERT).
// First load: a signed-in page reloaded, until its main list shows rows,
// and until the connection indicator says live.

import crypto from 'node:crypto';

import { DEMO, startApp } from '../tests/browser/browser.mjs';

const N = Number(process.argv[2] || 300);
const LOADS = Number(process.argv[3] || 5);
const B01 = 'b0000000-0000-4000-8000-000000000001';
const now = () => performance.timeOrigin + performance.now();

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
const fmt = (x) => (x === undefined ? '-' : x.toFixed(1));

// Records when the DOM first shows each awaited key; key(node) derives it.
async function observe(page, script) {
  await page.evaluate(script);
}

async function customerLatency(app) {
  const alice = await app.signIn(DEMO.alice.email);
  await alice.page.goto(`/customer/bookings/${B01}`);
  await alice.page.getByTestId('booking-price').waitFor();
  await app.connection(alice, 'live');
  await observe(alice.page, () => {
    window.__seen = new Map();
    const el = () => document.querySelector('[data-testid="booking-price"]');
    new MutationObserver(() => {
      const t = el()?.textContent;
      if (t && !window.__seen.has(t)) window.__seen.set(t, performance.timeOrigin + performance.now());
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const s = app.stack.db.session();
  const lat = [];
  try {
    for (let i = 0; i < N; i++) {
      const v = 100 + (i % 800) + (i >= 800 ? 0.5 : 0);
      const text = `$${v.toFixed(2)}`;
      const t0 = now();
      await s.run(`update public.bookings set price = ${v} where id = '${B01}';`);
      await alice.page.waitForFunction((x) => window.__seen.has(x), text, { timeout: 10000, polling: 'raf' });
      const t1 = await alice.page.evaluate((x) => window.__seen.get(x), text);
      lat.push(t1 - t0);
    }
  } finally {
    s.close();
  }
  return lat;
}

async function adminLatency(app) {
  const admin = await app.signIn(DEMO.admin.email);
  await admin.page.locator('[data-testid="admin-bookings"] [data-testid^="booking-row-"]').first().waitFor();
  await app.connection(admin, 'live');
  await observe(admin.page, () => {
    window.__seen = new Map();
    new MutationObserver((muts) => {
      const t = performance.timeOrigin + performance.now();
      for (const m of muts) for (const n of m.addedNodes) {
        if (n.nodeType !== 1) continue;
        const rows = n.matches?.('[data-testid^="booking-row-"]') ? [n] : [...n.querySelectorAll('[data-testid^="booking-row-"]')];
        for (const r of rows) { const id = r.dataset.testid.slice(12); if (!window.__seen.has(id)) window.__seen.set(id, t); }
      }
    }).observe(document.body, { subtree: true, childList: true });
  });
  const s = app.stack.db.session();
  const lat = [];
  try {
    for (let i = 0; i < N; i++) {
      const id = crypto.randomUUID();
      const t0 = now();
      await s.run(`insert into public.bookings (id, customer_id, service, price) values ('${id}', '${DEMO.carol.id}', 'Bench job ${i}', 50);`);
      await admin.page.waitForFunction((x) => window.__seen.has(x), id, { timeout: 10000, polling: 'raf' });
      const t1 = await admin.page.evaluate((x) => window.__seen.get(x), id);
      lat.push(t1 - t0);
    }
    await s.run(`delete from public.bookings where service like 'Bench job %';`);
  } finally {
    s.close();
  }
  return lat;
}

const DASHBOARDS = [
  { who: 'alice', path: '/customer', rows: '[data-testid="customer-bookings"] [data-testid^="booking-row-"]' },
  { who: 'tom', path: '/technician', rows: '[data-testid="marketplace"] [data-testid^="market-row-"]' },
  { who: 'admin', path: '/admin', rows: '[data-testid="admin-bookings"] [data-testid^="booking-row-"]' },
];

async function firstLoads(app) {
  const out = [];
  for (const d of DASHBOARDS) {
    const p = await app.signIn(DEMO[d.who].email);
    const rows = [];
    const live = [];
    for (let i = 0; i < LOADS; i++) {
      await p.page.reload({ waitUntil: 'commit' });
      await p.page.locator(d.rows).first().waitFor({ timeout: 15000 });
      rows.push(await p.page.evaluate(() => performance.now()));
      await app.connection(p, 'live');
      live.push(await p.page.evaluate(() => performance.now()));
    }
    out.push({ page: `${d.path} (${d.who})`, rows: pct(rows, 50), live: pct(live, 50) });
    await p.context.close();
  }
  return out;
}

// A durable cluster (not the tests' --fast one): with synchronous_commit off, WAL
// waits up to 200 ms for the WAL writer before it can be streamed.
const app = await startApp({ jwtExp: 3600, fast: false });
try {
  const cust = await customerLatency(app);
  const adm = await adminLatency(app);
  const loads = await firstLoads(app);
  console.log(`# commit -> on-screen latency, ms (${N} changes each, one at a time; Chromium ${app.browser.version()})`);
  console.log('| page | change | p50 | p95 | p99 | max |');
  console.log('|---|---|---:|---:|---:|---:|');
  console.log(`| customer: booking tracker | UPDATE price | ${fmt(pct(cust, 50))} | ${fmt(pct(cust, 95))} | ${fmt(pct(cust, 99))} | ${fmt(Math.max(...cust))} |`);
  console.log(`| admin: all bookings | INSERT booking | ${fmt(pct(adm, 50))} | ${fmt(pct(adm, 95))} | ${fmt(pct(adm, 99))} | ${fmt(Math.max(...adm))} |`);
  console.log();
  console.log(`# first load of each dashboard, signed in, median of ${LOADS} reloads, ms from navigation start`);
  console.log('| dashboard | rows on screen | indicator live |');
  console.log('|---|---:|---:|');
  for (const l of loads) console.log(`| ${l.page} | ${fmt(l.rows)} | ${fmt(l.live)} |`);
} finally {
  await app.stop();
}
