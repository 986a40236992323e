# SPDX-License-Identifier: MIT
"""A refused directory sync is loud (issue 14, hole 5): the journal line,
the [fleet] state, `cloudseal admin show --installed` and, for
administrators, `cloudseal status` say when, why, and until when the
installed directory still serves; a good sync clears it."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")


def run(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert not check or r.returncode == 0, f"{cmd}: {r.stdout}{r.stderr}"
    return r


def cli(fleet, *args, check=True):
    return run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), *args], check=check)


def refuse_one(fleet, tmp_path):
    fleet.cli("add-user", "alice")
    fleet.publish()
    fleet.sync()                                     # serial 1 installed
    bad = tmp_path / "expired.signed"
    fleet.sign(bad, 2, expires_in=-60)
    fleet.plant(bad)
    r = fleet.sync(check=False)
    assert r.returncode != 0
    return r


def test_refused_sync_is_recorded_and_shown(fleet, tmp_path):
    r = refuse_one(fleet, tmp_path)
    assert "fleet directory refused: the directory (serial 2) expired" in r.stderr, r.stderr
    state = json.loads((tmp_path / "directory.state").read_text())
    assert state["serial"] == 1 and state["refused"] is True and state["failed_at"] > 0

    out = cli(fleet, "admin", "show", "--installed").stdout
    m = re.search(r"warning: the last directory sync was refused at \d{4}-\d\d-\d\d \d\d:\d\d UTC: the directory \(serial 2\) "
                  r"expired on .*; the installed directory \(serial 1\) expires at ", out)
    assert m, out
    shown = json.loads(cli(fleet, "--json", "admin", "show", "--installed").stdout)
    fail = shown["last_sync_failure"]
    assert fail["refused"] is True and "expired" in fail["reason"] and fail["time"] > 0
    assert shown["serial"] == 1

    out = cli(fleet, "status").stdout
    assert "Directory:    serial 1, expires " in out
    assert "Warning:      the last directory sync was refused at " in out, out
    st = json.loads(cli(fleet, "status", "--json").stdout)["fleet_directory"]
    assert st["installed"] is True and st["serial"] == 1
    assert st["last_sync_failure"]["reason"] == fail["reason"]

    # a good publish and sync clear it
    fleet.publish()
    fleet.sync()
    assert "warning:" not in cli(fleet, "admin", "show", "--installed").stdout
    assert json.loads(cli(fleet, "--json", "admin", "show", "--installed").stdout)["last_sync_failure"] is None
    assert "Warning:" not in cli(fleet, "status").stdout
    assert json.loads(cli(fleet, "status", "--json").stdout)["fleet_directory"]["last_sync_failure"] is None


def test_failed_fetch_is_recorded_as_failed(fleet, tmp_path):
    """Not a refusal but still the old cache until it expires: storage has
    nothing (or cannot be reached)."""
    fleet.cli("add-user", "alice")
    fleet.publish()
    fleet.sync()
    (fleet.store / "fleet" / "directory").unlink()
    assert fleet.sync("--force", check=False).returncode != 0
    out = cli(fleet, "admin", "show", "--installed").stdout
    assert "warning: the last directory sync failed at " in out and "nothing published" in out, out
    fail = json.loads(cli(fleet, "--json", "admin", "show", "--installed").stdout)["last_sync_failure"]
    assert fail["refused"] is False


def test_refusal_reaches_the_journal_at_error_priority(fleet, tmp_path):
    """Under systemd (stderr is the JOURNAL_STREAM) the refusal carries a
    priority prefix of warning or higher: <3>, err."""
    fleet.cli("add-user", "alice")
    fleet.publish()
    fleet.sync()
    bad = tmp_path / "expired.signed"
    fleet.sign(bad, 2, expires_in=-60)
    fleet.plant(bad)
    with open(tmp_path / "journal", "w+") as err:
        st = os.fstat(err.fileno())
        r = subprocess.run([str(BUILD / "cloudseal-helper"), "--config", str(fleet.cfg), "directory-sync"],
                           stderr=err, stdout=subprocess.PIPE, timeout=60,
                           env=dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
        err.seek(0)
        lines = err.read().splitlines()
    assert r.returncode != 0
    refused = [l for l in lines if "fleet directory refused" in l]
    assert refused and int(refused[0][1:refused[0].index(">")]) <= 4, lines


def test_status_shows_the_directory_to_administrators_only(fleet, tmp_path):
    """`cloudseal status` run by a user: no directory section; by a member
    of adm: the section and the warning."""
    refuse_one(fleet, tmp_path)
    shared = pathlib.Path(tempfile.mkdtemp(prefix="cs-status-"))
    try:
        shared.chmod(0o755)
        for name in ("directory.cache", "directory.state"):
            shutil.copy2(tmp_path / name, shared / name)
            (shared / name).chmod(0o644)
        conf = shared / "c.conf"
        conf.write_text(fleet.cfg.read_text().replace(str(tmp_path / "directory.cache"), str(shared / "directory.cache"))
                        .replace(str(tmp_path / "directory.state"), str(shared / "directory.state")))
        conf.chmod(0o644)
        base = ["setpriv", "--reuid=65534", "--regid=65534"]
        status = [str(BUILD / "cloudseal"), "--config", str(conf), "status"]
        out = run(base + ["--clear-groups"] + status, check=False).stdout
        assert "User:         nobody" in out and "Directory:" not in out and "Warning:" not in out, out
        out = run(base + ["--groups=adm"] + status, check=False).stdout
        assert "Directory:    serial 1" in out and "Warning:      the last directory sync was refused" in out, out
    finally:
        shutil.rmtree(shared, ignore_errors=True)
