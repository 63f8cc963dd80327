# The PVH stub image (kernel/ + boot/ + linker.ld).
#
#   make image     build/xenstore-stubdom-rs.elf and build/xenstore-stubdom-rs.gz
#                  (the .gz is what XENSTORE_DOMAIN_KERNEL points at)
#   make hostile-guest build/xs-hostile-guest.elf: the PVH test guest that
#                  kernel/checks/hostile-guest.sh boots under the stub
#   make kernel-test   the kernel's host unit tests and clippy for both targets
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

.PHONY: image hostile-guest kernel-test

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
