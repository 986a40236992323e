#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The table of bench/s3.sh: per tool and phase, the median over the runs
(every run's value beside it) of the wall time, the client's and the Ceph
daemons' CPU, RGW's request counts and bytes; then cloudseal / restic.

    s3_report.py RAW_TSV [--wan MBIT DELAY_MS]
"""
import csv
import statistics
import sys

TICK = 100.0  # /proc/PID/stat clock ticks per second


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
            med[tool, ph] = {k: m(k) for k in rs[0] if k not in ("tool", "run", "phase")}
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
    if ("cloudseal", "nochange") in med:
        x = med["cloudseal", "nochange"]
        print(f"no-change backup: {x['req']:.0f} requests ({x['get']:.0f} GET, {x['put']:.0f} PUT)")


if __name__ == "__main__":
    sys.exit(main())
