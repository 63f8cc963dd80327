#!/bin/sh
# /init of the PV Linux guest of the stub's live-update check (busybox
# sh; built into its initramfs by scripts/xen-rig/mkguest.sh, started by
# tests/liveupdate/check.sh in dom0).
#
# Through its own ring, as an unprivileged domain, it holds a watch on
# data/lu-ping (xenstore-watch -n 2: the event at registration, then
# dom0's write after the update) and writes data/lu-count 1, 2, 3, ...
# without pause until dom0 writes data/lu-stop. Then it writes
# data/lu-last (its last count) and data/lu-errors (failed writes), and,
# once the watch has fired twice, data/lu-watched.

/usr/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

xenstore-watch -n 2 data/lu-ping >/tmp/watch.out 2>&1 &
watcher=$!
i=0
errors=0
while ! xenstore-exists data/lu-stop; do
    i=$((i + 1))
    xenstore-write data/lu-count "$i" || errors=$((errors + 1))
    [ "$i" = 1 ] && xenstore-write data/lu-ready 1
done
xenstore-write data/lu-last "$i"
xenstore-write data/lu-errors "$errors"
echo "LU-GUEST: $i writes, $errors failed"
wait "$watcher"
echo "LU-GUEST: watch events: $(tr '\n' ' ' </tmp/watch.out)"
[ "$(wc -l </tmp/watch.out)" -ge 2 ] && xenstore-write data/lu-watched 1
while :; do sleep 3600; done
