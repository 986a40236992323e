# SPDX-License-Identifier: MIT
"""The floor programs `make bench` measures (bench/engine_floor.c,
bench/write_floor.c; built by `make bench-tools`) and bench/ratios.py's
verdicts, on a tiny generated tree: every byte counted, OpenSSL's ids equal
libsodium's, the write floor makes the same tree and removes it, and a miss
whose floor is past the target says so."""
import json
import os
import pathlib
import random
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BENCH = ROOT / os.environ.get("O", "build") / "bench"


def tool(name):
    path = BENCH / name
    if not path.exists():
        pytest.fail(f"{path} missing: run 'make bench-tools'")
    return str(path)


def run_kv(cmd):
    """Run a floor program; its last line is key=value pairs after the floor's name."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    line = r.stdout.strip().splitlines()[-1]
    return dict(kv.split("=", 1) for kv in line.split()[1:])


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """~300 small files (text-like and random), an empty one, one of 3 MiB
    (several content-defined chunks), subdirectories, a symlink, a hard link."""
    top = tmp_path_factory.mktemp("floors") / "src"
    rnd = random.Random(23)
    words = [bytes(rnd.choice(b"abcdefghij klmnop") for _ in range(rnd.randint(3, 9))) for _ in range(400)]
    for i in range(300):
        d = top / f"d{i % 7}" / f"e{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        n = rnd.choice((40, 900, 3000, 9000, 40000))
        data = (b" ".join(rnd.choice(words) for _ in range(n // 5))[:n] if i % 4
                else rnd.randbytes(n))
        (d / f"f{i}.txt").write_bytes(data)
        os.utime(d / f"f{i}.txt", ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
    (top / "empty").write_bytes(b"")
    (top / "big.bin").write_bytes(rnd.randbytes(3 << 20))
    os.symlink("d0/e0/f0.txt", top / "link")
    os.link(top / "d1/e1/f1.txt", top / "hard")
    os.chmod(top / "d2", 0o750)
    if os.geteuid() == 0:  # another user's files, as in the synthetic set: the floor chowns them
        for p in (top / "d3", top / "d3/e0/f3.txt", top / "link"):
            os.lchown(p, 65534, 65534)
    files = [p for p in top.rglob("*") if p.is_file() and not p.is_symlink()]
    return top, files


def test_engine_floor_counts_every_byte(tree):
    top, files = tree
    kv = run_kv([tool("engine-floor"), str(top)])
    assert int(kv["files"]) == len(files)  # the hard link's two names are two files, as in a backup
    assert int(kv["bytes_in"]) == sum(p.stat().st_size for p in files)
    # a blob per file but the empty one, more than one for the 3 MiB file
    assert int(kv["blobs"]) > len(files) - 1
    assert 0 < int(kv["bytes_compressed"]) < int(kv["bytes_in"])
    assert int(kv["threads"]) == len(os.sched_getaffinity(0))
    parts = sum(float(kv[p + "_s"]) for p in ("read", "chunk", "hash", "compress", "seal"))
    assert 0 < parts and float(kv["cpu_s"]) > 0 and float(kv["wall_s"]) > 0


def test_engine_floor_openssl_ids_equal_libsodium(tree):
    """--check computes every id twice and fails on the first difference."""
    top, files = tree
    kv = run_kv([tool("engine-floor"), "--hash", "openssl", "--check", str(top)])
    assert kv["hash"] == "openssl" and int(kv["bytes_in"]) == sum(p.stat().st_size for p in files)


def test_engine_floor_dictionary(tree):
    top, files = tree
    kv = run_kv([tool("engine-floor"), "--dict", "--hash", "openssl", str(top)])
    assert kv["dict"] == "1" and float(kv["train_s"]) > 0
    assert 0 < int(kv["bytes_compressed"]) < int(kv["bytes_in"]) == sum(p.stat().st_size for p in files)


def entries(top):
    out = {}
    for p in sorted(top.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(top))
        target = os.readlink(p) if p.is_symlink() else None
        out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size if not p.is_dir() else 0, target,
                    st.st_mtime_ns if not p.is_symlink() else 0)
    return out


def test_write_floor_makes_the_tree_and_removes_it(tree, tmp_path):
    top, files = tree
    dest = tmp_path / "restore"
    kv = run_kv([tool("write-floor"), "--keep", str(top), str(dest)])
    assert entries(dest) == entries(top)
    assert (dest / "hard").stat().st_ino == (dest / "d1/e1/f1.txt").stat().st_ino
    assert int(kv["links"]) == 1 and int(kv["symlinks"]) == 1
    assert int(kv["files"]) == len(files) - 1
    assert int(kv["bytes"]) == sum(p.stat().st_size for p in files) - (top / "hard").stat().st_size
    subprocess.run(["rm", "-rf", str(dest)], check=True)
    kv = run_kv([tool("write-floor"), str(top), str(dest)])
    assert not dest.exists() and float(kv["remove_s"]) > 0


def test_write_floor_copy_makes_the_same_tree(tree, tmp_path):
    """--copy: SRC's bytes and xattrs, not the random buffer's, so the harness's verify passes
    when bench/cloudseal.sh's pseudo-tool write_floor restores with it."""
    top, files = tree
    try:
        os.setxattr(top / "d0/e0/f0.txt", "user.bench", b"kept")
        xattr = True
    except OSError:  # a file system without user xattrs: the rest still counts
        xattr = False
    dest = tmp_path / "restore"
    kv = run_kv([tool("write-floor"), "--copy", "--keep", str(top), str(dest)])
    assert entries(dest) == entries(top)
    for p in files:
        assert (dest / p.relative_to(top)).read_bytes() == p.read_bytes(), p
    assert (dest / "hard").stat().st_ino == (dest / "d1/e1/f1.txt").stat().st_ino
    if xattr:
        assert os.getxattr(dest / "d0/e0/f0.txt", "user.bench") == b"kept"
    assert int(kv["bytes"]) == sum(p.stat().st_size for p in files) - (top / "hard").stat().st_size


