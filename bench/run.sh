#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make bench: the same dataset through cloudseal, restic and borg in one run, using the shared
# harness in ../shared/bench (anchors.sh + our adapter bench/cloudseal.sh), then the ratios to
# restic against the targets of issue 3, and a plain `cp -a` of the tree as the restore floor.
#
# Environment: BENCH_RUNS (default 1), BENCH_SIZE_MIB (default: mkdata's 1 GiB),
# BENCH_TOOLS (default "cloudseal restic borg_lz4"), BENCH_SHARED (default ../shared/bench),
# BENCH_DATA (dataset dir, made once), BENCH_WORK (scratch), BENCH_OUT (results dir).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "${BENCH_SHARED:-$ROOT/../shared/bench}" && pwd)
RUNS=${BENCH_RUNS:-1}
TOOLS=${BENCH_TOOLS:-"cloudseal restic borg_lz4"}
SIZE=${BENCH_SIZE_MIB:-}
DATA=${BENCH_DATA:-/var/tmp/cloudseal-bench-ds${SIZE:+-$SIZE}}
WORK=${BENCH_WORK:-/var/tmp/cloudseal-bench-work}
OUT=${BENCH_OUT:-$ROOT/build/bench/$(date +%Y%m%d-%H%M%S)}
export CLOUDSEAL_BIN=${CLOUDSEAL_BIN:-$ROOT/build/cloudseal}

need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: install ${need[*]} (needs root)" >&2; exit 2; }
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y "${need[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y "${need[@]}" >/dev/null; }
fi
[ -x "$CLOUDSEAL_BIN" ] || { echo "bench: build first (make)" >&2; exit 2; }
if [ ! -d "$DATA" ]; then
  echo "bench: generating the dataset in $DATA"
  python3 "$SHARED/mkdata.py" ${SIZE:+--size-mib "$SIZE"} "$DATA"
fi
mkdir -p "$OUT"
"$SHARED/anchors.sh" -r "$RUNS" -a "$ROOT/bench/cloudseal.sh" -t "$TOOLS" -w "$WORK" -o "$OUT" "$DATA"

# the restore floor: cp -a of the same tree, warm cache
rm -rf "$WORK/cpa"; find "$DATA" -type f -print0 | xargs -0 cat >/dev/null; sync
cp_s=$( { /usr/bin/time -f %e cp -a "$DATA" "$WORK/cpa" ; } 2>&1 | tail -1 )
rm -rf "$WORK/cpa"
python3 "$ROOT/bench/ratios.py" "$OUT" "$cp_s" | tee "$OUT/ratios.txt"
