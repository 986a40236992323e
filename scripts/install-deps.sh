#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages cloudseal needs to build and test.
# Idempotent: only missing packages are installed.  Run as root.
#   scripts/install-deps.sh [build|check|all]
set -eu

BUILD_PKGS="build-essential pkg-config libpam0g-dev libsodium-dev libssl-dev libcurl4-openssl-dev
  libsystemd-dev libkeyutils-dev libzstd-dev libjson-c-dev libinih-dev libexpat1-dev
  libarchive-dev libfuse3-dev fuse3 libfido2-dev
  keyutils pamtester openssl util-linux"
CHECK_PKGS="libcmocka-dev libpam-wrapper libnss-wrapper libuid-wrapper libpamtest0-dev
  python3-pytest python3-pytest-xdist clang libclang-rt-14-dev valgrind strace systemd openssl
  systemd-container debootstrap man-db dbus-daemon dbus-session-bus-common
  ceph-mon ceph-osd radosgw ceph-common uuid-runtime npm
  notmuch mblaze sudo openssh-server openssh-client sshpass
  debhelper dpkg-dev dh-nss lintian
  python3-fido2 python3-cbor2 python3-cryptography fido2-tools"

case "${1:-all}" in
  build) WANT="$BUILD_PKGS" ;;
  check|all) WANT="$BUILD_PKGS $CHECK_PKGS" ;;
  *) echo "usage: $0 [build|check|all]" >&2; exit 2 ;;
esac

# Packages that stand for a command another package may already provide
# (e.g. npm ships inside a vendor nodejs package that conflicts with Debian's npm).
provided_by_command() {
  case "$1" in
    npm) command -v npm >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

missing=""
for p in $WANT; do
  provided_by_command "$p" && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "cloudseal: missing Debian packages:$missing" >&2
  echo "cloudseal: run this script as root to install them." >&2
  exit 1
fi
echo "cloudseal: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
