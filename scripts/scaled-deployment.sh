#!/usr/bin/env bash
# Runs docs/scaled-deployment.md's "Step by step" exactly as printed: every ```sh block
# in order (the first, which says where things go, replaced by a temporary directory
# and a database of our own), ```sh process=NAME blocks as background processes
# (ready when they print their listening line), the ```sh journey block once, then
# again after SIGKILL of signer-1. Then the audit chain is verified once more, and
# every process is stopped and the database and role dropped, also on failure.
#   SEALGATE_BIN   directory holding the sealgate binary (default: target/debug, built
#                  here when missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
doc="$root/docs/scaled-deployment.md"

bin="${SEALGATE_BIN:-$root/target/debug}"
if [ ! -x "$bin/sealgate" ]; then
  cargo build --locked -p sealgate
fi
export PATH="$bin:$PATH"

work="$(mktemp -d)"
logs="$work/logs"
mkdir -p "$logs"
suffix="$$_$(date +%s)"
program="$work/steps.sh"

# The doc's blocks, as one program. Process blocks hold one command each: it is
# started with exec in a subshell so that the recorded pid is sealgate's own.
awk -v settings="$work/settings.sh" '
  BEGIN { n = 0; inblk = 0 }
  /^```sh/ && !inblk {
    inblk = 1; kind = "plain"; name = ""
    if ($2 ~ /^process=/) { kind = "process"; name = substr($2, 9) }
    else if ($2 == "journey") { kind = "journey" }
    else if ($2 != "") { print "scaled-deployment: unknown block kind " $2 > "/dev/stderr"; exit 1 }
    n++; body = ""; next
  }
  /^```/ && inblk {
    inblk = 0
    if (n == 1) { print "source " settings; next }
    first = body; sub(/\n.*/, "", first); gsub(/\047/, "", first)
    print "echo \047==> " first "\047"
    if (kind == "plain") { print body }
    else if (kind == "process") {
      print "start_process " name " <<'"'"'SEALGATE_BLOCK'"'"'"; printf "%s", body; print "SEALGATE_BLOCK"
    } else { print "journey() {"; printf "%s", body; print "}"; print "journey" }
    next
  }
  inblk { body = body $0 "\n" }
  END { if (inblk) { print "scaled-deployment: unterminated block" > "/dev/stderr"; exit 1 } }
' "$doc" > "$program"

cat > "$work/settings.sh" <<EOF
export SEALGATE_ETC="$work/etc"
export SEALGATE_VAR="$work/var"
export DB_NAME="sealgate_scaled_$suffix" DB_USER="sealgate_scaled_$suffix"
EOF

declare -A pids=()
start_process() {
  local name="$1" body
  body="$(cat)"
  echo "scaled-deployment: starting $name"
  ( eval "exec $body" ) >"$logs/$name.out" 2>"$logs/$name.err" &
  pids[$name]=$!
  local deadline=$((SECONDS + 180))
  until grep -qE '^sealgate: (listening on|exchange sandbox on)' "$logs/$name.out"; do
    if ! kill -0 "${pids[$name]}" 2>/dev/null; then
      echo "scaled-deployment: $name exited before it was ready" >&2
      tail -n 40 "$logs/$name.out" "$logs/$name.err" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "scaled-deployment: $name not ready after 180 s" >&2
      tail -n 40 "$logs/$name.out" "$logs/$name.err" >&2
      return 1
    fi
    sleep 0.2
  done
  # The line the operator sees: which URLs each process uses.
  grep -E '^sealgate: (listening|service listener|exchange|signer)' "$logs/$name.out" | sed "s/^/  [$name] /"
}

cleanup() {
  local rc=$?
  for name in "${!pids[@]}"; do kill -TERM "${pids[$name]}" 2>/dev/null || true; done
  sleep 1
  for name in "${!pids[@]}"; do kill -KILL "${pids[$name]}" 2>/dev/null || true; done
  if [ "$rc" != 0 ]; then
    echo "scaled-deployment: FAILED (exit $rc); the processes' logs:" >&2
    for f in "$logs"/*; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done
  fi
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS sealgate_scaled_$suffix WITH (FORCE)" \
    -c "DROP ROLE IF EXISTS sealgate_scaled_$suffix" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

started=$SECONDS
# No xtrace: the journey holds a sign-in link.
# shellcheck disable=SC1090
source "$program"
echo "scaled-deployment: every step of the doc ran ($((SECONDS - started)) s)"

# One signer dies: the importer and the api move to the other.
kill -KILL "${pids[signer-1]}"
echo "scaled-deployment: signer-1 killed; the journey again"
journey
sealgate audit verify --database "$DB" --pin "$PIN"
echo "scaled-deployment: passed ($((SECONDS - started)) s)"
