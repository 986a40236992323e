#!/bin/sh
# SPDX-License-Identifier: MIT
# Run each libFuzzer target given for FUZZ_SECONDS (and at most FUZZ_RUNS
# executions when set) on its seed corpus, with tests/fuzz/dict/<target>.dict
# when the format has keywords.  Corpora: tests/fuzz/corpus/<target>/
# (committed) plus a scratch copy; FUZZ_MERGE=1 adds what the run found
# with new coverage to the committed corpus (-merge=1, minimal additions).
# FUZZ_JOBS targets run at a time (default: one per core; each target is
# one process and touches only its own corpus).  Prints per target, in the
# order given, the executions and coverage (cov: edges, ft: features) and
# ends with one plain line: "fuzz: N passed, M failed".
set -u
secs=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:--1}

# one target: its report in $FUZZ_RESULTS/NAME.out, and NAME.ok if it passed
if [ "${1:-}" = --one ]; then
  f=$2; name=$(basename "$f"); out=$FUZZ_RESULTS/$name.out
  seeds=tests/fuzz/corpus/$name
  work=$(mktemp -d); mkdir -p "$work/corpus" "$work/artifacts"
  [ -d "$seeds" ] && cp -r "$seeds/." "$work/corpus/"
  dict=""; [ -f "tests/fuzz/dict/$name.dict" ] && dict="-dict=tests/fuzz/dict/$name.dict"
  if "$f" -max_total_time="$secs" -runs="$runs" -rss_limit_mb=2048 -print_final_stats=1 $dict \
       -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
    : >"$FUZZ_RESULTS/$name.ok"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    cov=$(grep -E '^#[0-9]+' "$work/log" | tail -n1 | grep -oE '(cov|ft|corp): [0-9/a-zA-Z]+' | tr '\n' ' ')
    echo "fuzz $name: ok, ${execs:-?} executions in at most ${secs}s, $cov${dict:+(dictionary)}" >"$out"
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
      # adds only inputs with new coverage; the committed (regression) seeds stay
      mkdir -p "$seeds"
      n=$(ls "$seeds" | wc -l)
      "$f" -merge=1 -rss_limit_mb=2048 "$seeds" "$work/corpus" >"$work/merge.log" 2>&1 &&
        echo "fuzz $name: $(( $(ls "$seeds" | wc -l) - n )) inputs with new coverage added to $seeds" >>"$out"
    fi
  else
    { echo "fuzz $name: CRASH"; tail -40 "$work/log"; } >"$out"
    mkdir -p build-fuzz/crashes && cp "$work"/artifacts/* build-fuzz/crashes/ 2>/dev/null
  fi
  rm -rf "$work"
  exit 0
fi

jobs=${FUZZ_JOBS:-$(nproc)}
FUZZ_RESULTS=$(mktemp -d); export FUZZ_RESULTS
trap 'rm -rf "$FUZZ_RESULTS"' EXIT
[ $# -gt 0 ] && printf '%s\n' "$@" | xargs -d '\n' -P "$jobs" -n 1 "$0" --one
pass=0; fail=0
for f in "$@"; do
  name=$(basename "$f")
  cat "$FUZZ_RESULTS/$name.out" 2>/dev/null || echo "fuzz $name: did not run"
  if [ -e "$FUZZ_RESULTS/$name.ok" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
