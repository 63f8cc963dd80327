#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: `seeds.py CORPUS_DIR`.

Seeds are small, meaningful inputs the fuzzer mutates from: real xenstore
messages for `decode`, and ring operations around the interesting index
values (zero, the 2^32 wrap, a full ring, inconsistent indices) for
`ring_page`. Their formats are those parsed by `ring/src/fuzzing.rs`.
`engine_ops` starts from an empty corpus: its input is `arbitrary`'s own
encoding, which libFuzzer explores well from nothing. `engine_bytes` gets
the `decode` streams wrapped in `store::fuzzing::run`'s
`[selector, len, bytes]` chunks.
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


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for target, seeds in (("decode", decode_seeds()), ("ring_page", ring_page_seeds())):
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


if __name__ == "__main__":
    main()
