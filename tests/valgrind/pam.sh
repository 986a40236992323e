#!/bin/sh
# SPDX-License-Identifier: MIT
# pam_cloudseal.so under valgrind: the pam_wrapper driver (tests/pam/) runs
# every PAM scenario with the module loaded into a valgrind'ed process.
# Children the module forks exec the helper at once and are not followed.
set -eu
O=${O:-build}
make -s O="$O" "$O/tests/pam/test_pam_cloudseal" "$O/pam_cloudseal.so" "$O/cloudseal-helper" >/dev/null
# 77: skipped (run-valgrind.sh counts it, and fails it under CI or make check)
if [ "$(id -u)" -ne 0 ]; then echo "valgrind/pam.sh: needs root; skipped"; exit 77; fi
CS_PAM_TEST_WRAP="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --child-silent-after-fork=yes" \
  exec "$O/tests/pam/test_pam_cloudseal"
