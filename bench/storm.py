#!/usr/bin/env python3
"""Domain-creation storm on real Xen (the QEMU rig): `xl create` + `xl destroy`
of 20 tiny PV guests one at a time and four at a time, with our stub and with
C xenstored in dom0, on Xen 4.17 and 4.20.

One rig boot per (Xen version, server) runs bench/storm/storm.sh in dom0:
an untimed warm-up guest, then STORM_REPS times a sequential storm and a
wide one (alternating). Each boot holds the benchmark lock (flock) and the
load average is read when it gets it. Every xl runs with the counting shim
bench/storm/xs-count.c (LD_PRELOAD): the requests xl sent, the commits it
tried and the EAGAIN replies it got (each one a retried transaction), the
same kind of count for both servers. Medians over the repetitions.

    bench/storm.py [--xen 4.17,4.20] [--reps 2] [--n 20] [--width 4]
                   [--stub build/xenstore-stubdom-rs.elf] [--lock FILE]
                   [--out bench/results.md] [--json build/bench/storm[-pinned].json]
                   [--label NAME] [--pin same] [--stub-args ARGS] [--report-only]

Appends a section to bench/results.md and writes the JSON summary (rows with
ratio = C / ours for times and counts, so > 1 means ours is better). Exit
status 1 when a target is missed (storms >= 1.2x faster than C, fewer
EAGAINs than C in the wide storm), 2 when a boot failed.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SPEED_TARGET = 1.2
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from common import cpu_model  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--xen", default="4.17,4.20")
    p.add_argument("--servers", default="stub,daemon")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--width", type=int, default=4)
    p.add_argument("--stub", default=os.path.join(REPO, "build", "xenstore-stubdom-rs.elf"))
    p.add_argument("--lock", default=os.environ.get("BENCH_LOCK", ""))
    p.add_argument("--out", default=os.path.join(HERE, "results.md"))
    p.add_argument("--json", help="default build/bench/storm.json (storm-pinned.json with --pin same)")
    p.add_argument("--label", default="")
    p.add_argument("--pin", choices=["", "same"], default="",
                   help="same: dom0 and the stub on physical CPU 0 (see bench/storm/storm.sh)")
    p.add_argument("--stub-args", default="", help="more init-xenstore-domain arguments (boot.sh --stub-args)")
    p.add_argument("--timeout", type=int, default=2400, help="QEMU limit per boot (s)")
    p.add_argument("--report-only", action="store_true",
                   help="boot nothing: report from the boot logs already in --work")
    p.add_argument("--work", default=os.path.join(REPO, "build", "bench"),
                   help="where the boot logs go (default build/bench)")
    return p.parse_args()


def build_inputs(work, args):
    """The tiny guest (as tests/boot/guest-run.sh builds it), the shim and storm.conf."""
    os.makedirs(work, exist_ok=True)
    tiny_o = os.path.join(work, "tiny-pv.o")
    tiny = os.path.join(work, "tiny-pv.elf")
    shim = os.path.join(work, "xs-count.so")
    conf = os.path.join(work, "storm.conf")
    subprocess.run(["as", "--64", "-o", tiny_o, os.path.join(REPO, "tests", "boot", "tiny-pv.S")], check=True)
    subprocess.run(["ld", "-N", "-Ttext=0", "-e", "_start", "--build-id=none", "--no-warn-rwx-segments",
                    "-o", tiny, tiny_o], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", shim,
                    os.path.join(HERE, "storm", "xs-count.c")], check=True)
    with open(conf, "w") as f:
        f.write("STORM_N=%d\nSTORM_WIDTH=%d\nSTORM_REPS=%d\nSTORM_PIN=%s\n" % (args.n, args.width, args.reps, args.pin))
    return [tiny, shim, conf]


def boot(xen, server, extras, args, work):
    """One locked rig boot; returns (load average at the start, its log text, ok)."""
    log = os.path.join(work, "storm-%s-%s%s.log" % (xen, server, variant(args)))
    load = os.path.join(work, "load-%s-%s%s" % (xen, server, variant(args)))
    cmd = [os.path.join(REPO, "scripts", "xen-rig", "boot.sh"), "--xen", xen, "--xenstore", server,
           "--stub", args.stub, "--check", os.path.join(HERE, "storm", "storm.sh"),
           "--log", log, "--timeout", str(args.timeout)]
    if args.stub_args:
        cmd += ["--stub-args", args.stub_args]
    for e in extras:
        cmd += ["--extra", e]
    # The load average is read once the lock is held, just before QEMU starts.
    inner = "cut -d' ' -f1-3 /proc/loadavg > %s && exec \"$@\"" % load
    lock = ["flock", args.lock] if args.lock else []
    if args.lock:
        print("storm: Xen %s, %s: waiting for %s" % (xen, server, args.lock), flush=True)
    if os.path.exists(log):
        os.remove(log)  # the marks are looked for in this boot's log only
    proc = subprocess.Popen(lock + ["sh", "-c", inner, "sh"] + cmd)
    marks = watch_marks(proc, log)
    with open(log, errors="replace") as f:
        text = f.read().replace("\r", "")
    for (kind, rep), (t0, t1) in sorted(marks.items()):
        text += "RIG: storm-host: kind=%s rep=%s secs=%.2f\n" % (kind, rep, t1 - t0)
    with open(load) as f:
        loadavg = f.read().strip()
    return loadavg, text, proc.returncode == 0


def watch_marks(proc, log):
    """Waits for proc, timing by the host's clock the storm markers that
    appear in the serial log meanwhile: {(kind, rep): (start, end)}."""
    seen, marks, pos = {}, {}, 0
    while True:
        done = proc.poll() is not None
        try:
            with open(log, "rb") as f:
                if os.fstat(f.fileno()).st_size < pos:
                    pos = 0  # truncated: a new boot's log
                f.seek(pos)
                chunk = f.read()
        except OSError:
            chunk = b""
        # Only whole lines.
        cut = chunk.rfind(b"\n") + 1
        pos += cut
        now = time.monotonic()
        for line in chunk[:cut].decode(errors="replace").splitlines():
            m = re.search(r"RIG: storm-mark: (start|end) kind=(\S+) rep=(\S+)", line)
            if m:
                seen[(m.group(2), m.group(3), m.group(1))] = now
        if done:
            break
        time.sleep(0.2)
    for (kind, rep, what), t in seen.items():
        if what == "start" and (kind, rep, "end") in seen:
            marks[(kind, rep)] = (t, seen[(kind, rep, "end")])
    return marks


def variant(args):
    """What tells this configuration's files from the default's."""
    return "-pinned" if args.pin else ""


def earlier_boot(xen, server, work, args):
    """What boot() returned for an earlier boot, from its log and load files."""
    log = os.path.join(work, "storm-%s-%s%s.log" % (xen, server, variant(args)))
    try:
        with open(log, errors="replace") as f:
            text = f.read().replace("\r", "")
        with open(os.path.join(work, "load-%s-%s%s" % (xen, server, variant(args)))) as f:
            loadavg = f.read().strip()
    except OSError:
        return "?", "", False
    return loadavg, text, bool(re.search(r"^[1-9][0-9]* passed, 0 failed$", text, re.M))


def kv(line):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def parse(text):
    """{kind: {"secs": [per storm], "create_ms": [per guest], "destroy_ms": [per guest],
    "count": [per storm: dict], "server": [per storm: dict]}}"""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^RIG: storm(-count|-server|-guests|-eagain|-host)?: (kind=.*)$", line)
        if not m:
            continue
        d = kv(m.group(2))
        r = out.setdefault(d["kind"], {"secs": [], "create_ms": [], "destroy_ms": [], "count": [], "server": [],
                                       "eagain_paths": {}, "host_secs": []})
        if m.group(1) == "-host":
            r["host_secs"].append(float(d["secs"]))
        elif m.group(1) == "-eagain":
            for tok in m.group(2).split()[2:]:
                path, _, n = tok.rpartition("=")
                r["eagain_paths"][path] = r["eagain_paths"].get(path, 0) + int(n)
        elif m.group(1) is None:
            r["secs"].append(float(d["secs"]))
        elif m.group(1) == "-guests":
            for k in ("create", "destroy"):
                r[k + "_ms"] += [float(x) for x in d[k].split(",") if x]
        elif m.group(1) == "-count":
            r["count"].append({k: int(v) for k, v in d.items() if k not in ("kind", "rep")})
        else:
            r["server"].append({k: int(v) for k, v in d.items() if k not in ("kind", "rep")})
    return out


def med(xs):
    return statistics.median(xs) if xs else None


def med_count(counts, key):
    return med([c.get(key, 0) for c in counts]) if counts else None


def summary(r, n):
    """The medians of one storm kind."""
    # The host's clock when it has the storm's markers (dom0's can run
    # wrong under a loaded TCG host); dom0's otherwise.
    s = {"dom0_secs": med(r["secs"]), "host_secs": med(r["host_secs"]), "create_ms": med(r["create_ms"]),
         "destroy_ms": med(r["destroy_ms"]), "runs": len(r["secs"])}
    s["secs"] = s["host_secs"] if s["host_secs"] is not None else s["dom0_secs"]
    s["per_domain_ms"] = 1000 * s["secs"] / n if s["secs"] is not None else None
    for k in ("req", "commit", "eagain", "wait_us"):
        s[k] = med_count(r["count"], k)
    s["wait_s"] = s["wait_us"] / 1e6 if s["wait_us"] is not None else None
    s["rt_ms"] = s["wait_us"] / 1e3 / s["req"] if s["req"] else None
    s["eagain_rate"] = (100.0 * s["eagain"] / s["commit"]) if s["commit"] else 0.0
    types = {}
    for c in r["count"]:
        for k, v in c.items():
            if k.startswith("t_"):
                types.setdefault(k[2:], []).append(v)
    s["types"] = {k: med(v) for k, v in sorted(types.items(), key=lambda kv: -med(kv[1]))}
    s["eagain_paths"] = dict(sorted(r["eagain_paths"].items(), key=lambda kv: -kv[1]))
    s["server_requests"] = med_count(r["server"], "requests")
    s["server_conflicts"] = med_count(r["server"], "tx_conflicts")
    return s


def fmt(x, spec="%.1f"):
    return "-" if x is None else spec % x


def ratio(c, ours):
    if c is None or ours is None:
        return None
    if ours == 0:
        return None if c == 0 else float("inf")
    return c / ours


def write_results(res, loads, args, ok_boots):
    kinds = [("seq", "20 domains, one at a time (s)", "1 at a time"),
             ("wide", "20 domains, %d at a time (s)" % args.width, "%d at a time" % args.width)]
    kinds = [(k, m.replace("20", str(args.n)), h) for k, m, h in kinds]
    title = "domain-creation storm (`bench/storm.py`)"
    lines = ["", "## %s: %s%s" % (time.strftime("%Y-%m-%d %H:%M"), title,
                                     (" — " + args.label) if args.label else ""), ""]
    lines.append(
        "%s (%d CPUs) running Xen in QEMU TCG (the rig, `scripts/xen-rig`), one boot per Xen version and server, "
        "%s; load average at each boot's start in the table. A storm is `xl create` + "
        "`xl destroy` of %d tiny PV guests (`tests/boot/tiny-pv.S`, 16 MiB, powers itself off) one at a time or "
        "by %d workers at once, median of %d repetition(s) of each, alternating. "
        "Requests, commits and EAGAIN are counted inside every `xl` process (and its monitoring child) by an "
        "`LD_PRELOAD` shim on libxenstore's reads and writes (`bench/storm/xs-count.c`): the same count for both "
        "servers; EAGAIN %% = commits refused / commits tried, each refusal a transaction libxl retried; "
        "time = the host's clock between the storm's start and end markers on the serial console (dom0's own "
        "clock, beside it, was seen to run wrong for a whole boot on a loaded host; when the markers are missing "
        "it is the time); xl create / destroy and the waits are dom0's clock, medians over guests; "
        "\"xl waiting on xenstore\" = the time from each request sent to its reply, summed over every xl "
        "process (they overlap in the wide storm), and per request its mean. "
        "\"stub served\" = every request the stub served during the storm (all clients: xl, xenconsoled) and its "
        "refused commits, from its own counters. C = Debian's C xenstored in dom0 (the rig's `XENSTORE=daemon`).%s%s"
        % (cpu_model(), os.cpu_count(),
           ("each under `flock %s`" % args.lock) if args.lock else "no lock taken", args.n, args.width,
           max([k["runs"] for r in res.values() for k in r.values()] or [0]),
           " Dom0's vCPU and the stub's pinned to physical CPU 0 (`--pin same`)." if args.pin else
           " Xen places dom0's vCPU and the stub's on the 2 physical CPUs (no pinning).",
           (" Stub arguments: `%s`." % args.stub_args) if args.stub_args else ""))
    lines.append("")
    lines.append("| Xen | server | load | storm | time (s) | dom0's clock (s) | per domain (ms) | "
                 "xl create / destroy (ms) | vs C | requests | commits | EAGAIN (%) | xl waiting on xenstore (s) | "
                 "per request (ms) | stub served (requests, EAGAIN) |")
    lines.append("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    rows = []
    verdicts = []
    for xen in args.xen.split(","):
        for server in args.servers.split(","):
            key = (xen, server)
            if key not in res:
                lines.append("| %s | %s | %s | - | boot failed | | | | | | | |" % (xen, server, loads.get(key, "?")))
                continue
            for kind, metric, label in kinds:
                s = res[key].get(kind)
                c = res.get((xen, "daemon"), {}).get(kind)
                if s is None or s["secs"] is None:
                    lines.append("| %s | %s | %s | %s | no result | | | | | | | |" % (
                        xen, server, loads[key], label))
                    continue
                vs = "1.00x" if server == "daemon" else fmt(ratio(c and c["secs"], s["secs"]), "%.2fx")
                served = "-" if s["server_requests"] is None else "%d, %d" % (
                    s["server_requests"], s["server_conflicts"])
                lines.append("| %s | %s | %s | %s | %.2f | %s | %.0f | %s / %s | %s | %s | %s | %s (%.1f) | %s | %s | %s |" % (
                    xen, "ours (stub)" if server == "stub" else "C xenstored %s" % xen, loads[key], label,
                    s["secs"], fmt(s["dom0_secs"], "%.2f"), s["per_domain_ms"], fmt(s["create_ms"], "%.0f"), fmt(s["destroy_ms"], "%.0f"),
                    vs, fmt(s["req"], "%.0f"), fmt(s["commit"], "%.0f"), fmt(s["eagain"], "%.0f"),
                    s["eagain_rate"], fmt(s["wait_s"], "%.2f"), fmt(s["rt_ms"], "%.2f"), served))
    for xen in args.xen.split(","):
        ours = res.get((xen, "stub"), {})
        c = res.get((xen, "daemon"), {})
        group = "storm Xen %s" % xen
        for kind, metric, _ in kinds:
            o, k = ours.get(kind), c.get(kind)
            if not o or not k:
                continue
            r = ratio(k["secs"], o["secs"])
            rows.append({"group": group, "metric": metric, "ours": o["secs"], "c": k["secs"], "ratio": r})
            verdicts.append(("Xen %s, %s: %.2fx C's speed (target >= %.1fx)" % (xen, metric.replace(" (s)", ""), r,
                                                                                 SPEED_TARGET), r >= SPEED_TARGET))
            rows.append({"group": group, "metric": metric.replace(" (s)", ": requests sent by xl"),
                         "ours": o["req"], "c": k["req"], "ratio": ratio(k["req"], o["req"])})
            rows.append({"group": group, "metric": metric.replace(" (s)", ": EAGAIN replies to xl"),
                         "ours": o["eagain"], "c": k["eagain"], "ratio": ratio(k["eagain"], o["eagain"])})
            rows.append({"group": group, "metric": metric.replace(" (s)", ": xl's mean wait per request (ms)"),
                         "ours": o["rt_ms"], "c": k["rt_ms"], "ratio": ratio(k["rt_ms"], o["rt_ms"])})
            if kind == "wide":
                fewer = o["eagain"] < k["eagain"] or (o["eagain"] == 0 and k["eagain"] == 0)
                verdicts.append(("Xen %s, %s: EAGAIN %s ours vs %s C (target: fewer)" % (
                    xen, metric.replace(" (s)", ""), fmt(o["eagain"], "%.0f"), fmt(k["eagain"], "%.0f")),
                    fewer))
    # What the toolstack sends, for the first Xen version with both servers.
    for xen in args.xen.split(","):
        o = res.get((xen, "stub"), {}).get("seq")
        if o and o["types"]:
            lines.append("")
            lines.append("Requests per storm of %d by type (Xen %s, one at a time, ours; median): %s." % (
                args.n, xen, ", ".join("%s %.0f" % (t, v) for t, v in o["types"].items())))
            break
    refused = []
    for (xen, server), kinds_res in sorted(res.items()):
        w = kinds_res.get("wide")
        if w and w["eagain_paths"]:
            refused.append("Xen %s %s: %s" % (xen, "ours" if server == "stub" else "C", ", ".join(
                "`%s` %d" % kv for kv in w["eagain_paths"].items())))
    if refused:
        lines.append("")
        lines.append("Refused commits in the %d-wide storms, all repetitions, by the first path the transaction "
                     "changed: %s." % (args.width, "; ".join(refused)))
    lines.append("")
    lines.append("Targets (ours against C):")
    lines.append("")
    for text, ok in verdicts:
        lines.append("- %s — %s" % (text, "met" if ok else "missed"))
    if not ok_boots:
        lines.append("- some boots failed: see the logs in build/bench/")
    lines.append("")
    with open(args.out, "a") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"title": "Domain-creation storm on Xen (QEMU TCG rig), %d tiny PV guests" % args.n,
                   "machine": "%s (%d CPUs)" % (cpu_model(), os.cpu_count()),
                   "rows": rows,
                   "detail": {"%s-%s" % k: v for k, v in res.items()}}, f, indent=1, default=str)
    return all(ok for _, ok in verdicts) and bool(verdicts)


def main():
    args = parse_args()
    work = args.work
    args.json = args.json or os.path.join(work, "storm%s.json" % variant(args))
    if "stub" in args.servers.split(",") and not os.path.exists(args.stub):
        print("storm: %s is not built (make image)" % args.stub, file=sys.stderr)
        return 2
    extras = [] if args.report_only else build_inputs(os.path.join(work, "storm"), args)
    res, loads = {}, {}
    ok_boots = True
    for xen in args.xen.split(","):
        for server in args.servers.split(","):
            if args.report_only:
                loadavg, text, ok = earlier_boot(xen, server, work, args)
            else:
                loadavg, text, ok = boot(xen, server, extras, args, work)
            loads[(xen, server)] = loadavg
            parsed = parse(text)
            if not ok:
                ok_boots = False
                print("storm: the boot of Xen %s with %s failed (log build/bench/storm-%s-%s%s.log)" % (
                    xen, server, xen, server, variant(args)), file=sys.stderr)
            if parsed:
                res[(xen, server)] = {k: summary(v, args.n) for k, v in parsed.items()}
    met = write_results(res, loads, args, ok_boots)
    if not ok_boots:
        return 2
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
