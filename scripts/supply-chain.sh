#!/usr/bin/env bash
# Supply chain, offline:
#   - cargo-deny (pinned) over Cargo.lock and fuzz/Cargo.lock with deny.toml: licenses
#     from an allow-list, a second major version of a crate refused unless listed,
#     sources limited to crates.io, and RustSec advisories from the snapshot in
#     ../shared/advisory-db (the registries here cannot fetch the database);
#   - npm: every lockfile is complete (each package with a sha512 integrity, none
#     resolved from anywhere but registry.npmjs.org), and package.json agrees with it (`npm ci` refuses
#     otherwise; the setup scripts install with `npm ci` only);
#   - PyPI: every requirements file pins exact versions.
#
#   scripts/supply-chain.sh [--install-only]   (--install-only: install cargo-deny, check nothing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version="0.20.2"
if [ "$(cargo deny --version 2>/dev/null || true)" != "cargo-deny $version" ]; then
  cargo install --locked cargo-deny --version "$version"
fi
if [ "${1:-}" = --install-only ]; then exit 0; fi

snapshot="../shared/advisory-db"
[ -d "$snapshot/crates" ] || { echo "supply-chain: error: no advisory DB snapshot at $snapshot" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# cargo-deny reads the database as a git repository in a directory named after its URL.
db="$work/advisory-dbs/advisory-db-3157b0e258782691"
mkdir -p "$(dirname "$db")"
cp -r "$snapshot" "$db"
chmod -R u+w "$db"
git -C "$db" init -q
git -C "$db" add -A
git -C "$db" -c user.name=sealgate -c user.email=ci@localhost commit -qm "snapshot: $(head -c 120 "$snapshot/SNAPSHOT")"
export SEALGATE_ADVISORY_DBS="$work/advisory-dbs"
echo "supply-chain: advisories from $(head -n 1 "$snapshot/SNAPSHOT")"

# cargo-deny reads `cargo metadata` for every target, so the crates of other platforms
# (windows-sys…) must be in the registry cache, which a build on Linux never fetches:
# fetch them first (the one network step), then check offline.
cargo fetch --locked >/dev/null
cargo fetch --locked --manifest-path fuzz/Cargo.toml >/dev/null
cargo deny --offline --locked check
# fuzz/ is its own workspace: the skips and ignores above are for the main one.
cargo deny --offline --locked --manifest-path fuzz/Cargo.toml check -A unmatched-skip -A unnecessary-skip -A advisory-not-detected

for lock in interop/package-lock.json web/tests/package-lock.json; do
  node - "$lock" <<'JS'
const [lockPath] = process.argv.slice(2);
const lock = require(require('path').resolve(lockPath));
const bad = [];
if (!(lock.lockfileVersion >= 2)) bad.push(`lockfileVersion ${lock.lockfileVersion} (need >= 2)`);
for (const [name, p] of Object.entries(lock.packages || {})) {
  if (name === '') continue;
  // npm 11 may leave `resolved` out (it then fetches from the configured registry);
  // where it is recorded it must be the public registry, never a URL or git source.
  if (p.resolved !== undefined && !String(p.resolved).startsWith('https://registry.npmjs.org/')) bad.push(`${name}: resolved ${p.resolved}`);
  if (p.link) bad.push(`${name}: a linked (local) package`);
  if (!String(p.integrity || '').startsWith('sha512-')) bad.push(`${name}: integrity ${p.integrity}`);
}
if (bad.length) { console.error(`supply-chain: ${lockPath}:\n  ${bad.join('\n  ')}`); process.exit(1); }
console.log(`supply-chain: ${lockPath}: ${Object.keys(lock.packages).length - 1} packages, each with a sha512 integrity, none from elsewhere`);
JS
done

for req in $(git ls-files '*requirements*.txt'); do
  if grep -vE '^\s*(#.*)?$' "$req" | grep -vqE '^[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?==[^ ;]+(\s*#.*)?(\s*\\)?$|^\s+--hash=sha256:[0-9a-f]{64}(\s*\\)?$'; then
    echo "supply-chain: $req has a requirement that is not an exact pin:" >&2
    grep -vE '^\s*(#.*)?$' "$req" | grep -vE '^[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?==[^ ;]+(\s*#.*)?(\s*\\)?$|^\s+--hash=sha256:[0-9a-f]{64}(\s*\\)?$' >&2
    exit 1
  fi
  echo "supply-chain: $req: every requirement pinned exactly"
done
