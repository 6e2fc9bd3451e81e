#!/usr/bin/env bash
# Supply chain: check Cargo.lock (and fuzz/Cargo.lock) against the RustSec
# advisory database, offline, from the snapshot in ../shared/advisory-db
# (the registries here cannot fetch it). Ignored advisories, each with its
# reason, are in .cargo/audit.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version="0.22.1"
if ! cargo audit --version 2>/dev/null | grep -qx "cargo-audit-audit $version\|cargo-audit $version"; then
  cargo install --locked cargo-audit --version "$version"
fi

snapshot="../shared/advisory-db"
if [ ! -d "$snapshot/crates" ]; then
  echo "audit-deps: error: no advisory DB snapshot at $snapshot" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# cargo-audit reads the database as a git repository: make one from the snapshot.
cp -r "$snapshot" "$work/advisory-db"
chmod -R u+w "$work/advisory-db"
git -C "$work/advisory-db" init -q
git -C "$work/advisory-db" add -A
git -C "$work/advisory-db" -c user.name=sealgate -c user.email=ci@localhost commit -qm "snapshot: $(head -c 120 "$snapshot/SNAPSHOT")"

cargo audit --no-fetch --db "$work/advisory-db" --file Cargo.lock
cargo audit --no-fetch --db "$work/advisory-db" --file fuzz/Cargo.lock
