#!/usr/bin/env bash
# Installs the HTTP load generator the signer load benchmark drives
# (crates/sealgate-server/benches/signer_load.rs): Debian's wrk, pinned.
# Idempotent: does nothing when the pinned version is installed. Needs root
# (apt-get). Not needed by the test suite: under `cargo test` the benchmark
# runs a smoke pass without wrk.
set -euo pipefail

WRK_VERSION="4.1.0-3+b2"

log() { printf 'setup-wrk: %s\n' "$*"; }

if [ "$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || true)" = "$WRK_VERSION" ]; then
  log "wrk $WRK_VERSION already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "wrk=$WRK_VERSION" >/dev/null || { apt-get update >/dev/null && apt-get install -y "wrk=$WRK_VERSION" >/dev/null; }
fi
log "ready: $(command -v wrk) ($(wrk --version 2>&1 | head -n1))"
