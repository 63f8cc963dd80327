# Dom0 check script of the stub's live update (tests/liveupdate/run.sh):
# `xenstore-control live-update` replaces the running stub by a second
# build, marked XS_STUB_BUILD=lu-b (its banner says "build lu-b"), while
# a PV Linux guest (guest-init.sh) holds a watch and keeps writing, and
# a dom0 client holds a transaction open on /dev/xen/xenbus (the update
# carries it: it does not wait for it). Afterwards: the new build runs,
# the transaction goes on and commits, the guest's writes all landed and go
# on, its watch fires, dom0's `xenstore-ls -fp` is what it was (the
# guest's counter nodes aside), a new guest can be created and
# destroyed, a second update goes back to lu-a, and the stub's heap and
# memory report are back where they were before the updates.
S=/run/rig/lu
mkdir -p $S
E=/rig/extra
NEW=$E/xenstore-stubdom-rs-lu-b.elf
STUB=$(xenstore-read /tool/xenstored/domid)

cat >$S/g.cfg <<CFG
name = "lug"
type = "pv"
kernel = "$E/vmlinuz"
ramdisk = "$E/guest.cpio.gz"
memory = 128
vcpus = 1
extra = "console=hvc0 quiet"
CFG
cat >$S/tiny.cfg <<CFG
name = "tiny"
type = "pvh"
kernel = "/rig/stub.elf"
memory = 16
shadow_memory = 4
cmdline = "--log-level info"
CFG

# A dom0 client holding a transaction across the update, on its own
# /dev/xen/xenbus descriptor (the kernel keeps the transaction for it):
# in the transaction it reads /lu-tx/a and writes /lu-tx/b, says so
# ($S/tx.open), waits for $S/tx.go, writes /lu-tx/c and commits; the
# commit's reply text lands in $S/tx.result. Messages are written whole
# (header little-endian: type, request id, transaction id, length).
cat >$S/txc.sh <<'TXC'
S=/run/rig/lu
. /rig/harness.sh # xs_send TYPE TX LEN PAYLOAD
# reply FILE: the one reply, kept in $S/FILE, its payload printed
reply() { dd bs=4096 count=1 <&3 2>/dev/null >"$S/$1"; tail -c +17 "$S/$1" | tr -d '\000'; echo; }
exec 3<>/dev/xen/xenbus || exit 1
xs_send 6 0 1 '\000'
tx=$(reply start)
echo "transaction $tx"
echo "$tx" >$S/tx.id
xs_send 2 "$tx" 9 '/lu-tx/a\000'
echo "read: $(reply read)"
xs_send 11 "$tx" 15 '/lu-tx/b\000before'
echo "write: $(reply w1)"
touch $S/tx.open
until [ -e $S/tx.go ]; do sleep 1; done
xs_send 11 "$tx" 14 '/lu-tx/c\000after'
echo "write: $(reply w2)"
xs_send 7 "$tx" 2 'T\000'
reply end >$S/tx.result
echo "commit: $(cat $S/tx.result)"
TXC

# The tree without the guest's moving counter nodes.
tree() { xenstore-ls -fp / | grep -v '/data/lu-'; }
# The memory report without the request counters; the heap line apart.
report() { xenstore-control memreport | grep -v -e '^requests:' -e '^heap:'; }
heap_used() { xenstore-control memreport | sed -n 's/^heap: \([0-9]*\) bytes used.*/\1/p'; }
heap_limit() { xenstore-control memreport | sed -n 's/^heap: .*limit \([0-9]*\).*/\1/p'; }
gdom() { cat $S/domid; }
home() { echo "/local/domain/$(gdom)"; }
exists() { xenstore-exists "$1"; }
count() { xenstore-read "$(home)/data/lu-count"; }
counting() { [ "$(count)" -gt "$1" ] 2>/dev/null; }

guest_up() {
    xl_create $S/g.cfg || return 1
    xl domid lug >$S/domid || return 1
    until_true 300 exists "$(home)/data/lu-ready" || { echo "the guest never wrote"; return 1; }
    c=$(count)
    until_true 120 counting "$c" || { echo "the guest's count is stuck at $c"; return 1; }
    echo "guest $(gdom) writing, count $(count)"
}

baseline() {
    xenstore-ls -fp / >$S/tree.base || return 1
    report >$S/report.base || return 1
    heap_used >$S/heap.base && heap_limit >$S/limit.base || return 1
    echo "heap used $(cat $S/heap.base) of $(cat $S/limit.base)"
    cat $S/report.base
}

# refused FILE REASON: the update is refused with REASON and the old
# build goes on serving.
refused() {
    ! xenstore-control live-update "$1" >$S/refused.out 2>&1 || { cat $S/refused.out; return 1; }
    cat $S/refused.out
    grep -q "$2" $S/refused.out || return 1
    xenstore-write /lu-probe 1 && [ "$(xenstore-read /lu-probe)" = 1 ] && xenstore-rm /lu-probe
}
# A kernel larger than the stub's memory budget (Debian's 8 MB Linux).
too_big() { refused "$E/vmlinuz" "Allocation failure."; }
# Not an ELF image.
not_elf() {
    head -c 65536 /dev/urandom >$S/bad.elf || return 1
    refused $S/bad.elf "Invalid kernel image."
}

