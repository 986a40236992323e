#!/bin/sh
# SPDX-License-Identifier: MIT
# cloudseal-agent under valgrind (memcheck, full leak check): start, find the
# key, create the repository and back up (jobs run as ordinary children),
# answer status, lock, stop on SIGTERM.  In a temporary
# directory and a private user namespace (its own keyring).
set -eu
O=${O:-build}
B=$(pwd)/$O
W=$(pwd)/tests/integration/waits.py
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/data" "$d/run" && chmod 700 "$d/run" && echo hello > "$d/data/f"
printf '[storage]\nurl = file://%s/storage\n[paths]\nstate_dir = %s/state\n[kdf]\nmemory = 8M\ntarget_time_ms = 1\n[backup]\npaths = %s/data\n[agent]\nrandomized_delay = 0\narchive_sync = no\nkeyring_poll = 1s\n' \
  "$d" "$d" "$d" > "$d/c.conf"
export CLOUDSEAL_CONFIG="$d/c.conf" XDG_RUNTIME_DIR="$d/run" XDG_STATE_HOME="$d/state-home" \
  XDG_CACHE_HOME="$d/cache" B d W
unshare -U -r sh -eu -c '
echo pw | "$B/cloudseal" enroll --password-stdin >/dev/null 2>&1
echo pw | "$B/cloudseal" unlock --password-stdin >/dev/null
valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  --error-exitcode=99 --log-file="$d/vg.log" "$B/cloudseal-agent" 2>"$d/agent.log" &
pid=$!
# the agent logs each finished backup; 300 s: a bound, under valgrind
WAITS_PID=$pid python3 "$W" text "$d/agent.log" "backup finished" 300 || { cat "$d/agent.log" "$d/vg.log"; exit 1; }
"$B/cloudseal" --json agent status | grep -q "\"name\":\"backup\"[^}]*\"last_result\":\"ok\""
"$B/cloudseal" status >/dev/null
"$B/cloudseal" agent lock >/dev/null
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ $rc -eq 0 ] || { cat "$d/vg.log" "$d/agent.log"; exit 1; }
' && echo "valgrind agent: ok"
