// Sealgate web client: the cryptography. WebCrypto only, no dependencies.
//
// - verifyKeyset: the signed recipient key set (compact JWS, ES256, root JWK in the
//   header) is accepted only if the root's RFC 7638 thumbprint equals the pin, the
//   signature verifies with that root, and it has not expired.
// - sealCredential: one compact JWE per role, credential envelope v1 (PROFILE.md C1-C6):
//   ECDH-ES+A256KW (P-256, P-384, or X25519 where the browser has it) or RSA-OAEP-256
//   (2048-4096-bit keys, as OpenBao Transit holds them) + A256GCM,
//   Concat KDF per RFC 7518 §4.6.2 with empty apu/apv (profile rule E3), protected
//   header typ, kid, sub, cid, exch, aud, scope, iat, hint (rule C2), and `own` (rule C8)
//   when the caller names the owner's authority keys.

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export const KEYSET_TYP = 'sealgate-keyset+jws';
export const CREDENTIAL_TYP = 'sealgate-credential+jwe';
const MAX_KEYSET = 256 * 1024;
const MAX_SKEW_SECS = 300;

/** Why a key set was refused: `reason` is a sentence for the user. */
export class KeysetError extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'KeysetError';
    this.reason = reason;
  }
}

export function b64uEncode(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  }
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function b64uDecode(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new Error('not base64url');
  }
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function jsonPart(part, what) {
  let v;
  try {
    v = JSON.parse(dec.decode(b64uDecode(part)));
  } catch {
    throw new KeysetError(`the key set's ${what} is not base64url JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new KeysetError(`the key set's ${what} is not a JSON object`);
  }
  return v;
}

/** RFC 7638 thumbprint (SHA-256, base64url) of a public JWK. */
export async function thumbprint(jwk) {
  const members = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] }[jwk && jwk.kty];
  if (!members) throw new KeysetError('the root key has no RFC 7638 thumbprint');
  const canon = {};
  for (const m of members) {
    if (typeof jwk[m] !== 'string') throw new KeysetError('the root key has no RFC 7638 thumbprint');
    canon[m] = jwk[m];
  }
  // Members in lexicographic order, no whitespace (JSON.stringify keeps insertion order).
  return b64uEncode(await subtle.digest('SHA-256', enc.encode(JSON.stringify(canon))));
}

/**
 * Verify a signed recipient key set against the pinned root thumbprint at `now` (Unix
 * seconds). Returns `{ keys: [{ role, jwk }], iat, exp }`; throws KeysetError saying why.
 */
export async function verifyKeyset(jws, pin, now) {
  if (typeof pin !== 'string' || pin.length < 20) {
    throw new KeysetError('this page has no pinned root key, so it cannot check the key set');
  }
  if (typeof jws !== 'string' || jws.length > MAX_KEYSET) throw new KeysetError('the key set is missing or too large');
  const parts = jws.trim().split('.');
  if (parts.length !== 3) throw new KeysetError('the key set is not a compact JWS');
  const [h, p, s] = parts;
  const header = jsonPart(h, 'header');
  if (header.alg !== 'ES256') throw new KeysetError('the key set is not signed with ES256');
  if (header.typ !== KEYSET_TYP) throw new KeysetError(`the key set's typ is not ${KEYSET_TYP}`);
  if ('crit' in header) throw new KeysetError('the key set has a crit header this page does not understand');
  const root = header.jwk;
  if (!root || typeof root !== 'object') throw new KeysetError('the key set names no signing key');
  if ((await thumbprint(root)) !== pin) {
    throw new KeysetError('the key set is signed by an unknown root key, not the pinned root');
  }
  if (root.kty !== 'EC' || root.crv !== 'P-256' || 'd' in root) {
    throw new KeysetError('the root key is not an EC P-256 public key');
  }
  let verifier;
  try {
    verifier = await subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: root.x, y: root.y }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  } catch {
    throw new KeysetError('the root key is not a valid P-256 point');
  }
  let sig;
  try {
    sig = b64uDecode(s);
  } catch {
    throw new KeysetError('the key set signature is not base64url');
  }
  // JWS ES256 signatures are r || s (64 bytes), the format WebCrypto verifies.
  const ok = sig.length === 64 && (await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, verifier, sig, enc.encode(`${h}.${p}`)));
  if (!ok) throw new KeysetError('the key set signature does not verify: it was altered');
  const payload = jsonPart(p, 'payload');
  if (!Number.isSafeInteger(payload.exp) || !Number.isSafeInteger(payload.iat)) {
    throw new KeysetError('the key set has no valid iat/exp');
  }
  if (now >= payload.exp) {
    throw new KeysetError(`the key set expired at ${new Date(payload.exp * 1000).toISOString()}`);
  }
  if (payload.iat > now + MAX_SKEW_SECS) throw new KeysetError('the key set is issued in the future (check your clock)');
  if (!Array.isArray(payload.keys)) throw new KeysetError('the key set has no keys');
  const keys = payload.keys.map((k) => {
    if (!k || typeof k !== 'object' || typeof k.role !== 'string' || typeof k.kid !== 'string' || 'd' in k) {
      throw new KeysetError('the key set holds a malformed key');
    }
    const { role, ...jwk } = k;
    return { role, jwk };
  });
  return { keys, iat: payload.iat, exp: payload.exp };
}

