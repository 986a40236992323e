# SPDX-License-Identifier: MIT
"""The agent files fleet health reports (docs/reports.md): after a backup,
inside a fleet whose signed directory names a report key, read back by
'cloudseal admin report'; two workstations of one user file a report each;
outside a fleet, nothing is filed."""
import json
import os
import pathlib
import re
import subprocess
import time
import uuid

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
CLI = BUILD / "cloudseal"
KEYTOOL = BUILD / "tests" / "agent-keytool"
PASSWORD = "correct horse battery staple\n"


def backup_config(tmp_path, agent, write, paths=None, **sections):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "hello.txt").write_text("hello from the report test\n")
    agent.env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return write(backup={"paths": str(paths or data)}, **sections)


def make_fleet(tmp_path, write, agent, account, paths=None):
    """A fleet of one: the test's user, enrolled and pinned, with a report key."""
    (tmp_path / "passwd").write_text("nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n")
    (tmp_path / "group").write_text("nogroup:x:65534:\n")
    fleet = {"public_key_file": tmp_path / "fleet.pub", "source": tmp_path / "directory.json",
             "cache": tmp_path / "directory.cache", "state": tmp_path / "directory.state",
             "local_passwd": tmp_path / "passwd", "local_group": tmp_path / "group"}
    cfg = backup_config(tmp_path, agent, write, paths, fleet={k: str(v) for k, v in fleet.items()})

    def cs(*args, prog=CLI):
        r = subprocess.run([str(prog), "--config", str(cfg), *args], capture_output=True, text=True,
                           timeout=60, cwd=str(tmp_path))
        assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
        return r

    cs("admin", "keygen", "--report")
    rpk = [l for l in (tmp_path / "report.pub").read_text().splitlines() if l and not l.startswith("#")][0]
    cs("admin", "init", "--fleet", "t", "--report-key", rpk)
    cs("admin", "add-user", account.user)
    account.enroll()
    pk = subprocess.run([str(KEYTOOL), "pubkey", str(cfg), account.user], input=PASSWORD, capture_output=True,
                        text=True, timeout=60, check=True).stdout.strip()
    cs("admin", "approve", account.user, "--key", pk)
    cs("admin", "publish", "--no-upload", "--output", str(tmp_path / "signed"))
    (tmp_path / "storage" / "fleet").mkdir(parents=True, exist_ok=True)
    (tmp_path / "storage" / "fleet" / "directory").write_bytes((tmp_path / "signed").read_bytes())
    cs("directory-sync", prog=BUILD / "cloudseal-helper")
    return cfg


def test_agent_files_a_report_after_a_backup(agent, agent_env, tmp_path):
    write, account = agent_env
    cfg = make_fleet(tmp_path, write, agent, account)
    account.unlock()
    agent.start()
    agent.wait_status("idle, next backup", timeout=120)
    agent.wait_log("filed the fleet health report")
    reports = list((tmp_path / "storage" / "fleet" / "reports" / account.user).iterdir())
    assert len(reports) == 1 and len(reports[0].name) == 32
    assert account.user.encode() not in reports[0].read_bytes()  # sealed
    state = json.loads((agent.state_home / "cloudseal" / "agent-state.json").read_text())
    assert state["report_sequence"] == 1 and state["report_last"] > 0

    r = subprocess.run([str(CLI), "--config", str(cfg), "admin", "report", "--report-secret",
                        str(tmp_path / "report.key"), "--json"], capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    (row,) = json.loads(r.stdout)["reports"]
    assert row["user"] == account.user and row["state"] == "ok" and not row["stale"], row
    assert time.time() - row["last_backup"] < 300 and row["last_error"] == "none"
    assert row["repo_bytes"] > 0 and row["sequence"] == 1 and row["snapshots"] == 1
    assert agent.terminate() == 0

    # the next run goes on from the sequence in the state file (else the
    # admin side would take its reports for old ones put back)
    account.unlock()  # the stop locked (lock = logout, no logind here)
    agent.start()
    agent.wait_status("idle, next backup", timeout=60)
    t = time.monotonic()
    assert agent.request("backup-now")["ok"] is True
    agent.wait_status("idle, next backup", timeout=120, since=t)
    agent.wait_log("(sequence 2,")
    r = subprocess.run([str(CLI), "--config", str(cfg), "admin", "report", "--report-secret",
                        str(tmp_path / "report.key"), "--json"], capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path))
    (row,) = json.loads(r.stdout)["reports"]
    assert r.returncode == 0 and row["sequence"] == 2 and row["snapshots"] == 2, r.stdout + r.stderr
    assert agent.terminate() == 0


