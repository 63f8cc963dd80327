"""Replay one corpus entry against one running daemon and record a transcript.

The transcript is a list of `(step, lines)`: for every step the messages the
client received because of it, rendered one per line. Rendering is a
bijection of the bytes (header fields plus the escaped payload), except for
the normalisations below, so two transcripts are equal exactly when the
daemons sent the same bytes.

Normalisations (each one is a value the protocol lets a server choose):
- Transaction ids. A successful TRANSACTION_START reply shows `<NAME>`
  (its `save=` variable) or `<txN>` (N counts successful starts in the
  entry) instead of the number. A reply header's tx_id shows `<VAR>` when it
  equals the id the request was sent with from variable VAR, else the number
  (0 for watch events; literal ids the corpus writes are shown as they are).
- DIRECTORY_PART generation counts. The first field of a DIRECTORY_PART
  reply becomes `<genN>`, N numbering distinct values in order of first
  appearance, so equal/different generations stay visible as such.

A connection that stops working is shown as `NAME: (closed by daemon)` or
`NAME: (ring error=N)`, on the step where that is found and on every later
step of that connection. Whether a client notices a closed socket while
sending (EPIPE) or while receiving (EOF) is a race the daemon does not
control, so both look the same, and whatever the daemon sent before it
closed is always read and shown first.

Nothing here sleeps a fixed time: every wait ends at something the daemon
does (a reply, a watch event, a ring field, accepting a connection,
exiting), with a deadline (PATIENCE_S) that only a hung daemon reaches; a
wait that reaches it shows up in the transcript.
"""
import os
import sys
import time

import corpus

# The simring guest library of the peers kit (tests/peers/simring.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "peers"))
import simring  # noqa: E402

SYNC_TYPE = "GET_DOMAIN_PATH"
SYNC_PAYLOAD = b"0\0"
# How long to wait for a reply, a watch event or a ring field before giving
# up. Every wait ends at an event the daemon must produce, so this deadline
# is only reached by a daemon that hangs (or really never answers): it is
# generous, so a loaded machine never hits it. The informational oxenstored
# run passes a short one instead (xsdiff.py), because oxenstored leaves some
# requests unanswered and its transcripts are not compared.
PATIENCE_S = 30.0
RUN_MIN = 16
RING_FIELDS = ("server_features", "connection", "error")
XS_WATCH_EVENT = 15
INVALID_TX = 0xfffffff0
# Types newer than simring.py's table (xs_wire.h, Xen 4.21/4.22).
EXTRA_TYPES = {23: "GET_FEATURE", 24: "SET_FEATURE", 25: "GET_QUOTA", 26: "SET_QUOTA"}


def render_bytes(data):
    """Escape bytes the way corpus payloads are written (reversible): runs of
    RUN_MIN or more equal printable bytes are shown as `\\{c*N}`."""
    out = []
    i = 0
    while i < len(data):
        ch = data[i]
        j = i
        while j < len(data) and data[j] == ch:
            j += 1
        if j - i >= RUN_MIN and 0x20 <= ch < 0x7f and ch not in (0x5c, 0x7d, 0x2a, 0x22):
            out.append("\\{%s*%d}" % (chr(ch), j - i))
            i = j
            continue
        if ch == 0:
            out.append("\\0")
        elif ch == 0x5c:
            out.append("\\\\")
        elif 0x20 <= ch < 0x7f:
            out.append(chr(ch))
        else:
            out.append("\\x%02x" % ch)
        i += 1
    return '"%s"' % "".join(out)


class Symbols:
    """Names for server-chosen values (see the module doc)."""

    def __init__(self):
        self.tx_count = 0
        self.gen = {}

    def new_tx(self, name=None):
        self.tx_count += 1
        return "<%s>" % (name or "tx%d" % self.tx_count)

    def gen_name(self, value):
        if value not in self.gen:
            self.gen[value] = "gen%d" % (len(self.gen) + 1)
        return "<%s>" % self.gen[value]


