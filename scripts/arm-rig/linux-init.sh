#!/bin/busybox sh
# /init of the Linux dom0less guest: once the kernel's xenbus is up, one
# write and one read of xenstore through /dev/xen/xenbus (the raw protocol:
# a 16-byte header, type, request id, transaction id, length, little
# endian, then the payload), then power off. Lines start with "LINUX:".
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "LINUX: up, $(uname -r)"
i=0
while [ ! -e /dev/xen/xenbus ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
[ -e /dev/xen/xenbus ] || { echo "LINUX: FAIL no /dev/xen/xenbus"; poweroff -f; }
# Sends one request ($1 type, $2 payload as printf octal escapes, $3 its
# length) and prints the reply's payload.
xs() {
    exec 3<>/dev/xen/xenbus
    printf "\\$(printf %03o "$1")\\000\\000\\000\\001\\000\\000\\000\\000\\000\\000\\000\\$(printf %03o "$3")\\000\\000\\000$2" >&3
    dd bs=4096 count=1 <&3 2>/dev/null | tail -c +17 | tr '\000' ' '
    exec 3<&-
}
# XS_READ (2) "domid\0"; XS_WRITE (11) "data/linux\0ok"; XS_READ "data/linux\0".
domid=$(xs 2 'domid\000' 6)
echo "LINUX: domid reads '$domid'"
w=$(xs 11 'data/linux\000ok' 13)
r=$(xs 2 'data/linux\000' 11)
name=$(xs 2 'name\000' 5)
echo "LINUX: write '$w', read back '$r', name '$name'"
if [ "$r" = ok ] && [ -n "$domid" ]; then echo "LINUX: PASS xenstore"; else echo "LINUX: FAIL xenstore"; fi
poweroff -f
