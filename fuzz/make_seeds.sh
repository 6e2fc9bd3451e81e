#!/usr/bin/env bash
# Regenerate fuzz/seeds/: valid envelopes sealed to fuzz/keys/ by an
# independent JWE library (jwcrypto, via interop/jwcrypto_peer.py; run
# scripts/setup-interop.sh first). The seeds are committed, so fuzzing
# does not need this; scripts/fuzz.sh copies them into fuzz/corpus/.
# seeds/venues/ and seeds/portfolio/ are written by hand, not here: each
# venues seed is one selector byte (venue | status class << 2, as
# fuzz_targets/venues.rs reads it) then an answer body copied from the
# documented examples in crates/sealgate-venues/src/tests.rs; the portfolio
# seeds are the line format fuzz_targets/portfolio.rs describes.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-../.venv-interop/bin/python}
PEER=(../interop/jwcrypto_peer.py)
K=keys
J=seeds/jwe_parse
C=seeds/credential_open
mkdir -p "$J" "$C"
PT='{"api_key":"k3Jx9QmVtR2bW8yLpZs4NcHd7GfA1eUo","api_secret":"Yt6vQ2mN8rXc4LwJ0sKb9HdPz3FgTa5e"}'
peer() { printf '%s' "$PT" | "$PY" "${PEER[@]}" "$@"; }

peer encrypt-compact "$K/p256.public.jwk.json" > "$J/compact-p256-a256kw-a256gcm"
peer encrypt-compact "$K/x25519.public.jwk.json" > "$J/compact-x25519-a256kw-a256gcm"
peer encrypt-compact "$K/rsa2048.public.jwk.json" > "$J/compact-rsa2048-oaep256-a256gcm"
peer encrypt-compact "$K/rsa2048.public.jwk.json" --alg RSA-OAEP --enc A128CBC-HS256 > "$J/compact-rsa2048-oaep-a128cbc"
peer encrypt-compact "$K/p256.public.jwk.json" --alg ECDH-ES+A128KW --enc A192GCM > "$J/compact-p256-a128kw-a192gcm"
peer encrypt-flattened "$K/p256.public.jwk.json" --enc A256CBC-HS512 > "$J/flattened-p256-a256cbc"
peer encrypt-flattened "$K/x25519.public.jwk.json" --alg ECDH-ES+A192KW --enc A128GCM > "$J/flattened-x25519-a192kw"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$K"/*.public.jwk.json "$tmp"/
peer encrypt-general "$tmp" > "$J/general-3-recipients"

# Credential envelopes: the header binds them to keys.rs's binding(); the
# hint is the api_key's last four characters.
H='"typ":"sealgate-credential+jwe","sub":"user-1","cid":"0b7e4c1a-8f1e-4d52-9a53-3c1f0e2d4b6a","exch":"binance","aud":"signer","scope":["read","trade"],"iat":1789999000,"hint":"1eUo"'
for k in p256 x25519 rsa2048; do
    peer encrypt-compact "$K/$k.public.jwk.json" --protected "{$H}" > "$C/credential-$k"
    cp "$C/credential-$k" "$J/credential-$k"
done
ls -l "$J" "$C"
