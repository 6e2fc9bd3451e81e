#!/usr/bin/env python3
"""Interop peer for Sealgate's JWE, built on `jwcrypto` (pinned in
requirements.txt). Independent of our Rust code: keys, encryption and
decryption here are done by jwcrypto (on pyca/cryptography) alone.

Commands (same set as jose_peer.mjs):
  gen-keys DIR [--rsa-bits N] [--ec-alg ALG] [--rsa-alg ALG]
      Writes NAME.private.jwk.json and NAME.public.jwk.json into DIR for NAME
      in p256, p384, p521, x25519 (alg ECDH-ES+A256KW, or --ec-alg) and rsa
      (alg RSA-OAEP-256, or --rsa-alg); the JWKs carry that "alg".
      kid = "jwcrypto-NAME". Prints the names, one a line.
  encrypt-general DIR [--enc ENC] [--protected JSON]
      Reads plaintext on stdin; prints ONE general JSON JWE with every
      DIR/*.public.jwk.json as a recipient (per-recipient unprotected header
      {alg, kid}; shared protected {enc, ...JSON}).
  encrypt-flattened KEYFILE [--enc ENC] [--alg ALG] [--protected JSON]
  encrypt-compact   KEYFILE [--enc ENC] [--alg ALG] [--protected JSON]
      Same for one public JWK. Flattened puts {alg, kid} in the unprotected
      header; compact puts everything in the protected header.
  decrypt KEYFILE [--header-out FILE]
      Reads a JWE (compact, flattened or general JSON) on stdin, writes the
      plaintext bytes on stdout. With --header-out, writes the protected header
      (JSON) to FILE. Exit 1 with a message on stderr on failure.
Defaults: --enc A256GCM; alg ECDH-ES+A256KW for EC/OKP keys, RSA-OAEP-256 for
RSA keys (or the key's own "alg" member).
"""

import json
import os
import sys

from jwcrypto import jwk as jwk_mod
from jwcrypto import jwe as jwe_mod

PEER = "jwcrypto"
KEY_SPECS = [
    ("p256", "ECDH-ES+A256KW", {"kty": "EC", "crv": "P-256"}),
    ("p384", "ECDH-ES+A256KW", {"kty": "EC", "crv": "P-384"}),
    ("p521", "ECDH-ES+A256KW", {"kty": "EC", "crv": "P-521"}),
    ("x25519", "ECDH-ES+A256KW", {"kty": "OKP", "crv": "X25519"}),
    ("rsa", "RSA-OAEP-256", {"kty": "RSA"}),
]
# The key-management and content-encryption algorithms the Sealgate contract
# speaks; anything else is refused rather than silently accepted.
ALLOWED_ALGS = [
    "RSA-OAEP", "RSA-OAEP-256",
    "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW",
    "A128GCM", "A192GCM", "A256GCM",
    "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512",
]


def die(msg, code=2):
    sys.stderr.write(f"{PEER}_peer: {msg}\n")
    sys.exit(code)


