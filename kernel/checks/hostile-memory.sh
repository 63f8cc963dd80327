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
#              dom0 writes data/stop there, with no failure;
#   hm-memory  `memory`: READs of missing ~1020-deep paths in every
#              transaction allowed until refused, then served normally;
#              a 300-deep chain written and removed five times; 2000-byte
#              values until refused or no longer read (flow control);
#   hm-deeprm  `deep-rm`: a 998-deep chain (charged about 1 MB, four times
#              a domain's share): refused, then chains 16 components
#              shorter until one is taken, written and removed five times;
#   hm-flood   `flood`: 127 watches on its home, then its ring is never
#              read again while dom0 writes FLOOD nodes there;
#   hm-storm   `storm`: 50 ring error -> reconnect cycles (the stub's
#              reconnection rate limit makes them last at least 10 s).
#
# Dom0 times xenstore-write + xenstore-read pairs and the reads of one
# 50-path xenstore-read, idle and then during the attacks, and prints them
# (`RIG: RTT: ...`): measured, never judged. Once the attackers are done
# (holding their memory), the stub's heap must be within the guests' limit
# plus one request's headroom, hm-memory within its share, and events for
# the flood guest must have been dropped. Once the guests are destroyed,
# the heap must come back to its baseline (`RIG: HEAP: ...`). Every wait is
# for the event, with a limit that only a hang reaches.
S=/run/rig/memory
mkdir -p $S
# Timed pairs idle, and at least as many during the attacks.
PAIRS=100
# Nodes dom0 writes under the flood guest's home, 10 per xenstore-write.
FLOOD=200
# Heap the stub may keep after the guests are gone: arena free space
# below its compaction threshold (16 KiB, store/src/arena.rs), a chunk of
# children lists and its free list below theirs (11 KiB,
# store/src/dir.rs), allocator rounding.
HEAP_SLACK=32768
# One request's headroom over the guests' limit (store/src/budget.rs).
HEADROOM=32768
BATCH_PATHS=$(for i in $(seq 50); do printf '/memprobe/rtt '; done)

# Sets NOW to the kernel's monotonic clock in microseconds, read by the
# shell itself ("now at N nsecs", line 3 of /proc/timer_list).
now_us() {
    { read -r _ && read -r _ && read -r _ _ NOW _; } </proc/timer_list
    NOW=$((NOW / 1000))
}

# One timed dom0 xenstore-write + xenstore-read pair (value $1): its time
# in microseconds goes to $S/pairs-$2, and every tenth pair also times a
# 1-path and a 50-path xenstore-read, to $S/one-$2 and $S/fifty-$2 (see
# per_read).
rtt_pair() {
    now_us && p0=$NOW
    dom0_retry xenstore-write /memprobe/rtt "$1" && [ "$(dom0_retry xenstore-read /memprobe/rtt)" = "$1" ] ||
        { echo "dom0 pair $1 failed"; return 1; }
    now_us && echo $((NOW - p0)) >>$S/pairs-$2
    case $1 in *5) ;; *) return 0 ;; esac
    now_us && p0=$NOW
    dom0_retry xenstore-read /memprobe/rtt >/dev/null && now_us && p1=$NOW &&
        dom0_retry xenstore-read $BATCH_PATHS >/dev/null || { echo "dom0 batch read failed"; return 1; }
    now_us && echo $((p1 - p0)) >>$S/one-$2 && echo $((NOW - p1)) >>$S/fifty-$2
}

