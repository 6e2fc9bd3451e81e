#!/usr/bin/env bash
# Installs the HTTP load generator the signer load benchmark drives
# (crates/sealgate-server/benches/signer_load.rs): Debian's wrk, at least the
# tested build (scripts/lib/debian.sh). Idempotent. Needs root or sudo
# (apt-get). Not needed by the test suite: under `cargo test` the benchmark
# runs a smoke pass without wrk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/debian.sh

deb_require wrk 4.1.0-3+b2
echo "setup-wrk: ready: $(command -v wrk) ($(wrk --version 2>&1 | head -n1))"
