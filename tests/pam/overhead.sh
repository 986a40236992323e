#!/bin/bash
# SPDX-License-Identifier: MIT
# Login overhead of pam_cloudseal beyond the KDF: pamtester authenticate +
# open_session + close_session through pam_unix alone, and through pam_unix
# followed by pam_cloudseal, with the cheapest KDF (8 MiB, 1 pass), in a
# sandbox (private mount namespace, /etc overlay).  Prints the medians.
#   tests/pam/overhead.sh [ROUNDS]      (root; default 30 rounds)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${O:-build}; case $B in /*) ;; *) B=$ROOT/$B ;; esac; B=$(cd "$B" && pwd)
N=${1:-30}
if [ -z "${CS_IN_SANDBOX:-}" ]; then
  # a uid of its own: the slot scheme of tests/integration/uids.py (flock on
  # /run/lock/cloudseal-test-uids.N, held while this script runs), since the
  # kernel keyring of a uid is shared machine-wide with any other run
  for n in $(seq 0 63); do
    exec 9>"/run/lock/cloudseal-test-uids.$n"
    if flock -n 9; then CS_BENCH_UID=$((48000 + n * 16)); break; fi
    exec 9>&-
  done
  [ -n "${CS_BENCH_UID:-}" ] || { echo "overhead.sh: no free test uid slot" >&2; exit 1; }
  export CS_BENCH_UID
  D=$(mktemp -d /tmp/cs-overhead.XXXXXX); chmod 755 "$D"
  trap 'setpriv --reuid=$CS_BENCH_UID --regid=$CS_BENCH_UID --clear-groups keyctl session - sh -c "keyctl link @u @s; keyctl clear @u" >/dev/null 2>&1 || true; rm -rf "$D"' EXIT
  CS_IN_SANDBOX=1 D=$D unshare -m --propagation private "$0" "$@"
  exit $?
fi
mkdir -p "$D/etc/pam.d" "$D/etc-work" "$D/state/keybags" "$D/storage/users"
mount -t overlay cs-etc -o "lowerdir=/etc,upperdir=$D/etc,workdir=$D/etc-work" /etc
useradd --no-log-init -M -d /nonexistent -u "$CS_BENCH_UID" -U csbench
echo 'csbench:bench-pass' | chpasswd
install -d -o csbench -m 0700 "$D/state/keybags/csbench" "$D/storage/users/csbench"
C=$D/c.conf
printf '[storage]\nurl = file://%s/storage\n[paths]\nstate_dir = %s/state\n[kdf]\ntarget_time_ms = 1\nmemory = 8M\n' "$D" "$D" > "$C"
echo bench-pass | setpriv --reuid="$CS_BENCH_UID" --regid="$CS_BENCH_UID" --clear-groups "$B/cloudseal" --config "$C" enroll --password-stdin >/dev/null 2>&1
M="$B/pam_cloudseal.so config=$C helper=$B/cloudseal-helper"
base='auth [success=1 default=ignore] pam_unix.so nodelay
auth requisite pam_deny.so
auth required pam_permit.so
account required pam_unix.so
session required pam_unix.so'
printf '%s\n' "$base" > /etc/pam.d/cs-plain
printf '%s\nauth optional %s\nsession optional %s\n' "$base" "$M" "$M" > /etc/pam.d/cs-module

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # service
  for _ in $(seq "$N"); do
    t0=$(date +%s%N)
    echo bench-pass | pamtester "$1" csbench authenticate open_session >/dev/null 2>&1
    t1=$(date +%s%N)
    pamtester "$1" csbench close_session >/dev/null 2>&1  # logout, not timed
    echo $(( (t1 - t0) / 1000 ))
  done | median
}
exec_only() { # starting the helper at all (dynamic linking), for reference
  for _ in $(seq "$N"); do
    t0=$(date +%s%N); "$B/cloudseal-helper" --help >/dev/null; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
  done | median
}
kdf() { # the unlock alone (helper exec + config + keybag + minimum KDF), for reference
  for _ in $(seq "$N"); do
    t0=$(date +%s%N)
    printf '\0\0\0\012bench-pass' | "$B/cloudseal-helper" --config "$C" unlock --user csbench >/dev/null
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
  done | median
}
cpu() { # CPU time (user + sys, children included) per login: steadier than wall time on a busy machine
  /usr/bin/time -f "%U %S" sh -c "for i in \$(seq $N); do echo bench-pass | pamtester $1 csbench authenticate open_session >/dev/null 2>&1; done" 2>&1 \
    | awk -v n="$N" '{printf "%d", ($1 + $2) * 1000000 / n}'
}
auth_only() { # authenticate alone (sudo, polkit, screen lockers): no helper run any more
  for _ in $(seq "$N"); do
    t0=$(date +%s%N); echo bench-pass | pamtester "$1" csbench authenticate >/dev/null 2>&1; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
  done | median
}
cpu_of() { # CPU time per run of a shell command line
  /usr/bin/time -f "%U %S" sh -c "for i in \$(seq $N); do $1; done" 2>&1 | tail -1 \
    | awk -v n="$N" '{printf "%d", ($1 + $2) * 1000000 / n}'
}
cpu_plain=$(cpu cs-plain); cpu_module=$(cpu cs-module)
cpu_kdf=$(cpu_of "printf '\\0\\0\\0\\012bench-pass' | $B/cloudseal-helper --config $C unlock --user csbench >/dev/null")
cpu_exec=$(cpu_of "$B/cloudseal-helper --help >/dev/null")
auth_plain=$(auth_only cs-plain); auth_module=$(auth_only cs-module)
plain=$(measure cs-plain); module=$(measure cs-module); unlock=$(kdf); bare=$(exec_only)
echo "pam_unix alone:            ${plain} us (median of $N logins: authenticate + open_session)"
echo "pam_unix + pam_cloudseal:  ${module} us"
echo "module overhead:           $(( module - plain )) us  (1 helper run at session open: login = unlock + hand-off; includes the minimum KDF)"
echo "authenticate only:         ${auth_plain} us without, ${auth_module} us with the module (no helper run)"
echo "helper unlock alone:       ${unlock} us  (exec + config + keybag + minimum KDF: 8 MiB x 1 pass)"
echo "helper exec alone:         ${bare} us  (cloudseal-helper --help: dynamic linking)"
echo "CPU per login:             ${cpu_plain} us without, ${cpu_module} us with the module: $(( cpu_module - cpu_plain )) us more"
echo "KDF + keybag (CPU):        $(( cpu_kdf - cpu_exec )) us  (helper unlock minus helper --help)"
echo "CPU beyond the KDF:        $(( cpu_module - cpu_plain - (cpu_kdf - cpu_exec) )) us per login"
echo "load average:              $(cut -d' ' -f1-3 /proc/loadavg)"
