#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot a cached root file system (rootfs.sh) with systemd as PID 1 under
# systemd-nspawn, on a host whose own PID 1 need not be systemd
# (TESTING-NOTES §7), and run commands inside it.
#
#   boot.sh prepare ROOTFS WORKDIR     overlay WORKDIR/root on ROOTFS (the cache
#                                      stays pristine); prints WORKDIR/root.
#                                      Install into it before start.
#   boot.sh start WORKDIR [NSPAWN_ARG...]   boot it; returns once systemd
#                                      reports running (or degraded)
#   boot.sh exec WORKDIR CMD...        run CMD in the container's namespaces
#                                      (as root; wrap in `systemd-run --wait
#                                      --pipe` for a real unit/PAM context)
#   boot.sh stop WORKDIR               power off, wait, unmount the overlay
#
# Always passed to nspawn: --register=no --keep-unit (no host machined or
# bus), --system-call-filter='@keyring @memlock' (nspawn's seccomp filter
# otherwise blocks the kernel keyring, and mlock() for want of CAP_IPC_LOCK:
# cloudseal keeps keys in locked memory), --console=read-only.  The container shares the host's
# network (services inside reach 127.0.0.1) and, without --private-users,
# its kernel keyrings per uid.  The boot log is WORKDIR/boot.log.
set -euo pipefail

die() { echo "boot.sh: $*" >&2; exit 1; }
WAITS=$(dirname "$(realpath "$0")")/../integration/waits.py  # event waits (inotify, pidfd)
leader() { cat "$1/leader.pid" 2>/dev/null || die "$1 is not booted"; }

cmd=${1:-}; shift || true
case $cmd in
prepare)
  [ $# -eq 2 ] || die "usage: boot.sh prepare ROOTFS WORKDIR"
  ROOTFS=$(realpath "$1"); W=$(realpath -m "$2")
  [ -d "$ROOTFS/usr/lib/systemd" ] || die "$ROOTFS is not a root file system with systemd"
  mkdir -p "$W/upper" "$W/work" "$W/root"
  mountpoint -q "$W/root" || mount -t overlay overlay \
    -o "lowerdir=$ROOTFS,upperdir=$W/upper,workdir=$W/work" "$W/root"
  echo "$W/root"
  ;;
start)
  [ $# -ge 1 ] || die "usage: boot.sh start WORKDIR [NSPAWN_ARG...]"
  W=$(realpath "$1"); shift
  [ -d "$W/root/usr/lib/systemd" ] || die "run 'boot.sh prepare' first"
  NAME=${CS_MACHINE_NAME:-cs-$(basename "$W" | tr -c 'a-zA-Z0-9-\n' '-' | cut -c1-40)}
  setsid systemd-nspawn -b -D "$W/root" -M "$NAME" --register=no --keep-unit \
    --console=read-only --system-call-filter='@keyring @memlock' "$@" </dev/null >"$W/boot.log" 2>&1 &
  NSP=$!
  echo $NSP > "$W/nspawn.pid"
  # no event announces another process's child: polled (waits.py poll)
  python3 "$WAITS" poll 10 "systemd in the container" sh -c "kill -0 $NSP && pgrep -P $NSP -x systemd >/dev/null" \
    || { tail -n 30 "$W/boot.log" >&2; die "no systemd in the container (or systemd-nspawn exited)"; }
  LEADER=$(pgrep -P "$NSP" -x systemd)
  echo "$LEADER" > "$W/leader.pid"
  # its manager's socket, seen through the leader's root (inotify)
  WAITS_PID=$LEADER python3 "$WAITS" exists "/proc/$LEADER/root/run/systemd/private" 10 || true
  state=$(timeout 60 nsenter -t "$LEADER" -a systemctl is-system-running --wait || true)
  case $state in
    running|degraded) ;;
    *) tail -n 30 "$W/boot.log" >&2; die "container did not come up (state: ${state:-none})" ;;
  esac
  ;;
exec)
  [ $# -ge 2 ] || die "usage: boot.sh exec WORKDIR CMD..."
  W=$1; shift
  exec nsenter -t "$(leader "$W")" -a "$@"
  ;;
stop)
  [ $# -eq 1 ] || die "usage: boot.sh stop WORKDIR"
  W=$(realpath "$1")
  NSP=$(cat "$W/nspawn.pid" 2>/dev/null || true)
  if [ -n "$NSP" ] && kill -0 "$NSP" 2>/dev/null; then
    L=$(cat "$W/leader.pid" 2>/dev/null || true)
    [ -n "$L" ] && nsenter -t "$L" -a systemctl poweroff --no-block >/dev/null 2>&1 || true
    if ! python3 "$WAITS" exit "$NSP" 20 2>/dev/null; then
      echo "boot.sh: container did not power off in 20 s; killing it" >&2
      kill -KILL "$NSP" 2>/dev/null || true
      python3 "$WAITS" exit "$NSP" 10 || true
    fi
  fi
  rm -f "$W/nspawn.pid" "$W/leader.pid"
  if mountpoint -q "$W/root"; then umount "$W/root" || umount -l "$W/root"; fi
  # nspawn leaves these behind when /run is not a tmpfs (TESTING-NOTES §7);
  # rmdir only removes them when no other container uses them
  rmdir /run/systemd/nspawn/propagate/* /run/systemd/nspawn/propagate /run/systemd/nspawn/locks \
        /run/systemd/nspawn 2>/dev/null || true
  ;;
*)
  sed -n '2,25p' "$0" >&2
  exit 2
  ;;
esac
