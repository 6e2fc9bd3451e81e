#!/usr/bin/env bash
# Installs SoftHSM2 (the PKCS#11 token the pkcs11 custody backend is tested
# against) and OpenSC (pkcs11-tool, to inspect a token by hand) from Debian
# bookworm, pinned, if missing. Idempotent and non-interactive; quick when
# installed. The tests make their own tokens in a temp dir (private
# SOFTHSM2_CONF) and remove them.
#   SEALGATE_PKCS11_MODULE  module path to check (default the Debian one)
set -euo pipefail

softhsm_version="2.6.1-2.1"
opensc_version="0.23.0-0.3+deb12u2"
module="${SEALGATE_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

installed() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

if command -v softhsm2-util >/dev/null 2>&1 && command -v pkcs11-tool >/dev/null 2>&1 && [ -e "$module" ]; then
  have="$(installed softhsm2)"
  if [ "$have" != "$softhsm_version" ]; then
    echo "note: softhsm2 ${have:-(not from dpkg)} is installed; the tests are pinned to $softhsm_version" >&2
  fi
  echo "softhsm2 present: $(softhsm2-util --version) at $module"
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
install() {
  $sudo apt-get install -y --no-install-recommends \
    "softhsm2=$softhsm_version" "softhsm2-common=$softhsm_version" "libsofthsm2=$softhsm_version" \
    "opensc=$opensc_version" "opensc-pkcs11=$opensc_version"
}
if ! install; then
  echo "apt-get install failed; refreshing the package lists and retrying" >&2
  $sudo apt-get update
  install
fi

if [ ! -e "$module" ]; then
  echo "error: softhsm2 is installed but $module is missing (set SEALGATE_PKCS11_MODULE)" >&2
  exit 1
fi
echo "softhsm2 installed: $(softhsm2-util --version) at $module"
