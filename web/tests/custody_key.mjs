// A credential whose exchange key is made in Sealgate's custody, through the web client in
// real headless Chromium (Debian's), driven by playwright-core. Run by
// crates/sealgate/tests/browser_custody_key.rs, which starts `sealgate serve` and an
// exchange sandbox, then checks in Rust what this script reports. Environment:
//   SEALGATE_BASE        http://127.0.0.1:PORT of the server (its public listener)
//   SEALGATE_LOGIN       the one-time login link it printed
//   SEALGATE_SANDBOX     http://127.0.0.1:PORT of the sandbox (its POST /sandbox/v1/keys)
//   SEALGATE_BALANCES    JSON {asset: amount} the sandbox account starts with, and the
//                        portfolio must then show
//   SEALGATE_ARTIFACTS   directory for screenshots and the request and response logs
//   SEALGATE_RESULT      where to write the result JSON
//   CHROMIUM             the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`missing environment variable ${k}`);
  return v;
};
const BASE = env('SEALGATE_BASE');
const LOGIN = env('SEALGATE_LOGIN');
const SANDBOX = env('SEALGATE_SANDBOX');
const BALANCES = JSON.parse(env('SEALGATE_BALANCES'));
const ART = env('SEALGATE_ARTIFACTS');
const RESULT = env('SEALGATE_RESULT');
const FORBIDDEN = 'PRIVATE KEY';

mkdirSync(ART, { recursive: true });
const log = (...a) => console.log('[custody-key]', ...a);
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
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
// Every request the page made and every answer it got, bodies included. Each record's
// promise never rejects: one still in flight when the browser closes (the portfolio's
// polling) must not end the script with an unhandled rejection.
const requests = [];
const responses = [];
const settled = async (f) => {
  try {
    return await f();
  } catch (e) {
    return { unreadable: String(e && e.message) };
  }
};
context.on('request', (r) => {
  requests.push(settled(async () => ({ method: r.method(), url: r.url(), headers: await r.allHeaders(), body: r.postData() })));
});
context.on('response', (r) => {
  responses.push(settled(async () => {
    let body = null;
    try {
      body = await r.text();
    } catch {
      body = null; // a redirect, or a response whose body is gone
    }
    return { status: r.status(), url: r.url(), headers: await r.allHeaders(), body };
  }));
});
const page = await context.newPage();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
page.setDefaultTimeout(20000);
const shot = async (name) => {
  await page.screenshot({ path: join(ART, `${name}.png`), fullPage: true });
  log('screenshot', name);
};
const visible = (sel) => page.locator(sel).waitFor({ state: 'visible' });
const hidden = (sel) => page.locator(sel).waitFor({ state: 'hidden' });

