# Dom0 check script for the Xen boot rig: rings that reported an error are
# reconnected. The hostile test guest (build/xs-hostile-guest.elf, `make
# hostile-guest`, kernel/src/guest/) runs under our stub:
#
#   make image hostile-guest
#   scripts/xen-rig/boot.sh --xen 4.17 --stub build/xenstore-stubdom-rs.gz \
#       --stub-mem 4 --extra build/xs-hostile-guest.elf \
#       --check kernel/checks/hostile-reconnect.sh
#
# Four guests, one after the other, each checked from its verdict lines on
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
#                  rate-limited too: no more lines than the log gate
#                  lets through in the time the storm took;
#   reintro        introduced again by dom0 while it lives (XS_INTRODUCE):
#                  indices zeroed, the old watch gone, served again.
# Every wait is for the event (the guest's summary line, the domain gone,
# the stub's record gone), limited only to catch a hang.

# Boots guest NAME and waits for its summary line while dom0 keeps using
# xenstore (guest_summary in dom0-harness.sh), then checks that STEPS steps
# passed.
reconnect_run() {
    xen_now >/tmp/$1.t0
    xl_create /tmp/$1.cfg || return 1
    domid=$(xl domid "$1") || return 1
    guest_summary "$domid" /reconnect-probe/$1 240 || return 1
    xen_now >/tmp/$1.t1
    guest_passed "$domid" "$2"
}

# The stub's log lines about the storm guest's reconnections are bounded by
# its log gate (10 lines at once, then one per 5 s for each kind of line)
# over the time the storm really took, measured from xl create to the
# summary line on Xen's clock (xen_now; dom0's own clock can run slow on a
# loaded host, which once made a 12 s storm look like 2 s): a bound
# computed from the elapsed time, not a guess about how fast the guest
# cycles. The cycles themselves cannot go faster than
# the stub's reconnection limit, so the storm takes at least 10 s.
storm_log() {
    domid=$(xl domid hostile-storm) || return 1
    s=d$(xl domid Xenstore) || return 1
    log=$(xl dmesg | grep -a "($s) ")
    reconnects=$(echo "$log" | grep -ac "domain $domid reconnects its ring")
    failures=$(echo "$log" | grep -ac "domain $domid: .*connection ignored")
    suppressed=$(echo "$log" | grep -ac 'similar messages suppressed')
    took=$(awk -v a="$(cat /tmp/hostile-storm.t0)" -v b="$(cat /tmp/hostile-storm.t1)" 'BEGIN { printf "%d", b - a + 1 }')
    bound=$((10 + took / 5 + 1))
    echo "stub lines: $reconnects reconnections, $failures failures, $suppressed suppressed-notes for 50 cycles in $took s (bound $bound each)"
    [ "$reconnects" -gt 0 ] && [ "$reconnects" -le "$bound" ] && [ "$failures" -le "$bound" ]
}

# xs_introduce DOMID GFN PORT: XS_INTRODUCE (type 8) of a domain through
# /dev/xen/xenbus, as a toolstack sends it (xenstore-control has no such
# command); prints the reply's payload and succeeds on "OK".
xs_introduce() {
    exec 3<>/dev/xen/xenbus || return 1
    xs_send 8 0 $((${#1} + ${#2} + ${#3} + 3)) "$1\\000$2\\000$3\\000"
    xi_reply=$(xs_reply)
    exec 3<&-
    echo "XS_INTRODUCE $1 $2 $3: $xi_reply"
    [ "$xi_reply" = OK ]
}

# The reintro guest writes data/reintro once its watch works; dom0 then
# introduces it again with the ring and port the toolstack gave it, as a
# toolstack re-introducing a live domain does: the stub (as C's
# domain_conn_reset) remaps the ring with its indices zeroed and starts
# the connection afresh, without its watch; the guest checks all of it
# and is served again.
reintro_written() { [ "$(xenstore-read "/local/domain/$1/data/reintro")" = ready ]; }
reintro_run() {
    xl_create /tmp/hostile-reintro.cfg || return 1
    domid=$(xl domid hostile-reintro) || return 1
    until_true 300 reintro_written "$domid" || { echo "the guest never wrote data/reintro"; return 1; }
    ref=$(xenstore-read "/local/domain/$domid/store/ring-ref") || return 1
    port=$(xenstore-read "/local/domain/$domid/store/port") || return 1
    xs_introduce "$domid" "$ref" "$port" || return 1
    guest_summary "$domid" /reconnect-probe/hostile-reintro 240 || return 1
    guest_passed "$domid" 6
}

# Destroys guest NAME: Xen and the stub let go of it, xenstore still works.
reconnect_destroy() { destroy_released "$1" /reconnect-probe/after; }

guest_cfg hostile-ri "reconnect-idx"
guest_cfg hostile-rb "reconnect-big"
guest_cfg hostile-storm "storm"
guest_cfg hostile-reintro "reintro"
RIG_STEP_TIMEOUT=400 check reconnect-after-bad-index reconnect_run hostile-ri 8
check reconnect-after-bad-index-destroy reconnect_destroy hostile-ri
RIG_STEP_TIMEOUT=400 check reconnect-after-oversize reconnect_run hostile-rb 8
check reconnect-after-oversize-destroy reconnect_destroy hostile-rb
RIG_STEP_TIMEOUT=400 check reconnect-storm reconnect_run hostile-storm 4
check reconnect-storm-log-bounded storm_log
check reconnect-storm-destroy reconnect_destroy hostile-storm
RIG_STEP_TIMEOUT=400 check reintroduce-live-domain reintro_run
check reintroduce-live-domain-destroy reconnect_destroy hostile-reintro
check reconnect-stub-idle stub_idle
