# SPDX-License-Identifier: MIT
"""The agent's job loop with the real `cloudseal backup`: first backup
creates the repository, the schedule, backup-now, retries with backoff when
storage is unreachable, and SIGTERM in the middle of a backup leaving a
repository that `cloudseal check` finds clean."""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

import ports
import waits

CLI = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build") / "cloudseal"


@pytest.fixture
def backup_setup(tmp_path, agent, agent_env):
    write, account = agent_env
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hello from the agent test\n")
    agent.env["XDG_CACHE_HOME"] = str(tmp_path / "cache")

    def configure(**sections):
        sections.setdefault("backup", {}).setdefault("paths", str(data))
        return write(**sections)

    configure()
    account.enroll()
    account.unlock()
    return configure, account, data


def snapshots(agent):
    r = agent.cli("--json", "snapshots")
    j = json.loads(r.stdout)
    return j if isinstance(j, list) else j.get("snapshots", j)


def freeze_child(agent, freezer, word, timeout=30):
    """Freeze the agent's child whose command line has `word` ("backup",
    "archive") in a cgroup, so that it is certainly still running while the
    test acts, whatever signals it gets; returns (pid, cgroup): thaw with
    freezer.thaw(cgroup)."""
    # No event announces that another process forked and exec'd (short of
    # the proc connector): polled, from 1 ms, so the child is caught early.
    return waits.wait_until(lambda: _freeze_child(agent, freezer, word), timeout,
                            f"a running '{word}' child of the agent", first=0.001, cap=0.02)


def _freeze_child(agent, freezer, word):
    r = subprocess.run(["pgrep", "-P", str(agent.proc.pid)], capture_output=True, text=True)
    for pid in r.stdout.split():
        try:
            argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if word.encode() in argv:
            cg = freezer.freeze(int(pid))
            # caught alive, not as a zombie that had just finished
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            assert state not in "ZX", f"the {word} child finished before it could be frozen"
            return int(pid), cg
    return None


def wait_log(agent, text, timeout=30):
    agent.wait_log(text, timeout)


def test_first_backup_creates_the_repository_then_idles(agent, backup_setup):
    agent.start()
    agent.wait_status("idle, next backup", timeout=60)
    seen = [v for _, v in agent.notify.all("STATUS")]
    assert any(v.startswith("backing up") for v in seen), seen
    st = agent.request("status")
    job = next(j for j in st["jobs"] if j["name"] == "backup")
    assert job["last_result"] == "ok" and job["failures"] == 0
    assert job["next_run"] - job["last_success"] >= 3600 - 5  # default interval, no random delay
    assert st["repository_size"] > 0
    assert len(snapshots(agent)) == 1
    # the human view
    out = agent.cli("status").stdout
    assert "Last backup:" in out and "(ok)" in out and "Repository:" in out
    assert agent.terminate() == 0

    # a restart within the interval does not back up again (the stop locked:
    # lock = logout and no logind here, so unlock as a new login would)
    backup_setup[1].unlock()
    agent.start()
    agent.wait_status("idle, next backup")
    # the agent decided: the next backup is an interval after the first one
    job = next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")
    assert job["next_run"] - job["last_success"] >= 3600 - 5, job
    assert len(snapshots(agent)) == 1
    assert not any(v.startswith("backing up") for _, v in agent.notify.all("STATUS"))
    assert "backup repository found" in agent.log_text()


def test_backup_now_and_never_two_at_once(agent, backup_setup, tmp_path, freezer):
    configure, _, data = backup_setup
    configure(agent={"interval": "1h"})
    agent.start()
    agent.wait_status("idle, next backup", timeout=60)
    (data / "big").write_bytes(os.urandom(48 << 20))
    t = time.monotonic()
    r = agent.request("backup-now")
    assert r["ok"] is True and r["message"] == "started"
    _, cg = freeze_child(agent, freezer, "backup")  # certainly still running, however fast it is
    assert agent.request("backup-now") == {"ok": True, "message": "already running"}
    assert agent.request("status")["state"] == "running"
    freezer.thaw(cg)
    agent.wait_status("idle, next backup", timeout=120, since=t)
    assert len(snapshots(agent)) == 2
    log = agent.log_text()
    # the second request did not spawn a second job
    after = log[log.index("control: backup-now"):]
    assert after.count("starting backup") == 1, log


