#!/usr/bin/env python3
"""In-rig benchmark: our stub against C xenstored in dom0, on real Xen.

For each Xen version (4.17, 4.20) and each xenstore (our stub, C xenstored
as a dom0 daemon), one boot of the Xen rig (scripts/xen-rig/boot.sh, QEMU
TCG) runs bench/rig-check.sh in dom0: the client xs-rig-bench
(tests/peers/tools/src/rig.rs) in dom0 through /dev/xen/xenbus (and, for
the daemon, through its socket: libxl's path when xenstored runs in dom0),
then in a PV Linux guest through its own ring, then xenstore's CPU time
over an idle interval. TCG inflates absolute times, so only the ratios
within one run of this script mean something.

    rig.py [--xen 4.17,4.20] [--only stub,daemon] [--stub FILE]
           [--variant NAME=OPTIONS]... [--rt N] [--fill N] [--dir-reads N]
           [--runs R] [--idle S] [--lock FILE] [--out bench/results.md]
           [--json build/bench/rig.json] [--reuse]

`--variant stub= --variant "poll=--poll-us 1000"` boots the stub once per
variant (its log build/bench/rig-<xen>-<name>.log; `--variant-stub
NAME=ELF` gives a variant another image); the first variant is the one
the target is checked on. Rates are put on Xen's clock where the boot
timed the client with it (a domain's clock in the rig sometimes stalls).
Each boot runs under `flock LOCK` when --lock (or $BENCH_LOCK) is given:
one timed boot at a time on a shared machine. The markdown section is appended to --out
(a history) and the summary rows written to --json:
{"title", "machine", "rows": [{"group", "metric", "ours", "c", "ratio"}]}.
--reuse parses the logs of an earlier run instead of booting.

Exit status 0 when the round-trip target (guest and dom0 rt >= 1.5x C
through /dev/xen/xenbus) holds on every version, 1 when it is missed, 2 on
errors.
"""
import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time

