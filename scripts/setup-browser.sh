#!/usr/bin/env bash
# The web client's browser test needs Debian's Chromium and the npm playwright-core
# pinned in web/tests/package-lock.json (it drives the system browser; it never
# downloads one). Idempotent and quiet: installs only what is missing or too old.
#
# Chromium comes from bookworm-security, which keeps only its newest build: a
# minimum version, never an exact pin (scripts/lib/debian.sh). The version used
# is logged here and written into the browser test's artifacts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/debian.sh

# The oldest build the web client's test was run against.
deb_require chromium 156.0.8078.108-1~deb12u1 chromium-common 156.0.8078.108-1~deb12u1

command -v node >/dev/null || { echo "setup-browser: Node.js 20+ is needed (node not found)" >&2; exit 1; }

lock=web/tests/package-lock.json
want="$(node -p "require('./$lock').packages['node_modules/playwright-core'].version")"
have="$(node -p "try { require('./web/tests/node_modules/playwright-core/package.json').version } catch { '' }")"
if [ "$want" != "$have" ]; then
  (cd web/tests && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
echo "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1); playwright-core $want"