def test_unreachable_storage_retries_with_backoff(agent, backup_setup, tmp_path):
    configure, account, _ = backup_setup
    secret = tmp_path / "s3-secret"
    secret.write_text("not-a-real-secret\n")
    secret.chmod(0o600)
    # nothing listens on port 1: connection refused, the CLI exits 6
    configure(storage={"url": "s3://127.0.0.1:1/bucket", "access_key": "test",
                       "secret_key_file": str(secret), "max_retries": "0"},
              agent={"retry_min": "2s", "retry_max": "4s", "notify_after_failures": "2"})
    agent.start()
    assert "storage unreachable at start" in agent.log_text()  # checked before READY
    s = agent.wait_status("error: storage unreachable, retry in", timeout=30)
    assert s.endswith(" s"), s
    st = agent.request("status")
    assert st["state"] == "error" and st["error"] == "storage unreachable"
    # 2 s, then 4 s, then 4 s (capped): three failures within ~12 s
    # 90 s: a failure bound, ~10 s of delays plus three runs of the CLI; each
    # failure is logged ("retry in"), which wakes the wait
    job = agent.wait_for(lambda: (lambda j: j if j["failures"] >= 3 else None)(
        next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")), 90, "three failures")
    assert job["failures"] >= 3 and job["last_result"] == "unreachable", job
    log = agent.log_text()
    assert "retry in 2s" in log and "retry in 4s" in log and "retry in 8s" not in log
    # no notification service here: skipped quietly, the loop goes on
    assert agent.proc.poll() is None


def test_start_check_refused_by_storage_is_not_an_error(agent, backup_setup, tmp_path):
    """Machine credentials that may only read keybags (users keep their own in
    the keybag) get 403 for the repository: the start check says so quietly
    instead of reporting an error before any backup ran."""
    configure, _, _ = backup_setup
    # port 0: it says the port it bound (ports.py)
    server = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).parents[1] / "s3" / "hostile_s3.py"),
                               "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert "hostile ready" in line, line
        port = ports.ready_port(line)
        secret = tmp_path / "s3-secret"
        secret.write_text("not-a-real-secret\n")
        secret.chmod(0o600)
        configure(storage={"url": f"s3+http://127.0.0.1:{port}/forbidden", "access_key": "test",
                           "secret_key_file": str(secret), "max_retries": "0"},
                  agent={"retry_min": "600s"})
        agent.start()
        log = agent.log_text()  # the start check runs before READY
        assert "may not read your repository" in log, log
        assert "cannot check the backup repository" not in log
        # the backup itself (this server refuses it too) is what reports the error
        agent.wait_status("error:", timeout=30)
    finally:
        server.kill()
        server.wait()


