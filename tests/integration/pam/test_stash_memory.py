# SPDX-License-Identifier: MIT
"""What auth keeps for the session (the password, or in the fleet profile the
unwrapped key) lives in locked, non-dumpable pages that a child the
application forks does not inherit: it sees zeros, a session it opens
unlocks nothing, and its pam_end (which runs the module's cleanup) works
(issue 14, item 6)."""
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# conftest.py's (importlib mode cannot import conftest)
PASSWORD, USER = "Tr0ub4dor&3", "cspamtest"
from test_fleet_login import FLEET_PW, FUID, FUSER, fleet  # noqa: F401,E402
from test_sudo import account_id, cloudseal_keys  # noqa: E402

APP = pathlib.Path(__file__).with_name("pam_login.py")


def check(r):
    out = r.stdout
    assert "result: fork 0" in out, out + r.stderr
    m = re.search(r"locked pages: (\d+) bytes, flags (.*)", out)
    assert m and int(m.group(1)) > 0, out
    assert all(" wf" in " " + f for f in m.group(2).split("; ")), out  # MADV_WIPEONFORK
    assert "child: nonzero bytes 0\n" in out, out
    assert "child: open_session 0\n" in out, out
    assert "child: status 0\n" in out, out
    assert "does not pass to a process forked after it" in out, out


def fork_after_auth(sb, run, service, user, password):
    return run(sb.syslog_capture + f"python3 {APP} {service} {user} --fork-after-auth\n"
               + sb.syslog_drain + "cat $D/syslog.txt\n", input=password + "\n", check=False)


def test_kept_password_is_not_inherited(sandbox):
    sandbox.enroll()
    check(fork_after_auth(sandbox, sandbox.run, "cstest", USER, PASSWORD))
    assert sandbox.key_bytes() == 0


def test_kept_key_is_not_inherited(fleet):
    ids = [account_id(fleet.sb, FUID, fleet.run)]
    check(fork_after_auth(fleet.sb, fleet.run, "csfleet", FUSER, FLEET_PW))
    assert cloudseal_keys(fleet.sb, FUID, ids, fleet.run) == {}
