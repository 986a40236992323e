# SPDX-License-Identifier: MIT
"""Fleet directory end to end: admin CLI -> signed object in storage ->
cloudseal-helper directory-sync -> cache -> NSS (nss_wrapper and real glibc).
"""
import json
import os
import pathlib
import subprocess
import textwrap

import pytest

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")


def run(cmd, *, env=None, check=True):
    full_env = dict(os.environ)
    full_env.update(env or {})
    r = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def add_alice_bob(fleet):
    fleet.cli("add-user", "alice", "--gecos", "Alice Liddell")
    fleet.cli("add-user", "bob", "--uid", "1500000", "--shell", "/bin/sh")
    fleet.cli("add-group", "devs", "--gid", "1600000", "--members", "alice,bob")
    fleet.cli("approve", "alice", "--key", "11" * 32)


def test_publish_sync_and_nss_wrapper(fleet):
    add_alice_bob(fleet)
    out = fleet.publish().stdout
    assert "published serial 1" in out
    r = fleet.sync()
    assert "installed fleet directory serial 1: 2 users, 3 groups" in r.stdout

    alice = fleet.getent("passwd", "alice", check=True).stdout.strip().split(":")
    assert alice[0] == "alice" and alice[4] == "Alice Liddell" and alice[5] == "/home/alice"
    uid = int(alice[2])
    assert 1000000 <= uid <= 1999999
    assert fleet.getent("passwd", str(uid), check=True).stdout.startswith("alice:")
    assert fleet.getent("passwd", "bob", check=True).stdout.strip() == \
        "bob:x:1500000:1500000::/home/bob:/bin/sh"
    assert fleet.getent("group", "devs", check=True).stdout.strip() == "devs:x:1600000:alice,bob"
    ids = run(["id", "bob"], env=fleet.nss_env()).stdout
    assert "1600000(devs)" in ids
    assert fleet.getent("passwd", "nosuchuser").returncode == 2
    # enumeration lists the local entries and the fleet's
    names = [l.split(":")[0] for l in fleet.getent("passwd", check=True).stdout.splitlines()]
    assert {"root", "alice", "bob"} <= set(names)

    # same ETag: nothing fetched; a republish is picked up
    assert "unchanged" in fleet.sync().stdout
    fleet.cli("disable-user", "bob")
    fleet.cli("remove-user", "alice")
    fleet.publish()
    assert "serial 2: 1 users" in fleet.sync().stdout
    assert fleet.getent("passwd", "alice").returncode == 2
    shown = json.loads(run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "--json",
                            "admin", "show", "--installed"]).stdout)
    assert shown["serial"] == 2 and shown["users"][0]["disabled"] is True


def test_uid_allocation_is_deterministic(fleet, tmp_path):
    fleet.cli("add-user", "carol")
    first = json.loads(fleet.cli("show", "--json").stdout)["users"][0]["uid"]
    other = tmp_path / "other.json"
    run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "admin", "--source", str(other),
         "init"])
    run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "admin", "--source", str(other),
         "add-user", "carol"])
    again = json.loads(other.read_text())["users"][0]["uid"]
    assert first == again


def edited_source(fleet, tmp_path, name, edit):
    src = json.loads(fleet.source.read_text())
    edit(src)
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(src))
    return p


HOSTILE = {
    "uid0": lambda s: s["users"][0].update(uid=0),
    "out_of_range": lambda s: s["users"][0].update(uid=2500000),
    "duplicate_name": lambda s: s["users"].append(dict(s["users"][0], uid=1700000)),
    "duplicate_uid": lambda s: s["users"].append(dict(s["users"][0], name="mallory")),
    "local_name": lambda s: s["users"][0].update(name="localuser"),
    "local_uid": lambda s: s["users"][0].update(uid=1000777),
    "local_group": lambda s: s["groups"].append({"name": "localgrp", "gid": 1700001, "members": []}),
    "root_name": lambda s: s["users"][0].update(name="root"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE) + ["tampered", "rollback", "expired",
                                                    "other_key", "garbage"])
