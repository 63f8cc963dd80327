# The guest test's checks, run in dom0 (busybox sh, sourced by the rig's
# /init after scripts/xen-rig/dom0-harness.sh, which provides `check`).
# tests/boot/guest-run.sh boots the rig with this script and hands dom0 a PV
# Linux guest as /rig/extra/vmlinuz and /rig/extra/guest.cpio.gz, whose /init
# is tests/boot/guest-init.sh.
#
# One guest ("gtest") runs the guest-side tests through its own ring; it is
# then saved (`xl save -D`, which destroys the domain) and restored as a new
# domain with the same domid, which must inherit nothing from the old one
# (nodes, ACL entries, quota usage, watches); the new domain runs a second
# round of guest-side tests and is then shut down and destroyed. Twenty tiny
# guests are then created and destroyed at once. Around all of it, dom0
# checks the watches @introduceDomain and @releaseDomain, that the guests'
# nodes are gone, and that xenstore's memory report and whole tree are back
# where they were.
#
# RIG_XENSTORE says who serves xenstore: "stub" (ours) or "daemon" (C
# xenstored in dom0, the reference). Only the memory report differs between
# them (see memreport below).

unset XENSTORED_PATH
GUEST_DIR=/rig/extra
# The number of tests guest-init.sh runs (its `t` lines) before the save,
# and after the restore.
GUEST_TESTS=8
REUSE_TESTS=6
# How many domains in a row get gtest's domid back from its saved state: all
# but the last are destroyed at once, the last is shut down and destroyed.
REUSE_ROUNDS=${REUSE_ROUNDS:-3}
# How many tiny guests the create/destroy loop starts.
LOOP_GUESTS=${LOOP_GUESTS:-20}
GUEST_LOG=/var/log/xen/console/guest-gtest.log
# xenconsoled appends to the guest's console log across runs of this script
# (the rig runs it again after a dom0 crash, rig_script): only lines after
# this mark are this run's.
GUEST_LOG_MARK=$(cat "$GUEST_LOG" 2>/dev/null | wc -l)
# This run's lines of the guest's console log, without carriage returns.
guest_log() { tail -n +$((GUEST_LOG_MARK + 1)) "$GUEST_LOG" 2>/dev/null | tr -d '\r'; }
S=/run/rig/guest
mkdir -p $S

cat >$S/gtest.cfg <<CFG
name = "gtest"
type = "pv"
kernel = "$GUEST_DIR/vmlinuz"
ramdisk = "$GUEST_DIR/guest.cpio.gz"
memory = 128
vcpus = 1
extra = "console=hvc0 quiet"
on_poweroff = "preserve"
CFG
cat >$S/tiny.cfg <<CFG
name = "tiny"
type = "pv"
kernel = "$GUEST_DIR/tiny-pv.elf"
memory = 16
vcpus = 1
on_poweroff = "preserve"
CFG

# What xenstore reports about its memory, minus what legitimately moves
# between two identical states. Our stub answers `xenstore-control memreport`
# with its counts (nodes and their bytes, connections, queued output, one
# line per domain record with its quota usage) and a line of request
# counters, which is dropped. C xenstored writes a talloc report into the
# named file (dom0's file system: it runs there); its first line holds the
# total bytes and blocks (the file name is fixed because the request itself
# is in that total). Two kinds of C storage grow to their peak and never
# shrink, so their bytes are left out of the total (the block count stays):
# 4.17's node TDB (the "/var/run/xenstored/tdb" context, 41 KiB to 49 KiB
# for one guest here) and the bucket arrays of its hashtables ("struct entry
# *"; 4.20's node table went from 424 to 1544 bytes for one guest).
memreport() {
    case $RIG_XENSTORE in
    stub)
        xenstore-control memreport >$S/mr.raw || return 1
        grep -v -e '^requests:' -e '^heap:' $S/mr.raw
        ;;
    daemon)
        rm -f /tmp/memreport
        xenstore-control memreport /tmp/memreport >/dev/null || return 1
        cp /tmp/memreport $S/mr.raw
        awk '/^full talloc report/ { total = $(NF - 4); blocks = $(NF - 1) }
            $1 ~ /xenstored\/tdb$/ && $2 == "contains" { grown += $3 }
            $1 == "struct" && $2 == "entry" && $3 == "*" && $4 == "contains" { grown += $5 }
            END { printf "talloc: %d blocks, %d bytes outside grow-only storage\n", blocks, total - grown }' /tmp/memreport
        ;;
    esac
}

