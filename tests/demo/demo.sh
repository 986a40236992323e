#!/bin/bash
# SPDX-License-Identifier: MIT
# cloudseal demo: log in through the real PAM stack and watch the keys
# follow the login.  Run by `make demo` as root.
#
# Everything happens in a sandbox: a private mount namespace with an overlay
# on /etc (the demo user, pam.d service and password changes land in a
# temporary upper layer), state and storage in a temporary directory.  When
# the script ends the namespace and the directory are gone; the demo user's
# kernel keyring is cleared.  Nothing is left on the host.
#
# The script is a list of steps (functions named step_*), run in the order of
# STEPS.  To extend the demo (backup, restore, ...), add a file
# tests/demo/steps.d/NN-name.sh defining step functions and appending their
# names to EXTRA_STEPS: they run while the demo user is logged in with the
# keys unlocked, before the logout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${O:-build}; case $B in /*) ;; *) B=$ROOT/$B ;; esac; B=$(cd "$B" && pwd)
DEMO_USER=csdemo
DEMO_UID=47301
PW1='first-Secret-1'
PW2='second-Secret-2'
PW3='reset-by-admin-3'

# ---- narration -------------------------------------------------------------
if [ -t 1 ]; then BOLD=$'\e[1m'; DIM=$'\e[2m'; GREEN=$'\e[32m'; RED=$'\e[31m'; OFF=$'\e[0m'
else BOLD= DIM= GREEN= RED= OFF=; fi
n=0
title() { n=$((n + 1)); printf '\n%s== %d. %s%s\n' "$BOLD" "$n" "$*" "$OFF"; }
say()   { printf '   %s\n' "$*"; }
run()   { printf '   %s$ %s%s\n' "$DIM" "$*" "$OFF"; "$@" 2>&1 | sed 's/^/     /'; }
ok()    { printf '   %s✔ %s%s\n' "$GREEN" "$*" "$OFF"; }
die()   { printf '   %s✘ %s%s\n' "$RED" "$*" "$OFF"; exit 1; }

# ---- sandbox ---------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it creates a private mount namespace; nothing on the host changes)" >&2
  exit 1
fi
for f in cloudseal cloudseal-helper pam_cloudseal.so; do
  [ -e "$B/$f" ] || { echo "demo: $B/$f missing: run 'make' first" >&2; exit 1; }
done
if [ -z "${CS_DEMO_IN_SANDBOX:-}" ]; then
  D=$(mktemp -d /tmp/cloudseal-demo.XXXXXX)
  chmod 755 "$D"
  # the keys the demo user may still hold (revoked or not) go with the sandbox
  trap 'setpriv --reuid=$DEMO_UID --regid=$DEMO_UID --clear-groups keyctl session - \
          sh -c "keyctl link @u @s; keyctl clear @u" >/dev/null 2>&1 || true; rm -rf "$D"' EXIT
  CS_DEMO_IN_SANDBOX=1 D=$D unshare -m --propagation private "$0" "$@"
  exit $?
fi

mkdir -p "$D/etc/pam.d" "$D/etc-work" "$D/state" "$D/storage" "$D/home"
mount -t overlay cs-demo-etc -o "lowerdir=/etc,upperdir=$D/etc,workdir=$D/etc-work" /etc
C=$D/cloudseal.conf
MODULE="$B/pam_cloudseal.so config=$C helper=$B/cloudseal-helper"

as_user() { setpriv --reuid=$DEMO_UID --regid=$DEMO_UID --clear-groups "$@"; }
# keyctl as the user, in a session keyring of its own that links @u
user_keyctl() { as_user keyctl session - sh -c "keyctl link @u @s >/dev/null; keyctl $*" 2>/dev/null; }
key_desc() { echo "cloudseal:amk:$ACCOUNT_ID"; }
key_readable() { user_keyctl "search @u user $(key_desc)" >/dev/null; }

# ---- steps -----------------------------------------------------------------
step_sandbox() {
  title "A sandbox: private mount namespace, /etc overlay, state in $D"
  say "Host files are not touched: /etc is an overlay whose changes land in $D/etc."
  cat > "$C" <<EOC
[storage]
url = file://$D/storage
[paths]
state_dir = $D/state
[kdf]
# a cheap but real Argon2id for the demo (the default targets ~0.7 s and 256 MiB)
target_time_ms = 100
memory = 64M
EOC
  run cat "$C"
}

step_create_user() {
  title "Create the demo user '$DEMO_USER' (uid $DEMO_UID)"
  run useradd --no-log-init -M -d "$D/home" -u $DEMO_UID -U -s /bin/sh $DEMO_USER
  chown $DEMO_USER: "$D/home"
  echo "$DEMO_USER:$PW1" | chpasswd
  say "password set with chpasswd (inside the overlay)"
  # the PAM service the demo logs in through: pam_unix decides, cloudseal piggybacks
  cat > /etc/pam.d/cloudseal-demo <<EOP
auth     [success=1 default=ignore] pam_unix.so nodelay
auth     requisite pam_deny.so
auth     required  pam_permit.so
auth     optional  $MODULE
account  required  pam_unix.so
password required  pam_unix.so nodelay
password optional  $MODULE
session  required  pam_unix.so
session  optional  $MODULE
EOP
  # passwd(1) uses the "passwd" service: the same password stack
  grep '^password' /etc/pam.d/cloudseal-demo > /etc/pam.d/passwd
  say "PAM service /etc/pam.d/cloudseal-demo (in the overlay):"
  sed 's/^/     /' /etc/pam.d/cloudseal-demo
}

