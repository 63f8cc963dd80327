# xenstore-stubdom-rs — build the stub image, run the tests, boot it on Xen.
#
#   make            build the PVH image (build/xenstore-stubdom-rs.elf + .gz)
#   make test       everything CI runs: unit tests, lints, host end-to-end and
#                   differential tests, a short fuzz run, boot tests on Xen 4.17 and 4.20,
#                   the Arm64 stub's bring-up on Debian's arm64 Xen 4.17 and 4.20 and,
#                   with XEN_ARM64=/path/to/xen (4.21+), its dom0less test (mk/arm.mk)
#   make run        boot Xen (4.17 by default, XEN=4.20) in QEMU with our stub as xenstore
#   make bench      benchmarks (round trips, fill, 1000 domains): ours vs C xenstored vs oxenstored
#
# Each area keeps its rules in mk/<area>.mk.

SHELL := /bin/bash
.DEFAULT_GOAL := all
BUILD ?= build
CACHE ?= $(CURDIR)/.cache
export CACHE

.PHONY: all test unit lint setup-rust

all: image

include $(sort $(wildcard mk/*.mk))

## Rust toolchain pieces the project needs (idempotent).
setup-rust:
	scripts/setup-rust.sh

unit: setup-rust
	cargo test --workspace

lint: setup-rust
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@# The Python scripts (benchmarks, differential and host tests): names
	@# that do not exist, unused imports. pyflakes comes from PyPI.
	python3 -m pyflakes --version >/dev/null 2>&1 || python3 -m pip install -q pyflakes
	python3 -m pyflakes $$(git ls-files '*.py')

test: unit lint kernel-test host-test diff-test fuzz-test rig-selfcheck boot-test-all guest-test-all kernel-boot-check-all arm-test \
	kernel-memory-check-all lu-check-all
	@echo "make test: all passed"