# The whole tree with permissions: a guest's life leaves none of it changed.
tree() { xenstore-ls -fp /; }

# A domain's accounting record in xenstore (`xenstore-control quota DOMID`,
# the same command in our stub and C xenstored: its nodes, watches,
# transactions, outstanding requests and memory against their limits); fails
# when xenstore has no record of the domain.
quota_record() { xenstore-control quota "$1"; }

# Waiting: every wait below is for the event itself (a file growing, a node
# appearing, a process exiting), with until_true from the rig's harness and a
# limit that only a hang reaches (120 s for what takes well under a second
# on an idle machine, 300 s for a Linux guest's boot or tests).

lines() { wc -l <"$1"; }
not_exists() { ! xenstore-exists "$1"; }
more_lines() { [ "$(lines "$1")" -ge "$2" ]; }
same_memreport() { memreport >$S/mem.now && cmp -s "$1" $S/mem.now; }

# Dom0's clients of a guest that is gone have let go of it: xl's monitoring
# process of each domain (`xl create`/`xl restore` leave one behind) has
# exited, and xenconsoled has closed the guest's console log, which it does
# after dropping its watch on the guest's console (its other per-domain
# xenstore state). Only then is xenstore's memory report comparable.
xl_monitors_gone() { ! pidof xl >/dev/null; }
consoles_released() {
    ! ls -l /proc/"$(cat /run/xenconsoled.pid)"/fd 2>/dev/null | grep -q '/var/log/xen/console/guest-\(gtest\|tiny\)\.log'
}
clients_settled() { xl_monitors_gone && consoles_released; }
settled_and_same() { clients_settled && same_memreport "$1"; }

# The stub's real heap use (memreport's `heap:` line) in the raw report $1.
heap_used() { sed -n 's/^heap: \([0-9]*\) bytes used.*/\1/p' "$1"; }

# heap_back BASE_RAW: the stub's heap is back within 64 KiB of the raw
# report BASE_RAW (hash tables keep their grown capacity; a leak per guest
# would show in the create/destroy loop). C xenstored has no such line.
heap_back() {
    [ "$RIG_XENSTORE" = stub ] || return 0
    base=$(heap_used "$1")
    now=$(heap_used $S/mr.raw)
    echo "heap: $base bytes before, $now after"
    [ -n "$base" ] && [ -n "$now" ] && [ "$now" -le $((base + 65536)) ]
}

# back_to BASE: once dom0's clients have let go of the guests, the memory
# report returns to BASE.
back_to() {
    echo "before:"
    cat "$1"
    if until_true 120 settled_and_same "$1"; then
        echo "after: the same"
        heap_back "$1.raw"
        return
    fi
    echo "after:"
    cat $S/mem.now
    [ -f "$1.raw" ] && diff "$1.raw" $S/mr.raw
    pidof xl && echo "xl processes still running"
    consoles_released || echo "xenconsoled still has a guest console log open"
    return 1
}

# tree_back_to BASE: the whole tree (with permissions) equals BASE (waiting
# for xenstore to finish removing dead domains' nodes).
same_tree() { tree >$S/tree.now && cmp -s "$1" $S/tree.now; }
tree_back_to() {
    until_true 120 same_tree "$1"
    diff "$1" $S/tree.now && echo "tree unchanged ($(lines "$1") lines)"
}

# Watches that record every @introduceDomain and @releaseDomain, started
# before any guest; each writes one line when set. The parents the toolstack
# and this script create their nodes under (and leave behind, empty) exist
# before the baseline is taken.
start_watchers() {
    for dir in /rig /vm /libxl; do
        xenstore-exists $dir || xenstore-write $dir "" || return 1
    done
    xenstore-watch @introduceDomain >$S/intro.out 2>&1 &
    echo $! >$S/intro.pid
    xenstore-watch @releaseDomain >$S/release.out 2>&1 &
    echo $! >$S/release.pid
    until_true 120 more_lines $S/intro.out 1 && until_true 120 more_lines $S/release.out 1 || return 1
    memreport >$S/mem.base || return 1
    cp $S/mr.raw $S/mem.base.raw
    tree >$S/tree.base || return 1
    cat $S/mem.base
}

