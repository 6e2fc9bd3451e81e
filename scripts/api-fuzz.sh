#!/usr/bin/env bash
# API fuzzing: schemathesis (exact pins in scripts/api-fuzz-requirements.txt, in the venv
# .venv-schemathesis at the repo root) against the OpenAPI document of a real
# `sealgate serve --sandbox`, signed in, for a bounded time.
#
#   bash scripts/api-fuzz.sh [SECONDS]     (default 60; SEALGATE_API_FUZZ_SECONDS too)
#
# It builds `sealgate` (or uses $SEALGATE_BIN), starts `serve --sandbox` on a free loopback
# port in a temporary data directory, signs in with the printed one-time link (session
# cookie + CSRF token), stores one real credential sealed to both roles with `sealgate seal`
# and places one order (so the list, portfolio and audit answers carry data), then runs
# schemathesis on every operation of the public listener's /openapi.json but
# `POST /v1/logout` (it would end the session the rest uses), and on the signer's
# operations of the service listener's /openapi.json (`--service-listen`; the signer's
# routes are never on the public listener), with the checks:
#   not_a_server_error            no 5xx at all
#   status_code_conformance       every status is documented for its operation
#   content_type_conformance      every Content-Type is documented
#   response_headers_conformance  documented response headers are present and valid
#   response_schema_conformance   every body matches its documented schema
#   negative_data_rejection       what the schema forbids is refused (4xx; 413 counts: scripts/api-fuzz.toml)
# Exits non-zero on any failure or error, and prints a summary: operations, test cases,
# requests made (from the HAR report), time. Reports go to $SEALGATE_API_FUZZ_REPORTS
# (default target/api-fuzz).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_BUDGET="${1:-${SEALGATE_API_FUZZ_SECONDS:-60}}"
case "$SECONDS_BUDGET" in '' | *[!0-9]* | 0) echo "api-fuzz: SECONDS must be a positive integer" >&2; exit 2 ;; esac
SCHEMATHESIS_VERSION="4.32.5"
VENV="$ROOT/.venv-schemathesis"
REQS="$ROOT/scripts/api-fuzz-requirements.txt"
REPORTS="${SEALGATE_API_FUZZ_REPORTS:-$ROOT/target/api-fuzz}"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

log() { printf 'api-fuzz: %s\n' "$*"; }
die() { printf 'api-fuzz: error: %s\n' "$*" >&2; exit 1; }

# --- schemathesis, pinned --------------------------------------------------------------------
installed() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/schemathesis" ] || return 1
  [ "$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("schemathesis"))' 2>/dev/null)" \
    = "$SCHEMATHESIS_VERSION" ] || return 1
  # Every pinned package at its pinned version (a stale venv is rebuilt).
  "$VENV/bin/python" - "$REQS" <<'PY' || return 1
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}
if installed; then
  log "schemathesis $SCHEMATHESIS_VERSION already installed"
else
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed (need Python >= 3.10)"
  log "creating venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
  log "installing schemathesis==$SCHEMATHESIS_VERSION and its pinned dependencies (--no-deps) into $VENV"
  "$VENV/bin/python" -m pip install -q --no-deps -r "$REQS" </dev/null
  "$VENV/bin/python" -m pip check >/dev/null || die "the pinned set is incomplete: $("$VENV/bin/python" -m pip check)"
  installed || die "schemathesis installed but not at the pinned versions"
fi

# --- the server --------------------------------------------------------------------------------
if [ -n "${SEALGATE_BIN:-}" ]; then
  BIN="$SEALGATE_BIN"
else
  log "building sealgate"
  cargo build -q -p sealgate --bin sealgate --locked
  BIN="$ROOT/target/debug/sealgate"
fi
[ -x "$BIN" ] || die "no sealgate binary at $BIN"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/data"
SEALGATE_LOG="${SEALGATE_LOG:-warn}" "$BIN" serve --sandbox --listen 127.0.0.1:0 --data-dir "$WORK/data" \
  >"$WORK/serve.log" 2>&1 </dev/null &
SERVER_PID=$!
LOGIN=""
for _ in $(seq 1 300); do
  LOGIN="$(sed -n 's/^sealgate: sign in (one-time link, 15 minutes): //p' "$WORK/serve.log" | head -n1)"
  [ -n "$LOGIN" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "sealgate serve exited"; }
  sleep 0.1
done
[ -n "$LOGIN" ] || { cat "$WORK/serve.log" >&2; die "no sign-in link after 30 s"; }
BASE="${LOGIN%%/login*}"
SERVICE="$(sed -n 's/^sealgate: service listener on \([^ ]*\).*/\1/p' "$WORK/serve.log" | head -n1)"
[ -n "$SERVICE" ] || { cat "$WORK/serve.log" >&2; die "no service listener printed"; }
PIN="$(sed -n 's/^sealgate: root key pin //p' "$WORK/serve.log" | head -n1)"
log "sealgate serve --sandbox at $BASE, service listener $SERVICE (data in $WORK/data)"

# Sign in; seal the sandbox's Binance key to both roles as a client does; store it; one order.
SEED="$("$VENV/bin/python" - "$LOGIN" "$BASE" "$WORK" "$BIN" "$PIN" <<'PY'
import json, subprocess, sys, urllib.request, urllib.error
login, base, work, binary, pin = sys.argv[1:6]

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None

opener = urllib.request.build_opener(NoRedirect)
try:
    opener.open(login)
    sys.exit("the login link did not answer 303")
