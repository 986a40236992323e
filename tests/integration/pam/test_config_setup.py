# SPDX-License-Identifier: MIT
"""Issue 18 items 6 and 9 through the real PAM stack: the configuration as
README.md writes it works at login and logout, a configuration error is
reported as one (file, line, expected form) and never as a "version
mismatch"; a first login prepares what `cloudseal enroll` needs, so no
administrator has to create directories by hand."""

PASSWORD = "Tr0ub4dor&3"  # conftest.PASSWORD (importlib mode cannot import conftest)
UID = 47201


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
