# Dom0 check script for the Xen boot rig (scripts/xen-rig/boot.sh --check):
# a guest's whole life through our stub, which the boot test does not cover.
#
#   scripts/xen-rig/boot.sh --xen 4.17 --stub build/xenstore-stubdom-rs.gz \
#       --stub-mem 4 --check kernel/checks/guest-lifecycle.sh
#
# The guest is the stub image itself booted as a plain PVH domU (it needs no
# --event and just idles): `xl create` makes libxl send XS_INTRODUCE, so the
# stub grant-maps the guest's ring and binds its port; `xl destroy` raises
# VIRQ_DOM_EXC, the stub's getdomaininfo finds the domain gone, fires
# @releaseDomain and unmaps the ring. Afterwards xenstore must still work and
# the stub must stay idle (blocked, little CPU time). Every wait is for the
# event itself, bounded only to catch a hang (see dom0-harness.sh).
cat > /tmp/g.cfg <<CFG
name = "gtest"
type = "pvh"
kernel = "/rig/stub.elf"
memory = 64
shadow_memory = 4
cmdline = "--log-level info"
CFG
S=/run/rig/lifecycle
mkdir -p $S

# libxl writes the guest's home (with its name) before `xl create` returns.
guest_named() { xenstore-ls -f /local/domain | grep -q '/name = "gtest"'; }
guest_up() {
    xl_create /tmp/g.cfg || return 1
    xl domid gtest >$S/domid || return 1
    xl list
    until_true 120 guest_named || { echo "no /local/domain/*/name = gtest"; return 1; }
    xenstore-ls -f /local/domain | grep gtest
}

lines() { wc -l <"$1"; }
more_lines() { [ "$(lines "$1")" -ge "$2" ]; }
watcher_done() { ! kill -0 "$1" 2>/dev/null; }

# A watch on @releaseDomain, set (its first event seen) before the guest is
# destroyed, fires again for the destruction: xenstore-watch -n 2 exits
# after its second event.
watch_release() {
    xenstore-watch -n 2 @releaseDomain >$S/rel.out 2>&1 &
    pid=$!
    until_true 120 more_lines $S/rel.out 1 || { echo "the watch never fired on registration"; kill $pid; return 1; }
    xl destroy gtest || { kill $pid; return 1; }
    until_true 120 watcher_done "$pid" || { echo "no @releaseDomain after xl destroy"; cat $S/rel.out; kill $pid; return 1; }
    cat $S/rel.out
    # One event when the watch is set, one for the destroyed guest.
    [ "$(lines $S/rel.out)" -ge 2 ]
}

# Xen frees the domain once the stub has unmapped its ring: wait for that.
gone() {
    until_true 120 domain_gone "$(cat $S/domid)" || { echo "domain $(cat $S/domid) still exists"; xl list; return 1; }
    xl list
    ! xl list | grep -q gtest
}
check guest-create guest_up
check guest-destroy-release watch_release
check guest-gone gone
check xs-still-works sh -c 'xenstore-write /x 1 && test "$(xenstore-read /x)" = 1'
check stub-idle stub_idle
