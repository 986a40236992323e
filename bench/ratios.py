#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ratios.py OUTDIR DATASET: cloudseal against restic and the floors of one dataset
(raw.tsv of the shared harness, floors.tsv of bench/run.sh), against the targets of issue 23.
Medians over the runs; every run's figure is shown beside them (the spread is the noise)."""
import csv
import os
import statistics
import sys
from collections import defaultdict

out, ds = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{out}/raw.tsv"), delimiter="\t"))
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
floor = defaultdict(list)
if os.path.exists(f"{out}/floors.tsv"):
    for r in csv.DictReader(open(f"{out}/floors.tsv"), delimiter="\t"):
        floor[r["floor"]].append((r["run"], float(r["wall_s"])))


def med(v):
    return statistics.median(x for _, x in v) if v else float("nan")


def m(*k):
    return med(val.get(k))


def runs(v, f="{:.2f}"):
    return " ".join(f.format(x) for _, x in v)


tools = sorted({r["tool"] for r in rows})
print(f"dataset {ds}: medians of {len(val.get(('restic', 'backup1', 'wall'), [])) or '?'} runs "
      "(every run in brackets)")
print(f"{'tool':15} {'phase':8} {'wall s':>7} {'cpu s':>7} {'rss MiB':>8} {'repo MiB':>9} {'load':>5}  runs (wall s)")
for t in tools:
    for ph in ("init", "backup1", "backup2", "backup3", "restore"):
        print(f"{t:15} {ph:8} {m(t, ph, 'wall'):7.2f} {m(t, ph, 'cpu'):7.2f} {m(t, ph, 'rss'):8.1f} "
              f"{m(t, ph, 'repo'):9.1f} {m(t, ph, 'load'):5.1f}  [{runs(val.get((t, ph, 'wall'), []))}]")
    print(f"{t:15} verify   {verify.get(t, ['-'])}")
for f in ("stat_walk", "read_all", "cp_a"):
    print(f"floor {f:10} {med(floor.get(f)):7.2f} s  [{runs(floor.get(f, []))}]")


def per_run(ph, den):
    d = dict(den)
    return " ".join(f"{w / d[n]:.2f}" for n, w in val.get(("cloudseal", ph, "wall"), []) if n in d and d[n] > 0)


res = []


def check(name, ratio, target, every="", at_least=False):
    ok = ratio >= target if at_least else ratio <= target
    res.append(ok)
    print(f"  {name:44} {ratio:6.2f}  {'>=' if at_least else '<='} {target:<5} {'ok' if ok else 'MISSED'}  {every}")


print("\ncloudseal against restic and the floors (same run)       ratio  target   run by run")
rw = lambda ph: val.get(("restic", ph, "wall"), [])  # noqa: E731
check("initial backup / restic", m("cloudseal", "backup1", "wall") / m("restic", "backup1", "wall"),
      0.33, per_run("backup1", rw("backup1")))
check("no-change backup / warm stat walk", m("cloudseal", "backup2", "wall") / med(floor.get("stat_walk")),
      1.5, per_run("backup2", [(n, med(floor.get("stat_walk"))) for n, _ in rw("backup2")]))
print(f"  {'no-change backup / restic':44} {m('cloudseal', 'backup2', 'wall') / m('restic', 'backup2', 'wall'):6.2f}"
      f"  (was <= 0.15)  {per_run('backup2', rw('backup2'))}")
check("day of changes / restic", m("cloudseal", "backup3", "wall") / m("restic", "backup3", "wall"),
      0.20, per_run("backup3", rw("backup3")))
check("restore / restic", m("cloudseal", "restore", "wall") / m("restic", "restore", "wall"),
      0.55, per_run("restore", rw("restore")))
check("restore / cp -a", m("cloudseal", "restore", "wall") / med(floor.get("cp_a")), 1.0)
check("repository after initial / restic", m("cloudseal", "backup1", "repo") / m("restic", "backup1", "repo"),
      0.99, runs([(n, v / dict(val.get(("restic", "backup1", "repo")))[n])
                  for n, v in val.get(("cloudseal", "backup1", "repo"), [])
                  if n in dict(val.get(("restic", "backup1", "repo"), []))], "{:.4f}"))
rss = max(m("cloudseal", ph, "rss") for ph in ("backup1", "backup2", "backup3", "restore"))
if ds == "1m":
    check("peak RSS MiB (1 M files)", rss, 150)
else:
    print(f"  {'peak RSS MiB':44} {rss:6.1f}")
if ("cloudseal_1cpu", "backup1", "wall") in val:
    check("initial backup: 1 core / 2 cores", m("cloudseal_1cpu", "backup1", "wall")
          / m("cloudseal", "backup1", "wall"), 1.8, at_least=True)
print(f"  {sum(res)} of {len(res)} targets met")
