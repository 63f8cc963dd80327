#!/usr/bin/env bash
# A Linux arm64 dom0less guest for the dom0less test: Debian trixie's arm64
# kernel and a busybox initramfs whose /init (linux-init.sh) talks to
# xenstore through /dev/xen/xenbus. Prints "KERNEL INITRD".
#
#   scripts/arm-rig/linux-guest.sh
#
# Cached in $CACHE/arm-rig/linux/ (the kernel package is about 90 MB).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${CACHE:-$REPO/.cache}
dir=$CACHE/arm-rig/linux
"$HERE/fetch.sh" 4.20 >/dev/null # sets up the trixie arm64 apt config
export APT_CONFIG=$CACHE/arm-rig/apt-trixie/apt.conf
mkdir -p "$dir"
kernel=$(ls "$dir"/root/boot/vmlinuz-* 2>/dev/null | head -1 || true)
if [ -z "$kernel" ]; then
    kpkg=$(apt-cache depends linux-image-arm64 | awk '/Depends: linux-image-/ {print $2; exit}')
    (cd "$dir" && rm -f linux-image-*.deb && timeout 900 apt-get download "$kpkg" >/dev/null)
    mkdir -p "$dir/root"
    dpkg-deb --fsys-tarfile "$dir"/linux-image-*.deb | tar -x -C "$dir/root" ./boot
    kernel=$(ls "$dir"/root/boot/vmlinuz-* | head -1)
fi
if [ ! -x "$dir/bb/usr/bin/busybox" ]; then
    (cd "$dir" && rm -f busybox-static_*.deb && timeout 900 apt-get download busybox-static >/dev/null)
    dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/bb"
fi
initrd=$dir/initrd.cpio.gz
tree=$dir/initramfs
rm -rf "$tree"
mkdir -p "$tree"/{bin,dev,proc,sys}
cp "$dir/bb/usr/bin/busybox" "$tree/bin/busybox"
cp "$HERE/linux-init.sh" "$tree/init"
chmod +x "$tree/init"
(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -9n >"$initrd")
echo "$kernel $initrd"