def test_no_report_outside_a_fleet(agent, agent_env, tmp_path):
    write, account = agent_env
    backup_config(tmp_path, agent, write)  # no [fleet]: a standalone workstation
    account.enroll()
    account.unlock()
    agent.start()
    agent.wait_status("idle, next backup", timeout=120)  # the backup and its steps are done
    assert not (tmp_path / "storage" / "fleet").exists()
    assert "health report" not in agent.log_text()
    assert agent.terminate() == 0


def test_agent_reports_a_failed_backup(agent, agent_env, tmp_path):
    write, account = agent_env
    cfg = make_fleet(tmp_path, write, agent, account, paths=tmp_path / "no-such-dir")
    account.unlock()
    agent.start()
    agent.wait_status("error:", timeout=120)
    agent.wait_log("filed the fleet health report")
    r = subprocess.run([str(CLI), "--config", str(cfg), "admin", "report", "--report-secret",
                        str(tmp_path / "report.key"), "--json"], capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr  # never backed up: stale
    (row,) = json.loads(r.stdout)["reports"]
    assert row["state"] == "ok" and row["stale"] and row["last_backup"] == 0, row
    assert row["last_error"] == "failed" and row["last_error_time"] > 0, row
    assert str(tmp_path) not in r.stdout  # a class, never the failing path
    assert agent.terminate() == 0


def test_two_workstations_of_one_user_file_two_reports(agent, agent_env, tmp_path):
    """One user backing up from two machines into one store: each agent
    files under its own host id (from its machine id) and host name, and
    'admin report' shows one line for each, neither taken for the other's."""
    write, account = agent_env
    cfg = make_fleet(tmp_path, write, agent, account)
    account.unlock()
    agent.start()
    agent.wait_status("idle, next backup", timeout=120)
    agent.wait_log("filed the fleet health report")
    assert agent.terminate() == 0

    # the second workstation: its own machine id and host name (private
    # mount and UTS namespaces), its own state, cache and runtime dirs
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    (ws2 / "machine-id").write_text(uuid.uuid4().hex + "\n")
    second = type(agent)(ws2, cfg)
    second.env["XDG_CACHE_HOME"] = str(ws2 / "cache")
    second.wrap = ["unshare", "--mount", "--uts", "sh", "-c",
                   'mount --bind "$0" /etc/machine-id && hostname ws-two && exec "$@"', str(ws2 / "machine-id")]
    try:
        account.unlock()  # the first agent's stop locked
        second.start()
        second.wait_status("idle, next backup", timeout=120)
        second.wait_log("filed the fleet health report")
        assert second.terminate() == 0
    finally:
        second.close()

    reports = sorted(p.name for p in (tmp_path / "storage" / "fleet" / "reports" / account.user).iterdir())
    assert len(reports) == 2, reports
    r = subprocess.run([str(CLI), "--config", str(cfg), "admin", "report", "--report-secret",
                        str(tmp_path / "report.key"), "--json"], capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads(r.stdout)["reports"]
    assert sorted(row["host_id"] for row in rows) == reports
    by_host = {row["host"]: row for row in rows}
    assert len(by_host) == 2 and "ws-two" in by_host, rows
    for row in rows:
        assert row["user"] == account.user and row["state"] == "ok" and not row["stale"], row
        assert row["sequence"] == 1 and time.time() - row["last_backup"] < 300, row
    assert by_host["ws-two"]["snapshots"] == 2  # the second backup went into the same repository
    text = subprocess.run([str(CLI), "--config", str(cfg), "admin", "report", "--report-secret",
                           str(tmp_path / "report.key")], capture_output=True, text=True, timeout=60,
                          cwd=str(tmp_path)).stdout
    for host in by_host:
        assert re.search(rf"^{re.escape(account.user)}\s+{re.escape(host)}\s+ok\s", text, re.M), text


def test_no_machine_id_is_said_not_swallowed(agent, agent_env, tmp_path):
    """A workstation without a machine id cannot name itself in a report:
    the agent says so at warning level, with what to do, and `cloudseal
    status` shows it (else the admin sees a stale machine, its user nothing)."""
    write, account = agent_env
    make_fleet(tmp_path, write, agent, account)
    empty = tmp_path / "machine-id"
    empty.write_text("")
    agent.wrap = ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/machine-id && exec "$@"', str(empty)]
    account.unlock()
    agent.start()
    agent.wait_status("idle, next backup", timeout=120)
    agent.wait_log("cannot file fleet health reports")
    line = next(l for l in agent.log_text().splitlines() if "cannot file fleet health reports" in l)
    assert "no machine id" in line and "systemd-machine-id-setup" in line, line
    assert "systemd-machine-id-setup" in agent.request("status")["report_problem"]
    text = agent.cli("status", check=False).stdout
    assert re.search(r"^Reports: +none filed: this machine has no machine id", text, re.M), text
    assert not (tmp_path / "storage" / "fleet" / "reports").exists()
    assert agent.terminate() == 0