def parse_args(argv):
    pos, flags = [], {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            if i + 1 >= len(argv):
                die(f"flag {a} needs a value")
            flags[a[2:]] = argv[i + 1]
            i += 2
        else:
            pos.append(a)
            i += 1
    return pos, flags


def read_jwk(path):
    with open(path, "rb") as f:
        return jwk_mod.JWK.from_json(f.read())


def default_alg(d):
    if d.get("alg"):
        return d["alg"]
    return "RSA-OAEP-256" if d.get("kty") == "RSA" else "ECDH-ES+A256KW"


def extra_protected(flags):
    if "protected" not in flags:
        return {}
    h = json.loads(flags["protected"])
    if not isinstance(h, dict):
        die("--protected must be a JSON object")
    return h


def public_key_files(d):
    files = sorted(f for f in os.listdir(d) if f.endswith(".public.jwk.json"))
    if not files:
        die(f"no *.public.jwk.json in {d}")
    return [os.path.join(d, f) for f in files]


def write_file(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def gen_keys(d, flags):
    os.makedirs(d, exist_ok=True)
    rsa_bits = int(flags.get("rsa-bits", "3072"))
    for name, alg, params in KEY_SPECS:
        params = dict(params)
        if params["kty"] == "RSA":
            params["size"] = rsa_bits
            alg = flags.get("rsa-alg", alg)
        else:
            alg = flags.get("ec-alg", alg)
        key = jwk_mod.JWK.generate(kid=f"{PEER}-{name}", use="enc", alg=alg, **params)
        priv = key.export_private(as_dict=True)
        pub = key.export_public(as_dict=True)
        if "d" in pub:
            die("public JWK export contained a private member")
        write_file(os.path.join(d, f"{name}.private.jwk.json"), json.dumps(priv) + "\n", 0o600)
        write_file(os.path.join(d, f"{name}.public.jwk.json"), json.dumps(pub) + "\n", 0o644)
        print(name)


def encrypt_general(d, flags):
    enc = flags.get("enc", "A256GCM")
    plaintext = sys.stdin.buffer.read()
    protected = {**extra_protected(flags), "enc": enc}
    jwe = jwe_mod.JWE(plaintext, protected=json.dumps(protected))
    jwe.allowed_algs = ALLOWED_ALGS
    files = public_key_files(d)
    if len(files) < 2:
        die("general serialization needs at least two recipients here")
    for path in files:
        key = read_jwk(path)
        pub = key.export_public(as_dict=True)
        jwe.add_recipient(key, header=json.dumps({"alg": default_alg(pub), "kid": pub.get("kid")}))
    out = json.loads(jwe.serialize(compact=False))
    if "recipients" not in out:
        die("jwcrypto did not produce general serialization")
    print(json.dumps(out))


def encrypt_one(path, flags, compact):
    enc = flags.get("enc", "A256GCM")
    key = read_jwk(path)
    pub = key.export_public(as_dict=True)
    alg = flags.get("alg", default_alg(pub))
    plaintext = sys.stdin.buffer.read()
    if compact:
        protected = {**extra_protected(flags), "alg": alg, "enc": enc, "kid": pub.get("kid")}
        jwe = jwe_mod.JWE(plaintext, protected=json.dumps(protected))
        jwe.allowed_algs = ALLOWED_ALGS
        jwe.add_recipient(key)
        print(jwe.serialize(compact=True))
    else:
        protected = {**extra_protected(flags), "enc": enc}
        jwe = jwe_mod.JWE(plaintext, protected=json.dumps(protected))
        jwe.allowed_algs = ALLOWED_ALGS
        jwe.add_recipient(key, header=json.dumps({"alg": alg, "kid": pub.get("kid")}))
        out = json.loads(jwe.serialize(compact=False))
        if "recipients" in out or "encrypted_key" not in out:
            die("jwcrypto did not produce flattened serialization")
        print(json.dumps(out))


def decrypt(path, flags):
    key = read_jwk(path)
    raw = sys.stdin.buffer.read().decode("utf-8").strip()
    jwe = jwe_mod.JWE()
    jwe.allowed_algs = ALLOWED_ALGS
    jwe.deserialize(raw, key=key)
    if "header-out" in flags:
        prot = jwe.objects.get("protected")
        header = json.loads(prot) if prot else {}
        with open(flags["header-out"], "w") as f:
            f.write(json.dumps(header) + "\n")
    sys.stdout.buffer.write(jwe.payload)
    sys.stdout.buffer.flush()


def main():
    if len(sys.argv) < 2:
        die("usage: jwcrypto_peer.py gen-keys|encrypt-general|encrypt-flattened|encrypt-compact|decrypt ARG [flags]")
    cmd = sys.argv[1]
    pos, flags = parse_args(sys.argv[2:])
    if len(pos) != 1:
        die("exactly one positional argument expected")
    handlers = {
        "gen-keys": gen_keys,
        "encrypt-general": encrypt_general,
        "encrypt-flattened": lambda p, f: encrypt_one(p, f, False),
        "encrypt-compact": lambda p, f: encrypt_one(p, f, True),
        "decrypt": decrypt,
    }
    if cmd not in handlers:
        die(f"unknown command {cmd}")
    try:
        handlers[cmd](pos[0], flags)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - report any library refusal as exit 1
        sys.stderr.write(f"{PEER}_peer: {type(e).__name__}: {e}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
