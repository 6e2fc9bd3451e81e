#!/usr/bin/env python3
"""ccxt as an independent exchange request signer, for
crates/sealgate/tests/ccxt_crosscheck.rs.

Reads one JSON object on stdin and prints one JSON object on stdout.

op "sign" (the default): build the request ccxt would send, by calling the
exchange's own ``sign()`` directly (no markets, no network):

    {"exchange": "binance",            # ccxt id
     "api": ["private"],               # ccxt api section (a string is wrapped in a list)
     "path": "account", "method": "GET",
     "params": {...} | [...],          # ccxt's implicit-API params, or
     "params_json": "{...}",           # the same as JSON text (key order is kept exactly)
     "credentials": {"apiKey": "...", "secret": "...", "password": "...", "uid": "..."},
     "clock_ms": 1700000000000,        # milliseconds()/seconds()/microseconds()
     "nonce": 1700000000000,           # optional: nonce() (default: ccxt's own, from clock_ms)
     "uuid": "...",                    # optional: uuid()/uuid16()/uuid22()
     "random_bytes": "...",            # optional: random_bytes() (Coinbase JWT nonce)
     "options": {...}}                 # optional: merged into exchange.options

  -> {"url", "method", "path", "query", "headers": {...}, "body": str | null}

  ``path`` and ``query`` are the raw (still percent-encoded) parts of the url.

op "verify_jwt": check a compact JWS (ES256 or EdDSA) against the public half
of a PEM private key, with pyca/cryptography:

    {"op": "verify_jwt", "token": "h.p.s", "private_key": "-----BEGIN ..."}
  -> {"valid": bool, "header": {...}, "payload": {...}}

Offline by construction: the process refuses every socket connection that is
not to loopback, and ccxt's fetch()/load_markets() raise if anything calls them.
"""

import base64
import json
import socket
import sys
import urllib.parse

# ---- no network ---------------------------------------------------------------
_real_connect = socket.socket.connect


def _loopback_only_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127.")):
        return _real_connect(self, address)
    raise OSError("ccxt_peer: network access is disabled (tried %r)" % (address,))


socket.socket.connect = _loopback_only_connect


def _no_create_connection(address, *args, **kwargs):
    raise OSError("ccxt_peer: network access is disabled (tried %r)" % (address,))


socket.create_connection = _no_create_connection

import ccxt  # noqa: E402  (after the socket guard, on purpose)


def _refuse(*args, **kwargs):
    raise RuntimeError("ccxt_peer: ccxt tried to reach the network (fetch/load_markets)")


def make_exchange(case):
    cls = getattr(ccxt, case["exchange"])
    creds = case.get("credentials", {})
    ex = cls({k: v for k, v in creds.items() if v is not None})
    ex.fetch = _refuse
    ex.fetch2 = _refuse
    ex.load_markets = _refuse
    ex.load_time_difference = _refuse
    options = {"timeDifference": 0}
    options.update(case.get("options", {}))
    ex.options.update(options)

    clock_ms = int(case["clock_ms"])
    ex.milliseconds = lambda: clock_ms
    ex.seconds = lambda: clock_ms // 1000
    ex.microseconds = lambda: clock_ms * 1000
    if "nonce" in case and case["nonce"] is not None:
        nonce = case["nonce"]
        ex.nonce = lambda: nonce
    if "uuid" in case:
        u = case["uuid"]
        ex.uuid = lambda: u
        ex.uuid16 = lambda length=16: u
        ex.uuid22 = lambda length=22: u
    else:
        ex.uuid = ex.uuid16 = ex.uuid22 = lambda *a: _fail("ccxt wanted a uuid: give the case a `uuid`")
    if "random_bytes" in case:
        rb = case["random_bytes"]
        ex.random_bytes = lambda length: rb
    else:
        ex.random_bytes = lambda length: _fail("ccxt wanted random bytes: give the case `random_bytes`")
    return ex


def _fail(msg):
    raise RuntimeError("ccxt_peer: " + msg)


def op_sign(case):
    ex = make_exchange(case)
    api = case["api"]
    if isinstance(api, str):
        api = [api]
    if "params_json" in case:
        params = json.loads(case["params_json"])
    else:
        params = case.get("params", {})
    req = ex.sign(case["path"], api, case["method"], params)
    url = req["url"]
    parts = urllib.parse.urlsplit(url)
    headers = req.get("headers") or {}
    return {
        "url": url,
        "method": req["method"],
        "path": parts.path,
        "query": parts.query,
        "headers": {str(k): str(v) for k, v in headers.items()},
        "body": req.get("body"),
    }


def _b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def op_verify_jwt(case):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    h, p, s = case["token"].split(".")
    header = json.loads(_b64url(h))
    payload = json.loads(_b64url(p))
    sig = _b64url(s)
    key = load_pem_private_key(case["private_key"].encode(), None).public_key()
    signing_input = (h + "." + p).encode()
    valid = False
    try:
        if header.get("alg") == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(sig) == 64:
                der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
                key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
                valid = True
        elif header.get("alg") == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, signing_input)
            valid = True
    except InvalidSignature:
        valid = False
    return {"valid": valid, "header": header, "payload": payload}


def main():
    case = json.loads(sys.stdin.read())
    op = case.get("op", "sign")
    if op == "sign":
        out = op_sign(case)
    elif op == "verify_jwt":
        out = op_verify_jwt(case)
    else:
        raise SystemExit("ccxt_peer: unknown op %r" % op)
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
