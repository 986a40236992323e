#!/bin/sh
# SPDX-License-Identifier: MIT
# The backup repository under valgrind (memcheck, full leak check): the format
# and engine unit tests (threads included), and the CLI on a small tree
# (init, backup twice, snapshots, ls, diff, restore, check --read-data, forget --prune).
set -eu
O=${O:-build}
B=$(pwd)/$O/cloudseal
T=$(pwd)/$O/tests
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
vg() { valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
       --error-exitcode=99 "$@"; }
vg "$T/test_repo_format" >/dev/null
vg "$T/test_repo_engine" >/dev/null 2>&1
printf '[storage]\nurl = file://%s/storage\n[paths]\nstate_dir = %s/state\n[kdf]\nmemory = 8M\ntarget_time_ms = 1\n[backup]\ncache_dir = %s/cache\n' \
  "$d" "$d" "$d" > "$d/c.conf"
mkdir -p "$d/src/sub"
seq 1 100000 > "$d/src/sub/numbers"
head -c 1500000 /dev/urandom > "$d/src/random"
ln -s sub/numbers "$d/src/link"
export CLOUDSEAL_CONFIG="$d/c.conf"
echo pw | "$B" enroll --password-stdin >/dev/null
echo pw | vg "$B" init >/dev/null
echo pw | vg "$B" backup "$d/src" >/dev/null
echo more >> "$d/src/sub/numbers"
echo pw | vg "$B" --json backup "$d/src" >/dev/null
echo pw | vg "$B" snapshots --json >/dev/null
echo pw | vg "$B" ls -l latest >/dev/null
first=$(echo pw | "$B" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"][:8])')
echo pw | vg "$B" diff "$first" latest >/dev/null
echo pw | vg "$B" restore latest --target "$d/out" >/dev/null
cmp "$d/src/random" "$d/out$d/src/random"
echo pw | vg "$B" check --read-data >/dev/null
echo pw | vg "$B" forget --keep-last 1 --prune >/dev/null
echo pw | vg "$B" stats >/dev/null
echo "valgrind repo: ok"
