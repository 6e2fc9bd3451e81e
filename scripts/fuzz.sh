#!/usr/bin/env bash
# Fuzz the parsers that take outside input with cargo-fuzz (libFuzzer),
# non-interactively.
#
#   scripts/fuzz.sh [SECONDS]      # SECONDS per target, default 45
#   scripts/fuzz.sh --build-only   # install cargo-fuzz and build the targets, run none
#
# Targets (fuzz/fuzz_targets/): jwe_parse (Jwe::parse under both policies,
# then open_now with fixed P-256/X25519/RSA-2048 keys), credential_open
# (open_credential_now with fixed keys and a fixed binding), audit_jsonl
# (the audit JSON Lines import: parse_line and verify_export),
# exchange_sign_input (the input of `sealgate exchange sign`, then signed),
# canonical (sealgate_exchanges::canonicalize: the one reader of a
# request's parameters; its canonical form must be a fixed point),
# api_bodies (the api's JSON request bodies, parsed and checked as their
# handlers do: sealgate_api_bodies::check_body, pure), authority_assertion (sealgate-authority:
# WebAuthn assertions verified against a fixed key and statement, statements,
# COSE keys and JWKs), anomaly (a stored anomaly baseline and a
# credential's rule overrides, read, judged and learnt: sealgate-anomaly),
# venues (every exchange answer sealgate-venues reads: balances, trade pages,
# placed, cancelled and status, under 200/400/429/503; what is accepted must
# re-parse) and portfolio (sealgate-portfolio: amounts, price book,
# valuation, FIFO cost basis, history and CSV from a line-based text input).
# The committed seeds in fuzz/seeds/ are copied into fuzz/corpus/
# (gitignored) first; fuzz/dicts/json.dict (JSON tokens, member names) is
# given to every target.
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none
#   FUZZ_JOBS       cargo build jobs (default 2)
#   FUZZ_PARALLEL   targets fuzzed at once (default 2: libFuzzer runs one thread, and
#                   this machine kind has two cores); each still gets SECONDS
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs
# cargo-fuzz if missing. Exits non-zero if any target found a crash; the
# input is then in fuzz/artifacts/TARGET/.
set -euo pipefail

BUILD_ONLY=false
if [ "${1:-}" = --build-only ]; then BUILD_ONLY=true; shift; fi
DURATION=${1:-45}
PARALLEL=${FUZZ_PARALLEL:-2}
CARGO_FUZZ_VERSION=0.13.2
SANITIZER=${FUZZ_SANITIZER:-address}
TARGETS=(jwe_parse credential_open audit_jsonl exchange_sign_input canonical api_bodies authority_assertion anomaly venues portfolio)

case $DURATION in '' | *[!0-9]*) echo "usage: $0 [--build-only] [SECONDS]" >&2; exit 2 ;; esac
case $PARALLEL in '' | *[!0-9]* | 0) echo "fuzz.sh: FUZZ_PARALLEL must be a positive integer" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 1
fi
if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

echo "fuzz.sh: toolchain: $(cargo +nightly --version); $(rustc +nightly --version); $(cargo fuzz --version)"

export CARGO_BUILD_JOBS=${FUZZ_JOBS:-2}
# 16 codegen units, not cargo-fuzz's 1: the targets link the server's whole dependency tree
# (webauthn-rs included), and one unit per crate at -O3 made the build ~10 minutes of CI's
# 30 on two cores; cargo-fuzz documents 16 as the faster build for somewhat slower runs.
# `run` takes the same flags, or it would build again.
CODEGEN_UNITS=${FUZZ_CODEGEN_UNITS:-16}
start=$(date +%s)
cargo +nightly fuzz build --sanitizer "$SANITIZER" --codegen-units "$CODEGEN_UNITS"
echo "fuzz.sh: build took $(( $(date +%s) - start )) s (sanitizer: $SANITIZER, codegen units: $CODEGEN_UNITS)"

if $BUILD_ONLY; then exit 0; fi

# One target's run; its output goes to fuzz/logs/TARGET.log, printed when its batch ends.
fuzz_one() {
    local t=$1
    mkdir -p "fuzz/corpus/$t"
    cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/"
    # Nearly every input is JSON or holds JSON: the token dictionary helps those targets
    # (portfolio reads lines of words, and merely ignores it).
    cargo +nightly fuzz run --sanitizer "$SANITIZER" --codegen-units "$CODEGEN_UNITS" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$DURATION" -timeout=20 -print_final_stats=1 -dict=fuzz/dicts/json.dict \
        >"fuzz/logs/$t.log" 2>&1
}

# libFuzzer's progress lines and its recommended dictionary: many lines, no verdict.
NOISE='^(#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)|"|###### )'
mkdir -p fuzz/logs
failed=()
for ((i = 0; i < ${#TARGETS[@]}; i += PARALLEL)); do
    batch=("${TARGETS[@]:i:PARALLEL}")
    echo "fuzz.sh: ${batch[*]} for ${DURATION} s each, at once"
    pids=()
    for t in "${batch[@]}"; do
        fuzz_one "$t" &
        pids+=($!)
    done
    for j in "${!batch[@]}"; do
        t=${batch[$j]}
        status=0
        wait "${pids[$j]}" || status=$?
        echo "---- fuzz.sh: $t (exit $status)"
        if [ "$status" = 0 ]; then
            grep -vE "$NOISE" "fuzz/logs/$t.log" | tail -n 15
        else
            grep -vE "$NOISE" "fuzz/logs/$t.log"
            failed+=("$t")
        fi
    done
done

if ((${#failed[@]})); then
    echo "fuzz.sh: crash or error in: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/logs/)" >&2
    exit 1
fi
echo "fuzz.sh: no crash in ${TARGETS[*]}"
