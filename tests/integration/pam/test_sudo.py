# SPDX-License-Identifier: MIT
"""One user's key never reaches another user's session (issue 14, hole 3).

`sudo -i -u B` run by A authenticates A (pam_cloudseal's auth step keeps A's
password, or in the fleet profile A's key), then sets PAM_USER to B and
opens B's session.  What auth kept belongs to A: B's session must get
nothing from it, the password path must not ask B's "previous password"
(A's password is not B's), and cloudseal-helper handoff refuses a key that
is not the one of the target's keybag.

The real sudo (Debian's, set-uid root) runs inside the PAM sandbox
(conftest.py): its own sudoers in the /etc overlay names the test services
(pam_service, pam_login_service) and a timestamp directory in the sandbox.
"""
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

import uids

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# conftest.py's (importlib mode cannot import conftest)
PASSWORD, UID, USER = "Tr0ub4dor&3", uids.local(0), "cspamtest"
from test_fleet_login import FLEET_PW, FUID, FUSER, fleet, fleet_stack  # noqa: F401,E402

AUSER, AUID, A_PW = "csother", uids.local(1), "0ther-Secr3t"



def as_uid(uid, cmd):
    """cmd as uid with a session keyring that links its @u (possessed)."""
    return (f"setpriv --reuid={uid} --regid={uid} --clear-groups "
            f"keyctl session - sh -c 'keyctl link @u @s >/dev/null; {cmd}'")


def add_local_user(sb, name, uid, password):
    """A second local user (pam_unix knows it), enrolled with its own password."""
    d = sb.dir
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                            capture_output=True, text=True, check=True).stdout.strip()
    home = d / f"home-{name}"
    home.mkdir()
    with open(d / "etc" / "passwd", "a") as f:
        f.write(f"{name}:x:{uid}:{uid}::{home}:/bin/sh\n")
    with open(d / "etc" / "group", "a") as f:
        f.write(f"{name}:x:{uid}:\n")
    with open(d / "etc" / "shadow", "a") as f:
        f.write(f"{name}:{hashed}:19000:0:99999:7:::\n")
    for p in (home, sb.storage / "users" / name, sb.state / "keybags" / name):
        p.mkdir(parents=True, exist_ok=True)
        os.chown(p, uid, uid)
        p.chmod(0o700)
    sb.run(as_uid(uid, "$B/cloudseal --config $C enroll --password-stdin >/dev/null && "
                       "$B/cloudseal --config $C lock >/dev/null"), input=password + "\n")


def allow_sudo(sb, *users):
    d = sb.dir
    (d / "sudo-ts").mkdir(mode=0o700, exist_ok=True)
    sudoers = d / "etc" / "sudoers"
    sudoers.write_text("Defaults pam_service=cs-sudo, pam_login_service=cs-sudo-i\n"
                       f"Defaults timestampdir={d}/sudo-ts, timestamp_timeout=0, !lecture\n"
                       + "".join(f"{u} ALL=(ALL:ALL) ALL\n" for u in users))
    sudoers.chmod(0o440)


# Keyrings are per uid for the whole machine: tests of other checkouts may
# log the same test users in at the same time.  So the tests look only at
# keys named after the accounts of their own sandbox (each enrollment makes
# a new account id) and remove only those.
LIST_KEYS = ("for k in $(keyctl rlist @u 2>/dev/null); do d=$(keyctl rdescribe $k 2>/dev/null) || continue; "
             "case $d in *cloudseal:amk:*) echo \"key ${d##*cloudseal:amk:} "
             "$(keyctl pipe $k | sha256sum | cut -c1-64)\";; esac; done")


def parse_keys(out, ids):
    """{account id: sha256 of the key} of the "key ID DIGEST" lines, for ids only."""
    return {f[1]: f[2] for f in (l.split() for l in out.splitlines() if l.startswith("key ")) if f[1] in ids}


def cloudseal_keys(sb, uid, ids, run=None):
    """The keys of the accounts ids in uid's @u (digests, never the keys)."""
    return parse_keys((run or sb.run)(as_uid(uid, LIST_KEYS)).stdout, ids)


def account_id(sb, uid, run=None):
    r = (run or sb.run)(as_uid(uid, "$B/cloudseal --config $C --json status"))
    return json.loads(r.stdout)["account_id"]


def drop_keys(uid, ids):
    for i in ids:
        subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "keyctl", "session",
                        "-", "sh", "-c", f"keyctl link @u @s >/dev/null; k=$(keyctl search @u user "
                        f"cloudseal:amk:{i}) && keyctl unlink $k @u"], capture_output=True)


# Run by sudo as B, inside B's session (close_session revokes the key after
# it with lock = logout): who it runs as, and the cloudseal keys in B's @u.
KEYS_SH = f"""#!/bin/sh
id -un
keyctl session - sh -c 'keyctl link @u @s >/dev/null; {LIST_KEYS}' 2>/dev/null
"""


def sudo(sb, uid, password, ids, run=None):
    """`sudo -S -i -u USER` run by uid, answering its password prompt.
    Returns (run, keys of the accounts ids seen in USER's session);
    run.stdout: the command's output, then the syslog."""
    script = sb.dir / "keys.sh"
    script.write_text(KEYS_SH)
    script.chmod(0o755)
    r = (run or sb.run)(sb.syslog_capture + as_uid(uid, f"sudo -S -i -u {USER} {script}") +
                        " || echo sudo-failed\n" + sb.syslog_drain + "cat $D/syslog.txt\n",
                        input=password + "\n", check=False)
    assert "sudo-failed" not in r.stdout and f"\n{USER}\n" in "\n" + r.stdout, r.stdout + r.stderr
    return r, parse_keys(r.stdout, ids)


