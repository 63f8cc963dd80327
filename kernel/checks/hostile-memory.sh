# Dom0 check script for the Xen boot rig: memory attacks on the stub's
# metered heap (store/src/budget.rs) by hostile guests, while dom0 and a
# well-behaved guest keep being served. The hostile test guest
# (build/xs-hostile-guest.elf, `make hostile-guest`, kernel/src/guest/
# memory.rs) plays every part:
#
#   make image hostile-guest
#   scripts/xen-rig/boot.sh --xen 4.17 --stub build/xenstore-stubdom-rs.gz \
#       --stub-mem 4 --extra build/xs-hostile-guest.elf \
#       --check kernel/checks/hostile-memory.sh
#
#   hm-good    `good`: writes and reads back nodes under its home until
#              dom0 writes data/stop there, counting failures;
#   hm-memory  `memory`: READs of missing ~1020-deep paths in as many
#              transactions as allowed until refused (ENOMEM/ENOSPC), the
#              transactions ended and a normal write and read served; a
#              300-deep chain written and removed five times; 2000-byte
#              values until refused or no longer read (flow control);
#   hm-deeprm  `deep-rm`: a 998-deep chain (charged about 1 MB, four times
#              a domain's share): served, or its writer stalled;
#   hm-flood   `flood`: 127 watches on its home, then its ring is never
#              read again, while dom0 writes FLOOD_NODES nodes there (each
#              fires every watch: the stub must drop what the guest's
#              quota cannot hold, and expire the rest).
#
# Meanwhile dom0 times xenstore-write + xenstore-read pairs and batches of
# reads (idle first, then under attack) and prints the figures on one line
# starting `RTT:` (also on the console as `RIG: RTT: ...`). At the end the
# guests are destroyed; once the stub has dropped them, its heap (the
# `heap:` line of `xenstore-control memreport`, the bytes its allocator
# has handed out) must be back within HEAP_SLACK bytes of the baseline
# taken before the guests (`RIG: HEAP: ...`), and the stub must still
# answer and never have panicked.
#
# Nothing here depends on timing: every wait is for a condition, with a
# deadline that only a hang reaches.
#
# Dom0 processes crash on this rig (Xen under QEMU TCG) while a PVH guest
# is busy: segfaults and malloc aborts of xl, xenstore-*, busybox applets
# (the harness's own `sleep` and `tail` too), through corrupted TLS and
# heap pointers, in freshly started processes. It happens with C
# xenstored in dom0 as well as with the stub, and while dom0 does not
# talk to xenstore at all, so it is the rig's, not the stub's. So a dom0
# command of this script that a signal kills is run again (`rt`), at most
# RT_TRIES times; one that fails by itself is run once more, since a
# corrupted process may also just fail, and fails its check if it fails
# again. Every repeated command is listed at the end (memory-rig-crashes).
# Messages that explain a failure also go to the console (`RIG: memory:
# ...`): the harness's `tail` of a check's output may itself crash.
GUEST=/rig/extra/xs-hostile-guest.elf
RIG_STEP_TIMEOUT=420
# What one check may wait for a guest's console line or the stub's cleanup.
WAIT_S=300
# dom0's timed pairs while idle, and at least while under attack.
RTT_IDLE=100
RTT_ATTACK=100
# Reads per timed batch, and batches per phase.
BATCH=50
BATCHES=5
# Nodes dom0 writes under the flood guest's home, and per xenstore-write.
FLOOD_NODES=200
FLOOD_PER_WRITE=10
# Heap bytes the stub may keep after the guests are gone: the arena's
# free space below its compaction threshold (store/src/arena.rs, 16 KiB),
# the children-list slab's free slots below its threshold (64 slots of
# 40 bytes, store/src/dir.rs), short path buffers, allocator rounding.
HEAP_SLACK=32768
# Runs of a dom0 command killed by a signal before it counts as failed.
RT_TRIES=5
# Seconds one xenstore or xl command may take before it is killed and run
# again: a corrupted dom0 process may also hang (a real hang of the stub
# hangs every run, and fails).
CMD_TIMEOUT=60
# State shared between the checks (each runs in its own subshell).
S=/tmp/hostile-memory
mkdir -p $S
: >$S/crashes

