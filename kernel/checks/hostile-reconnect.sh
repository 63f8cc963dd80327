# Dom0 check script for the Xen boot rig: rings that reported an error are
# reconnected. The hostile test guest (build/xs-hostile-guest.elf, `make
# hostile-guest`, kernel/src/guest/) runs under our stub:
#
#   make image hostile-guest
#   scripts/xen-rig/boot.sh --xen 4.17 --stub build/xenstore-stubdom-rs.gz \
#       --stub-mem 4 --extra build/xs-hostile-guest.elf \
#       --check kernel/checks/hostile-reconnect.sh
#
# Three guests, one after the other, each checked from its verdict lines on
# the Xen console (`xl dmesg`, port 0xE9) while dom0 keeps writing and
# reading xenstore, then destroyed (xenstore still answers, the stub
# dropped the domain):
#   reconnect-idx  bad indices (error 2), no service until the guest asks
#                  for a reconnection, then CONNECTED with the error field
#                  cleared, requests served, the old watch gone;
#   reconnect-big  the same after an oversize header (error 3);
#   storm          50 error -> reconnect cycles, reading after each; the
#                  stub honours 8 at once then 4 a second, so most wait
#                  for its rate limit, and its log lines about them are
#                  rate-limited too: fewer lines than cycles, and a
#                  "similar messages suppressed" line.
GUEST=/rig/extra/xs-hostile-guest.elf
# The storm takes about 11 s of rate limit on top of the guest's boot.
RIG_STEP_TIMEOUT=180

# Writes an xl config for guest NAME with command line ARGS.
reconnect_cfg() {
    cat >/tmp/$1.cfg <<CFG
name = "$1"
type = "pvh"
kernel = "$GUEST"
memory = 64
shadow_memory = 4
cmdline = "$2"
CFG
}

# Boots guest NAME, waits up to 150 s for its summary line while dom0 keeps
# writing and reading xenstore, prints the guest's lines and checks that
# STEPS steps passed.
reconnect_run() {
    name=$1
    steps=$2
    xl create /tmp/$name.cfg || return 1
    domid=$(xl domid "$name") || return 1
    i=0
    summary=
    while [ $i -lt 150 ]; do
        xenstore-write /reconnect-probe/$name "$i" || { echo "dom0 write failed at $i"; return 1; }
        [ "$(xenstore-read /reconnect-probe/$name)" = "$i" ] || { echo "dom0 read failed at $i"; return 1; }
        summary=$(xl dmesg | grep -a "(d$domid)" | grep -a 'hostile-guest: [0-9]* passed' | tail -n 1)
        [ -n "$summary" ] && break
        i=$((i + 1))
        sleep 1
    done
    xl dmesg | grep -a "(d$domid)" | grep -a 'hostile-guest:'
    echo "$summary" | grep -q "hostile-guest: $steps passed, 0 failed"
}

# The stub's log lines about the storm guest's reconnections are bounded.
storm_log() {
    domid=$(xl domid hostile-storm) || return 1
    s=d$(xl domid Xenstore) || return 1
    log=$(xl dmesg | grep -a "($s) ")
    reconnects=$(echo "$log" | grep -ac "domain $domid reconnects its ring")
    failures=$(echo "$log" | grep -ac "domain $domid: .*connection ignored")
    suppressed=$(echo "$log" | grep -ac 'similar messages suppressed')
    echo "stub lines: $reconnects reconnections, $failures failures, $suppressed suppressed-notes for 50 cycles"
    [ "$reconnects" -gt 0 ] && [ "$reconnects" -lt 50 ] && [ "$failures" -lt 50 ] && [ "$suppressed" -gt 0 ]
}

# Destroys guest NAME; xenstore must still work and the stub must have
# dropped the domain.
reconnect_destroy() {
    name=$1
    domid=$(xl domid "$name") || return 1
    xl destroy "$name" || return 1
    sleep 3
    ! xl list | grep -q "$name" || return 1
    xenstore-write /reconnect-probe/after "$name" || return 1
    [ "$(xenstore-read /reconnect-probe/after)" = "$name" ] || return 1
    ! xenstore-read /local/domain/$domid/domid 2>/dev/null
}

reconnect_cfg hostile-ri "reconnect-idx"
reconnect_cfg hostile-rb "reconnect-big"
reconnect_cfg hostile-storm "storm"
check reconnect-after-bad-index reconnect_run hostile-ri 8
check reconnect-after-bad-index-destroy reconnect_destroy hostile-ri
check reconnect-after-oversize reconnect_run hostile-rb 8
check reconnect-after-oversize-destroy reconnect_destroy hostile-rb
check reconnect-storm reconnect_run hostile-storm 4
check reconnect-storm-log-bounded storm_log
check reconnect-storm-destroy reconnect_destroy hostile-storm
check reconnect-stub-idle stub_idle
