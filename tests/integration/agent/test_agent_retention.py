# SPDX-License-Identifier: MIT
"""Retention that runs by itself (issue 18, items 10 and 12): after a
backup the agent applies [retention] to this machine's snapshots and prunes;
a newest snapshot much smaller than the earlier ones keeps the last full
ones, shows a warning in `cloudseal status` and notifies; "first backup
finished" once, "backup overdue" once per streak."""
import json
import os
import pathlib
import queue
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_agent_jobs import backup_setup, session_bus, snapshots  # noqa: E402,F401

NOTHING = {"keep_hourly": "0", "keep_daily": "0", "keep_weekly": "0", "keep_monthly": "0"}


def _lines(notifyd):
    """notifyd's output lines, fed into a queue by a thread.  select() on
    the buffered pipe missed lines: when two notifications came together,
    one readline() pulled both into Python's buffer and select() then
    waited for the second until the timeout."""
    q = getattr(notifyd, "lines_queue", None)
    if q is None:
        q = notifyd.lines_queue = queue.Queue()

        def pump():
            for line in notifyd.stdout:
                q.put(line)
            q.put(None)  # EOF
        threading.Thread(target=pump, daemon=True).start()
    return q


def notifications(notifyd, timeout):
    """Lines the notification daemon printed until `timeout` or EOF, one at a time."""
    end = time.monotonic() + timeout
    q = _lines(notifyd)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        try:
            line = q.get(timeout=left)
        except queue.Empty:
            return
        if line is None:
            return
        line = line.strip()
        if not line:
            continue
        app, summary, body = line[len("NOTIFY "):].split("|")
        yield summary, body


def wait_notification(notifyd, summary, agent, timeout=120):
    seen = []
    for s, body in notifications(notifyd, timeout):
        seen.append(s)
        if s == summary:
            return body
    raise AssertionError(f"no notification {summary!r} (saw {seen}); agent log:\n{agent.log_text()[-3000:]}")


def wait_retention(agent, timeout=120):
    """Until the agent has applied its retention policy once and is idle again."""
    def applied():
        st = agent.request("status")
        return st if st.get("retention", {}).get("last_run", 0) > 0 and st["state"] != "running" else None
    return agent.wait_for(applied, timeout, "the retention policy applied")  # STATUS wakes it


def test_agent_forgets_and_prunes_after_a_backup(agent, backup_setup):
    configure, _, data = backup_setup
    configure(retention={"keep_last": "2", **NOTHING})
    agent.cli("init")
    for i in range(3):
        (data / "hello.txt").write_text(f"version {i}\n")
        agent.cli("backup")
    assert len(snapshots(agent)) == 3
    agent.start()
    st = wait_retention(agent)
    ret = st["retention"]
    assert len(snapshots(agent)) == 2, agent.log_text()
    assert ret["removed"] == 2 and ret["guard"] is False, ret
    assert ret["last_prune"] > 0, ret  # never pruned before: pruned now
    out = agent.cli("status").stdout
    assert "Retention:    keep last 2;" in out and "(2 removed)" in out, out
    assert "Warning:" not in out
    # the state file remembers it across a restart
    state = json.loads((agent.state_home / "cloudseal" / "agent-state.json").read_text())
    assert state["retention_removed"] == 2 and state["last_prune"] == ret["last_prune"]


def test_a_bounded_prune_says_what_it_left(agent, backup_setup):
    """[retention] prune_max_repack: the agent's prune rewrites at most that
    much, and `cloudseal status` says how much is left for the next one."""
    configure, _, data = backup_setup
    configure(retention={"keep_last": "1", "guard_ratio": "0", "prune_max_repack": "1600K", **NOTHING})
    agent.cli("init")
    for i in range(5):  # packs of a file that stays with one that goes: ~50% garbage each
        (data / f"a{i}").write_bytes(os.urandom(300 << 10))
        (data / f"b{i}").write_bytes(os.urandom((i + 2) * (100 << 10)))
        agent.cli("backup")
        (data / f"b{i}").unlink()
    agent.start()
    ret = wait_retention(agent)["retention"]
    assert ret["last_prune"] > 0 and ret["prune_left"] > 0, (ret, agent.log_text()[-3000:])
    assert "bytes of packs left to rewrite at the next prune" in agent.log_text()
    out = agent.cli("status").stdout
    assert "left for the next one)" in out, out
    state = json.loads((agent.state_home / "cloudseal" / "agent-state.json").read_text())
    assert state["prune_left"] == ret["prune_left"], state


