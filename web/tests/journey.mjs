// The web client in real headless Chromium (Debian's), driven by playwright-core.
// Run by crates/sealgate/tests/browser.rs, which starts `sealgate serve` and an exchange
// sandbox, then checks in Rust what this script reports. Environment:
//   SEALGATE_BASE             http://127.0.0.1:PORT of the server (its public listener)
//   SEALGATE_SERVICE          its service listener (`/metrics`), never the public one
//   SEALGATE_LOGIN            the one-time login link it printed
//   SEALGATE_API_KEY          the sandbox API key to onboard (Binance)
//   SEALGATE_SECRET           its secret: the canary that must appear in no request
//   SEALGATE_EXPIRED_KEYSET   a key set signed by the real root but expired
//   SEALGATE_EXPECT           JSON {asset: amount} the portfolio must show
//   SEALGATE_EXPECT_VALUE     JSON {currency: {total, assets: {asset: value|null}}}: the
//                             exact values the sandbox's prices give (null: no price)
//   SEALGATE_ARTIFACTS        directory for screenshots and the request log
//   SEALGATE_RESULT           where to write the result JSON
//   CHROMIUM                  the browser (default /usr/bin/chromium)
//   SEALGATE_BIN              the sealgate binary (the operator's `incident open`)
//   SEALGATE_DATABASE         the server's database URL, for that command
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`missing environment variable ${k}`);
  return v;
};
const BASE = env('SEALGATE_BASE');
const SERVICE = env('SEALGATE_SERVICE');
const LOGIN = env('SEALGATE_LOGIN');
const API_KEY = env('SEALGATE_API_KEY');
const SECRET = env('SEALGATE_SECRET');
const EXPIRED = env('SEALGATE_EXPIRED_KEYSET');
const EXPECT = JSON.parse(env('SEALGATE_EXPECT'));
const EXPECT_VALUE = JSON.parse(env('SEALGATE_EXPECT_VALUE'));
const ART = env('SEALGATE_ARTIFACTS');
const SEALGATE_BIN = env('SEALGATE_BIN');
const DATABASE = env('SEALGATE_DATABASE');
const RESULT = env('SEALGATE_RESULT');
// Public JWKs (P-256, P-384, X25519) whose private halves the Rust test holds.
const EXTRA_KEYS = JSON.parse(env('SEALGATE_EXTRA_KEYS', '[]'));
const OKX_KEY = 'okx-web-key-5Tq8';
const OKX_SECRET = `${SECRET}-okx`;
const OKX_PASS = `PASS-${SECRET}`;
const KC_SECRET = `${SECRET}-kucoin`;
const KC_PASS = `KCPASS-${SECRET}`;
const CANARIES = [SECRET, OKX_SECRET, OKX_PASS, KC_SECRET, KC_PASS];

mkdirSync(ART, { recursive: true });
const log = (...a) => console.log('[journey]', ...a);
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');
const jsonOf = (part) => JSON.parse(unb64u(part).toString('utf8'));

/** The three tampered key sets: altered payload, foreign root, expired. */
async function tamperedSets() {
  const real = await (await fetch(`${BASE}/v1/recipients`)).json();
  const [h, p, s] = real.keyset.split('.');
  const payload = jsonOf(p);
  // An attacker's own encryption key in place of every role key.
  const attacker = await webcrypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const ajwk = await webcrypto.subtle.exportKey('jwk', attacker.publicKey);
  const swapped = { ...payload, keys: payload.keys.map((k) => ({ ...k, x: ajwk.x, y: ajwk.y })) };
  const swappedB64 = b64u(JSON.stringify(swapped));
  const altered = `${h}.${swappedB64}.${s}`;
  // A foreign root signs the attacker's set.
  const root = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
  const rjwk = await webcrypto.subtle.exportKey('jwk', root.publicKey);
  const fh = b64u(JSON.stringify({ alg: 'ES256', typ: 'sealgate-keyset+jws', jwk: { kty: 'EC', crv: 'P-256', x: rjwk.x, y: rjwk.y } }));
  const sig = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, root.privateKey, Buffer.from(`${fh}.${swappedB64}`));
  const foreign = `${fh}.${swappedB64}.${b64u(new Uint8Array(sig))}`;
  check(jsonOf(EXPIRED.split('.')[1]).exp < Date.now() / 1000, 'the expired key set is expired');
  return {
    pin: real.root_pin,
    cases: [
      { name: 'wrong-signature', keyset: altered, expect: 'signature does not verify' },
      { name: 'unknown-root', keyset: foreign, expect: 'unknown root key' },
      { name: 'expired', keyset: EXPIRED, expect: 'expired' },
    ],
  };
}

