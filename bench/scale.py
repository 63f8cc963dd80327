#!/usr/bin/env python3
"""Scale benchmark: a thousand simring guest domains created as libxl creates
them, on our daemon, C xenstored 4.17 and oxenstored 4.17.

For each daemon, RUNS times: start it fresh with a simring directory, pinned
to one CPU, and with the client on the same CPU:

1. `peers scale SOCKET DIR build N T G`: N domains made concurrently by T
   dom0 toolstack clients replaying libxl's transactions (domain_make,
   build_post + INTRODUCE, a vif and a vbd), each domain's guest then
   connecting its frontends over its own ring while one of G dom0 clients
   plays the backend (tests/peers/tools/src/scale/). Throughput, and the
   share of transaction commits refused with EAGAIN;
2. VmRSS of the daemon;
3. `xenstore-ls -f /` (Debian's client) of the whole tree, timed;
4. `peers scale SOCKET DIR probe N WIDE R`: DIRECTORY_PART passes over
   /local/domain and over a directory of WIDE children, then XS_RELEASE of
   R domains, each timed (the cost of one domain's death in a full store).

Each cell is the median of the runs. The table is appended to
bench/results.md (a history, newest last).

    scale.py [--ours BIN] [--peers PEERS] [--domains N] [--toolstacks T]
             [--guests G] [--name-scan] [--wide W] [--releases R] [--runs R]
             [--cpu C] [--only ours,c,ox] [--label NAME] [--out bench/results.md]

Exit status 0 when every daemon ran, 2 on errors.
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
from common import daemons

DAEMONS = ("ours", "c", "ox")
LABELS = {"ours": "xenstored-rs (release)", "c": "C xenstored 4.17", "ox": "oxenstored 4.17"}
# Seconds one client step may take before the run is declared hung.
STEP_TIMEOUT_S = 1800


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_daemon_args(p, runs=1)
    p.add_argument("--domains", type=int, default=1000)
    p.add_argument("--toolstacks", type=int, default=4)
    p.add_argument("--guests", type=int, default=8)
    p.add_argument("--wide", type=int, default=50000)
    p.add_argument("--releases", type=int, default=20)
    p.add_argument("--name-scan", action="store_true",
                   help="add libxl's name-uniqueness check (O(domains^2) reads, which then dominate)")
    p.add_argument("--only", default=",".join(DAEMONS), help="comma-separated daemons to run")
    p.add_argument("--label", help="the name of our daemon's row (e.g. a commit)")
    return p.parse_args()


def client(args, *argv):
    """Runs `peers scale ARGV...` pinned; its output."""
    r = subprocess.run(["taskset", "-c", args.cpu, args.peers, "scale"] + [str(a) for a in argv],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=STEP_TIMEOUT_S)
    out = r.stdout.decode(errors="replace").strip()
    if r.returncode != 0:
        raise RuntimeError("peers scale %s failed: %s" % (argv[2], out[-2000:]))
    return out


def number(pattern, text):
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError("no %r in %r" % (pattern, text))
    return float(m.group(1))


def parse_build(out):
    r = {"secs": number(r"in ([0-9.]+) s =", out),
         "domains_s": number(r"= ([0-9.]+) domains/s", out),
         "requests": number(r"; ([0-9]+) requests =", out),
         "requests_s": number(r"= ([0-9]+) requests/s", out)}
    commits = eagain = 0
    for who in ("toolstack", "guest", "backend"):
        c = number(who + r" commits ([0-9]+)", out)
        e = number(who + r" commits [0-9]+ eagain ([0-9]+)", out)
        r[who + "_eagain"] = 100.0 * e / (c + e) if c + e else 0.0
        commits, eagain = commits + c, eagain + e
    r["eagain"] = 100.0 * eagain / (commits + eagain) if commits + eagain else 0.0
    return r


def parse_probe(out):
    parts = re.findall(r"dirpart: (\S+) ([0-9]+) children ([0-9]+) bytes ([0-9]+) calls/pass .* = ([0-9.]+) us/pass",
                       out)
    r = {}
    for path, children, _, calls, us in parts:
        key = "dirpart_home" if path == "/local/domain" else "dirpart_wide"
        r[key] = float(us)
        r[key + "_calls"] = int(calls)
        r[key + "_children"] = int(children)
    for path in re.findall(r"dirpart: (\S+) ENOSYS", out):
        key = "dirpart_home" if path == "/local/domain" else "dirpart_wide"
        r[key] = r[key + "_calls"] = r[key + "_children"] = float("nan")
    r["release"] = number(r"release: [0-9]+ domains median ([0-9.]+) us", out)
    r["read"] = number(r"read median ([0-9.]+) us", out)
    return r


def xenstore_ls(args, socket):
    """Seconds `xenstore-ls -f /` takes, and the lines it printed."""
    env = dict(os.environ, XENSTORED_PATH=socket)
    t = time.monotonic()
    r = subprocess.run(["taskset", "-c", args.cpu, "xenstore-ls", "-f", "/"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=STEP_TIMEOUT_S)
    secs = time.monotonic() - t
    if r.returncode != 0:
        # A finding, not an error of the benchmark: oxenstored 4.17 cannot
        # list a directory whose names pass 4096 bytes.
        print("xenstore-ls failed: %s" % r.stderr.decode(errors="replace").strip()[-300:], flush=True)
        return float("nan"), r.stdout.count(b"\n")
    return secs, r.stdout.count(b"\n")


def cpu_seconds(pid):
    """The CPU time process `pid` has used (user and system), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(kind, args, workdir):
    def one_run(s):
        row = parse_build(client(args, s.socket, s.simring, "build", args.domains,
                                 args.toolstacks, args.guests, int(args.name_scan)))
        row["rss"] = s.rss_kib()
        row["cpu"] = cpu_seconds(s.pid)
        row["requests_cpu"] = row["requests"] / row["cpu"] if row["cpu"] else 0.0
        row["ls"], row["ls_lines"] = xenstore_ls(args, s.socket)
        row.update(parse_probe(client(args, s.socket, s.simring, "probe", args.domains,
                                      args.wide, args.releases)))
        if not s.alive():
            raise RuntimeError("%s died" % kind)
        return row

    return common.median_of_runs(kind, args, workdir, True, one_run)


