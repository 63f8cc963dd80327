# The host front end: `xenstored-rs`, the engine on a Unix socket (and simring
# guests) on Linux, and its end-to-end tests.
#
#   make host            build target/debug/xenstored-rs
#   make host-test       unit + integration tests (cargo test -p host), then the
#                        peer suite against our daemon: Debian's test-xenstore
#                        (all tests and `-r 10`), the xenstore-* CLI, and
#                        simulated guests driven by simring.py; then live
#                        update with Debian's xenstore-control, ours into ours
#                        and C xenstored 4.17 into ours, -c (live_update.py)
#   make host-test-c     the same peer suite against C xenstored 4.17 (the
#                        reference the expectations were taken from)
#   make host-deps       install what the tests need (idempotent)
#
# The peers kit (tests/peers/: Debian's C xenstored and test-xenstore,
# simring.py) downloads and builds what it needs into $(CACHE)/peers.

PEERS ?= $(CURDIR)/tests/peers/peers
HOST_BIN ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/debug/xenstored-rs

.PHONY: host host-deps host-test host-test-c

host: setup-rust
	cargo build -p host --bin xenstored-rs

## Debian's xenstore clients, test-xenstore and the C daemon (peers setup),
## and Python 3 for simring.py.
host-deps:
	command -v python3 >/dev/null || { apt-get update >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 >/dev/null; }
	$(PEERS) setup

host-test: host host-deps
	PEERS=$(PEERS) cargo test -p host
	PEERS=$(PEERS) host/tests/peer_suite.sh ours $(HOST_BIN)
	PEERS=$(PEERS) timeout 600 python3 host/tests/live_update.py $(HOST_BIN)

host-test-c: host-deps
	PEERS=$(PEERS) host/tests/peer_suite.sh c
