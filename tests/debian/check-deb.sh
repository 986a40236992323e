#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages on a real Debian 12 system (`make check-deb`).
#
# Boots a throw-away overlay of the cached debootstrapped rootfs
# (tests/nspawn/rootfs.sh, boot.sh) with systemd as PID 1, then inside it:
#   1. records /etc/pam.d/common-* and /etc/nsswitch.conf;
#   2. dpkg -i the three packages: pam-auth-update must put pam_cloudseal.so
#      after pam_unix (auth), before pam_systemd (session) and in the
#      password stack; nsswitch.conf must list cloudseal for passwd and
#      group; the user units enabled globally; the directory timer enabled;
#   3. a fleet directory is signed and published: the directory service
#      installs it, getent resolves its user through nss_cloudseal;
#      a test user enrolls (cloudseal enroll), creates the repository and
#      locks; then logs in through the installed stack (pamtester, login
#      service, under systemd-run for a real cgroup and seccomp context):
#      the key must be in the user's keyring, and the agent (enabled for all
#      users by the package) must make a backup snapshot; passwd re-wraps
#      the keys and a login with the new password unlocks them;
#   4. dpkg --purge: the recorded files must be byte-identical.
# Ends with "check-deb: N passed, M failed".  Needs root.  Exit 75 (and a
# loud skip line) when the Debian archive cannot be reached to build the
# rootfs the first time.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEB_O=${DEB_O:-build-deb}
case $DEB_O in /*) ;; *) DEB_O=$ROOT/$DEB_O ;; esac
NSPAWN=$ROOT/tests/nspawn
TUSER=csdebtest
# the container shares the host's keyrings per uid: a uid of this run's own,
# from a slot of tests/integration/uids.py (its lock files, held on fd 9
# while this script runs; container(2) of the slot)
for slot in $(seq 0 64); do
  [ "$slot" -lt 64 ] || { echo "check-deb: all test uid slots in /run/lock are taken" >&2; exit 1; }
  exec 9>"/run/lock/cloudseal-test-uids.$slot"
  flock -n 9 && break
done
TUID=$((30000 + slot * 16 + 2))
TPASS='deb test pw 1'
pass=0; fail=0

ok()   { pass=$((pass + 1)); echo "ok   - $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
finish() {
  echo "check-deb: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

[ "$(id -u)" -eq 0 ] || { echo "check-deb: must run as root" >&2; exit 1; }
DEBS=()
for p in cloudseal libpam-cloudseal libnss-cloudseal; do
  f=$(ls "$DEB_O"/${p}_*.deb 2>/dev/null | head -n1)
  [ -n "$f" ] || { echo "check-deb: no $p package in $DEB_O: run 'make deb'" >&2; exit 1; }
  DEBS+=("$f")
done

t0=$(date +%s.%N)
ROOTFS=$("$NSPAWN/rootfs.sh"); rc=$?
if [ $rc -eq 75 ]; then
  echo "check-deb: SKIPPED: the Debian archive cannot be reached to build the test rootfs" >&2
  # CI and make check can reach it (they install packages): there it fails
  case "${CI:-}" in ""|0|false|no) [ "${CLOUDSEAL_STRICT:-}" = 1 ] && exit 1; exit 75;; *) exit 1;; esac
fi
[ $rc -eq 0 ] || { echo "check-deb: rootfs.sh failed" >&2; exit 1; }

W=$(mktemp -d /var/tmp/cs-check-deb.XXXXXX)
cleanup() {
  # the kernel keyrings are shared with the host: leave no key behind
  [ -f "$W/leader.pid" ] && "$NSPAWN/boot.sh" exec "$W" setpriv --reuid=$TUID --regid=$TUID \
      --clear-groups keyctl clear @u >/dev/null 2>&1
  "$NSPAWN/boot.sh" stop "$W" >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
CROOT=$("$NSPAWN/boot.sh" prepare "$ROOTFS" "$W") || exit 1
mkdir -p "$CROOT/root/debs"
cp "${DEBS[@]}" "$CROOT/root/debs/"
# boot.sh allows @keyring and @memlock through nspawn's seccomp filter
# (the PAM module and the agent need both).
CS_MACHINE_NAME=cs-check-deb-$$ "$NSPAWN/boot.sh" start "$W" >/dev/null || exit 1
t_boot=$(date +%s.%N)

C() { "$NSPAWN/boot.sh" exec "$W" "$@"; }
# as the test user, in the container, without a PAM session of its own
U() { C setpriv --reuid=$TUID --regid=$TUID --init-groups \
        env -i HOME=/home/$TUSER USER=$TUSER LOGNAME=$TUSER PATH=/usr/bin:/bin \
        XDG_RUNTIME_DIR=/run/user/$TUID "$@"; }
# for the bash -c checks below
export -f C U; export W NSPAWN TUID TUSER
ETC_FILES="/etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-password
  /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive /etc/nsswitch.conf"

# 1. the files the packages will edit, as they are now
C sh -c "mkdir -p /root/before && cp -p $(echo $ETC_FILES) /root/before/"

# 2. install
if C sh -c 'cd /root/debs && DEBIAN_FRONTEND=noninteractive dpkg -i ./*.deb' > "$W/install.log" 2>&1; then
  ok "dpkg -i cloudseal libpam-cloudseal libnss-cloudseal"
else
  bad "dpkg -i (log follows)"; cat "$W/install.log"; finish; exit 1
fi
t_install=$(date +%s.%N)

# line numbers in a PAM file of the first line naming a module (0: none)
line_of() { C awk -v m="$2" '$0 !~ /^#/ && index($0, m) { print NR; exit } END { }' "$1"; }
auth_unix=$(line_of /etc/pam.d/common-auth pam_unix.so)
auth_cs=$(line_of /etc/pam.d/common-auth pam_cloudseal.so)
check "common-auth: pam_cloudseal.so after pam_unix.so (line ${auth_cs:-none} > ${auth_unix:-none})" \
  test -n "$auth_cs" -a -n "$auth_unix" -a "${auth_cs:-0}" -gt "${auth_unix:-0}"
check "common-auth: pam_cloudseal.so is optional (never decides authentication)" \
  C grep -Eq '^auth[[:space:]]+optional[[:space:]]+pam_cloudseal.so' /etc/pam.d/common-auth
sess_cs=$(line_of /etc/pam.d/common-session pam_cloudseal.so)
sess_sd=$(line_of /etc/pam.d/common-session pam_systemd.so)
check "common-session: pam_cloudseal.so before pam_systemd.so (line ${sess_cs:-none} < ${sess_sd:-none})" \
  test -n "$sess_cs" -a -n "$sess_sd" -a "${sess_cs:-0}" -lt "${sess_sd:-0}"
check "common-password: pam_cloudseal.so after pam_unix.so" \
  test "$(line_of /etc/pam.d/common-password pam_cloudseal.so)" -gt "$(line_of /etc/pam.d/common-password pam_unix.so)"
check "common-session-noninteractive: no pam_cloudseal.so (cron, services)" \
  bash -c "! C grep -q pam_cloudseal /etc/pam.d/common-session-noninteractive"
check "nsswitch.conf: cloudseal on the passwd and group lines" \
  bash -c "C grep -Eq '^passwd:.*[[:space:]]cloudseal([[:space:]]|\$)' /etc/nsswitch.conf &&
         C grep -Eq '^group:.*[[:space:]]cloudseal([[:space:]]|\$)' /etc/nsswitch.conf"
check "nsswitch.conf: still resolves local users (getent passwd root)" bash -c "C getent passwd root >/dev/null"
check "user units enabled for every user (systemctl --global)" \
  C test -L /etc/systemd/user/default.target.wants/cloudseal-agent.service
# the package ships both (systemd/, debian/cloudseal.install): a missing one is a failure
check "cloudseal-directory.timer installed and enabled" C systemctl is-enabled --quiet cloudseal-directory.timer
check "cloudseal-directory.service installed" C test -e /lib/systemd/system/cloudseal-directory.service
if C test -e /lib/systemd/system/cloudseal-directory.service; then
  C systemctl start cloudseal-directory.service >/dev/null 2>&1
  check "no failed system units after install (directory sync run once, no fleet configured)" \
    bash -c "[ -z \"\$(C systemctl list-units --failed --plain --no-legend)\" ] || { C systemctl --failed --no-pager; C journalctl -q --no-pager -n 5 -u cloudseal-directory.service; false; }"
fi
# installing again (an upgrade to the same version) changes nothing twice
C sh -c 'cd /root/debs && DEBIAN_FRONTEND=noninteractive dpkg -i ./*.deb' > "$W/reinstall.log" 2>&1 ||
  { bad "dpkg -i a second time"; cat "$W/reinstall.log"; }
check "reinstall: pam_cloudseal.so once per stack, cloudseal once per nsswitch line" \
  bash -c "[ \$(C grep -c pam_cloudseal /etc/pam.d/common-auth) -eq 1 ] &&
           [ \$(C grep -c pam_cloudseal /etc/pam.d/common-session) -eq 1 ] &&
           [ \$(C grep -Ec '^(passwd|group):.*cloudseal.*cloudseal' /etc/nsswitch.conf) -eq 0 ]"
check "/etc/cloudseal/cloudseal.conf is a conffile" \
  bash -c "C dpkg-query -W -f='\${Conffiles}' cloudseal | grep -q /etc/cloudseal/cloudseal.conf"
check "man pages installed (cloudseal(1), cloudseal.conf(5))" \
  C test -e /usr/share/man/man1/cloudseal.1.gz -a -e /usr/share/man/man5/cloudseal.conf.5.gz
check "cloudseal-helper carries no setuid/setgid bit" \
  bash -c "[ -z \"\$(C find /usr/libexec/cloudseal -perm /6000)\" ]"

# 3. a user enrolls, logs in through the installed stack, gets a backup
C sh -eu -c "
  cat > /etc/cloudseal/cloudseal.conf <<EOF
[storage]
url = file:///srv/cloudseal
[kdf]
memory = 8M
target_time_ms = 1
[session]
lock = reboot
[agent]
randomized_delay = 0
keyring_poll = 1s
retry_min = 1s
[fleet]
source = /root/fleet/directory.json
EOF
  useradd -m -u $TUID -s /bin/sh $TUSER
  echo '$TUSER:$TPASS' | chpasswd
  # what an administrator prepares for a user of a local file:// store
  install -d -m 0755 /srv/cloudseal /srv/cloudseal/users
  install -d -o $TUSER -g $TUSER -m 0700 /srv/cloudseal/users/$TUSER /var/lib/cloudseal/keybags/$TUSER
  echo 'hello from the packaged test' > /home/$TUSER/note.txt
  chown $TUSER: /home/$TUSER/note.txt" > "$W/setup.log" 2>&1 || { bad "test user setup"; cat "$W/setup.log"; }

# a fleet: the admin signs a directory into the store, the packaged timer's
# service installs it, the packaged NSS module resolves its user
if C sh -eu -c "
  mkdir -p /root/fleet && cd /root/fleet
  cloudseal admin keygen --secret /root/fleet/fleet.key --public /etc/cloudseal/fleet.pub
  cloudseal admin init --fleet pkgtest
  cloudseal admin add-user fleetbob
  cloudseal admin publish --secret-key /root/fleet/fleet.key" > "$W/fleet.log" 2>&1; then
  ok "cloudseal admin keygen, init, add-user, publish"
else
  bad "fleet setup with cloudseal admin"; cat "$W/fleet.log"
fi
check "cloudseal-directory.service installs the signed directory" \
  C systemctl start cloudseal-directory.service
check "NSS: getent passwd fleetbob (through libnss-cloudseal)" \
  bash -c "C getent passwd fleetbob | grep -Eq '^fleetbob:x:1[0-9]{6}:'"
check "NSS: id fleetbob (group through libnss-cloudseal)" bash -c "C id fleetbob >/dev/null"

if U cloudseal enroll --password-stdin <<<"$TPASS" > "$W/enroll.log" 2>&1; then
  ok "cloudseal enroll (as the user)"
else
  bad "cloudseal enroll"; cat "$W/enroll.log"
fi
if U cloudseal init --password-stdin <<<"$TPASS" > "$W/init.log" 2>&1; then
  ok "cloudseal init (the backup repository)"
else
  bad "cloudseal init"; cat "$W/init.log"
fi
# Lock by emptying the keyring (not 'cloudseal lock': no agent runs yet, and
# the request would wait in its socket), then let the user manager linger so
# that the agent the package enabled for every user starts, locked.
U keyctl clear @u
C loginctl enable-linger $TUSER
unlocked() { U cloudseal status </dev/null 2>&1 | grep -Eq '^Unlocked:[[:space:]]+yes'; }
export -f unlocked
check "locked before login (cloudseal status: Unlocked: no)" bash -c '! unlocked'
check "login through the installed stack: pamtester login $TUSER authenticate acct_mgmt open_session" \
  bash -c "C systemd-run --quiet --wait --pipe --collect sh -c \
    'printf \"%s\n\" \"$TPASS\" | pamtester login $TUSER authenticate acct_mgmt open_session' \
    > '$W/login.log' 2>&1 || { cat '$W/login.log'; false; }"
check "after login: the account key is in the user's keyring (keyctl)" \
  bash -c "U sh -c 'keyctl rlist @u | xargs -r -n1 keyctl rdescribe' 2>/dev/null | grep -q ';cloudseal:amk:'"
check "after login: cloudseal status says Unlocked: yes" unlocked

snapshots() { U cloudseal snapshots --json </dev/null 2>/dev/null | grep -c '"id"'; }
# the agent, enabled for every user by the package, runs under the lingering
# user manager: once it sees the key it backs up (first run: at once)
agent_ok=0
# polled (waits.py poll): the unit's state and the snapshot list change
# inside the container, where no event reaches this script; the bounds
# (60 s, 120 s) only fail a stuck agent on a busy machine
export -f U snapshots
python3 "$ROOT/tests/integration/waits.py" poll 60 "the agent active" \
  bash -c 'U systemctl --user is-active --quiet cloudseal-agent.service' && agent_ok=1
snap=0
if [ $agent_ok -eq 1 ]; then
  python3 "$ROOT/tests/integration/waits.py" poll 120 "a snapshot" bash -c '[ "$(snapshots)" -gt 0 ]' || true
  snap=$(snapshots)
fi
if [ "$snap" -gt 0 ]; then
  ok "the agent (user unit enabled by the package) made a backup after login"
else
  bad "the agent made no backup after login (user manager's log follows)"
  C journalctl -q --no-pager -n 8 _UID=$TUID 2>/dev/null
fi
# the same key, used by the CLI (one file: the agent may be writing its
# state in the home at the same moment)
before=$(snapshots)
if U cloudseal backup /home/$TUSER/note.txt </dev/null > "$W/backup.log" 2>&1 && [ "$(snapshots)" -gt "$before" ]; then
  ok "cloudseal backup with the key the login unlocked ($(snapshots) snapshot(s))"
else
  bad "cloudseal backup after login"; cat "$W/backup.log"
fi
# the password stack: passwd (setuid root, run by the user, asks the
# current password) re-wraps the keys; the next login unlocks with the new one
NEWPASS='deb test pw 2 (changed)'
gen() { U cloudseal keybag dump </dev/null 2>/dev/null | awk '/generation:/ { print $2; exit }'; }
gen_before=$(gen)
if printf '%s\n%s\n%s\n' "$TPASS" "$NEWPASS" "$NEWPASS" | U passwd > "$W/passwd.log" 2>&1; then
  ok "passwd as the user through the installed common-password"
else
  bad "passwd"; cat "$W/passwd.log"
fi
check "passwd re-wrapped the keys (keybag generation ${gen_before:-?} -> $(gen))" \
  test "$(gen)" -gt "${gen_before:-0}"
U keyctl clear @u
check "login with the new password unlocks" \
  bash -c "C systemd-run --quiet --wait --pipe --collect sh -c \
    'printf \"%s\n\" \"$NEWPASS\" | pamtester login $TUSER authenticate open_session' >/dev/null 2>&1 &&
    U sh -c 'keyctl rlist @u | xargs -r -n1 keyctl rdescribe' 2>/dev/null | grep -q ';cloudseal:amk:'"
t_login=$(date +%s.%N)

# 4. purge: every edited file as it was
C loginctl disable-linger $TUSER >/dev/null 2>&1
U cloudseal lock >/dev/null 2>&1
if C sh -c 'DEBIAN_FRONTEND=noninteractive dpkg --purge libpam-cloudseal libnss-cloudseal cloudseal' \
     > "$W/purge.log" 2>&1; then
  ok "dpkg --purge"
else
  bad "dpkg --purge (log follows)"; cat "$W/purge.log"
fi
for f in $ETC_FILES; do
  check "after purge: $f byte-identical to before install" C cmp "/root/before/$(basename "$f")" "$f"
done
check "after purge: fleetbob no longer resolves" bash -c "! C getent passwd fleetbob"
check "after purge: no cloudseal user units left enabled" \
  bash -c "! C test -e /etc/systemd/user/default.target.wants/cloudseal-agent.service"
check "after purge: /etc/cloudseal gone" bash -c "! C test -e /etc/cloudseal/cloudseal.conf"
t_end=$(date +%s.%N)
awk -v a="$t0" -v b="$t_boot" -v c="$t_install" -v d="$t_login" -v e="$t_end" 'BEGIN {
  printf "check-deb: rootfs+boot %.1f s, install %.1f s, enroll+login+backup %.1f s, purge %.1f s\n",
         b - a, c - b, d - c, e - d }'
finish