def cell(fmt, *values):
    """`fmt % values`, or "ENOSYS" for a measurement the daemon refused."""
    return "ENOSYS" if any(v != v for v in values) else fmt % values


def summary_rows(res, args):
    """The figures for the summary table (bench/common.py); a refused or failed
    measurement is left out (NaN becomes null)."""
    def figures(key):
        out = {}
        for kind in DAEMONS:
            v = res.get(kind, {}).get(key)
            out[kind] = None if v is None or v != v else v
        return out

    g = "%d domains, host socket" % args.domains
    return [common.row(g, "domains built per s", **figures("domains_s")),
            common.row(g, "requests per daemon CPU s", **figures("requests_cpu")),
            common.row(g, "EAGAIN (% of commits)", higher_is_better=False, **figures("eagain")),
            common.row(g, "RSS (KiB)", higher_is_better=False, **figures("rss")),
            common.row(g, "xenstore-ls -f / (s)", higher_is_better=False, **figures("ls")),
            common.row(g, "DIRECTORY_PART pass of /local/domain (us)", higher_is_better=False,
                       **figures("dirpart_home")),
            common.row(g, "DIRECTORY_PART pass of %d children (us)" % args.wide, higher_is_better=False,
                       **figures("dirpart_wide")),
            common.row(g, "XS_RELEASE of one domain (us)", higher_is_better=False, **figures("release"))]


