#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every cmocka unit-test binary given and count test cases (not
# binaries) from cmocka's own summary lines.  A binary that exits 77 was
# skipped (it says why); under CI or make check (CLOUDSEAL_STRICT=1) a
# skip is a failure.  A binary that fails without a summary (a crash)
# counts as one failed case.  Ends with one plain line:
# "unit: N passed, M failed" (", K skipped" when some were).
set -u
strict=0
case "${CI:-}" in ""|0|false|no) ;; *) strict=1;; esac
[ "${CLOUDSEAL_STRICT:-}" = 1 ] && strict=1
pass=0; fail=0; skip=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$@"; do
  rc=0; "$t" >"$log" 2>&1 || rc=$?
  cat "$log"
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -eq 77 ] && [ "$p" -eq 0 ]; then
    if [ "$strict" = 1 ]; then f=1; echo "FAILED: $t skipped under CI/make check" >&2; else s=1; fi
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
  fi
  if [ "$strict" = 1 ] && [ "$s" -gt 0 ] && [ "$rc" -ne 77 ]; then
    f=$((f + s)); s=0; echo "FAILED: $t skipped cases under CI/make check" >&2
  fi
  [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && echo "FAILED: $t (exit $rc)" >&2
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
echo "unit: $pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
[ "$fail" -eq 0 ]