# The median of the figures (us) in $S/$1.
median() { sort -n $S/$1 | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# One read's time in ms inside a 50-path xenstore-read, from the medians
# of $S/fifty-$1 and $S/one-$1: (t(50) - t(1)) / 49. Taken from each
# sample pair, the difference of two process timings is mostly noise
# (it came out negative); the medians are not.
per_read() {
    awk -v f="$(median fifty-$1)" -v o="$(median one-$1)" -v n="$(wc -l <$S/one-$1)" \
        'BEGIN { printf "%.2f (n=%d)", (f - o) / 49 / 1000, n }'
}

# min/median/max in ms of the figures (us) in $S/$1, and how many.
stats() {
    sort -n $S/$1 | awk '{ a[NR] = $1 }
        END { printf "%.1f/%.1f/%.1f (n=%d)", a[1] / 1000, a[int((NR + 1) / 2)] / 1000, a[NR] / 1000, NR }'
}

# Saves the stub's memory report as $S/$1.txt, and sets its figures.
report() { dom0_retry xenstore-control memreport >$S/$1.txt && figures $1; }

# Sets from the memory report $S/$1.txt: used (heap bytes), guests (the
# guests' limit), share (one domain's), dropped (watch events dropped) and
# mem_DOMID (each domain's charged memory).
figures() {
    eval "$(tr -d ',()' <$S/$1.txt | awk '
        $1 == "heap:" { print "used=" $2, "guests=" $8, "share=" $11 }
        $1 == "requests:" { for (i = 2; i < NF; i++) if ($i == "events_dropped:") print "dropped=" $(i + 1) }
        $1 == "domain" { sub(":", "=", $2); print "mem_" $2 $NF }')"
}

# Guest NAME printed a line matching grep PATTERN after "hostile-guest: "
# on its console (xenconsoled's log; one static busybox grep: the polls
# while the attackers run start no dynamically linked process, see
# dom0_retry).
said() { grep -aq "hostile-guest: $2" /var/log/xen/console/guest-$1.log; }
reported() { said "$1" '[0-9]* passed'; }

# Whole seconds of dom0 uptime.
uptime_s() { cut -d. -f1 /proc/uptime; }

# dom0's idle round trips, and the heap before any guest (the probe nodes
# the later checks write exist already).
mem_baseline() {
    xenstore-write /memprobe/good 0 /memprobe/after hm-memory || return 1
    n=0
    while [ $n -lt $PAIRS ]; do
        rtt_pair $n idle || return 1
        n=$((n + 1))
    done
    report before && cat $S/before.txt
}

# Every guest is built paused before any runs (xl's processes meet no
# busy guest), then the well-behaved guest runs.
mem_good_runs() {
    for g in hm-good hm-memory hm-deeprm hm-flood hm-storm; do
        xl_create -p /tmp/$g.cfg || return 1
    done
    xl unpause hm-good && until_true 300 said hm-good 'good: running'
}

# The attackers run while dom0 times its pairs; dom0 floods the flood
# guest's home once it has reported (it reads its ring no more), and takes
# the memory report once every attacker has. Limit: 600 s (a hang).
mem_attack() {
    flood=/local/domain/$(xl domid hm-flood) || return 1
    for g in hm-memory hm-deeprm hm-flood hm-storm; do
        xl unpause $g || return 1
    done
    end=$(($(uptime_s) + 600))
    n=0 flooded=0 held=
    until [ -n "$held" ] && [ $n -ge $PAIRS ]; do
        if [ -z "$held" ] && [ $((n % 10)) = 0 ]; then
            [ "$(uptime_s)" -lt $end ] || { echo "attackers not done in 600 s ($n pairs)"; return 1; }
            [ $flooded -ge $FLOOD ] || ! reported hm-flood || while [ $flooded -lt $FLOOD ]; do
                set --
                for i in 0 1 2 3 4 5 6 7 8 9; do set -- "$@" $flood/data/flood/$((flooded + i)) x; done
                dom0_retry xenstore-write "$@" || { echo "dom0 flood write failed"; return 1; }
                flooded=$((flooded + 10))
            done
            if [ $flooded -ge $FLOOD ] && reported hm-memory && reported hm-deeprm && reported hm-storm; then
                report during || return 1
                held=$n
            fi
        fi
        rtt_pair $n attack || return 1
        n=$((n + 1))
    done
    echo "every attacker reported and the flood was written after $held timed pairs"
}

# Each attacker passed; the budget held while they held their memory.
mem_verdicts() {
    rc=0
    for g in hm-memory:6 hm-deeprm:3 hm-flood:3 hm-storm:4; do
        id=$(xl domid ${g%:*}) || return 1
        xl dmesg | grep -a "(d$id) " | grep -a 'hostile-guest:'
        guest_passed $id ${g#*:} || rc=1
    done
    figures before && base_dropped=$dropped && figures during || return 1
    cat $S/during.txt
    eval "memory=\$mem_$(xl domid hm-memory) deeprm=\$mem_$(xl domid hm-deeprm)"
    line="ATTACK: Xen $XEN_VER: stub heap $used bytes while the attackers held their memory (guests' limit $guests, one domain's share $share); hm-memory charged $memory bytes, hm-deeprm $deeprm; $((dropped - base_dropped)) watch events dropped"
    echo "$line" && echo "RIG: $line" >/dev/console
    [ "$used" -le $((guests + HEADROOM)) ] || { echo "heap over the guests' limit"; rc=1; }
    # A node write past a guest's share is refused before it is charged
    # (small replies, which are always queued, may add a few bytes).
    [ "$memory" -le $((share + 1024)) ] || { echo "hm-memory over its share"; rc=1; }
    [ "$deeprm" -le $((share + 1024)) ] || { echo "hm-deeprm over its share"; rc=1; }
    [ "$dropped" -gt "$base_dropped" ] || { echo "no watch event dropped"; rc=1; }
    return $rc
}

# dom0 tells the good guest to stop; it had no failure.
mem_good_served() {
    id=$(xl domid hm-good) || return 1
    xenstore-write /local/domain/$id/data/stop 1 || return 1
    guest_summary $id /memprobe/good 600 && guest_passed $id 3
}

# The round trips, on one line: printed, not judged.
mem_rtt() {
    line="RTT: Xen $XEN_VER, stub --memory 4: dom0 xenstore-write + xenstore-read pair (process starts included), ms min/median/max: idle $(stats pairs-idle), during the attacks $(stats pairs-attack); one read of a 50-path xenstore-read, ms from the medians: idle $(per_read idle), during the attacks $(per_read attack)"
    echo "$line" && echo "RIG: $line" >/dev/console
}

# Once the guests are gone, the stub's heap comes back to its baseline;
# the stub never panicked.
heap_back() { report after && [ "$used" -le $((base + HEAP_SLACK)) ]; }
mem_heap_back() {
    figures before && base=$used || return 1
    until_true 120 heap_back
    rc=$?
    report after && cat $S/after.txt
    line="HEAP: Xen $XEN_VER: stub heap used $base bytes before the guests, $used after they were destroyed ($((used - base)) more; slack $HEAP_SLACK)"
    echo "$line" && echo "RIG: $line" >/dev/console
    ! console_has "$(xl domid Xenstore)" PANIC && return $rc
}

guest_cfg hm-good good
guest_cfg hm-memory memory
guest_cfg hm-deeprm deep-rm
guest_cfg hm-flood flood
guest_cfg hm-storm storm
check memory-baseline mem_baseline
check memory-good-guest-runs mem_good_runs
RIG_STEP_TIMEOUT=900 check memory-attacks mem_attack
check memory-attack-verdicts mem_verdicts
RIG_STEP_TIMEOUT=900 check memory-good-guest-served mem_good_served
check memory-rtt mem_rtt
for g in hm-memory hm-deeprm hm-flood hm-storm hm-good; do
    check memory-$g-destroy destroy_released $g /memprobe/after
done
check memory-heap-back mem_heap_back
check memory-stub-idle stub_idle
