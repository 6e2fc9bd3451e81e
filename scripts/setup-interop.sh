#!/usr/bin/env bash
# Installs the two independent JWE peers used by crates/sealgate/tests/interop.rs:
#   - panva `jose` (npm), exact version from interop/package-lock.json, into
#     interop/node_modules via `npm ci`;
#   - `jwcrypto` (PyPI) and its dependencies, exact versions from
#     interop/requirements.txt, into the venv .venv-interop at the repo root;
#   - `ccxt` (PyPI, same file and venv) for crates/sealgate/tests/ccxt_crosscheck.rs.
#     requirements.txt is the complete list (installed with --no-deps; see the
#     comment there for why).
# Idempotent and non-interactive: when the pinned versions are already there it
# does nothing and returns quickly. Needs node+npm and python3 (with venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INTEROP="$ROOT/interop"
VENV="$ROOT/.venv-interop"

export CI="${CI:-true}"
export npm_config_audit=false
export npm_config_fund=false
export npm_config_update_notifier=false
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

log() { printf 'setup-interop: %s\n' "$*"; }
die() { printf 'setup-interop: error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (need Node.js >= 20)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed (need Python >= 3.9)"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js >= 20 needed for jose 6, found $(node --version)"

# ---- jose (npm) -------------------------------------------------------------
want_jose="$(node -p "require('$INTEROP/package-lock.json').packages['node_modules/jose'].version")"
have_jose="$(node -p "try { require('$INTEROP/node_modules/jose/package.json').version } catch { '' }" 2>/dev/null || true)"
if [ -n "$want_jose" ] && [ "$have_jose" = "$want_jose" ]; then
  log "jose $have_jose already installed"
else
  log "installing jose $want_jose with npm ci (had: ${have_jose:-none})"
  npm ci --prefix "$INTEROP" --no-audit --no-fund --ignore-scripts </dev/null
  have_jose="$(node -p "require('$INTEROP/node_modules/jose/package.json').version")"
  [ "$have_jose" = "$want_jose" ] || die "npm ci installed jose $have_jose, expected $want_jose"
fi

# ---- jwcrypto + ccxt (PyPI) -------------------------------------------------
# True when every `name==version` line of requirements.txt is installed in the venv.
pins_match() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "$INTEROP/requirements.txt" <<'PY' >/dev/null 2>&1
import re, sys
from importlib import metadata
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
    if not m:
        sys.exit(2)
    try:
        if metadata.version(m.group(1)) != m.group(2):
            ok = False
    except metadata.PackageNotFoundError:
        ok = False
import jwcrypto.jwe  # noqa: F401  (the imports themselves must work)
import ccxt  # noqa: F401
sys.exit(0 if ok else 1)
PY
}

if pins_match; then
  log "jwcrypto+ccxt venv already matches interop/requirements.txt"
else
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" \
      || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  log "installing interop/requirements.txt into $VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q --no-deps \
    -r "$INTEROP/requirements.txt" </dev/null
  pins_match || die "venv does not match interop/requirements.txt after install"
fi

py_versions="$("$VENV/bin/python" -c 'import sys; from importlib.metadata import version as v; print("python %s, jwcrypto %s, cryptography %s, ccxt %s" % (sys.version.split()[0], v("jwcrypto"), v("cryptography"), v("ccxt")))')"
log "ready: node $(node --version), jose $have_jose; $py_versions"
