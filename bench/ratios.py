#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ratios.py OUTDIR DATASET: cloudseal against restic and the floors of one dataset
(raw.tsv of the shared harness, floors.tsv of bench/run.sh), against the targets of issue 23.
Medians over the runs; every run's figure is shown beside them (the spread is the noise).
The pseudo-tools write_floor and cp_a of raw.tsv (bench/cloudseal.sh) are the restore's floor
and `cp -a`, timed in the harness's state: their restore phases are floors, not competitors."""
import csv
import os
import statistics
import sys
from collections import defaultdict

out, ds = sys.argv[1], sys.argv[2]
# BENCH_FLOORS_ONLY=1 runs have floors.tsv alone
rows = list(csv.DictReader(open(f"{out}/raw.tsv"), delimiter="\t")) if os.path.exists(f"{out}/raw.tsv") else []
val = defaultdict(list)  # (tool, phase, metric) -> [(run, value)]
verify = defaultdict(list)
for r in rows:
    if r["phase"] == "verify":
        verify[r["tool"]].append(r["note"])
        continue
    k = (r["tool"], r["phase"])
    val[k + ("wall",)].append((r["run"], float(r["wall_s"])))
    val[k + ("cpu",)].append((r["run"], float(r["user_s"]) + float(r["sys_s"])))
    val[k + ("rss",)].append((r["run"], int(r["maxrss_kib"]) / 1024))
    val[k + ("repo",)].append((r["run"], int(r["repo_bytes"]) / 2**20))
    val[k + ("files",)].append((r["run"], int(r["repo_files"])))
    val[k + ("load",)].append((r["run"], float(r.get("loadavg1") or "nan")))
floor = defaultdict(list)      # name -> [(run, wall s)]
floor_cpu = defaultdict(list)  # name -> [(run, CPU s)]: runs before cpu_s was a column have none
floor_kv = defaultdict(list)   # name -> [{key: value}] of the floor program's own line (note)
if os.path.exists(f"{out}/floors.tsv"):
    for r in csv.DictReader(open(f"{out}/floors.tsv"), delimiter="\t"):
        floor[r["floor"]].append((r["run"], float(r["wall_s"])))
        if r.get("cpu_s"):
            floor_cpu[r["floor"]].append((r["run"], float(r["cpu_s"])))
        floor_kv[r["floor"]].append(dict(kv.split("=", 1) for kv in (r.get("note") or "").split() if "=" in kv))


def med(v):
    return statistics.median(x for _, x in v) if v else float("nan")


def m(*k):
    return med(val.get(k))


def runs(v, f="{:.2f}"):
    return " ".join(f.format(x) for _, x in v)


# floors run as tools by the harness (bench/cloudseal.sh), by what their restore phase is
PSEUDO = {"write_floor": "write_floor --copy", "cp_a": "cp -a"}
tools = sorted({r["tool"] for r in rows} - set(PSEUDO))
print(f"dataset {ds}: medians of {len(val.get(('restic', 'backup1', 'wall'), [])) or len(floor.get('stat_walk', [])) or '?'} runs "
      "(every run in brackets)")
print(f"{'tool':15} {'phase':8} {'wall s':>7} {'cpu s':>7} {'rss MiB':>8} {'repo MiB':>9} {'load':>5}  runs (wall s)")
for t in tools:
    for ph in ("init", "backup1", "backup2", "backup3", "restore"):
        print(f"{t:15} {ph:8} {m(t, ph, 'wall'):7.2f} {m(t, ph, 'cpu'):7.2f} {m(t, ph, 'rss'):8.1f} "
              f"{m(t, ph, 'repo'):9.1f} {m(t, ph, 'load'):5.1f}  [{runs(val.get((t, ph, 'wall'), []))}]")
    print(f"{t:15} verify   {verify.get(t, ['-'])}")
