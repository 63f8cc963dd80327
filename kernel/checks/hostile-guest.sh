# Dom0 check script for the Xen boot rig: the hostile test guest
# (build/xs-hostile-guest.elf, `make hostile-guest`, kernel/src/guest/)
# against our stub. Call it with the guest as an extra file:
#
#   make image hostile-guest
#   scripts/xen-rig/boot.sh --xen 4.17 --stub build/xenstore-stubdom-rs.gz \
#       --stub-mem 4 --extra build/xs-hostile-guest.elf \
#       --check kernel/checks/hostile-guest.sh
#
# Each run `xl create`s the guest, which checks normal requests, a ring
# reconnection and then one violation from inside the guest and prints its
# verdicts on port 0xE9; dom0 reads them from the Xen console (`xl dmesg`)
# while it keeps using xenstore itself, then destroys the guest and checks
# that xenstore still answers and the stub released the domain. The first
# run ends with bad ring indices (XENSTORE_ERROR_RINGIDX), the second with
# an oversized header (XENSTORE_ERROR_PROTO). Every wait is for the event
# (the guest's line, the domain gone, the stub's record gone), limited only
# to catch a hang; xl_create (dom0-harness.sh) judges xl create by whether
# the domain exists when only xl's monitoring child died.
STEPS=9

# Boots guest NAME and waits for its summary line while dom0 keeps using
# xenstore (guest_summary in dom0-harness.sh), then checks the summary.
hostile_run() {
    xl_create /tmp/$1.cfg || return 1
    domid=$(xl domid "$1") || return 1
    guest_summary "$domid" /hostile-probe/$1 240 || return 1
    guest_passed "$domid" $STEPS
}

# Destroys guest NAME: Xen and the stub let go of it, xenstore still works.
hostile_destroy() { destroy_released "$1" /hostile-probe/after; }

guest_cfg hostile-idx ""
guest_cfg hostile-big "oversize"
RIG_STEP_TIMEOUT=400 check hostile-bad-index hostile_run hostile-idx
check hostile-bad-index-destroy hostile_destroy hostile-idx
RIG_STEP_TIMEOUT=400 check hostile-oversize hostile_run hostile-big
check hostile-oversize-destroy hostile_destroy hostile-big
check hostile-stub-idle stub_idle