/** The key of `role` this page can seal to (the last listed), or throws. */
export function keyForRole(keys, role) {
  const usable = keys.filter((k) => k.role === role && curveOf(k.jwk));
  if (usable.length === 0) {
    const any = keys.some((k) => k.role === role);
    throw new KeysetError(any ? `the ${role} key is of a kind this page cannot seal to` : `the key set has no key for the ${role} role`);
  }
  return usable[usable.length - 1].jwk;
}

function curveOf(jwk) {
  if (jwk.use && jwk.use !== 'enc') return null;
  if (jwk.kty === 'RSA') {
    // RSA keys only for RSA-OAEP-256 (never SHA-1 OAEP or RSA1_5), 2048-4096 bits.
    if (jwk.alg !== 'RSA-OAEP-256' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return null;
    const bits = (jwk.n.length * 6) & ~7;
    if (bits < 2048 || bits > 4096 + 8) return null;
    return { name: 'RSA-OAEP', coords: ['n', 'e'] };
  }
  if (jwk.alg && jwk.alg !== 'ECDH-ES+A256KW') return null;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return { name: 'ECDH', namedCurve: 'P-256', bits: 256, coords: ['x', 'y'] };
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return { name: 'ECDH', namedCurve: 'P-384', bits: 384, coords: ['x', 'y'] };
  if (jwk.kty === 'OKP' && jwk.crv === 'X25519') return { name: 'X25519', bits: 256, coords: ['x'] };
  return null;
}

/** Concat KDF (RFC 7518 §4.6.2, one SHA-256 round: 256-bit output), apu/apv empty. */
async function concatKdf(z, algId) {
  const alg = enc.encode(algId);
  const buf = new Uint8Array(4 + z.length + 4 + alg.length + 4 + 4 + 4);
  const view = new DataView(buf.buffer);
  let o = 0;
  view.setUint32(o, 1); o += 4;
  buf.set(z, o); o += z.length;
  view.setUint32(o, alg.length); o += 4;
  buf.set(alg, o); o += alg.length;
  view.setUint32(o, 0); o += 4; // PartyUInfo: empty
  view.setUint32(o, 0); o += 4; // PartyVInfo: empty
  view.setUint32(o, 256); // SuppPubInfo: keydatalen in bits
  const out = new Uint8Array(await subtle.digest('SHA-256', buf));
  buf.fill(0);
  return out;
}

/**
 * Seal `fields` (an object of the exchange's credential fields) to the recipient `jwk`.
 * `binding` = { sub, cid, exch, aud, scope: [..], iat, own? }. Returns the compact JWE.
 * The hint is the last 4 characters of api_key (else key_name), as rule C6 requires.
 * `own`, optional: the RFC 7638 thumbprints of the owner's passkey public keys (rule C8),
 * 1 to 10 distinct, sealed sorted.
 */
export async function sealCredential(jwk, binding, fields) {
  const own = ownerKeys(binding.own);
  const curve = curveOf(jwk);
  if (!curve) throw new KeysetError('the recipient key is of a kind this page cannot seal to');
  const keyId = fields.api_key || fields.key_name || '';
  if ([...keyId].length < 8) throw new Error('the API key must be at least 8 characters long');
  const hint = [...keyId].slice(-4).join('');
  const cek = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
  const header = { alg: curve.name === 'RSA-OAEP' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW', enc: 'A256GCM' };
  let wrapped;
  if (curve.name === 'RSA-OAEP') {
    // RFC 7518 §4.3: RSAES-OAEP with SHA-256 and MGF1-SHA-256 wraps the CEK directly.
    const rsa = await subtle.importKey('jwk', { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RSA-OAEP-256', ext: true },
      { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['wrapKey']);
    wrapped = new Uint8Array(await subtle.wrapKey('raw', cek, rsa, { name: 'RSA-OAEP' }));
  } else {
    wrapped = await ecdhWrap(jwk, curve, cek, header);
  }
  Object.assign(header, {
    typ: CREDENTIAL_TYP,
    kid: jwk.kid,
    sub: binding.sub,
    cid: binding.cid,
    exch: binding.exch,
    aud: binding.aud,
    scope: binding.scope,
    iat: binding.iat,
    hint,
  });
  if (own) header.own = own;
  const protectedB64 = b64uEncode(enc.encode(JSON.stringify(header)));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  // JS strings cannot be wiped; the byte copy of the plaintext at least is.
  const plaintext = enc.encode(JSON.stringify(fields));
  let sealed;
  try {
    sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(protectedB64), tagLength: 128 }, cek, plaintext));
  } finally {
    plaintext.fill(0);
  }
  const ct = sealed.subarray(0, sealed.length - 16);
  const tag = sealed.subarray(sealed.length - 16);
  return [protectedB64, b64uEncode(wrapped), b64uEncode(iv), b64uEncode(ct), b64uEncode(tag)].join('.');
}

/** Rule C8: absent, or 1-10 distinct SHA-256 thumbprints in base64url, sorted by byte. */
function ownerKeys(own) {
  if (own === undefined || own === null) return null;
  const ok = Array.isArray(own) && own.length >= 1 && own.length <= 10
    && own.every((t) => typeof t === 'string' && /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(t))
    && new Set(own).size === own.length;
  if (!ok) throw new Error('own must list 1 to 10 distinct RFC 7638 SHA-256 thumbprints');
  // ASCII only: the default sort is byte order.
  return [...own].sort();
}

/** ECDH-ES+A256KW: wraps `cek` under a KEK agreed with `jwk`; sets `epk` in `header`. */
async function ecdhWrap(jwk, curve, cek, header) {
  const algo = curve.name === 'ECDH' ? { name: 'ECDH', namedCurve: curve.namedCurve } : { name: 'X25519' };
  const pub = {};
  for (const m of ['kty', 'crv', ...curve.coords]) pub[m] = jwk[m];
  const recipient = await subtle.importKey('jwk', pub, algo, false, []);
  const eph = await subtle.generateKey(algo, true, ['deriveBits']);
  const epkFull = await subtle.exportKey('jwk', eph.publicKey);
  const epk = {};
  for (const m of ['kty', 'crv', ...curve.coords]) epk[m] = epkFull[m];
  const z = new Uint8Array(await subtle.deriveBits({ name: algo.name, public: recipient }, eph.privateKey, curve.bits));
  const kekBytes = await concatKdf(z, 'ECDH-ES+A256KW');
  z.fill(0);
  const kek = await subtle.importKey('raw', kekBytes, 'AES-KW', false, ['wrapKey']);
  kekBytes.fill(0);
  header.epk = epk;
  return new Uint8Array(await subtle.wrapKey('raw', cek, kek, 'AES-KW'));
}

/** Whether this browser can do X25519 key agreement. */
export async function hasX25519() {
  try {
    await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
    return true;
  } catch {
    return false;
  }
}

// app.js reads these from here rather than importing the module: an imported module is
// fetched without the Subresource Integrity check its <script> tag gets.
Object.defineProperty(globalThis, 'sealgateSeal', {
  value: Object.freeze({ KeysetError, keyForRole, sealCredential, verifyKeyset, thumbprint, hasX25519 }),
  writable: false,
  configurable: false,
});
