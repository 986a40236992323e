# SPDX-License-Identifier: MIT
"""Issue 18 item 8, the key commands: unlock when already unlocked, a
locked command with a non-terminal stdin, recover leaving the keys
unlocked, and no fleet key outside a fleet."""
import contextlib
import json
import subprocess

import waits


def status(cli):
    return json.loads(cli("status", "--json").stdout)


def test_unlock_when_already_unlocked_says_so(cli):
    cli.enroll("pw one")
    assert status(cli)["unlocked"] is True
    r = cli("unlock", check=False, input="")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Already unlocked: nothing to do ('cloudseal lock' locks).\n"
    assert r.stderr == ""


def test_locked_command_with_non_tty_stdin_gives_the_real_reason_only(cli):
    cli.enroll("pw one")
    cli("lock")
    r = cli("snapshots", check=False, input="")
    assert r.returncode == 3, r.stderr
    assert r.stderr == "cloudseal: your keys are locked: run 'cloudseal unlock' or give your password\n"


def test_recover_leaves_the_keys_unlocked(cli):
    code = cli.enroll("pw one")
    cli("lock")
    r = cli("recover", "--password-stdin", input=f"{code}\nfresh pw\n")
    assert r.stdout == ("New password set and your keys unlocked.  Your recovery key stays valid; "
                        "keep it safe.\n")
    assert status(cli)["unlocked"] is True


def test_enroll_outside_a_fleet_prints_no_fleet_key(cli):
    r = cli("enroll", "--password-stdin", input="pw one\n")
    assert "Account public key" not in r.stdout and "fleet" not in r.stdout
    assert "Account id: " in r.stdout


@contextlib.contextmanager
def failing_agent(cli, tmp_path, last_error):
    """An agent in a crash loop: the user manager (a stand-in on a private
    bus) restarting it, its socket held and never accepted, last_error
    (bytes) in its state file; cli's environment points at them inside."""
    import os
    import shutil
    import socket
    assert shutil.which("dbus-daemon"), "dbus-daemon missing: run make deps"
    helper = cli.build / "tests" / "fake-systemd1"
    assert helper.exists(), f"{helper} missing: run 'make integration' (or make {helper})"
    runtime = tmp_path / "run"
    (runtime / "cloudseal").mkdir(parents=True, mode=0o700)
    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # systemd's: never accepted
    held.bind(str(runtime / "cloudseal" / "agent.sock"))
    held.listen(8)
    state = tmp_path / "xdg-state" / "cloudseal"
    state.mkdir(parents=True)
    (state / "agent-state.json").write_bytes(
        b'{"version": 1, "jobs": {"backup": {"last_run": 1, "last_success": 0, "last_result": "failed", '
        b'"last_error": "' + last_error + b'", "failures": 3}}}')
    addr = f"unix:path={tmp_path}/bus"
    bus = waits.dbus_daemon(tmp_path / "bus")
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=addr)
    try:
        fake = subprocess.Popen([str(helper), "activating", "auto-restart"], env=env,
                                stdout=subprocess.PIPE, text=True)
        assert fake.stdout.readline().strip() == "READY"
        cli.env.update(DBUS_SESSION_BUS_ADDRESS=addr, XDG_RUNTIME_DIR=str(runtime),
                       XDG_STATE_HOME=str(tmp_path / "xdg-state"))
        yield
        fake.kill()
        fake.wait()
    finally:
        for k in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"):
            cli.env.pop(k, None)
        bus.terminate()
        bus.wait()
        held.close()


def test_status_while_the_agent_crash_loops(cli, tmp_path):
    """The user manager restarts the agent after each crash and holds its
    socket: status used to wait for the 5 s timeout and say "not answering
    (Connection timed out)".  It asks the manager, says at once that the
    agent is failing, and shows its last error (here from its state file)."""
    cli.enroll("pw one")
    with failing_agent(cli, tmp_path, b"[agent] interval: 'soon' is not a duration"):
        r = cli("status")
        assert "Agent:        failing: it exits at once and systemd keeps restarting it\n" in r.stdout, r.stdout
        assert "Agent error:  backup: [agent] interval: 'soon' is not a duration\n" in r.stdout, r.stdout
        assert "not answering" not in r.stdout
        st = json.loads(cli("status", "--json").stdout)["agent"]
        assert st["failing"] is True and st["unit_state"] == "auto-restart"
        assert "last_error_base64" not in st, st


def test_status_json_of_a_failing_agent_error_that_is_not_utf8(cli, tmp_path):
    """The last error comes from the journal or the agent's state file
    (any bytes, a file name say): status --json keeps the document UTF-8,
    the exact bytes in last_error_base64."""
    import base64
    import os
    cli.enroll("pw one")
    with failing_agent(cli, tmp_path, b"cannot read /srv/caf\xe9"):
        r = subprocess.run([str(cli.build / "cloudseal"), "status", "--json"], env={**os.environ, **cli.env},
                           capture_output=True, timeout=60)
        st = json.loads(r.stdout.decode("utf-8", errors="strict"))["agent"]
        assert st["last_error"] == "backup: cannot read /srv/caf\ufffd", st
        assert base64.b64decode(st["last_error_base64"]) == b"backup: cannot read /srv/caf\xe9", st
