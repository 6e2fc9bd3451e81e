#!/usr/bin/env node
// Interop peer for Sealgate's JWE, built on panva `jose` (pinned in
// package-lock.json). It is deliberately independent of our Rust code: keys,
// encryption and decryption here are done by `jose` alone.
//
// Commands (same set as jwcrypto_peer.py):
//   gen-keys DIR [--rsa-bits N] [--ec-alg ALG] [--rsa-alg ALG]
//       Writes NAME.private.jwk.json and NAME.public.jwk.json into DIR for
//       NAME in p256, p384, p521, x25519 (alg ECDH-ES+A256KW, or --ec-alg) and
//       rsa (alg RSA-OAEP-256, or --rsa-alg); the JWKs carry that "alg".
//       kid = "jose-NAME". Prints the names, one a line.
//   encrypt-general DIR [--enc ENC] [--protected JSON]
//       Reads plaintext on stdin; prints ONE general JSON JWE with every
//       DIR/*.public.jwk.json as a recipient (per-recipient unprotected
//       header {alg, kid}; shared protected {enc, ...JSON}).
//   encrypt-flattened KEYFILE [--enc ENC] [--alg ALG] [--protected JSON]
//   encrypt-compact   KEYFILE [--enc ENC] [--alg ALG] [--protected JSON]
//       Same for one public JWK. Flattened puts {alg, kid} in the unprotected
//       header; compact puts everything in the protected header.
//   decrypt KEYFILE [--header-out FILE]
//       Reads a JWE (compact, flattened or general JSON) on stdin, writes the
//       plaintext bytes on stdout. With --header-out, writes the protected
//       header (JSON) to FILE. Exit 1 with a message on stderr on failure.
// Defaults: --enc A256GCM; alg ECDH-ES+A256KW for EC/OKP keys, RSA-OAEP-256
// for RSA keys (or the key's own "alg" member).