def test_refused_directory_keeps_cache(fleet, tmp_path, case):
    add_alice_bob(fleet)
    fleet.publish()
    fleet.publish()          # serial 2 installed
    fleet.sync()
    before = fleet.cache.read_bytes()
    bad = tmp_path / "bad.signed"
    if case in HOSTILE:
        fleet.sign(bad, 3, source=edited_source(fleet, tmp_path, case, HOSTILE[case]))
        reason = "refused"
    elif case == "tampered":
        fleet.sign(bad, 3)
        header, body = bad.read_bytes().split(b"\n", 1)
        doc = json.loads(body)
        doc["users"][1]["uid"] = 1000001          # the attacker's edit
        body = json.dumps(doc).encode()
        head = json.loads(header)
        head["body_bytes"] = len(body)            # a consistent, but unsigned, object
        bad.write_bytes(json.dumps(head).encode() + b"\n" + body)
        reason = "signature does not verify"
    elif case == "rollback":
        fleet.sign(bad, 1)
        reason = "rollback"
    elif case == "expired":
        fleet.sign(bad, 3, expires_in=-60)
        reason = "expired"
    elif case == "other_key":
        run([str(BUILD / "cloudseal"), "admin", "keygen", "--secret", str(tmp_path / "evil.key"),
             "--public", str(tmp_path / "evil.pub")])
        run([str(BUILD / "tests" / "fleet" / "fleet-tool"), "sign", str(fleet.source),
             str(tmp_path / "evil.key"), str(bad), "3", "3600"])
        reason = "another key"
    else:
        bad.write_bytes(b'{"format": "cloudseal-signed-directory", "body_bytes": 4}\n{"us')
        reason = "refused"
    fleet.plant(bad)
    r = fleet.sync(check=False)
    assert r.returncode != 0, r.stdout
    assert reason in r.stderr and "keeping the installed cache" in r.stderr, r.stderr
    assert fleet.cache.read_bytes() == before
    assert fleet.getent("passwd", "bob", check=True).stdout.startswith("bob:x:1500000:")


def test_admin_errors_are_explained(fleet):
    fleet.cli("add-user", "dave")
    r = fleet.cli("add-user", "dave", check=False)
    assert r.returncode != 0 and "already exists" in r.stderr
    r = fleet.cli("approve", "nobody", "--key", "22" * 32, check=False)
    assert r.returncode == 4 and "add-user" in r.stderr
    r = fleet.cli("add-user", "Bad:Name", check=False)
    assert r.returncode == 2
    r = fleet.cli("add-user", "erin", "--uid", "0", check=False)
    assert r.returncode != 0
    r = fleet.cli("add-user", "frank", "--uid", "5", check=False)   # outside the range
    assert r.returncode == 5 and "outside the allowed range" in r.stderr
    r = fleet.cli("publish", "--secret-key", str(fleet.tmp / "missing.key"), check=False)
    assert r.returncode != 0 and "secret key" in r.stderr
    os.chmod(fleet.tmp / "fleet.key", 0o644)
    r = fleet.cli("publish", "--secret-key", str(fleet.tmp / "fleet.key"), check=False)
    assert r.returncode != 0 and "chmod 600" in r.stderr
    # the secret key never reaches stdout/stderr
    secret = [l for l in (fleet.tmp / "fleet.key").read_text().splitlines() if not l.startswith("#")][0]
    assert secret not in r.stdout + r.stderr


def test_verify_pinned_serial_is_a_number(fleet):
    """admin verify --pinned-serial parsed with strtoull(optarg, NULL, 10): a
    typo pinned 0 (or the digits before it) and a stale directory passed."""
    fleet.cli("add-user", "dave")
    fleet.publish()
    signed = str(fleet.store / "fleet" / "directory")
    assert "valid: serial 1" in fleet.cli("verify", signed, "--pinned-serial", "1").stdout
    r = fleet.cli("verify", signed, "--pinned-serial", "2", check=False)
    assert r.returncode == 5 and "refused" in r.stderr
    for typo in ("x", "2x", "", "-1", "+2", " 2", "1e3", "99999999999999999999999"):
        r = fleet.cli("verify", signed, "--pinned-serial", typo, check=False)
        assert r.returncode == 2, (typo, r.returncode, r.stdout, r.stderr)
        assert "is not a serial number" in r.stderr, (typo, r.stderr)


