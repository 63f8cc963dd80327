#!/usr/bin/env python3
"""Live update with Debian's xenstore-control: xenstored-rs into another
copy of itself, and a running C xenstored 4.17 (the peers kit's) into
xenstored-rs.

Usage: live_update.py PATH/TO/xenstored-rs   (environment: PEERS = the
peers kit's front end; CACHE as for it.)

Each case starts the old server with a simring directory, then: a
socket client writes nodes and sets permissions, another registers a
watch, a simring guest writes under its home and registers a watch;
`xenstore-control live-update NEW` must exit 0 (it gets the new server's
OK), after which the process has the same pid and runs NEW
(/proc/PID/exe), `xenstore-ls -fp` lists the same tree and permissions,
the old socket watch and the guest's watch fire, the guest's ring is
served, and a new client is served. A second pair of cases drives the
session over a socket as xenstore-control does: while it is active a
TRANSACTION_START from a client without a transaction is held (the
client's next request is answered first), so it does not make the update
wait; `-s` waits for a transaction opened before that the stream cannot
carry (one whose read went stale), and once that ends the new server
answers both the requester and the held start. A last case keeps a
socket client's and a guest's transactions open across the update of
ours into ours: `xenstore-control live-update` does not wait for them,
they go on in the new server and commit with their watch events, and a
transaction it cannot carry, forced with `-F`, answers its commit
`EAGAIN`. Prints "ok - <name>" or "not ok - <name>: <why>" per case; the
exit status counts the failures.

Nothing sleeps to let a daemon catch up: each step waits for what the
daemon does (xenstore-control's exit, a reply, an event), with deadlines
only a hang reaches.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "peers"))
import simring  # noqa: E402
from simring import HDR, XS, Control, check, eq  # noqa: E402

PEERS = os.environ.get("PEERS") or os.path.join(HERE, "..", "..", "tests", "peers", "peers")
OURS = os.path.abspath(sys.argv[1])
FAILED = []
# Generous: only a hung daemon reaches it.
DEADLINE_S = 60


def peers(*args):
    return subprocess.run([PEERS, *args], check=True, stdout=subprocess.PIPE, text=True).stdout.strip()


XENSTORE_CONTROL = peers("bin", "xenstore-control")


def wait_for_file(path, proc=None):
    deadline = time.monotonic() + DEADLINE_S
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        if proc is not None and proc.poll() is not None:
            raise AssertionError("the daemon exited with %s" % proc.returncode)
        check(time.monotonic() < deadline, "%s never appeared" % path)
        time.sleep(0.02)


def ls(env):
    return subprocess.run(["xenstore-ls", "-fp"], env=env, check=True, stdout=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=DEADLINE_S).stdout


def exe(pid):
    return os.readlink("/proc/%d/exe" % pid)


class Run:
    """One old server in a fresh directory: RUN (socket, pid, state) and SR (simring)."""

    def __init__(self, name):
        self.work = tempfile.mkdtemp(prefix="xs-lu-%s." % name)
        self.run = os.path.join(self.work, "run")
        self.sr = os.path.join(self.work, "sr")
        os.makedirs(self.run)
        os.makedirs(self.sr)
        self.env = dict(os.environ, XENSTORED_PATH=os.path.join(self.run, "socket"),
                        XENSTORED_RUNDIR=self.run, SIMRING_DIR=self.sr)
        os.environ["XENSTORED_PATH"] = self.env["XENSTORED_PATH"]
        self.proc = None
        self.pid = None
        # The new binary: a copy, so /proc/PID/exe tells it from the old.
        self.new = os.path.join(self.work, "new-xenstored-rs")
        shutil.copy(OURS, self.new)

    def start_ours(self):
        self.proc = subprocess.Popen(
            [OURS, "--simring", self.sr, "-F", os.path.join(self.run, "pid"), "-W", "50",
             "--log-level", "warn"],
            env=self.env, stdin=subprocess.DEVNULL, stderr=open(os.path.join(self.run, "stderr"), "w"))
        self.started()

    def start_c(self):
        subprocess.run([PEERS, "start", "c", self.run, "-W", "50"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        self.started()

    def started(self):
        wait_for_file(os.path.join(self.run, "pid"), self.proc)
        self.pid = int(open(os.path.join(self.run, "pid")).read())
        # The pid file is written once the socket listens.
        self.ctl = Control(self.env["XENSTORED_PATH"])

    def stop(self):
        if self.pid is not None:
            subprocess.run([PEERS, "stop", self.run], check=False)
        if self.proc is not None:
            self.proc.wait(timeout=DEADLINE_S)
        shutil.rmtree(self.work, ignore_errors=True)


def live_update(run, options=()):
    """Everything before, `xenstore-control live-update [OPTIONS] NEW`, everything after."""
    ctl = run.ctl
    old_exe = exe(run.pid)
    check(ctl.write("/lu/a", "1").ok, "write")
    check(ctl.write("/lu/b/c", "two words").ok, "write")
    check(ctl.set_perms("/lu/b/c", "n3", "r7").ok, "set perms")
    watcher = Control(run.env["XENSTORED_PATH"], name="watcher")
    eq(watcher.watch("/lu/w", "tok").err, None, "socket watch")
    eq(watcher.wait_event(), (b"/lu/w", b"tok"), "initial event")
    guest = simring.new_guest(ctl, run.sr, 7)
    eq(guest.write("data/x", "1").err, None, "guest write")
    eq(guest.watch("data", "gtok").err, None, "guest watch")
    eq(guest.wait_event(), (b"data", b"gtok"), "guest initial event")
    before = ls(run.env)

    r = subprocess.run([XENSTORE_CONTROL, "live-update"] + list(options) + [run.new], env=run.env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=DEADLINE_S)
    eq((r.returncode, r.stdout), (0, b""), "xenstore-control live-update")

    eq(exe(run.pid), run.new, "the new binary runs (was %s)" % old_exe)
    eq(int(open(os.path.join(run.run, "pid")).read()), run.pid, "same pid")
    eq(ls(run.env), before, "xenstore-ls -fp after the update")
    check(not os.path.exists(os.path.join(run.run, "state_dump")), "state file removed")
    fresh = Control(run.env["XENSTORED_PATH"], name="fresh")
    eq(fresh.write("/lu/w", "after").err, None, "a new client writes")
    eq(watcher.wait_event(), (b"/lu/w", b"tok"), "the old socket watch fires")
    eq(fresh.write("/local/domain/7/data/y", "2").err, None, "dom0 writes under the guest")
    eq(guest.wait_event(), (b"data/y", b"gtok"), "the guest's watch fires")
    r = guest.read("data/x")
    eq((r.err, r.payload), (None, b"1"), "the guest's ring is served")
    eq(guest.write("data/z", "3").err, None, "the guest writes")
    eq(ctl.read("/local/domain/7/data/z").payload, b"3", "the old client reads it")
    eq(guest.drain_events(), [(b"data/z", b"gtok")], "no other event")


def new_command_line(run):
    """`live-update -c CMDLINE`: the new binary runs with CMDLINE (and
    `-U`), not the old one's arguments (C's `lu_activate_binary`)."""
    line = "--simring %s -F %s -W 50 --log-level error" % (run.sr, os.path.join(run.run, "pid"))
    live_update(run, ["-c", line])
    with open("/proc/%d/cmdline" % run.pid, "rb") as f:
        argv = f.read().split(b"\0")[:-1]
    eq(argv[1:], [w.encode() for w in line.split()] + [b"-U"], "the new command line")


def lu_args(*args):
    return b"live-update\0" + b"".join(a.encode() + b"\0" for a in args)


def held_start(run):
    """An update waits for an open transaction that the stream cannot
    carry (C: for any); a start sent meanwhile is held, and the new server
    answers it. The session is driven over a socket as xenstore-control
    drives it (`-f`, then `-s`), so that the start is sent once the session
    is active."""
    busy = Control(run.env["XENSTORED_PATH"], name="busy")
    tx = int(busy.transaction_start().payload.rstrip(b"\0"))
    busy.read("/stale", tx=tx)
    check(run.ctl.write("/stale", "changed").ok, "a stale read")
    lu = Control(run.env["XENSTORED_PATH"], name="live-update")
    eq(lu.request("CONTROL", lu_args("-f", run.new)).payload, b"OK\0", "live-update -f")
    writer = Control(run.env["XENSTORED_PATH"], name="writer")
    start = HDR.pack(XS["TRANSACTION_START"], 1, 0, 1) + b"\0"
    write = HDR.pack(XS["WRITE"], 2, 0, 7) + b"/held\0x"
    writer.send_bytes(start + write, time.monotonic() + DEADLINE_S)
    hdr, _ = writer.recv_msg(time.monotonic() + DEADLINE_S)
    eq(hdr[:2], (XS["WRITE"], 2), "the write is answered first, the start held")
    payload = lu_args("-s", "-t", "30")
    lu.send_bytes(HDR.pack(XS["CONTROL"], 77, 0, len(payload)) + payload,
                  time.monotonic() + DEADLINE_S)
    check(busy.transaction_end(tx, commit=False).ok, "transaction end")
    hdr, body = lu.recv_msg(time.monotonic() + DEADLINE_S)
    eq((hdr[:2], body), ((XS["CONTROL"], 77), b"OK\0"), "the new server's OK")
    eq(exe(run.pid), run.new, "the new binary runs")
    hdr, body = writer.recv_msg(time.monotonic() + DEADLINE_S)
    eq(hdr[:2], (XS["TRANSACTION_START"], 1), "the new server answers the held start")
    held = int(body.rstrip(b"\0"))
    eq(writer.write("/held", "in tx", tx=held).err, None, "write in the held transaction")
    check(writer.transaction_end(held).ok, "the held transaction commits")
    eq(run.ctl.read("/held").payload, b"in tx", "its write is there")


def carried(run):
    """Transactions open across the update: carried, then committed."""
    ctl = run.ctl
    check(ctl.write("/lu/t/a", "1").ok, "write")
    watcher = Control(run.env["XENSTORED_PATH"], name="watcher")
    eq(watcher.watch("/lu/t", "tok").err, None, "socket watch")
    eq(watcher.wait_event(), (b"/lu/t", b"tok"), "initial event")
    guest = simring.new_guest(ctl, run.sr, 7)
    eq(guest.write("data/x", "1").err, None, "guest write")
    client = Control(run.env["XENSTORED_PATH"], name="client")
    tx = int(client.transaction_start().payload.rstrip(b"\0"))
    eq(client.read("/lu/t/a", tx=tx).payload, b"1", "read in the transaction")
    eq(client.write("/lu/t/a", "2", tx=tx).err, None, "write in the transaction")
    eq(client.write("/lu/t/b/c", "new", tx=tx).err, None, "create in the transaction")
    gtx = int(guest.transaction_start().payload.rstrip(b"\0"))
    eq(guest.write("data/x", "guest", tx=gtx).err, None, "guest write in its transaction")
    before = ls(run.env)

    r = subprocess.run([XENSTORE_CONTROL, "live-update", "-t", "10", run.new], env=run.env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=DEADLINE_S)
    eq((r.returncode, r.stdout), (0, b""), "xenstore-control live-update, transactions open")
    eq(exe(run.pid), run.new, "the new binary runs")
    eq(ls(run.env), before, "xenstore-ls -fp after the update")
    eq(client.read("/lu/t/b/c", tx=tx).payload, b"new", "the transaction's view")
    eq(client.write("/lu/t/d", "after", tx=tx).err, None, "write in it after the update")
    eq(ctl.read("/lu/t/d").err, "ENOENT", "not committed yet")
    eq(client.transaction_end(tx).err, None, "the transaction commits")
    eq(ctl.read("/lu/t/a").payload, b"2", "its writes landed")
    eq(ctl.read("/lu/t/b/c").payload, b"new", "its creation landed")
    eq(ctl.read("/lu/t/d").payload, b"after", "its write after the update landed")
    eq(sorted(watcher.drain_events()), sorted([(b"/lu/t/a", b"tok"), (b"/lu/t/b/c", b"tok"),
                                               (b"/lu/t/d", b"tok")]), "its watch events")
    eq(guest.transaction_end(gtx).err, None, "the guest's transaction commits")
    eq(ctl.read("/local/domain/7/data/x").payload, b"guest", "its write landed")

    # One the stream cannot carry (a stale read), forced: doomed.
    tx = int(client.transaction_start().payload.rstrip(b"\0"))
    eq(client.read("/lu/t/a", tx=tx).payload, b"2", "read in the transaction")
    eq(client.write("/lu/t/e", "lost", tx=tx).err, None, "write in the transaction")
    check(ctl.write("/lu/t/a", "3").ok, "the read goes stale")
    r = subprocess.run([XENSTORE_CONTROL, "live-update", "-F", "-t", "1", run.new], env=run.env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=DEADLINE_S)
    eq((r.returncode, r.stdout), (0, b""), "xenstore-control live-update -F")
    eq(client.read("/lu/t/a", tx=tx).err, None, "the doomed transaction answers")
    eq(client.transaction_end(tx).err, "EAGAIN", "its commit conflicts")
    eq(ctl.read("/lu/t/e").err, "ENOENT", "its write never lands")


def case(name, start, body=live_update):
    run = Run(name.split()[0])
    try:
        start(run)
        body(run)
        print("ok - %s" % name, flush=True)
    except Exception as e:  # noqa: BLE001 - report every failure kind
        FAILED.append(name)
        print("not ok - %s: %s" % (name, e), flush=True)
        for f in ("stderr", "stdout"):
            p = os.path.join(run.run, f)
            if os.path.exists(p):
                sys.stdout.write("".join("#   " + l for l in open(p).readlines()[-20:]))
    finally:
        run.stop()


case("ours into a copy of ours", Run.start_ours)
case("C xenstored 4.17 into ours", Run.start_c)
case("ours into ours, a transaction start held", Run.start_ours, held_start)
case("C xenstored 4.17 into ours, a transaction start held", Run.start_c, held_start)
case("ours into ours, transactions carried", Run.start_ours, carried)
case("ours into ours with a new command line (-c)", Run.start_ours, new_command_line)
sys.exit(len(FAILED))
