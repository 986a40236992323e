#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every cmocka unit-test binary given and count test cases (not
# binaries) from cmocka's own summary lines.  A binary that exits 77 was
# skipped (it says why); under CI or make check (CLOUDSEAL_STRICT=1) a
# skip is a failure.  A binary that fails without a summary (a crash)
# counts as one failed case.  UNIT_JOBS binaries run at a time (default:
# one per core; each works in a temporary directory of its own, and those
# that touch the kernel keyring use random names or a uid slot of their
# own); their output is printed whole, in the order given.  Ends with one
# plain line: "unit: N passed, M failed" (", K skipped" when some were).
set -u
strict=0
case "${CI:-}" in ""|0|false|no) ;; *) strict=1;; esac
[ "${CLOUDSEAL_STRICT:-}" = 1 ] && strict=1

# one binary: its output in $UNIT_RESULTS/N.out, its exit code in N.rc
# (N: its place in the list, as two binaries may share a name)
if [ "${1:-}" = --one ]; then
  rc=0; "$3" >"$UNIT_RESULTS/$2.out" 2>&1 || rc=$?
  echo "$rc" >"$UNIT_RESULTS/$2.rc"
  exit 0
fi

UNIT_RESULTS=$(mktemp -d); export UNIT_RESULTS
trap 'rm -rf "$UNIT_RESULTS"' EXIT
i=0
for t in "$@"; do i=$((i + 1)); printf '%s\n%s\n' "$i" "$t"; done |
  xargs -d '\n' -P "${UNIT_JOBS:-$(nproc)}" -n 2 "$0" --one
pass=0; fail=0; skip=0; i=0
for t in "$@"; do
  i=$((i + 1)); log=$UNIT_RESULTS/$i.out
  rc=$(cat "$UNIT_RESULTS/$i.rc" 2>/dev/null || echo 1)
  cat "$log" 2>/dev/null
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
