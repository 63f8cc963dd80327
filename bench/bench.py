#!/usr/bin/env python3
"""xsbench table: our daemon against C xenstored 4.17 and oxenstored 4.17.

For each daemon, RUNS times: start it fresh, pinned to one CPU; run
`peers bench SOCKET rt N` (sequential WRITE+READ pairs on one connection),
read VmRSS, run `peers bench SOCKET fill M` (M new nodes), read VmRSS again;
stop it. The client is pinned to the same CPU (a cross-CPU wake-up costs
~50 us on a 2-vCPU machine and would swamp the numbers). Each cell is the
median of the runs. `peers null` (a server that only answers) gives the
floor for rt.

    bench.py [--ours BIN] [--peers PEERS] [--rt N] [--fill M] [--runs R]
             [--cpu C] [--out bench/results.md]

The table is appended to bench/results.md (a history, newest last).

Exit status 0 when all three targets hold (rt >= 1.5x C, fill >= 3x C,
RSS growth <= 0.4x C's), 1 when a target is missed, 2 on errors.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import common

DAEMONS = ("ours", "c", "ox")
LABELS = {"ours": "xenstored-rs (release)", "c": "C xenstored 4.17", "ox": "oxenstored 4.17",
          "null": "null server (floor)"}
TARGETS = {"rt": 1.5, "fill": 3.0, "rss": 0.4}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_daemon_args(p, runs=3)
    p.add_argument("--rt", type=int, default=10000)
    p.add_argument("--fill", type=int, default=100000)
    return p.parse_args()


def xsbench(args, socket, mode, n):
    """Run one xsbench mode pinned; returns (ops per second, output line)."""
    r = subprocess.run(["taskset", "-c", args.cpu, args.peers, "bench", socket, mode, str(n)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = r.stdout.decode(errors="replace").strip()
    if r.returncode != 0:
        raise RuntimeError("xsbench %s %d failed: %s" % (mode, n, out))
    if mode == "rt":
        m = re.search(r"= ([0-9]+) ops/s.*p50 ([0-9.]+) us p99 ([0-9.]+) us", out)
        return float(m.group(1)), float(m.group(2)), float(m.group(3))
    m = re.search(r"= ([0-9]+) writes/s", out)
    return float(m.group(1)), None, None


def measure(kind, args, workdir):
    """Median rt ops/s, p50, p99, fill writes/s and RSS (KiB) over the runs."""
    def one_run(s):
        rt, p50, p99 = xsbench(args, s.socket, "rt", args.rt)
        if kind == "null":
            return dict(rt=rt, p50=p50, p99=p99)
        rss0 = s.rss_kib()
        fill, _, _ = xsbench(args, s.socket, "fill", args.fill)
        rss1 = s.rss_kib()
        return dict(rt=rt, p50=p50, p99=p99, fill=fill, rss0=rss0, rss1=rss1, growth=rss1 - rss0)

    return common.median_of_runs(kind, args, workdir, False, one_run)


def ratio(x, c):
    return "%.2fx" % (x / c) if c else "-"


def table(res, args):
    c = res.get("c")
    lines = ["| server | rt %d (ops/s) | rt p50 / p99 (us) | vs C | fill %d (writes/s) | vs C "
             "| RSS before fill (KiB) | RSS after (KiB) | growth (KiB) | vs C |" % (args.rt, args.fill),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ("ours", "c", "ox", "null"):
        r = res.get(kind)
        if r is None:
            continue
        cells = [LABELS[kind], "%.0f" % r["rt"], "%.1f / %.1f" % (r["p50"], r["p99"]), ratio(r["rt"], c["rt"])]
        if "fill" in r:
            cells += ["%.0f" % r["fill"], ratio(r["fill"], c["fill"]), "%d" % r["rss0"], "%d" % r["rss1"],
                      "%d" % r["growth"], ratio(r["growth"], c["growth"])]
        else:
            cells += ["-"] * 6
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_rows(res):
    """The figures for the summary table (bench/common.py)."""
    def get(kind, key):
        return res.get(kind, {}).get(key)

    def figures(key):
        return dict(ours=get("ours", key), c=get("c", key), ox=get("ox", key), null=get("null", key))

    return [common.row("host socket", "rt WRITE+READ (ops/s)", **figures("rt")),
            common.row("host socket", "rt p99 (us)", higher_is_better=False, **figures("p99")),
            common.row("host socket", "fill (writes/s)", **figures("fill")),
            common.row("host socket", "RSS growth over the fill (KiB)", higher_is_better=False,
                       **figures("growth"))]


def verdicts(res):
    o, c = res["ours"], res["c"]
    checks = [("rt >= %.1fx C" % TARGETS["rt"], o["rt"] / c["rt"], o["rt"] >= TARGETS["rt"] * c["rt"]),
              ("fill >= %.1fx C" % TARGETS["fill"], o["fill"] / c["fill"], o["fill"] >= TARGETS["fill"] * c["fill"]),
              ("RSS growth <= %.1fx C" % TARGETS["rss"], o["growth"] / c["growth"] if c["growth"] else 0,
               o["growth"] <= TARGETS["rss"] * c["growth"])]
    return ["- %s: %.2fx — %s" % (name, val, "met" if ok else "NOT met") for name, val, ok in checks], \
        all(ok for _, _, ok in checks)



def main():
    args = parse_args()
    args.peers = os.path.abspath(args.peers)
    if not os.access(args.ours, os.X_OK):
        print("our release daemon %s is not built (cargo build --release -p host)" % args.ours, file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    workdir = tempfile.mkdtemp(prefix="xsb.", dir="/tmp")
    res = {}
    try:
        for kind in DAEMONS + ("null",):
            print("bench: %s ..." % LABELS[kind], flush=True)
            res[kind] = measure(kind, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    checks, ok = verdicts(res)
    text = "\n".join([
        "",
        "## %s: xsbench (`bench/bench.py`)" % time.strftime("%Y-%m-%d %H:%M"),
        "",
        "`make bench` on %s (%d CPUs), %s; every server and the client pinned to CPU %s (`taskset -c %s`);"
        " median of %d fresh runs per server. rt = %d sequential WRITE+READ pairs on one socket"
        " connection (ops/s counts both); fill = %d WRITEs of new nodes `/fill/d<i/1000>/n<i>`"
        " (16-byte values) from dom0; RSS = VmRSS of the daemon process before and after the fill."
        % (common.cpu_model(), os.cpu_count(), time.strftime("%Y-%m-%d"), args.cpu, args.cpu, args.runs, args.rt, args.fill),
        "",
        table(res, args),
        "",
        "Targets (ours against C):",
        "",
    ] + checks) + "\n"
    print(text)
    with open(args.out, "a") as f:
        f.write(text)
    common.write_summary("xsbench", "%d WRITE+READ round trips and a %d-node fill on a Unix socket, median of %d"
                         % (args.rt, args.fill, args.runs), summary_rows(res), load)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
