# The boot test's checks, run in dom0 after xenstore is up (busybox sh,
# sourced by the rig's /init after scripts/xen-rig/dom0-harness.sh, which
# provides `check NAME COMMAND...`). RIG_XENSTORE says who serves xenstore:
# "stub" (our PVH kernel, started by init-xenstore-domain) or "daemon"
# (C xenstored in dom0). Every client below reaches xenstore the way dom0's
# tools normally do: through dom0's xenbus (/dev/xen/xenbus) for the stub, the
# daemon's socket otherwise; XENSTORED_PATH is never set.

unset XENSTORED_PATH

# The whole tree is listable and holds dom0's own entries (xen-init-dom0).
ls_tree() {
    xenstore-ls -f >/tmp/ls.out || return 1
    cat /tmp/ls.out
    grep -q '^/local/domain/0/name = "Domain-0"' /tmp/ls.out
}

# A write is read back, including an empty value and a nested new path.
write_read() {
    xenstore-write /rig/a hello /rig/deep/er/path "" || return 1
    [ "$(xenstore-read /rig/a)" = hello ] || return 1
    [ "$(xenstore-read /rig/deep/er/path)" = "" ] || return 1
    xenstore-exists /rig/deep/er || return 1
    [ "$(xenstore-list /rig/deep)" = er ] || return 1
    xenstore-rm /rig/deep || return 1
    ! xenstore-exists /rig/deep
}

# Permissions set with xenstore-chmod are reported back by xenstore-ls -p.
perms() {
    xenstore-write /rig/perm v || return 1
    xenstore-chmod /rig/perm n0 r5 || return 1
    xenstore-ls -p /rig >/tmp/perms.out || return 1
    cat /tmp/perms.out
    grep -q 'perm = "v".*(n0,r5)' /tmp/perms.out
}

# A watch fires once when registered and once for a write below its path.
# The write waits for the first event (the watch is then set); the second
# event ends xenstore-watch -n 2 (the step's time limit catches a hang).
watch_registered() { grep -q '^/rig/w' /tmp/watch.out 2>/dev/null; }
watch_fires() {
    rm -f /tmp/watch.out
    xenstore-watch -n 2 /rig/w >/tmp/watch.out &
    pid=$!
    until_true 120 watch_registered || { echo "the watch never fired on registration"; kill "$pid"; return 1; }
    xenstore-write /rig/w/child x || return 1
    wait "$pid" || return 1
    cat /tmp/watch.out
    grep -q '^/rig/w/child' /tmp/watch.out
}

# XS_CONTROL: the commands C xenstored answers.
control_check() { xenstore-control check; }
control_help() {
    xenstore-control help >/tmp/help.out || return 1
    cat /tmp/help.out
    grep -q check /tmp/help.out
}

# The stub is known to the toolstack as the xenstore domain.
stub_domain() {
    domid=$(xenstore-read /tool/xenstored/domid) || return 1
    echo "stub domid $domid"
    [ "$(xenstore-read "/local/domain/$domid/name")" = Xenstore ] || return 1
    xl list >/tmp/xl-list.out || return 1
    cat /tmp/xl-list.out
    grep -q '^Xenstore ' /tmp/xl-list.out
}

# Debian's test-xenstore: all of its tests against whoever serves xenstore.
test_xenstore() {
    test-xenstore >/tmp/test-xenstore.out 2>&1
    rc=$?
    cat /tmp/test-xenstore.out
    [ "$rc" = 0 ] || return 1
    ! grep -qi 'fail' /tmp/test-xenstore.out || return 1
    # Each passing test prints one timing line ("read 1    : 745767 ns").
    ran=$(grep -c ' ns$' /tmp/test-xenstore.out)
    echo "$ran tests ran"
    [ "$ran" -ge 12 ]
}

xl_info() {
    xl info >/tmp/xl-info.out || return 1
    grep -E '^(xen_version|xen_caps|virt_caps|total_memory)' /tmp/xl-info.out
    grep -q '^xen_version *: *'"$XEN_VER" /tmp/xl-info.out
}

xl_list() {
    xl list >/tmp/xl-list.out || return 1
    cat /tmp/xl-list.out
    grep -q '^Domain-0 ' /tmp/xl-list.out
}

check xenstore-ls ls_tree
check write-read write_read
check perms perms
check watch watch_fires
check control-check control_check
check control-help control_help
[ "$RIG_XENSTORE" = stub ] && check stub-domain stub_domain
RIG_STEP_TIMEOUT=600 check test-xenstore test_xenstore
check xl-info xl_info
check xl-list xl_list