def test_sigterm_mid_backup_stops_it_and_check_is_clean(agent, backup_setup, freezer):
    configure, _, data = backup_setup
    configure(session={"lock": "reboot"})  # keep the key for `check` after the stop
    (data / "big").write_bytes(os.urandom(192 << 20))
    agent.start()
    # progress from `backup --progress-fd 1` makes it into STATUS=
    import re
    agent.wait_status(lambda s: re.fullmatch(r"backing up \d{1,3}%", s) is not None, timeout=60)
    child, cg = freeze_child(agent, freezer, "backup")  # mid-backup when the SIGTERM comes, however fast
    assert agent.request("status")["state"] == "running"
    t0 = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    os.kill(child, signal.SIGCONT)  # as systemd does after SIGTERM: the freezer still holds it
    wait_log(agent, f"stopping backup (pid {child})")
    freezer.thaw(cg)  # now it sees the agent's SIGTERM
    assert agent.terminate(timeout=60) == 0
    # within the agent's own stop_timeout (20 s in agent_env): no SIGKILL
    stopped_in = time.monotonic() - t0
    log = agent.log_text()
    assert "did not stop in time" not in log, f"took {stopped_in:.1f}s to stop: {log}"
    assert "interrupted" in log
    # the child is gone too
    assert subprocess.run(["pgrep", "-f", f"{agent.config}.*backup"], capture_output=True).returncode == 1
    # the repository is consistent, and the next run completes
    r = agent.cli("check", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    st_file = json.loads((agent.state_home / "cloudseal" / "agent-state.json").read_text())
    assert st_file["jobs"]["backup"]["last_result"] == "interrupted"
    agent.start()
    agent.wait_status("idle, next backup", timeout=120)
    assert agent.cli("check", check=False).returncode == 0
    assert len(snapshots(agent)) >= 1


def test_cloudseal_unlock_wakes_a_locked_agent(agent, backup_setup):
    configure, account, _ = backup_setup
    configure(agent={"keyring_poll": "300s"})
    account.revoke()
    agent.start()
    agent.wait_status(lambda s: s.startswith("locked:"))
    r = agent.cli("unlock", "--password-stdin", input_text="correct horse battery staple\n")
    assert r.returncode == 0
    # keyring_poll is 300 s: only the unlock-notify sent by `cloudseal unlock` explains this
    agent.wait_status("idle, next backup", timeout=60)


LOCKED = "locked: waiting for the key (run 'cloudseal unlock')"


def test_locked_agent_waits_through_unlock_lock_unlock(agent, backup_setup, session_bus):
    """A session without the key (an SSH key login, issue 20): the agent is
    ready and says it waits, runs nothing and notifies nothing; `cloudseal
    unlock` wakes it (keyring_poll is 300 s: only the unlock's own word to
    the agent explains it) and it backs up; `cloudseal lock` makes it wait
    again, the same process; a second unlock lets the next backup run."""
    configure, account, _ = backup_setup
    addr, _ = session_bus
    configure(agent={"keyring_poll": "300s", "notify_after_failures": "1"})
    agent.env["DBUS_SESSION_BUS_ADDRESS"] = addr
    account.revoke()
    agent.start()
    assert agent.wait_status(lambda s: s.startswith("locked")) == LOCKED
    pid = agent.proc.pid
    st = agent.request("status")
    assert st["state"] == "locked" and "error" not in st, st
    assert agent.request("backup-now") == {"ok": False, "error": "locked: run 'cloudseal unlock' first"}
    assert "Unlocked:     no (locked: run 'cloudseal unlock'" in agent.cli("status").stdout
    assert "starting backup" not in agent.log_text()

    t = time.monotonic()
    agent.cli("unlock", "--password-stdin", input_text="correct horse battery staple\n")
    agent.wait_status("idle, next backup", timeout=120, since=t)
    assert len(snapshots(agent)) == 1

    t = time.monotonic()
    agent.cli("lock")
    assert agent.wait_status(lambda s: s.startswith("locked"), since=t) == LOCKED
    assert agent.request("status")["state"] == "locked"

    t = time.monotonic()
    agent.cli("unlock", "--password-stdin", input_text="correct horse battery staple\n")
    agent.wait_status("idle, next backup", timeout=60, since=t)
    assert agent.request("backup-now")["ok"] is True
    agent.wait_log("agent: backup finished", 120, count=2)
    log = agent.log_text()
    assert len(re.findall(r"backup: snapshot [0-9a-f]+ saved", log)) == 2, log  # ([retention] may keep one)
    assert agent.proc.poll() is None and agent.proc.pid == pid
    job = next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")
    assert job["failures"] == 0 and job["last_result"] == "ok", job
    sent = [l for l in log.splitlines() if "sent a desktop notification" in l]
    assert all("first backup finished" in l for l in sent), sent


def _fake_cli(tmp_path, init):
    """A stand-in for the CLI that makes the first backup's order certain:
    backup finds no repository (exit 4; no key: exit 3), then init does
    `init` (shell).  $ID: the account id."""
    fake = tmp_path / "fake-cloudseal"
    fake.write_text("#!/bin/sh\n"
                    'case " $* " in *" --help "*) exit 0;; esac\n'
                    f'echo "$*" >> {tmp_path}/runs\n'
                    'case " $* " in\n'
                    f'  *" init "*) {init};;\n'
                    '  *" backup "*) keyctl search @u user cloudseal:amk:$ID >/dev/null || exit 3; exit 4;;\n'
                    "esac\nexit 1\n")
    fake.chmod(0o755)
    return fake


def _runs(tmp_path):
    """The subcommand of each job run so far ("1" is `backup --progress-fd 1`)."""
    return [r.split()[-1] for r in (tmp_path / "runs").read_text().splitlines()]


def test_key_gone_during_the_first_backup_steps_starts_nothing_more(agent, backup_setup, tmp_path):
    """The key goes away while the first backup's steps run (an ssh session
    that ran `cloudseal unlock` ended, lock = logout): the repository step
    finds no key, and the agent goes back to waiting instead of starting the
    backup again without one."""
    configure, account, _ = backup_setup
    fake = _fake_cli(tmp_path, "keyctl unlink $(keyctl search @u user cloudseal:amk:$ID) @u >&2; exit 3")
    configure(agent={"cloudseal": str(fake), "keyring_poll": "300s"})
    agent.env["ID"] = account.id
    agent.start()
    assert agent.wait_status(lambda s: s.startswith("locked"), timeout=60) == LOCKED
    assert not account.in_keyring()
    assert _runs(tmp_path) == ["1", "init"]
    st = agent.request("status")
    job = next(j for j in st["jobs"] if j["name"] == "backup")
    assert job["failures"] == 0 and "error" not in st, st


def test_repository_step_refused_with_the_key_backs_off(agent, backup_setup, tmp_path):
    """Exit 3 from the repository step while the key is still there (the CLI
    says "access denied" that way too) is a failure that backs off; before,
    backup and init took turns without end, a busy loop."""
    configure, account, _ = backup_setup
    fake = _fake_cli(tmp_path, "exit 3")
    configure(agent={"cloudseal": str(fake), "keyring_poll": "300s", "retry_min": "1h", "retry_max": "1h"})
    agent.env["ID"] = account.id
    agent.start()
    s = agent.wait_status(lambda s: s.startswith("error:"), timeout=60)
    assert "the key was refused" in s and "retry in" in s, s
    assert _runs(tmp_path) == ["1", "init"]
    assert account.in_keyring() and agent.request("status")["unlocked"] is True


def test_archive_sync_joins_the_loop(agent, backup_setup, tmp_path):
    configure, _, _ = backup_setup
    maildir = tmp_path / "Maildir"
    for d in ("cur", "new", "tmp"):
        (maildir / d).mkdir(parents=True)
    configure(agent={"archive_sync": "auto"}, archive={"maildir": str(maildir)})
    agent.start()
    s = agent.wait_status(lambda v: v.startswith("idle, next") and "message sync" in v, timeout=90)
    assert "backup" in s
    st = agent.request("status")
    sync = next(j for j in st["jobs"] if j["name"] == "archive-sync")
    assert sync["enabled"] is True and sync["last_result"] == "ok", sync
    assert agent.request("sync-now")["ok"] is True


def test_lock_drops_a_queued_request(agent, backup_setup, tmp_path, freezer):
    """A "sync now" waiting behind a running backup is dropped by a lock: it
    must not fire at the next unlock, hours later; the schedule decides."""
    configure, account, data = backup_setup
    maildir = tmp_path / "Maildir"
    for d in ("cur", "new", "tmp"):
        (maildir / d).mkdir(parents=True)
    configure(agent={"archive_sync": "auto", "interval": "1h", "archive_interval": "1h"},
              archive={"maildir": str(maildir)})
    agent.start()
    agent.wait_status(lambda v: v.startswith("idle, next") and "message sync" in v, timeout=90)
    (data / "big").write_bytes(os.urandom(64 << 20))
    assert agent.request("backup-now")["message"] == "started"
    _, cg = freeze_child(agent, freezer, "backup")  # the sync request must find it running
    assert agent.request("sync-now") == {"ok": True, "message": "queued"}
    t = time.monotonic()
    assert agent.cli("lock", check=False).returncode == 0
    freezer.thaw(cg)
    agent.wait_status(lambda s: s.startswith("locked:"), timeout=30, since=t)
    log = agent.log_text()
    assert "dropped the queued archive-sync request: locked" in log, log
    syncs = log.count("starting archive-sync")

    account.unlock()
    agent.wait_status(lambda v: v.startswith("idle, next"), timeout=90, since=t)
    log = agent.log_text()
    assert log.count("starting archive-sync") == syncs, log  # its last success is < 1 h old
    sync = next(j for j in agent.request("status")["jobs"] if j["name"] == "archive-sync")
    assert sync["next_run"] >= sync["last_success"] + 3600 - 5, sync


def test_reload_to_other_storage_checks_it_and_stops_backing_off(agent, backup_setup, tmp_path):
    """A reload naming other storage redoes the start check and ends the
    backoff earned against the old storage: the backup runs now, not after
    the retry delay."""
    import signal
    configure, _, _ = backup_setup
    secret = tmp_path / "s3-secret"
    secret.write_text("not-a-real-secret\n")
    secret.chmod(0o600)
    configure(storage={"url": "s3://127.0.0.1:1/bucket", "access_key": "test",
                       "secret_key_file": str(secret), "max_retries": "0"},
              agent={"retry_min": "600s", "retry_max": "3600s"})
    agent.start()
    agent.wait_status("error: storage unreachable, retry in", timeout=30)
    configure(agent={"retry_min": "600s", "retry_max": "3600s"})
    t = time.monotonic()
    agent.proc.send_signal(signal.SIGHUP)
    agent.notify.wait("READY", timeout=10, since=t)
    log = agent.log_text()
    assert "the storage changed: checking the new one" in log, log
    assert "no backup repository yet" in log
    agent.wait_status("idle, next backup", timeout=60, since=t)
    assert time.monotonic() - t < 60
    assert len(snapshots(agent)) == 1
    st = agent.request("status")
    assert st["state"] != "error" and "error" not in st, st


@pytest.fixture
def session_bus(tmp_path):
    """A private D-Bus session bus with a stand-in notification server."""
    import shutil
    if not shutil.which("dbus-daemon"):
        pytest.fail("dbus-daemon missing (packages dbus-daemon, dbus-session-bus-common): run make deps")
    addr = f"unix:path={tmp_path}/bus"
    bus = waits.dbus_daemon(tmp_path / "bus")
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=addr)
    notifyd = subprocess.Popen([str(CLI.parent / "tests" / "agent-notifyd")], env=env,
                               stdout=subprocess.PIPE, text=True)
    assert notifyd.stdout.readline().strip() == "READY"
    yield addr, notifyd
    notifyd.kill()
    notifyd.wait()
    bus.terminate()
    bus.wait()


