# The in-rig benchmark's dom0 script (busybox sh, sourced by the rig's /init
# after scripts/xen-rig/dom0-harness.sh; bench/rig.sh boots the rig with it).
#
# With xenstore served by our stub or by C xenstored in dom0 ($RIG_XENSTORE),
# it runs the benchmark client /rig/extra/xs-rig-bench (see
# tests/peers/tools/src/rig.rs):
#   1. in dom0 through /dev/xen/xenbus (dom0 kernel's ring to the stub, or
#      the kernel's xenbus to the local daemon),
#   2. in dom0 through C xenstored's socket (daemon only: the path libxl
#      takes when the daemon runs in dom0),
#   3. in a PV Linux guest through its own ring (its /init is
#      bench/rig-guest-init.sh; it prints its results on its console),
# and measures xenstore's CPU time while nobody talks to it for $IDLE_S
# seconds. Every result goes to the serial console as one line
# "XSRIG {json}" (the client's, or the script's for CPU times and clocks),
# which bench/rig.py reads from the boot's log.
#
# Clocks: the client times itself with its domain's clock, which on this
# rig is not always right (one boot's dom0 clock ran about 50 times slower
# than Xen's from its start). So each client run is also timed with Xen's
# clock (the timestamp of a line Xen prints for debug key 't', read back
# with `xl dmesg`) and one line "XSRIG {label, metric: clock, xen_s,
# domain_s}" reports both; bench/rig.py scales the client's rates by
# domain_s / xen_s. For the guest, Xen's clock is read when dom0 sees the
# guest's start and done lines (polled every 0.2 s: a small error on runs
# of minutes).
#
# /rig/extra/rig-bench.conf (written by bench/rig.sh) sets CLIENT_ARGS (the
# client's options) and IDLE_S.

unset XENSTORED_PATH
CLIENT_ARGS="--rt 1000 --fill 500 --runs 3"
IDLE_S=60
[ -f /rig/extra/rig-bench.conf ] && . /rig/extra/rig-bench.conf
BIN=/rig/extra/xs-rig-bench
GLOG=/var/log/xen/console/guest-xsbench.log
S=/run/rig/bench
mkdir -p $S

# out LINE: one result line on the serial console (and in the step's output).
out() { echo "$1" >/dev/console; echo "$1"; }

# xenstore's CPU seconds so far: the stub domain's (xl list's Time(s)) or
# the C daemon's user+system time.
server_cpu() {
    case $RIG_XENSTORE in
    stub) xl list Xenstore | awk 'NR == 2 { print $6 }' ;;
    daemon) awk -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" '{ printf "%.2f\n", ($14 + $15) / hz }' \
        /proc/"$(cat /run/xenstored.pid)"/stat ;;
    esac
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# xen_now (the rig's harness): Xen's time now, in seconds.
# clock_line LABEL XEN0 XEN1 DOMAIN0 DOMAIN1: one client run by both clocks.
clock_line() {
    out "$(awk -v l="$1" -v x0="$2" -v x1="$3" -v d0="$4" -v d1="$5" 'BEGIN {
        printf "XSRIG {\"label\":\"%s\",\"metric\":\"clock\",\"xen_s\":%.2f,\"domain_s\":%.2f}", l, x1 - x0, d1 - d0 }')"
}
# cpu_line LABEL CPU0 CPU1 XEN0 XEN1: xenstore's CPU over an interval of
# Xen's clock.
cpu_line() {
    out "$(awk -v l="$1" -v a="$2" -v b="$3" -v u0="$4" -v u1="$5" 'BEGIN {
        printf "XSRIG {\"label\":\"%s\",\"metric\":\"server_cpu\",\"cpu_s\":%.2f,\"wall_s\":%.1f,\"share\":%.4f}", l, b - a, u1 - u0, (b - a) / (u1 - u0) }')"
}

# bench_dom0 LABEL PATH: the client in dom0, with xenstore's CPU over it.
bench_dom0() {
    c0=$(server_cpu) x0=$(xen_now) u0=$(uptime_s)
    # shellcheck disable=SC2086 # the arguments are words on purpose.
    $BIN "$2" --label "$1" $CLIENT_ARGS >$S/out 2>&1
    rc=$?
    u1=$(uptime_s) x1=$(xen_now) c1=$(server_cpu)
    cat $S/out
    grep '^XSRIG ' $S/out >/dev/console
    clock_line "$1" "$x0" "$x1" "$u0" "$u1"
    cpu_line "$1" "$c0" "$c1" "$x0" "$x1"
    return $rc
}

guest_started() { grep -q '^XSRIG-START' $GLOG 2>/dev/null; }
guest_done() { grep -q '^XSRIG-DONE' $GLOG 2>/dev/null; }
# The guest's uptime on its line starting with $1.
guest_up() { tr -d '\r' <$GLOG | sed -n "s/^$1 .*up=\([0-9.]*\).*/\1/p" | head -n 1; }
# The guest: created, its results awaited on its console, then gone.
bench_guest() {
    rm -f $GLOG
    cat >$S/guest.cfg <<CFG
name = "xsbench"
type = "pv"
kernel = "/rig/extra/bench-vmlinuz"
ramdisk = "/rig/extra/bench-guest.cpio.gz"
memory = 128
vcpus = 1
extra = "console=hvc0 quiet xsrig=--label,guest,$(echo $CLIENT_ARGS | tr ' ' ',')"
CFG
    xl_create $S/guest.cfg || return 1
    domid=$(xl domid xsbench)
    until_true 900 guest_started || { echo "no XSRIG-START from the guest"; tail -n 20 $GLOG; return 1; }
    c0=$(server_cpu) x0=$(xen_now)
    until_true 900 guest_done || { echo "no XSRIG-DONE from the guest"; tail -n 20 $GLOG; return 1; }
    x1=$(xen_now) c1=$(server_cpu)
    tr -d '\r' <$GLOG | grep '^XSRIG'
    tr -d '\r' <$GLOG | grep '^XSRIG ' >/dev/console
    clock_line guest "$x0" "$x1" "$(guest_up XSRIG-START)" "$(guest_up XSRIG-DONE)"
    cpu_line guest "$c0" "$c1" "$x0" "$x1"
    until_true 300 domain_gone "$domid" || xl destroy "$domid"
    tr -d '\r' <$GLOG | grep -q '^XSRIG-DONE rc=0 '
}

# Nobody talks to xenstore: its CPU over IDLE_S seconds of Xen's clock
# (dom0's may run slow; reading Xen's asks Xen, not xenstore).
idle_cpu() {
    c0=$(server_cpu) x0=$(xen_now)
    x1=$x0
    while awk -v a="$x0" -v b="$x1" -v n="$IDLE_S" 'BEGIN { exit !(b - a < n) }'; do
        sleep 5
        x1=$(xen_now)
    done
    c1=$(server_cpu)
    cpu_line idle "$c0" "$c1" "$x0" "$x1"
}

check bench-dom0-xenbus bench_dom0 dom0 /dev/xen/xenbus
[ "$RIG_XENSTORE" = daemon ] && check bench-dom0-socket bench_dom0 dom0-socket /run/xenstored/socket
check bench-guest bench_guest
check bench-idle idle_cpu