# The test guest, created paused so that its directory outside its home can
# be made writable for it, and /rig/acl readable, first. Xenstore's record of
# the new domain is kept: the domain restored with its domid must start with
# the same.
gtest_create() {
    xenstore-write /rig/guestdir "" /rig/acl acl || return 1
    lines $S/intro.out >$S/intro.n
    xl_create -p $S/gtest.cfg || return 1
    domid=$(xl domid gtest) || return 1
    echo "$domid" >$S/gtest.domid
    echo "gtest is domain $domid"
    xenstore-chmod /rig/guestdir n0 "b$domid" || return 1
    xenstore-chmod /rig/acl n0 "r$domid" || return 1
    quota_record "$domid" | tee $S/record.fresh || return 1
    xl unpause gtest
}
gdomid() { cat $S/gtest.domid; }

intro_seen() {
    cat $S/intro.out
    until_true 120 more_lines $S/intro.out $(($(cat $S/intro.n) + 1))
}

# The guest says data/ready once its watch on data/ping is set; dom0 then
# writes data/ping.
gtest_ping() {
    home=/local/domain/$(gdomid)
    until_true 300 xenstore-read "$home/data/ready" || return 1
    xenstore-write "$home/data/ping" pong
}

summary_line() { guest_log | grep -qE '^GUEST: [0-9]+ passed, [0-9]+ failed'; }

# The guest printed "GUEST: N passed, 0 failed" (N = all its tests) on its
# console, and the domid it read is the one xl gave it.
gtest_summary() {
    until_true 300 summary_line || echo "no summary line after 300 s"
    guest_log | grep '^GUEST:'
    guest_log | grep -qx "GUEST: domid $(gdomid)" || return 1
    guest_log | grep -qx "GUEST: $GUEST_TESTS passed, 0 failed"
}

# The node the guest wrote outside its home is there and owned by it.
gtest_outside() {
    xenstore-ls -p /rig/guestdir | tee $S/outside.out
    grep -q "^g$(gdomid) = \"1\" .*(n$(gdomid)" $S/outside.out
}


# forgotten DOMID N: after the domain is destroyed, @releaseDomain fired
# (release.out grew past N lines), Xen freed the domain, xenstore has no
# accounting record of it (quota usage, watches) and its nodes are gone
# inside and outside its home.
forgotten() {
    until_true 120 more_lines $S/release.out $(($2 + 1)) || { echo "no @releaseDomain"; return 1; }
    echo "@releaseDomain events: $2 before, $(lines $S/release.out) after"
    until_true 120 domain_gone "$1" || { echo "domain $1 still exists"; xl list; return 1; }
    until_true 120 no_record "$1" || { echo "xenstore still has a record of domain $1:"; quota_record "$1"; return 1; }
    ! xenstore-exists "/local/domain/$1" || { echo "/local/domain/$1 left"; return 1; }
    until_true 120 not_exists "/rig/guestdir/g$1" || { echo "/rig/guestdir/g$1 left"; return 1; }
}

# `xl save -D`: the guest suspends, its state and its domid go to a file, and
# the domain is destroyed. Xenstore must then forget it, and the tree is the
# baseline plus dom0's two nodes in /rig. Our stub also removes the dead
# domain's entries from every ACL (as C 4.22 does); C 4.17 and 4.20 keep
# them and ignore them for a later domain with the same domid
# (store/DIFFERENCES.md), which the restored guest checks from its side. The
# memory report without the domain is kept for the rounds below.
reuse_save() {
    d=$(gdomid)
    n=$(lines $S/release.out)
    xl save -D gtest $S/gtest.save || return 1
    forgotten "$d" "$n" || return 1
    xenstore-ls -fp /rig | tee $S/rig.now
    if grep -E "[nrwb]$d[,)]" $S/rig.now; then
        echo "an ACL still names domain $d"
        [ "$RIG_XENSTORE" = daemon ] || return 1
    fi
    tree | grep -vE '^/rig/(guestdir|acl) ' >$S/tree.saved || return 1
    diff $S/tree.base $S/tree.saved || return 1
    until_true 120 clients_settled || { echo "dom0's clients still hold the saved domain"; pidof xl; return 1; }
    until_true 120 memreport_settled || return 1
    cp $S/mem.now $S/mem.saved && cp $S/mr.raw $S/mem.saved.raw
}

# The memory report is the same twice in a row (taken once dom0's clients
# have let go of the saved domain: see clients_settled).
memreport_settled() {
    memreport >$S/mem.prev || return 1
    sleep 1
    same_memreport $S/mem.prev
}

