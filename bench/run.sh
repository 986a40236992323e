#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make bench: each dataset through cloudseal, restic and borg in one run, using the shared
# harness in ../shared/bench (anchors.sh + our adapter bench/cloudseal.sh), then the floors of
# the same tree on the same machine state (warm stat walk, warm read of every byte, the
# engine's per-byte work (bench/engine_floor.c, 4 variants), `cp -a`, the least work of a
# restore (bench/write_floor.c)) and bench/ratios.py's table against the targets of issue 23.
#
# Datasets (BENCH_DATASETS, default "synthetic real 1m"), each made once under /var/tmp:
#   synthetic  ../shared/bench/mkdata.py's 1 GiB home (its own mutate.py for the day of changes)
#   real       bench/mkreal.sh: a copy of /usr/share and /usr/include (~1 GB, ~73 k files)
#   1m         bench/mktree.py: 1 000 000 small files in a deep hierarchy (~0.9 GB)
# real and 1m get their day of changes from bench/mutate_tree.py (any tree).
#
# Environment: BENCH_RUNS (default 1), BENCH_DATASETS, BENCH_TOOLS (default "cloudseal
# write_floor cp_a restic borg_lz4"; write_floor and cp_a are the restore's floor and `cp -a`
# as pseudo-tools of bench/cloudseal.sh, timed in the state the tools' restores meet;
# BENCH_TOOLS_1M for the 1m set, default "cloudseal restic": without borg, which takes ~10 min
# per backup of 1 M files here, and without cp_a, minutes per run there (add it to time
# "restore / cp -a" in the restores' state; else ratios.py uses floors()' cp_a),
# BENCH_SIZE_MIB (synthetic size), BENCH_SHARED (default
# ../shared/bench), BENCH_DATA (synthetic dataset dir), BENCH_WORK (scratch), BENCH_OUT.
# Add cloudseal_1cpu to BENCH_TOOLS for the scaling figure (the same run pinned to one core).
# BENCH_FLOORS (default "read_all engine cp_a write_all") chooses the floors besides the stat
# walk; BENCH_FLOORS_ONLY=1 skips the tools (the floors alone, e.g. after changing them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "${BENCH_SHARED:-$ROOT/../shared/bench}" && pwd)
RUNS=${BENCH_RUNS:-1}
DATASETS=${BENCH_DATASETS:-"synthetic real 1m"}
TOOLS=${BENCH_TOOLS:-"cloudseal write_floor cp_a restic borg_lz4"}
TOOLS_1M=${BENCH_TOOLS_1M:-"cloudseal restic"}
# the floors besides the stat walk (always timed), all by default
FLOORS=${BENCH_FLOORS-"read_all engine cp_a write_all"}
SIZE=${BENCH_SIZE_MIB:-}
WORK=${BENCH_WORK:-/var/tmp/cloudseal-bench-work}
OUT=${BENCH_OUT:-$ROOT/build/bench/$(date +%Y%m%d-%H%M%S)}
export CLOUDSEAL_BIN=${CLOUDSEAL_BIN:-$ROOT/build/cloudseal}
export BENCH_FLOOR_BIN=${BENCH_FLOOR_BIN:-$(dirname "$CLOUDSEAL_BIN")/bench}  # make bench-tools
FLOOR_BIN=$BENCH_FLOOR_BIN

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
case " $FLOORS $TOOLS " in *" engine "*|*" write_all "*|*" write_floor "*)
  [ -x "$FLOOR_BIN/engine-floor" ] && [ -x "$FLOOR_BIN/write-floor" ] ||
    { echo "bench: build the floor programs first (make bench-tools)" >&2; exit 2; };; esac

dataset_dir() {
  case $1 in
    synthetic) echo "${BENCH_DATA:-/var/tmp/cloudseal-bench-ds${SIZE:+-$SIZE}}" ;;
    real) echo /var/tmp/cloudseal-bench-real ;;
    1m) echo /var/tmp/cloudseal-bench-1m ;;
    *) echo "bench: unknown dataset $1 (synthetic, real, 1m)" >&2; exit 2 ;;
  esac
}

make_dataset() { # NAME DIR
  [ ! -d "$2" ] || return 0
  echo "bench: generating the $1 dataset in $2"
  case $1 in
    synthetic) python3 "$SHARED/mkdata.py" ${SIZE:+--size-mib "$SIZE"} "$2" ;;
    real) "$ROOT/bench/mkreal.sh" "$2" ;;
    1m) python3 "$ROOT/bench/mktree.py" "$2" ;;
  esac
}

