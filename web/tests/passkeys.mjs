// The Passkeys panel in real headless Chromium with its virtual authenticator (DevTools
// protocol: WebAuthn.enable, WebAuthn.addVirtualAuthenticator, a CTAP2 internal authenticator
// with user verification). Run by crates/sealgate/tests/browser_passkeys.rs, which checks
// in Rust what this script reports. Environment:
//   SEALGATE_BASE      http://localhost:PORT of the server (WebAuthn's rp id is localhost)
//   SEALGATE_LOGIN     the one-time login link it printed (on localhost too)
//   SEALGATE_API_KEY   an API key to seal; SEALGATE_SECRET its secret (a canary)
//   SEALGATE_ARTIFACTS directory for screenshots; SEALGATE_RESULT where to write the result
//   CHROMIUM           the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`missing environment variable ${k}`);
  return v;
};
const BASE = env('SEALGATE_BASE');
const LOGIN = env('SEALGATE_LOGIN');
const API_KEY = env('SEALGATE_API_KEY');
const SECRET = env('SEALGATE_SECRET');
const ART = env('SEALGATE_ARTIFACTS');
const RESULT = env('SEALGATE_RESULT');
mkdirSync(ART, { recursive: true });
const log = (...a) => console.log('[passkeys]', ...a);
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
page.setDefaultTimeout(20000);
const visible = (sel) => page.locator(sel).waitFor({ state: 'visible' });

let ok = false;
try {
  // The platform authenticator, as a phone's or a laptop's: resident keys, verified user.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });

  await page.goto(LOGIN);
  await page.locator('#who-name').filter({ hasText: /\S/ }).waitFor();
  // The landing screen is drawn before we navigate (its route would draw over ours).
  await visible('#screen-credentials');

  // Register the first passkey in the Passkeys panel.
  await page.evaluate(() => { location.hash = '#/passkeys'; });
  await visible('#passkey-form');
  check(await page.locator('#passkey-none').isVisible(), 'no passkeys at first');
  await page.fill('#passkey-name', 'Virtual laptop');
  await page.click('#passkey-submit');
  await page.locator('#passkey-list li').first().waitFor();
  const shown = await page.locator('#passkey-list li').first().textContent();
  check(shown.includes('Virtual laptop'), `listed: ${shown}`);
  const thumbprint = await page.locator('#passkey-list li').first().getAttribute('data-thumbprint');
  check(/^[A-Za-z0-9_-]{43}$/.test(thumbprint), `thumbprint ${thumbprint}`);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1, `the authenticator holds one credential: ${credentials.length}`);
  await page.screenshot({ path: join(ART, 'passkeys-01-registered.png'), fullPage: true });
  log('registered', thumbprint);

  // The same authenticator cannot register a second passkey for this account: the page
  // passed the registered one in excludeCredentials (base64url decoded right), the browser
  // refuses, the panel says so, and nothing is added. (Second passkeys, step-ups and
  // removals are run against the api with a software authenticator: tests/api.rs.)
  await page.fill('#passkey-name', 'Same device again');
  await page.click('#passkey-submit');
  await visible('#passkey-error');
  const refusal = await page.locator('#passkey-error').textContent();
  check(/already registered|InvalidState|contains one of the credentials/i.test(refusal), `refusal: ${refusal}`);
  check(await page.locator('#passkey-list li').count() === 1, 'still one passkey');
  check(await page.locator('#passkey-list li button').count() === 0, 'the last passkey offers no Remove');

  // Seal a credential in the browser: its envelopes name the passkey in `own`.
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#add-form');
  await page.selectOption('#exchange', 'binance');
  await page.fill('#label', 'owned');
  await page.fill('#field-api_key', API_KEY);
  await page.fill('#field-api_secret', SECRET);
  await page.setChecked('#role-importer', false);
  await page.setChecked('#role-trader', true);
  await page.click('#seal-submit');
  await visible('#add-done');
  const cid = await page.locator('#add-done').getAttribute('data-id');

  // Freeze it on its page (no passkey needed), then unfreeze it: the page shows the exact
  // state the passkey signs, and the virtual authenticator approves.
  await page.evaluate((id) => { location.hash = `#/credential/${id}`; }, cid);
  await visible('#status-toggle');
  const status = () => page.locator('#detail-facts dt', { hasText: /^Status$/ }).locator('xpath=following-sibling::dd[1]').textContent();
  check(await status() === 'active', `status at first: ${await status()}`);
  await page.click('#status-toggle');
  await visible('#confirm');
  await page.click('#confirm-ok');
  await page.locator('#status-toggle', { hasText: 'Unfreeze' }).waitFor();
  check(await status() === 'frozen', `after freeze: ${await status()}`);
  const before = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
  await page.click('#status-toggle');
  await visible('#confirm');
  const shownState = await page.locator('#confirm-text').textContent();
  check(shownState.includes('usable (active)') && shownState.includes('no order size cap'), `approval dialog: ${shownState}`);
  await page.screenshot({ path: join(ART, 'passkeys-02-approve-unfreeze.png'), fullPage: true });
  await page.click('#confirm-ok');
  await page.locator('#status-toggle', { hasText: /^Freeze/ }).waitFor();
  check(await status() === 'active', `after the approved unfreeze: ${await status()}`);
  const after = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
  check(after > before, `the passkey signed (sign count ${before} -> ${after})`);
  log('frozen and unfrozen with the passkey', cid);
  writeFileSync(RESULT, JSON.stringify({ thumbprint, cid }));

  // The test now has a service ask for a withdrawal with this credential (a pending request,
  // as the signer writes it) and says go: the owner approves it on the credentials screen.
  const deadline = Date.now() + 60000;
  while (!existsSync(`${RESULT}.go`)) {
    check(Date.now() < deadline, 'no pending withdrawal within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.evaluate(() => { location.hash = '#/passkeys'; });
  await visible('#passkey-form');
  await page.evaluate(() => { location.hash = '#/credentials'; });
  await visible('#withdrawals-list li');
  const asked = await page.locator('#withdrawals-list li').first().textContent();
  check(asked.includes('0.25 BTC') && asked.includes('bc1qbrowser'), `pending withdrawal shown: ${asked}`);
  await page.locator('#withdrawals-list li button').first().click();
  await visible('#confirm');
  const shownWithdrawal = await page.locator('#confirm-text').textContent();
  check(shownWithdrawal.includes('0.25 BTC to bc1qbrowser'), `approval dialog: ${shownWithdrawal}`);
  await page.screenshot({ path: join(ART, 'passkeys-03-approve-withdrawal.png'), fullPage: true });
  await page.click('#confirm-ok');
  await page.locator('#withdrawals').waitFor({ state: 'hidden' });
  log('withdrawal approved');
  writeFileSync(`${RESULT}.done`, 'ok');
  ok = true;
} finally {
  if (!ok) {
    await page.screenshot({ path: join(ART, 'passkeys-failure.png'), fullPage: true }).catch(() => {});
    console.log(consoleLines.join('\n'));
  }
  await browser.close();
}