RAW_HDR = ("tool\trun\tphase\twall_s\tuser_s\tsys_s\tmaxrss_kib\trc\trepo_bytes\trepo_disk_bytes\t"
           "repo_files\tcache_bytes\tsteal_pct\tloadavg1\tnote\n")  # the shared harness's anchors.sh


def write_run(out, backup1, restore, floors, write_floor=None, cp_a=None, restic=True):
    """raw.tsv with cloudseal and restic (wall s of backup1 and restore), and the pseudo-tools
    write_floor's and cp_a's restores when given, and floors.tsv.  A list for cloudseal's restore
    or cp_a's makes one run per item (the other figures the same in every run)."""
    out.mkdir()
    n = max(len(x) if isinstance(x, list) else 1 for x in (restore, cp_a))
    each = lambda x: x if isinstance(x, list) else [x] * n  # noqa: E731
    with open(out / "raw.tsv", "w") as f:
        f.write(RAW_HDR)
        tools = [("cloudseal", backup1, restore)] + ([("restic", 10.0, 10.0)] if restic else [])
        tools += [(t, 0.0, rs) for t, rs in (("write_floor", write_floor), ("cp_a", cp_a)) if rs]
        for t, b1, rs in tools:
            for run, r in enumerate(each(rs), 1):
                for ph, w in (("init", 1), ("backup1", b1), ("backup2", 1), ("backup3", 1), ("restore", r)):
                    f.write(f"{t}\t{run}\t{ph}\t{w}\t{w}\t1.0\t1024\t0\t{2**20}\t{2**20}\t1\t0\t0\t1.0\t\n")
    (out / "floors.tsv").write_text(floors)


