# Boot tests on a real Xen host in QEMU (TCG), and `make run`.
# The rig lives in scripts/xen-rig/ (README there); the checks in tests/boot/.
#
#   make boot-test [XEN=4.17|4.20] [XENSTORE=stub|daemon]
#       boot Xen, start xenstore (our stub by default; XENSTORE=daemon runs
#       C xenstored as a dom0 daemon, the reference), run tests/boot/check.sh
#       in dom0; the serial log lands in build/boot/<XEN>-<XENSTORE>.log
#   make boot-test-all     the stub on Xen 4.17 and 4.20
#   make guest-test [XEN=4.17|4.20] [XENSTORE=stub|daemon]
#       the same host, plus guests: a PV Linux guest using xenstore through
#       its own ring, saved and restored three times with the same domid
#       (domid reuse), its shutdown and destruction, 20 tiny guests created
#       and destroyed (tests/boot/guest-run.sh, tests/boot/guest.sh); the
#       serial log lands in build/boot/<XEN>-<XENSTORE>-guest.log
#   make guest-test-all    the guest test with the stub on Xen 4.17 and 4.20
#
# Another area's dom0 checks can run in the guest test's boot, after its own:
#   GUEST_TEST_ARGS += --extra build/some-guest.elf --check area/checks/some.sh
#   guest-test guest-test-all: <the targets that build those files>
#   make rig-selfcheck     the rig's own check: a check script that loses a
#       step to a dom0 process crash runs again, a plain failure stays
#       (scripts/xen-rig/selfcheck/)
#   make run [XEN=...]     interactive dom0 shell with our stub as xenstore
#   make boot-fetch        fetch and unpack both Xen versions into $(CACHE)

XEN ?= 4.17
XENSTORE ?= stub
BOOT_STUB ?= $(BUILD)/xenstore-stubdom-rs.elf
# Only the stub needs the image; the daemon reference boots without it.
BOOT_IMAGE_DEP := $(if $(filter stub,$(XENSTORE)),image)
# More boot.sh arguments (--check, --extra) for the guest test's boot.
GUEST_TEST_ARGS ?=

.PHONY: boot-fetch boot-test boot-test-all guest-test guest-test-all run rig-selfcheck

boot-fetch:
	scripts/xen-rig/mkbase.sh 4.17
	scripts/xen-rig/mkbase.sh 4.20

boot-test: $(BOOT_IMAGE_DEP)
	tests/boot/run.sh --xen $(XEN) --xenstore $(XENSTORE) --stub $(BOOT_STUB)

boot-test-all: $(BOOT_IMAGE_DEP)
	tests/boot/run.sh --xen 4.17 --xenstore $(XENSTORE) --stub $(BOOT_STUB)
	tests/boot/run.sh --xen 4.20 --xenstore $(XENSTORE) --stub $(BOOT_STUB)

guest-test: $(BOOT_IMAGE_DEP)
	tests/boot/guest-run.sh --xen $(XEN) --xenstore $(XENSTORE) --stub $(BOOT_STUB) $(GUEST_TEST_ARGS)

guest-test-all: $(BOOT_IMAGE_DEP)
	tests/boot/guest-run.sh --xen 4.17 --xenstore $(XENSTORE) --stub $(BOOT_STUB) $(GUEST_TEST_ARGS)
	tests/boot/guest-run.sh --xen 4.20 --xenstore $(XENSTORE) --stub $(BOOT_STUB) $(GUEST_TEST_ARGS)

run: $(BOOT_IMAGE_DEP)
	scripts/xen-rig/boot.sh --interactive --xen $(XEN) --xenstore $(XENSTORE) --stub $(BOOT_STUB)

## The rig's crash-aware re-run (part of `make test`).
rig-selfcheck: image
	scripts/xen-rig/selfcheck/run.sh $(BUILD)/xenstore-stubdom-rs.gz