@pytest.fixture
def two_users(sandbox):
    """(sandbox, the account ids of A and B)"""
    sandbox.enroll()
    add_local_user(sandbox, AUSER, AUID, A_PW)
    ids = (account_id(sandbox, AUID), sandbox._account_id)
    yield sandbox, ids
    drop_keys(AUID, ids)
    drop_keys(UID, ids)


def storage_keybag(sb, user):
    return (sb.storage / "users" / user / "keybag").read_bytes()


def test_sudo_to_another_user_piggyback(two_users):
    """The password A typed for sudo is not tried as B's: no drift prompt,
    no re-wrap of B's keybag, no key in anybody's keyring."""
    sb, ids = two_users
    sb.add_service("cs-sudo-i")
    allow_sudo(sb, AUSER)
    before = storage_keybag(sb, USER)
    r, keys = sudo(sb, AUID, A_PW, ids)
    assert keys == {}
    assert "Previous password" not in r.stdout + r.stderr, r.stderr
    assert "no longer unlocks" not in r.stdout + r.stderr
    assert cloudseal_keys(sb, UID, ids) == {} and cloudseal_keys(sb, AUID, ids) == {}
    assert storage_keybag(sb, USER) == before
    assert f"password kept at authentication for {AUSER} is dropped" in r.stdout, r.stdout


@pytest.fixture
def fleet_and_local(fleet):
    """(fleet, the account ids of the fleet user A and the local user B)"""
    sb = fleet.sb
    sb.enroll()
    ids = (account_id(sb, FUID, fleet.run), sb._account_id)
    yield fleet, ids
    drop_keys(FUID, ids)
    drop_keys(UID, ids)


def test_sudo_to_another_user_fleet(fleet_and_local):
    """Fleet profile: auth unwraps the fleet user A's key; `sudo -i -u B`
    then opens B's session.  A's key must not land in B's keyring."""
    fleet, ids = fleet_and_local
    sb = fleet.sb
    fleet_stack(sb, "cs-sudo-i")
    allow_sudo(sb, FUSER)
    r, keys = sudo(sb, FUID, FLEET_PW, ids, run=fleet.run)
    assert "authenticated with the pinned account key" in r.stdout, r.stdout
    assert keys == {}, r.stdout
    assert cloudseal_keys(sb, UID, ids, fleet.run) == {}
    assert cloudseal_keys(sb, FUID, ids, fleet.run) == {}
    assert f"key kept at authentication for {FUSER} is dropped" in r.stdout, r.stdout


def test_login_retried_under_another_name_gets_its_own_key(fleet_and_local):
    """An application authenticates the fleet user A, then retries the same
    handle under the local user B (login(1)'s retry loop): B's session gets
    B's own key, never A's."""
    fleet, ids = fleet_and_local
    sb = fleet.sb
    r = fleet.login(PASSWORD, user=USER)
    assert "rc=0" in r.stdout, r.stdout
    b_key = cloudseal_keys(sb, UID, ids, fleet.run)
    assert list(b_key) == [ids[1]]
    drop_keys(UID, ids)
    r = fleet.run(sb.syslog_capture + f"python3 {sb.root}/tests/integration/pam/pam_login.py csfleet {FUSER} "
                  f"--retry-as {USER} || true\n" + sb.syslog_drain + "cat $D/syslog.txt\n",
                  input=f"{FLEET_PW}\n{PASSWORD}\n", check=False)
    assert "result: open_session 0" in r.stdout, r.stdout + r.stderr
    assert "authenticated with the pinned account key" in r.stdout, r.stdout
    assert cloudseal_keys(sb, UID, ids, fleet.run) == b_key, r.stdout
    assert cloudseal_keys(sb, FUID, ids, fleet.run) == {}


def test_handoff_refuses_another_accounts_key(two_users):
    """cloudseal-helper handoff on its own: A's key offered for B is refused
    (exit 22) and B's keyring stays empty; B's own key is accepted."""
    sb, ids = two_users
    keys = {}
    for name, uid, pw, i in ((AUSER, AUID, A_PW, ids[0]), (USER, UID, PASSWORD, ids[1])):
        r = sb.run(f"echo '{pw}' | pamtester cstest {name} authenticate open_session")
        assert r.returncode == 0
        # the test's own throw-away key (bytes on stdout, never in a file)
        r = sb.run(as_uid(uid, f"keyctl pipe $(keyctl search @u user cloudseal:amk:{i})"), binary=True)
        keys[name] = r.stdout
        assert len(keys[name]) == 32
        drop_keys(uid, ids)

    def handoff(key):
        """(exit status, stderr) of the helper as pam_cloudseal runs it, in the sandbox."""
        r = sb.run(f"env -i $B/cloudseal-helper --config $C handoff --user {USER} && echo rc=0 || echo rc=$?",
                   input=len(key).to_bytes(4, "big") + key, binary=True)
        return int(r.stdout.decode().split("rc=")[-1]), r.stderr

    rc, err = handoff(keys[AUSER])
    assert rc == 22, err
    assert b"not the key of cspamtest's account" in err
    assert cloudseal_keys(sb, UID, ids) == {}
    rc, err = handoff(keys[USER])
    assert rc == 0, err
    assert cloudseal_keys(sb, UID, ids) == {ids[1]: hashlib.sha256(keys[USER]).hexdigest()}
