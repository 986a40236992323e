# SPDX-License-Identifier: MIT
"""cloudseal admin report (docs/reports.md) against a file:// store.

Reports are made by fleet-tool with known account keys: genuine ones, and
the ones a bucket writer can make (forged, moved, put back, truncated,
oversized, future-dated).  Each must show as what it is, and only genuine
fresh backups may make the exit code 0.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import time

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")
FLEET_TOOL = BUILD / "tests" / "fleet" / "fleet-tool"


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r

AMK = {"alice": "11" * 32, "bob": "22" * 32, "dave": "44" * 32}
HOST = {"a": "a" * 32, "b": "b" * 32, "c": "c" * 32, "d": "d" * 32}


def reporting_fleet(fleet):
    """A fleet whose directory names a report key; alice, bob, dave enrolled, carol not."""
    fleet.cli("keygen", "--secret", "unused.key", "--public", "unused.pub", "--report")
    rpk = [l for l in (fleet.tmp / "report.pub").read_text().splitlines() if l and not l.startswith("#")][0]
    fleet.source = fleet.tmp / "reported.json"
    fleet.cli("init", "--fleet", "test", "--report-key", rpk)
    for name in ("alice", "bob", "carol", "dave"):
        fleet.cli("add-user", name)
    for name, amk in AMK.items():
        key = run([str(FLEET_TOOL), "account-key", amk]).stdout.strip()
        fleet.cli("approve", name, "--key", key)
    return fleet


def put_report(fleet, user, host, *, signer=None, seq=1, when=None, backup_age=3600, error="none", path_user=None):
    now = int(time.time())
    when = now if when is None else when
    dest = fleet.store / "fleet" / "reports" / (path_user or user) / HOST[host]
    dest.parent.mkdir(parents=True, exist_ok=True)
    run([str(FLEET_TOOL), "report", str(dest), str(fleet.tmp / "report.pub"), AMK[signer or user], user, HOST[host],
         f"ws-{host}", str(seq), str(when), str(when - backup_age), error])
    return dest


def report(fleet, *args):
    return subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "admin", "--source",
                           str(fleet.source), "report", "--report-secret", str(fleet.tmp / "report.key"), *args],
                          capture_output=True, text=True, timeout=120, cwd=str(fleet.tmp))


def states(out):
    return {(r["user"], r["host_id"]): r for r in json.loads(out)["reports"]}


def test_fresh_fleet_exits_zero_and_stale_exits_one(fleet):
    reporting_fleet(fleet)
    fleet.cli("remove-user", "carol")  # every remaining user reports
    for user, host in (("alice", "a"), ("bob", "b"), ("dave", "d")):
        put_report(fleet, user, host)
    r = report(fleet)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^alice\s+ws-a\s+ok\s+(59m|1h) ago", r.stdout, re.M), r.stdout
    r = report(fleet, "--stale", "30m")
    assert r.returncode == 1 and r.stdout.count("STALE") == 3, r.stdout


def test_hostile_reports_are_shown_as_such(fleet):
    reporting_fleet(fleet)
    put_report(fleet, "alice", "a")
    put_report(fleet, "bob", "b", backup_age=5 * 86400, error="unreachable")
    put_report(fleet, "alice", "c", signer="bob")                        # bob's key claiming alice
    moved = put_report(fleet, "alice", "a", path_user="bob")            # alice's genuine one, at bob's
    put_report(fleet, "dave", "d", when=int(time.time()) + 86400)       # from the future
    cut = put_report(fleet, "dave", "a")
    cut.write_bytes(cut.read_bytes()[:-7])                               # truncated
    (cut.parent.parent / "dave" / HOST["b"]).write_bytes(b"CSRPT\0\0\1" + b"x" * 5000)  # oversized
    assert moved.exists()

    r = report(fleet, "--json")
    assert r.returncode == 5, r.stderr  # refused reports outrank staleness
    out = json.loads(r.stdout)
    got = states(r.stdout)
    assert got[("alice", HOST["a"])]["state"] == "ok" and not got[("alice", HOST["a"])]["stale"]
    assert got[("bob", HOST["b"])]["stale"] and got[("bob", HOST["b"])]["last_error"] == "unreachable"
    assert got[("alice", HOST["c"])]["state"] == "forged"
    assert got[("bob", HOST["a"])]["state"] == "misplaced"
    assert got[("dave", HOST["d"])]["state"] == "future"
    assert got[("dave", HOST["a"])]["state"] == "invalid"
    assert got[("dave", HOST["b"])]["state"] == "invalid" and "larger" in got[("dave", HOST["b"])]["reason"]
    for bad in ("forged", "misplaced", "future", "invalid"):  # nothing from them is shown as data
        assert all("last_backup" not in v for v in got.values() if v["state"] == bad)
    # dave has only refused reports, carol never enrolled
    assert {(u["user"], u["enrolled"]) for u in out["never_reported"]} == {("carol", False), ("dave", True)}
    text = report(fleet).stdout
    assert re.search(r"^carol\s+-\s+NEVER\s+never enrolled", text, re.M), text
    assert re.search(r"^alice\s+c{20}\s+forged\s+signed by another key", text, re.M), text


def test_replayed_report_is_shown_as_such(fleet):
    reporting_fleet(fleet)
    seen = fleet.tmp / "seen.json"
    old = put_report(fleet, "alice", "a", seq=3, when=int(time.time()) - 7200).read_bytes()
    assert states(report(fleet, "--json", "--seen", str(seen)).stdout)[("alice", HOST["a"])]["state"] == "ok"
    put_report(fleet, "alice", "a", seq=4)
    assert states(report(fleet, "--json", "--seen", str(seen)).stdout)[("alice", HOST["a"])]["state"] == "ok"
    (fleet.store / "fleet" / "reports" / "alice" / HOST["a"]).write_bytes(old)  # a bucket writer puts it back
    r = report(fleet, "--json", "--seen", str(seen))
    assert states(r.stdout)[("alice", HOST["a"])]["state"] == "replayed", r.stdout
    assert r.returncode == 5
    assert oct(seen.stat().st_mode & 0o777) == "0o600"
    seen.write_text('{"alice/' + HOST["a"] + '": [')  # a damaged state file: said, and started afresh
    r = report(fleet, "--json", "--seen", str(seen))
    assert "starting it afresh" in r.stderr and states(r.stdout)[("alice", HOST["a"])]["state"] == "ok"


PROM_LINE = re.compile(r'^([a-z_]+)\{((?:[a-z_]+="[^"\\\n]*",?)*)\} (\d+)$')


def parse_prometheus(text):
    """The text exposition format, strictly: HELP/TYPE before a family's samples."""
    samples, typed = [], set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind == "gauge"
            typed.add(name)
            continue
        m = PROM_LINE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m.group(1) in typed, f"{m.group(1)} has no TYPE before it"
        labels = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2)))
        samples.append((m.group(1), labels, int(m.group(3))))
    return samples


