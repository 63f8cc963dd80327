# Dom0 check script for the Xen boot rig: unread watch events expire on
# time inside the stub, driven by its single-shot timer. The stub must run
# with a short watch-event timeout and debug logging (the expiry line is a
# debug message), and the hostile test guest is needed:
#
#   make image hostile-guest
#   scripts/xen-rig/boot.sh --xen 4.17 --stub build/xenstore-stubdom-rs.gz \
#       --stub-mem 4 --stub-args '--param "-w watch-event=2 --log-level debug"' \
#       --extra build/xs-hostile-guest.elf --check kernel/checks/watch-expiry.sh
#
# The guest (command line `expiry`) watches data/flood, prints "flood me"
# and leaves its ring unread for 12 s while dom0 writes 60 nodes under
# data/flood: about 30 events fit in the ring, the rest wait in the stub.
# With a 2 s timeout the stub must drop them by itself, woken by its timer
# alone, and log "N unread watch events expired (timer wake-up)" before the
# guest reads again; the guest then sees fewer than 60 events. Dom0 stays
# silent while it waits, so only the timer can wake the stub.
GUEST=/rig/extra/xs-hostile-guest.elf

cat >/tmp/hostile-exp.cfg <<CFG
name = "hostile-exp"
type = "pvh"
kernel = "$GUEST"
memory = 64
shadow_memory = 4
cmdline = "expiry"
CFG

# The Xen console time stamp of the first (dDOMID) line matching PATTERN.
console_time() {
    xl dmesg | grep -a "($1) " | grep -a "$2" | head -n 1 | sed -n 's/.*(d[0-9]*) \[ *\([0-9.]*\)\].*/\1/p'
}

# Waits up to 60 s for a (dDOMID) line matching PATTERN.
wait_line() {
    i=0
    while [ $i -lt 60 ]; do
        xl dmesg | grep -a "($1) " | grep -aq "$2" && return 0
        i=$((i + 1))
        sleep 1
    done
    echo "no line matching '$2' from $1"
    return 1
}

expiry_run() {
    case "${RIG_STUB_ARGS:-}" in
    *watch-event=*debug*) ;;
    *) echo "the stub needs --stub-args '--param \"-w watch-event=2 --log-level debug\"'"; return 1 ;;
    esac
    xl create /tmp/hostile-exp.cfg || return 1
    g=d$(xl domid hostile-exp) || return 1
    s=d$(xl domid Xenstore) || return 1
    wait_line "$g" 'hostile-guest: flood me' || return 1
    home=/local/domain/${g#d}
    i=1
    while [ $i -le 60 ]; do
        xenstore-write "$home/data/flood/$i" x || return 1
        i=$((i + 1))
    done
    echo "flooded at $(cut -d' ' -f1 /proc/uptime) s dom0 uptime"
    wait_line "$g" 'hostile-guest: [0-9]* passed' || return 1
    xl dmesg | grep -a "($g) " | grep -a 'hostile-guest:'
    xl dmesg | grep -a "($s) " | grep -a 'expired' | head -n 5
    xl dmesg | grep -a "($g) " | grep -aq 'hostile-guest: 3 passed, 0 failed' || return 1
    t_expired=$(console_time "$s" 'unread watch events expired (timer wake-up)')
    t_read=$(console_time "$g" 'hostile-guest: reading events')
    echo "timer expiry at ${t_expired:-never}, guest reads again at $t_read"
    [ -n "$t_expired" ] && [ -n "$t_read" ] || return 1
    awk -v a="$t_expired" -v b="$t_read" 'BEGIN { exit !(a < b) }'
}

expiry_destroy() {
    xl destroy hostile-exp && sleep 2 && xenstore-write /expiry-done 1 && [ "$(xenstore-read /expiry-done)" = 1 ]
}

check watch-event-expiry expiry_run
check watch-event-expiry-destroy expiry_destroy