def in_namespace(fleet, script):
    """Run script as root in a private mount namespace whose /etc/nsswitch.conf
    lists cloudseal and whose /var/lib/cloudseal holds our cache; the real
    module is found through LD_LIBRARY_PATH.  The host is not touched."""
    nss = fleet.tmp / "nsswitch.conf"
    nss.write_text("passwd: files cloudseal\ngroup: files cloudseal\nshadow: files\n")
    full = textwrap.dedent(f"""
        set -e
        mount --make-rprivate /
        mount --bind {nss} /etc/nsswitch.conf
        mount -t tmpfs -o mode=755 tmpfs /var/lib
        mkdir -p /var/lib/cloudseal
        cp {fleet.cache} /var/lib/cloudseal/directory.cache
        export LD_LIBRARY_PATH={BUILD}
    """) + script
    return subprocess.run(["unshare", "-m", "sh", "-c", full], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare -m")
def test_real_glibc_getent_in_mount_namespace(fleet):
    add_alice_bob(fleet)
    fleet.publish()
    fleet.sync()
    r = in_namespace(fleet, """
        getent passwd bob
        getent group devs
        id -Gn alice
        getent passwd | grep -c '^alice:'
        # a corrupt cache: lookups fall through, nothing crashes
        head -c 100 /var/lib/cloudseal/directory.cache > /tmp/.cs-trunc.$$
        cp /tmp/.cs-trunc.$$ /var/lib/cloudseal/directory.cache.new
        rm -f /tmp/.cs-trunc.$$
        mv /var/lib/cloudseal/directory.cache.new /var/lib/cloudseal/directory.cache
        getent passwd bob && echo STILL-FOUND || echo "fallthrough rc=$?"
        getent passwd root
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "bob:x:1500000:1500000::/home/bob:/bin/sh"
    assert lines[1] == "devs:x:1600000:alice,bob"
    assert "devs" in lines[2].split()
    assert lines[3] == "1"
    assert lines[4] == "fallthrough rc=2"
    assert lines[5].startswith("root:x:0:0:")
    # the host saw nothing of it
    assert "cloudseal" not in open("/etc/nsswitch.conf").read()


def test_group_and_user_editing(fleet):
    fleet.cli("add-user", "gina", "--uid", "1300000")
    fleet.cli("add-user", "hal", "--uid", "1300001", "--groups", "")
    fleet.cli("add-group", "ops", "--gid", "1300100")
    fleet.cli("add-member", "ops", "gina", "hal")
    fleet.cli("set-user", "hal", "--gid", "1300100", "--shell", "/bin/zsh", "--gecos", "Hal,,,")
    src = json.loads(fleet.cli("show", "--json").stdout)
    hal = [u for u in src["users"] if u["name"] == "hal"][0]
    assert hal["gid"] == 1300100 and hal["shell"] == "/bin/zsh" and hal["gecos"] == "Hal,,,"
    assert [g for g in src["groups"] if g["name"] == "ops"][0]["members"] == ["gina", "hal"]
    fleet.cli("remove-member", "ops", "hal")
    text = fleet.cli("show").stdout
    assert "ops" in text and "gina" in text
    fleet.publish()
    fleet.sync()
    assert fleet.getent("group", "ops", check=True).stdout.strip() == "ops:x:1300100:gina"
    assert fleet.getent("group", "gina", check=True).stdout.strip() == "gina:x:1300000:"
    # hal's private group went away with --gid; gina's stays implicit
    assert fleet.getent("group", "hal").returncode == 2
    fleet.cli("remove-user", "gina")
    src = json.loads(fleet.cli("show", "--json").stdout)
    assert [g["members"] for g in src["groups"] if g["name"] == "ops"] == [[]]
    r = fleet.cli("remove-group", "nosuch", check=False)
    assert r.returncode == 4


STATE_DAMAGE = {
    "truncated": lambda p: p.write_text(p.read_text()[:9]),
    "corrupt": lambda p: p.write_bytes(b"\x00\xff not json"),
    "wrong_type": lambda p: p.write_text('{"serial": "2", "etag": 5}'),
    "unreadable": lambda p: (p.unlink(), p.mkdir()),   # EISDIR: unreadable even for root
}


@pytest.mark.parametrize("damage", sorted(STATE_DAMAGE))
def test_damaged_state_never_lowers_the_rollback_pin(fleet, tmp_path, damage):
    add_alice_bob(fleet)
    fleet.publish()
    fleet.publish()          # serial 2 installed and pinned in the state
    fleet.sync()
    state = tmp_path / "directory.state"
    old = tmp_path / "old.signed"
    fleet.sign(old, 1)
    fleet.plant(old)
    STATE_DAMAGE[damage](state)
    # the installed cache proves serial 2: still a rollback
    r = fleet.sync(check=False)
    assert r.returncode != 0 and "rollback" in r.stderr, r.stderr
    assert "pinning the installed cache's serial 2" in r.stderr, r.stderr
    # nothing left to prove a serial: nothing is accepted, and the user is told what to do
    fleet.cache.unlink()
    r = fleet.sync(check=False)
    assert r.returncode != 0, r.stdout
    assert "the rollback pin is unknown: restore the file" in r.stderr, r.stderr
    assert not fleet.cache.exists()
