// Sealgate web client: the screens. Plain DOM nodes (never HTML strings), no dependencies.
// seal.js (a separate <script>, under its own integrity hash) ran first and left its
// functions here; without them this page refuses to run rather than seal wrongly.
const seal = globalThis.sealgateSeal;
const { KeysetError, keyForRole, sealCredential, verifyKeyset } = seal || {};

const $ = (id) => document.getElementById(id);
const DONE_STATES = ['canceled', 'filled', 'rejected', 'expired'];

// The exchanges this page can onboard and the fields each needs (the signer's names).
const FIELD = {
  api_key: { label: 'API key', secret: false },
  api_secret: { label: 'API secret', secret: true },
  passphrase: { label: 'API passphrase', secret: true },
  key_name: { label: 'API key name', secret: false },
  private_key: { label: 'Private key (PEM or base64)', secret: true, multiline: true },
};
const EXCHANGES = [
  { id: 'binance', name: 'Binance', fields: ['api_key', 'api_secret'], symbol: 'BTCUSDT' },
  { id: 'kraken', name: 'Kraken', fields: ['api_key', 'api_secret'], symbol: 'XBTUSD' },
  { id: 'okx', name: 'OKX', fields: ['api_key', 'api_secret', 'passphrase'], symbol: 'BTC-USDT' },
  { id: 'coinbase', name: 'Coinbase (CDP key)', fields: ['key_name', 'private_key'], symbol: 'BTC-USD' },
  { id: 'coinbase-exchange', name: 'Coinbase Exchange', fields: ['api_key', 'api_secret', 'passphrase'], symbol: 'BTC-USD' },
  { id: 'kucoin', name: 'KuCoin', fields: ['api_key', 'api_secret', 'passphrase'], symbol: 'BTC-USDT' },
  { id: 'bitget', name: 'Bitget', fields: ['api_key', 'api_secret', 'passphrase'], symbol: 'BTCUSDT' },
  { id: 'bybit', name: 'Bybit', fields: ['api_key', 'api_secret'], symbol: 'BTCUSDT' },
  { id: 'bitfinex', name: 'Bitfinex', fields: ['api_key', 'api_secret'], symbol: 'tBTCUSD' },
  { id: 'gemini', name: 'Gemini', fields: ['api_key', 'api_secret'], symbol: 'btcusd' },
  { id: 'gate', name: 'Gate', fields: ['api_key', 'api_secret'], symbol: 'BTC_USDT' },
  { id: 'mexc', name: 'MEXC', fields: ['api_key', 'api_secret'], symbol: 'BTCUSDT' },
];
const exchangeName = (id) => (EXCHANGES.find((e) => e.id === id) || { name: id }).name;
// Exchanges that take keys their users generate: the key types the custody can make for
// each (the first is the one it makes when none is asked for), and their names.
const SELF_GENERATED = { binance: ['ed25519', 'rsa-2048'], bybit: ['rsa-2048'], bitget: ['rsa-2048'] };
// Exchanges whose self-generated keys also need a passphrase, sealed to each role.
const NEEDS_PASSPHRASE = new Set(['bitget']);
const KEY_TYPE_NAME = { ed25519: 'Ed25519 (recommended)', 'rsa-2048': 'RSA 2048' };

const state = { me: null, credentials: [], pollTimer: null, flash: '' };
// A key just made in the custody and waiting for the exchange's API key id: its pending
// grants live here, in this page's memory only (never storage, the URL or the DOM).
let custodyPending = null;

// --- small helpers -------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function when(ms) {
  if (ms === null || ms === undefined) return 'never';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

function say(text) {
  $('status').textContent = text;
}

function showAlert(text) {
  const a = $('alert');
  a.textContent = text;
  a.hidden = !text;
}

function showError(id, text) {
  const e = $(id);
  e.textContent = text || '';
  e.hidden = !text;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = cookie('sealgate_csrf');
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    if (resp.status === 401) showScreen('signin');
    throw new HttpError(resp.status, (data && data.error) || `${resp.status} ${resp.statusText}`);
  }
  return data;
}

// `option`: the text of a checkbox the dialog offers (unticked), or none; its state is
// read from #confirm-option-box after the dialog closes.
function confirmDialog(title, text, okLabel, option) {
  const d = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  $('confirm-option').hidden = !option;
  $('confirm-option-label').textContent = option || '';
  $('confirm-option-box').checked = false;
  d.returnValue = '';
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
    $('confirm-cancel').focus();
  });
}

// --- navigation ----------------------------------------------------------------------

const SCREENS = ['loading', 'signin', 'credentials', 'add', 'detail', 'portfolio', 'trade', 'notifications', 'passkeys'];

function showScreen(name) {
  for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
  const signedIn = name !== 'signin' && name !== 'loading';
  $('nav').hidden = !signedIn;
  $('who').hidden = !signedIn;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.screen === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.screen = name;
}

