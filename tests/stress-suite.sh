#!/bin/sh
# SPDX-License-Identifier: MIT
# Run timing-sensitive test tiers N times while a CPU hog keeps every core
# busy, and count failures.  The bar is 0.
#
#   tests/stress-suite.sh [-n N] [-t SECONDS] [TIER...]
#
# TIER: agent (tests/integration/agent without nspawn), integration (the
# whole pytest tier in PYTEST_WORKERS pytest-xdist workers, as make check
# runs it: default one per core, 1 for one process), nspawn (the end-to-end
# container tests), unit, or pytest:EXPR (any pytest path or -k expression
# under tests/integration).
# Default: -n 5 integration.  The hog is one busy loop per core at nice 19
# (other people's work on a shared machine comes first; the tests still
# lose half their CPU to it), and it stops after -t SECONDS (default: when
# the runs end) so it is always bounded.  Logs of failed runs are kept in
# $O/stress/.  Ends with "stress: N passed, M failed" (runs, not cases).
set -u
cd "$(dirname "$0")/.."
O=${O:-build}; export O
n=5; limit=0
while getopts n:t: opt; do
  case $opt in n) n=$OPTARG;; t) limit=$OPTARG;; *) sed -n '2,17p' "$0"; exit 2;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- integration
PYTEST="/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --import-mode=importlib"
workers=${PYTEST_WORKERS:-$(nproc)}
XDIST=""; [ "$workers" -gt 1 ] && XDIST="-n $workers --dist loadgroup"
mkdir -p "$O/stress"

hogs=""
stop_hogs() { for p in $hogs; do kill "$p" 2>/dev/null; done; hogs=""; }
trap stop_hogs EXIT
trap 'stop_hogs; kill $child 2>/dev/null; exit 130' INT TERM
child=""
for _ in $(seq 1 "$(nproc)"); do
  if [ "$limit" -gt 0 ]; then
    nice -n 19 timeout "$limit" sh -c 'while :; do :; done' &
  else
    nice -n 19 sh -c 'while :; do :; done' &
  fi
  hogs="$hogs $!"
done

run_tier() {
  case $1 in
    agent) $PYTEST -m "not nspawn" tests/integration/agent ;;
    integration) $PYTEST $XDIST tests/integration ;;
    nspawn) $PYTEST -m nspawn tests/integration ;;
    unit) make -s unit ;;
    pytest:*) $PYTEST ${1#pytest:} ;;
    *) echo "stress: unknown tier $1" >&2; return 2 ;;
  esac
}

# the build and the helper programs the tests use, once, before the runs
make -s integration-tools >/dev/null || { echo "stress: the build failed" >&2; exit 2; }

pass=0; fail=0
for tier in "$@"; do
  tp=0; tf=0
  for i in $(seq 1 "$n"); do
    log="$O/stress/$(echo "$tier" | tr '/: ' '___')-$i.log"
    # in the background, so that a signal to this script stops it at once
    run_tier "$tier" >"$log" 2>&1 &
    child=$!
    if wait "$child"; then
      tp=$((tp + 1)); rm -f "$log"
    else
      tf=$((tf + 1)); echo "stress: $tier run $i FAILED: $(grep -E '^FAILED|passed|failed' "$log" | tail -n 5 | tr '\n' ' ')"
    fi
  done
  echo "stress: $tier: $tp of $n runs passed, $tf failed (hog: $(nproc) busy loops at nice 19)"
  pass=$((pass + tp)); fail=$((fail + tf))
done
stop_hogs
echo "stress: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
