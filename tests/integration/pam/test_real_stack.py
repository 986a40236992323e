# SPDX-License-Identifier: MIT
"""pam_unix + pam_cloudseal through pamtester, in a private mount namespace."""
import time

import uids

PASSWORD = "Tr0ub4dor&3"  # conftest.PASSWORD (importlib mode cannot import conftest)
UID = uids.local(0)  # conftest.UID

def login(sb, password=PASSWORD, service="cstest", check=True):
    """authenticate + open_session through pamtester, the password on stdin"""
    return sb.run(f"pamtester {service} $U authenticate open_session\n", input=password + "\n",
                  check=check)


def test_good_password_unlocks_for_that_uid_only(sandbox):
    sandbox.enroll()
    assert sandbox.key_bytes() == 0
    login(sandbox)
    assert sandbox.key_bytes() == 32
    assert sandbox.key_bytes(uid=UID + 1) == 0  # another uid cannot read it


def test_wrong_password_does_not_unlock(sandbox):
    sandbox.enroll()
    r = login(sandbox, password="wrong", check=False)
    assert r.returncode != 0  # pam_unix said no; we never decide
    assert sandbox.key_bytes() == 0


def test_logout_in_another_process_revokes(sandbox):
    """The session opened by a pamtester that has exited is dropped at the
    next close: nothing depends on the same process closing."""
    sandbox.enroll()
    login(sandbox)
    assert sandbox.key_bytes() == 32
    sandbox.run("pamtester cstest $U close_session\n")
    assert sandbox.key_bytes() == 0


def test_lock_reboot_keeps_key(sandbox):
    sandbox.add_service("cstest-reboot", "lock=reboot")
    sandbox.enroll()
    login(sandbox, service="cstest-reboot")
    sandbox.run("pamtester cstest-reboot $U close_session\n")
    assert sandbox.key_bytes() == 32


def test_helper_missing_crashing_or_hanging_login_proceeds(sandbox):
    d = sandbox.dir
    (d / "crash.sh").write_text("#!/bin/sh\nkill -SEGV $$\n")
    (d / "slow.sh").write_text("#!/bin/sh\nexec sleep 30\n")
    for f in ("crash.sh", "slow.sh"):
        (d / f).chmod(0o755)
    sandbox.enroll()
    cases = (("missing", "/nonexistent", "<83>", "cannot run /nonexistent"),
             ("crash", d / "crash.sh", "<83>", "crashed"),
             ("slow", d / "slow.sh", "<84>", "did not finish within 1 s and was killed"))
    for name, helper, prio, words in cases:
        sandbox.add_service(f"cs-{name}", f"helper={helper} timeout=1")
        t0 = time.monotonic()
        # pamtester exits 0: the login proceeds
        r = sandbox.run(sandbox.syslog_capture + f"pamtester cs-{name} $U authenticate open_session\n"
                        + sandbox.syslog_drain + "cat $D/syslog.txt; : > $D/syslog.txt\n", input=PASSWORD + "\n")
        assert time.monotonic() - t0 < 25  # slow.sh sleeps 30 s: the module killed it
        assert sandbox.key_bytes() == 0
        lines = [l for l in r.stdout.splitlines() if "pam_cloudseal" in l]
        assert len(lines) == 1 and lines[0].startswith(prio) and words in lines[0], r.stdout


def test_storage_missing_falls_back_to_cache(sandbox):
    sandbox.enroll()
    sandbox.write_config(storage_url=f"file://{sandbox.dir}/gone")
    login(sandbox)
    assert sandbox.key_bytes() == 32


def test_corrupt_keybag_login_proceeds_and_is_logged(sandbox):
    sandbox.enroll()
    for kb in (sandbox.storage / "users" / "cspamtest" / "keybag",
               sandbox.state / "keybags" / "cspamtest" / "keybag"):
        kb.write_text(kb.read_text().replace('"password"', '"passwort"'))
    r = sandbox.run(sandbox.syslog_capture + "pamtester cstest $U authenticate open_session\n"
                    + sandbox.syslog_drain + "cat $D/syslog.txt\n", input=PASSWORD + "\n")
    assert sandbox.key_bytes() == 0
    lines = [l for l in r.stdout.splitlines() if "pam_cloudseal" in l]
    print(lines)
    # exactly one line, at LOG_ERR (priority 3; facility authpriv 10*8: <83>)
    assert len(lines) == 1, r.stdout
    assert lines[0].startswith("<83>") and "keybag is corrupt" in lines[0], lines[0]


