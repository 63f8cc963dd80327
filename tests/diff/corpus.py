"""Parser for the differential-test corpus (tests/diff/corpus/*.xs).

A corpus file holds one or more *entries*. Each entry is replayed against a
freshly started daemon, so entries never see each other's state. The format
is line based; `#` starts a comment line and blank lines are ignored.

    === NAME                      start a new entry (id: FILE-STEM/NAME)

Directives (the first word is a keyword):

    open NAME sock                a privileged Unix-socket connection
    open NAME guest DOMID [port=P]
                                  a simulated guest: creates its ring page and
                                  event socket (do this before INTRODUCE)
    close NAME                    close a connection (a socket disconnects;
                                  a guest just stops being driven)
    state DOMID STATE             set the simring domain-state marker
                                  (running|shutdown|crashed|dying|gone)
    virq                          raise VIRQ_DOM_EXC at the daemon (it acts
                                  on it in its own time: follow with a
                                  `wait` for the effect, if there is one)
    repeat N LINE                 LINE (a connection line) N times, with
                                  `${i}` replaced by 1..N
    guest CTRL NAME DOMID [port=P]
                                  shorthand for what a toolstack does: open
                                  NAME as guest DOMID, then from CTRL: MKDIR
                                  and SET_PERMS `/local/domain/DOMID` (owner
                                  DOMID, no access for others) and INTRODUCE
                                  it (gfn 4660, port P, default 1)

Per-connection lines (the first word is a connection name):

    NAME TYPE [opt...]: PAYLOAD   send a request and record every message
                                  received on NAME up to and including its
                                  reply. TYPE is an XS_* name without the
                                  prefix (READ, WRITE, ...) or a number.
    NAME events                   record the watch events queued on NAME
                                  (the runner sends a harmless sync request
                                  and records everything before its reply)
    NAME ring                     record the guest ring's server_features,
                                  connection and error fields
    NAME set FIELD=VALUE          write a guest ring field (req_prod, ...)
    NAME raw: BYTES               send raw bytes without waiting for a reply
    NAME wait event               record what arrives on NAME up to and
                                  including the next watch event
    NAME wait FIELD=VALUE         wait until the guest ring field has that
    NAME wait FIELD!=VALUE        value (or another one), e.g. `wait error!=0`
                                  after a protocol violation

There is no sleep: asynchronous daemon work (a protocol violation seen on a
ring, a VIRQ) is waited for through what it changes. The waits have a
deadline only a hung daemon reaches (replay.PATIENCE_S).

Request options: `tx=REF` (a saved variable or a number, default 0),
`save=VAR` (remember the first NUL-terminated field of the reply, e.g. a
transaction id), `rid=N` (explicit req_id) and `noreply` (do not wait; the
reply is recorded by the next step that receives on NAME).

Payload escapes: `\\0` NUL, `\\\\` backslash, `\\n`, `\\t`, `\\xHH` a byte,
`\\{TEXT*N}` TEXT repeated N times, `\\I{N}` N as a little-endian u32,
`${VAR}` the value of a saved variable. Everything after `": "` up to the end
of the line is payload, so write a trailing space as `\\x20`.
"""
import os
import re
from dataclasses import dataclass, field

KEYWORDS = ("open", "close", "state", "virq", "guest", "repeat")
CONN_COMMANDS = ("events", "ring", "set", "raw", "wait")
RING_FIELDS = ("req_cons", "req_prod", "rsp_cons", "rsp_prod", "server_features",
               "connection", "error")


class CorpusError(Exception):
    """A syntax error in a corpus file, with its file and line."""


@dataclass
class Step:
    """One line of an entry: a directive or a connection command."""

    line: int
    text: str
    kind: str
    conn: str = ""
    args: list = field(default_factory=list)
    opts: dict = field(default_factory=dict)
    payload: str = ""


@dataclass
class Entry:
    """A named sequence of steps replayed against one fresh daemon."""

    id: str
    path: str
    line: int
    steps: list = field(default_factory=list)


_ESCAPE = re.compile(r"\\(0|\\|n|t|x[0-9a-fA-F]{2}|\{[^}]*\*[0-9]+\}|I\{[0-9]+\})|\$\{([A-Za-z0-9_]+)\}")


