"""What every benchmark script shares: the machine's description and the
JSON summary each script leaves for `bench/summary.py`.

A summary is `build/bench/<name>.json`:

    {"title": "...", "machine": "...", "load": 1.2, "date": "...",
     "rows": [{"group": "host socket", "metric": "rt (ops/s)",
               "ours": 58219, "c": 30209, "ox": 26465, "null": 52408,
               "higher_is_better": true}, ...]}

`ours`, `c`, `ox` and `null` are the figures of our server, C xenstored,
oxenstored and a do-nothing server; any may be missing (null) where it does
not apply or did not run. `higher_is_better` orients the ratio: the summary
prints ours against C so that above 1 always means ours is better. A row may
carry a ready `ratio` instead (same orientation), for figures whose ratio is
not a plain quotient of the two cells.
"""
import json
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SUMMARY_DIR = os.path.join(REPO, "build", "bench")
# The daemons are started as the differential test starts them.
sys.path.insert(0, os.path.join(REPO, "tests", "diff"))
import daemons  # noqa: E402


def add_daemon_args(p, runs):
    """The options every host benchmark takes: which builds, how often, where."""
    p.add_argument("--ours", default=os.path.join(REPO, "target", "release", "xenstored-rs"))
    p.add_argument("--peers", default=os.path.join(REPO, "tests", "peers", "peers"))
    p.add_argument("--runs", type=int, default=runs)
    p.add_argument("--cpu", default="0")
    p.add_argument("--out", default=os.path.join(HERE, "results.md"))


def median_of_runs(kind, args, workdir, simring, one_run):
    """Start daemon `kind` fresh (pinned, quiet) `args.runs` times, call
    `one_run(daemon)` for a dict of figures each time, stop it, and give the
    median of each figure."""
    rows = []
    for _ in range(args.runs):
        s = daemons.Daemon(kind, workdir, args.peers, args.ours, cpu=args.cpu,
                           ours_args=["--log-level", "off"], simring=simring)
        s.start()
        try:
            rows.append(one_run(s))
        finally:
            s.stop()
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def cpu_model():
    """The CPU's model name, as /proc/cpuinfo gives it."""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        return m.group(1).strip() if m else "unknown CPU"
    except OSError:
        return "unknown CPU"


def machine():
    """One line naming the machine: CPU model and count."""
    return "%s (%d CPUs)" % (cpu_model(), os.cpu_count())


def row(group, metric, ours=None, c=None, ox=None, null=None, higher_is_better=True, ratio=None):
    """One summary row (see the module's documentation)."""
    r = dict(group=group, metric=metric, ours=ours, c=c, ox=ox, null=null,
             higher_is_better=higher_is_better)
    if ratio is not None:
        r["ratio"] = ratio
    return r


def write_summary(name, title, rows, load=None):
    """Leave `build/bench/<name>.json` for the summary table."""
    os.makedirs(SUMMARY_DIR, exist_ok=True)
    doc = dict(title=title, machine=machine(), load=load if load is not None else os.getloadavg()[0],
               date=time.strftime("%Y-%m-%d %H:%M"), rows=rows)
    path = os.path.join(SUMMARY_DIR, name + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return path
