# Benchmark (not part of `make test`): xsbench against our release daemon,
# C xenstored 4.17 and oxenstored 4.17, each server and the client pinned to
# one CPU; writes the table to bench/results.md.
#
#   make bench                    rt 10000, fill 100000, median of 3 runs
#   make bench BENCH_ARGS="--runs 1 --fill 20000"
#
# Targets checked (exit status 1 when missed): rt >= 1.5x C, fill >= 3x C,
# RSS growth over the fill <= 0.4x C's.

BENCH_ARGS ?=
BENCH_BIN ?= $(CURDIR)/target/release/xenstored-rs

.PHONY: bench bench-build

bench-build: setup-rust
	cargo build --release -p host --bin xenstored-rs

bench: bench-build host-deps
	command -v taskset >/dev/null || { apt-get update >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends util-linux >/dev/null; }
	timeout 1800 python3 bench/bench.py --peers $(PEERS) --ours $(BENCH_BIN) $(BENCH_ARGS)
