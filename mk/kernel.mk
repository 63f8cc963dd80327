# The PVH stub image (kernel/ + boot/ + linker.ld).
#
#   make image     build/xenstore-stubdom-rs.elf and build/xenstore-stubdom-rs.gz
#                  (the .gz is what XENSTORE_DOMAIN_KERNEL points at)
#   make hostile-guest build/xs-hostile-guest.elf: the PVH test guest that
#                  kernel/checks/hostile-*.sh boot under the stub
#   make kernel-test   the kernel's host unit tests and clippy for both targets
#   make kernel-boot-check [XEN=4.20]   boot the stub on Xen with the guest
#                  checks of kernel/checks/ (hostile guest, ring
#                  reconnection, watch expiry, guest life cycle)
#   make kernel-boot-check-all   the same on Xen 4.17 and 4.20 (in `make test`)
#   make kernel-memory-check [XEN=4.20]   memory attacks beside a
#                  well-behaved guest, dom0's round-trip times, the heap
#                  back to its baseline (kernel/checks/hostile-memory.sh)
#   make kernel-memory-check-all   the same on Xen 4.17 and 4.20 (in `make test`)
#
# The kernel is built for x86_64-unknown-none in release mode with
# opt-level "s" (small image), static relocation (it runs identity-mapped at
# its link address) and the linker script passed by kernel/build.rs.

KERNEL_TARGET := x86_64-unknown-none
KERNEL_ELF := $(BUILD)/xenstore-stubdom-rs.elf
KERNEL_GZ := $(BUILD)/xenstore-stubdom-rs.gz
KERNEL_CARGO_ENV := RUSTFLAGS="-C relocation-model=static" \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_DEBUG=0
KERNEL_OUT := target/$(KERNEL_TARGET)/release/xenstore-stubdom-rs
GUEST_ELF := $(BUILD)/xs-hostile-guest.elf
GUEST_OUT := target/$(KERNEL_TARGET)/release/xs-hostile-guest

.PHONY: image hostile-guest kernel-test kernel-boot-check kernel-boot-check-all kernel-memory-check \
	kernel-memory-check-all

image: setup-rust
	$(KERNEL_CARGO_ENV) cargo build -p kernel --bin xenstore-stubdom-rs --release --target $(KERNEL_TARGET)
	mkdir -p $(BUILD)
	cp $(KERNEL_OUT) $(KERNEL_ELF)
	gzip -9 -n -c $(KERNEL_ELF) > $(KERNEL_GZ)
	@echo "image: $(KERNEL_ELF) $$(stat -c %s $(KERNEL_ELF)) bytes, $(KERNEL_GZ) $$(stat -c %s $(KERNEL_GZ)) bytes"

hostile-guest: setup-rust
	$(KERNEL_CARGO_ENV) cargo build -p kernel --bin xs-hostile-guest --release --target $(KERNEL_TARGET)
	mkdir -p $(BUILD)
	cp $(GUEST_OUT) $(GUEST_ELF)

kernel-test: setup-rust
	cargo test -p kernel
	cargo clippy -p kernel --all-targets -- -D warnings
	$(KERNEL_CARGO_ENV) cargo clippy -p kernel --release --target $(KERNEL_TARGET) -- -D warnings

kernel-boot-check: image hostile-guest
	scripts/xen-rig/boot.sh --xen $(or $(XEN),4.17) --stub $(KERNEL_GZ) --stub-mem 4 \
		--stub-args '--param "-w watch-event=2 --log-level debug"' \
		--extra $(GUEST_ELF) --check kernel/checks/watch-expiry.sh \
		--check kernel/checks/hostile-guest.sh --check kernel/checks/hostile-reconnect.sh \
		--check kernel/checks/guest-lifecycle.sh \
		--log $(BUILD)/boot/kernel-$(or $(XEN),4.17).log --timeout 1800

kernel-memory-check: image hostile-guest
	scripts/xen-rig/boot.sh --xen $(or $(XEN),4.17) --stub $(KERNEL_GZ) --stub-mem 4 \
		--stub-args '--param "-w watch-event=2 --log-level debug"' \
		--extra $(GUEST_ELF) --check kernel/checks/hostile-memory.sh \
		--log $(BUILD)/boot/memory-$(or $(XEN),4.17).log --timeout 1800

## The kernel's guest checks on both Xen versions (part of `make test`).
kernel-boot-check-all: image hostile-guest
	$(MAKE) kernel-boot-check XEN=4.17
	$(MAKE) kernel-boot-check XEN=4.20

## The memory attacks on both Xen versions (part of `make test`).
kernel-memory-check-all: image hostile-guest
	$(MAKE) kernel-memory-check XEN=4.17
	$(MAKE) kernel-memory-check XEN=4.20

# The stub's live update on Xen (tests/liveupdate/): `xenstore-control
# live-update` replaces a running stub by a second build while a PV Linux
# guest writes and holds a watch.
.PHONY: lu-check lu-check-all
lu-check: setup-rust
	tests/liveupdate/run.sh --xen $(or $(XEN),4.20)

lu-check-all: setup-rust
	tests/liveupdate/run.sh --xen 4.20
	tests/liveupdate/run.sh --xen 4.17