import { readFileSync, writeFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';

const PEER = 'jose';
const KEY_SPECS = [
  { name: 'p256', alg: 'ECDH-ES+A256KW', opts: { crv: 'P-256' } },
  { name: 'p384', alg: 'ECDH-ES+A256KW', opts: { crv: 'P-384' } },
  { name: 'p521', alg: 'ECDH-ES+A256KW', opts: { crv: 'P-521' } },
  { name: 'x25519', alg: 'ECDH-ES+A256KW', opts: { crv: 'X25519' } },
  { name: 'rsa', alg: 'RSA-OAEP-256', opts: {} },
];

function die(msg, code = 2) {
  process.stderr.write(`${PEER}_peer: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const pos = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      if (i + 1 >= argv.length) die(`flag ${a} needs a value`);
      flags[a.slice(2)] = argv[++i];
    } else {
      pos.push(a);
    }
  }
  return { pos, flags };
}

function readStdin() {
  return readFileSync(0);
}

function readJwk(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function defaultAlg(jwk) {
  if (jwk.alg) return jwk.alg;
  return jwk.kty === 'RSA' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW';
}

function extraProtected(flags) {
  if (!flags.protected) return {};
  const h = JSON.parse(flags.protected);
  if (h === null || typeof h !== 'object' || Array.isArray(h)) die('--protected must be a JSON object');
  return h;
}

function publicKeyFiles(dir) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.public.jwk.json')).sort();
  if (files.length === 0) die(`no *.public.jwk.json in ${dir}`);
  return files.map((f) => join(dir, f));
}

async function genKeys(dir, flags) {
  mkdirSync(dir, { recursive: true });
  const rsaBits = Number(flags['rsa-bits'] ?? 2048);
  for (const spec of KEY_SPECS) {
    const opts = { ...spec.opts, extractable: true };
    if (spec.name === 'rsa') opts.modulusLength = rsaBits;
    const alg = (spec.name === 'rsa' ? flags['rsa-alg'] : flags['ec-alg']) ?? spec.alg;
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, opts);
    const meta = { kid: `${PEER}-${spec.name}`, use: 'enc', alg };
    const priv = { ...(await jose.exportJWK(privateKey)), ...meta };
    const pub = { ...(await jose.exportJWK(publicKey)), ...meta };
    if ('d' in pub) die('public JWK export contained a private member');
    writeFileSync(join(dir, `${spec.name}.private.jwk.json`), JSON.stringify(priv) + '\n', { mode: 0o600 });
    writeFileSync(join(dir, `${spec.name}.public.jwk.json`), JSON.stringify(pub) + '\n');
    process.stdout.write(`${spec.name}\n`);
  }
}

async function encryptGeneral(dir, flags) {
  const enc = flags.enc ?? 'A256GCM';
  const plaintext = readStdin();
  const builder = new jose.GeneralEncrypt(plaintext).setProtectedHeader({ ...extraProtected(flags), enc });
  for (const file of publicKeyFiles(dir)) {
    const jwk = readJwk(file);
    const alg = defaultAlg(jwk);
    const key = await jose.importJWK(jwk, alg);
    builder.addRecipient(key).setUnprotectedHeader({ alg, kid: jwk.kid });
  }
  const jwe = await builder.encrypt();
  process.stdout.write(JSON.stringify(jwe) + '\n');
}

async function encryptOne(file, flags, compact) {
  const enc = flags.enc ?? 'A256GCM';
  const jwk = readJwk(file);
  const alg = flags.alg ?? defaultAlg(jwk);
  const key = await jose.importJWK(jwk, alg);
  const plaintext = readStdin();
  if (compact) {
    const jwe = await new jose.CompactEncrypt(plaintext)
      .setProtectedHeader({ ...extraProtected(flags), alg, enc, kid: jwk.kid })
      .encrypt(key);
    process.stdout.write(jwe + '\n');
  } else {
    const jwe = await new jose.FlattenedEncrypt(plaintext)
      .setProtectedHeader({ ...extraProtected(flags), enc })
      .setUnprotectedHeader({ alg, kid: jwk.kid })
      .encrypt(key);
    process.stdout.write(JSON.stringify(jwe) + '\n');
  }
}

async function decrypt(file, flags) {
  const jwk = readJwk(file);
  const input = readStdin().toString('utf8').trim();
  // Import the private key for the alg the JWE (or its recipient) names: an
  // RSA key imported for RSA-OAEP-256 cannot open RSA-OAEP and vice versa.
  const { alg: _ignored, ...bare } = jwk;
  // jose hands getKey the protected header and the (per-recipient flattened)
  // JWE; the joined JOSE header is protected + shared unprotected + recipient.
  const getKey = async (protectedHeader, token) => {
    const header = { ...(token?.unprotected ?? {}), ...(token?.header ?? {}), ...(protectedHeader ?? {}) };
    if (header.kid !== undefined && jwk.kid !== undefined && header.kid !== jwk.kid) {
      throw new Error(`recipient kid ${header.kid} is not ours (${jwk.kid})`);
    }
    return jose.importJWK(bare, header.alg);
  };
  // Accept exactly the algorithms the Sealgate contract speaks for the key type.
  const keyManagementAlgorithms =
    jwk.kty === 'RSA'
      ? ['RSA-OAEP', 'RSA-OAEP-256']
      : ['ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];
  const options = { keyManagementAlgorithms };
  let result;
  if (input.startsWith('{')) {
    const obj = JSON.parse(input);
    if (Array.isArray(obj.recipients)) {
      result = await jose.generalDecrypt(obj, getKey, options);
    } else {
      result = await jose.flattenedDecrypt(obj, getKey, options);
    }
  } else {
    result = await jose.compactDecrypt(input, getKey, options);
  }
  if (flags['header-out']) {
    writeFileSync(flags['header-out'], JSON.stringify(result.protectedHeader ?? {}) + '\n');
  }
  process.stdout.write(Buffer.from(result.plaintext));
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  const { pos, flags } = parseArgs(rest);
  if (pos.length !== 1) die(`usage: ${PEER}_peer.mjs gen-keys|encrypt-general|encrypt-flattened|encrypt-compact|decrypt ARG [flags]`);
  switch (cmd) {
    case 'gen-keys':
      return genKeys(pos[0], flags);
    case 'encrypt-general':
      return encryptGeneral(pos[0], flags);
    case 'encrypt-flattened':
      return encryptOne(pos[0], flags, false);
    case 'encrypt-compact':
      return encryptOne(pos[0], flags, true);
    case 'decrypt':
      return decrypt(pos[0], flags);
    default:
      die(`unknown command ${cmd}`);
  }
}

main().catch((err) => {
  process.stderr.write(`${PEER}_peer: ${err?.code ?? 'ERROR'}: ${err?.message ?? err}\n`);
  process.exit(1);
});
