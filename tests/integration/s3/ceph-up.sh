#!/bin/bash
# SPDX-License-Identifier: MIT
# ceph-up.sh DIR PORT — a single-node Ceph (mon + 1 memstore OSD + radosgw)
# on 127.0.0.1 (the mon on a free port, msgr2 only), everything (conf, data, logs, sockets, pids) under DIR; no
# systemd, no cephx.  Prints "rgw ready" when radosgw answers on PORT.
# Recipe: TESTING-NOTES §6.  Stop with ceph-down.sh DIR.
# CEPH_MEMSTORE_BYTES (default 512 MiB, enough for the tests) sizes the OSD's
# RAM store: a full memstore makes RGW hang on writes, so the benchmarks
# (bench/s3.sh, bench/wan.sh: several 1 GiB repositories) raise it.
set -euo pipefail
DIR=${1:?dir}; RGW_PORT=${2:?port}
MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-536870912}
for b in ceph-mon ceph-osd radosgw ceph radosgw-admin uuidgen; do
  command -v "$b" >/dev/null || { echo "ceph-up: $b missing: run scripts/install-deps.sh check" >&2; exit 1; }
done
# the mon on a free port of its own (msgr2 only), not the standard
# 3300/6789: another checkout's cluster may run on this machine meanwhile
MON_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$DIR"/{log,run,mon,osd,rgw}
export CEPH_CONF=$DIR/ceph.conf
cat > "$CEPH_CONF" <<EOC
[global]
fsid = $(uuidgen)
mon host = [v2:127.0.0.1:$MON_PORT]
ms bind msgr1 = false
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
keyring = /dev/null
[mon]
mon data = $DIR/mon
[mon.a]
public addr = v2:127.0.0.1:$MON_PORT
mon data avail crit = 0
mon allow pool delete = true
[osd]
osd data = $DIR/osd
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd memory target = 939524096
osd class load list = *
osd class default list = *
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $DIR/rgw
# virtual-hosted-style requests (bucket.s3.cstest) for test_s3_addressing.py;
# requests to any other host name stay path-style
rgw dns name = s3.cstest
# radosgw hard-codes ms_mon_client_mode=secure, impossible with auth none
ms mon client mode = crc
EOC
ceph-mon --id a --mkfs --keyring /dev/null
ceph-mon --id a -f > "$DIR/log/mon.out" 2>&1 & echo $! > "$DIR/run/mon.a.fg.pid"
# The daemons announce readiness on no channel a script can wait on (no
# sd_notify without systemd, nothing fixed in their logs): polled, with
# backoff (waits.py poll); the bounds only fail a stuck start.
WAITS=$(dirname "$0")/../waits.py
python3 "$WAITS" poll 12 "the ceph mon" sh -c 'ceph --connect-timeout 2 mon stat >/dev/null 2>&1' \
  || { echo "ceph-up: mon did not start; see $DIR/log" >&2; exit 1; }
OSD_ID=$(ceph osd create)
ceph osd crush add "osd.$OSD_ID" 1 root=default host=localhost >/dev/null 2>&1
ceph-osd --id "$OSD_ID" --mkfs > "$DIR/log/osd-mkfs.out" 2>&1
ceph-osd --id "$OSD_ID" -f > "$DIR/log/osd.out" 2>&1 & echo $! > "$DIR/run/osd.$OSD_ID.fg.pid"
python3 "$WAITS" poll 60 "the ceph osd up" sh -c "ceph osd stat 2>/dev/null | grep -q '1 up'" \
  || { echo "ceph-up: osd did not come up; see $DIR/log" >&2; exit 1; }
radosgw -n client.rgw.a -f > "$DIR/log/rgw.out" 2>&1 & echo $! > "$DIR/run/rgw.a.fg.pid"
python3 "$WAITS" poll 90 "radosgw on port $RGW_PORT" curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" \
  || { echo "ceph-up: radosgw did not answer on $RGW_PORT; see $DIR/log" >&2; exit 1; }
echo "rgw ready"
