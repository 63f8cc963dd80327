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
# and stops reading its ring. Dom0 then writes 60 nodes under data/flood in
# one xenstore-write, which is one transaction: all 60 events fire at its
# commit, about 30 fill the guest's ring, the rest wait in the stub. The
# guest sees its ring full and leaves it unread for 10 s more. With a 2 s
# timeout the stub must drop the waiting events by itself, woken by its
# timer alone, and log "N unread watch events expired (timer wake-up)"
# before the guest reads again; the guest then sees fewer than 60 events.
# Dom0 stays silent after the commit, so only the timer can wake the stub.
# No step depends on how fast dom0 or the stub are: the guest waits for the
# flood itself, and dom0 for the guest's lines.
guest_cfg hostile-exp expiry

# The Xen console time stamp of the first line of domain DOMID matching
# PATTERN.
console_time() {
    xl dmesg | grep -a "(d$1) " | grep -a "$2" | head -n 1 | sed -n 's/.*(d[0-9]*) \[ *\([0-9.]*\)\].*/\1/p'
}

# Waits for a line of domain DOMID matching PATTERN (up to 240 s: a hang).
wait_line() {
    until_true 240 console_has "$1" "$2" && return 0
    echo "no line matching '$2' from d$1"
    return 1
}

expiry_run() {
    case "${RIG_STUB_ARGS:-}" in
    *watch-event=*debug*) ;;
    *) echo "the stub needs --stub-args '--param \"-w watch-event=2 --log-level debug\"'"; return 1 ;;
    esac
    xl_create /tmp/hostile-exp.cfg || return 1
    g=$(xl domid hostile-exp) || return 1
    s=$(xl domid Xenstore) || return 1
    wait_line "$g" 'hostile-guest: flood me' || return 1
    home=/local/domain/$g
    i=1
    set --
    while [ $i -le 60 ]; do
        set -- "$@" "$home/data/flood/$i" x
        i=$((i + 1))
    done
    # One process, one transaction (xenstore-write wraps its writes in one).
    xenstore-write "$@" || return 1
    echo "flooded at $(cut -d' ' -f1 /proc/uptime) s dom0 uptime"
    wait_line "$g" 'hostile-guest: [0-9]* passed' || return 1
    xl dmesg | grep -a "(d$g) " | grep -a 'hostile-guest:'
    xl dmesg | grep -a "(d$s) " | grep -a 'expired' | head -n 5
    guest_passed "$g" 3 || return 1
    t_expired=$(console_time "$s" 'unread watch events expired (timer wake-up)')
    t_read=$(console_time "$g" 'hostile-guest: reading events')
    echo "timer expiry at ${t_expired:-never}, guest reads again at $t_read"
    [ -n "$t_expired" ] && [ -n "$t_read" ] || return 1
    awk -v a="$t_expired" -v b="$t_read" 'BEGIN { exit !(a < b) }'
}

expiry_destroy() {
    d=$(xl domid hostile-exp) || return 1
    xl destroy hostile-exp || return 1
    until_true 120 domain_gone "$d" || { echo "domain $d still exists"; xl list; return 1; }
    xenstore-write /expiry-done 1 && [ "$(xenstore-read /expiry-done)" = 1 ]
}

check watch-event-expiry expiry_run
check watch-event-expiry-destroy expiry_destroy
