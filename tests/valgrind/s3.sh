#!/bin/sh
# SPDX-License-Identifier: MIT
# The s3 backend under valgrind (memcheck, full leak check), through the
# s3tool driver: hostile listings from tests/integration/s3/hostile_s3.py
# (malformed, looping, endless) and an unreachable host; then, with s3rver
# (installed into tests/.cache/npm; a failed install fails this), put,
# conditional get, a refused immutable put, and 4 threads putting, listing
# and reading back 12 objects.
set -eu
O=${O:-build}
T=$(pwd)/$O/tests/s3tool
H=$(pwd)/tests/integration/s3/hostile_s3.py
S3RVER=$(pwd)/tests/.cache/npm/node_modules/.bin/s3rver
d=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$d"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# no event tells us a server started listening: polled (waits.py poll)
wait_port() { python3 "$(pwd)/tests/integration/waits.py" poll 10 "port $1" python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; }
vg() { valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
       --error-exitcode=99 "$T" "$@"; }
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
printf '[storage]\nmax_retries = 1\nretry_time = 2s\nlist_max_keys = 2500\n' > "$d/c.conf"

hp=$(port); python3 "$H" "$hp" >/dev/null 2>&1 & pids="$pids $!"
wait_port "$hp" || { echo "valgrind s3: hostile_s3.py did not start"; exit 1; }
for mode in malformed loop-same many-keys; do
  rc=0; vg --config "$d/c.conf" "s3+http://127.0.0.1:$hp/$mode" list dir/ >/dev/null 2>"$d/err" || rc=$?
  [ "$rc" -eq 1 ] || { echo "valgrind s3: $mode exited $rc"; cat "$d/err"; exit 1; }
done
rc=0; vg --config "$d/c.conf" "s3+http://127.0.0.1:$(port)/nobucket" list >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { echo "valgrind s3: unreachable exited $rc"; exit 1; }

# the integration tests install s3rver too; make check runs valgrind first
if [ ! -x "$S3RVER" ]; then
  command -v npm >/dev/null || { echo "valgrind s3: npm missing: run make deps"; exit 1; }
  npm install --no-audit --no-fund --prefix "$(pwd)/tests/.cache/npm" s3rver@3 >"$d/npm.log" 2>&1 ||
    { tail -20 "$d/npm.log"; echo "valgrind s3: npm install s3rver@3 failed"; exit 1; }
fi
{
  sp=$(port)
  NODE_OPTIONS=--openssl-legacy-provider "$S3RVER" -d "$d/s3" -a 127.0.0.1 -p "$sp" --no-vhost-buckets --silent \
    >/dev/null 2>&1 & pids="$pids $!"
  wait_port "$sp" || { echo "valgrind s3: s3rver did not start"; exit 1; }
  U="s3+http://127.0.0.1:$sp/vg-bucket/p"
  vg "$U" mkbucket
  echo data | vg "$U" put a/b
  etag=$("$T" "$U" stat a/b | cut -d' ' -f2)
  vg "$U" getif a/b "$etag" >/dev/null
  # refused: s3tool exits 1; valgrind's 99 (or anything else) is a failure
  rc=0; echo x | vg "$U" put a/b --immutable 2>"$d/err" || rc=$?
  [ "$rc" -eq 1 ] || { echo "valgrind s3: immutable put over an object exited $rc"; cat "$d/err"; exit 1; }
  vg "$U" stress 12 3000 4 >/dev/null 2>"$d/err" || { cat "$d/err"; exit 1; }
}
echo "valgrind s3: ok"
