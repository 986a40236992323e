#!/bin/sh
# SPDX-License-Identifier: MIT
# The archive under valgrind (memcheck, full leak check): the unit tests,
# a few seeds of the convergence test (threads included), and the CLI
# (sync into a fresh Maildir, a second workstation, status, dry run).
set -eu
O=${O:-build}
B=$(pwd)/$O/cloudseal
T=$(pwd)/$O/tests
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
vg() { valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
       --error-exitcode=99 "$@"; }
vg "$T/test_archive" >/dev/null
ARCHIVE_SEEDS=3 vg "$T/test_archive_converge" >/dev/null
printf '[storage]\nurl = file://%s/storage\n[paths]\nstate_dir = %s/state\n[kdf]\nmemory = 8M\ntarget_time_ms = 1\n' \
  "$d" "$d" > "$d/base.conf"
for w in a b; do
  cp "$d/base.conf" "$d/$w.conf"
  printf '[archive]\nmaildir = %s/%s/Maildir\nstate_dir = %s/%s/state\n' "$d" "$w" "$d" "$w" >> "$d/$w.conf"
done
mkdir -p "$d/a/Maildir/cur" "$d/a/Maildir/.Sent/cur"
printf 'Subject: one\n\nbody\n' > "$d/a/Maildir/cur/1.M1P1.a:2,S"
printf 'Subject: two\n\nbody\n' > "$d/a/Maildir/.Sent/cur/2.M1P1.a:2,"
export B d
unshare -U -r sh -eu -c '
vg() { valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
       --error-exitcode=99 "$B" "$@"; }
echo pw | CLOUDSEAL_CONFIG=$d/a.conf "$B" enroll --password-stdin >/dev/null
echo pw | CLOUDSEAL_CONFIG=$d/a.conf vg archive sync --password-stdin >/dev/null
echo pw | CLOUDSEAL_CONFIG=$d/b.conf vg archive sync --dry-run --password-stdin >/dev/null
echo pw | CLOUDSEAL_CONFIG=$d/b.conf vg --json archive sync --password-stdin >/dev/null
CLOUDSEAL_CONFIG=$d/b.conf vg archive status --json >/dev/null
test -f "$d/b/Maildir/.Sent/cur/2.M1P1.a:2,"
' && echo "valgrind archive: ok"
