# SPDX-License-Identifier: MIT
# `make demo STORAGE=s3`: the same demo with the fleet's storage in a local
# Ceph RGW (single node, memstore, 127.0.0.1; tests/integration/s3/ceph-up.sh)
# instead of a directory.  Sourced by tests/demo/demo.sh; wraps its sandbox
# and user steps.  Needs the Ceph packages: scripts/install-deps.sh check.
if [ "${STORAGE:-file}" = s3 ]; then
  eval "demo_file_step_sandbox() $(declare -f step_sandbox | tail -n +2)"
  eval "demo_file_step_create_user() $(declare -f step_create_user | tail -n +2)"

  s3_demo_down() { "$ROOT/tests/integration/s3/ceph-down.sh" "$D/ceph" >/dev/null 2>&1 || true; }

  step_sandbox() {
    demo_file_step_sandbox
    title "Storage: a Ceph RADOS Gateway on 127.0.0.1 (S3, signatures checked)"
    for b in ceph-mon ceph-osd radosgw radosgw-admin; do
      command -v $b >/dev/null || die "$b missing: run 'scripts/install-deps.sh check' for STORAGE=s3"
    done
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    trap s3_demo_down EXIT
    say "starting mon, osd (memstore) and radosgw under $D/ceph (about 15 s)..."
    CEPH_CONF=$D/ceph/ceph.conf "$ROOT/tests/integration/s3/ceph-up.sh" "$D/ceph" "$port" >/dev/null ||
      die "radosgw did not come up; see $D/ceph/log"
    # radosgw-admin makes the secret; it goes straight into a 0600 file
    (umask 077; CEPH_CONF=$D/ceph/ceph.conf radosgw-admin user create --uid=fleet --display-name="demo fleet" \
      --access-key=DEMOFLEETKEY | python3 -c 'import json, sys; print(json.load(sys.stdin)["keys"][0]["secret_key"])' \
      > "$D/s3.secret")
    # [storage] now names the bucket; the rest of the file stays
    sed -i "s|^url = .*|url = s3+http://127.0.0.1:$port/cloudseal-demo\naccess_key = DEMOFLEETKEY\nsecret_key_file = $D/s3.secret|" "$C"
    run "$B/cloudseal" --config "$C" storage mkbucket
    run "$B/cloudseal" --config "$C" storage test --write
    run cat "$C"
  }

  step_create_user() {
    demo_file_step_create_user
    # the user's own processes (CLI, agent) read the fleet key: group-readable
    chgrp "$DEMO_USER" "$D/s3.secret" && chmod 640 "$D/s3.secret"
  }

  step_s3_listing() {
    title "What the S3 server holds: only ciphertext under users/$DEMO_USER/"
    run "$B/cloudseal" --config "$C" storage ls --long users/
  }
  EXTRA_STEPS="$EXTRA_STEPS step_s3_listing"
fi
