#!/bin/sh
# /init of the rig's dom0 (busybox sh). It brings dom0 up, starts xenstore the
# way /rig/rig.conf asks, then either runs /rig/check.sh and prints one
# summary line "N passed, M failed", or opens a shell (interactive mode), and
# finally powers off. Lines meant for the host start with "RIG: ".
#
# rig.conf (written by boot.sh) sets:
#   RIG_XENSTORE     stub (our kernel via init-xenstore-domain) | daemon (C xenstored in dom0)
#   RIG_STUB_MEM     the stub's memory in MiB (--memory)
#   RIG_STUB_ARGS    extra init-xenstore-domain arguments (e.g. --param "...")
#   RIG_XS_TIMEOUT   seconds to wait for xenstore to come up (a hang detector)
#   RIG_CHECK_TIMEOUT seconds the whole check script may run
#   RIG_INTERACTIVE  1 for a shell instead of the check script

/usr/bin/busybox --install -s
XEN_VER=$(cat /rig/xen-version)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-$XEN_VER/bin
export HOME=/root TERM=${TERM:-vt100}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/xen /run/xenstored /run/rig /var/log/xen/console

# No modules.dep ships, so the Xen modules are loaded in dependency order.
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
    insmod /lib/modules/rig/$m.ko || echo "RIG: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen

. /rig/rig.conf
: "${RIG_XENSTORE:=stub}" "${RIG_STUB_MEM:=8}" "${RIG_XS_TIMEOUT:=120}" "${RIG_CHECK_TIMEOUT:=840}"
export RIG_XENSTORE XEN_VER
echo "RIG: dom0 up after $(cut -d' ' -f1 /proc/uptime) s, Xen $XEN_VER, xenstore=$RIG_XENSTORE"

rig_poweroff() {
    sync
    reboot -f
    sleep 5
}

# Waits up to $2 seconds for process $1; returns its exit status, or 124 after
# killing it when the time is up.
rig_wait() {
    n=0
    while kill -0 "$1" 2>/dev/null; do
        if [ "$n" -ge "$2" ]; then
            # The pid may be the stuck command itself (the subshell execs
            # its last command), and a process in uninterruptible sleep (a
            # xenbus wait on a stub that does not answer) survives kill -9:
            # never `wait` for it unboundedly, say what it is stuck in.
            kill -9 "$1" 2>/dev/null
            k=0
            while kill -0 "$1" 2>/dev/null && [ "$k" -lt 5 ]; do
                sleep 1
                k=$((k + 1))
            done
            if kill -0 "$1" 2>/dev/null; then
                echo "RIG: pid $1 cannot be killed (state $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null), wchan $(cat "/proc/$1/wchan" 2>/dev/null))"
                return 124
            fi
            wait "$1" 2>/dev/null
            return 124
        fi
        sleep 1
        n=$((n + 1))
    done
    wait "$1"
}

# Starts xenstore. Nothing may touch xenstore (xl, xenstore-*, xenconsoled)
# before init-xenstore-domain returns: dom0's kernel would bind its xenbus to
# no one and deadlock, so the launcher runs alone, watched by a timeout.
start_xenstore() {
    case $RIG_XENSTORE in
    stub)
        t0=$(cut -d' ' -f1 /proc/uptime)
        # shellcheck disable=SC2086 # RIG_STUB_ARGS is a list of words.
        eval "init-xenstore-domain --kernel /rig/stub.elf --memory $RIG_STUB_MEM -v $RIG_STUB_ARGS" \
            >/run/rig/init-xenstore-domain.log 2>&1 &
        rig_wait $! "$RIG_XS_TIMEOUT"
        rc=$?
        # Its -v output is long: all of it on failure, its end otherwise.
        if [ "$rc" = 0 ] && [ -z "${RIG_VERBOSE:-}" ]; then
            tail -n 3 /run/rig/init-xenstore-domain.log | sed 's/^/RIG: init-xenstore-domain: /'
        else
            sed 's/^/RIG: init-xenstore-domain: /' /run/rig/init-xenstore-domain.log
        fi
        echo "RIG: init-xenstore-domain exited $rc after $t0 .. $(cut -d' ' -f1 /proc/uptime) s"
        [ "$rc" = 0 ] || return 1
        ;;
    daemon)
        xenstored --pid-file /run/xenstored.pid || return 1
        ;;
    *)
        echo "RIG: unknown RIG_XENSTORE=$RIG_XENSTORE"
        return 1
        ;;
    esac
    timeout 120 xen-init-dom0 >/run/rig/xen-init-dom0.log 2>&1 || {
        cat /run/rig/xen-init-dom0.log
        return 1
    }
    xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
}

results=/run/rig/results
: >"$results"
if start_xenstore; then
    echo "PASS xenstore-start" >>"$results"
    echo "RIG: PASS xenstore-start"
    if [ "${RIG_INTERACTIVE:-0}" = 1 ]; then
        echo "RIG: interactive dom0 shell; leave with 'poweroff -f' (or Ctrl-A X in QEMU)"
        setsid cttyhack sh -l
        rig_poweroff
    fi
    (
        . /rig/harness.sh
        . /rig/check.sh
    ) &
    rig_wait $! "$RIG_CHECK_TIMEOUT"
    rc=$?
    [ "$rc" = 124 ] && echo "FAIL check-script-timeout" >>"$results" && echo "RIG: FAIL check script timed out"
else
    echo "FAIL xenstore-start" >>"$results"
    echo "RIG: FAIL xenstore-start"
    [ "${RIG_INTERACTIVE:-0}" = 1 ] && setsid cttyhack sh -l
fi

# Guest consoles that xenconsoled captured (the stub's PV console, if used).
for f in /var/log/xen/console/guest-*.log; do
    [ -s "$f" ] && sed "s|^|RIG: console $(basename "$f" .log): |" "$f"
done

passed=$(grep -c '^PASS' "$results")
failed=$(grep -c '^FAIL' "$results")
[ -s /run/rig/notes ] && echo "RIG: note: check scripts run again after a dom0 process crash: $(tr '\n' ' ' </run/rig/notes)"
echo "RIG: finished after $(cut -d' ' -f1 /proc/uptime) s"
echo "$passed passed, $failed failed"
rig_poweroff
