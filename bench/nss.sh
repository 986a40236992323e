#!/bin/sh
# SPDX-License-Identifier: MIT
# NSS benchmark (make bench-nss): getpwnam / getpwuid / getgrnam latency with
# 10, 10 000 and 100 000 users, nss_files holding the same entries vs the
# cloudseal cache, each in a private mount namespace (bind-mounted
# nsswitch.conf, passwd, group; tmpfs /var/lib/cloudseal; host untouched);
# then the wall time of one directory sync (fetch, verify, validate, compile,
# install) of the 100 000-user directory.  Targets (issue 6): >= 50x faster
# than files at 100 000 users, not slower at 10, sync <= 1 s.
#
# Environment: NSS_BENCH_SIZES (default "10 10000 100000"),
# NSS_BENCH_SECONDS (time per call type and setup, default 0.5), O (build dir).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/${O:-build}
SIZES=${NSS_BENCH_SIZES:-"10 10000 100000"}
SECS=${NSS_BENCH_SECONDS:-0.5}
[ "$(id -u)" = 0 ] || { echo "bench-nss: needs root (unshare -m)" >&2; exit 2; }
for f in cloudseal cloudseal-helper libnss_cloudseal.so.2 tests/fleet/fleet-tool bench/nss-bench; do
  [ -e "$B/$f" ] || { echo "bench-nss: $B/$f missing: make all bench-nss" >&2; exit 2; }
done
d=$(mktemp -d /var/tmp/cs-nss-bench.XXXXXX)
trap 'rm -rf "$d"' EXIT
T=$B/tests/fleet/fleet-tool

run_ns() { # NSSWITCH_SOURCE PASSWD GROUP CACHE LABEL N
  printf 'passwd: %s\ngroup: %s\n' "$1" "$1" > "$d/nsswitch.conf"
  unshare -m sh -eu -c '
    mount --make-rprivate /
    mount --bind "$0/nsswitch.conf" /etc/nsswitch.conf
    mount --bind "$1" /etc/passwd
    mount --bind "$2" /etc/group
    mount -t tmpfs -o mode=755 tmpfs /var/lib
    mkdir /var/lib/cloudseal
    cp "$3" /var/lib/cloudseal/directory.cache
    LD_LIBRARY_PATH="$4" "$4/bench/nss-bench" "$5" "$6" "$7"
  ' "$d" "$2" "$3" "$4" "$B" "$5" "$6" "$SECS"
}

echo "# setup call users ns/lookup lookups" > "$d/results"
for n in $SIZES; do
  "$T" gen-source "$d/src.json" "$n"
  "$T" mkcache "$d/src.json" "$d/cache"
  "$T" mkfiles "$d/src.json" "$d/passwd" "$d/group"
  run_ns files "$d/passwd" "$d/group" "$d/cache" files "$n" >> "$d/results"
  # cloudseal alone, and behind the host's own (small) passwd/group files
  run_ns cloudseal /etc/passwd /etc/group "$d/cache" cloudseal "$n" >> "$d/results"
  run_ns "files cloudseal" /etc/passwd /etc/group "$d/cache" files+cloudseal "$n" >> "$d/results"
done
cat "$d/results"

echo
echo "speed-up of cloudseal over nss_files (files ns / cloudseal ns):"
awk '!/^#/ { ns[$1" "$2" "$3] = $4; k[$2" "$3] = 1 }
     END { for (x in k) { split(x, a, " ");
             printf "  %-9s %7s users: %8.1fx  (files+cloudseal: %.1fx)\n", a[1], a[2],
               ns["files "x] / ns["cloudseal "x], ns["files "x] / ns["files+cloudseal "x] } }' \
  "$d/results" | sort -k2,2n -k1,1

# one sync of the largest directory through the real pipeline
n=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)
"$T" gen-source "$d/src.json" "$n"
mkdir -p "$d/storage/fleet" "$d/ws"
( cd "$d" && "$B/cloudseal" admin keygen >/dev/null )
"$T" sign "$d/src.json" "$d/fleet.key" "$d/storage/fleet/directory" 1 86400
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$d/ws/passwd"; printf 'root:x:0:\n' > "$d/ws/group"
cat > "$d/ws.conf" <<EOC
[storage]
url = file://$d/storage
[fleet]
public_key_file = $d/fleet.pub
cache = $d/ws/directory.cache
state = $d/ws/directory.state
local_passwd = /etc/passwd
local_group = /etc/group
EOC
echo
echo "directory sync of $n users ($(du -h "$d/storage/fleet/directory" | cut -f1) signed, cache $(
  "$T" sync "$d/ws.conf" >"$d/sync.out" && du -h "$d/ws/directory.cache" | cut -f1)):"
sed 's/^/  /' "$d/sync.out"
