#!/bin/sh
# SPDX-License-Identifier: MIT
# The key commands under valgrind (memcheck, full leak check): enroll,
# keybag dump, lock, unlock, passwd, recover, status, with the cheapest KDF,
# in a temporary directory and a private user namespace (its own keyring).
set -eu
O=${O:-build}
B=$(pwd)/$O/cloudseal
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
printf '[storage]\nurl = file://%s/storage\n[paths]\nstate_dir = %s/state\n[kdf]\nmemory = 8M\ntarget_time_ms = 1\n' \
  "$d" "$d" > "$d/c.conf"
export CLOUDSEAL_CONFIG="$d/c.conf" B d
unshare -U -r sh -eu -c '
vg() { valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
       --error-exitcode=99 "$B" "$@"; }
echo pw1 | vg enroll --password-stdin > "$d/enroll.out"
code=$(grep -Eo "[0-9A-Z]{4}(-[0-9A-Z]{4}){13}" "$d/enroll.out")
vg keybag dump --json >/dev/null
vg lock >/dev/null
echo pw1 | vg unlock --password-stdin >/dev/null
printf "wrong\n" | vg unlock --password-stdin >/dev/null 2>&1 && exit 1 || [ $? -eq 3 ]
printf "pw1\npw2\n" | vg passwd --password-stdin >/dev/null
printf "%s\npw3\n" "$code" | vg recover --password-stdin >/dev/null
vg status --json >/dev/null 2>&1
' && echo "valgrind keys: ok"
