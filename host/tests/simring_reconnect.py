#!/usr/bin/env python3
"""Simulated guests reconnecting rings that reported an error.

Usage: simring_reconnect.py   (environment as for simring_guests.py:
XENSTORED_PATH, SIMRING_DIR, and SIMRING_PY_DIR = where simring.py is, by
default tests/peers/ of this repository, or a copy as recent as it:
the cases use its run_case and new_guest; XS_REFERENCE=c skips it all, C
xenstored neither advertises nor honours reconnection)

After the daemon sets a ring's error field (2 = XENSTORE_ERROR_RINGIDX for
inconsistent indices, 3 = XENSTORE_ERROR_PROTO for a length over 4096) the
guest sets connection = XENSTORE_RECONNECT: the daemon must answer with
XENSTORE_CONNECTED, zeroed indices and a cleared error field, with the
connection's watches gone, and serve requests again. A guest looping error ->
reconnect is rate-limited (deferred, not refused) while everybody else keeps
being served. Each case prints "ok - <name>" or "not ok - <name>: <why>"; the
exit status is the number of failed cases.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SIMRING_PY_DIR") or os.path.join(HERE, "..", "..", "tests", "peers"))
import simring  # noqa: E402
from simring import XS, Control, XsTimeout, check, eq  # noqa: E402

DIR = os.environ["SIMRING_DIR"]
REFERENCE_C = os.environ.get("XS_REFERENCE") == "c"
FAILED = []
RINGIDX, PROTO = 2, 3
# The daemon's reconnection limit per domain (store/src/reconnect.rs):
# a burst, then one per period.
RECONNECT_BURST, RECONNECT_PERIOD_S = 8, 0.25
# Cycles of the storm case: well beyond the burst.
STORM_CYCLES = 40


def case(fn):
    """Runs case `fn` (simring.run_case), failures counted in FAILED;
    skipped against C xenstored."""
    why = "C xenstored does not honour reconnection" if REFERENCE_C else None
    return simring.run_case(fn, FAILED, skip=why)


def new_guest(ctl, domid):
    """simring.new_guest in this daemon's SIMRING_DIR."""
    return simring.new_guest(ctl, DIR, domid)


def send_raw(g, data):
    """Puts raw bytes into the guest's request ring (the method doing it is
    `send_bytes` in current simring.py, `_send` in older copies)."""
    send = getattr(g, "send_bytes", None) or getattr(g, "_send")
    send(data, time.monotonic() + 5)


def no_event(g, timeout=0.5):
    """True if no watch event arrives within `timeout` (older simring.py
    returns None then, current simring.py raises XsTimeout)."""
    try:
        return g.wait_event(timeout) is None
    except XsTimeout:
        return True


def wait_error(g, code, timeout=10.0):
    deadline = time.monotonic() + timeout
    while g.error == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    eq(g.error, code, "error field")


def break_ring(g, how):
    """Makes the daemon set the error field: bad indices or an oversize length."""
    if how == RINGIDX:
        g.set("req_prod", g.get("req_cons") + 2000)
        g.notify()
    else:
        send_raw(g, simring.HDR.pack(XS["WRITE"], 77, 0, 5000))
    wait_error(g, how)


def reconnect(g, timeout=10.0):
    """The guest's half of a reconnection."""
    g.set_connection(simring.XENSTORE_RECONNECT)
    g.notify()
    g.wait_connection(simring.XENSTORE_CONNECTED, timeout=timeout)
    g.rx = bytearray()
    g.events = []


CTL = Control()


def after_error_the_ring_is_served_again(domid, how):
    g = new_guest(CTL, domid)
    check(g.write("w", "").ok, "create")
    eq(g.watch("w", "t").err, None, "watch")
    eq(g.wait_event(2.0), (b"w", b"t"), "initial event")
    break_ring(g, how)
    # Without a reconnection the ring stays unserved, even with consistent
    # indices and the error field cleared by the guest itself.
    g.set("req_prod", g.get("req_cons"))
    g.set("error", 0)
    cons = g.get("req_cons")
    try:
        r = g.request("READ", b"domid\0", timeout=1.0)
        raise AssertionError("served before reconnecting: %r" % (r,))
    except XsTimeout:
        pass
    eq(g.get("req_cons"), cons, "requests consumed before reconnecting")
    reconnect(g)
    eq(g.error, 0, "error field cleared")
    eq(g.indices(), dict(req_cons=0, req_prod=0, rsp_cons=0, rsp_prod=0), "indices reset")
    check(CTL.write("/local/domain/%d/w" % domid, "changed").ok, "dom0 write")
    check(no_event(g), "watch dropped by the reconnection")
    r = g.read("w")
    eq((r.err, r.payload), (None, b"changed"), "served after reconnect")
    eq(CTL.is_domain_introduced(domid).payload.rstrip(b"\0"), b"T", "still introduced")
    return g


@case
def a_ring_with_bad_indices_is_served_again_after_reconnecting():
    after_error_the_ring_is_served_again(40, RINGIDX)


@case
def a_ring_with_an_oversize_length_is_served_again_after_reconnecting():
    after_error_the_ring_is_served_again(41, PROTO)


@case
def a_reconnect_storm_is_rate_limited_and_others_are_served():
    g = new_guest(CTL, 42)
    other = new_guest(CTL, 43)
    start = time.monotonic()
    for i in range(STORM_CYCLES):
        break_ring(g, RINGIDX if i % 2 == 0 else PROTO)
        reconnect(g)
        # The bystander and dom0 are served between every cycle.
        eq(other.write("n", str(i)).err, None, "other guest write %d" % i)
        eq(CTL.read("/local/domain/43/n").payload, str(i).encode(), "dom0 read %d" % i)
    # Every reconnection was honoured (none dropped), but no faster than
    # the limit allows, however fast this machine is.
    took = time.monotonic() - start
    least = (STORM_CYCLES - RECONNECT_BURST - 1) * RECONNECT_PERIOD_S
    check(took >= least, "%d reconnections in %.2f s, the limit allows no less than %.2f s"
          % (STORM_CYCLES, took, least))
    r = g.read("domid")
    eq((r.err, r.payload), (None, b"42"), "served after the storm")


sys.exit(len(FAILED))
