#!/usr/bin/env python3
"""Differential test: replay the corpus against two xenstore daemons and
compare every reply and watch event byte for byte.

    xsdiff.py [options] [CORPUS...]         (default: tests/diff/corpus)

By default the reference is Debian's C xenstored 4.17 (`--a c`) and the
candidate is ours (`--b ours`). Each corpus entry runs against a freshly
started instance of each daemon. A step whose recorded output differs is a
mismatch unless `differences.toml` lists exactly that difference (same entry,
same corpus line, same output from both daemons). `--b c` checks that the
corpus is deterministic (C against C must be identical). `--ox` also records
oxenstored's transcripts, for information only. `--show KIND` just prints
the transcripts of one daemon.

Exit status: 0 when every mismatch is allowed, 1 otherwise, 2 on usage or
corpus errors. Transcripts are written under --out (build/diff).
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
import daemons  # noqa: E402
import replay  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
MAX_SHOWN_PER_ENTRY = 8
# oxenstored leaves some requests unanswered (it ignores empty payloads) and
# never sets a ring's error field, so its waits would all run to the
# deadline; its transcripts are information, not compared, so it gets a
# short one (the compared daemons get replay.PATIENCE_S).
OX_PATIENCE_S = 1.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("corpus", nargs="*", default=[os.path.join(HERE, "corpus")])
    p.add_argument("--peers", default=os.path.join(REPO, "tests", "peers", "peers"),
                   help="the peers kit's front end (starts the C daemons)")
    p.add_argument("--ours", default=os.path.join(REPO, "target", "debug", "xenstored-rs"),
                   help="our daemon binary")
    p.add_argument("--a", default="c", choices=daemons.KINDS, help="reference daemon")
    p.add_argument("--b", default="ours", choices=daemons.KINDS, help="daemon under test")
    p.add_argument("--ox", action="store_true", help="also record oxenstored (not asserted)")
    p.add_argument("--allow", default=os.path.join(HERE, "differences.toml"))
    p.add_argument("--out", default=os.path.join(REPO, "build", "diff"))
    p.add_argument("-k", dest="only", action="append", default=[],
                   help="only entries whose id contains this (repeatable)")
    p.add_argument("--show", choices=daemons.KINDS, help="print one daemon's transcripts")
    p.add_argument("--emit-allow", metavar="FILE",
                   help="write every unlisted mismatch as a [[difference]] skeleton (why = TODO)")
    return p.parse_args()


def load_allow(path):
    """The allow-list: [[difference]] tables with entry, line, c, ours, why."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = tomllib.load(f)
    allow = data.get("difference", [])
    for i, d in enumerate(allow):
        for k in ("entry", "line", "c", "ours", "why"):
            if k not in d:
                raise corpus.CorpusError("%s: difference #%d lacks %r" % (path, i + 1, k))
        d["used"] = 0
    return allow


def run_entry(kind, entry, args, workdir):
    """Replay entry against a fresh daemon of this kind; returns a transcript."""
    d = daemons.Daemon(kind, workdir, args.peers, args.ours)
    try:
        d.start()
    except daemons.DaemonError as e:
        return [(corpus.Step(0, "(start)", "end"), ["(daemon failed to start: %s)" % e])]
    try:
        return replay.replay(d, entry, OX_PATIENCE_S if kind == "ox" else replay.PATIENCE_S)
    finally:
        d.stop()


