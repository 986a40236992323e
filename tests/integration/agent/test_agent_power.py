# SPDX-License-Identifier: MIT
"""No scheduled backup on battery below [agent] battery_min or on a metered
connection (issue 18, item 11), asked over D-Bus from a stand-in UPower and
NetworkManager (their real names, paths, interfaces and properties) on a
private bus given to the agent as its system bus."""
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

import waits

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_agent_jobs import CLI, backup_setup  # noqa: E402,F401


@pytest.fixture
def power(tmp_path, agent):
    """set_state(on_battery, percent, metered); set_state.announce() makes
    the stand-in emit PropertiesChanged, as UPower and NetworkManager do."""
    if not shutil.which("dbus-daemon"):
        pytest.fail("dbus-daemon missing (packages dbus-daemon, dbus-session-bus-common): run make deps")
    addr = f"unix:path={tmp_path}/sysbus"
    bus = waits.dbus_daemon(tmp_path / "sysbus")
    state = tmp_path / "power-state"

    def set_state(on_battery, percent, metered):
        tmp = state.with_suffix(".tmp")
        tmp.write_text(f"{int(on_battery)} {percent} {metered}\n")
        tmp.replace(state)

    set_state(0, 100.0, 0)
    d = subprocess.Popen([str(CLI.parent / "tests" / "agent-powerd"), str(state)],
                         env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=addr), stdout=subprocess.PIPE, text=True)
    assert d.stdout.readline().strip() == "READY"

    def announce():
        d.send_signal(signal.SIGUSR1)
        ready, _, _ = select.select([d.stdout], [], [], 30)
        assert ready and d.stdout.readline().strip() == "CHANGED"  # on the bus now

    set_state.announce = announce
    agent.env["DBUS_SYSTEM_BUS_ADDRESS"] = addr
    yield set_state
    d.kill()
    d.wait()
    bus.terminate()
    bus.wait()


def backup_job(agent):
    return next(j for j in agent.request("status")["jobs"] if j["name"] == "backup")


def test_no_scheduled_backup_on_low_battery(agent, backup_setup, power):
    configure, _, _ = backup_setup
    configure(agent={"battery_min": "20"})
    power(1, 15.0, 0)
    agent.start()
    agent.wait_status("waiting: on battery (15%, below 20%): backs up when plugged in")
    assert backup_job(agent)["last_run"] == 0
    assert "waiting: on battery" in agent.cli("status").stdout
    power(1, 60.0, 0)  # charged enough, still on battery: runs
    agent.wait_status("idle, next backup", timeout=120)
    assert backup_job(agent)["last_result"] == "ok"
    assert "no longer waiting" in agent.log_text()


def test_no_scheduled_backup_on_a_metered_connection_but_backup_now_runs(agent, backup_setup, power):
    configure, _, _ = backup_setup
    power(0, 100.0, 1)  # NM_METERED_YES
    agent.start()
    agent.wait_status("waiting: on a metered connection")
    assert backup_job(agent)["last_run"] == 0
    # what the user asks for is not held back
    assert agent.request("backup-now")["ok"] is True
    agent.wait_for(lambda: backup_job(agent)["last_result"] == "ok", 120, "a backup that succeeded")



def test_plugging_in_starts_the_held_backup_at_once(agent, backup_setup, power):
    """Issue 18 (subscribe, not poll): the agent follows UPower's
    PropertiesChanged, so a backup held back on battery starts when the
    charger is plugged in, not at the next retry (1h here)."""
    configure, _, _ = backup_setup
    configure(agent={"battery_min": "20", "retry_min": "1h"})
    power(1, 15.0, 0)
    agent.start()
    agent.wait_status("waiting: on battery (15%, below 20%): backs up when plugged in")
    assert backup_job(agent)["next_run"] >= int(time.time()) + 3000
    power(0, 15.0, 0)  # plugged in
    power.announce()
    agent.wait_status("idle, next backup", timeout=120)
    assert backup_job(agent)["last_result"] == "ok"
    assert "no longer waiting" in agent.log_text()
