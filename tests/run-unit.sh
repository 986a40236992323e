#!/bin/sh
# Run every cmocka unit-test binary given; each prints its own summary.
# Ends with one plain line: "unit: N passed, M failed".
set -u
pass=0; fail=0
for t in "$@"; do
  if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t" >&2; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
