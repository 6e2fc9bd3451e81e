#!/usr/bin/env bash
# Fresh-machine rehearsal: runs the README's two set-up commands the way a new
# machine of this kind meets them, and times them.
#
#   bash scripts/rehearse-fresh-machine.sh [--keep] [--keep-debian]
#
# - a fresh clone of HEAD (committed work only), beside `../shared` like the
#   project itself, with no `target/`, no venvs and no node_modules;
# - an empty CARGO_HOME (no registry cache, no cargo-installed tools such as
#   cargo-deny or cargo-fuzz; the rustup toolchains stay: a machine
#   of this kind comes with stable and nightly), empty npm and pip caches;
# - the Debian packages the suite installs (Chromium, SoftHSM2, OpenSC) are
#   purged first (needs root), unless --keep-debian; whatever stays is then at
#   least checked to be the build a fresh `apt-get install` gives today;
# - then `cargo run --release -- serve --sandbox` until it answers /readyz and
#   prints its sign-in link, stopped with SIGTERM; then
#   `CI=true bash scripts/test.sh` with no stdin.
# Prints each step's time and a summary (also in rehearsal.txt of the work dir,
# which is removed at the end unless --keep). Exit 0 only if both commands worked.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
keep=0 keep_debian=0
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    --keep-debian) keep_debian=1 ;;
    *) echo "usage: $0 [--keep] [--keep-debian]" >&2; exit 2 ;;
  esac
done

# Debian packages that scripts/setup-*.sh install (and their dependants).
DEBS=(chromium chromium-common softhsm2 softhsm2-common libsofthsm2 opensc opensc-pkcs11)

[ -d "$ROOT/../shared" ] || { echo "rehearsal: no ../shared beside $ROOT" >&2; exit 1; }
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]; then
  echo "rehearsal: note: uncommitted changes in $ROOT are NOT rehearsed (a clone takes HEAD)" >&2
fi
for port in 8787 8788; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "rehearsal: 127.0.0.1:$port is taken; stop what listens there first (serve's default addresses)" >&2
    exit 1
  fi
done

# The clone sits beside ../shared, as the project does (tests read ../shared).
work="$(mktemp -d "$(dirname "$ROOT")/rehearsal.XXXXXX")"
mkdir -p "$work/cargo-home/bin" "$work/rustup-bin"
ln -s "$(cd "$ROOT/../shared" && pwd)" "$work/shared"
repo="$work/sealgate"
cleanup() {
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
  if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "rehearsal: kept $work"; fi
}
trap cleanup EXIT
report="$work/rehearsal.txt"
say() { printf 'rehearsal: %s\n' "$*" | tee -a "$report"; }
stamp() { date +%s; }

# Tools: only the rustup proxies of the machine's toolchains; everything the
# commands install goes into the empty CARGO_HOME.
rustup_bin="$(dirname "$(command -v rustup)")"
for t in cargo rustc rustup rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
  [ -e "$rustup_bin/$t" ] && ln -s "$rustup_bin/$t" "$work/rustup-bin/$t"
done
clean_path="$work/cargo-home/bin:$work/rustup-bin"
IFS=: read -r -a parts <<<"$PATH"
for p in "${parts[@]}"; do
  case "$p" in "$rustup_bin" | "$HOME/.cargo/bin") ;; *) clean_path="$clean_path:$p" ;; esac
done
fresh_env=(env -u CARGO_TARGET_DIR)
for v in $(env | sed -n 's/^\(SEALGATE_[A-Za-z0-9_]*\)=.*/\1/p'); do fresh_env+=(-u "$v"); done
fresh_env+=("PATH=$clean_path" "CARGO_HOME=$work/cargo-home"
  "npm_config_cache=$work/npm-cache" "PIP_CACHE_DIR=$work/pip-cache" CI=true)

say "started $(date -u +%FT%TZ) on $(hostname), $(nproc) cores; HEAD $(git -C "$ROOT" rev-parse --short HEAD)"
git clone --quiet --no-local "$ROOT" "$repo"

if [ "$keep_debian" = 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "rehearsal: purging Debian packages needs root (or pass --keep-debian)" >&2; exit 1; }
  present=()
  for d in "${DEBS[@]}"; do dpkg-query -W "$d" >/dev/null 2>&1 && present+=("$d"); done
  if ((${#present[@]})); then
    say "purging ${present[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${present[@]}" >/dev/null
  fi
fi

# 1. Run Sealgate on its embedded default.
t0=$(stamp)
say "command 1: cargo run --release -- serve --sandbox"
(cd "$repo" && exec "${fresh_env[@]}" cargo run --release -- serve --sandbox </dev/null >"$work/serve.log" 2>&1) &
serve_pid=$!
ready=0
for _ in $(seq 1 3600); do
  if ! kill -0 "$serve_pid" 2>/dev/null; then break; fi
  if curl -fsS -m 2 http://127.0.0.1:8787/readyz >/dev/null 2>&1 && grep -q '/login?token=' "$work/serve.log"; then
    ready=1
    break
  fi
  sleep 1
done
t1=$(stamp)
if [ "$ready" = 1 ]; then
  say "command 1 ready after $((t1 - t0)) s (build included): /readyz answers, sign-in link printed"
  pkill -TERM -P "$serve_pid" 2>/dev/null || true
  kill -TERM "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=""
else
  say "command 1 FAILED after $((t1 - t0)) s; its last lines:"
  tail -n 30 "$work/serve.log" | tee -a "$report"
  exit 1
fi

# 2. The whole test suite.
say "command 2: CI=true bash scripts/test.sh"
t2=$(stamp)
set +e
(cd "$repo" && "${fresh_env[@]}" bash scripts/test.sh </dev/null 2>&1 | tee "$work/test.log")
rc=${PIPESTATUS[0]}
set -e
t3=$(stamp)
say "command 2 exited $rc after $((t3 - t2)) s ($(tail -n 1 "$work/test.log"))"

# What stays on the machine must be what a fresh apt-get gives today.
stale=0
for d in "${DEBS[@]}"; do
  have="$(dpkg-query -W -f='${Version}' "$d" 2>/dev/null || true)"
  [ -n "$have" ] || continue
  want="$(apt-cache policy "$d" | awk '/Candidate:/ { print $2 }')"
  if [ "$have" = "$want" ]; then say "debian: $d $have (the archive's current build)"; else
    say "debian: $d $have is NOT the archive's current build $want"
    stale=1
  fi
done

say "total $((t3 - t0)) s: serve ready in $((t1 - t0)) s, tests in $((t3 - t2)) s"
[ "$rc" = 0 ] && [ "$stale" = 0 ]
