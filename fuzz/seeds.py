#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: `seeds.py CORPUS_DIR`.

Seeds are small, meaningful inputs the fuzzer mutates from: real xenstore
messages for `decode`, and ring operations around the interesting index
values (zero, the 2^32 wrap, a full ring, inconsistent indices) for
`ring_page`, and guest/server round trips, reconnections and racing
guests for `serve_race`. Their formats are those parsed by
`ring/src/fuzzing.rs`.
`engine_ops` starts from an empty corpus: its input is `arbitrary`'s own
encoding, which libFuzzer explores well from nothing. `engine_bytes` gets
the `decode` streams wrapped in `store::fuzzing::run`'s
`[selector, len, bytes]` chunks. `engine_heap` gets scenarios that take
the heap to the budget's limits (guests filling their shares, dom0 filling
the reserve, deep paths, watch floods, split payloads, transactions) in
`arbitrary`'s encoding of its `Setup` and `Op`s (see `HeapSeed`), since
reaching a limit by mutation alone takes hundreds of well-formed writes.
`stream_decode` gets xenstore migration streams (`[u16 budget/16]`, then
the stream) with every record type, in both byte orders and versions, and
streams an engine restores (an open transaction's records).
"""

import pathlib
import struct
import sys

PAYLOAD_MAX = 4096
XS_READ, XS_WRITE, XS_WATCH, XS_TRANSACTION_START = 2, 11, 4, 6


def msg(ty, req_id, payload, tx_id=0, length=None):
    """One wire message: 16-byte little-endian header + payload."""
    n = len(payload) if length is None else length
    return struct.pack("<IIII", ty, req_id, tx_id, n) + payload


def decode_seeds():
    """`[u64 chunking seed][stream]`."""
    read = msg(XS_READ, 1, b"/local/domain/0/name\0")
    write = msg(XS_WRITE, 2, b"/a/b\0value")
    watch = msg(XS_WATCH, 3, b"/local/domain\0tok\0")
    start = msg(XS_TRANSACTION_START, 4, b"\0")
    big = msg(XS_WRITE, 5, b"/x\0" + b"v" * (PAYLOAD_MAX - 3))
    return {
        "read": struct.pack("<Q", 1) + read,
        "stream": struct.pack("<Q", 7) + read + write + watch + start,
        "zero-len": struct.pack("<Q", 3) + msg(XS_READ, 9, b"") * 3,
        "max-payload": struct.pack("<Q", 11) + big + read,
        "oversize": struct.pack("<Q", 5) + read + msg(XS_WRITE, 6, b"", length=PAYLOAD_MAX + 1),
        "huge-len": struct.pack("<Q", 2) + msg(XS_READ, 1, b"", length=0xFFFFFFFF),
        "partial": struct.pack("<Q", 9) + read + write[:10],
    }


def indices(req_cons, req_prod, rsp_cons, rsp_prod):
    return struct.pack("<IIII", req_cons, req_prod, rsp_cons, rsp_prod)


def op(code, length_units=0, tail=b""):
    """`[op][len/8]` then op-specific bytes (data, a u32, or indices)."""
    return bytes([code, length_units]) + tail


def ring_ops():
    """A guest/server round trip touching every operation."""
    req = msg(XS_READ, 1, b"/local/domain/1/name\0")
    req = req + b"\0" * (-len(req) % 8)
    return (
        op(0, len(req) // 8, req)  # write_requests
        + op(2, 8)  # peek_requests 64 bytes
        + op(3, 0, struct.pack("<I", 16))  # consume_requests(16)
        + op(1, 16, bytes(range(128)))  # write_responses 128 bytes
        + op(4, 4)  # read_responses 32 bytes
        + op(5)  # space queries
        + op(1, 200, b"\xaa" * 1600)  # overfill the response ring
        + op(4, 255)  # drain most of it
        + op(7)  # reset_indices
    )


def ring_page_seeds():
    """`[4 x u32 indices][ops...]`."""
    near = 0xFFFFFFFF - 40
    return {
        "zero": indices(0, 0, 0, 0) + ring_ops(),
        "wrap": indices(near, near, near, near) + ring_ops(),
        "full": indices(5, 5 + 1024, 9, 9 + 1024) + ring_ops(),
        "bad": indices(0, 1025, 10, 9) + ring_ops(),
        "rewrite": indices(0, 0, 0, 0)
        + op(6, 0, indices(near, 3, 0, 1024))
        + ring_ops(),
    }


def serve_race_seeds():
    """`[4 x u32 indices][connection][reconnect tokens][ops...]`: an op is
    a turn (`op % 8` 0-3 serve, 4 flush, 5 pending_work; bit 0x10 makes
    the guest act in every callback), 6 a guest action between turns
    (`[action, len/8, ...]`, `action % 12`: 0-2 nothing, 3 error, 4 write
    requests, 5 read responses, 6 req_prod, 7 rsp_cons, 8 all indices,
    9 connection, 10 rewrite any bytes of the interface, 11 unmap during
    `input`) or 7 an engine action (toggle flow control, queue output);
    see `ring/src/fuzzing/serve_race.rs`."""
    req = msg(XS_READ, 1, b"/local/domain/1/name\0")
    req = req + b"\0" * (-len(req) % 8)
    write = bytes([6, 4, len(req) // 8]) + req
    read = bytes([6, 5, 128])
    reconnect = bytes([6, 9, 0])
    racing = bytes([0x10]) + bytes([6, 0]) + struct.pack("<I", 0xFFFFFFFF)
    near = 0xFFFFFFFF - 40
    head = indices(0, 0, 0, 0) + bytes([0, 3])
    return {
        "round-trip": head + write + b"\0" + read + b"\5" + write + b"\x14" + read,
        "reconnect": head + write + reconnect + b"\5" + b"\0" + write + b"\x10" + b"\0" * 64,
        "racing": head + write + racing * 8 + b"\x10" + bytes([4, 1]) + b"b" * 8,
        "wrap": indices(near, near, near, near) + bytes([0, 1]) + (write + b"\0" + read) * 4,
        "bad": indices(0, 1025, 10, 9) + bytes([0, 2]) + b"\5\0" + reconnect + b"\0",
        "flow": head + b"\7\0" + write + b"\0\7\0\0\xff" + b"\5",
        "full-rsp": indices(0, 0, 0, 1024) + bytes([0, 0]) + write + b"\0",
        "busy": head + bytes([6, 4, 128]) + b"a" * 1024 + b"\x10"
        + (bytes([4, 1]) + b"b" * 8) * 40,
    }


class HeapSeed:
    """`arbitrary` 1.x encoding of `fuzz_targets/engine_heap.rs` inputs:
    integers little-endian, `bool` one byte, an enum's variant a `u32`
    scaled to the variant count, struct fields in order. Variant lists
    must follow the Rust declarations."""

    OPS = (
        "Write Mkdir Read Rm Directory DirectoryPart SetPerms Watch Watches Unwatch "
        "TxStart TxEnd Fill Split Flush Other Control Introduce Release Lifecycle "
        "Tick Drain Reading Reset Connect Disconnect"
    ).split()
    PATHS = ["Fixed", "Home", "Deep", "Sibling"]
    BALLAST = ["None", "Kib", "BelowGuests", "BelowLimit"]
    SEMANTICS = {"4.17": 0, "4.18": 1, "4.21": 2}

    @staticmethod
    def variant(names, name):
        k, n = names.index(name), len(names)
        return struct.pack("<I", ((k << 32) + n - 1) // n)

    def __init__(self, semantics="4.18", guests=8, reading=0xFF, dom0_lazy=False,
                 ballast=("None",)):
        kind, *arg = ballast
        self.b = bytes([self.SEMANTICS[semantics], (guests - 1) % 8, reading, int(dom0_lazy)])
        self.b += self.variant(self.BALLAST, kind)
        if kind == "Kib":
            self.b += struct.pack("<H", arg[0])
        elif kind != "None":
            self.b += bytes([arg[0]])

    @classmethod
    def path(cls, kind, *a):
        """Fixed(k) | Home(d) | Deep(first, depth, rel, home) |
        Sibling(base, i, rel, home)."""
        v = cls.variant(cls.PATHS, kind)
        if kind in ("Fixed", "Home"):
            return v + bytes([a[0]])
        first, n, rel, home = a
        n = n[1] if isinstance(n, tuple) else n
        return v + bytes([first]) + struct.pack("<H", n) + bytes([int(rel), home])

    @staticmethod
    def value(n, byte=ord("v")):
        return struct.pack("<HB", n, byte)

    def op(self, name, *fields):
        """`fields`: ints are u8 unless given as ("H", n); bytes as is."""
        self.b += self.variant(self.OPS, name)
        for f in fields:
            if isinstance(f, bytes):
                self.b += f
            elif isinstance(f, tuple):
                self.b += struct.pack("<" + f[0], f[1])
            else:
                self.b += bytes([int(f) & 0xFF])
        return self


def heap_seeds():
    """Conns: 0 is dom0's socket; before 4.21, 1-8 are guests 1-8 in
    order (on 4.21+, 1 is dom0's ring and 2-9 the guests)."""
    S, v, H = HeapSeed, HeapSeed.value, (lambda n: ("H", n))
    seeds = {}
    # Guests fill their homes with big values, all eight, near the guests'
    # limit.
    for sem in ("4.17", "4.18", "4.21"):
        s = S(sem, ballast=("BelowGuests", 100))
        first = 2 if sem == "4.21" else 1
        for g in range(8):
            s.op("Fill", first + g, 0, g, 40, v(1900), 1, 0)
        seeds[f"guests-fill-{sem}"] = s.b
    # The same, from an empty heap (quotas, then the budget).
    s = S("4.18")
    for g in range(8):
        s.op("Fill", 1 + g, 0, g, 110, v(1800 + g), 1, 0)
    s.op("Control", 0, 0)
    seeds["guests-fill-empty"] = s.b
    # dom0 fills the reserve, then a guest tries.
    s = S("4.18", ballast=("BelowLimit", 120))
    s.op("Fill", 0, 0, 1, 60, v(2048), 0, 0).op("Fill", 1, 0, 2, 10, v(2048), 1, 0)
    s.op("Control", 0, 0)
    seeds["dom0-fill"] = s.b
    # Deep chains written and removed, absolute and relative, in and out of
    # transactions.
    s = S("4.18", ballast=("BelowGuests", 60))
    for g in range(1, 5):
        s.op("Write", g, 0, S.path("Deep", 0, H(1000), 1, 0), v(100))
        s.op("TxStart", g)
        s.op("Read", g, 1, S.path("Deep", 1, H(1020), 1, 0))
        s.op("Write", g, 1, S.path("Deep", 2, H(1020), 0, g), v(50))
        s.op("Rm", g, 1, S.path("Home", g))
        s.op("TxEnd", g, 1, 1)
        s.op("Rm", g, 0, S.path("Deep", 0, H(1), 1, 0))
    seeds["deep"] = s.b
    # Watch flood: guest 3 watches its home 128 times and never reads;
    # dom0 and guest 4 (given write access) write there.
    s = S("4.18", reading=0xF7, ballast=("BelowGuests", 120))
    s.op("Watches", 3, S.path("Home", 3), 0, 127)
    s.op("SetPerms", 0, 0, S.path("Home", 3), 3, H(1 << 4), 1)
    s.op("Fill", 0, 0, 0, 100, v(1500), 0, 3).op("Fill", 4, 0, 1, 100, v(1500), 0, 3)
    s.op("Tick", H(250)).op("Drain", 3, H(4096))
    seeds["watch-flood"] = s.b
    # Split payloads held by every guest at the guests' limit.
    s = S("4.18", ballast=("BelowGuests", 8))
    for g in range(1, 9):
        s.op("Split", g, S.path("Sibling", 0, H(g), 1, 0), v(4000), H(3000))
    for g in range(1, 9):
        s.op("Fill", g, 0, 0, 20, v(2000), 1, 0)
    for g in range(1, 9):
        s.op("Flush", g)
    seeds["split"] = s.b
    # Transactions holding deep reads, then domains destroyed.
    s = S("4.21", ballast=("BelowGuests", 120))
    for g in range(2, 6):
        for _ in range(3):
            s.op("TxStart", g)
        for i in range(20):
            s.op("Read", g, 1 + i % 3, S.path("Deep", i, H(1000), 1, 0))
    for d in range(1, 5):
        s.op("Lifecycle", d, 4)
    s.op("Lifecycle", 1, 0).op("Introduce", 0, 5)
    seeds["tx-lifecycle"] = s.b
    # Directory listings of a big directory and a big subtree removed.
    s = S("4.18", ballast=("Kib", 1500))
    s.op("Fill", 0, 0, 0, 255, v(10), 0, 1)
    for k in range(4):
        s.op("Directory", 1, 0, S.path("Fixed", 9))
        s.op("DirectoryPart", 0, 0, S.path("Home", 1), H(k * 500))
    s.op("Rm", 0, 0, S.path("Home", 1))
    seeds["directory-rm"] = s.b
    return seeds


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def record(e, ty, body):
    """One migration stream record: type, length, body padded to 8."""
    body = pad8(body)
    return struct.pack(e + "II", ty, len(body)) + body


def stream_decode_seeds():
    """`[u16 budget/16][stream]`: migration streams (store::stream)."""
    def stream(e, version, ext=True):
        flags = 1 if e == ">" else 0
        s = b"xenstore" + struct.pack(">II", version, flags)
        s += record(e, 1, struct.pack(e + "ii", 3, 7))
        names = b"nodes\0soft-memory\0"
        s += record(e, 6, struct.pack(e + "HHII", 2, 0, 1000, 2097152) + names)
        event = msg(15, 0, b"a\0b")
        conn = struct.pack(e + "IHHHHIHHI", 1, 0, 1, 1, 0x7FF4, 5, 0, 0, len(event))
        s += record(e, 2, pad8(conn + event) + struct.pack(e + "Q", 0x1122334455667788))
        sock = struct.pack(e + "IHHiIHHI", 2, 1, 0, 9, 0, 5, 0, 0) + b"\2\0\0\0\1"
        s += record(e, 2, sock)
        s += record(e, 3, struct.pack(e + "IHH", 1, 7, 4) + b"device\0tok\0")
        if ext:
            s += record(e, 8, struct.pack(e + "IHHHH", 2, 3, 2, 1, 0) + b"/a\0t\0")
        s += record(e, 4, struct.pack(e + "II", 2, 17))
        perms = b"n\0" + struct.pack(e + "H", 1) + b"r\1" + struct.pack(e + "H", 2)
        node = struct.pack(e + "IIHHHH", 0, 0, 16, 5, 0, 2) + perms + b"/local/domain/1\0hello"
        s += record(e, 5, node)
        s += record(e, 5, struct.pack(e + "IIHHHH", 2, 17, 3, 0, 0, 0) + b"/a\0")
        s += record(e, 5, struct.pack(e + "IIHHHH", 2, 17, 3, 1, 3, 1) + perms[:4] + b"/b\0x")
        s += record(e, 7, struct.pack(e + "HHII", 1, 1, 15, 5) + b"watches\0")
        return s + struct.pack(e + "II", 0, 0)

    def restorable(e):
        # A socket connection with an open transaction that read /tool,
        # created /tool/x and deleted /gone: restored, not only decoded.
        s = b"xenstore" + struct.pack(">II", 2, 1 if e == ">" else 0)
        s += record(e, 2, struct.pack(e + "IHHiIHHI", 2, 1, 0, 9, 0, 0, 0, 0))
        owner = b"n\0" + struct.pack(e + "H", 0)
        s += record(e, 5, struct.pack(e + "IIHHHH", 0, 0, 6, 0, 0, 1) + owner + b"/tool\0")
        s += record(e, 5, struct.pack(e + "IIHHHH", 0, 0, 6, 0, 0, 1) + owner + b"/gone\0")
        s += record(e, 4, struct.pack(e + "II", 2, 17))
        s += record(e, 5, struct.pack(e + "IIHHHH", 2, 17, 6, 0, 1, 1) + owner + b"/tool\0")
        s += record(e, 5, struct.pack(e + "IIHHHH", 2, 17, 8, 1, 3, 1) + owner + b"/tool/x\0v")
        s += record(e, 5, struct.pack(e + "IIHHHH", 2, 17, 6, 0, 0, 0) + b"/gone\0")
        return s + struct.pack(e + "II", 0, 0)

    big = struct.pack("<H", 0xFFFF)
    return {
        "tx-le": big + restorable("<"),
        "tx-be": big + restorable(">"),
        "le-v2": big + stream("<", 2),
        "be-v2": big + stream(">", 2),
        "le-v1": big + stream("<", 1, ext=False),
        "small-budget": struct.pack("<H", 40) + stream("<", 2),
        "empty": big + b"xenstore" + struct.pack(">II", 2, 0) + b"\0" * 8,
    }


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for target, seeds in (
        ("decode", decode_seeds()),
        ("ring_page", ring_page_seeds()),
        ("serve_race", serve_race_seeds()),
        ("stream_decode", stream_decode_seeds()),
    ):
        d = root / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (d / f"seed-{name}").write_bytes(data)
    (root / "engine_ops").mkdir(parents=True, exist_ok=True)
    d = root / "engine_bytes"
    d.mkdir(parents=True, exist_ok=True)
    for name, data in decode_seeds().items():
        stream = data[8:]
        for sel in (0x00, 0x01, 0x02):  # socket, domain 1, domain 2
            chunks = b"".join(
                bytes([sel, len(stream[i : i + 255])]) + stream[i : i + 255]
                for i in range(0, len(stream), 255)
            )
            (d / f"seed-{name}-{sel}").write_bytes(chunks + b"\xe0\x00")
    d = root / "engine_heap"
    d.mkdir(parents=True, exist_ok=True)
    for name, data in heap_seeds().items():
        (d / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
