"""Start and stop the daemons under test, each fresh in its own directory.

`c` and `ox` are Debian's C xenstored 4.17 and oxenstored 4.17 run by the
project's peers kit, tests/peers/ (`peers start c|ox RUNDIR`, with SIMRING_DIR set when simulated
guests are wanted); `ours` is the host front end, `xenstored-rs --socket
PATH [--simring DIR]`; `null` is the peers kit's server that only answers
(`peers null SOCKET`, the floor of a benchmark). The differential test and
the benchmark (`bench/bench.py`) both start their daemons here.
"""
import os
import re
import shutil
import signal
import subprocess
import time

KINDS = ("c", "ox", "ours", "null")
# Seconds a daemon may take to come up: generous, so that only a daemon
# that really fails to start reaches it.
START_TIMEOUT_S = 60.0
# Seconds given to SIGTERM before SIGKILL. Nothing is judged by it (the
# transcript is complete by then), and oxenstored sometimes ignores SIGTERM.
STOP_TIMEOUT_S = 5.0


class DaemonError(Exception):
    """A daemon did not come up."""


class Daemon:
    """One running daemon instance; use as a context manager.

    `cpu` pins the daemon (and so its children) to that CPU with taskset;
    `ours_args` are extra options for our daemon; `simring=False` starts it
    without a simring directory (socket clients only).
    """

    def __init__(self, kind, workdir, peers, ours_bin, cpu=None, ours_args=(), simring=True):
        if kind not in KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.peers = peers
        self.ours_bin = ours_bin
        self.pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.ours_args = list(ours_args)
        # Socket paths must fit in sun_path (107 bytes): keep workdir short.
        self.rundir = os.path.join(workdir, kind)
        self.simring = os.path.join(workdir, kind + "-sr") if simring else None
        self.socket = os.path.join(self.rundir, "socket")
        self.proc = None
        self.pid = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Start the daemon with an empty rundir (and simring dir)."""
        for d in (self.rundir, self.simring):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
        if self.kind in ("ours", "null"):
            if self.kind == "ours":
                cmd = [self.ours_bin, "--socket", self.socket]
                cmd += ["--simring", self.simring] if self.simring else []
                cmd += self.ours_args
            else:
                cmd = [self.peers, "null", self.socket]
            log = open(os.path.join(self.rundir, "stdout"), "wb")
            self.proc = subprocess.Popen(self.pin + cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            log.close()
            self.pid = self.proc.pid
            deadline = time.monotonic() + START_TIMEOUT_S
            while not os.path.exists(self.socket):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise DaemonError("%s did not start: %s" % (self.kind, self.log_tail()))
                time.sleep(0.01)
        else:
            env = dict(os.environ)
            if self.simring:
                env["SIMRING_DIR"] = self.simring
            r = subprocess.run(self.pin + [self.peers, "start", self.kind, self.rundir], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=START_TIMEOUT_S + 30)
            if r.returncode != 0:
                raise DaemonError("%s did not start: %s" % (self.kind, r.stderr.decode(errors="replace")))
            with open(os.path.join(self.rundir, "pid")) as f:
                self.pid = int(f.read().strip())

    def rss_kib(self):
        """The daemon's resident set size (VmRSS) in KiB."""
        with open("/proc/%d/status" % self.pid) as f:
            m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1))

    def alive(self):
        """Whether the daemon process still runs (a crash is a finding)."""
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # A zombie counts as dead.
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    def stop(self):
        """Stop the daemon this instance started and wait until it is gone."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def log_tail(self, n=2000):
        """The end of the daemon's own output, for error messages."""
        try:
            with open(os.path.join(self.rundir, "stdout"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""
