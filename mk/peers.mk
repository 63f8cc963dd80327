# The peers kit's own checks (tests/peers/). Its benchmark tools are a crate
# outside the workspace, so `make lint` runs fmt, clippy and their unit tests
# here. (The shim's mirror of the Xen ABI is checked by `peers setup`.)
#
#   make peers-check

PEERS_TOOLS = --manifest-path tests/peers/tools/Cargo.toml
PEERS_TOOLS_TARGET = $(CACHE)/peers/tools-target

.PHONY: peers-check

peers-check: setup-rust
	cargo fmt $(PEERS_TOOLS) -- --check
	CARGO_TARGET_DIR=$(PEERS_TOOLS_TARGET) cargo clippy $(PEERS_TOOLS) --all-targets -- -D warnings
	CARGO_TARGET_DIR=$(PEERS_TOOLS_TARGET) cargo test $(PEERS_TOOLS)

lint: peers-check
