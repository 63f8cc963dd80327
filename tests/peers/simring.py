"""Guests and a toolstack for a xenstore daemon, over the simring convention.

The convention (tests/peers/README.md, the normative copy) gives a daemon
on plain Linux real guest rings: a guest's ring page is the file
`ring-<domid>` that both sides map, event channels are Unix datagram sockets
(`evtchn-server`, `evtchn-<domid>`), and domain state is marker files
(`gone-`, `dying-`, `shutdown-<domid>`) plus `virq 3` datagrams.

    Guest(domid, simring_dir, port)  one guest: its ring page and event socket
    Control(socket_path)             a Unix-socket client (always dom0), e.g.
                                     the toolstack that sends INTRODUCE
    trigger_virq(dir)                raise VIRQ_DOM_EXC at the daemon
    set_domain_state(dir, domid, s)  write the domain-state markers
    new_guest(ctl, dir, domid)       a guest with a home it owns, introduced
    run_case, check, eq, Skip        the test scripts' cases and checks

Both connection kinds have `request(type, payload, tx=0) -> Reply`, helpers
named after the message types (`read`, `write`, `watch`, ...), the raw
`send_bytes` / `recv_msg` pair, and collect unsolicited watch events in
`.events`. Waits take a deadline and raise `XsTimeout` when it passes;
the defaults are generous so that only a hang hits them.

Memory ordering: the ring indices are read and written as aligned 32-bit
values through ctypes, and x86 keeps stores in order with stores and loads
with loads, so "copy the data, then bump the index" needs no fence here.
"""
import ctypes
import mmap
import os
import select
import socket
import struct
import time
import traceback
from collections import namedtuple

# enum xsd_sockmsg_type (xs_wire.h), the types a 4.17 daemon knows.
XS = {
    "CONTROL": 0, "DIRECTORY": 1, "READ": 2, "GET_PERMS": 3, "WATCH": 4,
    "UNWATCH": 5, "TRANSACTION_START": 6, "TRANSACTION_END": 7,
    "INTRODUCE": 8, "RELEASE": 9, "GET_DOMAIN_PATH": 10, "WRITE": 11,
    "MKDIR": 12, "RM": 13, "SET_PERMS": 14, "WATCH_EVENT": 15, "ERROR": 16,
    "IS_DOMAIN_INTRODUCED": 17, "RESUME": 18, "SET_TARGET": 19,
    "RESET_WATCHES": 21, "DIRECTORY_PART": 22,
}
XS_NAME = {number: name for name, number in XS.items()}

# struct xsd_sockmsg: type, req_id, tx_id, len (u32 little-endian).
HDR = struct.Struct("<IIII")
PAYLOAD_MAX = 4096

# struct xenstore_domain_interface in the 4096-byte page.
PAGE_BYTES = 4096
RING_BYTES = 1024
REQ_OFFSET, RSP_OFFSET = 0, 1024
FIELD_OFFSETS = {
    "req_cons": 2048, "req_prod": 2052, "rsp_cons": 2056, "rsp_prod": 2060,
    "server_features": 2064, "connection": 2068, "error": 2072,
}
INDICES = ("req_cons", "req_prod", "rsp_cons", "rsp_prod")
XENSTORE_CONNECTED, XENSTORE_RECONNECT = 0, 1
VIRQ_DOM_EXC = 3
U32 = 0xFFFFFFFF

# Seconds a request waits for its reply unless told otherwise: long enough
# for any loaded machine, short enough to report a hung daemon.
DEFAULT_TIMEOUT_S = 30.0
# A guest re-reads its ring this often even without a notification. Events
# are only hints; this is a safety net, not something a result depends on.
RING_POLL_S = 0.2
# The request used to flush queued events: harmless and always answered.
SYNC_REQUEST = ("GET_DOMAIN_PATH", b"0\0")


class XsTimeout(Exception):
    """A deadline passed while waiting."""


class RingError(Exception):
    """The guest's ring is unusable: the daemon set its error field, or the
    indices are out of range."""


