# SPDX-License-Identifier: MIT
# cloudseal adapter for ../shared/bench/anchors.sh (sourced by it; see TEMPLATE.sh there).
# Normal mode: the account is enrolled and unlocked (key in the kernel keyring) before the
# timed `cloudseal init`, as after a login; enrolment uses a cheap KDF (untimed anyway).
# CLOUDSEAL_BIN: the binary under test (bench/run.sh sets it).
CLOUDSEAL_BIN=${CLOUDSEAL_BIN:-cloudseal}

_cs_conf() { # REPO -> writes $CACHE/cloudseal.conf
  mkdir -p "$CACHE/state"
  cat >"$CACHE/cloudseal.conf" <<CONF
[storage]
url = file://$1
[paths]
state_dir = $CACHE/state
[kdf]
target_time_ms = 1
memory = 8M
[backup]
cache_dir = $CACHE/files
exclude =
CONF
}
_cs() { env CLOUDSEAL_CONFIG="$CACHE/cloudseal.conf" "$CLOUDSEAL_BIN" "$@"; }

cloudseal_version() { "$CLOUDSEAL_BIN" --version; }
cloudseal_init() {
  _cs_conf "$1"
  printf '%s\n' "$BENCH_PASSWORD" | _cs enroll --password-stdin --force >/dev/null 2>&1 || return 1
  printf '%s\n' "$BENCH_PASSWORD" | _cs unlock --password-stdin >/dev/null || return 1
  timed env CLOUDSEAL_CONFIG="$CACHE/cloudseal.conf" "$CLOUDSEAL_BIN" init </dev/null
}
cloudseal_backup() {
  timed env CLOUDSEAL_CONFIG="$CACHE/cloudseal.conf" "$CLOUDSEAL_BIN" backup --host bench --tag "$2" data </dev/null
}
cloudseal_restore() { # the run's last use of the key: revoke it (untimed), as a logout would
  timed env CLOUDSEAL_CONFIG="$CACHE/cloudseal.conf" "$CLOUDSEAL_BIN" restore latest --target "$3" </dev/null
  local rc=$?
  _cs lock >/dev/null 2>&1
  return $rc
}
# the same, pinned to one core: the scaling figure of issue 23 (initial backup 2 cores / 1 core)
cloudseal_1cpu_version() { cloudseal_version; }
cloudseal_1cpu_init() { cloudseal_init "$@"; }
cloudseal_1cpu_backup() {
  timed taskset -c 0 env CLOUDSEAL_CONFIG="$CACHE/cloudseal.conf" "$CLOUDSEAL_BIN" backup --host bench --tag "$2" data </dev/null
}
cloudseal_1cpu_restore() { cloudseal_restore "$@"; }
# write_floor: not a tool but the restore's floor timed in the state the tools' restores meet
# (after the harness's rm -rf of the previous run and its cp -a of the dataset: free page
# reporting and journal-less ext4 make that state decide restore times). Nothing to back up;
# the restore is bench/write_floor.c copying the mutated $WORK/data, whose verify must pass.
# --keep: the harness removes the restore itself, untimed.
write_floor_version() { echo write-floor; }
write_floor_init() { timed true; }
write_floor_backup() { timed true; }
write_floor_restore() {
  mkdir -p "$3" &&
    timed "${BENCH_FLOOR_BIN:-$(dirname "$CLOUDSEAL_BIN")/bench}/write-floor" --copy --keep "$PWD/data" "$3/data"
}
# cp_a: not a tool but `cp -a` timed in the same state as write_floor (above): the floor of
# issue 23's "restore <= 1.0x cp -a", which floors() in bench/run.sh times in another state
# (after its own removals, not the harness's cp -a). The restore is the copy of the mutated
# $WORK/data alone, which the harness verifies and removes like a tool's restore.
cp_a_version() { echo "cp -a (coreutils $(cp --version | sed -n '1s/.* //p'))"; }
cp_a_init() { timed true; }
cp_a_backup() { timed true; }
cp_a_restore() { mkdir -p "$3" && timed cp -a "$PWD/data" "$3/data"; }
