# Sourced by dom0's /init before the check script: the helpers checks use.
#
#   check NAME COMMAND [ARGS...]
#
# runs COMMAND (a program or a shell function) with its output captured and a
# time limit of $RIG_STEP_TIMEOUT seconds (default 300), records PASS or FAIL
# for NAME in /run/rig/results and prints "RIG: PASS NAME (T s)" or
# "RIG: FAIL NAME ..." followed by the command's last output lines.
#
# Time limits in checks are hang detectors, never a stand-in for an event:
# a check waits for the thing itself (until_true below, a watch, a process
# exit) and its limit is many times what a loaded machine needs (QEMU TCG
# on a busy host runs several times slower than on an idle one).

check() {
    name=$1
    shift
    out=/run/rig/check.out
    t0=$(cut -d' ' -f1 /proc/uptime)
    ("$@") >"$out" 2>&1 &
    rig_wait $! "${RIG_STEP_TIMEOUT:-300}"
    rc=$?
    took=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" = 0 ]; then
        echo "PASS $name" >>/run/rig/results
        echo "RIG: PASS $name ($took s)"
        [ -n "${RIG_VERBOSE:-}" ] && sed 's/^/    /' "$out"
    elif dom0_crash_in "$out"; then
        echo "FAIL $name dom0-crash" >>/run/rig/results
        echo "RIG: FAIL $name (exit $rc, $took s; a dom0 process crashed, see rig_script)"
        tail -n 20 "$out" | sed 's/^/    /'
    else
        echo "FAIL $name" >>/run/rig/results
        [ "$rc" = 124 ] && echo "RIG: FAIL $name (timed out after $took s)" || echo "RIG: FAIL $name (exit $rc, $took s)"
        tail -n 20 "$out" | sed 's/^/    /'
        # What was still running says where a time-out was stuck.
        [ "$rc" = 124 ] && ps -o pid,stat,args | grep -v ' \[' | sed 's/^/    ps: /'
        [ "$rc" = 124 ] && [ "$RIG_XENSTORE" = stub ] && stub_diag 2>&1 | sed 's/^/    stub: /'
    fi
    return 0
}