class Closed(Exception):
    """The daemon closed the connection."""


class Reply(namedtuple("Reply", "type req_id tx_id payload")):
    """A reply message."""

    @property
    def name(self):
        return XS_NAME.get(self.type, str(self.type))

    @property
    def ok(self):
        return self.type != XS["ERROR"]

    @property
    def err(self):
        """The error name ('EACCES', ...) of an XS_ERROR reply, else None."""
        return self.payload.rstrip(b"\0").decode("latin-1") if not self.ok else None

    def __str__(self):
        return "%s %r" % (self.name, self.payload)


def as_bytes(x):
    return x if isinstance(x, bytes) else str(x).encode()


def strings(*parts):
    """The payload b'a\\0b\\0' for ('a', 'b')."""
    return b"".join(as_bytes(p) + b"\0" for p in parts)


def deadline_in(seconds):
    return time.monotonic() + (DEFAULT_TIMEOUT_S if seconds is None else seconds)


class Connection:
    """What a socket client and a guest have in common. A subclass provides
    `send_bytes(data, deadline)` and `_fill(deadline)`, which appends what
    arrived to `self.rx` (raising XsTimeout or Closed)."""

    name = "conn"

    def __init__(self):
        self.req_id = 0
        self.rx = bytearray()
        self.events = []  # [(path, token)], oldest first

    # -- messages --
    def recv_msg(self, deadline):
        """The next whole message: ((type, req_id, tx_id, len), payload)."""
        while True:
            if len(self.rx) >= HDR.size:
                hdr = HDR.unpack_from(self.rx)
                end = HDR.size + hdr[3]
                if len(self.rx) >= end:
                    body = bytes(self.rx[HDR.size:end])
                    del self.rx[:end]
                    return hdr, body
            self._fill(deadline)

    def request(self, type, payload=b"", tx=0, timeout=None):
        """Sends one request and returns its reply; watch events that arrive
        first go to self.events."""
        if isinstance(type, str):
            type = XS[type]
        payload = as_bytes(payload)
        self.req_id = (self.req_id + 1) & U32
        deadline = deadline_in(timeout)
        self.send_bytes(HDR.pack(type, self.req_id, tx, len(payload)) + payload, deadline)
        while True:
            hdr, body = self.recv_msg(deadline)
            if hdr[0] == XS["WATCH_EVENT"]:
                self._event(body)
            elif hdr[1] == self.req_id:
                return Reply(hdr[0], hdr[1], hdr[2], body)

    def _event(self, body):
        parts = body.split(b"\0")
        self.events.append((parts[0], parts[1] if len(parts) > 1 else b""))

    def wait_event(self, timeout=None):
        """The oldest watch event (path, token), waiting for one if none is
        queued yet; XsTimeout when none comes."""
        deadline = deadline_in(timeout)
        while not self.events:
            hdr, body = self.recv_msg(deadline)
            if hdr[0] == XS["WATCH_EVENT"]:
                self._event(body)
        return self.events.pop(0)

    def drain_events(self, timeout=None):
        """Every watch event the daemon has queued for this connection so
        far, oldest first. A daemon sends a connection's events and replies
        in one stream, so the events queued before a harmless request come
        before its reply: no waiting for events that may or may not come."""
        self.request(*SYNC_REQUEST, timeout=timeout)
        events, self.events = self.events, []
        return events

    # -- helpers (each returns a Reply) --
    def read(self, path, tx=0):
        return self.request("READ", strings(path), tx)

    def write(self, path, value, tx=0):
        return self.request("WRITE", strings(path) + as_bytes(value), tx)

    def mkdir(self, path, tx=0):
        return self.request("MKDIR", strings(path), tx)

    def rm(self, path, tx=0):
        return self.request("RM", strings(path), tx)

    def directory(self, path, tx=0):
        return self.request("DIRECTORY", strings(path), tx)

    def get_perms(self, path, tx=0):
        return self.request("GET_PERMS", strings(path), tx)

    def set_perms(self, path, *perms, tx=0):
        return self.request("SET_PERMS", strings(path, *perms), tx)

    def watch(self, path, token):
        return self.request("WATCH", strings(path, token))

    def unwatch(self, path, token):
        return self.request("UNWATCH", strings(path, token))

    def transaction_start(self):
        return self.request("TRANSACTION_START", b"\0")

    def transaction_end(self, tx, commit=True):
        return self.request("TRANSACTION_END", b"T\0" if commit else b"F\0", tx)

    def get_domain_path(self, domid):
        return self.request("GET_DOMAIN_PATH", strings(domid))

    def is_domain_introduced(self, domid):
        return self.request("IS_DOMAIN_INTRODUCED", strings(domid))

    def introduce(self, domid, gfn, port):
        """XS_INTRODUCE "<domid>\\0<gfn>\\0<port>\\0": port is the guest's
        end of its event channel (the gfn is not used by the convention)."""
        return self.request("INTRODUCE", strings(domid, gfn, port))

    def release(self, domid):
        return self.request("RELEASE", strings(domid))


