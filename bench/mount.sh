#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/mount.sh: cloudseal mount against restic mount, same data, same run
# (issue 22, item 5).  Both repositories are on the local disk (file://).
#   - sequential read of a 1 GiB file through the mount (a fresh mount:
#     "cold"; the same file again: "warm") vs `cloudseal restore` of it
#     and vs restic mount reading it
#   - `find . -type f | wc -l` over a 70k-file snapshot through each mount
#   - time from starting the mount to the first successful `ls` of the snapshot
#   - peak RSS (VmHWM) of each mount process after walking the snapshot
# Targets: read >= 0.7 x restore throughput and >= 1.5 x restic mount;
# walk <= 0.5 x restic mount's time.
#   bench/mount.sh [FILES]     (default 70000)
# Needs root or a user with fuse3; restic is installed here if missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=${1:-70000}
CS=${CLOUDSEAL_BIN:-$ROOT/build/cloudseal}
W=$(mktemp -d /var/tmp/cs-mount-bench.XXXXXX)
OUT=${BENCH_OUT:-$ROOT/build/bench/mount-$(date +%Y%m%d-%H%M%S)}
PW=bench-password-not-a-secret
mkdir -p "$OUT"
command -v restic >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q restic >/dev/null
[ -x "$CS" ] || { echo "bench-mount: run make first" >&2; exit 2; }

MPIDS=()
cleanup() {
  for m in "$W/csmnt" "$W/rmnt"; do mountpoint -q "$m" && fusermount3 -u -z "$m"; done
  for p in "${MPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
wait_mounted() { # MOUNTPOINT PID: a mount point, or the mount process died
  until mountpoint -q "$1"; do kill -0 "$2" 2>/dev/null || { echo "mount of $1 failed" >&2; exit 1; }; sleep 0.01; done
}
hwm() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

DATA=$W/data
mkdir -p "$DATA/tree"
head -c $((1 << 30)) /dev/urandom > "$DATA/big.bin"
python3 - "$DATA/tree" "$FILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:03d}", f"e{(i // 100) % 10}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:06d}.txt"), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(10, 2000)))
PY

# cloudseal: enrolled with a cheap KDF, the password on stdin
mkdir -p "$W/home" "$W/state" "$W/csmnt" "$W/rmnt"
printf '[storage]\nurl = file://%s/cs-repo\n[paths]\nstate_dir = %s/state\n[kdf]\ntarget_time_ms = 1\nmemory = 8M\n[backup]\nexclude =\n' \
  "$W" "$W" > "$W/cs.conf"
export CLOUDSEAL_CONFIG=$W/cs.conf HOME=$W/home XDG_CACHE_HOME=$W/cache
cs() { echo "$PW" | "$CS" "$@"; }
cs enroll --password-stdin >/dev/null 2>&1
cs init >/dev/null 2>&1
cs backup "$DATA" >/dev/null 2>&1
export RESTIC_REPOSITORY=$W/restic-repo RESTIC_PASSWORD=$PW RESTIC_CACHE_DIR=$W/restic-cache
restic init -q >/dev/null
restic backup -q "$DATA" >/dev/null
REL=${DATA#/}

t=$(now); cs restore latest --target "$W/restored" --include "$DATA/big.bin" >/dev/null 2>&1; restore_s=$(since "$t")
cmp "$W/restored/$REL/big.bin" "$DATA/big.bin"
rm -rf "$W/restored"

measure() { # NAME MOUNTPOINT PID SNAPDIR
  local t first read_cold read_warm walk_cold walk_warm n
  until ls "$4/$REL" >/dev/null 2>&1; do kill -0 "$3" || exit 1; done; first=$(since "$t0")
  t=$(now); dd if="$4/$REL/big.bin" of=/dev/null bs=1M status=none; read_cold=$(since "$t")
  t=$(now); dd if="$4/$REL/big.bin" of=/dev/null bs=1M status=none; read_warm=$(since "$t")
  t=$(now); n=$(cd "$4/$REL/tree" && find . -type f | wc -l); walk_cold=$(since "$t")
  [ "$n" = "$FILES" ] || { echo "$1 found $n files, not $FILES" >&2; exit 1; }
  t=$(now); (cd "$4/$REL/tree" && find . -type f | wc -l) >/dev/null; walk_warm=$(since "$t")
  echo "$1 $first $read_cold $read_warm $walk_cold $walk_warm $(hwm "$3")"
}

t0=$(now)
"$CS" mount "$W/csmnt" <<<"$PW" 2>"$OUT/cs-mount.log" & CSPID=$!; MPIDS+=("$CSPID")
wait_mounted "$W/csmnt" "$CSPID"
cs_line=$(measure cloudseal "$W/csmnt" "$CSPID" "$W/csmnt/snapshots/latest")
fusermount3 -u "$W/csmnt"

t0=$(now)
restic mount -q "$W/rmnt" >"$OUT/restic-mount.log" 2>&1 & RPID=$!; MPIDS+=("$RPID")
wait_mounted "$W/rmnt" "$RPID"
r_line=$(measure restic "$W/rmnt" "$RPID" "$W/rmnt/snapshots/latest")
fusermount3 -u "$W/rmnt"

python3 - "$restore_s" "$cs_line" "$r_line" <<'PY' | tee "$OUT/mount.md"
import sys
restore = float(sys.argv[1])
cols = ["first ls s", "1 GiB read cold s", "read warm s", "walk cold s", "walk warm s", "peak RSS MiB"]
rows = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in sys.argv[2:]}
c, r = rows["cloudseal"], rows["restic"]
print("| | " + " | ".join(cols) + " |")
print("|---" * (len(cols) + 1) + "|")
for name, v in rows.items():
    print(f"| {name} mount | " + " | ".join(f"{x:g}" for x in v) + " |")
print(f"| cloudseal restore of the file | | {restore:.3f} | | | | |")
mib = 1024
print()
print(f"read through the mount / restore throughput (cold): {restore / c[1]:.2f} (target >= 0.70)")
print(f"read through the mount / restic mount throughput (cold): {r[1] / c[1]:.2f} (target >= 1.5)")
print(f"walk time / restic mount's (cold): {c[3] / r[3]:.2f} (target <= 0.5)")
PY
echo "results in $OUT"
