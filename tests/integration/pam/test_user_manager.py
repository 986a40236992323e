# SPDX-License-Identifier: MIT
"""The user manager of a fleet user (issue 14, hole 4).

systemd starts user@UID.service through the PAM service `systemd-user`:
pam_acct_mgmt, then a non-interactive session.  With the cloudseal-fleet
profile its account stack is pam_unix (which does not know a fleet user:
no shadow entry), then pam_cloudseal authoritative, then pam_deny: the
cloudseal line must say yes for an enabled fleet user there too, or the
user manager (and cloudseal-agent, the desktop session) never starts.

The stacks are the ones the real pam-auth-update makes of debian/pam-configs
(test_fleet_login.pam_auth_update), the service file Debian 12's systemd
ships, less the lines that need a running systemd (pam_selinux,
pam_loginuid, pam_systemd).  test_e2e_nspawn.py starts the real
user@.service of a fleet user.
"""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_fleet_login import FUSER, cloudseal_lines, fleet, pam_auth_update, rc_of  # noqa: F401,E402


SYSTEMD_USER = """# /etc/pam.d/systemd-user of Debian 12's systemd 252, without the lines
# that need a running systemd
@include common-account
session  required pam_limits.so
@include common-session-noninteractive
session  optional pam_keyinit.so force revoke
"""


def user_manager_stack(sb):
    pam_auth_update(sb)
    (sb.dir / "etc" / "pam.d" / "systemd-user").write_text(SYSTEMD_USER)


def test_fleet_user_manager_account_step(fleet):
    """pam_acct_mgmt in systemd-user: yes for an enabled fleet user and a
    local user, no for a disabled fleet user and for nobody."""
    sb = fleet.sb
    user_manager_stack(sb)
    r = fleet.login("", service="systemd-user", ops="acct_mgmt open_session close_session")
    assert rc_of(r) == 0, r.stdout + r.stderr
    # the local user goes through pam_unix as before
    assert rc_of(fleet.login("", user="cspamtest", service="systemd-user", ops="acct_mgmt")) == 0
    assert rc_of(fleet.login("", user="nosuchuser", service="systemd-user", ops="acct_mgmt")) != 0
    # a disabled fleet user gets no user manager either
    fleet.admin("disable-user", FUSER)
    fleet.publish()
    r = fleet.login("", service="systemd-user", ops="acct_mgmt")
    assert rc_of(r) != 0
    assert any("fleet account fleetie refused" in l for l in cloudseal_lines(r)), r.stdout
