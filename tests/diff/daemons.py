"""Start and stop the daemons under test, each fresh with its own simring dir.

`c` and `ox` are Debian's C xenstored 4.17 and oxenstored 4.17 run by the
peers kit (`peers start c|ox RUNDIR` with SIMRING_DIR set); `ours` is the
host front end, `xenstored-rs --socket PATH --simring DIR`.
"""
import os
import shutil
import signal
import subprocess
import time

KINDS = ("c", "ox", "ours")
START_TIMEOUT_S = 10.0


class DaemonError(Exception):
    """A daemon did not come up."""


class Daemon:
    """One running daemon instance; use as a context manager."""

    def __init__(self, kind, workdir, peers, ours_bin):
        if kind not in KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.peers = peers
        self.ours_bin = ours_bin
        # Socket paths must fit in sun_path (107 bytes): keep workdir short.
        self.rundir = os.path.join(workdir, kind)
        self.simring = os.path.join(workdir, kind + "-sr")
        self.socket = os.path.join(self.rundir, "socket")
        self.proc = None
        self.pid = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Start the daemon with an empty rundir and simring dir."""
        for d in (self.rundir, self.simring):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        if self.kind == "ours":
            log = open(os.path.join(self.rundir, "stdout"), "wb")
            self.proc = subprocess.Popen(
                [self.ours_bin, "--socket", self.socket, "--simring", self.simring],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            self.pid = self.proc.pid
            deadline = time.monotonic() + START_TIMEOUT_S
            while not os.path.exists(self.socket):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise DaemonError("ours did not start: %s" % self.log_tail())
                time.sleep(0.01)
        else:
            env = dict(os.environ, SIMRING_DIR=self.simring)
            r = subprocess.run([self.peers, "start", self.kind, self.rundir], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=START_TIMEOUT_S + 5)
            if r.returncode != 0:
                raise DaemonError("%s did not start: %s" % (self.kind, r.stderr.decode(errors="replace")))
            with open(os.path.join(self.rundir, "pid")) as f:
                self.pid = int(f.read().strip())

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
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            deadline = time.monotonic() + 5
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
