# The domain-creation storm, run in the rig's dom0 (busybox sh, sourced by
# the rig's /init after scripts/xen-rig/dom0-harness.sh). bench/storm.py
# boots the rig with this script, the tiny PV guest of the guest test
# (tests/boot/tiny-pv.S: it powers itself off as soon as it runs) as
# /rig/extra/tiny-pv.elf, the counting shim (bench/storm/xs-count.c) as
# /rig/extra/xs-count.so, and /rig/extra/storm.conf, which may set:
#
#   STORM_N       guests per storm (default 20)
#   STORM_WIDTH   how many at a time in the wide storm (default 4)
#   STORM_REPS    repetitions of each storm (default 2)
#   STORM_PIN     "same": dom0's vCPU and the stub's on physical CPU 0, so a
#                 round trip between them needs no wake-up of another
#                 (emulated) CPU; empty (default): Xen places them
#
# A storm is STORM_N guests, each `xl create` of the tiny guest (16 MiB,
# on_poweroff = "preserve") and then `xl destroy` of it, either one after
# the other ("seq") or by STORM_WIDTH workers at once, worker w taking
# guests w, w + WIDTH, ... ("wide"). Its time is dom0's clock
# (/proc/uptime) from the first create to the return of the last destroy.
# The two kinds alternate, after one untimed warm-up guest, so that a slow
# stretch of the host falls on both.
#
# Every xl runs with the counting shim (LD_PRELOAD): the xenstore messages
# xl and its monitoring child sent, by type, the commits they tried and the
# EAGAIN replies they got, whichever server answers. With our stub, its own
# counters (memreport's `requests:` line: every request it served, from
# every client, and the commits it refused) are read before and after.
#
# The start and end of each storm are also marked on the console
# ("RIG: storm-mark: start|end kind=... rep=..."), for the host to time
# them by its own clock: under a loaded TCG host, dom0's clock has been
# seen to run wrong for a whole boot (uptime 0.8 s when dom0 came up).
#
# Results go to the console as lines the host parses:
#   RIG: storm: kind=seq rep=1 n=20 width=1 secs=12.34 create_ms=... destroy_ms=...
#   RIG: storm-guests: kind=seq rep=1 create=MS,MS,... destroy=MS,MS,...
#   RIG: storm-count: kind=seq rep=1 req=... commit=... eagain=... t_READ=...
#   RIG: storm-eagain: kind=wide rep=1 /local/domain/N=3 ...   (refused transactions by first path)
#   RIG: storm-server: kind=seq rep=1 requests=... tx_conflicts=...

STORM_N=20
STORM_WIDTH=4
STORM_REPS=2
STORM_PIN=
[ -f /rig/extra/storm.conf ] && . /rig/extra/storm.conf
SD=/run/storm
mkdir -p $SD
SHIM=/rig/extra/xs-count.so

storm_cfg() {
    cat >$SD/$1.cfg <<CFG
name = "$1"
type = "pv"
kernel = "/rig/extra/tiny-pv.elf"
memory = 16
vcpus = 1
on_poweroff = "preserve"
CFG
}

now() { read -r up _ </proc/uptime && echo "$up"; }

# xl with the shim; its counts go to $XS_COUNT_FILE.
cxl() { LD_PRELOAD=$SHIM xl "$@"; }

# One guest's life: create, destroy. Prints "create_s destroy_s". xl exits 3
# when only its monitoring child died after the fork (the rig's known dom0
# corruption, see the rig README): accepted when the domain exists, noted.
one_guest() {
    name=$1
    t0=$(now)
    if ! cxl create -q $SD/$name.cfg >$SD/$name.out 2>&1; then
        if grep -q 'domain monitoring daemonizing child' $SD/$name.out && xl domid "$name" >/dev/null 2>&1; then
            echo "RIG: note: storm $name: xl's monitoring child died after the fork (tolerated)" >/dev/console
        else
            cat $SD/$name.out
            echo "FAILED create $name"
            return 1
        fi
    fi
    t1=$(now)
    cxl destroy "$name" >>$SD/$name.out 2>&1 || { cat $SD/$name.out; echo "FAILED destroy $name"; return 1; }
    t2=$(now)
    echo "$t0 $t1 $t2"
}

# worker FIRST STEP KIND: guests FIRST, FIRST + STEP, ... up to STORM_N.
worker() {
    i=$1
    while [ "$i" -le "$STORM_N" ]; do
        one_guest "st$i" >>$SD/$3.times || return 1
        i=$((i + $2))
    done
}

# The stub's request counters (memreport), "requests tx_conflicts".
server_counts() {
    [ "$RIG_XENSTORE" = stub ] || return 0
    xenstore-control memreport | sed -n 's/^requests: \([0-9]*\) tx_conflicts: \([0-9]*\).*/\1 \2/p'
}