def test_each_set_of_paths_keeps_its_own_history(agent, backup_setup, tmp_path):
    """Retention groups by paths as 'forget' does: backups of another (or a
    mistyped) path never push out the history of the paths backed up before."""
    configure, _, data = backup_setup
    configure(retention={"keep_last": "2", **NOTHING})
    other = tmp_path / "other"
    other.mkdir()
    agent.cli("init")
    for i in range(3):
        (other / "o.txt").write_text(f"other {i}\n")
        agent.cli("backup", str(other))
    for i in range(3):
        (data / "hello.txt").write_text(f"version {i}\n")
        agent.cli("backup")
    agent.start()
    wait_retention(agent)
    by_paths = {}
    for snap in snapshots(agent):
        by_paths.setdefault(tuple(sorted(snap["paths"])), []).append(snap)
    assert sorted(len(v) for v in by_paths.values()) == [2, 2], (by_paths, agent.log_text()[-3000:])


def test_a_suspiciously_small_newest_snapshot_keeps_the_full_ones(agent, backup_setup, session_bus):
    configure, _, data = backup_setup
    addr, notifyd = session_bus
    configure(retention={"keep_last": "1", **NOTHING})
    agent.cli("init")
    for i in range(4):
        (data / "big.bin").write_bytes(os.urandom(256 * 1024))
        agent.cli("backup")
    (data / "big.bin").unlink()  # the home's disk was not mounted
    agent.env["DBUS_SESSION_BUS_ADDRESS"] = addr
    agent.start()
    body = wait_notification(notifyd, "cloudseal: the newest backup looks incomplete", agent)
    assert "The last full backups are kept" in body and "cloudseal status" in body, body
    st = wait_retention(agent)
    ret = st["retention"]
    assert ret["guard"] is True and ret["guard_rescued"] == 3, ret
    # keep_last 1 alone would have left only the small one: the newest 3 full ones stay too
    snaps = snapshots(agent)
    assert len(snaps) == 4, snaps
    out = agent.cli("status").stdout
    assert "Warning:      the newest snapshot covers only" in out and "a disk" in out, out
    assert "kept the last full snapshots" in agent.log_text()


def test_first_backup_finished_is_notified_once(agent, backup_setup, session_bus):
    configure, _, _ = backup_setup
    addr, notifyd = session_bus
    configure(agent={"interval": "1h"})
    agent.env["DBUS_SESSION_BUS_ADDRESS"] = addr
    agent.start()
    body = wait_notification(notifyd, "cloudseal: first backup finished", agent)
    assert "Your files are backed up" in body and "cloudseal snapshots" in body, body
    wait_retention(agent)
    assert agent.request("backup-now")["ok"] is True
    agent.wait_log("cloudseal-agent: backup finished\n", 120, count=2)
    agent.terminate()
    # and not again after a restart
    agent.start()  # READY: the state file is read and the notices checked
    agent.terminate()
    assert agent.log_text().count("sent a desktop notification: cloudseal: first backup finished") == 1


def test_backup_overdue_is_notified_once_per_streak(agent, agent_env, session_bus, tmp_path):
    _, account = agent_env
    addr, notifyd = session_bus
    account.enroll()  # but not unlocked: no backup can run
    state_dir = agent.state_home / "cloudseal"
    state_dir.mkdir(parents=True, mode=0o700)
    four_days_ago = int(time.time()) - 4 * 86400
    (state_dir / "agent-state.json").write_text(json.dumps({
        "version": 1, "first_backup_notified": True,
        "jobs": {"backup": {"last_run": four_days_ago, "last_success": four_days_ago,
                            "last_result": "ok", "last_error": "", "failures": 0}}}))
    agent.env["DBUS_SESSION_BUS_ADDRESS"] = addr
    agent.start()
    body = wait_notification(notifyd, "cloudseal: backup overdue", agent)
    assert "No backup has succeeded for 4 days" in body and "cloudseal unlock" in body, body
    agent.terminate()
    agent.start()  # READY comes after the notices were checked
    agent.terminate()
    assert agent.log_text().count("sent a desktop notification: cloudseal: backup overdue") == 1
    assert json.loads((state_dir / "agent-state.json").read_text())["overdue_notified"] is True