step_enroll() {
  title "The user enrolls: cloudseal enroll"
  install -d -o $DEMO_USER -g $DEMO_USER -m 0700 "$D/state/keybags/$DEMO_USER"
  install -d -o $DEMO_USER -g $DEMO_USER -m 0700 "$D/storage/users/$DEMO_USER"
  say "$ cloudseal enroll --password-stdin   (as $DEMO_USER; the recovery key is kept in $D, not shown)"
  out=$(echo "$PW1" | as_user "$B/cloudseal" --config "$C" enroll --password-stdin 2>&1)
  printf '%s\n' "$out" | grep -E -o '[0-9A-Z]{4}(-[0-9A-Z]{4}){13}' > "$D/recovery" || true
  printf '%s\n' "$out" | sed -E 's/[0-9A-Z]{4}(-[0-9A-Z]{4}){13}/XXXX-...-XXXX (hidden)/; s/^/     /'
  ACCOUNT_ID=$(as_user "$B/cloudseal" --config "$C" status --json | sed -n 's/.*"account_id": *"\([0-9a-f]*\)".*/\1/p')
  as_user "$B/cloudseal" --config "$C" lock >/dev/null 2>&1 || true
  key_readable && die "the key should be locked now"
  say "$ cloudseal keybag dump   (as $DEMO_USER; never shows a key, salt or ciphertext)"
  as_user "$B/cloudseal" --config "$C" keybag dump 2>&1 | sed 's/^/     /'
  ok "enrolled; keys locked until the next login"
}

login() { # password [extra conversation answers...]
  printf '%s\n' "$@" | pamtester cloudseal-demo $DEMO_USER authenticate open_session 2>&1 | sed 's/^/     /'
}

step_login() {
  title "Log in through the real PAM stack (pam_unix, then pam_cloudseal)"
  say "$ pamtester cloudseal-demo $DEMO_USER authenticate open_session   (password on stdin)"
  t0=$(date +%s%N); login "$PW1"; t1=$(date +%s%N)
  say "login took $(( (t1 - t0) / 1000000 )) ms"
}

step_show_key() {
  title "The key is in $DEMO_USER's kernel user keyring"
  say "$ keyctl show @u   (as $DEMO_USER; descriptions only, never the key)"
  user_keyctl "show @u" | sed 's/^/     /'
  key_readable || die "no key in the keyring"
  k=$(user_keyctl "search @u user $(key_desc)")
  say "another user (nobody) tries to read it:"
  if setpriv --reuid=nobody --regid=nogroup --clear-groups keyctl pipe "$k" >/dev/null 2>&1; then
    die "another uid could read the key"
  fi
  ok "readable by $DEMO_UID only ($(user_keyctl "pipe $k" | wc -c) bytes; contents not shown)"
}

step_logout() {
  title "Log out (lock = logout: the last session's close revokes the key)"
  say "$ pamtester cloudseal-demo $DEMO_USER close_session"
  pamtester cloudseal-demo $DEMO_USER close_session 2>&1 | sed 's/^/     /'
  say "(the session opened by the earlier pamtester process is gone with it, so this is the last)"
  if key_readable; then die "the key is still there"; fi
  user_keyctl "show @u" | sed 's/^/     /'
  ok "key revoked"
}

step_change_password() {
  title "$DEMO_USER changes the password with passwd(1): PAM chauthtok re-wraps the keybag"
  say "$ passwd   (as $DEMO_USER: current password, new password twice on stdin)"
  printf '%s\n%s\n%s\n' "$PW1" "$PW2" "$PW2" | as_user passwd 2>&1 | sed 's/^/     /'
  say "$ cloudseal keybag dump --cache-only   (structure only: the generation went up)"
  as_user "$B/cloudseal" --config "$C" keybag dump --cache-only 2>&1 | sed 's/^/     /'
  ok "password changed; the keybag now opens with the new password"
}

step_login_again() {
  title "Log in again with the new password"
  login "$PW2"
  key_readable || die "the new password did not unlock"
  ok "unlocked with the new password"
}

step_admin_reset() {
  title "Bonus: root resets the password (no old password: 'password drift')"
  echo "$DEMO_USER:$PW3" | chpasswd
  say "$ chpasswd   (root; the keybag still opens only with the previous password)"
  say "next login: pam_cloudseal asks once for the previous password (or the recovery key)"
  login "$PW3" "$PW2"
  key_readable || die "drift repair did not unlock"
  ok "unlocked, and the keybag is re-wrapped to the new login password"
  pamtester cloudseal-demo $DEMO_USER close_session >/dev/null 2>&1
  login "$PW3"
  key_readable || die "the reset password does not unlock"
  ok "the next login needs no question"
  pamtester cloudseal-demo $DEMO_USER close_session >/dev/null 2>&1
}

STEPS="step_sandbox step_create_user step_enroll step_login step_show_key step_logout
       step_change_password step_login_again step_show_key"
EXTRA_STEPS=""
for f in "$ROOT"/tests/demo/steps.d/*.sh; do
  [ -e "$f" ] || continue
  # shellcheck source=/dev/null
  . "$f"
done
for s in $STEPS $EXTRA_STEPS step_logout step_admin_reset; do
  "$s"
done
title "Done"
say "The namespace, its /etc overlay and $D go away now; nothing was left on the host."