# stub_diag: what the xenstore stub domain is doing, found without asking
# xenstore (a step that timed out may be waiting on a stub that stopped
# answering): Xen's view of its vCPU (debug key q: blocked or running, an
# upcall pending) and of its event channels (debug key e: the ports pending
# or masked), then twice, a second apart, its registers and the code
# addresses on its stack, named from /rig/stub.map (xenctx), and the last
# lines it printed. The stub is the first domain built after dom0
# (init-xenstore-domain runs first).
stub_diag() {
    sd_id=${RIG_STUB_DOMID:-1}
    xl dmesg | grep -a "(d$sd_id) " | tail -n 8
    # Xen's own word on it: a crash, a triple fault, a shutdown.
    xl dmesg | grep -a "^(XEN)" | grep -aiE "d${sd_id}v[0-9]|domain $sd_id |dom$sd_id[^0-9]" |
        grep -aiE "crash|fault|shutdown|dying" | tail -n 4
    xl debug-keys q
    xl debug-keys e
    sleep 1
    sd_vcpu=$(xl dmesg | awk -v d="$sd_id:" '
        /General information for domain|VCPU information and callbacks for domain/ { keep = ($NF == d) }
        keep && /VCPU[0-9]+:|pause_flags|dying=/' | tail -n 3)
    echo "$sd_vcpu"
    # Its event channels that are pending or masked ([p/m/s] flags).
    xl dmesg | awk -v d="$sd_id:" '
        /Event channel information for domain/ { keep = ($NF == d); n = 0; p = 0; next }
        keep && /\[[01]\/[01]\/[01]\]:/ { n++; if (/\[1\/|\/1\//) { line[p++] = $0 } }
        END { printf "event channels: %d ports, %d pending or masked\n", n, p
              for (i = 0; i < p && i < 16; i++) print line[i] }'
    sd_map=
    [ -s /rig/stub.map ] && sd_map="-s /rig/stub.map"
    sd_rips=
    for sd_i in 1 2; do
        # Registers, then the stack words that name code (the stub has no
        # frame pointers: xenctx names every word; most are data).
        # shellcheck disable=SC2086 # sd_map is zero or two words.
        timeout 20 /usr/lib/xen-*/bin/xenctx $sd_map -k 0 -S -l 64 "$sd_id" 0 >/run/rig/xenctx.out 2>&1
        awk '/^Stack Trace:/ { trace = 1; next }
            /^(rip|flags|rsp):/ { print }
            trace && /\+0x/ && !/__image_start|text_end/ { print; if (++n == 24) exit }' /run/rig/xenctx.out
        sd_rips="$sd_rips $(awk '/^rip:/ { print $3; exit }' /run/rig/xenctx.out)"
        [ "$sd_i" = 2 ] || sleep 1
    done
    # One line last, for logs that keep only their end: blocked
    # (pause_flags 1) or running, an upcall pending, where it was twice.
    echo "summary: d$sd_id $(echo "$sd_vcpu" | grep -o 'upcall_pend=[0-9]*' | head -n 1)" \
        "$(echo "$sd_vcpu" | grep -o 'pause_flags=[0-9a-f]*' | tail -n 1) rip:${sd_rips:- unknown}"
}

# dom0_crash_in FILE: FILE (a step's output) shows a dom0 process killed by
# the memory corruption this rig inflicts on dom0 now and then (see the
# README, "Other dom0 processes crash"): the shell's report of a SIGSEGV,
# SIGABRT or SIGBUS, glibc's or the loader's own abort messages.
dom0_crash_in() {
    grep -aqE 'Segmentation fault|^Aborted|Bus error|Illegal instruction|Inconsistency detected by ld.so|futex facility returned an unexpected error|malloc\(\): |double free or corruption|corrupted (double-linked|size vs)' "$1"
}

# rig_script FILE: runs check script FILE in a subshell. When one of its
# failed steps shows a dom0 process crash, the rig, not the checked code,
# failed: its results are set aside (the console keeps them, with a
# "RIG: note"), the guests it left are destroyed and its watchers stopped,
# and it runs once more from the start; the second run's results count,
# whatever they are. A failure without a crash is never run again.
rig_script() {
    rs_mark=$(wc -l </run/rig/results)
    ( . "$1" )
    tail -n +$((rs_mark + 1)) /run/rig/results | grep -q ' dom0-crash$' || return 0
    echo "RIG: note: $(basename "$1") lost a step to a dom0 process crash; its results are set aside and it runs again"
    head -n "$rs_mark" /run/rig/results >/run/rig/results.keep
    mv /run/rig/results.keep /run/rig/results
    echo "RERUN $(basename "$1")" >>/run/rig/notes
    killall xenstore-watch 2>/dev/null
    for rs_d in $(xl list | awk 'NR > 1 && $1 != "Domain-0" && $1 != "Xenstore" { print $2 }'); do
        xl destroy "$rs_d" 2>/dev/null
        until_true 120 domain_gone "$rs_d"
    done
    ( . "$1" )
}

# until_true SECONDS COMMAND...: runs COMMAND (output discarded) every 0.2 s
# until it succeeds; fails when it has not within SECONDS. (Shell variables
# are global: its counters have names of their own.)
until_true() {
    ut_limit=$(($1 * 5))
    shift
    ut_tries=0
    until ut_attempt "$@"; do
        ut_tries=$((ut_tries + 1))
        [ "$ut_tries" -le "$ut_limit" ] || return 1
        sleep 0.2
    done
}

# ut_attempt COMMAND...: one attempt of until_true, in the background and
# killed after 60 s: a dom0 process on this rig can hang as well as crash
# (see the README, "Other dom0 processes crash"), and one hung `xl dmesg`
# must not turn a wait into a step time-out. The next attempt is a new
# process. Each kill is noted on the console.
ut_attempt() {
    ("$@") >/dev/null 2>&1 &
    ua_pid=$!
    ua_n=0
    while kill -0 "$ua_pid" 2>/dev/null; do
        if [ "$ua_n" -ge 600 ]; then
            kill -9 "$ua_pid" 2>/dev/null
            echo "RIG: note: an attempt hung for 60 s and was killed: $*" >/dev/console
            return 1
        fi
        sleep 0.1
        ua_n=$((ua_n + 1))
    done
    wait "$ua_pid"
}

# domain_gone NAME|DOMID: Xen no longer has the domain, not even dying
# (`xl list` names a dying domain whose xenstore entries are gone "(null)",
# so a domid is the reliable argument once the name may be gone).
domain_gone() { ! xl list "$1" >/dev/null 2>&1; }

# no_record DOMID: xenstore keeps no accounting record of the domain (quota
# usage, watches, ring): `xenstore-control quota DOMID` fails.
no_record() { ! xenstore-control quota "$1"; }

# guest_cfg NAME ARGS: writes /tmp/NAME.cfg, an xl config that boots the
# hostile test guest (--extra build/xs-hostile-guest.elf, kernel/src/guest/)
# as NAME with command line ARGS.
guest_cfg() {
    cat >/tmp/$1.cfg <<CFG
name = "$1"
type = "pvh"
kernel = "/rig/extra/xs-hostile-guest.elf"
memory = 64
shadow_memory = 4
cmdline = "$2"
CFG
}

# console_has DOMID PATTERN: a line domain DOMID printed on the Xen console
# (`xl dmesg`) matches grep PATTERN.
console_has() { xl dmesg | grep -a "(d$1) " | grep -aq "$2"; }

# Xen's time now, in seconds: the timestamp (console_timestamps=boot) of
# the newest console line after debug key 't', which prints the clocks.
# Checks that bound something by elapsed time use it, not dom0's uptime: on
# a loaded host dom0's clock was seen running 50 times slow for a whole
# boot, while Xen's kept the host's time.
xen_now() {
    xl debug-keys t >/dev/null 2>&1
    xl dmesg | tr -d '\r' | sed -n 's/^(XEN) \[ *\([0-9][0-9]*\.[0-9]*\)\].*/\1/p' | tail -n 1
}

# guest_summary DOMID PROBE_NODE SECONDS: waits for a test guest's summary
# line ("hostile-guest: N passed, M failed") on the Xen console while dom0
# writes and reads PROBE_NODE once a second (dom0 must be served whatever
# the guest does). Fails at once when dom0 is not served; SECONDS only
# catches a hang. Prints the guest's lines.
guest_summary() {
    gs_i=0
    while :; do
        gs_i=$((gs_i + 1))
        dom0_retry xenstore-write "$2" "$gs_i" || { echo "dom0 write failed at $gs_i"; return 1; }
        [ "$(dom0_retry xenstore-read "$2")" = "$gs_i" ] || { echo "dom0 read failed at $gs_i"; return 1; }
        console_has "$1" 'hostile-guest: [0-9]* passed' && break
        [ "$gs_i" -lt "$3" ] || { echo "no summary line from d$1 after $3 rounds"; break; }
        sleep 1
    done
    xl dmesg | grep -a "(d$1)" | grep -a 'hostile-guest:'
}

# guest_passed DOMID STEPS: the guest's summary says STEPS passed, 0 failed.
guest_passed() { console_has "$1" "hostile-guest: $2 passed, 0 failed"; }

# destroy_released NAME PROBE_NODE: destroys guest NAME; Xen must free it
# (xenstore unmapped its ring), xenstore must forget it and its home, and
# must still answer dom0.
destroy_released() {
    dr_id=$(xl domid "$1") || return 1
    xl destroy "$1" || return 1
    until_true 120 domain_gone "$dr_id" || { echo "domain $dr_id still exists"; xl list; return 1; }
    until_true 120 no_record "$dr_id" || { echo "xenstore still has a record of domain $dr_id:"; xenstore-control quota "$dr_id"; return 1; }
    dom0_retry xenstore-write "$2" "$1" || return 1
    [ "$(dom0_retry xenstore-read "$2")" = "$1" ] || return 1
    # The toolstack removes the home.
    ! xenstore-read "/local/domain/$dr_id/domid" 2>/dev/null
}

# xl_create [OPTIONS] CONFIG, xl_restore NAME [OPTIONS] FILE: `xl create`
# and `xl restore`, judged by their outcome when xl's monitoring child dies.
# After the domain is built and unpaused, xl forks a child that becomes the
# domain's monitoring daemon. In this rig, with our stub as xenstore (never
# with C xenstored in dom0), dom0's xl processes occasionally find their
# memory corrupted: in about 1 to 5 creations in 100 that child dies right
# after the fork, before it sends anything to xenstore ("corrupted
# double-linked list", "malloc(): unsorted double linked list corrupted" or
# SIGSEGV in malloc under libxl_ctx_alloc), and xl exits 3 with "domain
# monitoring daemonizing child [N] died due to fatal signal ...", although
# the domain was created and runs; sometimes the daemon itself dies later
# (xl then exits 0). It happens more when dom0 and the stub share a CPU,
# and never while the new guest stays paused; the xenstore traffic xl sees
# is the same as with C xenstored (see the rig README). No check relies on
# the monitoring daemon (it acts on a guest's own shutdown or reboot; the
# guests here never shut down by themselves, or keep on_poweroff =
# "preserve", which does nothing). So exactly when xl's output says that
# child died, and the domain exists, the command counts as successful; its
# output is printed either way, and a "RIG: note" line goes to the console.
xl_monitor_died() {
    grep -q 'domain monitoring daemonizing child \[[0-9]*\] died due to fatal signal' /run/rig/xl.out &&
        xl domid "$1" >/dev/null 2>&1 || return 1
    echo "$2: only xl's monitoring child died; domain $1 exists: accepted"
    echo "RIG: note: $2 $1: xl's monitoring child died after the fork, the domain was created (tolerated)" >/dev/console
}
xl_create() {
    xl create "$@" >/run/rig/xl.out 2>&1
    xl_rc=$?
    cat /run/rig/xl.out
    [ "$xl_rc" = 0 ] && return 0
    for xl_cfg; do :; done
    xl_monitor_died "$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$xl_cfg" | head -n 1)" "xl create" || return "$xl_rc"
}
xl_restore() {
    xl_name=$1
    shift
    xl restore "$@" >/run/rig/xl.out 2>&1
    xl_rc=$?
    cat /run/rig/xl.out
    [ "$xl_rc" = 0 ] && return 0
    xl_monitor_died "$xl_name" "xl restore" || return "$xl_rc"
}

# dom0_retry COMMAND...: runs COMMAND again (three runs at most) when it
# died of a signal (exit status above 128) or the dynamic loader gave up on
# it (127, "Inconsistency detected by ld.so"): on this rig, dom0 processes
# now and then have their memory corrupted while PVH guests are busy, with
# C xenstored in dom0 as well as with the stub (see the rig README), which
# is not an answer of xenstore's. A command that fails by itself fails at
# once. Each repeat is noted on the console ("RIG: note: ..."). Only for
# commands that may be repeated.
dom0_retry() {
    rr_n=1
    while :; do
        "$@"
        rr_rc=$?
        { [ "$rr_rc" = 127 ] || [ "$rr_rc" -gt 128 ]; } && [ "$rr_n" -lt 3 ] || return "$rr_rc"
        echo "RIG: note: dom0 process died (exit $rr_rc), run again: $*" >/dev/console
        rr_n=$((rr_n + 1))
    done
}

# stub_idle: the xenstore stub domain sleeps when nobody talks to it. Its
# CPU time (xl list's Time(s)) is read twice, about 5 s apart, and may grow
# by less than 0.5 s plus a tenth of the time that really passed (Xen's
# clock, xen_now: dom0's can run slow on a loaded host); a spinning stub
# grows by about the whole interval. (A single look at the state letters is
# not enough: `xl list` itself asks xenstore, so the stub may be caught
# running while it answers.)
stub_idle() {
    u0=$(xen_now)
    t0=$(xl list Xenstore | awk 'NR == 2 { print $6 }')
    sleep 5
    t1=$(xl list Xenstore | awk 'NR == 2 { print $6 }')
    u1=$(xen_now)
    xl list Xenstore
    echo "stub CPU time: $t0 s -> $t1 s over $u0 s -> $u1 s of Xen's clock"
    [ -n "$u0" ] && [ -n "$u1" ] || { echo "no Xen clock on the console"; return 1; }
    [ -n "$t0" ] && [ -n "$t1" ] &&
        awk -v a="$t0" -v b="$t1" -v u0="$u0" -v u1="$u1" 'BEGIN { exit !(b - a < 0.5 + (u1 - u0) / 10) }'
}

# le32 N: N as four little-endian bytes, written as printf octal escapes.
le32() {
    printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $((($1 >> 8) & 255)) \
        $((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}

# xs_send TYPE TX LEN PAYLOAD: writes one whole xenstore message (request
# id 1, transaction TX, PAYLOAD in printf escapes, LEN bytes long) to file
# descriptor 3, an open /dev/xen/xenbus: for the requests the xenstore
# tools cannot send (a transaction held open, XS_INTRODUCE).
xs_send() { printf "$(le32 "$1")$(le32 1)$(le32 "$2")$(le32 "$3")$4" >&3; }

# xs_reply: the payload of the next message read from descriptor 3, NULs
# removed.
xs_reply() { dd bs=4096 count=1 <&3 2>/dev/null | tail -c +17 | tr -d '\000'; }
