# SPDX-License-Identifier: MIT
"""[agent] schedule (issue 18, item 11): backups on a calendar like
OnCalendar= with Persistent=true, instead of every interval."""
import datetime
import json
import time


def seed_state(agent, last_success):
    d = agent.state_home / "cloudseal"
    d.mkdir(parents=True, mode=0o700, exist_ok=True)
    (d / "agent-state.json").write_text(json.dumps({
        "version": 1, "first_backup_notified": True, "first_seen": last_success,
        "jobs": {"backup": {"last_run": last_success, "last_success": last_success,
                            "last_result": "ok", "last_error": "", "failures": 0}}}))


def backup_job(agent):
    return next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")


def test_backup_runs_at_the_calendar_time(agent, agent_env):
    write, account = agent_env
    account.enroll()
    account.unlock()
    now = int(time.time())
    at = datetime.datetime.fromtimestamp(now + 3 * 3600).replace(second=0, microsecond=0)
    write(agent={"schedule": f"daily {at:%H:%M}", "interval": "1h"})
    seed_state(agent, now - 60)  # backed up a minute ago
    agent.start()
    job = backup_job(agent)
    # the calendar's time, not the last backup + 1h
    assert job["next_run"] == int(at.timestamp()), (job, at)
    assert "on the calendar 'daily " in agent.log_text()


def test_a_missed_calendar_time_runs_at_start(agent, agent_env):
    write, account = agent_env
    account.enroll()
    account.unlock()
    now = int(time.time())
    write(agent={"schedule": "Mon..Sun 00:00,12:00", "interval": "7d"})
    seed_state(agent, now - 2 * 86400)  # two calendar times passed since
    agent.start()
    job = backup_job(agent)
    assert job["running"] or job["last_run"] > now - 60 or job["next_run"] <= int(time.time()), job


def test_an_invalid_schedule_stops_the_agent_with_the_expected_form(agent, agent_env):
    write, _ = agent_env
    write(agent={"schedule": "every tuesday"})
    agent.start(wait_ready=False)
    assert agent.proc.wait(60) == 1
    assert ("[agent] schedule must be a calendar like 'daily 12:30', 'Mon..Fri 09:00,17:00' or 'hourly', "
            "not 'every tuesday'") in agent.log_text()


def test_pause_and_resume(agent, agent_env):
    """`cloudseal agent pause [DURATION]` / `resume` (issue 18, item 11):
    nothing runs while paused, not even after a restart; backup-now says
    how to resume."""
    write, account = agent_env
    account.enroll()
    account.unlock()
    seed_state(agent, int(time.time()) - 60)
    agent.start()
    r = agent.cli("agent", "pause")
    assert "agent: paused until 'cloudseal agent resume'" in r.stdout, r.stdout
    st = agent.request("status")
    assert st["state"] == "paused" and st["paused_until"] > 2 ** 62, st
    agent.wait_status("paused: run 'cloudseal agent resume'")
    assert "paused: run 'cloudseal agent resume'" in agent.cli("status").stdout
    # remembered across a restart
    agent.terminate()
    account.unlock()  # lock = logout: the stop locked it
    agent.start()
    assert agent.request("status")["state"] == "paused"
    r = agent.cli("agent", "resume")
    assert "agent: resumed" in r.stdout and agent.request("status")["state"] != "paused"
    # a timed pause
    t0 = int(time.time())
    agent.cli("agent", "pause", "2h")
    until = agent.request("status")["paused_until"]
    assert t0 + 7200 <= until <= int(time.time()) + 7200
    agent.wait_status("paused until ")
    r = agent.cli("agent", "pause", "soon", check=False)
    assert r.returncode == 2 and "'soon' is not a duration like 2h, 30min or 1d" in r.stderr, r.stderr


def test_backup_now_while_paused_says_how_to_resume(agent, agent_env):
    write, account = agent_env
    account.enroll()
    account.unlock()
    seed_state(agent, int(time.time()) - 60)
    agent.start()
    agent.cli("agent", "pause", "30min")
    r = agent.cli("agent", "backup-now", check=False)
    assert r.returncode != 0 and "paused: run 'cloudseal agent resume' first" in r.stderr, r.stderr
    assert backup_job(agent)["running"] is False