def ratios(out, ds="real"):
    r = subprocess.run([sys.executable, str(ROOT / "bench/ratios.py"), str(out), ds],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_ratios_names_a_floor_above_the_target(tmp_path):
    floors = ("floor\trun\twall_s\tcpu_s\tloadavg1\tnote\n"
              "stat_walk\t1\t0.5\t0.5\t1.0\t\n"
              "engine\t1\t4.0\t5.0\t1.0\tengine threads=2 read_s=1 hash_s=2 compress_s=4 seal_s=0.5\n"
              "write_all\t1\t3.0\t2.0\t1.0\twrite_all threads=2\n")
    write_run(tmp_path / "a", backup1=4.5, restore=7.0, floors=floors)
    text = ratios(tmp_path / "a")
    line = {ln.split("  ")[1].strip(): ln for ln in text.splitlines() if ln.startswith("  ") and "  " in ln[2:]}
    assert line["initial backup floor (engine, 2 cores) / restic"].split()[-2] == "0.40x"
    assert line["restore floor (write_all) / restic"].split()[-2] == "0.30x"
    # backup 0.45 > 0.33 with its floor at 0.40: the floor's; restore 0.70 with a floor of 0.30: ours
    assert "MISSED (floor 0.40 above target)" in line["initial backup / restic"]
    assert line["restore / restic"].split()[-2:] == ["MISSED", "0.70"]
    assert "our pipeline's overhead over the engine floor: 0.50 CPU-s (10 % of the floor's 5.00)" in text


def test_ratios_takes_the_restore_floor_from_the_write_floor_tool(tmp_path):
    """The pseudo-tool's restore (timed in the harness's state) is the restore target's floor,
    before write_all's (timed after cp -a); it is shown as a floor, not as a tool."""
    floors = ("floor\trun\twall_s\tcpu_s\tloadavg1\tnote\n"
              "stat_walk\t1\t0.5\t0.5\t1.0\t\n"
              "write_all\t1\t3.0\t2.0\t1.0\twrite_all threads=2\n")
    write_run(tmp_path / "a", backup1=3.0, restore=7.0, floors=floors, write_floor=6.0)
    text = ratios(tmp_path / "a")
    line = {ln.split("  ")[1].strip(): ln for ln in text.splitlines() if ln.startswith("  ") and "  " in ln[2:]}
    assert line["restore floor (write_all) / restic"].split()[-2] == "0.30x"
    assert line["restore floor (write_floor, in the harness's state) / restic"].split()[-2] == "0.60x"
    assert "MISSED (floor 0.60 above target)" in line["restore / restic"]
    assert not any(ln.startswith("write_floor") for ln in text.splitlines())
    assert any(ln.startswith("floor:") and "restore" in ln and "6.00" in ln for ln in text.splitlines())
    # floors BENCH_FLOORS left out (read_all, cp_a) are neither printed as nan nor a miss
    assert "nan" not in text and "restore / cp -a" not in text


def test_ratios_reads_floors_without_cpu(tmp_path):
    """floors.tsv of runs before the floor programs: wall seconds only."""
    write_run(tmp_path / "old", backup1=3.0, restore=5.0,
              floors="floor\trun\twall_s\tloadavg1\nstat_walk\t1\t0.5\t1.0\ncp_a\t1\t9.0\t1.0\n")
    text = ratios(tmp_path / "old")
    assert "initial backup / restic" in text and "(floor" not in text


FLOORS_HDR = "floor\trun\twall_s\tcpu_s\tloadavg1\tnote\n"


def labelled(text):
    """ratios.py's target lines by their label."""
    return {ln.split("  ")[1].strip(): ln for ln in text.splitlines() if ln.startswith("  ") and "  " in ln[2:]}


def test_ratios_restore_over_cp_a_from_the_cp_a_tool(tmp_path):
    """"restore / cp -a" divides by the pseudo-tool cp_a's restore (cp -a timed in the state the
    restores meet), median over median and run by run, not by floors()' cp_a (timed in another
    state, here 2 s: 2.25, MISSED); cp_a is shown as a floor, not as a tool."""
    floors = FLOORS_HDR + "stat_walk\t1\t0.5\t0.5\t1.0\t\ncp_a\t1\t2.0\t2.0\t1.0\t\ncp_a\t2\t2.0\t2.0\t1.0\t\n"
    write_run(tmp_path / "a", backup1=3.0, restore=[4.0, 5.0], floors=floors, cp_a=[5.0, 4.0])
    text = ratios(tmp_path / "a")
    line = labelled(text)
    assert line["restore / cp -a (cp_a tool, the restores' state)"].split()[-6:] == \
        ["1.00", "<=", "1.0", "ok", "0.80", "1.25"]
    assert "cp_a floor" not in text
    assert not any(ln.startswith("cp_a") for ln in text.splitlines())
    assert any(ln.startswith("floor:") and "[5.00 4.00]  (cp -a, the harness's state)" in ln
               for ln in text.splitlines())
    # floors()' figure is still printed among the floors
    assert any(ln.startswith("floor cp_a ") and "[2.00 2.00]" in ln for ln in text.splitlines())


def test_ratios_restore_over_cp_a_falls_back_to_the_floor(tmp_path):
    """Without the pseudo-tool (BENCH_TOOLS without cp_a, the 1 M set's default) floors()' cp_a
    is the divisor, and the line says which state it was timed in."""
    floors = FLOORS_HDR + "stat_walk\t1\t0.5\t0.5\t1.0\t\ncp_a\t1\t5.0\t4.0\t1.0\t\n"
    write_run(tmp_path / "a", backup1=3.0, restore=4.0, floors=floors)
    line = labelled(ratios(tmp_path / "a"))
    assert line["restore / cp -a (cp_a floor, another state)"].split()[-4:] == ["0.80", "<=", "1.0", "ok"]
    assert not any("cp_a tool" in k for k in line)


def test_ratios_synthetic_no_change_is_not_a_target(tmp_path):
    """The no-change target (<= 1.5x the warm stat walk) is the real and 1 M trees'; the synthetic
    set's walk is a step or two of the 10 ms timer: its line is information, not counted."""
    floors = FLOORS_HDR + "stat_walk\t1\t0.02\t0.01\t1.0\t\n"
    write_run(tmp_path / "a", backup1=3.0, restore=4.0, floors=floors)
    text = ratios(tmp_path / "a", "synthetic")
    no_change = labelled(text)["no-change backup / warm stat walk"]
    assert "50.00  (not a target on synthetic: a 0.02 s walk, timed in 10 ms steps)" in no_change
    assert "MISSED" not in no_change
    # initial backup and restore met; day of changes (1.0) and repository (1.0 > 0.99) missed
    assert "2 of 4 targets met" in text
    for ds in ("real", "1m"):
        text = ratios(tmp_path / "a", ds)
        assert "MISSED" in labelled(text)["no-change backup / warm stat walk"]
        assert f"of {5 + (ds == '1m')} targets met" in text  # 1m: and its peak RSS


def test_ratios_counts_only_what_the_run_measured(tmp_path):
    """The 1 M set's run of record has cloudseal alone (make bench-record): the ratios to restic
    are not measured, so they are neither a miss nor counted; its own two targets are."""
    floors = FLOORS_HDR + "stat_walk\t1\t2.0\t1.0\t1.0\t\n"
    write_run(tmp_path / "a", backup1=30.0, restore=40.0, floors=floors, restic=False)
    text = ratios(tmp_path / "a", "1m")
    line = labelled(text)
    assert line["restore / restic"].split()[-8:] == ["-", "<=", "0.55", "not", "measured", "in", "this", "run"]
    assert "MISSED" not in text and "nan" not in line["initial backup / restic"]
    assert "2 of 2 targets met" in text  # no-change 0.50 of the walk, peak RSS 1 MiB


def test_cp_a_tool_restores_what_the_harness_verifies(tree, tmp_path):
    """bench/cloudseal.sh's pseudo-tool cp_a through the shared harness (anchors.sh, with
    mutate_tree.py as bench/run.sh hands it over) on the tiny tree: its version names coreutils,
    the restore times the copy alone, and the harness's verify of the mutated tree passes."""
    shared = pathlib.Path(os.environ.get("BENCH_SHARED", ROOT.parent / "shared/bench"))
    if not (shared / "anchors.sh").exists():
        pytest.fail(f"{shared}/anchors.sh missing: set BENCH_SHARED to the shared harness")
    top, _ = tree
    harness = tmp_path / "harness"
    harness.mkdir()
    for f in shared.iterdir():
        if f.name != "mutate.py":
            (harness / f.name).symlink_to(f)
    (harness / "mutate.py").symlink_to(ROOT / "bench/mutate_tree.py")
    out, work = tmp_path / "out", tmp_path / "work"
    r = subprocess.run([str(harness / "anchors.sh"), "-r", "1", "-t", "cp_a", "-a", str(ROOT / "bench/cloudseal.sh"),
                        "-w", str(work), "-o", str(out), str(top)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [ln.split("\t") for ln in (out / "raw.tsv").read_text().splitlines()[1:]]
    assert [(t, ph, rc) for t, _, ph, *_, rc in (x[:8] for x in rows)] == \
        [("cp_a", ph, "0") for ph in ("init", "backup1", "backup2", "backup3", "restore", "verify")]
    assert rows[-1][-1].startswith("content_ok=True meta_ok=True links_ok=True"), rows[-1]
    mutated = json.loads((out / "logs/cp_a.run1.mutate.json").read_text())
    assert mutated["bytes_written"] > 0, mutated  # a copy of the
    # dataset instead of the mutated data would fail the verify
    # the timed command is the copy alone, of the mutated data into the restore target
    timed = [ln for ln in (out / "logs/cp_a.run1.restore.log").read_text().splitlines() if ln.startswith("+ ")]
    assert timed == [f"+ cp -a {work}/data {work}/restore/data"]
    version = json.loads((out / "env.json").read_text())["versions"]["cp_a"]
    assert re.fullmatch(r"cp -a \(coreutils [0-9.]+\)", version), version


S3_HDR = ("tool\trun\tphase\twall_s\tuser_s\tsys_s\tmaxrss_kb\treq\tget\tget_b\tput\tput_b\trgw_ticks\t"
          "osd_ticks\twire_up\twire_down\tload1\tnote\n")  # bench/s3.sh's raw.tsv


def s3_row(tool, run, wall, user=1.0, sys_=1.0, ceph_ticks=0, get=0, get_b=0, note=""):
    return (f"{tool}\t{run}\trestore\t{wall}\t{user}\t{sys_}\t1024\t{get}\t{get}\t{get_b}\t0\t0\t"
            f"{ceph_ticks}\t0\t0\t0\t1.0\t{note}\n")


def s3_report(tmp_path, rows):
    (tmp_path / "raw.tsv").write_text(S3_HDR + "".join(rows))
    r = subprocess.run([sys.executable, str(ROOT / "bench/s3_report.py"), str(tmp_path / "raw.tsv")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return {ln.strip().split("  ")[0]: ln for ln in r.stdout.splitlines()}, r.stdout


def test_s3_report_restore_floor(tmp_path):
    """Two runs against restic's restore of 10 s: the floors' own figures (their note), not
    GNU time's, and RGW's CPU (ticks) counted with the fetch; the overlapped bound above the
    target names the floor in the verdict."""
    fetch = "fetch objects=180 bytes={} threads=8 requests=180 wall_s={} cpu_s={}"
    write = "write_all threads=2 files=8303 wall_s={} cpu_s={} remove_s=1.0"
    lines, text = s3_report(tmp_path, [
        s3_row("cloudseal", 1, 9.0), s3_row("restic", 1, 10.0),
        s3_row("cloudseal", 2, 8.0), s3_row("restic", 2, 10.0),
        # run 1: serial 2 + 4 = 6 s; overlapped (1 + 3 + 4) / 2 = 4 s
        s3_row("fetch_floor", 1, 9.9, 9.9, 0, ceph_ticks=300, get=180, get_b=680 << 20,
               note=fetch.format(680 << 20, 2.0, 1.0)),
        s3_row("write_floor", 1, 9.9, 9.9, 9.9, note=write.format(4.0, 4.0)),
        # run 2: serial 3 + 5 = 8 s; overlapped (2 + 4 + 6) / 2 = 6 s
        s3_row("fetch_floor", 2, 9.9, 9.9, 0, ceph_ticks=400, note=fetch.format(680 << 20, 3.0, 2.0)),
        s3_row("write_floor", 2, 9.9, 9.9, 9.9, note=write.format(5.0, 6.0)),
    ])
    assert "fetch 2.00 s (client 1.00 + ceph 3.00 CPU-s, 180 objects, 680.0 MiB, 8 threads), " \
           "write 4.00 s (4.00 CPU-s), serial 6.00 s, overlapped 4.00 s on 2 cores" in text
    assert lines["floor, fetch + write serial / restic restore"].split()[-5:] == \
        ["0.70", "(per", "run:", "0.60,", "0.80)"]
    assert lines["floor, perfectly overlapped / restic"].split()[-5:] == \
        ["0.50", "(per", "run:", "0.40,", "0.60)"]
    # restore 0.85 with the overlapped floor at 0.50 < 0.6: ours to fix
    assert "0.85 <= 0.6 MISSED  (per run: 0.90, 0.80)" in lines["restore / restic"]

    lines, _ = s3_report(tmp_path, [
        s3_row("cloudseal", 1, 9.0), s3_row("restic", 1, 10.0),
        s3_row("fetch_floor", 1, 9.9, note=fetch.format(1, 4.0, 6.0), ceph_ticks=400),
        s3_row("write_floor", 1, 9.9, note=write.format(5.0, 4.0)),
    ])
    assert "0.90 <= 0.6 MISSED (floor 0.70 above target)" in lines["restore / restic"]

    # the write alone takes longer than the CPU spread over the cores: no restore is
    # faster than creating the files, so the overlapped bound is the write's wall (8 s)
    lines, text = s3_report(tmp_path, [
        s3_row("cloudseal", 1, 9.0), s3_row("restic", 1, 10.0),
        s3_row("fetch_floor", 1, 9.9, note=fetch.format(1, 2.0, 1.0), ceph_ticks=300),
        s3_row("write_floor", 1, 9.9, note=write.format(8.0, 4.0)),
    ])
    assert "serial 10.00 s, overlapped 8.00 s on 2 cores" in text
    assert "0.90 <= 0.6 MISSED (floor 0.80 above target)" in lines["restore / restic"]


def test_s3_report_without_floors(tmp_path):
    """raw.tsv of runs before the floors (no note column, no floor rows): no floor lines."""
    rows = [s3_row(t, 1, w).rsplit("\t", 1)[0] + "\n" for t, w in (("cloudseal", 9.0), ("restic", 10.0))]
    (tmp_path / "raw.tsv").write_text(S3_HDR.replace("\tnote", "") + "".join(rows))
    r = subprocess.run([sys.executable, str(ROOT / "bench/s3_report.py"), str(tmp_path / "raw.tsv")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "restore  cloudseal/restic wall 0.90" in r.stdout and "floor" not in r.stdout


def test_s3_fetch_floor_gets_every_object(s3rver, s3rver_bucket, tmp_path):
    """s3tool fetch: every object under the prefix once, whole, its bytes counted; the
    objects of another prefix left alone."""
    url = f"{s3rver_bucket}/fetch-floor"
    sizes = [0, 1, 4096, 300_000, (1 << 20) + 17, 5 << 20]
    for i, n in enumerate(sizes):
        s3rver.ok(url, "put", f"data/{i:02x}/pack-{i}", input=random.Random(i).randbytes(n))
    s3rver.ok(f"{s3rver_bucket}/fetch-floor-other", "put", "x", input=b"not this one")
    out = s3rver.ok(url, "fetch", "", "3").stdout.decode().split()
    assert out[0] == "fetch"
    kv = dict(x.split("=", 1) for x in out[1:])
    assert (int(kv["objects"]), int(kv["bytes"]), int(kv["threads"]), int(kv["requests"])) == \
        (len(sizes), sum(sizes), 3, len(sizes))
    assert float(kv["wall_s"]) > 0 and float(kv["cpu_s"]) >= 0
    assert s3rver.ok(url, "fetch").stdout.decode().split()[3] == f"threads={4 * len(os.sched_getaffinity(0))}"