for t, what in PSEUDO.items():  # a floor's one real phase, labelled as a floor
    ph = "restore"
    if (t, ph, "wall") not in val:
        continue
    print(f"{'floor:':15} {ph:8} {m(t, ph, 'wall'):7.2f} {m(t, ph, 'cpu'):7.2f} {m(t, ph, 'rss'):8.1f} "
          f"{'-':>9} {m(t, ph, 'load'):5.1f}  [{runs(val.get((t, ph, 'wall'), []))}]  ({what}, "
          f"the harness's state)")
    print(f"{'floor:':15} verify   {verify.get(t, ['-'])}")
if ("write_floor", "restore", "wall") in val:
    floor["write_floor"] = val[("write_floor", "restore", "wall")]
ENGINES = ("engine", "engine_openssl", "engine_dict", "engine_both")
for f in ("stat_walk", "read_all") + ENGINES + ("cp_a", "write_all"):
    if f in floor:  # BENCH_FLOORS chooses them: one not measured is not printed
        print(f"floor {f:14} {med(floor.get(f)):7.2f} s {med(floor_cpu.get(f)):7.2f} CPU-s  "
              f"[{runs(floor.get(f, []))}]")


def kv_med(f, key):
    v = [float(d[key]) for d in floor_kv.get(f, []) if key in d]
    return statistics.median(v) if v else float("nan")


for f in ENGINES:
    if f in floor:
        parts = " ".join(f"{p} {kv_med(f, p + '_s'):.2f}" for p in ("read", "chunk", "hash", "compress", "seal"))
        print(f"  {f:18} CPU-s by part: {parts}; {kv_med(f, 'bytes_in') / 1e6:.1f} MB in, "
              f"{kv_med(f, 'bytes_compressed') / 1e6:.1f} MB after compression")


def per_run(ph, den):
    d = dict(den)
    return " ".join(f"{w / d[n]:.2f}" for n, w in val.get(("cloudseal", ph, "wall"), []) if n in d and d[n] > 0)


res = []
below_floor = []
W = 50  # the label column


def check(name, ratio, target, every="", at_least=False, floor_ratio=None):
    """A miss whose floor (measured in this run, as the same ratio) is itself past the target is
    the machine's or the format's: printed with the floor; a plain MISSED is ours to fix.
    A ratio with a side this run did not measure (the 1 M set without restic) is no target."""
    if ratio != ratio:
        print(f"  {name:{W}} {'-':>6}  {'>=' if at_least else '<='} {target:<5} not measured in this run")
        return
    ok = ratio >= target if at_least else ratio <= target
    res.append(ok)
    verdict = "ok" if ok else "MISSED"
    if not ok and floor_ratio is not None and floor_ratio > target:
        verdict = f"MISSED (floor {floor_ratio:.2f} above target)"
        below_floor.append(name)
    print(f"  {name:{W}} {ratio:6.2f}  {'>=' if at_least else '<='} {target:<5} {verdict}  {every}")


def floor_line(name, f, den):
    """The floor's ratio to restic's median in the same run; None when not measured."""
    if f not in floor or not den or den != den:
        return None
    r = med(floor.get(f)) / den
    print(f"  {name:{W}} {r:6.2f}x  {runs([(n, w / den) for n, w in floor.get(f, [])])}")
    return r


if not rows:
    sys.exit(0)  # the floors alone (BENCH_FLOORS_ONLY=1): no targets to check
print(f"\n{'cloudseal against restic and the floors (same run)':{W + 2}}  ratio  target   run by run")
rw = lambda ph: val.get(("restic", ph, "wall"), [])  # noqa: E731
threads = next((d["threads"] for d in floor_kv.get("engine", []) if "threads" in d), "?")
engine_ratio = floor_line(f"initial backup floor (engine, {threads} cores) / restic", "engine",
                          m("restic", "backup1", "wall"))
for f in ENGINES[1:]:
    floor_line(f"  the same, {f} / restic", f, m("restic", "backup1", "wall"))
check("initial backup / restic", m("cloudseal", "backup1", "wall") / m("restic", "backup1", "wall"),
      0.33, per_run("backup1", rw("backup1")), floor_ratio=engine_ratio)
