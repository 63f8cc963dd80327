#!/usr/bin/env python3
"""One table of every benchmark's figures: ours against C xenstored,
oxenstored and a do-nothing server, from the summaries the scripts left in
build/bench/*.json (see bench/common.py).

    summary.py [--out bench/results.md] [NAME ...]

With names, only those summaries (`xsbench`, `scale`, `rig`, `storm`);
otherwise every summary present. The table is printed and appended to
bench/results.md. Exit status 2 when no summary is found.
"""
import argparse
import json
import os
import sys
import time

import common

ORDER = ("xsbench", "scale", "rig", "storm")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(common.HERE, "results.md"))
    p.add_argument("names", nargs="*")
    return p.parse_args()


def load(names):
    """The summaries asked for (or all present), in ORDER first."""
    present = sorted(f[:-5] for f in os.listdir(common.SUMMARY_DIR) if f.endswith(".json")) \
        if os.path.isdir(common.SUMMARY_DIR) else []
    wanted = names or sorted(present, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    docs = []
    for n in wanted:
        path = os.path.join(common.SUMMARY_DIR, n + ".json")
        if not os.path.exists(path):
            print("summary: no %s (run its benchmark first)" % path, file=sys.stderr)
            continue
        with open(path) as f:
            docs.append((n, json.load(f)))
    return docs


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return "%.2f" % x


def versus(r):
    """Ours against C, oriented so that above 1 means ours is better."""
    if r.get("ratio") is not None:
        return "%.2fx" % r["ratio"]
    o, c = r.get("ours"), r.get("c")
    if not isinstance(o, (int, float)) or not isinstance(c, (int, float)) or not o or not c:
        return "-"
    return "%.2fx" % (o / c if r.get("higher_is_better", True) else c / o)


def table(docs):
    lines = ["| benchmark | group | metric | ours | C xenstored | oxenstored | null server | ours vs C |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, doc in docs:
        for r in doc["rows"]:
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, r["group"], r["metric"], fmt(r.get("ours")), fmt(r.get("c")), fmt(r.get("ox")),
                fmt(r.get("null")), versus(r)))
    return "\n".join(lines)


def main():
    args = parse_args()
    docs = load(args.names)
    if not docs:
        print("summary: no benchmark summaries in %s" % common.SUMMARY_DIR, file=sys.stderr)
        return 2
    sources = ["- `%s`: %s%s%s: %s" % (
        n, d.get("date", "date not recorded"), ", " + d["machine"] if d.get("machine") else "",
        ", load average %.1f at its start" % d["load"] if d.get("load") is not None else "", d["title"])
        for n, d in docs]
    text = "\n".join([
        "",
        "## %s: summary (`bench/summary.py`)" % time.strftime("%Y-%m-%d %H:%M"),
        "",
        "Every figure of the runs below in one table; \"ours vs C\" is above 1 where ours is better"
        " (a rate ours/C, a time or a size C/ours). Absolute figures move with the machine's load;"
        " compare within a row.",
        "",
    ] + sources + ["", table(docs), ""])
    print(text)
    with open(args.out, "a") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
