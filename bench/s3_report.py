#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The table of bench/s3.sh: per tool and phase, the median over the runs
(every run's value beside it) of the wall time, the client's and the Ceph
daemons' CPU, RGW's request counts and bytes; then cloudseal / restic.

    s3_report.py RAW_TSV [--wan MBIT DELAY_MS [REQUESTS_LOG]]

Rows of tool fetch_floor and write_floor (phase restore, bench/s3.sh
run_floors) give the restore's floor in each run: fetch + write wall one after
the other, and the bound of a perfect overlap: the largest of the fetch's wall,
the write's wall (one thread per core already: no restore creates the files
sooner) and (fetch CPU of the client, radosgw and ceph-osd + write CPU) /
cores; each against restic's restore of the same run, and the restore
target's verdict names the floor when the overlapped bound alone is past it.

REQUESTS_LOG (bench/delay_proxy.py's, with bench/s3.sh's "phase TOOL RUN
PHASE" / "end" lines around each phase) adds the round trips each
no-change backup made one after the other: the longest chain of requests
each of which started after the one before it had been answered.
"""
import csv
import os
import statistics
import sys

TICK = 100.0  # /proc/PID/stat clock ticks per second
RESTORE_TARGET = 0.6  # issue 23 item 3: restore from RGW <= 0.6 of restic's in the same run


def phase_requests(path):
    """{(tool, run, phase): [(start, end), ...]} from the delay proxy's log."""
    out, cur, conns = {}, None, {}
    for line in open(path):
        f = line.split()
        if f[0] == "phase":
            cur, conns = tuple(f[1:4]), {}
            out[cur] = []
        elif f[0] == "end":
            cur = None
        elif cur and f[0] in ("c", "s"):
            t = float(f[2])
            if f[0] == "c":
                conns[f[1]] = [t, None]
                out[cur].append(conns[f[1]])
            elif f[1] in conns:
                conns[f[1]][1] = t
    return {k: [(a, b) for a, b in v if b is not None] for k, v in out.items()}


def round_trips(reqs):
    """The longest chain of requests, each started after the previous one's
    reply had arrived: the round trips nothing overlapped."""
    reqs = sorted(reqs, key=lambda q: q[1])
    depth = []
    for i, (start, _) in enumerate(reqs):
        depth.append(1 + max((depth[k] for k in range(i) if reqs[k][1] <= start), default=0))
    return max(depth, default=0)


def floor_figures(r):
    """wall s, client CPU s, Ceph CPU s of one floor row: the floor program's own figures
    of its timed part (its note: wall_s=, cpu_s=) where it printed them, else GNU time's."""
    kv = dict(x.split("=", 1) for x in (r.get("note") or "").split() if "=" in x)
    wall = float(kv.get("wall_s", r["wall_s"]))
    cpu = float(kv["cpu_s"]) if "cpu_s" in kv else float(r["user_s"]) + float(r["sys_s"])
    return wall, cpu, (float(r["rgw_ticks"]) + float(r["osd_ticks"])) / TICK, kv


def restore_floor(rows, by, med):
    """The floor of a restore from RGW per run and as the median of the runs' ratios."""
    if ("fetch_floor", "restore") not in by or ("write_floor", "restore") not in by:
        return
    fetch = {r["run"]: floor_figures(r) for r in by["fetch_floor", "restore"]}
    write = {r["run"]: floor_figures(r) for r in by["write_floor", "restore"]}
    restic = {r["run"]: float(r["wall_s"]) for r in by.get(("restic", "restore"), [])}
    ours = {r["run"]: float(r["wall_s"]) for r in by.get(("cloudseal", "restore"), [])}
    runs = [n for n in sorted(fetch, key=int) if n in write]
    serial, overlap, per = [], [], []
    for n in runs:
        (fw, fc, fceph, fkv), (ww, wc, _, wkv) = fetch[n], write[n]
        cores = int(wkv.get("threads", 0)) or os.cpu_count()
        s_, o_ = fw + ww, max(fw, ww, (fc + fceph + wc) / cores)
        per.append(f"run {n}: fetch {fw:.2f} s (client {fc:.2f} + ceph {fceph:.2f} CPU-s, "
                   f"{int(fkv.get('objects', 0))} objects, {int(fkv.get('bytes', 0)) / 2**20:.1f} MiB, "
                   f"{fkv.get('threads', '?')} threads), write {ww:.2f} s ({wc:.2f} CPU-s), "
                   f"serial {s_:.2f} s, overlapped {o_:.2f} s on {cores} cores")
        if restic.get(n):
            serial.append(s_ / restic[n])
            overlap.append(o_ / restic[n])
    print("\nrestore floor (bench/s3.sh run_floors), run by run:")
    for line in per:
        print("  " + line)
    if not serial:
        return
    fmt = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    print(f"  {'floor, fetch + write serial / restic restore':52} {statistics.median(serial):5.2f} "
          f"(per run: {fmt(serial)})")
    fo = statistics.median(overlap)
    print(f"  {'floor, perfectly overlapped / restic':52} {fo:5.2f} (per run: {fmt(overlap)})")
    mine = [ours[n] / restic[n] for n in runs if n in ours and restic.get(n)]
    if not mine:
        return
    ratio = med["cloudseal", "restore"]["wall_s"] / med["restic", "restore"]["wall_s"]
    verdict = "ok" if ratio <= RESTORE_TARGET else "MISSED"
    if verdict != "ok" and fo > RESTORE_TARGET:
        verdict = f"MISSED (floor {fo:.2f} above target)"
    print(f"  {'restore / restic':52} {ratio:5.2f} <= {RESTORE_TARGET} {verdict}  (per run: {fmt(mine)})")


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    wan = len(sys.argv) > 3 and sys.argv[2] == "--wan"
    mbit = float(sys.argv[3]) if wan else 0
    by = {}
    for r in rows:
        by.setdefault((r["tool"], r["phase"]), []).append(r)
    phases = ["init", "backup", "nochange", "restore"]
    hdr = f"{'tool':9} {'phase':8} {'wall s (runs)':>22} {'cli CPU':>7} {'ceph CPU':>8} {'req':>6} " \
          f"{'GET':>6} {'PUT':>6} {'MiB up':>7} {'MiB down':>8} {'MiB/GET':>7}"
    if wan:
        hdr += f" {'wire Mbit/s':>11} {'of link':>7}"
    print(hdr)
    med = {}
    for tool in ("cloudseal", "restic"):
        for ph in phases:
            rs = by.get((tool, ph), [])
            if not rs:
                continue
            m = lambda k: statistics.median(float(r[k]) for r in rs)
            walls = [float(r["wall_s"]) for r in rs]
            med[tool, ph] = {k: m(k) for k in rs[0] if k not in ("tool", "run", "phase", "note")}
            x = med[tool, ph]
            line = (f"{tool:9} {ph:8} {x['wall_s']:7.2f} ({', '.join(f'{w:.2f}' for w in walls)})".ljust(42) +
                    f" {x['user_s'] + x['sys_s']:7.2f} {(x['rgw_ticks'] + x['osd_ticks']) / TICK:8.2f}"
                    f" {x['req']:6.0f} {x['get']:6.0f} {x['put']:6.0f} {x['put_b'] / 2**20:7.1f}"
                    f" {x['get_b'] / 2**20:8.1f} {x['get_b'] / 2**20 / max(x['get'], 1):7.2f}")
            if wan:
                wire = max(x["wire_up"], x["wire_down"])
                rate = wire * 8 / 1e6 / x["wall_s"]
                line += f" {rate:11.1f} {rate / mbit:7.0%}"
            print(line)
    print()
    for ph in ("backup", "nochange", "restore"):
        if ("cloudseal", ph) in med and ("restic", ph) in med:
            c, r = med["cloudseal", ph]["wall_s"], med["restic", ph]["wall_s"]
            runs = sorted({x["run"] for x in rows})
            per = []
            for run in runs:
                cw = [float(x["wall_s"]) for x in by["cloudseal", ph] if x["run"] == run]
                rw = [float(x["wall_s"]) for x in by["restic", ph] if x["run"] == run]
                if cw and rw:
                    per.append(f"{cw[0] / rw[0]:.2f}")
            print(f"{ph:8} cloudseal/restic wall {c / r:.2f} (per run: {', '.join(per)}); "
                  f"speedup {r / c:.2f}x")
    restore_floor(rows, by, med)
    trips = phase_requests(sys.argv[5]) if wan and len(sys.argv) > 5 else {}
    for tool in ("cloudseal", "restic"):
        if (tool, "nochange") not in med:
            continue
        x = med[tool, "nochange"]
        line = f"no-change backup, {tool}: {x['req']:.0f} requests ({x['get']:.0f} GET, {x['put']:.0f} PUT)"
        rt = [round_trips(v) for (t, _, ph), v in sorted(trips.items()) if t == tool and ph == "nochange"]
        if rt:
            line += (f", {statistics.median(rt):.0f} round trips one after the other (runs: "
                     f"{', '.join(map(str, rt))}; the snapshot's upload included)")
        print(line)


if __name__ == "__main__":
    sys.exit(main())