update() {
    c=$(count)
    echo "count before the update: $c"
    echo "$c" >$S/count.before
    time xenstore-control live-update "$NEW" || return 1
    console_has "$STUB" "xenstore-stubdom-rs: build lu-b" || { echo "no banner of the new build"; return 1; }
    xl dmesg | grep -a "(d$STUB) " | grep -a -e 'live update' -e 'build lu-b' -e 'ready in'
}

# The same kernel updates again: back to lu-a (the booted image, which
# the rig keeps as /rig/stub.elf), its banner a second time.
banners() { xl dmesg | grep -a "(d$STUB) " | grep -ac "xenstore-stubdom-rs: build $1"; }
update_again() {
    xenstore-control live-update /rig/stub.elf || return 1
    [ "$(banners lu-a)" -ge 2 ] || { echo "no second banner of lu-a"; return 1; }
    xenstore-write /lu-probe 1 && [ "$(xenstore-read /lu-probe)" = 1 ] && xenstore-rm /lu-probe
}

writes_go_on() {
    c=$(count)
    until_true 120 counting "$c" || { echo "the guest's count is stuck at $c"; return 1; }
    echo "count now $(count)"
}

stop_guest() {
    xenstore-write "$(home)/data/lu-stop" 1 || return 1
    until_true 120 exists "$(home)/data/lu-last" || { echo "the guest never stopped"; return 1; }
    last=$(xenstore-read "$(home)/data/lu-last")
    errors=$(xenstore-read "$(home)/data/lu-errors")
    echo "the guest wrote $last times, $errors failed; before the update $(cat $S/count.before)"
    [ "$errors" = 0 ] && [ "$(count)" = "$last" ] && [ "$last" -gt "$(cat $S/count.before)" ]
}

watch_fires() {
    xenstore-write "$(home)/data/lu-ping" 1 || return 1
    until_true 120 exists "$(home)/data/lu-watched" || { echo "the guest's watch never fired"; return 1; }
}

tx_open() {
    xenstore-write /lu-tx/a 1 || return 1
    rm -f $S/tx.open $S/tx.go $S/tx.result
    setsid sh $S/txc.sh >$S/txc.out 2>&1 </dev/null &
    until_true 60 test -e $S/tx.open || { cat $S/txc.out; return 1; }
    cat $S/txc.out
    ! xenstore-exists /lu-tx/b || { echo "the transaction's write is visible"; return 1; }
}
# The transaction goes on in the new build: a write, then the commit.
tx_commits() {
    touch $S/tx.go
    until_true 60 test -s $S/tx.result || { cat $S/txc.out; return 1; }
    cat $S/txc.out
    [ "$(cat $S/tx.result)" = OK ] || return 1
    [ "$(xenstore-read /lu-tx/b)" = before ] && [ "$(xenstore-read /lu-tx/c)" = after ] || return 1
    xenstore-rm /lu-tx
}

tree_before() { tree >$S/tree.before; }
same_tree() {
    tree >$S/tree.after || return 1
    diff $S/tree.before $S/tree.after
}

tiny_life() {
    xl_create $S/tiny.cfg || return 1
    d=$(xl domid tiny) || return 1
    until_true 120 exists "/local/domain/$d/name" || return 1
    xl destroy tiny || return 1
    until_true 120 domain_gone "$d" || return 1
    until_true 120 sh -c "! xenstore-exists /local/domain/$d"
}

guest_gone() {
    xl destroy lug || return 1
    until_true 120 domain_gone "$(gdom)"
}

# Once the guests are gone: the tree and the memory report as at the
# start, and the heap's bytes in use within 16 KiB (allocation patterns
# differ: the restored engine's tables were built at once, not grown).
# The heap's limit may differ by the pages of the builder's start info,
# which the new kernel's heap covers. Dom0's clients may still let go of
# the guests for a moment (xl's monitoring, xenconsoled): waited for.
same_report() { report >$S/report.after && cmp -s $S/report.base $S/report.after; }
memory_back() {
    until_true 30 same_report
    xenstore-ls -fp / >$S/tree.end || return 1
    diff $S/report.base $S/report.after
    diff $S/tree.base $S/tree.end || return 1
    cmp -s $S/report.base $S/report.after || return 1
    used=$(heap_used)
    echo "heap used at the start $(cat $S/heap.base), now $used; limit $(cat $S/limit.base) -> $(heap_limit)"
    d=$((used - $(cat $S/heap.base)))
    [ "$d" -le 16384 ] && [ "$d" -ge -16384 ]
}

# libxl makes /vm and /libxl with the first domain it creates and never
# removes them: one guest's life comes before the baseline.
check lu-warm-up tiny_life
check lu-baseline baseline
check lu-guest-up guest_up
check lu-tx-open tx_open
check lu-tree-before tree_before
check lu-refuse-too-big too_big
check lu-refuse-not-elf not_elf
check lu-update update
check lu-tree-same same_tree
check lu-tx-commits tx_commits
check lu-writes-go-on writes_go_on
check lu-guest-writes-landed stop_guest
check lu-guest-watch-fires watch_fires
check lu-new-guest tiny_life
check lu-update-again update_again
check lu-guest-destroyed guest_gone
check lu-memory-back memory_back
check lu-stub-idle stub_idle
