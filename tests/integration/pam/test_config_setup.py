# SPDX-License-Identifier: MIT
"""Issue 18 items 6 and 9 through the real PAM stack: the configuration as
README.md writes it works at login and logout, a configuration error is
reported as one (file, line, expected form) and never as a "version
mismatch"; a first login prepares what `cloudseal enroll` needs, so no
administrator has to create directories by hand."""
import os
import shutil
import stat

import uids

PASSWORD = "Tr0ub4dor&3"  # conftest.PASSWORD (importlib mode cannot import conftest)
UID = uids.local(0)  # conftest.UID


def module_lines(r):
    return [l for l in r.stdout.splitlines() if "pam_cloudseal" in l]


def test_readme_config_with_end_of_line_comments_locks_at_logout(sandbox):
    """README.md's example: 'lock = logout   # or reboot: ...'.  Before,
    the comment was part of the value and the helper's revoke at logout
    failed ("the helper rejected its arguments (version mismatch?)")."""
    sandbox.enroll()
    with open(sandbox.config, "a") as f:
        f.write("[session]\nlock = logout          # or reboot: stay unlocked for overnight backups\n"
                "[agent]\ninterval = 1h  # hourly\n")
    r = sandbox.run(sandbox.syslog_capture + "pamtester cstest $U authenticate open_session\n"
                    + "pamtester cstest $U close_session\n"
                    + sandbox.syslog_drain + "cat $D/syslog.txt\n", input=PASSWORD + "\n")
    assert sandbox.key_bytes() == 0  # locked at the last logout
    assert not [l for l in module_lines(r) if l.startswith(("<83>", "<84>"))], r.stdout


def test_config_error_is_reported_as_one_with_file_and_line(sandbox):
    sandbox.enroll()
    with open(sandbox.config, "a") as f:
        f.write("[agent]\ninterval = often\n")
    r = sandbox.run(sandbox.syslog_capture + "pamtester cstest $U authenticate open_session\n"
                    + "pamtester cstest $U close_session\n"
                    + sandbox.syslog_drain + "cat $D/syslog.txt\n", input=PASSWORD + "\n")
    assert sandbox.key_bytes() == 0
    lines = module_lines(r)
    assert len(lines) == 2, r.stdout  # one for the login, one for the logout
    for line in lines:
        assert line.startswith("<83>"), line
        assert "version mismatch" not in line and "internal error" not in line, line
        assert f"invalid or unreadable configuration file {sandbox.config}: fix it" in line, line
        assert (f"invalid value 'often' for 'interval' in [agent] at {sandbox.config}:9: "
                "a duration like 1h or 30min") in line, line


def unprepared(sb):
    """The sandbox as a fresh install leaves it: keybags/ and the store are
    root's, no per-user directory anywhere (conftest creates them)."""
    shutil.rmtree(sb.storage / "users")
    shutil.rmtree(sb.state / "keybags")
    (sb.state / "keybags").mkdir()
    for p in (sb.storage, sb.state, sb.state / "keybags"):
        p.chmod(0o755)


def owner_mode(p):
    st = os.lstat(p)
    return st.st_uid, stat.S_IMODE(st.st_mode)


def test_first_login_prepares_what_enroll_needs(sandbox):
    """No `install -d -o USER` by an administrator: the session step of the
    first login (here without a password, like an SSH key login) creates the
    keybag cache and the file:// store directory; enroll then works."""
    unprepared(sandbox)
    r = sandbox.run(sandbox.as_user("$B/cloudseal --config $C enroll --password-stdin"),
                    input=PASSWORD + "\n", check=False)
    assert r.returncode != 0  # nothing prepared yet: enroll says what to do
    assert "your next login creates it" in r.stderr and "prepare --user cspamtest" in r.stderr, r.stderr
    sandbox.run("pamtester cstest $U open_session\n")
    assert owner_mode(sandbox.state / "keybags" / "cspamtest") == (UID, 0o700)
    assert owner_mode(sandbox.storage / "users") == (0, 0o711)
    assert owner_mode(sandbox.storage / "users" / "cspamtest") == (UID, 0o700)
    sandbox.enroll()
    r = sandbox.run("pamtester cstest $U authenticate open_session\n", input=PASSWORD + "\n")
    assert sandbox.key_bytes() == 32


def test_prepare_follows_no_symlink_and_repairs_nothing(sandbox):
    """Whatever sits where a user's directory belongs and is not one is
    refused, never followed or chowned; a users/ others can write is not
    used at all."""
    unprepared(sandbox)
    victim = sandbox.dir / "victim"
    victim.mkdir(mode=0o755)
    (sandbox.storage / "users").mkdir(mode=0o755)
    (sandbox.storage / "users" / "cspamtest").symlink_to(victim)
    (sandbox.state / "keybags" / "cspamtest").symlink_to(victim)
    r = sandbox.run("$B/cloudseal-helper --config $C prepare --user $U\n", check=False)
    assert r.returncode == 15, r.stderr
    assert "is not a directory (a symlink?); refusing to use it" in r.stderr, r.stderr
    sandbox.run("pamtester cstest $U open_session\n")
    assert owner_mode(victim) == (0, 0o755)
    assert (sandbox.storage / "users" / "cspamtest").is_symlink()
    assert (sandbox.state / "keybags" / "cspamtest").is_symlink()
    # users/ writable by others: a user could swap someone's directory
    (sandbox.storage / "users" / "cspamtest").unlink()
    (sandbox.storage / "users").chmod(0o777)
    r = sandbox.run("$B/cloudseal-helper --config $C prepare --user $U\n", check=False)
    assert r.returncode == 15 and "not writable by others" in r.stderr, r.stderr
    assert not (sandbox.storage / "users" / "cspamtest").exists()


def test_prepare_is_root_only(sandbox):
    unprepared(sandbox)
    r = sandbox.run(sandbox.as_user("$B/cloudseal-helper --config $C prepare --user $U"), check=False)
    assert r.returncode == 16 and "run it as root" in r.stderr, r.stderr
    assert not (sandbox.state / "keybags" / "cspamtest").exists()
    sandbox.run("$B/cloudseal-helper --config $C prepare --user $U\n")
    assert owner_mode(sandbox.state / "keybags" / "cspamtest") == (UID, 0o700)
    assert owner_mode(sandbox.storage / "users" / "cspamtest") == (UID, 0o700)