async function metricsCsp() {
  const text = await (await fetch(`${SERVICE}/metrics`)).text();
  const m = text.match(/^sealgate_csp_reports_total (\d+)$/m);
  check(m, 'metrics carry sealgate_csp_reports_total');
  return Number(m[1]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const requests = [];
context.on('request', (r) => {
  requests.push((async () => ({ method: r.method(), url: r.url(), headers: await r.allHeaders(), body: r.postData() }))());
});
const page = await context.newPage();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
page.setDefaultTimeout(20000);
const shot = async (name, p = page) => {
  await p.screenshot({ path: join(ART, `${name}.png`), fullPage: true });
  log('screenshot', name);
};
const visible = (sel) => page.locator(sel).waitFor({ state: 'visible' });

let result;
try {
  // 1. Not signed in: the sign-in screen, under the page's CSP.
  const first = await page.goto(`${BASE}/`);
  const csp = first.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'") && !csp.includes('unsafe'), `page CSP: ${csp}`);
  await visible('#screen-signin');
  await shot('01-signin');
  // The files: their own content types, the same CSP, nosniff; the API keeps its stricter CSP.
  for (const [path, type] of [['/app/app.js', 'text/javascript'], ['/app/seal.js', 'text/javascript'], ['/app/app.css', 'text/css']]) {
    const r = await fetch(`${BASE}${path}`);
    check(r.status === 200 && r.headers.get('content-type').startsWith(type), `${path}: ${r.status} ${r.headers.get('content-type')}`);
    check(r.headers.get('content-security-policy') === csp && r.headers.get('x-content-type-options') === 'nosniff', `${path} headers`);
  }
  const apiCsp = (await fetch(`${BASE}/v1/recipients`)).headers.get('content-security-policy');
  check(apiCsp === "default-src 'none'; frame-ancestors 'none'", `API CSP: ${apiCsp}`);
  check((await fetch(`${BASE}/app/nope.js`)).status === 404, 'unknown files are 404');

  // 2. The login link lands on / signed in.
  await page.goto(LOGIN);
  check(new URL(page.url()).pathname === '/', `login lands on /: ${page.url()}`);
  await page.locator('#who-name').filter({ hasText: /\S/ }).waitFor();
  const user = await page.locator('#who-name').textContent();
  await visible('#screen-credentials');
  log('signed in as', user);

  // The page's sealing code on every curve it supports, opened by the Rust test.
  const extra = await page.evaluate(async ({ keys, apiKey }) => {
    const out = [];
    // Every other envelope names the owner's authority (PROFILE C8), given unsorted.
    const own = ['kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k', 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'];
    for (const [i, jwk] of keys.entries()) {
      const binding = { sub: 'web-user', cid: 'web-cid', exch: 'kraken', aud: 'importer', scope: ['read'], iat: Math.floor(Date.now() / 1000) };
      if (i % 2 === 1) binding.own = own;
      out.push({ kid: jwk.kid, jwe: await window.sealgateSeal.sealCredential(jwk, binding, { api_key: apiKey, api_secret: 'extra-curve-secret' }) });
    }
    // A malformed own is refused before anything is sealed.
    let refused = 0;
    for (const bad of [[], [own[0], own[0]], ['short'], [`${own[0].slice(0, 42)}l`]]) {
      const binding = { sub: 'web-user', cid: 'web-cid', exch: 'kraken', aud: 'importer', scope: ['read'], iat: 1, own: bad };
      try { await window.sealgateSeal.sealCredential(keys[0], binding, { api_key: apiKey }); } catch { refused++; }
    }
    out.push({ ownRefused: refused });
    return out;
  }, { keys: EXTRA_KEYS, apiKey: API_KEY });

  // 3. Keyboard: Tab to "Add a credential", Enter opens it; focus is visible.
  await page.locator('body').focus();
  let reached = false;
  for (let i = 0; i < 20 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.dataset?.screen === 'add');
  }
  check(reached, 'Tab reaches the "Add a credential" link');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== 'none', `a keyboard-focused link shows a focus ring (outline ${outline})`);
  await page.keyboard.press('Enter');
  await visible('#screen-add');
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => e.offsetParent !== null && e.labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id));
  check(unlabeled.length === 0, `every visible control has a label: ${unlabeled}`);
  check(!(await page.locator('#allow-withdraw').isChecked()), 'withdrawals are off by default');
  const pinShown = await page.locator('#root-pin').textContent();

  const fill = async ({ exchange, key, secret, passphrase, importer, trader, withdraw, label }) => {
    await page.selectOption('#exchange', exchange);
    await page.fill('#label', label || '');
    await page.fill('#field-api_key', key);
    await page.fill('#field-api_secret', secret);
    if (passphrase !== undefined) await page.fill('#field-passphrase', passphrase);
    await page.setChecked('#role-importer', importer);
    await page.setChecked('#role-trader', trader);
    await page.setChecked('#allow-withdraw', withdraw);
  };
  const countPosts = async () => (await Promise.all(requests)).filter((r) => r.method === 'POST' && r.url.endsWith('/v1/credentials')).length;

  // 4. Tampered key sets: the page refuses to seal and says why; nothing is sent.
  const { pin, cases } = await tamperedSets();
  check(pinShown === pin, `the page shows the pinned root ${pinShown} = ${pin}`);
  const refusals = {};
  for (const c of cases) {
    const before = await countPosts();
    await page.route('**/v1/recipients', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ keyset: c.keyset, root_pin: pin }) }));
    await page.evaluate(() => { location.hash = '#/add'; });
    await visible('#add-form');
    await fill({ exchange: 'binance', key: API_KEY, secret: SECRET, importer: true, trader: true, withdraw: false });
    await page.click('#seal-submit');
    await page.locator('#add-error').filter({ hasText: c.expect }).waitFor();
    refusals[c.name] = await page.locator('#add-error').textContent();
    check(refusals[c.name].includes('Refused to seal'), refusals[c.name]);
    check((await page.inputValue('#field-api_secret')) === '', 'the secret field is cleared after a refusal');
    if (c.name === 'wrong-signature') await shot('03-refused-keyset');
    await page.unroute('**/v1/recipients');
    check((await countPosts()) === before, `${c.name}: no credential was sent`);
    log('refused', c.name, '->', refusals[c.name]);
  }

  // 5. The real onboarding: Binance, Importer + Trader, no withdrawals.
  await page.reload();
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#add-form');
  await fill({ exchange: 'binance', key: API_KEY, secret: SECRET, importer: true, trader: true, withdraw: false, label: 'main' });
  await shot('02-add-credential');
  await page.click('#seal-submit');
  await visible('#add-done');
  const cid = await page.locator('#add-done').getAttribute('data-id');
  check(/^[0-9a-f-]{36}$/.test(cid), `credential id is a UUID: ${cid}`);
  check((await page.inputValue('#field-api_key')) === '' && (await page.inputValue('#field-api_secret')) === '', 'secret fields cleared');
  await shot('02b-sealed');
  log('sealed', cid);

  // 6. The list.
  await page.evaluate(() => { location.hash = '#/credentials'; });
  const row = page.locator(`#credentials-body tr[data-id="${cid}"]`);
  await row.waitFor();
  const rowText = await row.textContent();
  for (const want of ['Binance', 'main', `…${API_KEY.slice(-4)}`, 'importer, trader', 'read, trade', 'active']) {
    check(rowText.includes(want), `list row shows ${want}: ${rowText}`);
  }
  await shot('04-credentials');

  // 7. The portfolio equals the sandbox account.
  await page.evaluate(() => { location.hash = '#/portfolio'; });
  await visible('#screen-portfolio');
  await page.waitForFunction((expect) => Object.entries(expect).every(([asset, amount]) => {
    const cell = document.querySelector(`#holdings-body tr[data-asset="${asset}"] [data-total]`);
    return cell && Number(cell.dataset.total) === Number(amount);
  }), EXPECT, { timeout: 60000 });
  await page.locator(`#imports-body tr[data-credential="${cid}"][data-state="done"]`).waitFor({ timeout: 60000 });
  const holdings = await page.locator('#holdings-body').textContent();
  check(holdings.includes('Binance'), `per-exchange breakdown: ${holdings}`);

  // 7b. The page leads with the value: the total and every holding's value are exactly
  // what the sandbox's prices give; an unpriced holding says so and is never 0.
  const group = (s) => s.replace(/^(-?)(\d+)/, (_, sign, d) => sign + d.replace(/\B(?=(\d{3})+(?!\d))/g, ','));
  const checkValue = async (currency) => {
    const want = EXPECT_VALUE[currency];
    await page.locator(`#portfolio-total[data-currency="${currency}"][data-value="${want.total}"]`).waitFor({ timeout: 60000 });
    const totalText = (await page.textContent('#portfolio-total')).trim();
    check(totalText === `${group(want.total)} ${currency}`, `the total reads ${totalText}`);
    for (const [asset, value] of Object.entries(want.assets)) {
      const cell = page.locator(`#holdings-body tr[data-asset="${asset}"] td[data-value]`);
      const got = await cell.getAttribute('data-value');
      const text = (await cell.textContent()).trim();
      const badge = await page.locator(`#holdings-body tr[data-asset="${asset}"] .badge[data-status]`).getAttribute('data-status');
      if (value === null) {
        check(got === '' && text === 'no price' && badge === 'missing', `${asset} has no price: "${got}" "${text}" ${badge}`);
      } else {
        check(got === value && text === `${group(value)} ${currency}` && badge === 'fresh', `${asset} is worth ${value} ${currency}: "${got}" "${text}" ${badge}`);
      }
    }
    const priced = Object.values(want.assets).filter((v) => v !== null).length;
    const unpriced = Object.values(want.assets).length - priced;
    check((await page.locator('#allocation-chart[role="img"] [data-slice]').count()) === priced, 'one slice per valued asset');
    check((await page.locator('#allocation-legend li').count()) === priced, 'one legend line per valued asset');
    const legend = await page.textContent('#allocation-legend');
    check(/BTC\s*75\.00%/.test(legend) && /USDT\s*25\.00%/.test(legend), `the legend lists asset and percent: ${legend}`);
    check((await page.textContent('#allocation-chart title')).includes('BTC 75.00%'), 'the allocation chart has a text alternative');
    const incomplete = page.locator('#portfolio-incomplete');
    check(await incomplete.isVisible(), 'an incomplete total says so');
    const note = await incomplete.textContent();
    check(note.includes(`${unpriced} holding has no price and is not in the total`), `the incomplete note: ${note}`);
    check((await page.getAttribute('#portfolio-total', 'data-complete')) === 'false', 'the total is marked incomplete');
    // The value over time: today at least, as a point with its day and value on the axes.
    const chart = page.locator('#value-chart[role="img"]');
    await chart.waitFor();
    check((await chart.locator('circle[data-day]').count()) >= 1, 'the value chart has a point per day');
    check((await chart.locator('[data-axis="first"]').textContent()) === new Date().toISOString().slice(0, 10), 'the first day is labelled');
    check((await chart.locator('[data-axis="max"]').textContent()).includes(group(want.total)), 'the highest value is labelled');
    // 24 h, 7 d and 30 d: nothing to compare with on the first day, and said so (never a 0).
    for (const period of ['24h', '7d', '30d']) {
      const c = await page.textContent(`#portfolio-change-${period}`);
      check(c.includes('not known yet') || /[▲▼■]/.test(c), `the ${period} change: ${c}`);
    }
  };
  await checkValue('USD');
  check((await page.textContent('#exchanges-body tr[data-exchange="binance"]')).includes('1 without a price'), 'the exchange summary names the unpriced holding');
  check(await page.locator('#portfolio-gains[data-value]').isVisible(), 'the realised gain is shown');
  // The downloads: plain links the session cookie authenticates, answered as CSV.
  for (const [id, header] of [['download-holdings', 'exchange,asset,amount,value,currency,status'], ['download-gains', 'time_ms,trade_id,exchange,asset']]) {
    const href = await page.getAttribute(`#${id}`, 'href');
    const got = await page.evaluate(async (u) => {
      const r = await fetch(u, { credentials: 'same-origin' });
      return { status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), text: await r.text() };
    }, href);
    check(got.status === 200 && got.type.startsWith('text/csv') && got.disposition.startsWith('attachment'), `${href}: ${got.status} ${got.type} ${got.disposition}`);
    check(got.text.startsWith(header), `${href} starts with its header row: ${got.text.slice(0, 80)}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${id}`)]);
    const file = readFileSync(await download.path(), 'utf8');
    check(file.startsWith(header), `the downloaded ${download.suggestedFilename()} has its header row`);
    if (id === 'download-holdings') check(/^binance,DOGE,1234\.5,,USD,missing/m.test(file), `DOGE has no value in the CSV: ${file}`);
  }
  await shot('05-portfolio');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const phoneWide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(phoneWide <= 390, `the portfolio fits a phone (scrollWidth ${phoneWide})`);
  await shot('05c-phone-portfolio');
  await page.setViewportSize({ width: 1280, height: 900 });
  // Another currency, remembered across a reload.
  await page.selectOption('#portfolio-currency', 'USDT');
  await checkValue('USDT');
  check((await page.getAttribute('#download-holdings', 'href')).endsWith('currency=USDT'), 'the download follows the currency');
  await page.reload();
  await checkValue('USDT');
  check((await page.inputValue('#portfolio-currency')) === 'USDT', 'the currency is remembered');
  await shot('05b-portfolio-usdt');
  await page.selectOption('#portfolio-currency', 'USD');
  await checkValue('USD');
  log('portfolio value', EXPECT_VALUE.USD.total, 'USD');

  // 8. Place a limit order and cancel it.
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
  const orderId = await orderRow.getAttribute('data-order');
  await shot('06-trade');
  await page.click(`[data-cancel="${orderId}"]`);
  await page.locator(`#orders-body tr[data-order="${orderId}"][data-status="canceled"]`).waitFor();
  log('order placed and cancelled', orderId);
  // One more, left open for the lockdown's "cancel all open orders".
  await page.fill('#order-qty', '0.02');
  await page.click('#order-submit');
  const openRow = page.locator('#orders-body tr[data-status="open"]').first();
  await openRow.waitFor();
  const openId = await openRow.getAttribute('data-order');
  check(openId !== orderId, 'a second order rests');

  // 9. Detail with its audit trail; revoke the importer role.
  await page.evaluate((id) => { location.hash = `#/credential/${id}`; }, cid);
  await visible('#screen-detail');
  await page.locator('#audit-body').filter({ hasText: 'credential_created' }).waitFor();
  await shot('07-credential-detail');
  await page.click('[data-revoke="importer"]');
  await visible('#confirm');
  await shot('08-confirm-revoke');
  await page.click('#confirm-ok');
  await page.locator('#audit-body').filter({ hasText: 'revoked' }).waitFor();
  check((await page.locator('#detail-roles [data-role]').count()) === 1, 'one role left');
  check((await page.locator('#detail-roles [data-role="trader"]').count()) === 1, 'the trader role is kept');

  // 9b. Notifications: an address is only asked for (a confirmation link goes to it); a
  // webhook endpoint shows its signing secret once; refusals are opt-in.
  await page.evaluate(() => { location.hash = '#/notifications'; });
  await visible('#screen-notifications');
  check((await page.textContent('#notify-email')) === 'none', 'no address before one is confirmed');
  await page.fill('#notify-email-input', 'not an address');
  await page.click('#notify-email-submit');
  await page.locator('#notify-email-error').filter({ hasText: /address/ }).waitFor();
  await page.fill('#notify-email-input', 'journey@example.test');
  await page.click('#notify-email-submit');
  await page.locator('#status').filter({ hasText: 'confirmation link is on its way to journey@example.test' }).waitFor();
  check((await page.textContent('#notify-email')) === 'none', 'still none: the link was not opened');
  await page.fill('#webhook-url', 'http://127.0.0.1:9/hook');
  await page.click('#webhook-submit');
  await visible('#webhook-secret');
  check((await page.textContent('#webhook-secret-value')).startsWith('whsec_'), 'the secret is shown once');
  check((await page.locator('#webhook-list li').count()) === 1, 'the endpoint is listed');
  await page.check('#notify-refusals');
  await page.locator('#status').filter({ hasText: 'Refusals will be notified.' }).waitFor();
  await shot('09b-notifications');
  await page.click('#webhook-list li button');
  await page.locator('#webhook-list li').first().waitFor({ state: 'detached' });
  await page.reload();
  await visible('#screen-notifications');
  check(await page.isChecked('#notify-refusals'), 'the refusal choice is kept');

  // 10. A second key: OKX (passphrase), Trader only, withdrawals allowed; then deleted.
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#add-form');
  await fill({ exchange: 'okx', key: OKX_KEY, secret: OKX_SECRET, passphrase: OKX_PASS, importer: false, trader: true, withdraw: true, label: 'okx bot' });
  await page.click('#seal-submit');
  await visible('#add-done');
  const okxCid = await page.locator('#add-done').getAttribute('data-id');
  check((await page.inputValue('#field-passphrase')) === '', 'passphrase cleared');
  await page.evaluate((id) => { location.hash = `#/credential/${id}`; }, okxCid);
  await page.locator('#detail-facts').filter({ hasText: 'withdraw' }).waitFor();
  await page.click('#delete-credential');
  await visible('#confirm');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => location.hash === '#/credentials');
  await page.locator('#credentials-body').waitFor();
  const okxRow = page.locator(`#credentials-body tr[data-id="${okxCid}"]`);
  check((await okxRow.count()) === 0 || (await okxRow.textContent()).includes('deleted'), 'the OKX key is deleted');

  // 10b. An import that fails says why, and the Retry button queues it again: a Coinbase
  // Exchange key whose secret is not base64 (Coinbase Exchange's secrets are), which the
  // signer refuses to use (naming the field, never its value).
  await page.evaluate(() => { location.hash = '#/add'; });
  await visible('#add-form');
  await fill({ exchange: 'coinbase-exchange', key: 'cbx-key-0001', secret: KC_SECRET, passphrase: KC_PASS, importer: true, trader: false, withdraw: false, label: 'coinbase exchange' });
  await page.click('#seal-submit');
  await visible('#add-done');
  const kcCid = await page.locator('#add-done').getAttribute('data-id');
  await page.evaluate(() => { location.hash = '#/portfolio'; });
  const kcRow = page.locator(`#imports-body tr[data-credential="${kcCid}"][data-state="failed"]`);
  await kcRow.waitFor({ timeout: 60000 });
  const kcReason = await kcRow.locator('[data-reason]').textContent();
  check(kcReason.includes('"api_secret" is malformed: not standard base64') && !kcReason.includes(KC_SECRET),
    `the failed import says why: ${kcReason}`);
  await shot('08b-import-failed');
  await kcRow.locator('[data-retry]').click();
  await page.locator('#alert').filter({ hasText: 'Import queued again' }).waitFor();
  await page.locator(`#imports-body tr[data-credential="${kcCid}"][data-state="failed"]`).waitFor({ timeout: 60000 });
  log('failed import retried', kcCid);

  // 11. Lockdown, cancelling the open order (a frozen key may still cancel).
  await page.evaluate(() => { location.hash = '#/credentials'; });
  await page.locator('#credentials-body').waitFor();
  await page.click('#lockdown');
  await visible('#confirm');
  await visible('#confirm-option');
  await page.check('#confirm-option-box');
  await shot('09-confirm-lockdown');
  await page.click('#confirm-ok');
  const lockAlert = page.locator('#alert').filter({ hasText: 'Lockdown done' });
  await lockAlert.waitFor();
  const lockText = await lockAlert.textContent();
  check(lockText.includes('Open orders: 1 cancelled'), `the lockdown reports the cancelled order: ${lockText}`);
  await page.locator(`#credentials-body tr[data-id="${cid}"]`).filter({ hasText: 'frozen' }).waitFor();
  await shot('10-lockdown');
  await page.evaluate(() => { location.hash = '#/trade'; });
  await page.locator(`#orders-body tr[data-order="${openId}"][data-status="canceled"]`).waitFor();

  // 11b. The operator opens an incident over Binance keys: the user's list shows a banner
  // naming the credential with its exchange's API-key page and the steps to replace it,
  // and marks the credential until a new key replaces it.
  const incidentReport = JSON.parse(execFileSync(SEALGATE_BIN, ['incident', 'open', '--reason',
    'Binance API keys may have been exposed', '--exchange', 'binance', '--no-rotate', '--database', DATABASE],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  check(incidentReport.complete === true, `the incident ran every step: ${JSON.stringify(incidentReport)}`);
  await page.evaluate(() => { location.hash = '#/portfolio'; });
  await page.evaluate(() => { location.hash = '#/credentials'; });
  const incidentItem = page.locator(`#incident-banner [data-incident="${incidentReport.id}"] [data-incident-credential="${cid}"]`);
  await incidentItem.waitFor();
  const incidentText = await incidentItem.textContent();
  check(incidentText.includes('Binance') && incidentText.includes('binance.com'), `the banner names the key and its page: ${incidentText}`);
  check(await page.locator('#incident-banner').isVisible(), 'the incident banner is shown');
  await page.locator(`#credentials-body tr[data-id="${cid}"] .badge.replace-key`).waitFor();
  await shot('10b-incident-banner');

  // 12. Phone-sized screens: no sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, name] of [['#/add', '11-phone-add'], ['#/portfolio', '12-phone-portfolio'], ['#/credentials', '13-phone-credentials']]) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForTimeout(300);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 390, `${hash} fits a phone (scrollWidth ${wide})`);
    await shot(name);
  }

  // 13. Subresource Integrity: a changed script does not run.
  const sriPage = await context.newPage();
  const sriConsole = [];
  sriPage.on('console', (m) => sriConsole.push(m.text()));
  await sriPage.route('**/app/seal.js', async (route) => {
    const r = await route.fetch();
    await route.fulfill({ response: r, body: `${await r.text()}\n// tampered\n` });
  });
  const integrityError = async (file) => {
    for (let i = 0; i < 100; i++) {
      if (sriConsole.some((t) => /integrity/i.test(t) && t.includes(file))) return;
      await sriPage.waitForTimeout(100);
    }
    throw new Error(`no integrity error for ${file}: ${sriConsole}`);
  };
  await sriPage.goto(`${BASE}/`);
  await integrityError('seal.js');
  // app.js runs (it is intact), finds no sealing code, and stops saying so.
  await sriPage.locator('#alert').filter({ hasText: 'did not load' }).waitFor();
  check(await sriPage.locator('#screen-loading').isVisible(), 'with a tampered seal.js the app does not start');
  // A tampered app.js does not run at all.
  await sriPage.unroute('**/app/seal.js');
  await sriPage.route('**/app/app.js', async (route) => {
    const r = await route.fetch();
    await route.fulfill({ response: r, body: `${await r.text()}\n// tampered\n` });
  });
  sriConsole.length = 0;
  await sriPage.goto(`${BASE}/`);
  await integrityError('app.js');
  await sriPage.waitForTimeout(500);
  check(await sriPage.locator('#screen-loading').isVisible(), 'with a tampered app.js nothing runs');
  await sriPage.close();

  // 14. The CSP held during the whole run; then one deliberate violation is reported.
  const cspErrors = consoleLines.filter((l) => /Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(l));
  check(cspErrors.length === 0, `no CSP violations: ${cspErrors}`);
  const reportsBefore = await metricsCsp();
  check(reportsBefore === 0, `no CSP violation reports reached the server (${reportsBefore})`);
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.injected = true';
    document.body.append(s);
  });
  check(!(await page.evaluate(() => window.injected === true)), 'inline script is blocked');
  let reportsAfter = 0;
  for (let i = 0; i < 50 && reportsAfter === 0; i++) {
    await page.waitForTimeout(100);
    reportsAfter = await metricsCsp();
  }
  check(reportsAfter === 1, `the deliberate violation was reported (${reportsAfter})`);

  // 15. What the page sent: envelopes, never a secret.
  const sent = await Promise.all(requests);
  for (const r of sent) {
    const all = `${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n${r.body ?? ''}`;
    for (const c of CANARIES) check(!all.includes(c), `a secret appears in ${r.method} ${r.url}`);
    check(!all.includes(API_KEY) && !all.includes(OKX_KEY), `the full API key appears in ${r.method} ${r.url}`);
    check(new URL(r.url).origin === new URL(BASE).origin, `a request left the origin: ${r.url}`);
  }
  const posts = sent.filter((r) => r.method === 'POST' && r.url.endsWith('/v1/credentials'));
  check(posts.length === 3, `three credentials sent (${posts.length})`);
  const envelopes = [];
  for (const p of posts) {
    const body = JSON.parse(p.body);
    check(JSON.stringify(Object.keys(body).sort()) === '["envelopes","exchange","id","label"]', `body members: ${Object.keys(body)}`);
    for (const e of body.envelopes) {
      check(JSON.stringify(Object.keys(e).sort()) === '["jwe","role"]', 'envelope members');
      check(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(e.jwe), 'compact JWE');
      envelopes.push({ credential: body.id, exchange: body.exchange, role: e.role, header: jsonOf(e.jwe.split('.')[0]) });
    }
  }
  writeFileSync(join(ART, 'requests.json'), JSON.stringify(sent, null, 2));
  result = { user, cid, okx_cid: okxCid, pin, refusals, envelopes, extra, requests: sent.length };
  log(`${sent.length} requests recorded; none carries a secret`);
} catch (e) {
  console.error('[journey] FAILED:', e && e.stack ? e.stack : e);
  console.error('[journey] console:\n' + consoleLines.join('\n'));
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
