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
# an oversized header (XENSTORE_ERROR_PROTO).
GUEST=/rig/extra/xs-hostile-guest.elf
STEPS=9

# Writes an xl config for guest NAME with command line ARGS.
hostile_cfg() {
    cat >/tmp/$1.cfg <<CFG
name = "$1"
type = "pvh"
kernel = "$GUEST"
memory = 64
shadow_memory = 4
cmdline = "$2"
CFG
}

# Boots guest NAME, waits for its summary line while dom0 keeps reading and
# writing xenstore, prints the guest's lines and checks the summary.
hostile_run() {
    name=$1
    xl create /tmp/$name.cfg || return 1
    domid=$(xl domid "$name") || return 1
    i=0
    summary=
    while [ $i -lt 90 ]; do
        # Dom0 is served during the guest's misbehaviour.
        xenstore-write /hostile-probe/$name "$i" || { echo "dom0 write failed at $i"; return 1; }
        [ "$(xenstore-read /hostile-probe/$name)" = "$i" ] || { echo "dom0 read failed at $i"; return 1; }
        summary=$(xl dmesg | grep -a "(d$domid)" | grep -a 'hostile-guest: [0-9]* passed' | tail -n 1)
        [ -n "$summary" ] && break
        i=$((i + 1))
        sleep 1
    done
    xl dmesg | grep -a "(d$domid)" | grep -a 'hostile-guest:'
    echo "$summary" | grep -q "hostile-guest: $STEPS passed, 0 failed"
}

# Destroys guest NAME; xenstore must still work and its home must be gone.
hostile_destroy() {
    name=$1
    domid=$(xl domid "$name") || return 1
    xl destroy "$name" || return 1
    sleep 3
    ! xl list | grep -q "$name" || return 1
    xenstore-write /hostile-probe/after "$name" || return 1
    [ "$(xenstore-read /hostile-probe/after)" = "$name" ] || return 1
    # The toolstack removes the home; the stub must have dropped the domain.
    ! xenstore-read /local/domain/$domid/domid 2>/dev/null
}


hostile_cfg hostile-idx ""
hostile_cfg hostile-big "oversize"
check hostile-bad-index hostile_run hostile-idx
check hostile-bad-index-destroy hostile_destroy hostile-idx
check hostile-oversize hostile_run hostile-big
check hostile-oversize-destroy hostile_destroy hostile-big
check hostile-stub-idle stub_idle