# Prints a message, also on the console.
say() {
    echo "$*"
    echo "RIG: memory: $*" >/dev/console
}

# Runs COMMAND... again while a signal kills it or the shell cannot start
# it (exit status 126-192: the rig's dom0 crashes; a forked shell whose
# memory is corrupted also fails to find the program), at most RT_TRIES
# times, and once more if it fails by itself; returns its last status.
# Use it only for commands that may be repeated, and not where failing is
# the expected answer.
rt() {
    _n=1
    _again=1
    while :; do
        "$@"
        _rc=$?
        [ $_rc = 0 ] && return 0
        if { [ $_rc = 124 ] || { [ $_rc -gt 125 ] && [ $_rc -le 192 ]; }; } && [ $_n -lt $RT_TRIES ]; then
            echo "exit $_rc: $*" >>$S/crashes
        elif [ $_again = 1 ]; then
            _again=0
            echo "failed ($_rc), run again: $*" >>$S/crashes
        else
            return $_rc
        fi
        _n=$((_n + 1))
    done
}

# Runs COMMAND... again while a signal kills it or it cannot be started,
# at most RT_TRIES times; returns its status (for commands whose failure
# is an answer).
rs() {
    _n=1
    while :; do
        "$@"
        _rc=$?
        if { [ $_rc != 124 ] && { [ $_rc -le 125 ] || [ $_rc -gt 192 ]; }; } || [ $_n -ge $RT_TRIES ]; then
            return $_rc
        fi
        echo "exit $_rc: $*" >>$S/crashes
        _n=$((_n + 1))
    done
}

# Runs xenstore or xl COMMAND... for at most CMD_TIMEOUT seconds (exit
# status 124 when killed).
xs() {
    timeout $CMD_TIMEOUT "$@"
}

# Runs COMMAND... with its output in FILE.
to_file() {
    _f=$1
    shift
    "$@" >"$_f"
}

# Writes an xl config for guest NAME with command line ARGS.
hm_cfg() {
    cat >/tmp/$1.cfg <<CFG
name = "$1"
type = "pvh"
kernel = "$GUEST"
memory = 64
shadow_memory = 4
on_reboot = "destroy"
on_crash = "destroy"
cmdline = "$2"
CFG
}

