#!/bin/bash
# SPDX-License-Identifier: MIT
# Build (once) and cache a minimal Debian 12 root file system for booting
# with systemd-nspawn in end-to-end tests.
#
#   tests/nspawn/rootfs.sh [-o ROOTFS] [EXTRA_PACKAGE...]
#
# Prints the path of the ready root file system on stdout.  Without -o it
# lives in $CLOUDSEAL_ROOTFS_CACHE (default /var/cache/cloudseal-test) as
# rootfs-<hash>, the hash covering the suite, mirror and package list, so a
# changed list builds a new tree and an unchanged one is reused (building
# takes ~40 s, reusing ~0 s).  The cached tree is never booted directly: boot.sh
# boots a throw-away overlay of it.
#
# Exit status: 0 ready; 75 (EX_TEMPFAIL) the Debian archive cannot be
# reached (callers skip, loudly); 1 anything else.
set -euo pipefail

SUITE=bookworm
BASE_PACKAGES="systemd dbus libpam-systemd keyutils procps pamtester
  libsodium23 libcurl4 libjson-c5 libzstd1 libinih1 libexpat1 libkeyutils1
  libarchive13 libfuse3-3 libfido2-1"
CACHE=${CLOUDSEAL_ROOTFS_CACHE:-/var/cache/cloudseal-test}
OUT=

die() { echo "rootfs.sh: $*" >&2; exit 1; }

while getopts "o:h" opt; do
  case $opt in
    o) OUT=$OPTARG ;;
    h) sed -n '2,16p' "$0"; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap systemd-container"

MIRROR=${DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
  MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$MIRROR" ] || die "no Debian mirror in the apt configuration: set DEBIAN_MIRROR"
fi

# sorted, de-duplicated: the same set always gives the same hash
PACKAGES=$(printf '%s\n' $BASE_PACKAGES "$@" | sort -u | tr '\n' ' ')
HASH=$(printf '%s\n%s\n%s\n' "$SUITE" "$MIRROR" "$PACKAGES" | sha256sum | cut -c1-16)
[ -n "$OUT" ] || OUT=$CACHE/rootfs-$HASH
STAMP=$OUT/.cloudseal-rootfs

mkdir -p "$(dirname "$OUT")"
# one builder at a time per tree (parallel test runs share the cache)
exec 9>"$OUT.lock"
flock 9

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
  echo "$OUT"
  exit 0
fi

TMP=$OUT.tmp.$$
rm -rf "$TMP"
trap 'rm -rf "$TMP"' EXIT
echo "rootfs.sh: building $OUT from $MIRROR ($SUITE): $PACKAGES" >&2
LOG=$(mktemp)
if ! debootstrap --variant=minbase --include="$(echo $PACKAGES | tr ' ' ',')" \
     "$SUITE" "$TMP" "$MIRROR" >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  if grep -qiE "Failed getting release file|Couldn't download|Temporary failure resolving|Could not resolve|Connection (timed out|refused)|Network is unreachable|Unable to fetch" "$LOG"; then
    rm -f "$LOG"
    echo "rootfs.sh: the Debian archive ($MIRROR) cannot be reached" >&2
    exit 75
  fi
  rm -f "$LOG"
  die "debootstrap failed"
fi
rm -f "$LOG"
# no apt caches in the image; a machine-id so systemd does not run first-boot
rm -rf "$TMP"/var/cache/apt/archives/*.deb "$TMP"/var/lib/apt/lists/*
: > "$TMP/etc/machine-id"
echo "$HASH" > "$TMP/.cloudseal-rootfs"
rm -rf "$OUT"
mv "$TMP" "$OUT"
trap - EXIT
echo "$OUT"