if "engine" in floor_cpu and ("cloudseal", "backup1", "cpu") in val:
    over = m("cloudseal", "backup1", "cpu") - med(floor_cpu["engine"])
    print(f"  our pipeline's overhead over the engine floor: {over:.2f} CPU-s "
          f"({100 * over / med(floor_cpu['engine']):.0f} % of the floor's {med(floor_cpu['engine']):.2f})")
walk = med(floor.get("stat_walk")) or float("nan")  # 0.00: below the 10 ms timer
if ds in ("real", "1m"):  # the target is for these trees
    check("no-change backup / warm stat walk", m("cloudseal", "backup2", "wall") / walk,
          1.5, per_run("backup2", [(n, walk) for n, _ in rw("backup2")]))
else:  # a walk of a few files takes a step or two of /usr/bin/time's 10 ms: no ratio to judge by
    print(f"  {'no-change backup / warm stat walk':{W}} {m('cloudseal', 'backup2', 'wall') / walk:6.2f}  "
          f"(not a target on {ds}: a {walk:.2f} s walk, timed in 10 ms steps)  "
          f"{per_run('backup2', [(n, walk) for n, _ in rw('backup2')])}")
print(f"  {'no-change backup / restic':{W}} {m('cloudseal', 'backup2', 'wall') / m('restic', 'backup2', 'wall'):6.2f}"
      f"  (was <= 0.15)  {per_run('backup2', rw('backup2'))}")
check("day of changes / restic", m("cloudseal", "backup3", "wall") / m("restic", "backup3", "wall"),
      0.20, per_run("backup3", rw("backup3")))
write_ratio = floor_line("restore floor (write_all) / restic", "write_all", m("restic", "restore", "wall"))
# the floor timed as a tool's restore (after the harness's rm -rf and cp -a) decides when present
harness_ratio = floor_line("restore floor (write_floor, in the harness's state) / restic", "write_floor",
                           m("restic", "restore", "wall"))
if harness_ratio is not None:
    write_ratio = harness_ratio
check("restore / restic", m("cloudseal", "restore", "wall") / m("restic", "restore", "wall"),
      0.55, per_run("restore", rw("restore")), floor_ratio=write_ratio)
# cp -a timed as a tool's restore (the pseudo-tool cp_a) meets the restores' state; floors()'
# cp_a, after its own removals, is the fall-back (not a miss when BENCH_FLOORS left it out)
cpa = val.get(("cp_a", "restore", "wall"))
if cpa and med(cpa) > 0:
    check("restore / cp -a (cp_a tool, the restores' state)", m("cloudseal", "restore", "wall") / med(cpa), 1.0,
          per_run("restore", cpa))
elif "cp_a" in floor:
    check("restore / cp -a (cp_a floor, another state)",
          m("cloudseal", "restore", "wall") / med(floor.get("cp_a")), 1.0)
check("repository after initial / restic", m("cloudseal", "backup1", "repo") / m("restic", "backup1", "repo"),
      0.99, runs([(n, v / dict(val.get(("restic", "backup1", "repo")))[n])
                  for n, v in val.get(("cloudseal", "backup1", "repo"), [])
                  if n in dict(val.get(("restic", "backup1", "repo"), []))], "{:.4f}"))
rss = max(m("cloudseal", ph, "rss") for ph in ("backup1", "backup2", "backup3", "restore"))
if ds == "1m":
    check("peak RSS MiB (1 M files)", rss, 150)
else:
    print(f"  {'peak RSS MiB':{W}} {rss:6.1f}")
if ("cloudseal_1cpu", "backup1", "wall") in val:
    check("initial backup: 1 core / 2 cores", m("cloudseal_1cpu", "backup1", "wall")
          / m("cloudseal", "backup1", "wall"), 1.8, at_least=True)
print(f"  {sum(res)} of {len(res)} targets met"
      + (f"; {len(below_floor)} missed with the floor above the target ({', '.join(below_floor)})"
         if below_floor else ""))
