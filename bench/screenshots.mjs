// Takes the README's screenshots (docs/screenshots/*.png) of each dashboard
// on the demo data, and of the offline state, in Debian's Chromium.
//   node bench/screenshots.mjs     (after scripts/web.sh; TC_SERVER_BIN as for the tests)
import fs from 'node:fs';
import path from 'node:path';

import { REPO } from '../tests/integration/harness.mjs';
import { DEMO, startApp } from '../tests/browser/browser.mjs';

const OUT = path.join(REPO, 'docs', 'screenshots');
fs.mkdirSync(OUT, { recursive: true });
const B01 = 'b0000000-0000-4000-8000-000000000001'; // alice, pending, two bids
const B03 = 'b0000000-0000-4000-8000-000000000003'; // alice, in progress with tina, a chat

async function shot(person, name, { full = false } = {}) {
  await person.page.waitForLoadState('networkidle').catch(() => {});
  await person.page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: full });
  console.log(`docs/screenshots/${name}.png`);
}

const app = await startApp({ jwtExp: 3600 });
try {
  const visitor = await app.open('/login');
  await visitor.page.getByTestId('login-form').waitFor();
  await shot(visitor, 'login');

  const alice = await app.signIn(DEMO.alice.email);
  await alice.page.locator('[data-testid^="booking-row-"]').first().waitFor();
  await app.connection(alice, 'live');
  await shot(alice, 'customer');
  await alice.page.goto(`/customer/bookings/${B01}`);
  await alice.page.locator('[data-testid^="bid-row-"]').first().waitFor();
  await shot(alice, 'customer-tracker-bids', { full: true });

  const tina = await app.signIn(DEMO.tina.email);
  await tina.page.goto(`/technician/jobs/${B03}`);
  await alice.page.goto(`/customer/bookings/${B03}`);
  await alice.page.getByTestId('chat-input').waitFor();
  await tina.page.getByTestId('chat-input').pressSequentially('On my way, 10 minutes', { delay: 20 });
  await alice.page.getByTestId('typing-indicator').filter({ hasText: /typing/i }).waitFor();
  await shot(alice, 'customer-chat-typing', { full: true });

  const tom = await app.signIn(DEMO.tom.email);
  await tom.page.locator('[data-testid^="market-row-"]').first().waitFor();
  await app.connection(tom, 'live');
  await shot(tom, 'technician', { full: true });

  const admin = await app.signIn(DEMO.admin.email);
  await admin.page.getByTestId('server-panel').waitFor();
  await app.connection(admin, 'live');
  await admin.page.waitForFunction(() => document.querySelectorAll('[data-testid="server-panel"] svg').length > 0);
  await admin.page.waitForTimeout(6000); // the charts need a few 2-s samples to draw a line
  await shot(admin, 'admin', { full: true });

  await alice.page.goto('/customer');
  await app.connection(alice, 'live');
  await alice.context.setOffline(true);
  await app.connection(alice, 'offline');
  await shot(alice, 'customer-offline');
  await alice.context.setOffline(false);

  const phone = await app.signIn(DEMO.bob.email, { viewport: { width: 375, height: 740 } });
  await phone.page.locator('[data-testid^="booking-row-"]').first().waitFor();
  await app.connection(phone, 'live');
  await shot(phone, 'customer-phone');
} finally {
  await app.stop();
}