def test_prometheus_file(fleet):
    reporting_fleet(fleet)
    put_report(fleet, "alice", "a", backup_age=600)
    put_report(fleet, "alice", "c", signer="bob")
    prom = fleet.tmp / "textfile" / "cloudseal.prom"
    prom.parent.mkdir()
    prom.write_text("old\n")
    r = report(fleet, "--prometheus", str(prom))
    assert r.returncode == 5, r.stderr
    samples = parse_prometheus(prom.read_text())
    by = {(n, l.get("user"), l.get("host"), l.get("state")): v for n, l, v in samples}
    last = by[("cloudseal_last_backup_timestamp_seconds", "alice", "ws-a", None)]
    assert abs(last - (time.time() - 600)) < 120
    assert by[("cloudseal_report_refused", "alice", None, "forged")] == 1
    assert ("cloudseal_last_backup_timestamp_seconds", "alice", "ws-c", None) not in by
    assert [p.name for p in prom.parent.iterdir()] == ["cloudseal.prom"]  # no temp file left


def test_usage_errors(fleet):
    reporting_fleet(fleet)
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "admin", "--source",
                        str(fleet.source), "report"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--report-secret" in r.stderr
    assert report(fleet, "--stale", "soon").returncode == 2
    shutil.copy(fleet.tmp / "report.key", fleet.tmp / "open.key")
    (fleet.tmp / "open.key").chmod(0o644)
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "admin", "--source",
                        str(fleet.source), "report", "--report-secret", str(fleet.tmp / "open.key")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "chmod 600" in r.stderr


def test_reports_through_s3(fleet, fleet_s3):
    """The same checks when the reports come from an S3 listing (s3rver)."""
    url, s3tool = fleet_s3
    reporting_fleet(fleet)
    fleet.store.mkdir(exist_ok=True)
    made = {("alice", "a"): put_report(fleet, "alice", "a"),
            ("alice", "c"): put_report(fleet, "alice", "c", signer="bob"),
            ("bob", "b"): put_report(fleet, "bob", "b", backup_age=5 * 86400)}
    for (user, host), path in made.items():
        subprocess.run(s3tool + [url, "put", f"fleet/reports/{user}/{HOST[host]}"], input=path.read_bytes(),
                       capture_output=True, timeout=60, check=True)
    shutil.rmtree(fleet.store / "fleet")  # only what S3 holds counts
    r = report(fleet, "--json")
    assert r.returncode == 5, r.stdout + r.stderr
    got = states(r.stdout)
    assert got[("alice", HOST["a"])]["state"] == "ok" and not got[("alice", HOST["a"])]["stale"]
    assert got[("alice", HOST["c"])]["state"] == "forged"
    assert got[("bob", HOST["b"])]["stale"]


def test_stray_object_name_that_is_not_utf8_in_report_json(fleet):
    """A bucket writer's object under fleet/reports/ is named in its
    reason; a name that is not UTF-8 keeps --json valid (reason_base64)."""
    import base64
    reporting_fleet(fleet)
    put_report(fleet, "alice", "a")
    stray = os.path.join(os.fsencode(str(fleet.store / "fleet" / "reports")), b"stray-caf\xe9")
    with open(stray, "wb") as f:
        f.write(b"x")
    r = subprocess.run([str(BUILD / "cloudseal"), "--config", str(fleet.cfg), "admin", "--source", str(fleet.source),
                        "report", "--report-secret", str(fleet.tmp / "report.key"), "--json"],
                       capture_output=True, timeout=120, cwd=str(fleet.tmp))
    assert r.returncode == 5, r.stderr
    rows = json.loads(r.stdout.decode("utf-8", errors="strict"))["reports"]
    (bad,) = [w for w in rows if "reason_base64" in w]
    assert bad["state"] == "invalid" and bad["reason"].endswith("stray-caf\ufffd"), bad
    assert base64.b64decode(bad["reason_base64"]).endswith(b"stray-caf\xe9"), bad
