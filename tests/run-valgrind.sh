#!/bin/sh
# SPDX-License-Identifier: MIT
# Run each tests/valgrind/*.sh script (V=nss runs tests/valgrind/nss.sh
# alone): each runs one module or program under valgrind --error-exitcode
# and exits non-zero on an error or leak, 77 when skipped (a failure under
# CI or make check, CLOUDSEAL_STRICT=1).  VALGRIND_JOBS scripts run at a
# time (default: one per core; each works in a directory and namespace of
# its own); their output is printed whole, in order.  Ends with one plain
# line: "valgrind: N passed, M failed" (", K skipped" when some were).
set -u
strict=0
case "${CI:-}" in ""|0|false|no) ;; *) strict=1;; esac
[ "${CLOUDSEAL_STRICT:-}" = 1 ] && strict=1

# one script: its output in $VG_RESULTS/NAME.out, its exit code in NAME.rc
if [ "${1:-}" = --one ]; then
  name=$(basename "$2" .sh)
  rc=0; sh "$2" >"$VG_RESULTS/$name.out" 2>&1 || rc=$?
  echo "$rc" >"$VG_RESULTS/$name.rc"
  exit 0
fi

VG_RESULTS=$(mktemp -d); export VG_RESULTS
trap 'rm -rf "$VG_RESULTS"' EXIT
scripts=""; pass=0; fail=0; skip=0
for t in tests/valgrind/${V:-*}.sh; do
  [ -e "$t" ] || { echo "valgrind: no script $t" >&2; fail=$((fail + 1)); continue; }
  scripts="$scripts $t"
done
[ -n "$scripts" ] && printf '%s\n' $scripts | xargs -P "${VALGRIND_JOBS:-$(nproc)}" -n 1 "$0" --one
for t in $scripts; do
  name=$(basename "$t" .sh)
  cat "$VG_RESULTS/$name.out" 2>/dev/null
  rc=$(cat "$VG_RESULTS/$name.rc" 2>/dev/null || echo 1)
  if [ "$rc" -eq 0 ]; then pass=$((pass + 1))
  elif [ "$rc" -eq 77 ] && [ "$strict" = 0 ]; then skip=$((skip + 1))
  else fail=$((fail + 1)); echo "FAILED: $t (exit $rc)" >&2; fi
done
echo "valgrind: $pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
[ "$fail" -eq 0 ]
