#!/usr/bin/env bash
# Installs the notifier's test peers (crates/sealgate-server/tests/notify.rs) into the venv
# .venv-notify at the repo root, exact versions from interop/notify/requirements.txt (the
# complete list, installed with --no-deps): aiosmtpd (a real SMTP server on loopback) and
# standardwebhooks (the specification's own library, verifying our webhook signatures).
# Idempotent and non-interactive: does nothing when the pins are already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/interop/notify/requirements.txt"
VENV="$ROOT/.venv-notify"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { printf 'setup-notify: %s\n' "$*"; }
die() { printf 'setup-notify: error: %s\n' "$*" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || die "python3 is not installed (need Python >= 3.9)"

pins_match() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "$REQ" <<'PY' >/dev/null 2>&1
import re, sys
from importlib import metadata
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups()
    if metadata.version(name) != version:
        sys.exit(1)
import aiosmtpd.controller, standardwebhooks.webhooks  # noqa: F401,E401
PY
}

if pins_match; then
  log "venv already matches interop/notify/requirements.txt"
else
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  log "installing interop/notify/requirements.txt into $VENV"
  "$VENV/bin/python" -m pip install -q --no-deps -r "$REQ" </dev/null
  pins_match || die "venv does not match interop/notify/requirements.txt after install"
fi
log "ready: $("$VENV/bin/python" -c 'from importlib.metadata import version as v; print("aiosmtpd", v("aiosmtpd"), "standardwebhooks", v("standardwebhooks"))')"
