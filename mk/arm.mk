# The Arm64 stub (kernel/src/arch/aarch64/): a dom0less xenstore domain on
# Xen on Arm, booted in QEMU (scripts/arm-rig/).
#
#   make arm-image     build/arm/xenstore-stubdom-rs.img (a raw arm64 Image)
#                      and the test client build/arm/xs-arm-client.img
#   make arm-deps      qemu-system-aarch64 (bookworm-backports), dtc, objcopy,
#                      cpio (the Linux guest's initramfs)
#   make arm-bringup [XEN_ARM=4.17|4.20]   Debian's arm64 Xen with the stub as
#                      a plain dom0less domain: console, hypercalls, shared
#                      info, grant table, event channels (no xenstore service:
#                      Xen before 4.21 has no xenstore domain on Arm)
#   make arm-bringup-all   both Debian versions (part of `make test`)
#   make arm-dom0less-test XEN_ARM64=/path/to/xen   Xen 4.21+ (built from
#                      source): the stub as the xenstore domain (caps 0x5)
#                      serving two test clients and a Linux guest; skipped,
#                      loudly, without XEN_ARM64. The stub destroys the
#                      client that powers off (--on-shutdown destroy) and
#                      Xen frees it; ARM_ON_SHUTDOWN=keep keeps it (C's
#                      way). ARM_XS_CAPS=0x4 ARM_XEN_ARGS=xsm=dummy tries
#                      the other configuration (keep: no control capability)
#   make arm-test      clippy for aarch64-unknown-none, the bring-ups, the
#                      dom0less test (part of `make test`)

ARM_TARGET := aarch64-unknown-none
ARM_DIR := $(BUILD)/arm
ARM_IMAGE := $(ARM_DIR)/xenstore-stubdom-rs.img
ARM_CLIENT := $(ARM_DIR)/xs-arm-client.img
ARM_OUT := target/$(ARM_TARGET)/release
XEN_ARM ?= 4.17
XEN_ARM64 ?=
ARM_XS_CAPS ?= 0x5
# More words for Xen's command line in the dom0less test (e.g. xsm=dummy
# with ARM_XS_CAPS=0x4).
ARM_XEN_ARGS ?=
# destroy or keep (the stub's --on-shutdown); empty: destroy with the
# control capability, keep without.
ARM_ON_SHUTDOWN ?=
ARM_OBJCOPY := $(shell command -v aarch64-linux-gnu-objcopy || command -v llvm-objcopy || echo objcopy)

.PHONY: arm-image arm-deps arm-bringup arm-bringup-all arm-dom0less-test arm-test

arm-deps:
	@command -v qemu-system-aarch64 >/dev/null || { \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t bookworm-backports qemu-system-arm >/dev/null; }
	@command -v dtc >/dev/null && command -v aarch64-linux-gnu-objcopy >/dev/null && command -v bc >/dev/null && command -v cpio >/dev/null || { \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends device-tree-compiler binutils-aarch64-linux-gnu bc cpio >/dev/null; }
	@rustup target list --installed | grep -qx $(ARM_TARGET) || rustup target add $(ARM_TARGET)

arm-image: arm-deps
	$(KERNEL_CARGO_ENV) cargo build -p kernel --bin xenstore-stubdom-rs --bin xs-arm-client --release --target $(ARM_TARGET)
	mkdir -p $(ARM_DIR)
	$(ARM_OBJCOPY) -O binary $(ARM_OUT)/xenstore-stubdom-rs $(ARM_IMAGE)
	$(ARM_OBJCOPY) -O binary $(ARM_OUT)/xs-arm-client $(ARM_CLIENT)
	@echo "arm-image: $(ARM_IMAGE) $$(stat -c %s $(ARM_IMAGE)) bytes, $(ARM_CLIENT) $$(stat -c %s $(ARM_CLIENT)) bytes"

arm-bringup: arm-image
	scripts/arm-rig/bringup.sh $(XEN_ARM) $(ARM_IMAGE)

arm-bringup-all: arm-image
	scripts/arm-rig/bringup.sh 4.17 $(ARM_IMAGE)
	scripts/arm-rig/bringup.sh 4.20 $(ARM_IMAGE)

arm-dom0less-test: arm-image
	@if [ -z "$(XEN_ARM64)" ]; then \
		echo "################################################################"; \
		echo "## arm-dom0less-test SKIPPED: no XEN_ARM64=/path/to/xen (4.21+) ##"; \
		echo "################################################################"; \
	else \
		scripts/arm-rig/dom0less-test.sh "$(XEN_ARM64)" $(ARM_IMAGE) $(ARM_CLIENT) $(ARM_XS_CAPS) "$(ARM_XEN_ARGS)" "$(ARM_ON_SHUTDOWN)"; \
	fi

arm-test: arm-image
	$(KERNEL_CARGO_ENV) cargo clippy -p kernel --release --target $(ARM_TARGET) -- -D warnings
	$(MAKE) arm-bringup-all
	$(MAKE) arm-dom0less-test
