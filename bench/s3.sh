#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/s3.sh: cloudseal against restic, both to the same Ceph RGW (single
# node, memstore OSD of 4 GiB so that four 1 GiB repositories fit, on
# 127.0.0.1) in one run (issue 23, items 3 and 4).  Runs alternate between
# the tools (cloudseal first in odd runs, restic first in even ones); each
# run times init, the initial backup, a no-change backup and a full restore
# (verified against the source), and counts per phase, from RGW's own perf
# counters (no proxy in the way): requests, GETs, PUTs, bytes each way, and
# the CPU seconds of radosgw + ceph-osd beside the client's.  After the tools, each run
# times the restore's floor: fetching cloudseal's repository by plain GETs, and
# build/bench/write-floor making the tree (run_floors; s3_report.py prints the ratios).
#
#   bench/s3.sh [--wan MBIT DELAY_MS] [SIZE_MIB]
#
# SIZE_MIB defaults to 1024 (the dataset is made once by
# ../shared/bench/mkdata.py into /var/tmp/cloudseal-bench-ds-SIZE, or
# BENCH_DATA); BENCH_RUNS (2) runs.  --wan (bench/wan.sh): the tools run in
# a network namespace and reach RGW over a veth shaped with tc TBF to MBIT
# Mbit/s each way, through bench/delay_proxy.py adding DELAY_MS each way;
# the veth's byte counters give the bytes on the wire per phase, the delay
# proxy's request log (OUT/requests.log) the round trips made one after
# the other.
# Needs root (Ceph daemons, netns), ceph + restic installed, `make` done.
# Results: OUT/raw.tsv (one line per tool, run and phase), OUT/summary.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "${BENCH_SHARED:-$ROOT/../shared/bench}" && pwd)
WAN_MBIT= WAN_DELAY=
if [ "${1:-}" = --wan ]; then WAN_MBIT=$2 WAN_DELAY=$3; shift 3; fi
SIZE=${1:-${BENCH_SIZE_MIB:-1024}}
RUNS=${BENCH_RUNS:-2}
DATA=${BENCH_DATA:-/var/tmp/cloudseal-bench-ds-$SIZE}
CS=${CLOUDSEAL_BIN:-$ROOT/build/cloudseal}
S3DIR=$ROOT/tests/integration/s3
W=$(mktemp -d /var/tmp/cs-s3-bench.XXXXXX)
OUT=${BENCH_OUT:-$ROOT/build/bench/s3-$(date +%Y%m%d-%H%M%S)}
PW=bench-password-not-a-secret
NS=cs-bench-wan-$$ VETH=csw$$
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)

command -v restic >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q restic >/dev/null
[ -x "$CS" ] && [ -x "$ROOT/build/tests/s3tool" ] && [ -x "$ROOT/build/bench/write-floor" ] ||
  { echo "bench-s3: run make all bench-tools first" >&2; exit 2; }