def test_desktop_notification_after_repeated_failures(agent, backup_setup, tmp_path, session_bus):
    configure, _, _ = backup_setup
    addr, notifyd = session_bus
    secret = tmp_path / "s3-secret"
    secret.write_text("x\n")
    secret.chmod(0o600)
    configure(storage={"url": "s3://127.0.0.1:1/bucket", "access_key": "test",
                       "secret_key_file": str(secret), "max_retries": "0"},
              agent={"retry_min": "1s", "retry_max": "1s", "notify_after_failures": "2"})
    agent.env["DBUS_SESSION_BUS_ADDRESS"] = addr
    agent.start()
    line = notifyd.stdout.readline().strip()  # blocks until the agent calls Notify
    app, summary, body = line[len("NOTIFY "):].split("|")
    assert app == "cloudseal" and summary == "cloudseal: backups are failing"
    assert "The last 2 attempts failed: storage unreachable" in body and "cloudseal status" in body
    job = next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")
    assert job["failures"] >= 2
    # once per streak, not at every failure: two more failures, no second one
    agent.wait_log("retry in", 60, count=4)  # each failure logs one
    job = next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")
    agent.terminate()
    assert agent.log_text().count("sent a desktop notification") == 1


def test_sighup_reloads_the_config_and_reschedules(agent, backup_setup):
    """systemctl --user reload (ExecReload=kill -HUP): the agent rereads the
    configuration and reschedules; an invalid file keeps the old one and the
    journal says why."""
    import signal
    configure, account, data = backup_setup
    configure(agent={"interval": "1h"})
    agent.start()
    agent.wait_status("idle, next backup", timeout=60)

    def backup_job():
        return next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")

    job = backup_job()
    assert job["interval"] == 3600 and job["next_run"] == job["last_success"] + 3600

    def reload():
        t = time.monotonic()
        agent.proc.send_signal(signal.SIGHUP)
        agent.notify.wait("RELOADING", timeout=10, since=t)
        agent.notify.wait("READY", timeout=10, since=t)

    configure(agent={"interval": "2h"}, session={"lock": "reboot"})
    reload()
    st = agent.request("status")
    job = next(j for j in st["jobs"] if j["name"] == "backup")
    assert st["lock"] == "reboot" and job["interval"] == 7200, st
    assert job["next_run"] == job["last_success"] + 7200
    assert "reloaded the configuration" in agent.log_text()

    # invalid files: a value out of range, a lock mode that does not exist
    for bad in ({"agent": {"interval": "forever"}}, {"session": {"lock": "sometimes"}}):
        before = agent.log_text().count("keeping the previous configuration")
        configure(**bad)
        reload()
        assert agent.log_text().count("keeping the previous configuration") == before + 1
        st = agent.request("status")
        assert st["lock"] == "reboot" and backup_job()["interval"] == 7200
    assert "sometimes" in agent.log_text() and "interval" in agent.log_text()
    assert agent.proc.poll() is None

    # a shorter interval makes the next backup due at once (and a valid lock
    # again: every program refuses the file with lock = sometimes)
    configure(agent={"interval": "2s"}, session={"lock": "reboot"})
    n = len(snapshots(agent))
    reload()
    agent.wait_for(lambda: len(snapshots(agent)) > n, 30, "a new snapshot")  # the finished job logs
    assert len(snapshots(agent)) > n
    assert agent.terminate() == 0
