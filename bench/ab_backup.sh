#!/bin/bash
# SPDX-License-Identifier: MIT
# ab_backup.sh DATASET TAG ROUNDS BIN...: an A/B of initial backups without the chunker's noise.
# One repository is initialised once; each binary backs up into a fresh copy of it (same keys,
# same cut points), alternating, ROUNDS times; one line per run: CPU-s, peak RSS, repository
# bytes, load.  PATHS= names what to back up (default: the top-level entries), PIN=1 pins to
# core 0, CS_DEBUG=1 prints the workers' --debug lines.  Work dir: $AB_WORK (/var/tmp/cloudseal-ab).
set -u
DS=$1; TAG=$2; ROUNDS=$3; shift 3
W=${AB_WORK:-/var/tmp/cloudseal-ab}/$TAG
rm -rf "$W"; mkdir -p "$W"
# the benchmark's own configuration (bench/cloudseal.sh): state and file cache under $W
CACHE=$W . "$(dirname "$0")/cloudseal.sh"
CACHE=$W _cs_conf "$W/repo"
export CLOUDSEAL_CONFIG=$W/cloudseal.conf
B0=$1
printf 'pw-not-secret\n' | $B0 enroll --password-stdin --force >/dev/null 2>&1 || { echo enroll failed; exit 1; }
printf 'pw-not-secret\n' | $B0 unlock --password-stdin >/dev/null || { echo unlock failed; exit 1; }
$B0 init </dev/null >/dev/null || { echo init failed; exit 1; }
cp -a "$W/repo" "$W/repo.empty"
cd "$DS"
for r in $(seq $ROUNDS); do
  for BIN in "$@"; do
    rm -rf "$W/repo" "$W/files"; cp -a "$W/repo.empty" "$W/repo"
    /usr/bin/time -v -o "$W/time" ${PIN:+taskset -c 0} $BIN ${CS_DEBUG:+--debug} backup --host bench --tag b1 ${PATHS:-*} </dev/null >"$W/out" 2>&1
    rc=$?
    u=$(awk -F': ' '/User time/{print $2}' $W/time); s=$(awk -F': ' '/System time/{print $2}' $W/time)
    wall=$(awk '/Elapsed/{print $NF}' $W/time); rss=$(awk -F': ' '/Maximum resident/{print $2}' $W/time)
    repo=$(du -sb "$W/repo" | cut -f1)
    echo "$(basename $BIN) rc=$rc wall=$wall user=$u sys=$s cpu=$(echo "$u + $s" | bc) rss=$rss repo=$repo load=$(cut -d' ' -f1 /proc/loadavg)"
    [ -n "${CS_DEBUG:-}" ] && grep -E "busy|waited" "$W/out"
  done
done
# the key went into the caller's keyring at the unlock above: revoke it, as a logout would
$B0 lock >/dev/null 2>&1 || true
