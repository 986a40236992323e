#!/bin/sh
# SPDX-License-Identifier: MIT
# make check / make check-quick: run each tier given (a make target) in
# turn, its output kept in $O/check-logs/TIER.log, and print one summary
# line per tier, counted from the tier's own closing line (cmocka cases,
# pytest tests, fuzz targets, valgrind scripts, check-deb checks), with the
# tier's wall-clock seconds and the CPU seconds (user + system) of the
# processes it waited for, a figure the load of a shared machine barely
# moves (and the whole run's on the summary's first line: the CI log shows
# where the time goes), then the total alone on the last line:
# "N passed, M failed".  A tier that
# fails without a closing line (a build error) counts as one failure.
# Every tier runs even after one failed.
set -u
O=${O:-build}
export O
# the make each tier runs (make check's has -jN); not left in the
# environment, where debhelper reads $MAKE as one program's name
make_cmd=${MAKE:-make}; unset MAKE
logs=$O/check-logs
mkdir -p "$logs"
tp=0; tf=0; ts=0; summary=""; start=$(date +%s)
# CPU seconds of this shell's children so far: `cpu; c=$cpu_s`.  The
# times builtin must run in this shell (in $(...) it would count a
# subshell's children), so its output goes through a file.
cpu() {
  times >"$logs/.times"
  cpu_s=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] }
                         printf "%.0f", t }' "$logs/.times")
}
for tier in "$@"; do
  log=$logs/$tier.log
  t0=$(date +%s); cpu; c0=$cpu_s
  rc=0; $make_cmd --no-print-directory "$tier" >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - t0 )); cpu; c1=$cpu_s
  # the last closing line: "X: N passed, M failed" or pytest's "N passed, M failed, K skipped in T s"
  line=$(grep -E '([0-9]+ (passed|failed))' "$log" | grep -Ev '^(FAILED|ERROR) ' | tail -n1)
  num() { echo "$line" | grep -oE "[0-9]+ $1" | head -n1 | cut -d' ' -f1; }
  p=$(num passed); f=$(num failed); e=$(num 'errors?'); s=$(num skipped)
  p=${p:-0}; f=$(( ${f:-0} + ${e:-0} )); s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  [ "$rc" -ne 0 ] && { echo "--- $tier failed (exit $rc); the end of $log:"; tail -n 40 "$log"; }
  l="$tier: $p passed, $f failed$([ "$s" -gt 0 ] && echo ", $s skipped")$([ -z "$line" ] && [ "$rc" -eq 0 ] && echo " (built)") (${secs}s, $((c1 - c0))s CPU)"
  echo "check: $l"
  summary="$summary$l
"
  tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + s))
done
cpu
echo "---- summary ($(( $(date +%s) - start ))s in all, ${cpu_s}s CPU, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); logs in $logs/)"
printf '%s' "$summary"
echo "$tp passed, $tf failed$([ "$ts" -gt 0 ] && echo ", $ts skipped")"
[ "$tf" -eq 0 ]