def table(res, args):
    c = res.get("c")

    def vs(kind, key, higher_better):
        if c is None or not c.get(key):
            return "-"
        x, y = res[kind][key], c[key]
        return "%.2fx" % (x / y if higher_better else y / x)

    lines = ["| server | build (s) | domains/s | requests/s | daemon CPU (s) | requests per CPU s | vs C"
             " | EAGAIN %% (toolstack / guest / backend)"
             " | RSS (MiB) | xenstore-ls (s, lines) | vs C | DIRECTORY_PART /local/domain (us/pass, calls)"
             " | DIRECTORY_PART %d children (us/pass, calls) | vs C | XS_RELEASE one domain (us) | vs C"
             " | READ (us) |" % args.wide,
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in DAEMONS:
        r = res.get(kind)
        if r is None:
            continue
        cells = [LABELS[kind], "%.1f" % r["secs"], "%.1f" % r["domains_s"], "%.0f" % r["requests_s"],
                 "%.1f" % r["cpu"], "%.0f" % r["requests_cpu"], vs(kind, "requests_cpu", True),
                 "%.2f (%.2f / %.2f / %.2f)" % (r["eagain"], r["toolstack_eagain"], r["guest_eagain"],
                                                r["backend_eagain"]),
                 "%.1f" % (r["rss"] / 1024.0),
                 "failed after %d lines" % r["ls_lines"] if r["ls"] != r["ls"] else "%.2f, %d" % (r["ls"], r["ls_lines"]),
                 "-" if r["ls"] != r["ls"] else vs(kind, "ls", False),
                 cell("%.1f, %d", r["dirpart_home"], r["dirpart_home_calls"]),
                 cell("%.0f, %d", r.get("dirpart_wide", 0), r.get("dirpart_wide_calls", 0)),
                 cell("%s", r.get("dirpart_wide", 0)) if r.get("dirpart_wide", 0) != r.get("dirpart_wide", 0)
                 else vs(kind, "dirpart_wide", False),
                 "%.0f" % r["release"], vs(kind, "release", False), "%.1f" % r["read"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)



def main():
    args = parse_args()
    args.peers = os.path.abspath(args.peers)
    if args.label:
        LABELS["ours"] = args.label
    if not os.access(args.ours, os.X_OK):
        print("our release daemon %s is not built (cargo build --release -p host)" % args.ours, file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    workdir = tempfile.mkdtemp(prefix="xss.", dir="/tmp")
    res = {}
    failed = []
    try:
        for kind in args.only.split(","):
            print("scale: %s ..." % LABELS[kind], flush=True)
            try:
                res[kind] = measure(kind, args, workdir)
            except (RuntimeError, subprocess.TimeoutExpired, daemons.DaemonError) as e:
                print("scale: %s failed: %s" % (LABELS[kind], e), flush=True)
                failed.append("%s: %s" % (LABELS[kind], e))
                continue
            print("scale: %s: %r" % (kind, res[kind]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join([
        "",
        "## %s: scale (`bench/scale.py`)" % time.strftime("%Y-%m-%d %H:%M"),
        "",
        "%s (%d CPUs), load average %.1f at the start; every server and the client pinned to CPU %s;"
        " median of %d run(s). %d domains made by %d toolstack clients at once (libxl 4.17's"
        " transactions), each with a vif and a vbd, its guest connecting its frontends over its simring"
        " ring while one of %d dom0 clients plays the backend%s. Daemon CPU = its user and system time"
        " during the build (the guests' writes are paced by the write-rate limit, XSA-206, where a daemon"
        " has one, so the wall time is not all work). EAGAIN %% = commits refused / commits"
        " tried. xenstore-ls = `xenstore-ls -f /` of the resulting tree; DIRECTORY_PART = one paging pass;"
        " XS_RELEASE = median round trip of releasing %d of the domains (READ = a plain round trip)."
        % (common.cpu_model(), os.cpu_count(), load, args.cpu, args.runs, args.domains,
           args.toolstacks, args.guests,
           "" if args.name_scan else " (without libxl's name-uniqueness scan of every domain)", args.releases),
        "",
        table(res, args),
        "",
    ] + ["Failed: %s" % f for f in failed] + ([""] if failed else []))
    print(text)
    with open(args.out, "a") as f:
        f.write(text)
    common.write_summary("scale", "%d simring domains made as libxl makes them, median of %d run(s)"
                         % (args.domains, args.runs), summary_rows(res, args), load)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
