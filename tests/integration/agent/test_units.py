# SPDX-License-Identifier: MIT
"""The agent's user units pass `systemd-analyze verify`, and its man page
renders without warnings."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / os.environ.get("O", "build")
UNITS = ["cloudseal-agent.service", "cloudseal-agent.socket"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze missing (package systemd)")
def test_user_units_verify_clean(tmp_path):
    # verify checks that ExecStart exists: point it at the built agent
    for u in UNITS:
        text = (ROOT / "systemd" / u).read_text()
        text = text.replace("ExecStart=/usr/libexec/cloudseal/cloudseal-agent",
                            f"ExecStart={BUILD}/cloudseal-agent")
        (tmp_path / u).write_text(text)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    # --man=no: the man pages are checked below, against the source tree
    r = subprocess.run(["systemd-analyze", "--user", "--man=no", "verify",
                        *[str(tmp_path / u) for u in UNITS]],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    # verify exits 0 on unknown keys and bad values too: any output is a finding
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def test_verify_would_catch_a_broken_unit(tmp_path):
    """The check above must be able to fail."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze missing")
    (tmp_path / "broken.service").write_text("[Service]\nType=notify\nExecStart=/bin/true\nWatchdogSek=5\n")
    r = subprocess.run(["systemd-analyze", "--user", "--man=no", "verify", str(tmp_path / "broken.service")],
                       capture_output=True, text=True, env=dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path)))
    assert "WatchdogSek" in r.stderr


def test_units_match_the_agent():
    svc = (ROOT / "systemd" / "cloudseal-agent.service").read_text()
    sock = (ROOT / "systemd" / "cloudseal-agent.socket").read_text()
    assert "Type=notify" in svc and "WatchdogSec=" in svc
    assert "ExecStart=/usr/libexec/cloudseal/cloudseal-agent" in svc  # the Makefile's LIBEXECDIR
    assert "ListenStream=%t/cloudseal/agent.sock" in sock and "SocketMode=0600" in sock
    # StateDirectory= of a user unit is ~/.config before systemd 254: the agent
    # picks ~/.local/state/cloudseal itself
    assert "StateDirectory=" not in svc
    # the agent's own stop budget fits inside the unit's
    stop = int(next(l.split("=")[1] for l in svc.splitlines() if l.startswith("TimeoutStopSec=")))
    assert stop > 45


def test_agent_unit_is_polite():
    """A backup gets the CPU and the disk only when the desktop does not
    want them (issue 18 item 11): the jobs inherit these from the agent."""
    svc = (ROOT / "systemd" / "cloudseal-agent.service").read_text().splitlines()
    for want in ("Nice=10", "IOSchedulingClass=idle", "CPUWeight=20", "IOWeight=20"):
        assert want in svc, want


@pytest.mark.skipif(not shutil.which("man"), reason="man missing")
def test_man_page_renders_without_warnings():
    r = subprocess.run(["man", "--warnings", "-l", str(ROOT / "man" / "cloudseal-agent.8")],
                       capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "lock = logout" in r.stdout.replace("\u2010", "-") or "logout" in r.stdout