async function route() {
  clearTimeout(state.pollTimer);
  showAlert('');
  // A message for the next screen (after a delete or a lockdown) survives one navigation.
  say(state.flash);
  state.flash = '';
  if (state.flashAlert) {
    showAlert(state.flashAlert);
    state.flashAlert = '';
  }
  if (!state.me) {
    try {
      state.me = await api('GET', '/v1/me');
    } catch (e) {
      if (e.status === 401) return showScreen('signin');
      return showAlert(`Could not reach the server: ${e.message}`);
    }
    $('who-name').textContent = state.me.id;
  }
  const hash = location.hash || '#/credentials';
  const [, name, arg] = hash.match(/^#\/([a-z]+)(?:\/(.+))?$/) || [];
  const screens = { credentials: showCredentials, add: showAdd, credential: showDetail, portfolio: showPortfolio, trade: showTrade, notifications: showNotifications, passkeys: showPasskeys };
  const show = screens[name] || showCredentials;
  try {
    await show(arg && decodeURIComponent(arg));
  } catch (e) {
    if (e.status !== 401) showAlert(e.message);
  }
  const h1 = document.querySelector('.screen:not([hidden]) h1');
  if (h1) document.title = `${h1.textContent} · Sealgate`;
}

// --- credentials ---------------------------------------------------------------------

async function loadCredentials() {
  state.credentials = (await api('GET', '/v1/credentials')).credentials;
  return state.credentials;
}

function roleNames(c) {
  return c.roles.map((r) => r.role);
}

// An incident banner: every security incident that concerns the user's credentials, with
// the exchange's API-key page and the steps to replace each key there (GET /v1/incidents).
async function showIncidents() {
  const banner = $('incident-banner');
  let incidents = [];
  try {
    incidents = (await api('GET', '/v1/incidents')).incidents;
  } catch (e) {
    if (e.status === 401) throw e;
  }
  banner.replaceChildren();
  banner.hidden = incidents.length === 0;
  for (const inc of incidents) {
    const list = el('ol', { class: 'incident-creds' });
    for (const c of inc.credentials) {
      const steps = el('ol', {}, ...c.steps.map((s) => el('li', { text: s })));
      list.append(el('li', { 'data-incident-credential': c.id },
        el('strong', { text: `${exchangeName(c.exchange)} "${c.label || c.exchange}" (key …${c.hint}), ${c.status}` }),
        c.key_page ? el('p', {}, 'API-key page: ', el('a', { href: c.key_page, target: '_blank', rel: 'noopener noreferrer', text: c.key_page })) : null,
        steps));
    }
    banner.append(el('div', { class: 'incident', 'data-incident': inc.id },
      el('h2', { text: `Security incident ${inc.id}` }),
      el('p', { text: inc.reason }),
      el('p', { text: 'Treat the API keys below as exposed: replace each at its exchange, add the new key here as a new credential, then delete the old one. Frozen credentials stay frozen until you unfreeze them.' }),
      list));
  }
}

// Withdrawals a service asked for, waiting for the owner's passkey.
async function showWithdrawals() {
  const { withdrawals } = await api('GET', '/v1/withdrawals');
  $('withdrawals').hidden = withdrawals.length === 0;
  $('withdrawals-list').replaceChildren(...withdrawals.map((w) => el('li', { 'data-id': w.id },
    el('span', {}, el('strong', { text: `${w.amount} ${w.asset}` }),
      ` to ${w.destination}${w.network ? ` (${w.network})` : ''} — ${exchangeName(w.exchange)}, asked by ${w.role}, ${when(w.created_ms)}`),
    el('button', { type: 'button', class: 'small', 'data-approve': w.id, onclick: () => approveWithdrawal(w) }, 'Approve'))));
}

async function approveWithdrawal(w) {
  try {
    const start = await api('POST', `/v1/withdrawals/${encodeURIComponent(w.id)}/approval`);
    const s = JSON.parse(start.statement).withdrawal;
    const ok = await confirmDialog('Approve this withdrawal?', `${s.amount} ${s.asset} to ${s.destination}${s.network ? ` on ${s.network}` : ''} (${exchangeName(s.exch)}). Your passkey signs exactly this request; the service must then send it within 5 minutes. A destination you approve for the first time may have to wait (24 h by default).`, 'Approve with passkey');
    if (!ok) return;
    const credential = await approve(start.options);
    await api('POST', `/v1/withdrawals/${encodeURIComponent(w.id)}/approve`, { approval: { statement: start.statement, credential } });
    say('Withdrawal approved: the service can now send it again.');
    await showWithdrawals();
  } catch (e) {
    showAlert(e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out: nothing was approved.' : e.message);
  }
}

async function showCredentials() {
  const creds = await loadCredentials();
  await showIncidents();
  await showWithdrawals();
  showScreen('credentials');
  const body = $('credentials-body');
  body.replaceChildren();
  $('credentials-empty').hidden = creds.length > 0;
  $('credentials-table').hidden = creds.length === 0;
  for (const c of creds) {
    body.append(
      el('tr', { 'data-id': c.id },
        el('td', { 'data-label': 'Exchange' }, exchangeName(c.exchange)),
        el('td', { 'data-label': 'Label' }, c.label || '—'),
        el('td', { 'data-label': 'Key' }, el('code', { text: `…${c.hint}` })),
        el('td', { 'data-label': 'Roles' }, roleNames(c).join(', ') || 'none'),
        el('td', { 'data-label': 'Scope' }, c.scope.join(', ')),
        el('td', { 'data-label': 'Status' }, el('span', { class: `badge ${c.status}`, text: c.status }),
          c.replace_key ? el('span', { class: 'badge replace-key', title: 'A security incident concerns this key: replace it at the exchange', text: 'replace key' }) : null),
        el('td', { 'data-label': 'Last used' }, when(c.last_used_ms)),
        el('td', {}, el('a', { href: `#/credential/${encodeURIComponent(c.id)}`, 'aria-label': `Details of ${c.label || c.exchange} …${c.hint}` }, 'Details')),
      ),
    );
  }
}

// --- add a credential ----------------------------------------------------------------

function renderSecretFields() {
  const ex = EXCHANGES.find((e) => e.id === $('exchange').value) || EXCHANGES[0];
  const box = $('secret-fields');
  box.replaceChildren();
  for (const f of ex.fields) {
    const spec = FIELD[f];
    const attrs = {
      id: `field-${f}`,
      name: f,
      required: true,
      autocomplete: 'off',
      spellcheck: 'false',
      autocapitalize: 'off',
      'data-secret-field': '',
    };
    const input = spec.multiline
      ? el('textarea', { ...attrs, rows: '4' })
      : el('input', { ...attrs, type: spec.secret ? 'password' : 'text' });
    box.append(el('div', { class: 'field' }, el('label', { for: `field-${f}`, text: spec.label }), input));
  }
}

// Whether the "let Sealgate make the key" path is chosen (and offered for this exchange).
function custodyMode() {
  return Boolean(SELF_GENERATED[$('exchange').value]) && $('mode-custody').checked;
}

function renderKeyMode() {
  const types = SELF_GENERATED[$('exchange').value];
  $('key-mode').hidden = !types;
  const custody = custodyMode();
  $('secret-fields').hidden = custody;
  $('keyset-info').hidden = custody;
  $('key-type-field').hidden = !custody;
  for (const input of document.querySelectorAll('[data-secret-field]')) input.disabled = custody;
  if (types) {
    const previous = $('key-type').value;
    $('key-type').replaceChildren(...types.map((t) => el('option', { value: t }, KEY_TYPE_NAME[t] || t)));
    if (types.includes(previous)) $('key-type').value = previous;
  }
  $('seal-submit').textContent = custody ? 'Make the key' : 'Seal and save';
  $('add-intro').hidden = custody || Boolean(custodyPending);
}

function clearSecretFields() {
  for (const input of document.querySelectorAll('[data-secret-field]')) input.value = '';
}

async function showAdd() {
  showScreen('add');
  // A key made in the custody and not yet activated: its steps, until activated or discarded.
  $('add-form').hidden = Boolean(custodyPending);
  $('custody-steps').hidden = !custodyPending;
  $('add-done').hidden = true;
  showError('add-error', '');
  renderKeyMode();
  $('root-pin').textContent = rootPin() || '(none: this page cannot seal)';
}

function rootPin() {
  const m = document.querySelector('meta[name="sealgate-root-pin"]');
  return m ? m.content : '';
}

async function submitCredential(ev) {
  ev.preventDefault();
  showError('add-error', '');
  if (custodyMode()) return makeCustodyKey();
  const button = $('seal-submit');
  const exch = $('exchange').value;
  const ex = EXCHANGES.find((e) => e.id === exch);
  const roles = [...document.querySelectorAll('input[name="role"]:checked')].map((i) => i.value);
  const withdraw = $('allow-withdraw').checked;
  const fields = {};
  for (const f of ex.fields) fields[f] = $(`field-${f}`).value.trim();
  const missing = ex.fields.filter((f) => !fields[f]);
  if (missing.length) return showError('add-error', `Please fill in: ${missing.map((f) => FIELD[f].label).join(', ')}.`);
  if (roles.length === 0) return showError('add-error', 'Tick at least one role: Importer or Trader.');
  if (withdraw && !roles.includes('trader')) {
    return showError('add-error', 'Withdrawals can only be granted to the Trader role: tick Trader, or untick withdrawals.');
  }
  button.disabled = true;
  say('Checking the signed recipient keys…');
  try {
    const set = await api('GET', '/v1/recipients');
    let verified;
    try {
      verified = await verifyKeyset(set.keyset, rootPin(), Math.floor(Date.now() / 1000));
    } catch (e) {
      if (e instanceof KeysetError) {
        throw new Error(`Refused to seal: ${e.reason}. Nothing was sent. Tell your operator.`);
      }
      throw e;
    }
    // The owner's authority: the thumbprints of the user's passkeys (envelope rule C8).
    const { passkeys } = await api('GET', '/v1/passkeys');
    const own = passkeys.length ? passkeys.map((p) => p.thumbprint) : null;
    say('Sealing in this browser…');
    const cid = crypto.randomUUID();
    const iat = Math.floor(Date.now() / 1000);
    const envelopes = [];
    for (const role of roles) {
      let jwk;
      try {
        jwk = keyForRole(verified.keys, role);
      } catch (e) {
        throw new Error(`Refused to seal: ${e.message}. Nothing was sent.`);
      }
      const scope = role === 'importer' ? ['read'] : withdraw ? ['read', 'trade', 'withdraw'] : ['read', 'trade'];
      const binding = { sub: state.me.id, cid, exch, aud: role, scope, iat };
      if (own) binding.own = own;
      const jwe = await sealCredential(jwk, binding, fields);
      envelopes.push({ role, jwe });
    }
    for (const k of Object.keys(fields)) fields[k] = '';
    clearSecretFields();
    say('Saving the sealed envelopes…');
    const created = await api('POST', '/v1/credentials', { id: cid, exchange: exch, label: $('label').value.trim(), envelopes });
    $('label').value = '';
    $('allow-withdraw').checked = false;
    $('add-form').hidden = true;
    $('add-done-title').textContent = 'Sealed and saved';
    $('add-done-note').textContent = 'The secret fields were cleared. Neither this page nor the server can ever show the secret again.';
    $('add-done-text').textContent = `Your ${exchangeName(exch)} key …${created.hint} is sealed to ${roles.join(' and ')} (scope: ${created.scope.join(', ')}).`;
    $('add-done-link').href = `#/credential/${encodeURIComponent(created.id)}`;
    $('add-done').dataset.id = created.id;
    $('add-done').hidden = false;
    $('add-done').focus();
    say('Saved.');
  } catch (e) {
    showError('add-error', e.message);
    say('');
  } finally {
    // Whatever happened, the secrets leave the page: the user pastes again to retry.
    clearSecretFields();
    button.disabled = false;
  }
}

// --- a key made in the custody ------------------------------------------------------

// Step 1: the custody makes the key; the page shows its public key and the exchange's steps.
async function makeCustodyKey() {
  const button = $('seal-submit');
  const exch = $('exchange').value;
  const roles = [...document.querySelectorAll('input[name="role"]:checked')].map((i) => i.value);
  const withdraw = $('allow-withdraw').checked;
  if (roles.length === 0) return showError('add-error', 'Tick at least one role: Importer or Trader.');
  if (withdraw && !roles.includes('trader')) {
    return showError('add-error', 'Withdrawals can only be granted to the Trader role: tick Trader, or untick withdrawals.');
  }
  // One scope for the key: what the exchange is asked to allow, and what the grants allow.
  const scope = ['read'];
  if (roles.includes('trader')) scope.push('trade');
  if (withdraw) scope.push('withdraw');
  button.disabled = true;
  say('Making the key in the custody…');
  try {
    // The owner's authority: the thumbprints of the user's passkeys, as in a sealed envelope.
    const { passkeys } = await api('GET', '/v1/passkeys');
    const body = { id: crypto.randomUUID(), exchange: exch, key_type: $('key-type').value, roles, scope };
    if (passkeys.length) body.own = passkeys.map((p) => p.thumbprint);
    const made = await api('POST', '/v1/custody-keys', body);
    custodyPending = { made, roles, scope, label: $('label').value.trim(), own: Boolean(body.own) };
    renderCustodySteps(made);
    $('add-form').hidden = true;
    $('custody-steps').hidden = false;
    $('add-intro').hidden = true;
    $('custody-title').focus();
    say(`Key made in the custody. Register its public key on ${made.steps.exchange_name || exchangeName(exch)}.`);
  } catch (e) {
    showError('add-error', `The key was not made: ${e.message}`);
    say('');
  } finally {
    button.disabled = false;
  }
}

function renderCustodySteps(made) {
  const s = made.steps;
  const name = s.exchange_name || exchangeName(made.exchange);
  $('custody-title').textContent = `Register this public key on ${name}`;
  const kind = { ed25519: 'an Ed25519', 'rsa-2048': 'an RSA 2048' }[made.key_type] || `a ${made.key_type}`;
  $('custody-intro').textContent = `Sealgate made ${kind} key for ${name} in its key custody. Its private key never leaves the custody: only its public key is shown here, and it is safe to copy. Follow these steps on ${name}:`;
  const pem = $('custody-pem');
  pem.value = made.public_pem;
  pem.rows = Math.min(14, made.public_pem.trim().split('\n').length + 1);
  $('custody-page').replaceChildren(...(s.page
    ? ['Exchange page: ', el('a', { href: s.page, target: '_blank', rel: 'noopener noreferrer', id: 'custody-page-link', text: s.page }),
      s.menu ? ` (${s.menu})` : '']
    : []));
  $('custody-step-list').replaceChildren(...s.steps.map((t) => el('li', { text: t })));
  $('custody-api-key').value = '';
  $('custody-passphrase').value = '';
  $('custody-passphrase-field').hidden = !NEEDS_PASSPHRASE.has(made.exchange);
  showError('custody-error', '');
}

async function copyCustodyPem() {
  const pem = $('custody-pem');
  pem.focus();
  pem.select();
  try {
    await navigator.clipboard.writeText(pem.value);
    say('The public key is copied.');
  } catch {
    say('Copy the selected public key (Ctrl+C, or Copy from the menu).');
  }
}

// Step 2: the exchange named the key; the signer signs its grants and the credential is stored.
async function activateCustodyKey(ev) {
  ev.preventDefault();
  showError('custody-error', '');
  if (!custodyPending) return showError('custody-error', 'No key is waiting: make a new one.');
  const apiKey = $('custody-api-key').value.trim();
  if (!apiKey) return showError('custody-error', 'Paste the API key id the exchange showed for this public key.');
  if (/\s/.test(apiKey)) return showError('custody-error', 'An API key id has no spaces: paste only the id.');
  const button = $('custody-activate-submit');
  button.disabled = true;
  say('Activating the key…');
  try {
    const { made, roles, scope, label, own } = custodyPending;
    const body = { pending: made.pending, api_key: apiKey, label };
    if (NEEDS_PASSPHRASE.has(made.exchange)) {
      // The exchange's passphrase: sealed here to each role, as a pasted key is.
      const passphrase = $('custody-passphrase').value;
      if (!passphrase) throw new Error(`${exchangeName(made.exchange)} also needs the passphrase you set for this key.`);
      const set = await api('GET', '/v1/recipients');
      let verified;
      try {
        verified = await verifyKeyset(set.keyset, rootPin(), Math.floor(Date.now() / 1000));
      } catch (e) {
        if (e instanceof KeysetError) throw new Error(`refused to seal: ${e.reason}. Nothing was sent. Tell your operator.`);
        throw e;
      }
      const iat = Math.floor(Date.now() / 1000);
      const fields = { api_key: apiKey, passphrase };
      body.sealed = [];
      for (const role of roles) {
        const binding = { sub: state.me.id, cid: made.id, exch: made.exchange, aud: role, scope, iat };
        body.sealed.push({ role, jwe: await sealCredential(keyForRole(verified.keys, role), binding, fields) });
      }
      fields.passphrase = '';
      $('custody-passphrase').value = '';
    }
    if (own) {
      // The key names the user's passkeys: one of them approves exactly these terms.
      const start = await api('POST', '/v1/custody-keys/approval', { pending: made.pending, api_key: apiKey });
      const g = JSON.parse(start.statement).grant;
      const ok = await confirmDialog('Approve with your passkey?', `Grant this ${exchangeName(g.exch)} key (API key id ${g.api_key}) to ${g.roles.join(' and ')}, for ${g.scope.join(', ')}. Your passkey signs exactly this.`, 'Approve');
      if (!ok) throw new Error('not approved: nothing was stored.');
      body.approval = { statement: start.statement, credential: await approve(start.options) };
    }
    const created = await api('POST', '/v1/custody-keys/activate', body);
    custodyPending = null;
    $('custody-api-key').value = '';
    $('custody-pem').value = '';
    $('label').value = '';
    $('allow-withdraw').checked = false;
    $('custody-steps').hidden = true;
    $('add-done-title').textContent = 'Key active';
    $('add-done-text').textContent = `Your ${exchangeName(created.exchange)} key …${created.hint} is active for ${roles.join(' and ')} (scope: ${created.scope.join(', ')}).`;
    $('add-done-note').textContent = 'Its private key was made in Sealgate\'s key custody and never leaves it: requests are signed there.';
    $('add-done-link').href = `#/credential/${encodeURIComponent(created.id)}`;
    $('add-done').dataset.id = created.id;
    $('add-done').hidden = false;
    $('add-done').focus();
    say('Activated.');
  } catch (e) {
    // The grants stay in memory: the user can correct the id and try again.
    showError('custody-error', `Not activated: ${e.message}`);
    say('');
  } finally {
    button.disabled = false;
  }
}

async function discardCustodyKey() {
  const ok = await confirmDialog('Discard this key?', 'The key made in the custody is destroyed there. If you already registered its public key on the exchange, delete it there too.', 'Discard');
  if (!ok) return;
  try {
    await api('POST', '/v1/custody-keys/discard', { pending: custodyPending.made.pending });
  } catch (e) {
    return showError('custody-error', `Not discarded: ${e.message}`);
  }
  custodyPending = null;
  $('custody-pem').value = '';
  $('custody-steps').hidden = true;
  $('add-form').hidden = false;
  renderKeyMode();
  say('Discarded: the key is destroyed and nothing was stored.');
}

// --- credential detail ---------------------------------------------------------------

async function auditFor(id) {
  const out = [];
  let after = 0;
  for (let i = 0; i < 50; i++) {
    const page = await api('GET', `/v1/audit?after=${after}&limit=1000`);
    out.push(...page.records.filter((r) => r.subject === id));
    if (page.records.length < 1000) break;
    after = page.next_after;
  }
  return out;
}

function auditDetail(d) {
  if (!d || typeof d !== 'object') return '';
  return Object.entries(d)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`)
    .join('; ');
}

async function showDetail(id) {
  const c = await api('GET', `/v1/credentials/${encodeURIComponent(id)}`);
  showScreen('detail');
  $('detail-title').textContent = `${exchangeName(c.exchange)} …${c.hint}${c.label ? ` — ${c.label}` : ''}`;
  const facts = $('detail-facts');
  facts.replaceChildren();
  for (const [k, v] of [
    ['Exchange', exchangeName(c.exchange)], ['Label', c.label || '—'], ['Key', `…${c.hint}`], ['Status', c.status],
    ['Scope', c.scope.join(', ')], ['Added', when(c.created_ms)], ['Last used', when(c.last_used_ms)], ['Credential id', c.id],
  ]) {
    facts.append(el('dt', { text: k }), el('dd', { text: v }));
  }
  const roles = $('detail-roles');
  roles.replaceChildren();
  if (c.roles.length === 0) roles.append(el('li', { text: 'No role can use this key any more.' }));
  for (const r of c.roles) {
    const what = r.role === 'importer' ? 'reads balances and history' : 'reads and trades';
    roles.append(
      el('li', { 'data-role': r.role },
        el('span', {}, el('strong', { text: r.role }), ` — ${what} (key ${r.kid}, sealed ${when(r.created_ms)})`),
        el('button', { type: 'button', class: 'danger small', 'data-revoke': r.role, onclick: () => revokeRole(c, r.role) }, `Revoke ${r.role}`),
      ),
    );
  }
  $('delete-credential').dataset.id = c.id;
  $('delete-credential').disabled = c.status === 'deleted';
  const toggle = $('status-toggle');
  toggle.dataset.id = c.id;
  toggle.dataset.to = c.status === 'frozen' ? 'active' : 'frozen';
  toggle.textContent = c.status === 'frozen' ? 'Unfreeze this credential' : 'Freeze this credential';
  toggle.disabled = c.status === 'deleted';
  const records = await auditFor(c.id);
  const body = $('audit-body');
  body.replaceChildren();
  for (const r of records) {
    body.append(
      el('tr', {},
        el('td', { 'data-label': '#' }, String(r.seq)),
        el('td', { 'data-label': 'Time' }, when(r.time_ms)),
        el('td', { 'data-label': 'Who' }, r.actor),
        el('td', { 'data-label': 'What' }, r.action),
        el('td', { 'data-label': 'Detail' }, auditDetail(r.detail)),
      ),
    );
  }
  if (records.length === 0) body.append(el('tr', {}, el('td', { colspan: '5', text: 'No records yet.' })));
}

async function revokeRole(c, role) {
  const ok = await confirmDialog(`Revoke the ${role} role?`, `The ${role} envelope of this key is destroyed: that service can no longer use it. To give it back you paste and seal the key again.`, `Revoke ${role}`);
  if (!ok) return;
  await api('DELETE', `/v1/credentials/${encodeURIComponent(c.id)}/roles/${role}`);
  say(`The ${role} role was revoked.`);
  await showDetail(c.id);
}

async function deleteCredential() {
  const id = $('delete-credential').dataset.id;
  const ok = await confirmDialog('Delete this credential?', 'Every sealed envelope of this key is destroyed; no service can use it again. Also delete or disable the key on the exchange.', 'Delete');
  if (!ok) return;
  try {
    await api('DELETE', `/v1/credentials/${encodeURIComponent(id)}`);
    state.flash = 'The credential was deleted.';
    location.hash = '#/credentials';
  } catch (e) {
    showAlert(e.message);
  }
}

// An owner state, as a statement names it, in one sentence.
function stateSummary(st) {
  const parts = [st.status === 'active' ? 'usable (active)' : 'frozen'];
  parts.push(st.symbols ? `symbols: ${st.symbols.length ? st.symbols.join(', ') : 'none'}` : 'any symbol');
  parts.push(st.max_notional ? `largest order ${st.max_notional}` : 'no order size cap');
  parts.push(st.rate ? `at most ${st.rate.max} requests per ${st.rate.window_ms / 1000} s` : 'no rate limit');
  return parts.join('; ');
}

// The owner's approval of `change` ({status} and/or {limits}) to credential `id`, when its
// envelopes name the user's passkeys and the change loosens: the page shows the exact new
// state the passkey will sign. null: none is needed.
async function ownerApproval(id, change) {
  let start;
  try {
    start = await api('POST', `/v1/credentials/${encodeURIComponent(id)}/approval`, change);
  } catch (e) {
    if (e.status === 409 && /names no owner authority/.test(e.message)) return null;
    throw e;
  }
  if (!start.loosens) return null;
  const statement = JSON.parse(start.statement);
  const ok = await confirmDialog('Approve with your passkey?', `This loosens what you set. The credential becomes: ${stateSummary(statement.state)}. Your passkey signs exactly this.`, 'Approve');
  if (!ok) throw new Error('Not approved: nothing was changed.');
  return { statement: start.statement, credential: await approve(start.options) };
}

async function toggleStatus() {
  const { id, to } = $('status-toggle').dataset;
  try {
    if (to === 'frozen') {
      const ok = await confirmDialog('Freeze this credential?', 'No service can use it (a trader can still cancel orders) until you unfreeze it.', 'Freeze');
      if (!ok) return;
    }
    const body = { status: to };
    if (to === 'active') {
      const approval = await ownerApproval(id, { status: to });
      if (approval) body.approval = approval;
    }
    await api('PUT', `/v1/credentials/${encodeURIComponent(id)}/status`, body);
    say(to === 'active' ? 'The credential is active again.' : 'The credential is frozen.');
    await showDetail(id);
  } catch (e) {
    showAlert(e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out: nothing was changed.' : e.message);
  }
}

// What a lockdown's "cancel all open orders" did, in one sentence.
function cancelSummary(orders) {
  if (!orders) return '';
  if (orders.length === 0) return ' No open orders.';
  const n = (result) => orders.filter((o) => o.result === result).length;
  const failed = orders.filter((o) => o.result === 'failed');
  let text = ` Open orders: ${n('canceled')} cancelled, ${n('closed')} already closed, ${failed.length} could not be cancelled.`;
  for (const o of failed) text += ` Order ${o.order_id}: ${o.reason || 'unknown reason'}.`;
  return text;
}

async function lockdown() {
  const ok = await confirmDialog('Lock down every credential?', 'All your keys are frozen at once: no service can use any of them until you unfreeze each one (with your passkey, for those that name it). Use this if you suspect anything is wrong.', 'Lock down now', 'Also cancel all open orders (a frozen key can still cancel)');
  if (!ok) return;
  const cancelOrders = $('confirm-option-box').checked;
  try {
    const r = await api('POST', cancelOrders ? '/v1/lockdown?cancel_orders=true' : '/v1/lockdown');
    say('');
    const text = `Lockdown done: ${r.frozen} credential(s) frozen. No service can use them until you unfreeze each one.${cancelSummary(r.orders)}`;
    if ((location.hash || '#/credentials') === '#/credentials') {
      await showCredentials();
      showAlert(text);
    } else {
      state.flashAlert = text;
      location.hash = '#/credentials';
    }
  } catch (e) {
    showAlert(e.message);
  }
}

// --- portfolio -----------------------------------------------------------------------

// Amounts are exact decimal strings: shown as they are, with thousands separators inserted
// in the string (never through a float). Floats only place points in the charts.
function groupDigits(s) {
  const m = /^([-+]?)(\d+)(\.\d+)?$/.exec(String(s));
  if (!m) return String(s);
  return `${m[1]}${m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${m[3] || ''}`;
}

// -1, 0 or 1: the sign of a decimal string.
function signOf(s) {
  if (String(s).startsWith('-')) return /[1-9]/.test(s) ? -1 : 0;
  return /[1-9]/.test(s) ? 1 : 0;
}

const signed = (s) => (signOf(s) > 0 && !String(s).startsWith('+') ? `+${groupDigits(s)}` : groupDigits(s));

// A percent with 2 places ("12.34") as whole hundredths, exactly; and back.
function hundredths(p) {
  const m = /^(-?)(\d+)\.(\d{2})$/.exec(String(p));
  return m ? (m[1] ? -1 : 1) * (Number(m[2]) * 100 + Number(m[3])) : 0;
}
const fromHundredths = (n) => `${n < 0 ? '-' : ''}${Math.floor(Math.abs(n) / 100)}.${String(Math.abs(n) % 100).padStart(2, '0')}`;

const CURRENCIES = ['USD', 'EUR', 'USDT'];
const CURRENCY_KEY = 'sealgate.portfolio.currency';

function portfolioCurrency() {
  let c = null;
  try {
    c = localStorage.getItem(CURRENCY_KEY);
  } catch {
    c = null;
  }
  return CURRENCIES.includes(c) ? c : 'USD';
}

function setPortfolioCurrency() {
  const c = $('portfolio-currency').value;
  if (!CURRENCIES.includes(c)) return;
  try {
    localStorage.setItem(CURRENCY_KEY, c);
  } catch {
    // Storage refused (private mode): the choice holds for this page only.
  }
  clearTimeout(state.pollTimer);
  showPortfolio().catch((e) => showAlert(e.message));
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// An SVG element: presentation attributes only (the CSP forbids style attributes).
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) e.append(c);
  return e;
}

const PERIODS = { '24h': '24 h', '7d': '7 days', '30d': '30 days' };
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function minutesAgo(ms, now) {
  const min = Math.max(0, Math.round((now - ms) / 60000));
  if (min < 120) return `${min} min`;
  const h = Math.round(min / 60);
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} days`;
}

function renderTotal(v, busy) {
  const total = $('portfolio-total');
  total.dataset.value = v.total;
  total.dataset.currency = v.currency;
  total.dataset.complete = String(v.complete);
  // Holdings and not one priced: no total to show (a 0 would be a lie).
  const nothingPriced = v.missing > 0 && !v.assets.some((a) => a.value !== null);
  total.textContent = nothingPriced ? 'no price yet' : `${groupDigits(v.total)} ${v.currency}`;
  if (nothingPriced) total.dataset.value = '';
  for (const period of Object.keys(PERIODS)) {
    const li = $(`portfolio-change-${period}`);
    const c = v.changes.find((x) => x.period === period);
    li.replaceChildren();
    for (const k of ['absolute', 'percent', 'direction']) delete li.dataset[k];
    if (!c || c.absolute === null) {
      li.className = 'change unknown';
      li.append(el('span', { class: 'period', text: PERIODS[period] }), ' not known yet');
      continue;
    }
    const dir = signOf(c.absolute);
    const word = dir > 0 ? 'up' : dir < 0 ? 'down' : 'unchanged';
    li.className = `change ${dir > 0 ? 'up' : dir < 0 ? 'down' : 'flat'}`;
    li.dataset.absolute = c.absolute;
    if (c.percent !== null) li.dataset.percent = c.percent;
    li.dataset.direction = word;
    li.append(...[
      el('span', { class: 'period', text: PERIODS[period] }), ' ',
      el('span', { class: 'arrow', 'aria-hidden': 'true', text: dir > 0 ? '▲' : dir < 0 ? '▼' : '■' }),
      el('span', { class: 'sr-only', text: `${word} ` }),
      `${signed(c.absolute)} ${v.currency}`,
      c.percent !== null ? ` (${signed(c.percent)}%)` : '',
      c.complete ? null : el('span', { class: 'muted', text: ' (approximate: a total was incomplete)' }),
    ].filter((x) => x !== null));
  }
  const missing = $('portfolio-incomplete');
  missing.dataset.missing = String(v.missing);
  missing.hidden = v.missing === 0;
  missing.textContent = v.missing === 1
    ? '1 holding has no price and is not in the total.'
    : `${v.missing} holdings have no price and are not in the total.`;
  const stale = $('portfolio-stale');
  stale.dataset.stale = String(v.stale);
  stale.hidden = v.stale === 0;
  stale.textContent = v.stale === 1
    ? '1 holding was priced more than 15 minutes ago: its value may be out of date.'
    : `${v.stale} holdings were priced more than 15 minutes ago: their values may be out of date.`;
  $('portfolio-as-of').textContent = `Valued ${when(v.as_of_ms)} at the exchanges' public prices.${busy ? ' An import is running: the value updates as it goes.' : ''}`;
}

// The allocation donut: top 8 assets by value and "Other", with a legend.
function renderAllocation(v) {
  const box = $('allocation');
  box.replaceChildren();
  const valued = v.assets.filter((a) => a.value !== null && a.allocation_pct !== null && signOf(a.value) > 0);
  $('allocation-empty').hidden = valued.length > 0;
  if (valued.length === 0) return;
  const top = valued.length > 9 ? valued.slice(0, 8) : valued;
  const rest = valued.slice(top.length);
  const parts = top.map((a) => ({ label: a.asset, pct: a.allocation_pct, value: a.value }));
  if (rest.length) {
    parts.push({ label: 'Other', pct: fromHundredths(rest.reduce((s, a) => s + hundredths(a.allocation_pct), 0)), other: rest.length });
  }
  const summary = parts.map((p) => `${p.label} ${p.pct}%`).join(', ');
  const R = 15.91549430918954; // circumference 100: a slice's dash is its percent
  const chart = svg('svg', { id: 'allocation-chart', class: 'chart donut', viewBox: '0 0 42 42', role: 'img', 'aria-labelledby': 'allocation-chart-title' },
    svg('title', { id: 'allocation-chart-title', text: `Allocation by value: ${summary}` }),
    svg('circle', { class: 'ring', cx: '21', cy: '21', r: String(R), fill: 'none' }));
  let at = 0;
  parts.forEach((p, i) => {
    const pct = Math.max(0, hundredths(p.pct) / 100);
    chart.append(svg('circle', {
      class: `slice c${p.other ? 'other' : i}`, cx: '21', cy: '21', r: String(R), fill: 'none',
      'stroke-dasharray': `${pct} ${100 - pct}`, 'stroke-dashoffset': String(25 - at),
      'data-slice': p.label,
    }, svg('title', { text: `${p.label}: ${p.pct}%` })));
    at += pct;
  });
  const legend = el('ul', { id: 'allocation-legend', class: 'legend' }, parts.map((p, i) => el('li', { 'data-slice': p.label },
    el('span', { class: `swatch c${p.other ? 'other' : i}`, 'aria-hidden': 'true' }),
    el('span', { class: 'legend-label', text: p.other ? `Other (${plural(p.other, 'asset', 'assets')})` : p.label }),
    el('span', { class: 'legend-pct', text: `${p.pct}%` }))));
  box.append(el('div', { class: 'allocation' }, chart, legend));
}

// The value over time: one point per day, an area under the line; incomplete days hollow.
function renderHistory(v) {
  const box = $('value-over-time');
  box.replaceChildren();
  const h = v.history;
  $('value-chart-empty').hidden = h.length > 0;
  $('value-chart-note').hidden = !h.some((d) => !d.complete);
  if (h.length === 0) return;
  const W = 400;
  const H = 200;
  const left = 10;
  const right = W - 10;
  const top = 34;
  const bottom = H - 30;
  const t = h.map((d) => Date.parse(`${d.day}T00:00:00Z`));
  const y = h.map((d) => Number(d.total));
  let hi = 0;
  let lo = 0;
  y.forEach((val, i) => {
    if (val > y[hi]) hi = i;
    if (val < y[lo]) lo = i;
  });
  const span = y[hi] - y[lo];
  const tspan = t[t.length - 1] - t[0];
  const px = (i) => (tspan > 0 ? left + ((t[i] - t[0]) / tspan) * (right - left) : (left + right) / 2);
  const py = (i) => (span > 0 ? bottom - ((y[i] - y[lo]) / span) * (bottom - top) : (top + bottom) / 2);
  const money = (i) => `${groupDigits(h[i].total)} ${v.currency}`;
  const first = h[0].day;
  const last = h[h.length - 1].day;
  const label = h.length === 1
    ? `Value over time: one day, ${first}, ${money(0)}`
    : `Value over time from ${first} to ${last}: highest ${money(hi)} on ${h[hi].day}, lowest ${money(lo)} on ${h[lo].day}, last ${money(h.length - 1)}`;
  const chart = svg('svg', { id: 'value-chart', class: 'chart line-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'value-chart-svg-title', 'data-points': String(h.length) },
    svg('title', { id: 'value-chart-svg-title', text: label }));
  if (h.length > 1) {
    const line = h.map((_, i) => `${px(i).toFixed(2)},${py(i).toFixed(2)}`);
    chart.append(
      svg('path', { class: 'area', d: `M${px(0).toFixed(2)},${bottom} L${line.join(' L')} L${px(h.length - 1).toFixed(2)},${bottom} Z` }),
      svg('polyline', { class: 'line', points: line.join(' '), fill: 'none' }));
  }
  // Gridlines at the highest and the lowest total, with their exact values.
  const levels = span > 0 ? [[hi, 'max'], [lo, 'min']] : [[hi, 'max']];
  for (const [i, kind] of levels) {
    chart.append(
      svg('line', { class: 'grid', x1: String(left), x2: String(right), y1: String(py(i)), y2: String(py(i)) }),
      svg('text', { class: 'axis', x: String(left), y: String(py(i) - 5), 'data-axis': kind, text: span > 0 ? `${kind === 'max' ? 'high' : 'low'} ${money(i)}` : money(i) }));
  }
  h.forEach((d, i) => {
    chart.append(svg('circle', { class: d.complete ? 'point' : 'point incomplete', cx: px(i).toFixed(2), cy: py(i).toFixed(2), r: '4', 'data-day': d.day, 'data-complete': String(d.complete) },
      svg('title', { text: `${d.day}: ${money(i)}${d.complete ? '' : ' (a holding had no price)'}` })));
  });
  chart.append(svg('line', { class: 'baseline', x1: String(left), x2: String(right), y1: String(bottom + 6), y2: String(bottom + 6) }));
  if (h.length === 1) {
    chart.append(svg('text', { class: 'axis', x: String((left + right) / 2), y: String(H - 6), 'text-anchor': 'middle', 'data-axis': 'first', text: first }));
  } else {
    chart.append(
      svg('text', { class: 'axis', x: String(left), y: String(H - 6), 'data-axis': 'first', text: first }),
      svg('text', { class: 'axis', x: String(right), y: String(H - 6), 'text-anchor': 'end', 'data-axis': 'last', text: last }));
  }
  box.append(chart);
}

function statusBadge(a, now) {
  if (a.status === 'missing') return el('span', { class: 'badge status-missing', 'data-status': 'missing', text: 'no price' });
  if (a.status === 'stale') {
    const age = a.as_of_ms === null ? '' : `, ${minutesAgo(a.as_of_ms, now)} old`;
    return el('span', { class: 'badge status-stale', 'data-status': 'stale', title: 'Priced more than 15 minutes ago', text: `stale${age}` });
  }
  return el('span', { class: 'badge status-fresh', 'data-status': 'fresh', text: 'fresh' });
}

function renderGains(v) {
  const g = v.gains;
  const p = $('portfolio-gains');
  p.dataset.value = g.realised;
  const dir = signOf(g.realised);
  p.className = dir > 0 ? 'gain up' : dir < 0 ? 'gain down' : 'gain';
  p.replaceChildren(
    el('strong', { text: `${signed(g.realised)} ${v.currency}` }),
    el('span', { class: 'sr-only', text: dir > 0 ? ' (a gain)' : dir < 0 ? ' (a loss)' : '' }),
    ` realised over ${plural(g.sales, 'sale', 'sales')} (first in, first out; ${plural(g.trades, 'trade', 'trades')} read).`);
  const unknown = $('portfolio-gains-unknown');
  unknown.hidden = g.unknown_sales === 0;
  unknown.dataset.unknown = String(g.unknown_sales);
  unknown.textContent = `${plural(g.unknown_sales, 'sale', 'sales')} with unknown gain (no rate for the asset it was sold for, at the time): not in this sum.`;
  const approx = $('portfolio-gains-approx');
  approx.hidden = g.approximate_rates.length === 0;
  approx.textContent = `Approximate: today's rate of ${g.approximate_rates.join(', ')} stood in for its rate at the time of each trade (a stablecoin's rate moves by fractions of a percent).`;
  const unread = $('portfolio-gains-unread');
  unread.hidden = g.unread_trades === 0;
  unread.textContent = `${plural(g.unread_trades, 'trade', 'trades')} could not be read and are left out.`;
}

async function showPortfolio() {
  const currency = portfolioCurrency();
  const [p, creds] = await Promise.all([api('GET', `/v1/portfolio?currency=${encodeURIComponent(currency)}`), loadCredentials()]);
  if (!location.hash.startsWith('#/portfolio')) return;
  showScreen('portfolio');
  $('portfolio-currency').value = currency;
  for (const [id, file] of [['download-holdings', 'holdings'], ['download-gains', 'gains']]) {
    $(id).href = `/v1/portfolio/${file}.csv?currency=${encodeURIComponent(currency)}`;
  }
  const name = (id) => {
    const c = creds.find((x) => x.id === id);
    return c ? `${exchangeName(c.exchange)} …${c.hint}${c.label ? ` (${c.label})` : ''}` : id;
  };
  const imports = $('imports-body');
  imports.replaceChildren();
  let busy = false;
  for (const i of p.imports) {
    const running = i.state === 'queued' || i.state === 'running';
    busy ||= running;
    // A failed job, or one waiting to try again after a failure, says why and can be retried.
    const retryable = i.job_id !== null && (i.state === 'failed' || (i.state === 'queued' && i.reason));
    imports.append(
      el('tr', { 'data-credential': i.credential_id, 'data-state': i.state },
        el('td', { 'data-label': 'Credential' }, name(i.credential_id)),
        el('td', { 'data-label': 'State' }, running ? el('progress', { 'aria-label': `Import ${i.state}` }) : null, ` ${i.state}`,
          i.reason ? el('p', { class: 'reason', 'data-reason': '', text: i.reason }) : null),
        el('td', { 'data-label': 'Trades' }, String(i.trades)),
        el('td', { 'data-label': 'Last import' }, when(i.last_import_ms)),
        el('td', {}, retryable
          ? el('button', { type: 'button', class: 'small', 'data-retry': String(i.job_id), onclick: () => retryImport(i.job_id) }, 'Retry')
          : null),
      ),
    );
  }
  if (p.imports.length === 0) imports.append(el('tr', {}, el('td', { colspan: '5', text: 'No credential is sealed to the Importer.' })));

  const v = p.value || { currency, as_of_ms: Date.now(), total: '0', complete: true, missing: 0, stale: 0, assets: [], exchanges: [], changes: [], history: [], gains: { realised: '0', sales: 0, unknown_sales: 0, unread_trades: 0, trades: 0, approximate_rates: [] } };
  renderTotal(v, busy);
  renderAllocation(v);
  renderHistory(v);
  renderGains(v);

  // Holdings, largest value first (the valuation's order), unpriced ones after.
  const holdings = $('holdings-body');
  holdings.replaceChildren();
  $('portfolio-empty').hidden = p.assets.length > 0;
  const valueOf = new Map(v.assets.map((a) => [a.asset, a]));
  const order = [...v.assets.map((a) => a.asset), ...p.assets.map((a) => a.asset).filter((a) => !valueOf.has(a))];
  for (const asset of order) {
    const a = p.assets.find((x) => x.asset === asset);
    if (!a) continue;
    const val = valueOf.get(asset) || { status: 'missing', value: null, price: null, allocation_pct: null, route: null, as_of_ms: null, dust: false };
    holdings.append(
      el('tr', { 'data-asset': a.asset, 'data-status': val.status },
        el('th', { scope: 'row', 'data-label': 'Asset' }, a.asset),
        el('td', { 'data-label': 'Amount', class: 'num', 'data-total': a.total }, groupDigits(a.total)),
        el('td', { 'data-label': 'Price', class: 'num', 'data-price': val.price ?? '' },
          val.price === null ? el('span', { class: 'muted', text: 'no price' }) : `${groupDigits(val.price)} ${v.currency}`,
          val.route ? el('span', { class: 'route', text: val.route }) : null),
        el('td', { 'data-label': 'Value', class: 'num', 'data-value': val.value ?? '' },
          val.value === null ? el('span', { class: 'no-price', text: 'no price' }) : `${groupDigits(val.value)} ${v.currency}`),
        el('td', { 'data-label': 'Allocation', class: 'num', 'data-allocation': val.allocation_pct ?? '' }, val.allocation_pct === null ? '—' : `${val.allocation_pct}%`),
        el('td', { 'data-label': 'Price status' }, statusBadge(val, v.as_of_ms),
          val.dust ? el('span', { class: 'badge dust', title: 'Worth less than 0.01', text: 'dust' }) : null),
        el('td', { 'data-label': 'By exchange' },
          el('ul', { class: 'plain' }, a.by_exchange.map((b) => el('li', {}, `${name(b.credential_id)}: ${groupDigits(b.free)} free${signOf(b.locked) !== 0 ? `, ${groupDigits(b.locked)} locked` : ''}`)))),
      ),
    );
  }

  // Open positions (Deribit), below the holdings when there are any. Not in the total: a
  // Deribit holding is its currency's equity, which already holds their PnL.
  const positions = p.positions || [];
  $('positions-section').hidden = positions.length === 0;
  $('positions-body').replaceChildren(...positions.map((x) => {
    const pnl = signOf(x.floating_pnl);
    return el('tr', { 'data-credential': x.credential_id, 'data-instrument': x.instrument },
      el('td', { 'data-label': 'Exchange' }, name(x.credential_id)),
      el('th', { scope: 'row', 'data-label': 'Instrument' }, x.instrument),
      el('td', { 'data-label': 'Size', class: 'num', 'data-size': x.size },
        `${groupDigits(x.size)} ${sizeUnit(x)}`, signOf(x.size) < 0 ? el('span', { class: 'muted', text: ' short' }) : null),
      el('td', { 'data-label': 'Entry', class: 'num', 'data-price': x.average_price }, groupDigits(x.average_price)),
      el('td', { 'data-label': 'Mark', class: 'num', 'data-price': x.mark_price }, groupDigits(x.mark_price)),
      el('td', { 'data-label': 'Unrealised PnL', class: `num gain${pnl > 0 ? ' up' : pnl < 0 ? ' down' : ''}`, 'data-pnl': x.floating_pnl },
        `${signed(x.floating_pnl)} ${x.currency}`));
  }));

  const exchanges = $('exchanges-body');
  exchanges.replaceChildren(...v.exchanges.map((e) => {
    const left = [e.missing ? `${e.missing} without a price` : '', e.stale ? `${e.stale} priced more than 15 minutes ago` : ''].filter(Boolean).join('; ');
    return el('tr', { 'data-exchange': e.exchange },
      el('th', { scope: 'row', 'data-label': 'Exchange' }, exchangeName(e.exchange)),
      el('td', { 'data-label': 'Value', class: 'num', 'data-value': e.value }, `${groupDigits(e.value)} ${v.currency}`),
      el('td', { 'data-label': 'Share', class: 'num', 'data-allocation': e.allocation_pct ?? '' }, e.allocation_pct === null ? '—' : `${e.allocation_pct}%`),
      el('td', { 'data-label': 'Not in the value' }, left || 'nothing'));
  }));
  if (v.exchanges.length === 0) exchanges.append(el('tr', {}, el('td', { colspan: '4', text: 'Nothing imported yet.' })));
  if (busy) state.pollTimer = setTimeout(() => showPortfolio().catch((e) => showAlert(e.message)), 1000);
}

// A Deribit position's size unit: USD on an inverse perpetual or future (BTC-PERPETUAL),
// the base coin on options and linear instruments (BTC_USDC-PERPETUAL).
function sizeUnit(x) {
  const base = x.instrument.split(/[-_]/)[0];
  return x.kind === 'future' && !x.instrument.includes('_') ? 'USD' : base;
}

async function retryImport(id) {
  try {
    await api('POST', `/v1/imports/${encodeURIComponent(id)}/retry`);
    showAlert('Import queued again: it continues from where it stopped.');
  } catch (e) {
    showAlert(e.message);
  }
  clearTimeout(state.pollTimer);
  await showPortfolio();
}

// --- trade ---------------------------------------------------------------------------

async function showTrade() {
  const creds = await loadCredentials();
  showScreen('trade');
  const traders = creds.filter((c) => roleNames(c).includes('trader') && c.status === 'active');
  $('trade-none').hidden = traders.length > 0;
  $('order-form').hidden = traders.length === 0;
  const sel = $('order-credential');
  const previous = sel.value;
  sel.replaceChildren(...traders.map((c) => el('option', { value: c.id }, `${exchangeName(c.exchange)} …${c.hint}${c.label ? ` (${c.label})` : ''}`)));
  if (traders.some((c) => c.id === previous)) sel.value = previous;
  if (!$('order-symbol').value) setDefaultSymbol();
  await renderOrders(creds);
}

function setDefaultSymbol() {
  const c = state.credentials.find((x) => x.id === $('order-credential').value);
  const ex = c && EXCHANGES.find((e) => e.id === c.exchange);
  $('order-symbol').value = ex ? ex.symbol : '';
}

async function renderOrders(creds) {
  const { orders } = await api('GET', '/v1/orders?limit=50');
  const body = $('orders-body');
  body.replaceChildren();
  for (const o of orders) {
    const c = creds.find((x) => x.id === o.credential_id);
    body.append(
      el('tr', { 'data-order': o.id, 'data-status': o.status },
        el('td', { 'data-label': 'Time' }, when(o.created_ms)),
        el('td', { 'data-label': 'Symbol' }, `${o.symbol}${c ? ` · ${exchangeName(c.exchange)}` : ''}`),
        el('td', { 'data-label': 'Side' }, o.side),
        el('td', { 'data-label': 'Quantity', class: 'num' }, o.qty),
        el('td', { 'data-label': 'Price', class: 'num' }, o.price || 'market'),
        el('td', { 'data-label': 'Status' }, el('span', { class: `badge ${o.status}`, text: o.status }),
          o.reason ? el('p', { class: 'reason', 'data-reason': '', text: o.reason }) : null),
        el('td', {}, DONE_STATES.includes(o.status) ? null
          : el('button', { type: 'button', class: 'small', 'data-cancel': o.id, onclick: () => cancelOrder(o.id) }, 'Cancel')),
      ),
    );
  }
  if (orders.length === 0) body.append(el('tr', {}, el('td', { colspan: '7', text: 'No orders yet.' })));
}

async function submitOrder(ev) {
  ev.preventDefault();
  showError('order-error', '');
  const type = $('order-type').value;
  const body = {
    credential_id: $('order-credential').value,
    symbol: $('order-symbol').value.trim(),
    side: $('order-side').value,
    order_type: type,
    qty: $('order-qty').value.trim(),
    price: type === 'limit' ? $('order-price').value.trim() : null,
  };
  if (!body.symbol || !body.qty || (type === 'limit' && !body.price)) {
    return showError('order-error', type === 'limit' ? 'Fill in the symbol, quantity and limit price.' : 'Fill in the symbol and quantity.');
  }
  $('order-submit').disabled = true;
  try {
    const o = await api('POST', '/v1/orders', body);
    say(`Order placed: ${o.side} ${o.qty} ${o.symbol}, ${o.status}.`);
    await renderOrders(state.credentials);
  } catch (e) {
    showError('order-error', e.message);
  } finally {
    $('order-submit').disabled = false;
  }
}

async function cancelOrder(id) {
  try {
    const o = await api('DELETE', `/v1/orders/${encodeURIComponent(id)}`);
    say(`Order ${o.status}.`);
  } catch (e) {
    showAlert(e.message);
  }
  await renderOrders(state.credentials);
}

// --- notifications -------------------------------------------------------------------

async function showNotifications() {
  const [settings, hooks] = await Promise.all([
    api('GET', '/v1/notifications/settings'),
    api('GET', '/v1/notifications/webhooks'),
  ]);
  showScreen('notifications');
  $('notify-email').textContent = settings.email || 'none';
  $('notify-source').textContent = settings.email_source === 'oidc'
    ? '(verified by your identity provider)'
    : settings.email_source === 'confirmed' ? '(confirmed)' : '';
  $('notify-refusals').checked = settings.notify_refusals;
  $('webhook-list').replaceChildren(...hooks.webhooks.map((h) => el('li', { 'data-id': h.id },
    el('code', { text: h.url }), ' ',
    el('button', { type: 'button', class: 'link', onclick: () => deleteWebhook(h.id) }, 'Remove'))));
}

async function submitNotifyEmail(ev) {
  ev.preventDefault();
  showError('notify-email-error', '');
  const email = $('notify-email-input').value.trim();
  try {
    await api('POST', '/v1/notifications/email', { email });
    say(`A confirmation link is on its way to ${email}. Open it to start receiving notifications there.`);
  } catch (e) {
    showError('notify-email-error', e.message);
  }
}

async function setNotifyRefusals() {
  try {
    await api('PUT', '/v1/notifications/settings', { notify_refusals: $('notify-refusals').checked });
    say($('notify-refusals').checked ? 'Refusals will be notified.' : 'Refusals will not be notified.');
  } catch (e) {
    showAlert(e.message);
  }
}

async function submitWebhook(ev) {
  ev.preventDefault();
  showError('webhook-error', '');
  $('webhook-secret').hidden = true;
  try {
    const h = await api('POST', '/v1/notifications/webhooks', { url: $('webhook-url').value.trim() });
    await showNotifications();
    $('webhook-secret-value').textContent = h.secret;
    $('webhook-secret').hidden = false;
  } catch (e) {
    showError('webhook-error', e.message);
  }
}

async function deleteWebhook(id) {
  try {
    await api('DELETE', `/v1/notifications/webhooks/${encodeURIComponent(id)}`);
    $('webhook-secret').hidden = true;
    await showNotifications();
  } catch (e) {
    showAlert(e.message);
  }
}

// --- passkeys ------------------------------------------------------------------------

// WebAuthn options and credentials cross the wire as JSON with binary members in base64url.
function fromB64url(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function toB64url(buf) {
  const bytes = new Uint8Array(buf);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function creationOptions(options) {
  const pk = { ...options.publicKey };
  pk.challenge = fromB64url(pk.challenge);
  pk.user = { ...pk.user, id: fromB64url(pk.user.id) };
  pk.excludeCredentials = (pk.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
  return { publicKey: pk };
}

function requestOptions(options) {
  const pk = { ...options.publicKey };
  pk.challenge = fromB64url(pk.challenge);
  pk.allowCredentials = (pk.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
  return { publicKey: pk };
}

function credentialJson(cred) {
  const r = cred.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) response.attestationObject = toB64url(r.attestationObject);
  if (r.authenticatorData) response.authenticatorData = toB64url(r.authenticatorData);
  if (r.signature) response.signature = toB64url(r.signature);
  if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  return { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response, extensions: cred.getClientExtensionResults() };
}

// One of the user's passkeys approves (a step-up): the browser asks for it.
async function approve(options) {
  say('Approve with one of your passkeys…');
  const cred = await navigator.credentials.get(requestOptions(options));
  return credentialJson(cred);
}

async function showPasskeys() {
  const { passkeys } = await api('GET', '/v1/passkeys');
  showScreen('passkeys');
  $('passkey-none').hidden = passkeys.length > 0;
  $('passkey-list').replaceChildren(...passkeys.map((p) => el('li', { 'data-id': p.id, 'data-thumbprint': p.thumbprint },
    el('strong', { text: p.name }), ' ',
    el('span', { class: 'muted', text: `added ${when(p.created_ms)}, last used ${when(p.last_used_ms)}` }), ' ',
    passkeys.length > 1
      ? el('button', { type: 'button', class: 'link', onclick: () => removePasskey(p) }, 'Remove')
      : null)));
}

async function submitPasskey(ev) {
  ev.preventDefault();
  showError('passkey-error', '');
  const button = $('passkey-submit');
  button.disabled = true;
  try {
    if (!window.PublicKeyCredential) throw new Error('This browser does not support passkeys.');
    const start = await api('POST', '/v1/passkeys/register/start', { name: $('passkey-name').value.trim() });
    say('Create the passkey on your device…');
    const created = await navigator.credentials.create(creationOptions(start.creation));
    const body = { ceremony: start.ceremony, credential: credentialJson(created) };
    if (start.step_up) body.step_up = await approve(start.step_up);
    const p = await api('POST', '/v1/passkeys/register/finish', body);
    $('passkey-name').value = '';
    await showPasskeys();
    say(`Passkey "${p.name}" added. Credentials you seal from now on name it.`);
  } catch (e) {
    showError('passkey-error', e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out.' : e.message);
    say('');
  } finally {
    button.disabled = false;
  }
}

async function removePasskey(p) {
  const ok = await confirmDialog('Remove this passkey?', `"${p.name}" will no longer name you as the owner of credentials sealed from now on. Another of your passkeys must approve.`, 'Remove');
  if (!ok) return;
  try {
    const path = `/v1/passkeys/${encodeURIComponent(p.id)}/remove`;
    const start = await api('POST', `${path}/start`);
    const step_up = await approve(start.step_up);
    await api('POST', path, { ceremony: start.ceremony, step_up });
    await showPasskeys();
    say(`Passkey "${p.name}" removed.`);
  } catch (e) {
    showAlert(e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out.' : e.message);
    say('');
  }
}

// --- start ---------------------------------------------------------------------------

function start() {
  $('exchange').replaceChildren(...EXCHANGES.map((e) => el('option', { value: e.id }, e.name)));
  renderSecretFields();
  renderKeyMode();
  $('exchange').addEventListener('change', () => {
    renderSecretFields();
    renderKeyMode();
  });
  for (const r of document.querySelectorAll('input[name="key-mode"]')) r.addEventListener('change', renderKeyMode);
  $('add-form').addEventListener('submit', submitCredential);
  $('custody-activate-form').addEventListener('submit', activateCustodyKey);
  $('custody-copy').addEventListener('click', copyCustodyPem);
  $('custody-discard').addEventListener('click', discardCustodyKey);
  $('order-form').addEventListener('submit', submitOrder);
  $('order-credential').addEventListener('change', setDefaultSymbol);
  $('order-type').addEventListener('change', () => {
    $('order-price-field').hidden = $('order-type').value !== 'limit';
  });
  $('delete-credential').addEventListener('click', deleteCredential);
  $('status-toggle').addEventListener('click', toggleStatus);
  $('lockdown').addEventListener('click', lockdown);
  $('notify-email-form').addEventListener('submit', submitNotifyEmail);
  $('notify-refusals').addEventListener('change', setNotifyRefusals);
  $('webhook-form').addEventListener('submit', submitWebhook);
  $('passkey-form').addEventListener('submit', submitPasskey);
  $('portfolio-currency').addEventListener('change', setPortfolioCurrency);
  $('logout').addEventListener('click', async () => {
    try {
      await api('POST', '/v1/logout');
    } finally {
      state.me = null;
      showScreen('signin');
    }
  });
  window.addEventListener('hashchange', () => {
    route();
    $('main').focus({ preventScroll: true });
  });
  // A sign-in link lands on `/`: drop any query so a reload does not re-submit anything.
  if (location.search) history.replaceState(null, '', location.pathname + location.hash);
  route();
}

if (seal) {
  start();
} else {
  showAlert('The sealing code of this page did not load (it failed its integrity check or was blocked). Nothing can be sealed: reload, or tell your operator.');
}
