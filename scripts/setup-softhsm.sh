#!/usr/bin/env bash
# Installs SoftHSM2 (the PKCS#11 token the pkcs11 custody backend is tested
# against) and OpenSC (pkcs11-tool, to inspect a token by hand) from Debian
# bookworm, at least the tested versions (scripts/lib/debian.sh: Debian replaces
# builds, so minimums, not exact pins). Idempotent and non-interactive; quick
# when installed. The tests make their own tokens in a temp dir (private
# SOFTHSM2_CONF) and remove them.
#   SEALGATE_PKCS11_MODULE  module path to check (default the Debian one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/debian.sh

module="${SEALGATE_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

deb_require softhsm2 2.6.1-2.1 softhsm2-common 2.6.1-2.1 libsofthsm2 2.6.1-2.1 \
  opensc 0.23.0-0.3+deb12u2 opensc-pkcs11 0.23.0-0.3+deb12u2

if [ ! -e "$module" ]; then
  echo "error: softhsm2 is installed but $module is missing (set SEALGATE_PKCS11_MODULE)" >&2
  exit 1
fi
echo "softhsm2 ready: $(softhsm2-util --version) at $module"
