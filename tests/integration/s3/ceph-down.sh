#!/bin/bash
# SPDX-License-Identifier: MIT
# ceph-down.sh DIR — stop the daemons ceph-up.sh started, by recorded pid:
# radosgw first, then the OSD, then the mon (mon first makes the others hang).
DIR=${1:?dir}
for f in "$DIR"/run/rgw.*.fg.pid "$DIR"/run/osd.*.fg.pid "$DIR"/run/mon.*.fg.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f"); kill "$p" 2>/dev/null
  python3 "$(dirname "$0")/../waits.py" exit "$p" 10 2>/dev/null || kill -9 "$p" 2>/dev/null
  rm -f "$f"
done
exit 0