# Sets NOW to a monotonic time in microseconds without starting a
# process: the kernel's "now at N nsecs" (/proc/timer_list), or
# /proc/uptime (10 ms steps) if the kernel has no timer list.
now_us() {
    if [ -r /proc/timer_list ]; then
        { read -r _l; read -r _l; read -r _l; } </proc/timer_list
        # shellcheck disable=SC2086 # split "now at N nsecs".
        set -- $_l
        NOW=$(($3 / 1000))
    else
        read -r _u _ </proc/uptime
        _c=${_u#*.}
        _c=${_c#0}
        NOW=$((${_u%.*} * 1000000 + _c * 10000))
    fi
}

clock_name() {
    if [ -r /proc/timer_list ]; then echo "/proc/timer_list (ns)"; else echo "/proc/uptime (10 ms)"; fi
}

# Saves the memory report in FILE and sets HEAP to its heap: line's used
# bytes (shell built-ins only, once the report is in).
memreport() {
    rt to_file "$1" xs xenstore-control memreport || return 1
    HEAP=
    while read -r _a _b _; do
        [ "$_a" = heap: ] && HEAP=$_b
    done <"$1"
    [ -n "$HEAP" ]
}

# Puts the console lines of guest NAME that say hostile-guest in
# $S/NAME.lines, from its console log (xenconsoled's copy of its PV
# console; `xl dmesg` of Xen 4.17 reads past its buffer once Xen's console
# ring is full).
guest_lines() {
    rs to_file $S/$1.lines grep -a 'hostile-guest:' /var/log/xen/console/guest-$1.log
    return 0
}

# Whether FILE has a line matching shell pattern GLOB (built-ins only: no
# process to crash).
log_has() {
    [ -r "$1" ] || return 1
    while IFS= read -r _line; do
        # shellcheck disable=SC2254 # GLOB is a pattern.
        case $_line in $2) return 0 ;; esac
    done <"$1"
    return 1
}

# Whether guest NAME printed a line containing shell pattern GLOB.
guest_said() {
    log_has /var/log/xen/console/guest-$1.log "*hostile-guest: $2*"
}

# Waits up to WAIT_S seconds for a console line of guest NAME containing
# shell pattern GLOB.
wait_guest() {
    i=0
    gone=0
    while [ $i -lt $WAIT_S ]; do
        guest_said "$1" "$2" && return 0
        if [ $((i % 10)) = 9 ]; then
            # A guest that died is not waited for (twice gone: not a
            # crashed `xl`).
            if rs xs xl domid "$1" >/dev/null 2>&1; then
                gone=0
            else
                gone=$((gone + 1))
            fi
            [ $gone -ge 2 ] && { say "$1 is gone (crashed: see Xen's console in the log)"; return 1; }
        fi
        i=$((i + 1))
        sleep 1
    done
    say "no line matching '$2' from $1 in $WAIT_S s"
    guest_lines "$1"
    cat $S/$1.lines
    return 1
}

# Creates guest NAME paused and records its domid; an `xl create` killed
# by a signal leaves what it made to `xl destroy` and runs again.
create_paused() {
    n=1
    while :; do
        xs xl create -p /tmp/$1.cfg
        rc=$?
        [ $rc = 0 ] && break
        if { [ $rc != 124 ] && [ $rc -le 125 ]; } || [ $n -ge $RT_TRIES ]; then
            return $rc
        fi
        echo "exit $rc: xl create $1" >>$S/crashes
        xs xl destroy "$1" 2>/dev/null
        n=$((n + 1))
    done
    rt to_file $S/$1.domid xs xl domid "$1" || return 1
    domid_of "$1"
    echo "$1 is domain $DOMID"
}

# Lets guest NAME run (an `xl unpause` that the rig crashed may have done
# it already: then the guest is simply not paused any more).
unpause() {
    rt xs xl unpause "$1" && return 0
    rs to_file $S/xl.list xs xl list "$1" || return 1
    { read -r _; read -r _ _ _ _ _state _; } <$S/xl.list
    case $_state in *p*) say "cannot unpause $1"; return 1 ;; esac
}

# One timed write + read pair of dom0 (value $1); appends its time in
# microseconds to file $2. It includes starting two processes (and their
# `timeout`): TCG makes that the larger part.
rtt_pair() {
    now_us
    _t0=$NOW
    xs xenstore-write /memprobe/rtt "$1" || return $?
    to_file $S/rtt.v xs xenstore-read /memprobe/rtt || return $?
    now_us
    read -r _v <$S/rtt.v
    [ "$_v" = "$1" ] || { say "dom0 read '$_v', wrote '$1'"; return 1; }
    echo $((NOW - _t0)) >>"$2"
}

# One timed xenstore-read process of 1 path and one of BATCH paths;
# appends the time of one read in a batch ((t_BATCH - t_1) / (BATCH - 1),
# in microseconds) to file $1.
rtt_batch() {
    now_us
    _t0=$NOW
    xs xenstore-read /memprobe/rtt >/dev/null || return $?
    now_us
    _t1=$((NOW - _t0))
    now_us
    _t0=$NOW
    # shellcheck disable=SC2086 # BATCH paths, one word each.
    xs xenstore-read $BATCH_PATHS >/dev/null || return $?
    now_us
    echo $(((NOW - _t0 - _t1) / (BATCH - 1))) >>"$1"
}

# BATCH times the path dom0 reads in a batch.
BATCH_PATHS=
k=0
while [ $k -lt $BATCH ]; do
    BATCH_PATHS="$BATCH_PATHS /memprobe/rtt"
    k=$((k + 1))
done

# BATCHES batches (rtt_batch) into file $1.
rtt_batches() {
    b=0
    while [ $b -lt $BATCHES ]; do
        rt rtt_batch "$1" || { say "dom0 batch read failed"; return 1; }
        b=$((b + 1))
    done
}