# `xl restore` of the saved file makes a new domain with the saved domid
# (libxl refuses a domid destroyed less than LIBXL_DOMID_REUSE_TIMEOUT
# seconds ago, 60 by default; 0 shortens that to the same second). Restored
# paused, before its kernel runs, its accounting record must equal the one
# the old domain had when it was created paused: nothing was inherited. Dom0
# then writes data/reuse, which the restored guest waits for, and unpauses it.
restore_gtest() {
    d=$(gdomid)
    n=$(lines $S/intro.out)
    # libxl compares whole seconds of CLOCK_MONOTONIC (refused while now -
    # destroyed <= timeout): wait for the next second, however long.
    sleep 1
    export LIBXL_DOMID_REUSE_TIMEOUT=0
    xl_restore gtest -p $S/gtest.save || return 1
    nd=$(xl domid gtest) || return 1
    echo "the restored gtest is domain $nd, the saved one was $d"
    [ "$nd" = "$d" ] || return 1
    until_true 120 more_lines $S/intro.out $((n + 1)) || { echo "no @introduceDomain"; return 1; }
    quota_record "$d" >$S/record.reused || return 1
    diff $S/record.fresh $S/record.reused || return 1
    xenstore-write "/local/domain/$d/data/reuse" 1 || return 1
    xl unpause gtest
}

# reuse_summary N: the Nth restored guest printed its summary line, and all N
# restored guests passed all their tests.
reuse_summaries() { guest_log | grep -c '^GUEST: reuse: [0-9]* passed, [0-9]* failed'; }
reuse_summaries_reach() { [ "$(reuse_summaries)" -ge "$1" ]; }
reuse_summary() {
    until_true 300 reuse_summaries_reach "$1" || echo "no reuse summary line $1 after 300 s"
    guest_log | grep -E '^GUEST: (resumed|reuse)'
    [ "$(guest_log | grep -cx "GUEST: reuse: $REUSE_TESTS passed, 0 failed")" = "$1" ]
}

# REUSE_ROUNDS - 1 times: restore gtest with its old domid, let it run its
# tests, destroy it. Each time xenstore forgets it and its memory report is
# the one taken after the save: reusing a domid leaves nothing behind.
reuse_rounds() {
    d=$(gdomid)
    r=0
    while [ "$r" -lt $((REUSE_ROUNDS - 1)) ]; do
        r=$((r + 1))
        echo "round $r:"
        restore_gtest || return 1
        reuse_summary "$r" || return 1
        n=$(lines $S/release.out)
        xl destroy gtest || return 1
        forgotten "$d" "$n" || return 1
        back_to $S/mem.saved || return 1
    done
}

# The last restored guest stays for the shutdown and destruction below.
reuse_last() {
    restore_gtest || return 1
    rm -f $S/gtest.save
}

# xl state column of a domain (e.g. "--ps--"), empty once it is gone.
xl_state() { xl list "$1" 2>/dev/null | awk 'NR == 2 {print $5}'; }
is_shutdown() { case $(xl_state "$1") in *s*) return 0 ;; esac; return 1; }

# `xl shutdown`: the guest powers off (on_poweroff = "preserve" keeps the
# domain) and dom0 sees @releaseDomain for the shutdown alone.
gtest_shutdown() {
    n=$(lines $S/release.out)
    xl shutdown gtest || return 1
    until_true 300 is_shutdown gtest || { xl list; return 1; }
    xl list
    until_true 120 more_lines $S/release.out $((n + 1)) || return 1
    echo "@releaseDomain events: $n before, $(lines $S/release.out) after shutdown"
    # The domain still exists, and so do its nodes (the toolstack removes
    # them on destruction).
    xenstore-exists "/local/domain/$(gdomid)"
}

# `xl destroy`: the domain is gone and dom0 sees @releaseDomain again.
gtest_destroy() {
    n=$(lines $S/release.out)
    xl destroy gtest || return 1
    until_true 120 more_lines $S/release.out $((n + 1)) || return 1
    echo "@releaseDomain events: $n before, $(lines $S/release.out) after destroy"
    until_true 120 domain_gone "$(gdomid)" || { echo "domain $(gdomid) still exists"; xl list; return 1; }
}

# No node of the guest is left: its home (libxl removes it) and the node it
# wrote in /rig/guestdir (xenstored deletes a dead domain's nodes).
gtest_nodes_gone() {
    d=$(gdomid)
    until_true 120 not_exists "/rig/guestdir/g$d"
    xenstore-ls -fp /rig
    ! xenstore-exists "/local/domain/$d" || return 1
    ! xenstore-exists "/rig/guestdir/g$d" || return 1
    xenstore-rm /rig/guestdir && xenstore-rm /rig/acl
}

