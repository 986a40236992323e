# SPDX-License-Identifier: MIT
"""What a password attempt may cost the workstation (issue 14, hole 5 and
item 6): a keybag's KDF parameters are capped by what this machine accepts
([kdf] max_memory, max_ops), concurrent helper runs for one user derive one
at a time, and every process that holds a key is kept from core dumps and
ptrace."""
import json
import pathlib
import re
import struct
import time

import uids
import waits

UID = uids.local(0)  # conftest.UID

PASSWORD = "Tr0ub4dor&3"
UNLOCK = "$B/cloudseal-helper --config $C --timeout 20 unlock --user $U"


def frame(b):
    return struct.pack(">I", len(b)) + b


def plant_kdf(path, memory, ops):
    """Rewrite a keybag's password-slot KDF parameters, as whoever can write
    the bucket can (the MAC covers them, but it needs the key to check)."""
    kb = json.loads(path.read_text())
    for slot in kb["slots"]:
        if slot["type"] == "password":
            slot["kdf"]["memory"] = memory
            slot["kdf"]["ops"] = ops
    path.write_text(json.dumps(kb))


def test_huge_kdf_parameters_are_refused_before_deriving(sandbox):
    """A keybag in storage asking for 4 GiB x 64 passes (within the format's
    bounds) costs the root helper nothing: refused as an integrity error in
    well under a second, naming the setting; with a good cached keybag the
    login still works from the cache."""
    sandbox.enroll()
    stored = sandbox.storage / "users" / "cspamtest" / "keybag"
    cached = sandbox.state / "keybags" / "cspamtest" / "keybag"
    saved_cache = cached.read_bytes()
    plant_kdf(stored, 4 << 30, 64)

    # no cache: nothing else to fall back to
    cached.unlink()
    t0 = time.monotonic()
    r = sandbox.run(UNLOCK, input=frame(PASSWORD.encode()), binary=True, check=False, timeout=60)
    elapsed = time.monotonic() - t0
    print(f"huge-parameter keybag refused in {elapsed * 1000:.0f} ms")
    assert r.returncode == 12, r.stderr
    assert b"[kdf] max_memory" in r.stderr and b"4096 MiB" in r.stderr
    assert elapsed < 20  # far below the minutes a 4 GiB KDF would take; unshare + mount included

    # with the cache: the planted copy falls through, the login goes on
    cached.write_bytes(saved_cache)
    t0 = time.monotonic()
    r = sandbox.run(UNLOCK, input=frame(PASSWORD.encode()), binary=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 20  # the planted copy's KDF was not run


def test_max_ops_and_max_memory_settings(sandbox):
    """Each cap alone, and raising the setting accepts a genuine keybag that
    was made on a bigger machine."""
    sandbox.enroll()
    stored = sandbox.storage / "users" / "cspamtest" / "keybag"
    cached = sandbox.state / "keybags" / "cspamtest" / "keybag"
    cached.unlink()
    # 8M is the sandbox's [kdf] memory: the automatic limit is 32M
    plant_kdf(stored, 64 << 20, 1)
    r = sandbox.run(UNLOCK, input=frame(PASSWORD.encode()), binary=True, check=False)
    assert r.returncode == 12 and b"at most 32 MiB ([kdf] max_memory)" in r.stderr, r.stderr
    plant_kdf(stored, 8 << 20, 17)
    r = sandbox.run(UNLOCK, input=frame(PASSWORD.encode()), binary=True, check=False)
    assert r.returncode == 12 and b"17 passes" in r.stderr and b"[kdf] max_ops" in r.stderr, r.stderr
    # raised: the parameters are accepted and derived (the MAC then fails,
    # since the planted parameters are not the ones the key was wrapped with)
    with open(sandbox.config, "a") as f:
        f.write("max_memory = 64M\nmax_ops = 17\n")
    r = sandbox.run(UNLOCK, input=frame(PASSWORD.encode()), binary=True, check=False)
    assert r.returncode in (10, 12) and b"max_memory" not in r.stderr, r.stderr


def kdf_timeline(path):
    """The order in which the helpers' derivations started and ended, from
    their --debug lines appended (O_APPEND, one write() each) to one file:
    the exact global order, whatever the scheduling.  Returns (peak, n)."""
    running = peak = n = 0
    for line in path.read_text().splitlines():
        if re.search(r"argon2id: \d+ MiB, \d+ passes: start", line):
            running += 1
            n += 1
            peak = max(peak, running)
        elif "argon2id: done" in line:
            running -= 1
    return peak, n


def test_parallel_attempts_on_one_user_derive_one_at_a_time(sandbox):
    """Twenty wrong passwords for one user at once (sshd, su, polkit...):
    twenty derivations, all of them run, never two at the same time."""
    sandbox.config.write_text(sandbox.config.read_text().replace("memory = 8M", "memory = 64M"))
    sandbox.enroll()
    (sandbox.dir / "wrong.frame").write_bytes(frame(b"wrong"))
    r = sandbox.run(r"""
        : > $D/timeline
        for i in $(seq 20); do
            ( $B/cloudseal-helper --config $C --debug --timeout 60 unlock --user $U \
                < $D/wrong.frame > /dev/null 2>>$D/timeline && rc=0 || rc=$?; echo $rc >> $D/codes ) &
        done
        wait
    """, timeout=120)
    codes = (sandbox.dir / "codes").read_text().split()
    peak, n = kdf_timeline(sandbox.dir / "timeline")
    print(f"20 parallel attempts: {n} derivations, peak {peak} at once")
    assert codes == ["10"] * 20, (sandbox.dir / "timeline").read_text()
    assert n == 20
    assert peak == 1


def test_lock_wait_is_bounded(sandbox):
    """A helper that cannot get the user's lock gives up after half its run
    time with a message, before PAM gives up on it; the lock directory is
    root's only."""
    sandbox.enroll()
    r = sandbox.run(r"""
        mkdir -p -m 700 $D/state/helper-locks
        exec 9> $D/state/helper-locks/$U
        flock 9
        printf '\000\000\000\005wrong' | $B/cloudseal-helper --config $C --timeout 2 unlock --user $U \
            > /dev/null 2> $D/err && rc=0 || rc=$?
        echo $rc
        stat -c %a $D/state/helper-locks
    """)
    rc, mode = r.stdout.split()
    assert rc == "14", (sandbox.dir / "err").read_text()
    assert "kept this one waiting 1 s" in (sandbox.dir / "err").read_text()
    assert mode == "700"


# Start a program as the test user with fd 0 an empty FIFO (kept open for
# writing by the script, so the program blocks reading its secret there),
# wait until it sits in read(0, ...) -- past main()'s hardening -- or, with
# READY=path, until that file exists, and print what the kernel says of it:
# the owner of /proc/PID/environ (root when the process is not dumpable:
# task_dump_owner) and its core size limit.
PROBE = r"""
probe() {
    rm -f $D/fifo; mkfifo $D/fifo; chmod 666 $D/fifo
    exec 8<>$D/fifo
    setpriv --reuid=$UID_ --regid=$UID_ --clear-groups "$@" < $D/fifo > /dev/null 2>> $D/probe.err &
    pid=$!
    if [ -n "${READY:-}" ]; then
        python3 WAITS exists "$READY" 30 || { echo "$1 never got ready"; exit 1; }
    else
        python3 WAITS blocked-read $pid 30 || { echo "$1 never blocked on fd 0"; exit 1; }
    fi
    echo "$(basename $(readlink /proc/$pid/exe)) $(stat -c %u /proc/$pid/environ) $(awk '/Max core file size/ {print $5 "/" $6}' /proc/$pid/limits)"
    kill $pid; wait $pid || true
    exec 8>&-
}
""".replace("WAITS", str(pathlib.Path(waits.__file__).resolve()))


def test_key_holding_processes_are_not_dumpable(sandbox):
    """cloudseal-helper (run by the user for itself), the CLI and
    cloudseal-agent, each stopped where it waits for a secret or a request:
    not dumpable (so neither the user's other processes may ptrace them nor
    a core be written) and RLIMIT_CORE 0.  cat(1) is the control."""
    import os
    sandbox.enroll()
    (sandbox.dir / "run-user").mkdir(mode=0o700)
    os.chown(sandbox.dir / "run-user", UID, UID)
    r = sandbox.run(PROBE + f"UID_={UID}\n" + r"""
        probe /bin/cat
        probe $B/cloudseal-helper --config $C unlock --user $U
        probe $B/cloudseal --config $C unlock
        READY=$D/run-user/cloudseal/agent.sock probe /usr/bin/env XDG_RUNTIME_DIR=$D/run-user \
            CLOUDSEAL_CONFIG=$C $B/cloudseal-agent
    """, check=False)
    got = dict((l.split()[0], tuple(l.split()[1:])) for l in r.stdout.splitlines() if l)
    assert r.returncode == 0, r.stdout + r.stderr
    assert got["cat"][0] == str(UID)  # the control: a plain process of the user is dumpable
    for prog in ("cloudseal-helper", "cloudseal", "cloudseal-agent"):
        assert got[prog] == ("0", "0/0"), (prog, r.stdout)


def test_unlockable_key_memory_is_warned_about_once(sandbox):
    """With RLIMIT_MEMLOCK 0 (a non-root process cannot lock a page), the
    CLI still unlocks -- a resource limit must not lock anyone out -- but
    says once, not per allocation, that keys may reach swap and what to
    change."""
    sandbox.enroll()
    r = sandbox.run("prlimit --memlock=0:0 " + sandbox.as_user("$B/cloudseal --config $C unlock --password-stdin"),
                    input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("cannot lock key memory in RAM") == 1, r.stderr
    assert "RLIMIT_MEMLOCK 0 KiB" in r.stderr and "LimitMEMLOCK=" in r.stderr
    # with the usual limit: no word
    r = sandbox.run(sandbox.as_user("$B/cloudseal --config $C lock; "
                                    "$B/cloudseal --config $C unlock --password-stdin"),
                    input=PASSWORD + "\n", check=False)
    assert r.returncode == 0 and "cannot lock" not in r.stderr, r.stderr