# harness NAME -> a directory with anchors.sh whose mutate.py fits the dataset: the shared
# mutate.py knows only mkdata.py's layout, so other trees get mutate_tree.py in its place
harness() {
  if [ "$1" = synthetic ]; then echo "$SHARED"; return; fi
  local h=$WORK/harness
  rm -rf "$h"; mkdir -p "$h"
  for f in "$SHARED"/*; do ln -s "$f" "$h/"; done
  rm -f "$h/mutate.py"; ln -s "$ROOT/bench/mutate_tree.py" "$h/mutate.py"
  echo "$h"
}


# floor NAME RUN CMD...: one row of floors.tsv, CPU (user+sys) and wall from GNU time; the
# floor programs (bench/engine_floor.c, bench/write_floor.c) print their own figures, which
# exclude their untimed set-up (the file list, the dictionary, the removal): those are taken
# instead, and their whole line goes into the note column
floor() {
  local name=$1 r=$2 t out=/dev/null line="" wall cpu
  shift 2
  t=$(mktemp)
  # other commands' output goes straight to /dev/null, as find's did before (a pipe costs)
  case $1 in "$FLOOR_BIN"/*) out=$t.out;; esac
  # a floor that fails is reported and left out: the tools' runs before it still count
  /usr/bin/time -f '%e %U %S' -o "$t" "$@" >"$out" ||
    { rm -f "$t" "$t.out"; echo "bench: floor $name failed" >&2; return 0; }
  wall=$(awk '{print $1}' "$t"); cpu=$(awk '{printf "%.2f", $2 + $3}' "$t")
  [ "$out" = /dev/null ] || line=$(tail -1 "$out")
  case $line in *wall_s=*cpu_s=*)
    wall=$(sed 's/.* wall_s=\([^ ]*\).*/\1/' <<<"$line"); cpu=$(sed 's/.* cpu_s=\([^ ]*\).*/\1/' <<<"$line");; esac
  echo -e "$name\t$r\t$wall\t$cpu\t$(cut -d' ' -f1 /proc/loadavg)\t$line" >>"$o/floors.tsv"
  rm -f "$t" "$t.out"
}
has_floor() { case " $FLOORS " in *" $1 "*) return 0;; esac; return 1; }

# floors DIR OUTDIR: the same tree's floors, RUNS times each, every run in floors.tsv
floors() {
  local d=$1 o=$2 r
  echo -e "floor\trun\twall_s\tcpu_s\tloadavg1\tnote" >"$o/floors.tsv"
  find "$d" -type f -print0 | xargs -0 cat >/dev/null; sync
  for r in $(seq 1 "$RUNS"); do
    find "$d" -printf '%s %T@ %i %m\n' >/dev/null  # warm the dentries and inodes
    floor stat_walk "$r" find "$d" -printf '%s %T@ %i %m\n'
    ! has_floor read_all || floor read_all "$r" sh -c 'find "$1" -type f -print0 | xargs -0 cat >/dev/null' sh "$d"
    if has_floor engine; then  # the initial backup's floor: the engine's per-byte work, warm cache
      floor engine "$r" "$FLOOR_BIN/engine-floor" "$d"
      floor engine_openssl "$r" "$FLOOR_BIN/engine-floor" --hash openssl "$d"
      floor engine_dict "$r" "$FLOOR_BIN/engine-floor" --dict "$d"
      floor engine_both "$r" "$FLOOR_BIN/engine-floor" --hash openssl --dict "$d"
    fi
    # cp -a and the restore's floor meet the file system as the harness's `cp -a` of the
    # dataset and a tool's restore do: after the previous run removed two trees (journal-less
    # ext4 skips recently freed inodes), and the restore after the copy; the write floor
    # removes its tree itself (untimed, with rm -rf), then the copy goes, as the harness
    # removes a run's data and restore
    rm -rf "$WORK/cpa" "$WORK/write_all"; sync
    ! has_floor cp_a || floor cp_a "$r" cp -a "$d" "$WORK/cpa"
    ! has_floor write_all || floor write_all "$r" "$FLOOR_BIN/write-floor" "$d" "$WORK/write_all"
    rm -rf "$WORK/cpa"; sync
  done
}

for ds in $DATASETS; do
  data=$(dataset_dir "$ds")
  make_dataset "$ds" "$data"
  o=$OUT/$ds
  mkdir -p "$o"
  t=$TOOLS; [ "$ds" != 1m ] || t=${BENCH_TOOLS_1M:-$TOOLS_1M}
  [ "${BENCH_FLOORS_ONLY:-0}" != 1 ] || t="none (BENCH_FLOORS_ONLY)"
  echo "bench: $ds ($data), tools: $t, runs: $RUNS, load: $(uptime)" | tee "$o/load.txt"
  [ "${BENCH_FLOORS_ONLY:-0}" = 1 ] ||
    "$(harness "$ds")/anchors.sh" -r "$RUNS" -a "$ROOT/bench/cloudseal.sh" -t "$t" -w "$WORK" -o "$o" "$data"
  floors "$data" "$o"
  echo "after: $(uptime)" >>"$o/load.txt"
  python3 "$ROOT/bench/ratios.py" "$o" "$ds" | tee "$o/ratios.txt"
done
