# SPDX-License-Identifier: MIT
"""Security keys at login through the real PAM stack (pamtester, pam_unix,
pam_cloudseal) in a private mount namespace, the helper being the test
build (build/test-fido2/cloudseal-helper) that reaches the software CTAP2
authenticator at /run/cloudseal-test-fido2 (a tmpfs over /run in the
namespace, the keys' directory bound there).

Policy both: the login password and the key unlock; without the key a
piggyback login goes on locked and the journal says why; an authoritative
fleet login fails closed.  Policy any: the password unlocks as before, the
key is not asked."""
import importlib.util
import pathlib

import pytest

import uids
from softkey import KEYDIR, SoftKeys

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("fleet_login_for_fido2", HERE / "test_fleet_login.py")
fleet_login = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet_login)

PASSWORD = "Tr0ub4dor&3"  # conftest.PASSWORD
UID = uids.local(0)       # conftest.UID
PIN = "4711-cs"
# the keys' directory (the running soft keys) at the path the test helper has compiled in
KEYS_MOUNT = (
    "mount -t tmpfs -o mode=755 cs-run /run\n"
    f"mkdir {KEYDIR} && mount --bind $D/fido/keys {KEYDIR}\n")


@pytest.fixture
def keys(sandbox):
    k = SoftKeys(sandbox.dir / "fido", shared=True)  # the test user's CLI talks to them too
    k.work.chmod(0o755)
    yield k
    k.stop()


def use_test_helper(sb, name):
    path = sb.dir / "etc" / "pam.d" / name
    path.write_text(path.read_text().replace(f"helper={sb.build}/cloudseal-helper",
                                             f"helper={sb.build}/test-fido2/cloudseal-helper"))


def add_key(sb, runner, as_user, password, policy, pin=None):
    cli = f"CLOUDSEAL_TEST_FIDO2_DIR=$D/fido/keys $B/test-fido2/cloudseal --config $C"
    r = runner(as_user(f"{cli} key add-fido2 --policy {policy} --password-stdin && {cli} lock"),
               input=password + "\n" + (f"{pin}\n{pin}\n" if pin else ""))
    assert "Added security key" in r.stdout, r.stdout + r.stderr
    return r


def login(sb, password=PASSWORD, service="cstest"):
    """pamtester in the namespace with the keys mounted; (rc, syslog lines of pam_cloudseal)"""
    r = sb.run(KEYS_MOUNT + sb.syslog_capture + f"rc=0; pamtester {service} $U authenticate open_session || rc=$?\n"
               + sb.syslog_drain + "echo \"rc=$rc\"; cat $D/syslog.txt; : > $D/syslog.txt\n",
               input=password + "\n", check=False)
    rc = int([l for l in r.stdout.splitlines() if l.startswith("rc=")][-1][3:])
    return rc, [l for l in r.stdout.splitlines() if "pam_cloudseal" in l], r


def login_app(sb, answers, service="cstest"):
    """pam_login.py (a ctypes login(1)): what the conversation showed and asked."""
    app = HERE / "pam_login.py"
    r = sb.run(KEYS_MOUNT + sb.syslog_capture + f"python3 {app} {service} $U || true\n" + sb.syslog_drain
               + "cat $D/syslog.txt; : > $D/syslog.txt\n", input="\n".join(answers) + "\n", check=False)
    return r.stdout


def test_both_login_asks_touch_and_pin_in_the_conversation(sandbox, keys):
    use_test_helper(sandbox, "cstest")
    sandbox.enroll()
    key = keys.plug("k1", pin=PIN)
    add_key(sandbox, sandbox.run, sandbox.as_user, PASSWORD, "both", pin=PIN)
    out = login_app(sandbox, [PASSWORD, PIN])
    assert "info: Touch your security key." in out, out
    assert "prompt: Security key PIN:" in out, out
    assert "result: open_session 0" in out
    assert sandbox.key_bytes() == 32
    # a wrong PIN: the login goes on, locked, and the journal says why (never
    # taken for a wrong password: no question for the previous one)
    sandbox.run(sandbox.as_user("$B/cloudseal --config $C lock"))
    out = login_app(sandbox, [PASSWORD, "0000-wrong"])
    assert "result: open_session 0" in out
    assert sandbox.key_bytes() == 0
    assert any("keys not unlocked" in l and "wrong PIN" in l for l in out.splitlines() if "pam_cloudseal" in l), out
    assert "Previous password" not in out
    assert key.retries() == 7


def test_both_login_with_the_key_unlocks(sandbox, keys):
    use_test_helper(sandbox, "cstest")
    sandbox.enroll()
    key = keys.plug("k1")
    add_key(sandbox, sandbox.run, sandbox.as_user, PASSWORD, "both")
    rc, lines, r = login(sandbox)
    assert rc == 0, r.stdout + r.stderr
    assert sandbox.key_bytes() == 32, lines
    key.wait_event("getAssertion")  # the key was asked (and touched: auto)


def test_both_login_without_the_key_goes_on_locked(sandbox, keys):
    use_test_helper(sandbox, "cstest")
    sandbox.enroll()
    key = keys.plug("k1")
    add_key(sandbox, sandbox.run, sandbox.as_user, PASSWORD, "both")
    key.unplug()
    rc, lines, r = login(sandbox)
    assert rc == 0, r.stdout + r.stderr  # piggyback: never blocks a login
    assert sandbox.key_bytes() == 0
    assert any("keys not unlocked" in l and "need the security key too" in l and "none is plugged in" in l
               for l in lines), lines
    assert not any("internal error" in l for l in lines), lines


def test_any_login_needs_no_key(sandbox, keys):
    use_test_helper(sandbox, "cstest")
    sandbox.enroll()
    key = keys.plug("k1")
    add_key(sandbox, sandbox.run, sandbox.as_user, PASSWORD, "any")
    key.unplug()
    rc, lines, r = login(sandbox)
    assert rc == 0 and sandbox.key_bytes() == 32, lines


def test_fleet_authoritative_login_fails_closed_without_the_key(sandbox, keys):
    f = fleet_login.new_fleet(sandbox)
    f.publish()
    pub = f.enroll()
    f.admin("approve", fleet_login.FUSER, "--key", pub)
    use_test_helper(sandbox, "csfleet")
    key = keys.plug("k1")
    add_key(sandbox, f.run, f.as_fleet_user, fleet_login.FLEET_PW, "both")
    f.publish()  # the directory names the new keybag generation
    try:
        run = f.run
        f.run = lambda script, **kw: run(KEYS_MOUNT + script, **kw)
        r = f.login(fleet_login.FLEET_PW)
        assert fleet_login.rc_of(r) == 0, r.stdout + r.stderr
        assert f.key_bytes() == 32
        f.clear_keys()
        key.unplug()
        r = f.login(fleet_login.FLEET_PW)
        assert fleet_login.rc_of(r) != 0, r.stdout  # fails closed
        assert f.key_bytes() == 0
        lines = fleet_login.cloudseal_lines(r)
        assert any("fleet login refused" in l and "need the security key too" in l for l in lines), lines
        assert not any("internal error" in l for l in lines), lines
    finally:
        f.clear_keys()
