# Dom0 check script for the Xen boot rig (scripts/xen-rig/boot.sh --check):
# a guest's whole life through our stub, which the boot test does not cover.
#
#   scripts/xen-rig/boot.sh --xen 4.17 --stub build/xenstore-stubdom-rs.gz \
#       --stub-mem 4 --check kernel/checks/guest-lifecycle.sh
#
# The guest is the stub image itself booted as a plain PVH domU (it needs no
# --event and just idles): `xl create` makes libxl send XS_INTRODUCE, so the
# stub grant-maps the guest's ref 1 and binds its port; `xl destroy` raises
# VIRQ_DOM_EXC, the stub's getdomaininfo finds the domain gone, fires
# @releaseDomain and unmaps the ring. Afterwards xenstore must still work and
# the stub must stay idle (blocked, little CPU time).
cat > /tmp/g.cfg <<CFG
name = "gtest"
type = "pvh"
kernel = "/rig/stub.elf"
memory = 64
shadow_memory = 4
cmdline = "--log-level info"
CFG
guest_up() { xl create /tmp/g.cfg && sleep 3 && xl list && xenstore-ls -f /local/domain | grep gtest; }
watch_release() {
    xenstore-watch -n 2 @releaseDomain >/tmp/rel.out 2>&1 &
    sleep 1
    xl destroy gtest
    sleep 3
    cat /tmp/rel.out
    # One event when the watch is set, one for the destroyed guest.
    [ "$(wc -l </tmp/rel.out)" -ge 2 ]
}
gone() { xl list; ! xl list | grep -q gtest; }
check guest-create guest_up
check guest-destroy-release watch_release
check guest-gone gone
check xs-still-works sh -c 'xenstore-write /x 1 && test "$(xenstore-read /x)" = 1'
check stub-idle stub_idle
