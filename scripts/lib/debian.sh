# Debian packages for the test suite, by MINIMUM version (sourced, not run).
#
# Debian's security archive keeps only the newest build of a package it patches
# (chromium 156.0.8078.108-1~deb12u1 vanished for .114 within days), and a point
# release replaces the main archive's build the same way, so an exact `pkg=VER`
# pin eventually fails on a fresh machine. Instead: install whatever the archive
# offers, refuse it if it is older than the tested minimum, and log the version
# actually used (and append it to target/test-artifacts/system-packages.txt).
#
#   deb_require PKG MIN [PKG MIN ...]
#     Installs (or upgrades) every PKG whose installed version is missing or
#     below MIN, then checks each one is >= MIN. Exits non-zero with the reason.

deb_installed() { dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$1" 2>/dev/null | awk -F'|' '$1 ~ /^ii/ { print $2 }' || true; }

deb_as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

deb_require() {
  local missing=() pkg min have
  local args=("$@")
  (( ${#args[@]} % 2 == 0 )) || { echo "deb_require: PKG MIN pairs expected" >&2; return 2; }
  for ((i = 0; i < ${#args[@]}; i += 2)); do
    pkg="${args[i]}" min="${args[i+1]}"
    have="$(deb_installed "$pkg")"
    if [ -z "$have" ] || ! dpkg --compare-versions "$have" ge "$min"; then
      missing+=("$pkg")
    fi
  done
  if (( ${#missing[@]} )); then
    export DEBIAN_FRONTEND=noninteractive
    # Fresh lists first: an old list names builds the archive no longer has.
    deb_as_root apt-get update -qq >/dev/null
    deb_as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { echo "deb_require: apt-get install ${missing[*]} failed" >&2; return 1; }
  fi
  local artifacts
  artifacts="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/test-artifacts"
  mkdir -p "$artifacts"
  for ((i = 0; i < ${#args[@]}; i += 2)); do
    pkg="${args[i]}" min="${args[i+1]}"
    have="$(deb_installed "$pkg")"
    if [ -z "$have" ]; then
      echo "deb_require: $pkg is not installed after apt-get install" >&2
      return 1
    fi
    if ! dpkg --compare-versions "$have" ge "$min"; then
      echo "deb_require: $pkg $have is older than the tested minimum $min (the archive offers: $(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }'))" >&2
      return 1
    fi
    echo "debian: $pkg $have (minimum $min)"
    # One line per package, the latest run's version.
    touch "$artifacts/system-packages.txt"
    { grep -v "^$pkg " "$artifacts/system-packages.txt" || true; printf '%s %s\n' "$pkg" "$have"; } >"$artifacts/system-packages.txt.new"
    mv "$artifacts/system-packages.txt.new" "$artifacts/system-packages.txt"
  done
}