[ -d "$DATA" ] || python3 "$SHARED/mkdata.py" --size-mib "$SIZE" "$DATA"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RGW_PORT=$(free_port)
DELAY_PID=
cleanup() {
  [ -n "$DELAY_PID" ] && kill "$DELAY_PID" 2>/dev/null
  if [ -n "$WAN_MBIT" ]; then ip link del "${VETH}a" 2>/dev/null; ip netns del "$NS" 2>/dev/null; fi
  CEPH_CONF=$W/ceph/ceph.conf "$S3DIR/ceph-down.sh" "$W/ceph" >/dev/null 2>&1
  CLOUDSEAL_CONFIG=$W/cs.conf "$CS" lock >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
export CEPH_CONF=$W/ceph/ceph.conf
CEPH_MEMSTORE_BYTES=$((4 << 30)) "$S3DIR/ceph-up.sh" "$W/ceph" "$RGW_PORT" >/dev/null
radosgw-admin user create --uid=bench --display-name=bench --access-key=BENCHACCESSKEY \
  --secret-key=benchSecretKey0123456789 >/dev/null
export AWS_ACCESS_KEY_ID=BENCHACCESSKEY AWS_SECRET_ACCESS_KEY=benchSecretKey0123456789
"$ROOT/build/tests/s3tool" "s3+http://127.0.0.1:$RGW_PORT/bench" mkbucket

# Where the tools connect, and how they are run.
ENDPOINT=127.0.0.1:$RGW_PORT
WRAP=()
if [ -n "$WAN_MBIT" ]; then
  # tools in $NS (10.231.0.2) --veth, TBF each way--> delay proxy (10.231.0.1) --> RGW (127.0.0.1)
  ip netns add "$NS"
  ip link add "${VETH}a" type veth peer name "${VETH}b"
  ip link set "${VETH}b" netns "$NS"
  ip addr add 10.231.0.1/30 dev "${VETH}a"; ip link set "${VETH}a" up
  ip -n "$NS" addr add 10.231.0.2/30 dev "${VETH}b"; ip -n "$NS" link set "${VETH}b" up
  ip -n "$NS" link set lo up
  # burst: what 200 Mbit/s sends in 2.5 ms (the minimum TBF accepts on a
  # 250 Hz kernel); limit: 50 ms of queue
  burst=$(( WAN_MBIT * 1000000 / 8 / 400 )); [ "$burst" -lt 16384 ] && burst=16384
  tc qdisc add dev "${VETH}a" root tbf rate "${WAN_MBIT}mbit" burst "$burst" latency 50ms
  tc -n "$NS" qdisc add dev "${VETH}b" root tbf rate "${WAN_MBIT}mbit" burst "$burst" latency 50ms
  DPORT=$(free_port)
  DELAY_PROXY_LOG=$OUT/requests.log python3 "$ROOT/bench/delay_proxy.py" 10.231.0.1 "$DPORT" "$RGW_PORT" \
    "$WAN_DELAY" > "$W/delay.log" 2>&1 &
  DELAY_PID=$!
  python3 "$ROOT/tests/integration/waits.py" poll 30 "the delay proxy" grep -q ready "$W/delay.log"
  ENDPOINT=10.231.0.1:$DPORT
  WRAP=(ip netns exec "$NS")
fi

cs_conf() { # RUN
  mkdir -p "$W/state-$1"
  printf '[storage]\nurl = s3+http://%s/bench/cs-%s\n[paths]\nstate_dir = %s/state-%s\n[kdf]\ntarget_time_ms = 1\nmemory = 8M\n[backup]\nexclude =\n' \
    "$ENDPOINT" "$1" "$W" "$1" > "$W/cs.conf"
}
cs() { env CLOUDSEAL_CONFIG="$W/cs.conf" "${WRAP[@]}" "$CS" "$@"; }
export RESTIC_PASSWORD=$PW

# Counters: RGW's requests and bytes, the Ceph daemons' CPU ticks, the veth's bytes.
counters() {
  local rgw osd
  rgw=$(cat "$W/ceph/run/rgw.a.fg.pid"); osd=$(cat "$W"/ceph/run/osd.*.fg.pid)
  ceph --admin-daemon "$W/ceph/run/client.rgw.a.asok" perf dump 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["rgw"]
print(d["req"], d["get"], d["get_b"], d["put"], d["put_b"], end=" ")'
  awk '{printf "%d ", $14 + $15}' "/proc/$rgw/stat" "/proc/$osd/stat"
  if [ -n "$WAN_MBIT" ]; then
    echo "$(cat /sys/class/net/${VETH}a/statistics/rx_bytes) $(cat /sys/class/net/${VETH}a/statistics/tx_bytes)"
  else
    echo "0 0"
  fi
}
printf 'tool\trun\tphase\twall_s\tuser_s\tsys_s\tmaxrss_kb\treq\tget\tget_b\tput\tput_b\trgw_ticks\tosd_ticks\twire_up\twire_down\tload1\tnote\n' > "$OUT/raw.tsv"
# measure TOOL PHASE ARGS...: of cloudseal or restic; any other TOOL (a floor) runs ARGS
# as the command, and its last line of output (the floor programs' key=value figures of
# their timed part, see s3_report.py) goes into the note column
measure() {
  local tool=$1 phase=$2 a b t cmd note=""; shift 2
  case $tool in
    cloudseal) cmd=(env CLOUDSEAL_CONFIG="$W/cs.conf" "${WRAP[@]}" "$CS");;
    restic) cmd=(env RESTIC_CACHE_DIR="$W/restic-cache-$RUN" "${WRAP[@]}" restic -r "s3:http://$ENDPOINT/bench/restic-$RUN");;
    *) cmd=("${WRAP[@]}");;
  esac
  a=$(counters)
  # the delay proxy's request log (--wan) between these lines is this phase's
  if [ -n "$WAN_MBIT" ]; then echo "phase $tool $RUN $phase" >> "$OUT/requests.log"; fi
  /usr/bin/time -f '%e %U %S %M' -o "$W/time" "${cmd[@]}" "$@" >> "$OUT/$tool-$RUN-$phase.log" 2>&1 \
    || { echo "bench-s3: $tool $phase failed, see $OUT/$tool-$RUN-$phase.log" >&2; exit 1; }
  b=$(counters); t=$(tail -1 "$W/time")
  case $tool in cloudseal|restic) ;; *) note=$(tail -1 "$OUT/$tool-$RUN-$phase.log");; esac
  if [ -n "$WAN_MBIT" ]; then echo "end" >> "$OUT/requests.log"; fi
  python3 - "$tool" "$RUN" "$phase" "$t" "$a" "$b" "$(cut -d' ' -f1 /proc/loadavg)" "$note" >> "$OUT/raw.tsv" <<'PY'