import common

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.join(REPO, "build")
TOOLS = os.path.join(REPO, "tests", "peers", "tools")
TARGET = "x86_64-unknown-linux-gnu"
CLIENT = os.path.join(BUILD, "rig-tools", TARGET, "release", "xs-rig-bench")
RT_TARGET = 1.5
# (client label, metric) -> row name; in this order.
METRICS = [
    ("dom0", "rt", "dom0 rt (ops/s)"),
    ("dom0", "fill", "dom0 fill (writes/s)"),
    ("dom0", "dir", "dom0 DIRECTORY (req/s)"),
    ("dom0", "walk", "dom0 walk (nodes/s)"),
    ("guest", "rt", "guest rt (ops/s)"),
    ("guest", "fill", "guest fill (writes/s)"),
    ("guest", "dir", "guest DIRECTORY (req/s)"),
    ("guest", "walk", "guest walk (nodes/s)"),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--xen", default="4.17,4.20")
    p.add_argument("--only", default="stub,daemon")
    p.add_argument("--stub", default=os.path.join(BUILD, "xenstore-stubdom-rs.elf"))
    p.add_argument("--variant-stub", action="append", default=[],
                   help="NAME=ELF: variant NAME boots this stub image instead of --stub")
    p.add_argument("--variant", action="append",
                   help="NAME=OPTIONS: boot the stub with these command-line options (repeatable; "
                        "default one variant, stub=)")
    p.add_argument("--rt", type=int, default=300)
    p.add_argument("--fill", type=int, default=200)
    p.add_argument("--dir-reads", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--idle", type=int, default=60)
    p.add_argument("--lock", default=os.environ.get("BENCH_LOCK", ""))
    p.add_argument("--out", default=os.path.join(HERE, "results.md"))
    p.add_argument("--json", default=os.path.join(BUILD, "bench", "rig.json"))
    p.add_argument("--reuse", action="store_true")
    return p.parse_args()


def run(cmd, **kw):
    print("rig.py: " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def build_client():
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static",
               CARGO_TARGET_DIR=os.path.join(BUILD, "rig-tools"))
    run(["cargo", "build", "--quiet", "--release", "--target", TARGET, "--manifest-path",
         os.path.join(TOOLS, "Cargo.toml"), "--bin", "xs-rig-bench"], env=env)


def build_guest(xen):
    """The PV guest for `xen`: the rig's kernel and an initramfs whose /init
    runs the client, which is appended as a second cpio archive."""
    out = os.path.join(BUILD, "bench", "guest-" + xen)
    run([os.path.join(REPO, "scripts", "xen-rig", "mkguest.sh"), xen,
         os.path.join(HERE, "rig-guest-init.sh"), out])
    with open(CLIENT, "rb") as f:
        client = f.read()
    with open(os.path.join(out, "guest.cpio.gz"), "ab") as f:
        f.write(gzip.compress(newc([("usr", 0o40755, b""), ("usr/bin", 0o40755, b""),
                                    ("usr/bin/xs-rig-bench", 0o100755, client)])))
    return out


def newc(entries):
    """A cpio archive (newc format, which Linux's initramfs reads; archives
    appended to one another add up) of (name, mode, data) entries."""
    out = bytearray()

    def pad():
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        out += b"070701" + b"".join(b"%08X" % v for v in fields) + name.encode() + b"\0"
        pad()
        out += data
        pad()
    return bytes(out)


def boot(args, xen, xs, params, image, guest, log):
    """One boot; returns the load average when it started."""
    conf = os.path.join(BUILD, "bench", "rig-bench.conf")
    with open(conf, "w") as f:
        f.write('CLIENT_ARGS="--rt %d --fill %d --dir-reads %d --runs %d"\nIDLE_S=%d\n'
                % (args.rt, args.fill, args.dir_reads, args.runs, args.idle))
    cmd = [os.path.join(REPO, "scripts", "xen-rig", "boot.sh"), "--xen", xen, "--xenstore", xs,
           "--check", os.path.join(HERE, "rig-check.sh"),
           "--extra", CLIENT, "--extra", conf,
           "--extra", os.path.join(guest, "vmlinuz") + "=bench-vmlinuz",
           "--extra", os.path.join(guest, "guest.cpio.gz") + "=bench-guest.cpio.gz",
           "--log", log, "--timeout", "1500"]
    if xs == "stub":
        cmd += ["--stub", image]
        if params:
            cmd += ["--stub-args", '--param "%s"' % params]
    # The load is read inside the lock, when the boot really starts.
    load_file = log + ".load"
    wrapped = ["sh", "-c", 'cut -d" " -f1 /proc/loadavg >"$0"; exec "$@"', load_file] + cmd
    if args.lock:
        wrapped = ["flock", args.lock] + wrapped
    r = subprocess.run(wrapped)
    if r.returncode != 0:
        print("rig.py: boot Xen %s xenstore=%s failed (log %s)" % (xen, xs, log), file=sys.stderr)


def correct_clocks(found):
    """Scales each client label's rates and latencies to Xen's clock, where
    the boot reported both clocks for it (rig-check.sh's "clock" lines): a
    domain's clock on this rig is not always right."""
    for (label, metric), rec in list(found.items()):
        clock = found.get((label, "clock"))
        # The guest's bracket is dom0 noticing its start and done lines,
        # late by seconds on a loaded machine: shown, not applied.
        if metric in ("clock", "server_cpu") or not clock or label == "guest":
            continue
        if clock.get("xen_s", 0) <= 0 or clock.get("domain_s", 0) <= 0:
            continue
        f = clock["domain_s"] / clock["xen_s"]
        for key in ("ops_s", "reqs_s"):
            if key in rec:
                rec[key] *= f
        for key in ("p50_us", "p99_us"):
            if key in rec:
                rec[key] /= f
    return found


def parse_log(log):
    """The XSRIG lines of a boot's log: {(label, metric): record}, rates on
    Xen's clock where the boot reported it (correct_clocks)."""
    found = {}
    with open(log, "rb") as f:
        for raw in f:
            line = raw.decode(errors="replace").replace("\r", "")
            m = re.search(r"XSRIG (\{.*\})", line)
            if not m:
                continue
            try:
                rec = json.loads(m.group(1))
            except ValueError:
                continue
            found[(rec["label"], rec["metric"])] = rec
    return correct_clocks(found)


def read_load(log):
    try:
        with open(log + ".load") as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None



def fmt(v, digits=0):
    return "-" if v is None else ("%.*f" % (digits, v))


def variants(args):
    """The stub variants to boot: [(name, stub options)], the first the
    one the summary compares with C."""
    out = []
    images = dict(v.split("=", 1) for v in args.variant_stub)
    for v in args.variant or ["stub="]:
        name, _, params = v.partition("=")
        out.append((name, params, images.get(name, args.stub)))
    return out


def cell(rec, key="ops_s"):
    return rec.get(key) if rec else None


def main():
    args = parse_args()
    xens = args.xen.split(",")
    only = args.only.split(",")
    kinds = ([("daemon", None, None)] if "daemon" in only else []) + (variants(args) if "stub" in only else [])
    names = [k for k, _, _ in kinds]
    logs = {(x, k): os.path.join(BUILD, "bench", "rig-%s-%s.log" % (x, k)) for x in xens for k in names}
    os.makedirs(os.path.join(BUILD, "bench"), exist_ok=True)
    if not args.reuse:
        build_client()
        for x in xens:
            guest = build_guest(x)
            for k, params, image in kinds:
                boot(args, x, "daemon" if params is None else "stub", params, image, guest, logs[(x, k)])
    results = {k: parse_log(v) if os.path.exists(v) else {} for k, v in logs.items()}
    ours_names = [k for k, p, _ in kinds if p is not None]

    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    title = "rig: guest and dom0 through Xen (`bench/rig.py`)"
    lines = ["", "## %s: %s" % (stamp, title), ""]
    lines.append(
        "%s. One boot of the Xen rig (QEMU TCG, 2 vCPUs; dom0, stub and guest 1 vCPU each) per Xen version "
        "and xenstore: C xenstored of the same Xen in dom0 (`XENSTORE=daemon`) or our stub (`XENSTORE=stub`) "
        "with the options given: %s. "
        "Client `xs-rig-bench`, median of %d runs: rt = %d sequential WRITE+READ pairs (ops/s count both), "
        "fill = %d new nodes (200 per directory), DIRECTORY = %d DIRECTORY requests of the fill's first directory, "
        "walk = READ+DIRECTORY of every node of the fill. dom0 goes through /dev/xen/xenbus for both; "
        "\"C socket\" is dom0 through C xenstored's Unix socket (libxl's path when the daemon runs in dom0). "
        "dom0's rates are on Xen's clock where the boot timed the client's runs with it too (the domain's clock / "
        "Xen's rows; \"-\": not timed); the guest's row is shown only (dom0 sees its start and end lines late). "
        "Server CPU: xl's Time(s) of the stub domain, or the daemon's user+system time. "
        "TCG inflates absolute times: compare the ratios within one section. Load average at each boot's start: %s."
        % (common.machine(), "; ".join("%s `%s`%s" % (k, p or "(defaults)", "" if img == args.stub else " (" + os.path.basename(img) + ")")
                                for k, p, img in kinds if p is not None),
           args.runs, args.rt, args.fill, args.dir_reads,
           ", ".join("%s %s %s" % (x, k, fmt(read_load(logs[(x, k)]), 1)) for (x, k) in logs)))
    rows = []
    have_c = "daemon" in names
    status = 0
    for x in xens:
        c = results.get((x, "daemon"), {})
        head = "| metric |" + "".join(" ours: %s | vs C |" % k for k in ours_names)
        head += " C xenstored %s | C socket |" % x if have_c else ""
        lines += ["", "Xen %s:" % x, "", head, "|---|" + "---:|" * (head.count("|") - 2)]
        for label, metric, name in METRICS:
            cv = cell(c.get((label, metric)))
            row = "| %s |" % name
            for i, k in enumerate(ours_names):
                rec = results[(x, k)].get((label, metric))
                o = cell(rec)
                ratio = o / cv if o and cv else None
                lat = " (p50 %s us)" % fmt(rec.get("p50_us")) if rec and metric == "rt" else ""
                row += " %s%s | %s |" % (fmt(o), lat, fmt(ratio, 2) + "x" if ratio else "-")
                rows.append({"group": "rig Xen %s" % x, "metric": name + ("" if i == 0 else " [%s]" % k),
                             "ours": o, "c": cv, "ratio": ratio})
                if i == 0 and metric == "rt" and have_c and (ratio is None or ratio < RT_TARGET):
                    status = 1
            if have_c:
                crec = c.get((label, metric))
                lat = " (p50 %s us)" % fmt(crec.get("p50_us")) if crec and metric == "rt" else ""
                cs = cell(c.get(("dom0-socket", metric))) if label == "dom0" else None
                row += " %s%s | %s |" % (fmt(cv), lat, fmt(cs))
            lines.append(row)
        for label in ("dom0", "guest"):
            show = lambda d: "-" if not d or not d.get("xen_s") else "%.2f" % (d["domain_s"] / d["xen_s"])
            row = "| %s clock / Xen's over its runs |" % label
            for k in ours_names:
                row += " %s | |" % show(results[(x, k)].get((label, "clock")))
            if have_c:
                row += " %s | |" % show(c.get((label, "clock")))
            lines.append(row)
        for label, name in (("dom0", "xenstore CPU over the dom0 bench (s / s)"),
                            ("idle", "xenstore CPU while idle (s / s)")):
            show = lambda d: "-" if not d else "%.2f / %.0f" % (d["cpu_s"], d["wall_s"])
            row = "| %s |" % name
            for i, k in enumerate(ours_names):
                o = results[(x, k)].get((label, "server_cpu"))
                row += " %s | |" % show(o)
                rows.append({"group": "rig Xen %s" % x,
                             "metric": name.split(" (")[0] + " (share of a CPU)" + ("" if i == 0 else " [%s]" % k),
                             "ours": o and o["share"], "c": None, "ratio": None,
                             "higher_is_better": False})
            if have_c:
                cv = c.get((label, "server_cpu"))
                row += " %s | |" % show(cv)
                rows[-len(ours_names)]["c"] = cv and cv["share"]
            lines.append(row)
    lines.append("")
    lines.append("Target (rt through /dev/xen/xenbus, guest and dom0, %s >= %.1fx C): %s" % (
        ours_names[0] if ours_names else "-", RT_TARGET,
        "not measured" if not (have_c and ours_names) else "met" if status == 0 else "missed"))
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "a") as f:
        f.write(text)
    with open(args.json, "w") as f:
        json.dump({"title": title, "machine": common.machine(), "rows": rows}, f, indent=1)
    missing = [k for k, v in results.items() if not v]
    if missing:
        print("rig.py: no results from %s" % missing, file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
