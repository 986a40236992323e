#!/bin/sh
# Run each tests/valgrind/*.sh script: each runs one module or program under
# valgrind --error-exitcode and exits non-zero on an error or leak.
set -u
pass=0; fail=0
for t in tests/valgrind/*.sh; do
  [ -e "$t" ] || continue
  if sh "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t" >&2; fi
done
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