class Control(Connection):
    """A client on the daemon's Unix socket ($XENSTORED_PATH by default).
    The daemon treats it as dom0, privileged."""

    def __init__(self, path=None, name="dom0sock"):
        super().__init__()
        self.name = name
        self.path = path or os.environ["XENSTORED_PATH"]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

    def send_bytes(self, data, deadline):
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise XsTimeout("%s: send blocked" % self.name) from None
        except (BrokenPipeError, ConnectionResetError):
            raise Closed(self.name) from None

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise XsTimeout("%s: no reply" % self.name)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise XsTimeout("%s: no reply" % self.name) from None
        except ConnectionResetError:
            data = b""
        if not data:
            raise Closed(self.name)
        self.rx += data

    def close(self):
        self.sock.close()


class Guest(Connection):
    """Guest `domid` on the ring page `ring-<domid>` in `simring_dir`.

    `port` is the guest's end of its event channel; the toolstack passes the
    same number in XS_INTRODUCE (dom0's is the daemon's xsd_port, 1 unless
    $XSSHIM_DOM0_PORT says otherwise). Create the guest before the
    INTRODUCE: the page is created zero-filled if missing, never truncated.
    """

    def __init__(self, domid, simring_dir, port=1, name=None):
        super().__init__()
        self.domid = int(domid)
        self.port = int(port)
        self.name = name or "dom%d" % self.domid
        os.makedirs(simring_dir, exist_ok=True)
        fd = os.open(os.path.join(simring_dir, "ring-%d" % self.domid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < PAGE_BYTES:
                os.ftruncate(fd, PAGE_BYTES)
            self.page = mmap.mmap(fd, PAGE_BYTES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._fields = {f: ctypes.c_uint32.from_buffer(self.page, off) for f, off in FIELD_OFFSETS.items()}
        self.server_path = os.path.join(simring_dir, "evtchn-server")
        self.event_path = os.path.join(simring_dir, "evtchn-%d" % self.domid)
        # Our end: the daemon's notifications arrive here.
        self.events_in = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(self.event_path):
            os.unlink(self.event_path)
        self.events_in.bind(self.event_path)
        self.events_in.setblocking(False)
        # Notifications to the daemon block rather than drop when its queue
        # is full (net.unix.max_dgram_qlen, 10 by default, shared by all
        # guests); the timeout only reports a daemon that stopped reading.
        self.events_out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.events_out.settimeout(DEFAULT_TIMEOUT_S)

    # -- page fields --
    def get(self, field):
        return self._fields[field].value

    def set(self, field, value):
        self._fields[field].value = value & U32

    @property
    def connection(self):
        return self.get("connection")

    def set_connection(self, value):
        self.set("connection", value)

    @property
    def error(self):
        return self.get("error")

    @property
    def server_features(self):
        return self.get("server_features")

    def indices(self):
        return {f: self.get(f) for f in INDICES}

    def reset_indices(self, base):
        """Sets all four indices to `base` (e.g. 0xffffff00, to cross the
        2^32 wrap soon). Only while both rings are empty and the daemon has
        nothing to do for this guest, e.g. right after INTRODUCE."""
        for f in INDICES:
            self.set(f, base)

    # -- event channel --
    def notify(self):
        """Signals the daemon: 'notify <domid> <port>' to evtchn-server."""
        try:
            self.events_out.sendto(b"notify %d %d" % (self.domid, self.port), self.server_path)
        except socket.timeout:
            raise XsTimeout("%s: the daemon does not read its event channel" % self.name) from None
        except (FileNotFoundError, ConnectionRefusedError):
            pass  # The daemon is gone; the wait that follows reports it.

    def _wait_for_notification(self, deadline):
        """Sleeps until the daemon notifies us, RING_POLL_S passes, or the
        deadline does (then XsTimeout)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise XsTimeout("%s: nothing from the daemon (indices %s)" % (self.name, self.indices()))
        readable, _, _ = select.select([self.events_in], [], [], min(left, RING_POLL_S))
        if readable:
            while True:
                try:
                    self.events_in.recv(256)
                except BlockingIOError:
                    break

    def wait_until(self, what, cond, timeout=None):
        """Waits until cond() holds, re-checking after every notification."""
        deadline = deadline_in(timeout)
        while not cond():
            try:
                self._wait_for_notification(deadline)
            except XsTimeout:
                raise XsTimeout("%s: still waiting for %s" % (self.name, what)) from None

    def wait_connection(self, value=XENSTORE_CONNECTED, timeout=None):
        self.wait_until("connection=%d" % value, lambda: self.connection == value, timeout)

    def wait_error(self, timeout=None):
        """Waits until the daemon sets the page's error field; its value."""
        self.wait_until("the error field", lambda: self.error != 0, timeout)
        return self.error

    def _check_error(self):
        if self.error:
            raise RingError("%s: the daemon set error=%d" % (self.name, self.error))

    def _ring_used(self, cons_field, prod_field):
        cons, prod = self.get(cons_field), self.get(prod_field)
        used = (prod - cons) & U32
        if used > RING_BYTES:
            raise RingError("%s: bad indices %s=%#x %s=%#x" % (self.name, cons_field, cons, prod_field, prod))
        return cons, prod, used

    # -- ring I/O --
    def send_bytes(self, data, deadline):
        """Copies data into the request ring as space allows, notifying the
        daemon after each chunk."""
        data = memoryview(bytes(data))
        while data:
            self._check_error()
            _, prod, used = self._ring_used("req_cons", "req_prod")
            if used == RING_BYTES:
                self._wait_for_notification(deadline)
                continue
            offset = prod & (RING_BYTES - 1)
            n = min(RING_BYTES - used, RING_BYTES - offset, len(data))
            start = REQ_OFFSET + offset
            self.page[start:start + n] = data[:n]
            self.set("req_prod", prod + n)  # after the data
            data = data[n:]
            self.notify()

    def _fill(self, deadline):
        """Moves what the response ring holds into self.rx, waiting for the
        daemon while it is empty."""
        while True:
            cons, _, avail = self._ring_used("rsp_cons", "rsp_prod")
            if avail:
                break
            self._check_error()
            self._wait_for_notification(deadline)
        while avail:
            offset = cons & (RING_BYTES - 1)
            n = min(avail, RING_BYTES - offset)
            start = RSP_OFFSET + offset
            self.rx += self.page[start:start + n]
            cons = (cons + n) & U32
            avail -= n
        self.set("rsp_cons", cons)  # after copying
        self.notify()

    def close(self):
        """Stops being this guest: unmaps the page and unbinds the socket
        (the daemon still has the guest introduced)."""
        self._fields = {}
        try:
            self.page.close()
        except BufferError:
            pass  # a caller still holds a view; the mapping goes with it
        self.events_in.close()
        self.events_out.close()
        try:
            os.unlink(self.event_path)
        except FileNotFoundError:
            pass


def trigger_virq(simring_dir, virq=VIRQ_DOM_EXC):
    """Raises a VIRQ at the daemon (3, VIRQ_DOM_EXC: re-check all domains)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.settimeout(DEFAULT_TIMEOUT_S)
        s.sendto(b"virq %d" % virq, os.path.join(simring_dir, "evtchn-server"))


def set_domain_state(simring_dir, domid, state, reason=None):
    """Sets the markers for `state`: running, shutdown, crashed (a shutdown
    with reason 3), dying or gone. The daemon looks when it next asks for
    domain information, e.g. after trigger_virq()."""
    if state not in ("running", "shutdown", "crashed", "dying", "gone"):
        raise ValueError(state)
    for marker in ("shutdown", "dying", "gone"):
        try:
            os.unlink(os.path.join(simring_dir, "%s-%d" % (marker, domid)))
        except FileNotFoundError:
            pass
    if state in ("shutdown", "crashed"):
        if reason is None:
            reason = 3 if state == "crashed" else 0
        with open(os.path.join(simring_dir, "shutdown-%d" % domid), "w") as f:
            f.write("%d\n" % reason)
    elif state in ("dying", "gone"):
        open(os.path.join(simring_dir, "%s-%d" % (state, domid)), "w").close()


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    if len(args) in (2, 3) and args[0] == "virq":
        trigger_virq(args[1], int(args[2]) if len(args) == 3 else VIRQ_DOM_EXC)
    elif len(args) == 4 and args[0] == "state":
        set_domain_state(args[1], int(args[2]), args[3])
    else:
        sys.exit("usage: simring.py virq DIR [N] | state DIR DOMID running|shutdown|crashed|dying|gone")


# What the test scripts that drive a daemon through this module share
# (host/tests/simring_*.py): TAP-like cases, checks and guest set-up.


class Skip(Exception):
    """Raised by a case that does not apply to this daemon."""


def check(cond, what):
    """Fails the current case with `what` unless `cond`."""
    if not cond:
        raise AssertionError(what)


def eq(got, want, what):
    """Fails the current case unless `got == want`."""
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def run_case(fn, failed, skip=None):
    """Runs case `fn` now and prints "ok - <name>", "ok - <name> # SKIP
    <why>" (it raised Skip, or `skip` gives a reason to skip it) or "not ok
    - <name>: <why>", appending the name to list `failed`; VERBOSE=1 prints
    the traceback too. Returns `fn`, so that a script's decorator can be
    `lambda fn: run_case(fn, FAILED)`."""
    name = fn.__name__.replace("_", " ")
    try:
        if skip:
            raise Skip(skip)
        fn()
        print("ok - %s" % name, flush=True)
    except Skip as e:
        print("ok - %s # SKIP %s" % (name, e), flush=True)
    except Exception as e:  # noqa: BLE001 - report every failure kind
        failed.append(name)
        print("not ok - %s: %s" % (name, e), flush=True)
        if os.environ.get("VERBOSE"):
            traceback.print_exc()
    return fn


def new_guest(ctl, simring_dir, domid, port=None, reconnect=False):
    """Creates guest `domid` (event channel `port`, by default 100 + domid)
    with a home /local/domain/<domid> it owns, and introduces it through
    `ctl`. With `reconnect` the page says XENSTORE_RECONNECT first."""
    port = port if port is not None else 100 + domid
    g = Guest(domid, simring_dir, port)
    if reconnect:
        g.set_connection(XENSTORE_RECONNECT)
    home = "/local/domain/%d" % domid
    check(ctl.write(home + "/domid", str(domid)).ok, "write domid")
    check(ctl.set_perms(home, "n%d" % domid).ok, "chown home")
    check(ctl.set_perms(home + "/domid", "n%d" % domid).ok, "chown domid")
    eq(ctl.introduce(domid, 0x1000 + domid, port).err, None, "introduce %d" % domid)
    return g
