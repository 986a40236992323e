#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/s3.sh: cloudseal against restic, backing up the bench dataset to the
# same Ceph RGW (single node, memstore, on 127.0.0.1) in one run (issue 4,
# item 5).  For each tool: the wall time of init + backup + restore straight
# to radosgw, then the same backup again through a counting proxy
# (tests/integration/s3/fault_proxy.py with no faults) for the number of
# requests and the bytes sent.  Target: cloudseal <= 0.5 x restic's wall time.
#
#   bench/s3.sh [SIZE_MIB]      (default 200; the dataset is made once by
#                                ../shared/bench/mkdata.py into /var/tmp)
# Needs root (Ceph daemons), ceph + restic installed (scripts/install-deps.sh
# check; restic is installed here if missing), `make` done.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "${BENCH_SHARED:-$ROOT/../shared/bench}" && pwd)
SIZE=${1:-${BENCH_SIZE_MIB:-200}}
DATA=${BENCH_DATA:-/var/tmp/cloudseal-bench-ds-$SIZE}
CS=${CLOUDSEAL_BIN:-$ROOT/build/cloudseal}
S3DIR=$ROOT/tests/integration/s3
W=$(mktemp -d /var/tmp/cs-s3-bench.XXXXXX)
OUT=${BENCH_OUT:-$ROOT/build/bench/s3-$(date +%Y%m%d-%H%M%S)}
PW=bench-password-not-a-secret
mkdir -p "$OUT"

command -v restic >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q restic >/dev/null
[ -x "$CS" ] && [ -x "$ROOT/build/tests/s3tool" ] || { echo "bench-s3: run make first" >&2; exit 2; }
[ -d "$DATA" ] || python3 "$SHARED/mkdata.py" --size-mib "$SIZE" "$DATA"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RGW_PORT=$(free_port); PROXY_PORT=$(free_port)
PROXY_PID=
cleanup() {
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
  CEPH_CONF=$W/ceph/ceph.conf "$S3DIR/ceph-down.sh" "$W/ceph" >/dev/null 2>&1
  CLOUDSEAL_CONFIG=$W/cs.conf "$CS" lock >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
export CEPH_CONF=$W/ceph/ceph.conf
"$S3DIR/ceph-up.sh" "$W/ceph" "$RGW_PORT" >/dev/null
radosgw-admin user create --uid=bench --display-name=bench --access-key=BENCHACCESSKEY \
  --secret-key=benchSecretKey0123456789 >/dev/null
export AWS_ACCESS_KEY_ID=BENCHACCESSKEY AWS_SECRET_ACCESS_KEY=benchSecretKey0123456789
python3 "$S3DIR/fault_proxy.py" "$PROXY_PORT" "$RGW_PORT" --error 0 --reset 0 --truncate 0 --latency 0 \
  >/dev/null 2>&1 & PROXY_PID=$!
for b in cs-direct cs-counted restic-direct restic-counted; do
  "$ROOT/build/tests/s3tool" "s3+http://127.0.0.1:$RGW_PORT/$b" mkbucket
done
stats() { curl -s "http://127.0.0.1:$PROXY_PORT/__proxy_stats"; }
now() { date +%s.%N; }

cs_conf() { # URL
  mkdir -p "$W/state"
  printf '[storage]\nurl = %s\n[paths]\nstate_dir = %s/state\n[kdf]\ntarget_time_ms = 1\nmemory = 8M\n[backup]\nexclude =\n' \
    "$1" "$W" > "$W/cs.conf"
}
cs() { CLOUDSEAL_CONFIG=$W/cs.conf "$CS" "$@"; }

cd "$(dirname "$DATA")"
rel=$(basename "$DATA")
# warm the page cache once, for both tools alike
find "$rel" -type f -print0 | xargs -0 cat >/dev/null

# --- cloudseal ---
cs_conf "s3+http://127.0.0.1:$RGW_PORT/cs-direct/fleet"
printf '%s\n' "$PW" | cs enroll --password-stdin --force >/dev/null 2>&1
printf '%s\n' "$PW" | cs unlock --password-stdin >/dev/null 2>&1 || true
t0=$(now); cs init >/dev/null 2>&1; cs backup --no-cache "$rel" >/dev/null 2>"$OUT/cs-backup.log"; t1=$(now)
cs restore latest --target "$W/cs-restore" >/dev/null 2>"$OUT/cs-restore.log"; t2=$(now)
diff -r --no-dereference "$rel" "$W/cs-restore/$rel" >/dev/null 2>&1 || echo "WARNING: cloudseal restore differs" | tee -a "$OUT/summary.txt"
cs_conf "s3+http://127.0.0.1:$PROXY_PORT/cs-counted/fleet"
s0=$(stats); cs init >/dev/null 2>&1; cs backup --no-cache "$rel" >/dev/null 2>&1; s1=$(stats)
cs_backup=$(echo "$t1 - $t0" | bc); cs_restore=$(echo "$t2 - $t1" | bc)
echo "cloudseal $cs_backup $cs_restore $s0 $s1" > "$OUT/cs.raw"

# --- restic ---
export RESTIC_PASSWORD=$PW RESTIC_CACHE_DIR=$W/restic-cache
t0=$(now)
restic -r "s3:http://127.0.0.1:$RGW_PORT/restic-direct/repo" init >/dev/null
restic -r "s3:http://127.0.0.1:$RGW_PORT/restic-direct/repo" backup --no-cache "$rel" >/dev/null 2>"$OUT/restic-backup.log"
t1=$(now)
restic -r "s3:http://127.0.0.1:$RGW_PORT/restic-direct/repo" restore latest --target "$W/restic-restore" >/dev/null 2>"$OUT/restic-restore.log"
t2=$(now)
s2=$(stats)
restic -r "s3:http://127.0.0.1:$PROXY_PORT/restic-counted/repo" init >/dev/null
restic -r "s3:http://127.0.0.1:$PROXY_PORT/restic-counted/repo" backup --no-cache "$rel" >/dev/null 2>&1
s3=$(stats)
r_backup=$(echo "$t1 - $t0" | bc); r_restore=$(echo "$t2 - $t1" | bc)

python3 - "$cs_backup" "$cs_restore" "$s0" "$s1" "$r_backup" "$r_restore" "$s2" "$s3" "$SIZE" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
cb, cr, s0, s1, rb, rr, s2, s3, size = sys.argv[1:]
s0, s1, s2, s3 = map(json.loads, (s0, s1, s2, s3))
d = lambda a, b, k: b[k] - a[k]
print(f"S3 benchmark on Ceph RGW (memstore, 127.0.0.1), dataset {size} MiB, warm cache")
print(f"{'tool':10} {'init+backup s':>14} {'restore s':>10} {'requests':>9} {'MiB sent':>9}")
print(f"{'cloudseal':10} {float(cb):14.2f} {float(cr):10.2f} {d(s0,s1,'requests'):9d} {d(s0,s1,'bytes_up')/2**20:9.1f}")
print(f"{'restic':10} {float(rb):14.2f} {float(rr):10.2f} {d(s2,s3,'requests'):9d} {d(s2,s3,'bytes_up')/2**20:9.1f}")
ratio = float(cb) / float(rb)
print(f"backup wall time ratio cloudseal/restic = {ratio:.2f} (target <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})")
PY
echo "results in $OUT"