# Every xl of the last storm has exited (their monitoring children leave
# once their domain is destroyed) and no guest domain is left.
storm_settled() {
    ! pidof xl >/dev/null || return 1
    [ "$(xl list | awk 'NR > 1 && $1 != "Domain-0" && $1 != "Xenstore"' | wc -l)" = 0 ]
}

# storm KIND REP WIDTH
storm() {
    kind=$1 rep=$2 width=$3
    : >$SD/$kind.times
    export XS_COUNT_FILE=$SD/counts.$kind.$rep
    : >$XS_COUNT_FILE
    before=$(server_counts)
    echo "RIG: storm-mark: start kind=$kind rep=$rep" >/dev/console
    start=$(now)
    w=1
    pids=
    while [ "$w" -le "$width" ]; do
        worker "$w" "$width" "$kind" &
        pids="$pids $!"
        w=$((w + 1))
    done
    rc=0
    for p in $pids; do wait "$p" || rc=1; done
    end=$(now)
    echo "RIG: storm-mark: end kind=$kind rep=$rep" >/dev/console
    [ "$rc" = 0 ] || { cat $SD/$kind.times; return 1; }
    [ "$(wc -l <$SD/$kind.times)" = "$STORM_N" ] || { echo "only $(wc -l <$SD/$kind.times) guests timed"; return 1; }
    # The monitoring children report their counts when they exit.
    until_true 300 storm_settled || { echo "xl processes or domains left"; xl list; return 1; }
    after=$(server_counts)
    awk -v k="$kind" -v r="$rep" -v n="$STORM_N" -v w="$width" -v s="$start" -v e="$end" '
        { c += $2 - $1; d += $3 - $2 }
        END { printf "RIG: storm: kind=%s rep=%s n=%d width=%d secs=%.2f create_ms=%.0f destroy_ms=%.0f\n",
              k, r, n, w, e - s, 1000 * c / NR, 1000 * d / NR }' $SD/$kind.times | tee /dev/console
    # Every guest's own times, for medians over guests.
    awk -v k="$kind" -v r="$rep" '
        { c = c sep sprintf("%.0f", 1000 * ($2 - $1)); d = d sep sprintf("%.0f", 1000 * ($3 - $2)); sep = "," }
        END { printf "RIG: storm-guests: kind=%s rep=%s create=%s destroy=%s\n", k, r, c, d }' $SD/$kind.times |
        tee /dev/console
    awk -v k="$kind" -v r="$rep" '
        $1 == "xs-count" { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (!(kv[1] in sum)) keys[++nk] = kv[1]; sum[kv[1]] += kv[2] } p++ }
        END { printf "RIG: storm-count: kind=%s rep=%s procs=%d", k, r, p
              for (i = 1; i <= nk; i++) printf " %s=%d", keys[i], sum[keys[i]]
              printf "\n" }' $XS_COUNT_FILE | tee /dev/console
    # Which transactions were refused: their first changed path, domids
    # and device numbers as N, with how many times.
    awk -v k="$kind" -v r="$rep" '
        $1 == "xs-eagain" { p = substr($3, 6); gsub(/[0-9a-f]+-[0-9a-f-]+/, "UUID", p); gsub(/[0-9]+/, "N", p); n[p]++ }
        END { printf "RIG: storm-eagain: kind=%s rep=%s", k, r
              for (p in n) printf " %s=%d", p, n[p]
              printf "\n" }' $XS_COUNT_FILE | tee /dev/console
    if [ -n "$before" ] && [ -n "$after" ]; then
        set -- $before $after
        echo "RIG: storm-server: kind=$kind rep=$rep requests=$(($3 - $1)) tx_conflicts=$(($4 - $2))" | tee /dev/console
    fi
}

storm_warmup() {
    export XS_COUNT_FILE=$SD/counts.warmup
    storm_cfg st0
    one_guest st0 && until_true 300 storm_settled
}

i=0
while [ "$i" -le "$STORM_N" ]; do
    storm_cfg "st$i"
    i=$((i + 1))
done
storm_pin() {
    xl vcpu-pin Domain-0 all 0 || return 1
    [ "$RIG_XENSTORE" = daemon ] || xl vcpu-pin Xenstore all 0 || return 1
    xl vcpu-list
}
echo "RIG: storm: Xen $XEN_VER, xenstore=$RIG_XENSTORE, $STORM_N guests, width $STORM_WIDTH, $STORM_REPS reps, pin '${STORM_PIN:-none}', load $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$STORM_PIN" = same ] && check storm-pin storm_pin
RIG_STEP_TIMEOUT=600 check storm-warmup storm_warmup
r=1
while [ "$r" -le "$STORM_REPS" ]; do
    RIG_STEP_TIMEOUT=$((STORM_N * 120)) check "storm-seq-$r" storm seq "$r" 1
    RIG_STEP_TIMEOUT=$((STORM_N * 120)) check "storm-wide-$r" storm wide "$r" "$STORM_WIDTH"
    r=$((r + 1))
done