class Replayer:
    """Drives the connections of one entry against one daemon."""

    def __init__(self, daemon, patience=PATIENCE_S):
        self.sr = simring
        self.daemon = daemon
        self.patience = patience
        self.conns = {}
        self.dead = {}
        self.vars = {}
        self.sym = Symbols()
        self.rid = 0
        self.pending_save = None
        self.req_tx = (0, None)

    def deadline(self):
        return time.monotonic() + self.patience

    # -- rendering --
    def render_msg(self, name, hdr, body):
        ty, rid, tx, ln = hdr
        tname = self.sr.XS_NAME.get(ty) or EXTRA_TYPES.get(ty, str(ty))
        if tname == "TRANSACTION_START" and body.endswith(b"\0") and body[:-1].isdigit():
            shown = '"%s\\0"' % self.sym.new_tx(self.pending_save)
        elif tname == "DIRECTORY_PART" and b"\0" in body and body.split(b"\0", 1)[0].isdigit():
            gen, rest = body.split(b"\0", 1)
            shown = '"%s' % self.sym.gen_name(int(gen)) + render_bytes(b"\0" + rest)[1:]
        else:
            shown = render_bytes(body)
        extra = "" if ln == len(body) else " len=%d" % ln
        value, var = self.req_tx
        txs = "<%s>" % var if var and tx == value and ty != XS_WATCH_EVENT else str(tx)
        return "%s< %s rid=%d tx=%s%s %s" % (name, tname, rid, txs, extra, shown)

    # -- connection plumbing --
    def conn(self, name, out):
        """The live connection `name`, or None (with the reason in out)."""
        if name in self.dead:
            out.append("%s: (%s)" % (name, self.dead[name]))
            return None
        if name not in self.conns:
            raise corpus.CorpusError("connection %r is not open" % name)
        c = self.conns[name]
        if isinstance(c, self.sr.Guest) and c.error:
            self.died(name, "ring error=%d" % c.error, out)
            return None
        return c

    def died(self, name, why, out):
        self.dead[name] = why
        out.append("%s: (%s)" % (name, why))

    def failed(self, name, c, exc, out):
        """Records why c stopped working. A closed socket is read to its
        end first: the messages the daemon sent before closing belong to
        the transcript however the close was noticed."""
        if isinstance(c, self.sr.Guest) and c.error:
            why = "ring error=%d" % c.error
        elif isinstance(exc, (self.sr.Closed, OSError)):
            why = "closed by daemon"
            if isinstance(c, self.sr.Control):
                self.read_to_end(name, c, out)
        elif isinstance(exc, self.sr.XsTimeout):
            why = "ring full"
        else:
            why = "ring failure"
        self.died(name, why, out)

    def read_to_end(self, name, c, out):
        """Renders what a closed socket still holds. The peer has closed, so
        this never waits (the deadline only guards against surprises)."""
        deadline = self.deadline()
        while True:
            try:
                hdr, body = c.recv_msg(deadline)
            except (self.sr.Closed, self.sr.XsTimeout, OSError):
                return
            out.append(self.render_msg(name, hdr, body))

    def receive_until(self, name, c, rid, out):
        """Record messages on c until the reply to rid (or a failure)."""
        deadline = self.deadline()
        while True:
            try:
                hdr, body = c.recv_msg(deadline)
            except self.sr.XsTimeout:
                out.append("%s< (no reply)" % name)
                return
            except (self.sr.RingError, self.sr.Closed, OSError) as e:
                self.failed(name, c, e, out)
                return
            out.append(self.render_msg(name, hdr, body))
            if hdr[1] == rid and hdr[0] != self.sr.XS["WATCH_EVENT"]:
                return

    def send(self, name, c, data, out):
        try:
            c.send_bytes(data, self.deadline())
            return True
        except (self.sr.RingError, self.sr.XsTimeout, self.sr.Closed, OSError) as e:
            self.failed(name, c, e, out)
            return False

    # -- steps --
    def request(self, step, out):
        c = self.conn(step.conn, out)
        if c is None:
            return
        ty = step.args[0]
        ty = int(ty, 0) if ty[0].isdigit() else self.sr.XS.get(ty, ty)
        if isinstance(ty, str):
            ty = {v: k for k, v in EXTRA_TYPES.items()}.get(ty)
            if ty is None:
                raise corpus.CorpusError("line %d: unknown type %s" % (step.line, step.args[0]))
        txref = step.opts.get("tx", "0")
        if txref in self.vars:
            v = self.vars[txref]
            # A failed TRANSACTION_START saved an error name: use an id no
            # daemon hands out, so the difference shows in later replies.
            tx = int(v) if v.isdigit() else INVALID_TX
        else:
            tx = int(txref, 0)
        payload = corpus.expand(step.payload, self.vars)
        self.req_tx = (tx, txref if txref in self.vars else None)
        if "rid" in step.opts:
            rid = int(step.opts["rid"], 0)
        else:
            self.rid += 1
            rid = self.rid
        if not self.send(step.conn, c, self.sr.HDR.pack(ty, rid, tx, len(payload)) + payload, out):
            return
        if step.opts.get("noreply"):
            return
        self.pending_save = step.opts.get("save")
        c._last_body = None
        self.receive_until(step.conn, c, rid, out)
        self.pending_save = None
        if "save" in step.opts and c._last_body is not None:
            # The reply is the last non-event message; keep its first field.
            self.vars[step.opts["save"]] = c._last_body.split(b"\0", 1)[0]

    def events(self, step, out):
        c = self.conn(step.conn, out)
        if c is None:
            return
        self.req_tx = (0, None)
        self.rid += 1
        if self.send(step.conn, c, self.sr.HDR.pack(self.sr.XS[SYNC_TYPE], self.rid, 0,
                                                     len(SYNC_PAYLOAD)) + SYNC_PAYLOAD, out):
            self.receive_until(step.conn, c, self.rid, out)

    def wait(self, step, out):
        """`NAME wait event`: record what arrives on NAME up to and including
        the next watch event. `NAME wait FIELD=N` or `FIELD!=N`: wait until
        the guest's ring field compares so (e.g. the daemon sets `error`)."""
        what = step.args[0]
        if what == "event":
            c = self.conn(step.conn, out)
            if c is None:
                return
            self.req_tx = (0, None)
            deadline = self.deadline()
            while True:
                try:
                    hdr, body = c.recv_msg(deadline)
                except self.sr.XsTimeout:
                    out.append("%s< (no event)" % step.conn)
                    return
                except (self.sr.RingError, self.sr.Closed, OSError) as e:
                    self.failed(step.conn, c, e, out)
                    return
                out.append(self.render_msg(step.conn, hdr, body))
                if hdr[0] == XS_WATCH_EVENT:
                    return
        field, op, value = corpus.parse_wait_field(what)
        c = self.conns[step.conn]
        if op == "=":
            def cond():
                return c.get(field) == value
        else:
            def cond():
                return c.get(field) != value
        try:
            c.wait_until(what, cond, timeout=self.patience)
        except self.sr.XsTimeout:
            out.append("%s: (still not %s: %s=%d)" % (step.conn, what, field, c.get(field)))

    def run_step(self, step, out):
        k = step.kind
        if k == "open":
            self.open(step)
        elif k == "close":
            c = self.conns.pop(step.args[0])
            c.close()
        elif k == "state":
            self.sr.set_domain_state(self.daemon.simring, int(step.args[0]), step.args[1])
        elif k == "virq":
            self.sr.trigger_virq(self.daemon.simring)
        elif k == "wait":
            self.wait(step, out)
        elif k == "request":
            self.request(step, out)
        elif k == "events":
            self.events(step, out)
        elif k == "ring":
            c = self.conns[step.conn]
            out.append("%s: %s" % (step.conn, " ".join("%s=%d" % (f, c.get(f)) for f in RING_FIELDS)))
        elif k == "set":
            c = self.conns[step.conn]
            for a in step.args:
                f, v = a.split("=", 1)
                c.set(f, int(v, 0))
        elif k == "raw":
            c = self.conn(step.conn, out)
            if c is not None:
                self.send(step.conn, c, corpus.expand(step.payload, self.vars), out)
        else:
            raise corpus.CorpusError("line %d: unknown step %s" % (step.line, k))

    def open(self, step):
        name, kind = step.args[0], step.args[1]
        if kind == "sock":
            c = self._connect(name)
        elif kind == "guest":
            port = 1
            for a in step.args[3:]:
                if a.startswith("port="):
                    port = int(a[5:])
            c = self.sr.Guest(int(step.args[2]), self.daemon.simring, port=port, name=name)
        else:
            raise corpus.CorpusError("line %d: open NAME sock|guest DOMID" % step.line)
        _remember_last_body(c)
        self.conns[name] = c

    def _connect(self, name):
        # A daemon may bind its socket a moment before it listens on it.
        deadline = self.deadline()
        while True:
            try:
                return self.sr.Control(self.daemon.socket, name=name)
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def finish(self, out):
        """Drain every live connection's pending events, then close all."""
        for name in sorted(self.conns):
            if name not in self.dead:
                self.events(corpus.Step(0, "", "events", conn=name), out)
        for c in self.conns.values():
            try:
                c.close()
            except OSError:
                pass
        self.conns = {}


