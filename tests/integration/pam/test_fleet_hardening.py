# SPDX-License-Identifier: MIT
"""Fleet logins against collisions and quiet failures (issue 14, hole 5):
the NSS entry login(1) will use must be the directory's, and a refused
directory sync is loud.  Reuses the fleet sandbox of test_fleet_login.py."""
import importlib.util
import pathlib

import pytest

import uids

_spec = importlib.util.spec_from_file_location(
    "cs_fleet_login", pathlib.Path(__file__).with_name("test_fleet_login.py"))
fl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fl)

UID = uids.local(0)  # the sandbox's local test user (conftest.UID)


@pytest.fixture
def fleet(sandbox):
    f = fl.new_fleet(sandbox)
    f.publish()
    key = f.enroll()
    f.admin("approve", fl.FUSER, "--key", key)
    f.publish()
    yield f
    f.clear_keys()


def test_local_account_shadowing_a_fleet_user_is_refused(fleet):
    """A line in /etc/passwd (NSS "files" comes before cloudseal) with the
    fleet user's name and another uid: the fleet password and key must not
    open a session of that uid."""
    sb = fleet.sb
    with open(sb.dir / "etc" / "passwd", "a") as f:
        f.write(f"{fl.FUSER}:x:{UID}:{UID}:shadow:/tmp:/bin/sh\n")
    r = fleet.run(f"getent passwd {fl.FUSER}")
    assert r.stdout.startswith(f"{fl.FUSER}:x:{UID}:{UID}:")
    r = fleet.login(fl.FLEET_PW)
    assert fl.rc_of(r) != 0, r.stdout
    assert any("shadows the fleet user" in l for l in fl.cloudseal_lines(r)), r.stdout
    # the account question alone (e.g. after an SSH key), asked of the helper
    r = fleet.run("$B/cloudseal-helper --config $C fleet-check --user " + fl.FUSER + " && echo rc=0 || echo rc=$?",
                  check=False)
    assert "rc=19" in r.stdout and f"resolves to uid {UID} gid {UID}, but the fleet directory says " \
        f"uid {fl.FUID} gid {fl.FUID}" in r.stderr, r.stdout + r.stderr
    # the same ids (a local copy of the entry) are fine
    text = (sb.dir / "etc" / "passwd").read_text().replace(f"{fl.FUSER}:x:{UID}:{UID}:",
                                                           f"{fl.FUSER}:x:{fl.FUID}:{fl.FUID}:")
    (sb.dir / "etc" / "passwd").write_text(text)
    assert fl.rc_of(fleet.login(fl.FLEET_PW)) == 0