except urllib.error.HTTPError as e:
    if e.code != 303:
        sys.exit(f"login: {e.code}")
    body = json.loads(e.read())
    cookies = [c.split(";")[0] for c in e.headers.get_all("Set-Cookie")]
cookie = "; ".join(cookies)
csrf = body["csrf_token"]

def call(method, path, payload=None):
    req = urllib.request.Request(base + path, method=method, data=None if payload is None else json.dumps(payload).encode())
    req.add_header("Cookie", cookie)
    req.add_header("X-CSRF-Token", csrf)
    if payload is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())

keyset = call("GET", "/v1/recipients")["keyset"]
open(f"{work}/recipients.jws", "w").write(keyset)
key = next(k for k in json.load(open(f"{work}/data/sandbox-keys.json")) if k["exchange"] == "binance")
secret = json.dumps({"api_key": key["api_key"], "api_secret": key["secret"]})
envelopes = []
for role, scope in (("importer", "read"), ("trader", "read,trade")):
    out = subprocess.run(
        [binary, "seal", "--recipients", f"{work}/recipients.jws", "--pin", pin, "--role", role, "--user", "local",
         "--exchange", "binance", "--scope", scope, "--credential-id", "fuzz-1"],
        input=secret.encode(), capture_output=True, check=True)
    envelopes.append({"role": role, "jwe": out.stdout.decode().strip()})
call("POST", "/v1/credentials", {"id": "fuzz-1", "exchange": "binance", "label": "api fuzz", "envelopes": envelopes})
call("PUT", "/v1/credentials/fuzz-1/limits", {"symbols": ["BTCUSDT"], "max_notional": "100000", "rate": {"max": 1000, "window_ms": 60000}})
call("POST", "/v1/orders", {"credential_id": "fuzz-1", "symbol": "BTCUSDT", "side": "buy", "order_type": "limit", "qty": "0.01", "price": "40000"})
print(cookie)
print(csrf)
PY
)" || { cat "$WORK/serve.log" >&2; die "signing in or seeding failed"; }
COOKIE="$(printf '%s\n' "$SEED" | sed -n 1p)"
CSRF="$(printf '%s\n' "$SEED" | sed -n 2p)"
log "signed in; one credential (fuzz-1) stored and one order placed"

# --- fuzz --------------------------------------------------------------------------------------
# Two runs: the user-facing routes signed in with the session (two thirds of the time), then the
# signer's service routes with a trader service token (the rest).
TOKEN="$("$BIN" admin service-token --role trader --service-keys "$WORK/data/service")"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
api_seconds=$(( SECONDS_BUDGET * 2 / 3 ))
[ "$api_seconds" -ge 1 ] || api_seconds=1
signer_seconds=$(( SECONDS_BUDGET - api_seconds ))
[ "$signer_seconds" -ge 1 ] || signer_seconds=1
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection
started=$(date +%s)
failed=0
fuzz() { # name base seconds args...
  # One worker: with two, CPython 3.11's AST recursion check can trip in a
  # worker thread while hypothesis compiles a strategy (gh-106905) and the
  # run dies with a RecursionError that is no finding of ours.
  local name="$1" base="$2" seconds="$3"
  shift 3
  log "schemathesis ($name) for ${seconds}s against $base/openapi.json"
  set +e
  "$VENV/bin/schemathesis" --config-file "$ROOT/scripts/api-fuzz.toml" run "$base/openapi.json" --checks "$CHECKS" "$@" \
    --generation-with-security-parameters false \
    --max-redirects 0 --request-timeout 10 \
    --max-time "$seconds" --workers 1 --continue-on-failure \
    --report har,junit --report-dir "$REPORTS/$name" \
    --output-sanitize true --no-color --suppress-health-check too_slow,filter_too_much \
    </dev/null 2>&1 | tee "$REPORTS/$name.log"
  local rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] || { failed=1; log "schemathesis ($name) failed (exit $rc)"; }
}
fuzz user "$BASE" "$api_seconds" --exclude-path /v1/logout \
  -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF"
fuzz signer "$SERVICE" "$signer_seconds" --include-path /v1/sign --include-path /v1/forward -H "Authorization: Bearer $TOKEN"
elapsed=$(( $(date +%s) - started ))
kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "sealgate serve died during the run"; }
if grep -qi 'panicked' "$WORK/serve.log"; then
  grep -i -A3 'panicked' "$WORK/serve.log" >&2
  die "the server panicked"
fi
requests="$("$VENV/bin/python" - "$REPORTS" <<'PY'
import glob, json, sys
n = 0
for f in glob.glob(sys.argv[1] + "/*/har-*.json"):
    n += len(json.load(open(f))["log"]["entries"])
print(n)
PY
)"
for name in user signer; do
  cases="$(grep -A1 '^Test cases:' "$REPORTS/$name.log" | tail -n1 | sed 's/^ *//')"
  operations="$(grep -A2 '^API Operations:' "$REPORTS/$name.log" | grep 'Tested:' | sed 's/^ *Tested: *//')"
  verdict="$(grep -E '^=+ .* in [0-9.]+s =+$' "$REPORTS/$name.log" | tail -n1 | tr -d '=' | sed 's/^ *//; s/ *$//')"
  log "$name: ${operations:-?} operations; test cases: ${cases:-?}; ${verdict:-no verdict}"
done
log "summary: ${requests} requests in ${elapsed}s (HAR of every request and JUnit in $REPORTS)"
[ "$failed" -eq 0 ] || die "schemathesis found failures; see above and $REPORTS"
log "no 5xx, every answer conforms to the schema, what the schema forbids is refused"