let result;
try {
  // 1. Sign in with the printed link.
  await page.goto(LOGIN);
  check(new URL(page.url()).pathname === '/', `login lands on /: ${page.url()}`);
  await page.locator('#who-name').filter({ hasText: /\S/ }).waitFor();
  const user = await page.locator('#who-name').textContent();
  await visible('#screen-credentials');
  log('signed in as', user);

  // 2. The add screen offers the custody path only for exchanges that take self-generated keys.
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#add-form');
  for (const [exchange, offered] of [['kraken', false], ['okx', false], ['bybit', true], ['binance', true]]) {
    await page.selectOption('#exchange', exchange);
    check((await page.locator('#key-mode').isVisible()) === offered, `${exchange}: the custody path offered = ${offered}`);
  }
  check(await page.isChecked('#mode-seal'), 'pasting a key stays the default');
  await page.check('#mode-custody');
  await hidden('#secret-fields');
  await visible('#key-type');
  check((await page.textContent('#seal-submit')).trim() === 'Make the key', 'the button says what it does');
  const types = await page.locator('#key-type option').evaluateAll((os) => os.map((o) => o.value));
  check(JSON.stringify(types) === '["ed25519","rsa-2048"]', `Binance key types: ${types}`);
  await page.selectOption('#exchange', 'bybit');
  const bybitTypes = await page.locator('#key-type option').evaluateAll((os) => os.map((o) => o.value));
  check(JSON.stringify(bybitTypes) === '["rsa-2048"]', `Bybit key types: ${bybitTypes}`);
  await page.selectOption('#exchange', 'binance');
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => e.offsetParent !== null && e.labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id));
  check(unlabeled.length === 0, `every visible control has a label: ${unlabeled}`);

  // A refusal the page catches itself: no role.
  await page.setChecked('#role-importer', false);
  await page.setChecked('#role-trader', false);
  await page.click('#seal-submit');
  await page.locator('#add-error').filter({ hasText: 'Tick at least one role' }).waitFor();

  // A key made and then discarded: the form comes back, nothing is stored.
  await page.setChecked('#role-importer', true);
  await page.click('#seal-submit');
  await visible('#custody-steps');
  const discardedPem = await page.inputValue('#custody-pem');
  await page.click('#custody-discard');
  await visible('#confirm');
  await page.click('#confirm-ok');
  await visible('#add-form');
  check(await page.locator('#custody-steps').isHidden(), 'the discarded key\'s steps are gone');
  check((await page.inputValue('#custody-pem')) === '', 'the discarded public key is cleared');
  check(await page.isChecked('#mode-custody'), 'the custody path stays chosen');

  // 3. Make a Binance Ed25519 key for Importer and Trader, no withdrawals.
  await page.selectOption('#key-type', 'ed25519');
  await page.fill('#label', 'custody');
  await page.setChecked('#role-importer', true);
  await page.setChecked('#role-trader', true);
  await page.setChecked('#allow-withdraw', false);
  await shot('01-custody-choose');
  await page.click('#seal-submit');
  await visible('#custody-steps');
  check(await page.locator('#add-form').isHidden(), 'the form gives way to the steps');
  const pem = await page.inputValue('#custody-pem');
  check(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/.test(pem), `a public key PEM: ${pem}`);
  check(pem !== discardedPem, 'a new key, not the discarded one');
  check(await page.locator('#custody-pem').evaluate((t) => t.readOnly), 'the public key box is read-only');
  const pageLink = await page.locator('#custody-page-link').getAttribute('href');
  check(/^https:\/\/[^/]*binance\.com\//.test(pageLink), `the exchange's key page: ${pageLink}`);
  check((await page.locator('#custody-page-link').getAttribute('rel')).includes('noopener'), 'the link opens without opener');
  const steps = await page.locator('#custody-step-list li').allTextContents();
  check(steps.length >= 3 && steps.some((s) => s.includes('Self-generated')), `numbered steps: ${steps}`);
  check(steps.some((s) => s.includes('Enable Spot & Margin Trading')), `trade permission asked for: ${steps}`);
  // Copy: the clipboard holds exactly the PEM.
  await page.click('#custody-copy');
  await page.locator('#status').filter({ hasText: 'copied' }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === pem, 'the copy button copies the public key');
  await shot('02-custody-steps');

  // The pending grants are in this page's memory only: not in storage, the URL or the DOM.
  const makes = (await Promise.all(responses)).filter((r) => r.url?.endsWith('/v1/custody-keys'));
  check(makes.length === 2 && makes.every((r) => r.status === 201), `two keys made: ${makes.map((r) => r.status)}`);
  const discarded = JSON.parse(makes[0].body);
  const made = JSON.parse(makes[1].body);
  check(made.pending.length === 2 && made.public_pem === pem, 'two pending grants; the PEM shown is the one made');
  const kept = await page.evaluate(() => [JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage }),
    document.cookie, location.href, document.documentElement.outerHTML].join('\n'));
  for (const g of made.pending) check(!kept.includes(g) && !kept.includes(g.split('.')[2]), 'a pending grant is kept outside page memory');

  // Leaving the screen and coming back keeps the steps (same page, same memory).
  await page.evaluate(() => { location.hash = '#/credentials'; });
  await visible('#screen-credentials');
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#custody-steps');
  check((await page.inputValue('#custody-pem')) === pem, 'the same key is still waiting');

  // Phone-sized: the steps fit without sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 390, `the custody steps fit a phone (scrollWidth ${wide})`);
  await shot('03-phone-custody-steps');
  await page.setViewportSize({ width: 1280, height: 900 });

  // 4. Register the public key at the sandbox, as the user would on the exchange's page.
  const reg = await fetch(`${SANDBOX}/sandbox/v1/keys`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ exchange: 'binance', public_pem: copied, permissions: ['read', 'trade'], balances: BALANCES }),
  });
  const registered = await reg.json();
  check(reg.status === 201 && typeof registered.api_key === 'string', `sandbox registration: ${reg.status} ${JSON.stringify(registered)}`);
  const apiKey = registered.api_key;
  log('registered at the sandbox as', `…${apiKey.slice(-4)}`);

  // 5. Paste the id back. Page-side checks first, then an API refusal shown as such.
  await page.click('#custody-activate-submit');
  await page.locator('#custody-error').filter({ hasText: 'Paste the API key id' }).waitFor();
  await page.fill('#custody-api-key', 'two words');
  await page.click('#custody-activate-submit');
  await page.locator('#custody-error').filter({ hasText: 'no spaces' }).waitFor();
  await page.route('**/v1/custody-keys/activate', (route) => route.fulfill({
    status: 503, contentType: 'application/json',
    body: JSON.stringify({ error: 'the key custody is unavailable; try again shortly' }),
  }), { times: 1 });
  await page.fill('#custody-api-key', apiKey);
  await page.click('#custody-activate-submit');
  await page.locator('#custody-error').filter({ hasText: 'Not activated: the key custody is unavailable' }).waitFor();
  await shot('04-custody-error');
  check((await page.inputValue('#custody-pem')) === pem, 'after a refusal the key still waits');
  await page.unroute('**/v1/custody-keys/activate');
  await page.click('#custody-activate-submit');
  await visible('#add-done');
  await hidden('#custody-error');
  const cid = await page.locator('#add-done').getAttribute('data-id');
  check(cid === made.id, `the credential is the one the key was made for: ${cid} = ${made.id}`);
  const doneText = await page.textContent('#add-done');
  check(doneText.includes('Key active') && doneText.includes('never leaves'), `done: ${doneText}`);
  await shot('05-custody-active');
  log('activated', cid);

  // 6. The credential is in the list.
  await page.evaluate(() => { location.hash = '#/credentials'; });
  const row = page.locator(`#credentials-body tr[data-id="${cid}"]`);
  await row.waitFor();
  const rowText = await row.textContent();
  for (const want of ['Binance', 'custody', `…${apiKey.slice(-4)}`, 'importer, trader', 'read, trade', 'active']) {
    check(rowText.includes(want), `list row shows ${want}: ${rowText}`);
  }
  await shot('06-credentials');
  // The add screen is back to a fresh form.
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#add-form');
  check(await page.locator('#custody-steps').isHidden(), 'no key is waiting any more');

  // 7. The import, signed in the custody, shows the sandbox account.
  await page.evaluate(() => { location.hash = '#/portfolio'; });
  await visible('#screen-portfolio');
  await page.waitForFunction((expect) => Object.entries(expect).every(([asset, amount]) => {
    const cell = document.querySelector(`#holdings-body tr[data-asset="${asset}"] [data-total]`);
    return cell && Number(cell.dataset.total) === Number(amount);
  }), BALANCES, { timeout: 60000 });
  await page.locator(`#imports-body tr[data-credential="${cid}"][data-state="done"]`).waitFor({ timeout: 60000 });
  await shot('07-portfolio');
  const portfolio = await page.evaluate(async () => (await fetch('/v1/portfolio', { credentials: 'same-origin' })).json());

  // 8. A limit order, signed in the custody, rests at the sandbox.
  await page.evaluate(() => { location.hash = '#/trade'; });
  await visible('#order-form');
  await page.selectOption('#order-credential', cid);
  await page.fill('#order-symbol', 'BTCUSDT');
  await page.selectOption('#order-side', 'buy');
  await page.selectOption('#order-type', 'limit');
  await page.fill('#order-qty', '0.01');
  await page.fill('#order-price', '40000');
  await page.click('#order-submit');
  const orderRow = page.locator('#orders-body tr[data-status="open"]').first();
  await orderRow.waitFor();
  const order = await orderRow.getAttribute('data-order');
  await shot('08-order');
  log('order resting', order);

  // 9. The CSP held; no private key in anything the page sent or got.
  const cspErrors = consoleLines.filter((l) => /Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(l));
  check(cspErrors.length === 0, `no CSP violations: ${cspErrors}`);
  const sent = await Promise.all(requests);
  const got = await Promise.all(responses);
  for (const r of [...sent, ...got]) check(!r.unreadable, `a recorded request or response is unreadable: ${r.unreadable}`);
  for (const r of sent) {
    check(!`${r.url}\n${JSON.stringify(r.headers)}\n${r.body ?? ''}`.includes(FORBIDDEN), `${FORBIDDEN} in ${r.method} ${r.url}`);
    check(new URL(r.url).origin === new URL(BASE).origin, `a request left the origin: ${r.url}`);
  }
  for (const r of got) check(!`${JSON.stringify(r.headers)}\n${r.body ?? ''}`.includes(FORBIDDEN), `${FORBIDDEN} in the answer of ${r.url}`);
  const keyPosts = sent.filter((r) => r.method === 'POST' && new URL(r.url).pathname.startsWith('/v1/custody-keys'));
  const discards = keyPosts.filter((r) => new URL(r.url).pathname === '/v1/custody-keys/discard');
  check(discards.length === 1 && JSON.stringify(JSON.parse(discards[0].body).pending) === JSON.stringify(discarded.pending), `the discarded key was destroyed through the api: ${discards.map((d) => d.body)}`);
  const posts = keyPosts.filter((r) => !discards.includes(r));
  check(posts.length === 4, `two keys made, one activation refused (routed), one activated: ${posts.map((p) => p.url)}`);
  const createBody = JSON.parse(posts[1].body);
  check(JSON.stringify(Object.keys(createBody).sort()) === '["exchange","id","key_type","roles","scope"]', `create body: ${posts[1].body}`);
  check(JSON.stringify(createBody.scope) === '["read","trade"]' && JSON.stringify(createBody.roles) === '["importer","trader"]', posts[1].body);
  // The discarded key: importer only, so read only; its credential was never stored.
  check(JSON.stringify(JSON.parse(posts[0].body).scope) === '["read"]', posts[0].body);
  const listed = await page.evaluate(async () => (await fetch('/v1/credentials', { credentials: 'same-origin' })).json());
  check(listed.credentials.length === 1 && !listed.credentials.some((c) => c.id === discarded.id), `only the activated key is stored: ${JSON.stringify(listed)}`);
  for (const p of posts) check(p.headers['x-csrf-token'], `${p.url} carries the CSRF header`);
  const activateBody = JSON.parse(posts[3].body);
  check(JSON.stringify(activateBody.pending) === JSON.stringify(made.pending) && activateBody.api_key === apiKey, 'the grants and id sent back');
  check(sent.every((r) => !new URL(r.url).pathname.startsWith('/v1/credentials') || r.method !== 'POST'), 'nothing was sealed or posted to /v1/credentials');
  writeFileSync(join(ART, 'requests.json'), JSON.stringify(sent, null, 2));
  writeFileSync(join(ART, 'responses.json'), JSON.stringify(got, null, 2));
  result = { user, cid, api_key: apiKey, public_pem: pem, key_id: made.key_id, key_type: made.key_type, portfolio, order, requests: sent.length, responses: got.length };
  log(`${sent.length} requests and ${got.length} responses recorded; none carries a private key`);

  // 10. Bitget: the passphrase its key also needs is sealed in this page to the role, and
  // never leaves it in clear.
  const PASSPHRASE = 'CANARY-bitget-passphrase-typed-in-the-page';
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#add-form');
  await page.selectOption('#exchange', 'bitget');
  await page.check('#mode-custody');
  await page.setChecked('#role-importer', false);
  await page.setChecked('#role-trader', true);
  await page.fill('#label', 'bitget custody');
  await page.click('#seal-submit');
  await visible('#custody-steps');
  check(await page.locator('#custody-passphrase-field').isVisible(), 'Bitget asks for the passphrase');
  const bgPem = await page.inputValue('#custody-pem');
  const bgReg = await fetch(`${SANDBOX}/sandbox/v1/keys`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ exchange: 'bitget', public_pem: bgPem, passphrase: PASSPHRASE, permissions: ['read', 'trade'], balances: BALANCES }),
  });
  const bgKey = (await bgReg.json()).api_key;
  check(bgReg.status === 201 && typeof bgKey === 'string', `bitget registration: ${bgReg.status}`);
  await page.fill('#custody-api-key', bgKey);
  await page.click('#custody-activate-submit');
  await page.locator('#custody-error').filter({ hasText: 'passphrase' }).waitFor();
  await page.fill('#custody-passphrase', PASSPHRASE);
  await page.click('#custody-activate-submit');
  await visible('#add-done');
  const bgCid = await page.locator('#add-done').getAttribute('data-id');
  check((await page.inputValue('#custody-passphrase')) === '', 'the passphrase field is cleared');
  await shot('09-bitget-active');
  const all = [...await Promise.all(requests), ...await Promise.all(responses)];
  for (const r of all) check(!JSON.stringify(r).includes(PASSPHRASE), `the passphrase in clear in ${r.url}`);
  const bgActivate = (await Promise.all(requests)).filter((r) => r.method === 'POST' && r.url.endsWith('/v1/custody-keys/activate')).pop();
  const bgBody = JSON.parse(bgActivate.body);
  check(Array.isArray(bgBody.sealed) && bgBody.sealed.length === 1 && bgBody.sealed[0].role === 'trader' && bgBody.sealed[0].jwe.split('.').length === 5, `the passphrase went sealed: ${Object.keys(bgBody)}`);
  result.bitget = { cid: bgCid, api_key: bgKey, passphrase: PASSPHRASE };
  log('bitget activated', bgCid);
} catch (e) {
  console.error('[custody-key] FAILED:', e && e.stack ? e.stack : e);
  console.error('[custody-key] console:\n' + consoleLines.join('\n'));
  try {
    await shot('failure');
  } catch {
    // the page may be gone
  }
  await browser.close();
  process.exit(1);
}
await browser.close();
writeFileSync(RESULT, JSON.stringify(result, null, 2));
log('ok');
