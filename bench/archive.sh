#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Message-archive benchmark (issue 7): initial sync of BENCH_MESSAGES
# (default 50 000) generated messages of realistic sizes into a local
# (file://) repository, then a no-change sync.  Targets: initial >= 50 MiB/s,
# no-change <= 0.5 s.  Runs the real CLI with a throwaway account.
#
#   BENCH_MESSAGES=N  BENCH_WORK=DIR (default /var/tmp/cloudseal-archive-bench)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
CS=$ROOT/$O/cloudseal
N=${BENCH_MESSAGES:-50000}
WORK=${BENCH_WORK:-/var/tmp/cloudseal-archive-bench}
[ -x "$CS" ] || { echo "archive bench: build first (make)" >&2; exit 2; }

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'CLOUDSEAL_CONFIG=$WORK/cloudseal.conf "$CS" lock >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
cat > "$WORK/cloudseal.conf" <<CONF
[storage]
url = file://$WORK/storage
[paths]
state_dir = $WORK/state
[kdf]
target_time_ms = 1
memory = 8M
[archive]
maildir = $WORK/Maildir
state_dir = $WORK/archive-state
CONF
# a second workstation: same account and repository, its own Maildir and state
sed -e "s|^maildir = .*|maildir = $WORK/Maildir2|" -e "s|^state_dir = $WORK/archive-state|state_dir = $WORK/archive-state2|" \
  "$WORK/cloudseal.conf" > "$WORK/second.conf"
export CLOUDSEAL_CONFIG=$WORK/cloudseal.conf
PW="archive bench password"

echo "archive bench: generating $N messages in $WORK/Maildir"
bytes=$(/usr/bin/python3 "$ROOT/bench/archive_mkmaildir.py" "$WORK/Maildir" "$N")
echo "$PW" | "$CS" enroll --password-stdin >/dev/null
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

now() { date +%s.%N; }
t0=$(now)
echo "$PW" | "$CS" --json archive sync --password-stdin > "$WORK/initial.json"
t1=$(now)
echo "$PW" | "$CS" --json archive sync --password-stdin > "$WORK/nochange.json"
t2=$(now)
echo "$PW" | "$CS" --json archive sync --password-stdin > /dev/null
t3=$(now)
stored=$(du -sb "$WORK/storage/users" | cut -f1)
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
t4=$(now)
echo "$PW" | CLOUDSEAL_CONFIG=$WORK/second.conf "$CS" --json archive sync --password-stdin > "$WORK/second.json"
t5=$(now)

/usr/bin/python3 - "$bytes" "$stored" "$t0" "$t1" "$t2" "$t3" "$N" "$WORK" "$t4" "$t5" <<'PY'
import json, sys
data, stored, t0, t1, t2, t3, n, work, t4, t5 = sys.argv[1:]
data, stored, n = int(data), int(stored), int(n)
t0, t1, t2, t3, t4, t5 = map(float, (t0, t1, t2, t3, t4, t5))
init = json.loads(open(f"{work}/initial.json").read().splitlines()[-1])
nc = json.loads(open(f"{work}/nochange.json").read().splitlines()[-1])
rate = data / (1 << 20) / (t1 - t0)
best_nc = min(t2 - t1, t3 - t2)
print(f"messages:            {n} ({init['local_added']} added, {init['bodies_reused']} stored once as duplicates)")
print(f"Maildir size:        {data / (1 << 20):.1f} MiB")
print(f"repository size:     {stored / (1 << 20):.1f} MiB ({init['packs_uploaded']} packs)")
print(f"initial sync:        {t1 - t0:.2f} s = {rate:.1f} MiB/s   (target >= 50 MiB/s: {'ok' if rate >= 50 else 'MISSED'})")
print(f"no-change sync:      {t2 - t1:.3f} s, again {t3 - t2:.3f} s   (target <= 0.5 s: {'ok' if best_nc <= 0.5 else 'MISSED'})")
second = json.loads(open(f"{work}/second.json").read().splitlines()[-1])
print(f"second workstation:  {t5 - t4:.2f} s = {data / (1 << 20) / (t5 - t4):.1f} MiB/s "
      f"({second['delivered']} messages delivered)")
assert nc["ok"] and nc["local_added"] == 0 and nc["bytes_uploaded"] == 0
assert second["ok"] and second["delivered"] == n
PY
