# Benchmarks (not part of `make test`), each server and the client pinned to
# one CPU, appending their tables to bench/results.md (a history):
#
# - bench/bench.py: xsbench against our release daemon, C xenstored 4.17
#   and oxenstored 4.17 (round trips, a 100 000-node fill, its memory);
#   targets checked (exit status 1 when missed): rt >= 1.5x C, fill >= 3x C,
#   RSS growth over the fill <= 0.4x C's;
# - bench/scale.py: a thousand simring guest domains made concurrently with
#   libxl's transactions, then xenstore-ls, DIRECTORY_PART passes and the
#   release of one domain, on the same three daemons (ratios reported, no
#   targets).
# - bench/rig.py (`make bench-rig`): the Xen rig (QEMU TCG), Xen 4.17 and
#   4.20, our stub against C xenstored in dom0: the client xs-rig-bench in
#   dom0 and in a PV Linux guest through their xenbus (round trips, fill,
#   DIRECTORY, a walk) and xenstore's CPU while idle; target rt >= 1.5x C
#   (exit status 1 when missed). Writes build/bench/rig.json too. Set
#   BENCH_LOCK=FILE to run each boot under `flock FILE`.
#
# - bench/storm.py (`make bench-storm`): a domain-creation storm on real
#   Xen in the QEMU rig, 20 tiny PV guests created and destroyed one at a
#   time and four at a time, with our stub and with C xenstored in dom0, on
#   Xen 4.17 and 4.20 (four boots, each under `flock $(BENCH_LOCK)`); targets
#   checked: storms >= 1.2x faster than C, fewer EAGAINs than C.
#
# - bench/summary.py: one table of every figure above (and of the in-rig
#   benchmarks when they ran), ours against C, from build/bench/*.json.
#
#   make bench                    all, defaults (the rig and the storm
#                                 about an hour each on a loaded machine)
#   make bench BENCH_ARGS="--runs 1 --fill 20000" SCALE_ARGS="--domains 200"
#   make bench-storm STORM_ARGS="--xen 4.20 --reps 1"

BENCH_ARGS ?=
SCALE_ARGS ?=
STORM_ARGS ?=
RIG_ARGS ?=
# Each timed rig boot runs under `flock $(BENCH_LOCK)`, so that two
# benchmark runs on one machine never overlap.
BENCH_LOCK ?= $(CURDIR)/$(BUILD)/bench.lock
BENCH_BIN ?= $(CURDIR)/target/release/xenstored-rs

.PHONY: bench bench-build bench-rig bench-storm

bench-build: setup-rust
	cargo build --release -p host --bin xenstored-rs

bench-rig: image
	timeout 7200 python3 bench/rig.py --stub $(KERNEL_ELF) --lock $(BENCH_LOCK) $(RIG_ARGS)

bench: bench-build host-deps image
	command -v taskset >/dev/null || { apt-get update >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends util-linux >/dev/null; }
	status=0; \
	timeout 1800 python3 bench/bench.py --peers $(PEERS) --ours $(BENCH_BIN) $(BENCH_ARGS) || status=$$?; \
	timeout 1800 python3 bench/scale.py --peers $(PEERS) --ours $(BENCH_BIN) $(SCALE_ARGS) || status=2; \
	timeout 7200 python3 bench/rig.py --stub $(KERNEL_ELF) --lock $(BENCH_LOCK) $(RIG_ARGS) || status=$$((status ? status : $$?)); \
	$(MAKE) --no-print-directory bench-storm || status=$$((status ? status : $$?)); \
	python3 bench/summary.py || status=2; \
	exit $$status

bench-storm: image
	timeout 7200 python3 bench/storm.py --stub $(KERNEL_ELF) --lock $(BENCH_LOCK) $(STORM_ARGS)