def test_password_drift_repaired_through_the_conversation(sandbox):
    """root changes the password (no old one: the keybag keeps the old
    wrapping); the next login answers the module's question with the previous
    password, and from then on the new password unlocks."""
    sandbox.enroll()
    sandbox.run("printf 'N3w-pass!\\nN3w-pass!\\n' | pamtester cstest $U chauthtok\n")
    # pamtester's conversation reads one line per prompt: the login password,
    # then our question (previous password or recovery key)
    sandbox.run(f"printf 'N3w-pass!\\n{PASSWORD}\\n' | pamtester cstest $U authenticate open_session\n")
    assert sandbox.key_bytes() == 32
    sandbox.run("pamtester cstest $U close_session\n")
    assert sandbox.key_bytes() == 0
    # no question any more: a single line of input is enough
    sandbox.run("printf 'N3w-pass!\\n' | pamtester cstest $U authenticate open_session\n")
    assert sandbox.key_bytes() == 32


def test_cloudseal_unlock_for_a_session_without_password(sandbox):
    sandbox.enroll()
    sandbox.run("pamtester cstest $U open_session\n")  # e.g. an SSH key login
    assert sandbox.key_bytes() == 0
    sandbox.run(sandbox.as_user("$B/cloudseal --config $C unlock --password-stdin"),
                input=PASSWORD + "\n")
    assert sandbox.key_bytes() == 32




def test_passwd_by_the_user_rewraps_through_chauthtok(sandbox):
    """passwd(1), set-uid root, run by the user: pam_unix checks the old
    password and writes the new one; pam_cloudseal gets both and re-wraps."""
    sandbox.enroll()
    (sandbox.dir / "etc" / "pam.d" / "passwd").write_text(
        "\n".join(l for l in (sandbox.dir / "etc" / "pam.d" / "cstest").read_text().splitlines()
                  if l.startswith("password")) + "\n")
    sandbox.run(f"setpriv --reuid={UID} --regid={UID} --clear-groups passwd\n",
                input=f"{PASSWORD}\nN3w-pass!\nN3w-pass!\n")
    # the next login with the new password unlocks, and asks nothing
    login(sandbox, password="N3w-pass!")
    assert sandbox.key_bytes() == 32
    kb = (sandbox.storage / "users" / "cspamtest" / "keybag").read_text()
    assert '"generation": 2' in kb  # uploaded by the user-side rewrap
    assert (sandbox.storage / "users" / "cspamtest" / "keybag").stat().st_uid == UID


def test_name_that_is_no_login_name_never_reaches_the_helper(sandbox):
    """A name the helper would refuse (basic/user_name.h, the login rule) is
    left alone by the module: no password kept, no helper run, one debug
    line.  Before, the module ran the helper at session open, which failed
    with "bad command line"."""
    d = sandbox.dir
    (d / "spy.sh").write_text("#!/bin/sh\n: > \"$(dirname \"$0\")/helper-ran\"\nexit 2\n")
    (d / "spy.sh").chmod(0o755)
    m = f"{sandbox.build}/pam_cloudseal.so config={sandbox.config} helper={d}/spy.sh debug"
    (d / "etc" / "pam.d" / "cs-names").write_text(
        "auth     required  pam_permit.so\n"
        f"auth     optional  {m}\n"
        "account  required  pam_permit.so\n"
        "session  required  pam_permit.so\n"
        f"session  optional  {m}\n")
    for name in ("a@example", "-x", "a b"):
        r = sandbox.run(sandbox.syslog_capture
                        + f"pamtester cs-names '{name}' authenticate open_session close_session\n"
                        + sandbox.syslog_drain + "cat $D/syslog.txt; : > $D/syslog.txt\n",
                        input=PASSWORD + "\n")
        lines = [l for l in r.stdout.splitlines() if "pam_cloudseal" in l]
        assert not (d / "helper-ran").exists(), (name, r.stdout)
        assert lines and all("is not a login name cloudseal serves" in l for l in lines), (name, r.stdout)