# Sets STATS to "min/median/max" in ms of the microsecond figures in file
# $1, and MEDIAN to the median in ms.
stats() {
    STATS=none MEDIAN=none
    [ -s "$1" ] || return 0
    rt to_file $S/sorted sort -n "$1" || return 1
    n=0
    while read -r x; do
        n=$((n + 1))
        [ $n = 1 ] && lo=$x
        hi=$x
    done <$S/sorted
    m=0
    while read -r x; do
        m=$((m + 1))
        [ $m = $(((n + 1) / 2)) ] && med=$x
    done <$S/sorted
    ms() { echo "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }
    STATS="$(ms $lo)/$(ms $med)/$(ms $hi)" MEDIAN=$(ms $med)
}

# Sets FIELD to the value of NAME (e.g. "memory") on domain DOMID's line
# of memory report FILE (empty if there is no such line).
dom_field() {
    _v=
    _want="domain $2:"
    _field=$3
    while read -r _d _id _rest; do
        [ "$_d $_id" = "$_want" ] || continue
        # shellcheck disable=SC2086 # "name value name value ...".
        set -- $_rest
        while [ $# -ge 2 ]; do
            [ "$1" = "$_field" ] && _v=$2
            shift 2
        done
    done <"$1"
    FIELD=$_v
}

# Sets DOMID to guest NAME's domid.
domid_of() {
    read -r DOMID <$S/$1.domid
}

# Sets DROPPED to the events_dropped count of memory report FILE.
events_dropped() {
    DROPPED=
    while read -r _w _rest; do
        [ "$_w" = requests: ] || continue
        # shellcheck disable=SC2086 # "N name: value name: value ...".
        set -- $_rest
        while [ $# -ge 2 ]; do
            [ "$1" = events_dropped: ] && DROPPED=$2
            shift
        done
    done <"$1"
}

# Baseline: the stub's heap and memory report before any guest, and
# dom0's round-trip times while nothing else happens.
hm_baseline() {
    rt xs xenstore-write /memprobe/rtt 0 || return 1
    : >$S/rtt-idle
    : >$S/batch-idle
    i=0
    while [ $i -lt $RTT_IDLE ]; do
        rt rtt_pair "idle$i" $S/rtt-idle || { say "dom0 pair $i failed"; return 1; }
        i=$((i + 1))
    done
    rtt_batches $S/batch-idle || return 1
    memreport $S/before.txt || return 1
    echo $HEAP >$S/baseline
    cat $S/before.txt
    stats $S/rtt-idle
    echo "clock: $(clock_name); idle pairs (ms min/median/max): $STATS"
}

# Every guest is built, paused, before any of them runs.
hm_create_all() {
    for g in hm-good hm-memory hm-deeprm hm-flood; do
        create_paused $g || return 1
    done
}

# The well-behaved guest runs.
hm_good_start() {
    unpause hm-good || return 1
    wait_guest hm-good 'good: running'
}

# The attackers run while dom0 times its requests and floods the flood
# guest's home (FLOOD_PER_WRITE nodes per xenstore-write, one write per
# timed pair) until every attacker has reported (within WAIT_S seconds),
# the flood is written, and at least RTT_ATTACK pairs were timed.
hm_attack() {
    for g in hm-memory hm-deeprm hm-flood; do
        unpause $g || return 1
    done
    domid_of hm-flood
    flood_home=/local/domain/$DOMID
    : >$S/rtt-attack
    : >$S/batch-attack
    n=0
    flooded=0
    flood_ready=0
    reported=0
    done_all=0
    read -r start _ </proc/uptime
    start=${start%.*}
    while [ $done_all = 0 ] || [ $n -lt $RTT_ATTACK ]; do
        if [ $((n % 10)) = 0 ] && [ $reported = 0 ]; then
            [ $flood_ready = 1 ] || ! guest_said hm-flood '[0-9]* passed, *' || flood_ready=1
            if [ $flood_ready = 1 ] && guest_said hm-memory '[0-9]* passed, *' &&
                guest_said hm-deeprm '[0-9]* passed, *'; then
                reported=1
                echo "every attacker reported after $n timed pairs"
            fi
            read -r now _ </proc/uptime
            if [ $reported = 0 ] && [ $((${now%.*} - start)) -gt $WAIT_S ]; then
                say "attackers not done after $WAIT_S s ($n pairs, $flooded flood writes)"
                return 1
            fi
        fi
        if [ $flood_ready = 1 ] && [ $flooded -lt $FLOOD_NODES ]; then
            set --
            k=0
            while [ $k -lt $FLOOD_PER_WRITE ]; do
                set -- "$@" "$flood_home/data/flood/$flooded" x
                flooded=$((flooded + 1))
                k=$((k + 1))
            done
            rt xs xenstore-write "$@" || { say "dom0 flood write $flooded failed"; return 1; }
        fi
        if [ $done_all = 0 ] && [ $reported = 1 ] && [ $flooded -ge $FLOOD_NODES ]; then
            done_all=1
            memreport $S/during.txt || { say "dom0 memreport failed"; return 1; }
            echo "flood written after $n timed pairs"
        fi
        rt rtt_pair "attack$n" $S/rtt-attack || { say "dom0 pair $n failed"; return 1; }
        if [ $((n % 10)) = 5 ]; then
            rt rtt_batch $S/batch-attack || { say "dom0 batch read failed"; return 1; }
        fi
        n=$((n + 1))
    done
    stats $S/rtt-attack
    echo "under attack: $n pairs (ms min/median/max) $STATS; $flooded flood writes"
}

# Each attacker's verdicts; the budget held while they held their memory.
hm_verdicts() {
    rc=0
    for g in hm-memory:6 hm-deeprm:3 hm-flood:3; do
        name=${g%:*}
        guest_lines $name
        cat $S/$name.lines
        guest_said $name "${g#*:} passed, 0 failed" || {
            say "$name: not ${g#*:} passed, 0 failed"
            rc=1
        }
    done
    cat $S/during.txt
    # Guests never take the heap past limit - reserve + REQUEST_HEADROOM.
    # heap: USED bytes used, limit LIMIT (guests GUESTS, one domain SHARE)
    read -r _ used _ _ _ _ _ guests _ _ share <$S/during.txt
    guests=${guests%,}
    share=${share%)}
    echo "heap during the attacks: $used bytes; guests' limit $guests, one domain's share $share"
    [ "$used" -le $((guests + 32768)) ] || { say "heap $used over the guests' limit $guests"; rc=1; }
    # The attacker that filled its share is held to it (node memory is
    # charged before flow control stops it: one value over at most).
    domid_of hm-memory
    dom_field $S/during.txt "$DOMID" memory
    mem=$FIELD
    echo "hm-memory holds $mem charged bytes"
    [ -n "$mem" ] && [ "$mem" -le $((share + 4096)) ] || { say "hm-memory holds $mem, over its share $share"; rc=1; }
    # The flood guest's unread events were dropped (quota) or expired.
    events_dropped $S/before.txt
    d0=$DROPPED
    events_dropped $S/during.txt
    d1=$DROPPED
    echo "watch events dropped: $d0 before, $d1 during the attacks"
    domid_of hm-deeprm
    dom_field $S/during.txt "$DOMID" memory
    echo "RIG: ATTACK: Xen $XEN_VER: stub heap $used bytes while the attackers held their memory (guests' limit $guests, one domain's share $share); hm-memory charged $mem bytes, hm-deeprm $FIELD (its 998-deep chain's paths); $((d1 - d0)) watch events dropped" >/dev/console
    [ -n "$d1" ] && [ "$d1" -gt "$d0" ] || { say "no event dropped ($d0, $d1)"; rc=1; }
    return $rc
}

# dom0 tells the good guest to stop; it must have had no failure.
hm_good_verdict() {
    domid_of hm-good
    rt xs xenstore-write "/local/domain/$DOMID/data/stop" 1 || { say "dom0 cannot write data/stop"; return 1; }
    wait_guest hm-good '[0-9]* passed, *' || return 1
    cat $S/hm-good.lines
    guest_said hm-good 'good: * 0 failed' && guest_said hm-good '3 passed, 0 failed' ||
        { say "hm-good: not all passed"; return 1; }
}

# The figures, on one line (and on the console for boot.sh's output).
hm_rtt() {
    stats $S/rtt-idle
    idle=$STATS
    stats $S/rtt-attack
    attack=$STATS
    stats $S/batch-idle
    bidle=$MEDIAN
    stats $S/batch-attack
    battack=$MEDIAN
    line="RTT: Xen $XEN_VER, stub --memory 4, clock $(clock_name): dom0 xenstore-write + xenstore-read pair (process starts included), ms min/median/max: idle $idle (n=$(wc -l <$S/rtt-idle)), under attack $attack (n=$(wc -l <$S/rtt-attack)); one read of a $BATCH-read xenstore-read, median ms: idle $bidle (n=$(wc -l <$S/batch-idle)), under attack $battack (n=$(wc -l <$S/batch-attack))"
    echo "$line"
    echo "RIG: $line" >/dev/console
    [ -s $S/rtt-attack ] && [ -s $S/rtt-idle ]
}

# Destroys every guest and waits until the stub has dropped them all.
hm_destroy() {
    ids=
    for g in hm-memory hm-deeprm hm-flood hm-good; do
        rt xs xl destroy $g || ! rs xs xl domid $g 2>/dev/null || { say "cannot destroy $g"; return 1; }
        domid_of $g
        ids="$ids $DOMID"
    done
    i=0
    while [ $i -lt $WAIT_S ]; do
        memreport $S/after.txt || return 1
        left=
        for d in $ids; do
            dom_field $S/after.txt "$d" nodes
            [ -n "$FIELD" ] && left="$left $d"
        done
        [ -z "$left" ] && break
        i=$((i + 1))
        sleep 1
    done
    [ -z "$left" ] || { say "the stub still knows domains$left after $WAIT_S s"; cat $S/after.txt; return 1; }
    echo "guests$ids dropped after about $i s"
}

# The heap is back within HEAP_SLACK of the baseline.
hm_heap_back() {
    read -r base <$S/baseline
    memreport $S/after.txt || return 1
    cat $S/after.txt
    line="HEAP: Xen $XEN_VER: stub heap used $base bytes before the guests, $HEAP after they were destroyed ($((HEAP - base)) more; slack $HEAP_SLACK)"
    echo "$line"
    echo "RIG: $line" >/dev/console
    [ "$HEAP" -le $((base + HEAP_SLACK)) ] || { say "heap not back"; return 1; }
}

# The stub never panicked (its console log) and still answers.
hm_alive() {
    log=/var/log/xen/console/guest-Xenstore.log
    [ -s $log ] || { say "no stub console log"; return 1; }
    if log_has $log '*PANIC*'; then
        say "the stub panicked"
        return 1
    fi
    rs grep -a -e WARN -e ERROR $log
    rt xs xenstore-write /memprobe/after ok || return 1
    rt to_file $S/after.v xs xenstore-read /memprobe/after || return 1
    read -r v <$S/after.v
    [ "$v" = ok ] && rt xs xenstore-rm /memprobe
}

# How many dom0 processes the rig crashed (see the header): reported, not
# judged.
hm_rig_crashes() {
    n=0
    while read -r _; do n=$((n + 1)); done <$S/crashes
    line="dom0 commands of this script run again (killed by a signal, or failed once): $n"
    echo "$line"
    cat $S/crashes
    dmesg | grep -e segfault -e 'traps:' | tail -n 20
    echo "RIG: $line" >/dev/console
    return 0
}

hm_cfg hm-good "good"
hm_cfg hm-memory "memory"
hm_cfg hm-deeprm "deep-rm"
hm_cfg hm-flood "flood"
check memory-baseline hm_baseline
check memory-guests-created hm_create_all
check memory-good-guest-runs hm_good_start
check memory-attacks hm_attack
check memory-attack-verdicts hm_verdicts
check memory-good-guest-served hm_good_verdict
check memory-rtt hm_rtt
check memory-guests-dropped hm_destroy
check memory-heap-back hm_heap_back
check memory-stub-alive hm_alive
check memory-rig-crashes hm_rig_crashes