import sys
tool, run, phase, t, a, b, load, note = sys.argv[1:]
d = [int(y) - int(x) for x, y in zip(a.split(), b.split())]
print("\t".join([tool, run, phase, *t.split(), *map(str, d), load, note]))
PY
}

cd "$(dirname "$DATA")"
rel=$(basename "$DATA")
find "$rel" -type f -print0 | xargs -0 cat >/dev/null   # warm the page cache, for both tools alike

run_cloudseal() {
  cs_conf "$RUN"
  printf '%s\n' "$PW" | cs enroll --password-stdin --force >/dev/null 2>&1
  printf '%s\n' "$PW" | cs unlock --password-stdin >/dev/null 2>&1 || true
  measure cloudseal init init
  measure cloudseal backup backup "$rel"
  measure cloudseal nochange backup "$rel"
  measure cloudseal restore restore latest --target "$W/out"
  diff -r --no-dereference "$rel" "$W/out/$rel" >/dev/null 2>&1 || echo "WARNING: cloudseal restore $RUN differs" | tee -a "$OUT/summary.txt"
  cs lock >/dev/null 2>&1 || true
  rm -rf "$W/out"
}
run_restic() {
  measure restic init init
  measure restic backup backup "$rel"
  measure restic nochange backup "$rel"
  measure restic restore restore latest --target "$W/out"
  diff -r --no-dereference "$rel" "$W/out/$rel" >/dev/null 2>&1 || echo "WARNING: restic restore $RUN differs" | tee -a "$OUT/summary.txt"
  rm -rf "$W/out"
}
# The restore's floor (bench/README.md "The floor of a restore from RGW"), after both tools
# in each run: fetch = every object of this run's cloudseal repository by plain parallel
# GETs (s3tool fetch: as many threads as a restore's workers at most), bytes dropped, with
# RGW's and the OSD's CPU counted as for the tools; write = build/bench/write-floor making
# the dataset's files in the restore target's file system, right after a tool's restore
# was removed there as the second tool's restore meets it (it removes its own tree after).
run_floors() {
  measure fetch_floor restore "$ROOT/build/tests/s3tool" "s3+http://$ENDPOINT/bench/cs-$RUN" fetch
  measure write_floor restore "$ROOT/build/bench/write-floor" "$rel" "$W/out"
}
for RUN in $(seq 1 "$RUNS"); do
  if [ $((RUN % 2)) = 1 ]; then run_cloudseal; run_restic; else run_restic; run_cloudseal; fi
  run_floors
done

{ uptime; echo "dataset $rel ($(du -sm "$rel" | cut -f1) MiB), ${WAN_MBIT:+WAN $WAN_MBIT Mbit/s + ${WAN_DELAY} ms each way, }$RUNS runs"; } >> "$OUT/summary.txt"
python3 "$ROOT/bench/s3_report.py" "$OUT/raw.tsv" ${WAN_MBIT:+--wan "$WAN_MBIT" "$WAN_DELAY" "$OUT/requests.log"} \
  | tee -a "$OUT/summary.txt"
echo "results in $OUT"
