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

# One round of dom0 traffic while the guest runs: dom0 must be served
# during the guest's misbehaviour. Then looks for the guest's summary line.
probe_and_look() {
    hr_i=$((hr_i + 1))
    xenstore-write /hostile-probe/$name "$hr_i" || { echo "dom0 write failed at $hr_i" >&2; return 2; }
    [ "$(xenstore-read /hostile-probe/$name)" = "$hr_i" ] || { echo "dom0 read failed at $hr_i" >&2; return 2; }
    xl dmesg | grep -a "(d$domid)" | grep -aq 'hostile-guest: [0-9]* passed'
}

# Boots guest NAME, waits for its summary line while dom0 keeps reading and
# writing xenstore (up to 240 s: only a hang takes that long), prints the
# guest's lines and checks the summary.
hostile_run() {
    name=$1
    xl_create /tmp/$name.cfg || return 1
    domid=$(xl domid "$name") || return 1
    hr_i=0
    while :; do
        probe_and_look
        case $? in
        0) break ;;
        2) return 1 ;;
        esac
        [ "$hr_i" -lt 240 ] || { echo "no summary line from d$domid"; break; }
        sleep 1
    done
    xl dmesg | grep -a "(d$domid)" | grep -a 'hostile-guest:'
    xl dmesg | grep -a "(d$domid)" | grep -aq "hostile-guest: $STEPS passed, 0 failed"
}

# The stub keeps no record of the domain (quota usage, watches, ring).
no_record() { ! xenstore-control quota "$1"; }

# Destroys guest NAME; Xen must free it (the stub unmapped its ring), the
# stub must forget it, its home must be gone and xenstore must still work.
hostile_destroy() {
    name=$1
    domid=$(xl domid "$name") || return 1
    xl destroy "$name" || return 1
    until_true 120 domain_gone "$domid" || { echo "domain $domid still exists"; xl list; return 1; }
    ! xl list | grep -q "$name" || return 1
    until_true 120 no_record "$domid" || { echo "the stub still has a record of domain $domid:"; xenstore-control quota "$domid"; return 1; }
    xenstore-write /hostile-probe/after "$name" || return 1
    [ "$(xenstore-read /hostile-probe/after)" = "$name" ] || return 1
    # The toolstack removes the home.
    ! xenstore-read /local/domain/$domid/domid 2>/dev/null
}


hostile_cfg hostile-idx ""
hostile_cfg hostile-big "oversize"
RIG_STEP_TIMEOUT=400 check hostile-bad-index hostile_run hostile-idx
check hostile-bad-index-destroy hostile_destroy hostile-idx
RIG_STEP_TIMEOUT=400 check hostile-oversize hostile_run hostile-big
check hostile-oversize-destroy hostile_destroy hostile-big
check hostile-stub-idle stub_idle