def write_transcript(out_dir, kind, entry, transcript):
    path = os.path.join(out_dir, kind, entry.id + ".txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(format_transcript(entry, transcript))


def format_transcript(entry, transcript):
    lines = ["=== %s (%s:%d)" % (entry.id, os.path.relpath(entry.path, REPO), entry.line)]
    for step, out in transcript:
        lines.append("L%d %s" % (step.line, step.text) if step.line else step.text)
        lines += ["    " + o for o in out]
    return "\n".join(lines) + "\n"


def compare(entry, ta, tb, allow):
    """Return (unallowed, allowed) lists of (step, a_lines, b_lines)."""
    bad, ok = [], []
    if len(ta) != len(tb):
        bad.append((corpus.Step(0, "(transcript length)", "end"), ["%d steps" % len(ta)], ["%d steps" % len(tb)]))
    for (step, a), (_, b) in zip(ta, tb):
        if a == b:
            continue
        hit = [d for d in allow if d["entry"] == entry.id and d["line"] == step.text
               and list(d["c"]) == a and ours_matches(d, b)]
        if hit:
            hit[0]["used"] += 1
            ok.append((step, a, b))
        else:
            bad.append((step, a, b))
    return bad, ok


def ours_matches(d, b):
    """Our lines match an allow-list entry: exactly (`ours`), or, for output
    that legitimately varies (e.g. byte counts in memreport), each line
    against a regular expression (`ours_re`, full match)."""
    if "ours_re" in d:
        pats = list(d["ours_re"])
        return len(pats) == len(b) and all(re.fullmatch(p, l, re.S) for p, l in zip(pats, b))
    return list(d["ours"]) == b


def toml_lit(s):
    """s as a TOML literal string (no escapes are processed inside)."""
    return "'%s'" % s if "'" not in s else "'''%s'''" % s


def toml_lines(lines):
    """Render lines as a TOML array of literal strings (for copy-paste)."""
    return "[" + ", ".join(toml_lit(s) for s in lines) + "]"


def toml_difference(entry, line, a, b):
    """A [[difference]] table for one mismatching step, reason left TODO."""
    return "[[difference]]\nentry = %s\nline = %s\nc = %s\nours = %s\nwhy = \"TODO\"\n" % (
        toml_lit(entry), toml_lit(line), toml_lines(a), toml_lines(b))


def report_mismatch(entry, bad, names):
    print("MISMATCH %s (%s:%d)" % (entry.id, os.path.relpath(entry.path, REPO), entry.line))
    for step, a, b in bad[:MAX_SHOWN_PER_ENTRY]:
        print("  L%d %s" % (step.line, step.text))
        print("    %-5s %s" % (names[0] + ":", toml_lines(a)))
        print("    %-5s %s" % (names[1] + ":", toml_lines(b)))
    if len(bad) > MAX_SHOWN_PER_ENTRY:
        print("  ... %d more differing steps" % (len(bad) - MAX_SHOWN_PER_ENTRY))


def main():
    args = parse_args()
    args.peers = os.path.abspath(args.peers)
    try:
        entries = corpus.load(args.corpus)
        allow = load_allow(args.allow)
    except corpus.CorpusError as e:
        print("corpus error: %s" % e, file=sys.stderr)
        return 2
    if args.only:
        entries = [e for e in entries if any(k in e.id for k in args.only)]
    used = (args.show,) if args.show else (args.a, args.b)
    if "ours" in used and not os.access(args.ours, os.X_OK):
        print("our daemon %s is not built (cargo build -p host)" % args.ours, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    # A short private directory: socket paths must fit in sun_path.
    workdir = tempfile.mkdtemp(prefix="xsd.", dir="/tmp")
    try:
        if args.show:
            for e in entries:
                t = run_entry(args.show, e, args, workdir)
                write_transcript(args.out, args.show, e, t)
                print(format_transcript(e, t))
            return 0
        return run_diff(args, entries, allow, workdir, t0)
    except corpus.CorpusError as e:
        print("corpus error: %s" % e, file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_diff(args, entries, allow, workdir, t0):
    names = (args.a, args.b if args.b != args.a else args.b + "2")
    n_bad = n_allowed = n_same = 0
    ox_differs = []
    skeleton = []
    for e in entries:
        ta = run_entry(args.a, e, args, workdir)
        tb = run_entry(args.b, e, args, workdir)
        write_transcript(args.out, names[0], e, ta)
        write_transcript(args.out, names[1], e, tb)
        if args.ox:
            to = run_entry("ox", e, args, workdir)
            write_transcript(args.out, "ox", e, to)
            if to != ta:
                ox_differs.append(e.id)
        bad, ok = compare(e, ta, tb, allow if args.b == "ours" else [])
        n_allowed += len(ok)
        if bad:
            n_bad += 1
            report_mismatch(e, bad, names)
            skeleton += [toml_difference(e.id, step.text, a, b) for step, a, b in bad]
        else:
            n_same += 1
    if args.emit_allow:
        with open(args.emit_allow, "w") as f:
            f.write("\n".join(skeleton))
    if args.ox:
        print("oxenstored (information only) differs from %s in %d of %d entries: %s"
              % (args.a, len(ox_differs), len(entries), " ".join(ox_differs) or "-"))
    unused = [d for d in allow if d["used"] == 0] if args.b == "ours" and not args.only else []
    for d in unused:
        print("note: allow-list entry not used (difference gone?): %s / %s" % (d["entry"], d["line"]))
    print("%d entries: %d pass (identical, or differing only as allowed: %d steps), %d with unlisted mismatches; %.1f s; transcripts in %s"
          % (len(entries), n_same, n_allowed, n_bad, time.monotonic() - t0, os.path.relpath(args.out)))
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
