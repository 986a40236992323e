# SPDX-License-Identifier: MIT
"""The agent's message sync never lets a mass deletion through: it does
not pass --allow-deletions, it tells the person at the desk once (a desktop
notification), shows the job as "needs consent" and keeps its schedule;
the user's own `archive sync --allow-deletions N` settles it."""
import os
import pathlib
import select
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_agent_jobs import backup_setup, session_bus  # noqa: E402,F401



def archive_job(agent):
    return next(j for j in agent.request("status")["jobs"] if j["name"] == "archive-sync")


def test_agent_asks_before_a_mass_deletion(agent, backup_setup, tmp_path, session_bus):
    configure, _, _ = backup_setup
    addr, notifyd = session_bus
    maildir = tmp_path / "Maildir"
    for d in ("cur", "new", "tmp"):
        (maildir / d).mkdir(parents=True)
    for i in range(100):
        (maildir / "new" / f"1700000000.M{i}P1.agent").write_text(f"Subject: {i}\n\nbody {i}\n")
    configure(agent={"archive_sync": "auto", "backup": "no", "archive_interval": "1h"},
              archive={"maildir": str(maildir)})
    agent.env["DBUS_SESSION_BUS_ADDRESS"] = addr
    agent.start()
    agent.wait_status(lambda v: v.startswith("idle, next") and "message sync" in v, timeout=90)
    assert archive_job(agent)["last_result"] == "ok"

    for i in range(60):
        os.unlink(maildir / "new" / f"1700000000.M{i}P1.agent")
    assert agent.request("sync-now")["ok"] is True
    ready, _, _ = select.select([notifyd.stdout], [], [], 60)  # the agent calls Notify
    assert ready, agent.log_text()
    line = notifyd.stdout.readline().strip()
    app, summary, body = line[len("NOTIFY "):].split("|")
    assert summary == "cloudseal: many messages deleted" and "cloudseal archive sync" in body
    job = archive_job(agent)
    assert job["last_result"] == "needs consent", job
    assert "mass deletion" in job.get("last_error", ""), job
    assert job["next_run"] >= job["last_run"] + 3600 - 5, job  # the schedule, not a backoff

    r = agent.cli("archive", "sync", check=False)
    assert r.returncode == 8 and "--allow-deletions 60" in r.stderr
    agent.cli("archive", "sync", "--allow-deletions", "60")
    t = time.monotonic()
    assert agent.request("sync-now")["ok"] is True
    agent.wait_status(lambda v: v.startswith("syncing"), timeout=90, since=t)
    agent.wait_status(lambda v: v.startswith("idle, next") and "message sync" in v, timeout=90, since=t)
    assert archive_job(agent)["last_result"] == "ok"
    assert agent.log_text().count("sent a desktop notification") == 1