# LOOP_GUESTS tiny guests (tiny-pv.S: it powers off at once, and
# on_poweroff = "preserve" keeps it until dom0 destroys it). Records every
# domid, and fails if a guest's home is missing while it lives or left
# behind once it is destroyed.
create_destroy_loop() {
    : >$S/loop.domids
    i=0
    while [ "$i" -lt "$LOOP_GUESTS" ]; do
        i=$((i + 1))
        xl_create -q $S/tiny.cfg >$S/tiny-create.out || { cat $S/tiny-create.out; return 1; }
        d=$(xl domid tiny) || return 1
        echo "$d" >>$S/loop.domids
        xenstore-exists "/local/domain/$d" || { echo "guest $i (domain $d): no home"; return 1; }
        until_true 120 is_shutdown tiny || { echo "guest $i (domain $d) did not power off"; xl list; return 1; }
        xl destroy tiny || return 1
        ! xenstore-exists "/local/domain/$d" || { echo "guest $i (domain $d): home left"; return 1; }
    done
    echo "domids: $(tr '\n' ' ' <$S/loop.domids)"
    reused=$(sort -n $S/loop.domids | uniq -d | wc -l)
    echo "domids reused within the loop: $reused"
    [ "$(lines $S/loop.domids)" = "$LOOP_GUESTS" ]
}

# Only dom0 and (for the stub) the stub domain are left under /local/domain.
no_stale_domains() {
    xenstore-list /local/domain | tee $S/domains.now
    expect=0
    [ "$RIG_XENSTORE" = stub ] && expect="0 $(xenstore-read /tool/xenstored/domid)"
    [ "$(sort -n $S/domains.now | tr '\n' ' ')" = "$(echo $expect | tr ' ' '\n' | sort -n | tr '\n' ' ')" ]
}

# Every tiny guest was announced and released.
loop_watches() {
    echo "@introduceDomain: $(lines $S/intro.out) events, @releaseDomain: $(lines $S/release.out) events"
    # Initial events; gtest: an introduction when created and at each of its
    # REUSE_ROUNDS restores, a release or more when the save destroys it and
    # after each but the last restore, then one at its shutdown and another
    # at its destruction; each tiny guest: one introduction, and a release at
    # shutdown and another at destruction.
    # The watchers print each event asynchronously: wait for the last ones.
    until_true 120 more_lines $S/intro.out $((2 + REUSE_ROUNDS + LOOP_GUESTS)) &&
        until_true 120 more_lines $S/release.out $((3 + REUSE_ROUNDS + 2 * LOOP_GUESTS))
}

stop_watchers() {
    kill "$(cat $S/intro.pid)" "$(cat $S/release.pid)" 2>/dev/null
    return 0
}

echo "RIG: guest.sh: starts after $(cut -d' ' -f1 /proc/uptime) s"
check guest-watchers start_watchers
check guest-create gtest_create
check guest-introduce-watch intro_seen
RIG_STEP_TIMEOUT=400 check guest-ping gtest_ping
RIG_STEP_TIMEOUT=400 check guest-summary gtest_summary
check guest-outside-node gtest_outside
RIG_STEP_TIMEOUT=600 check domid-reuse-save reuse_save
RIG_STEP_TIMEOUT=$((REUSE_ROUNDS * 600)) check domid-reuse-rounds reuse_rounds
RIG_STEP_TIMEOUT=600 check domid-reuse-restore reuse_last
RIG_STEP_TIMEOUT=400 check domid-reuse-guest reuse_summary "$REUSE_ROUNDS"
RIG_STEP_TIMEOUT=400 check guest-shutdown-release gtest_shutdown
check guest-destroy-release gtest_destroy
check guest-nodes-gone gtest_nodes_gone
check guest-memory-back back_to $S/mem.base
check guest-tree-back tree_back_to $S/tree.base
memreport >$S/mem.loopbase && cp $S/mr.raw $S/mem.loopbase.raw
echo "RIG: guest.sh: loop starts after $(cut -d' ' -f1 /proc/uptime) s"
RIG_STEP_TIMEOUT=$((LOOP_GUESTS * 120)) check loop-create-destroy create_destroy_loop
echo "RIG: guest.sh: loop done after $(cut -d' ' -f1 /proc/uptime) s"
check loop-watches loop_watches
check loop-no-stale-domains no_stale_domains
check loop-memory-back back_to $S/mem.loopbase
check loop-tree-back tree_back_to $S/tree.base
stop_watchers