def expand(payload, variables):
    """Turn a payload written with the escapes above into bytes."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(payload):
        out += payload[pos:m.start()].encode("latin-1")
        pos = m.end()
        esc, var = m.group(1), m.group(2)
        if var is not None:
            if var not in variables:
                raise CorpusError("undefined variable ${%s}" % var)
            out += variables[var]
        elif esc == "0":
            out += b"\0"
        elif esc == "\\":
            out += b"\\"
        elif esc == "n":
            out += b"\n"
        elif esc == "t":
            out += b"\t"
        elif esc.startswith("x"):
            out.append(int(esc[1:], 16))
        elif esc.startswith("I{"):
            out += int(esc[2:-1]).to_bytes(4, "little")
        else:
            text, count = esc[1:-1].rsplit("*", 1)
            out += text.encode("latin-1") * int(count)
    rest = payload[pos:]
    if "\\" in rest:
        raise CorpusError("unknown escape in %r" % rest)
    out += rest.encode("latin-1")
    return bytes(out)


def _parse_opts(words, where):
    opts = {}
    for w in words:
        if w == "noreply":
            opts["noreply"] = True
        elif "=" in w:
            k, v = w.split("=", 1)
            if k not in ("tx", "save", "rid"):
                raise CorpusError("%s: unknown option %r" % (where, k))
            opts[k] = v
        else:
            raise CorpusError("%s: bad option %r" % (where, w))
    return opts


def parse_wait_field(what):
    """`FIELD=N` or `FIELD!=N` of a wait step as (field, "=" or "!=", N)."""
    m = re.fullmatch(r"([a-z_]+)(!?=)(0x[0-9a-fA-F]+|[0-9]+)", what)
    if not m or m.group(1) not in RING_FIELDS:
        raise CorpusError("wait takes 'event', FIELD=N or FIELD!=N (FIELD one of %s)"
                          % ", ".join(RING_FIELDS))
    return m.group(1), m.group(2), int(m.group(3), 0)


def _parse_line(lineno, text, where):
    head, sep, payload = text.partition(": ")
    if not sep and text.endswith(":"):
        head, sep, payload = text[:-1], ":", ""
    words = head.split()
    first = words[0]
    if first == "repeat":
        return Step(lineno, text, first)
    if first in KEYWORDS:
        if sep:
            raise CorpusError("%s: directive %r takes no payload" % (where, first))
        return Step(lineno, text, first, args=words[1:])
    if len(words) < 2:
        raise CorpusError("%s: expected 'CONN COMMAND'" % where)
    conn, cmd = words[0], words[1]
    if cmd in CONN_COMMANDS:
        if cmd == "raw" and not sep:
            raise CorpusError("%s: raw needs ': BYTES'" % where)
        if cmd == "wait":
            if len(words) != 3:
                raise CorpusError("%s: NAME wait event|FIELD=N|FIELD!=N" % where)
            if words[2] != "event":
                try:
                    parse_wait_field(words[2])
                except CorpusError as e:
                    raise CorpusError("%s: %s" % (where, e)) from None
        return Step(lineno, text, cmd, conn=conn, args=words[2:], payload=payload)
    if not sep:
        raise CorpusError("%s: request needs ':' before its payload" % where)
    return Step(lineno, text, "request", conn=conn, args=[cmd],
                opts=_parse_opts(words[2:], where), payload=payload)


def _expand(step, where):
    """The plain steps a shorthand directive stands for."""
    if step.kind == "guest":
        return _expand_guest(step, where)
    if step.kind == "repeat":
        parts = step.text.split(None, 2)
        count, line = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
        if not count.isdigit() or not line:
            raise CorpusError("%s: repeat N LINE" % where)
        steps = [_parse_line(step.line, line.replace("${i}", str(i)), where)
                 for i in range(1, int(count) + 1)]
        if any(s.kind in KEYWORDS for s in steps):
            raise CorpusError("%s: repeat takes a connection line" % where)
        return steps
    return [step]


def _expand_guest(step, where):
    """The steps `guest CTRL NAME DOMID [port=P]` stands for."""
    if len(step.args) < 3:
        raise CorpusError("%s: guest CTRL NAME DOMID [port=P]" % where)
    ctrl, name, domid = step.args[:3]
    port = "1"
    for a in step.args[3:]:
        if not a.startswith("port="):
            raise CorpusError("%s: bad guest option %r" % (where, a))
        port = a[5:]
    home = "/local/domain/%s" % domid
    lines = ["open %s guest %s port=%s" % (name, domid, port),
             "%s MKDIR: %s\\0" % (ctrl, home),
             "%s SET_PERMS: %s\\0n%s\\0" % (ctrl, home, domid),
             "%s INTRODUCE: %s\\0%s\\0%s\\0" % (ctrl, domid, 4660, port)]
    return [_parse_line(step.line, t, where) for t in lines]


def parse_file(path):
    """Parse one corpus file into a list of entries."""
    stem = os.path.splitext(os.path.basename(path))[0]
    entries = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            text = raw.rstrip("\n")
            where = "%s:%d" % (path, lineno)
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            if text.startswith("=== "):
                entries.append(Entry("%s/%s" % (stem, text[4:].strip()), path, lineno))
                continue
            if not entries:
                raise CorpusError("%s: step before the first '=== NAME'" % where)
            step = _parse_line(lineno, text.strip(), where)
            entries[-1].steps += _expand(step, where)
    ids = [e.id for e in entries]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise CorpusError("%s: duplicate entry names %s" % (path, sorted(dup)))
    return entries


def load(paths):
    """Parse every corpus file given (directories are searched for *.xs)."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, n) for n in os.listdir(p) if n.endswith(".xs"))
        else:
            files.append(p)
    entries = []
    for f in files:
        entries += parse_file(f)
    return entries