def _remember_last_body(c):
    """Wrap c.recv_msg so the last received payload is kept for save=."""
    inner = c.recv_msg

    def recv(deadline):
        hdr, body = inner(deadline)
        if hdr[0] != XS_WATCH_EVENT:
            c._last_body = body
        return hdr, body
    c.recv_msg = recv


def daemon_gone(daemon, patience):
    """Why the daemon no longer serves, or None when it answers a request on
    a new connection. One that refuses the connection (or closes it) must
    be exiting, so its exit is awaited: a crash is reported the same however
    soon this looks."""
    try:
        probe = simring.Control(daemon.socket, name="probe")
        try:
            probe.request(SYNC_TYPE, SYNC_PAYLOAD, timeout=patience)
            return None
        finally:
            probe.close()
    except simring.XsTimeout:
        return "(daemon not answering)"
    except (simring.Closed, OSError):
        pass
    deadline = time.monotonic() + patience
    while daemon.alive():
        if time.monotonic() > deadline:
            return "(daemon refuses connections)"
        time.sleep(0.01)
    return "(daemon exited)"


def replay(daemon, entry, patience=PATIENCE_S):
    """Run entry against daemon; returns [(step, [lines])] plus a final
    pseudo-step with the events drained at the end and daemon liveness.
    `patience` bounds every wait (see PATIENCE_S)."""
    r = Replayer(daemon, patience)
    transcript = []
    try:
        for step in entry.steps:
            out = []
            r.run_step(step, out)
            if step.kind in ("request", "events", "ring", "raw") or out:
                transcript.append((step, out))
        out = []
        r.finish(out)
    finally:
        for c in r.conns.values():
            try:
                c.close()
            except OSError:
                pass
    gone = daemon_gone(daemon, patience)
    if gone:
        out.append(gone)
    transcript.append((corpus.Step(0, "(end: pending events)", "end"), out))
    return transcript
