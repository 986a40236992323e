#!/bin/sh
# SPDX-License-Identifier: MIT
# Run each tests/valgrind/*.sh script (V=nss runs tests/valgrind/nss.sh
# alone): each runs one module or program under valgrind --error-exitcode
# and exits non-zero on an error or leak, 77 when skipped (a failure under
# CI or make check, CLOUDSEAL_STRICT=1).  Ends with one plain line:
# "valgrind: N passed, M failed" (", K skipped" when some were).
set -u
strict=0
case "${CI:-}" in ""|0|false|no) ;; *) strict=1;; esac
[ "${CLOUDSEAL_STRICT:-}" = 1 ] && strict=1
pass=0; fail=0; skip=0
for t in tests/valgrind/${V:-*}.sh; do
  [ -e "$t" ] || { echo "valgrind: no script $t" >&2; fail=$((fail + 1)); continue; }
  rc=0; sh "$t" || rc=$?
  if [ "$rc" -eq 0 ]; then pass=$((pass + 1))
  elif [ "$rc" -eq 77 ] && [ "$strict" = 0 ]; then skip=$((skip + 1))
  else fail=$((fail + 1)); echo "FAILED: $t (exit $rc)" >&2; fi
done
echo "valgrind: $pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
[ "$fail" -eq 0 ]
