#!/usr/bin/env bash
# The web client's browser test needs Debian's Chromium and the npm playwright-core
# pinned in web/tests/package-lock.json (it drives the system browser; it never
# downloads one). Idempotent and quiet: installs only what is missing or different.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Pinned like every other system package the suite installs (bookworm-security).
chromium_version="156.0.8078.108-1~deb12u1"
have_chromium="$(dpkg-query -W -f='${Version}' chromium 2>/dev/null || true)"
if [ "$have_chromium" != "$chromium_version" ]; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null
  as_root apt-get install -y -qq --allow-downgrades "chromium=$chromium_version" "chromium-common=$chromium_version" >/dev/null
fi
command -v node >/dev/null || { echo "setup-browser: Node.js 20+ is needed (node not found)" >&2; exit 1; }

lock=web/tests/package-lock.json
want="$(node -p "require('./$lock').packages['node_modules/playwright-core'].version")"
have="$(node -p "try { require('./web/tests/node_modules/playwright-core/package.json').version } catch { '' }")"
if [ "$want" != "$have" ]; then
  (cd web/tests && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
echo "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1); playwright-core $want"
