#!/bin/sh
# /init of the in-rig benchmark's PV Linux guest (busybox sh; built into its
# initramfs by scripts/xen-rig/mkguest.sh, with xs-rig-bench appended by
# bench/rig.sh; started by bench/rig-check.sh in dom0).
#
# It runs the benchmark client through its kernel's xenbus
# (/dev/xen/xenbus, an unprivileged domain's own ring) and prints
# "XSRIG-START up=S", the client's "XSRIG {...}" lines and then
# "XSRIG-DONE rc=N up=S" on hvc0 (S: its uptime), which xenconsoled logs
# in dom0, and powers off. The client's arguments come
# from the guest's kernel command line: "xsrig=ARG,ARG,..." (commas for
# spaces).

/usr/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

args=
for w in $(cat /proc/cmdline); do
    case $w in xsrig=*) args=$(echo "${w#xsrig=}" | tr ',' ' ') ;; esac
done
echo "XSRIG-START up=$(cut -d' ' -f1 /proc/uptime)"
# shellcheck disable=SC2086 # the arguments are words on purpose.
/usr/bin/xs-rig-bench /dev/xen/xenbus $args 2>&1
rc=$?
echo "XSRIG-DONE rc=$rc up=$(cut -d' ' -f1 /proc/uptime)"
sync
exec /usr/bin/busybox poweroff -f
