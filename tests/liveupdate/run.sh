#!/usr/bin/env bash
# Host side of `make lu-check`: the stub's live update on real Xen in the
# QEMU rig. Builds two stub images that differ only in their build mark
# (XS_STUB_BUILD=lu-a, booted as the xenstore domain, and lu-b, the
# update), the PV Linux guest of tests/liveupdate/guest-init.sh, and runs
# tests/liveupdate/check.sh in dom0.
#
#   tests/liveupdate/run.sh [--xen 4.17|4.20]
#
# The serial log lands in build/boot/<xen>-lu.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"

xen=4.20
while [ $# -gt 0 ]; do
    case $1 in
    --xen) xen=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
out=$REPO/build/lu
mkdir -p "$out"
for mark in lu-a lu-b; do
    XS_STUB_BUILD=$mark make -s image >/dev/null
    cp build/xenstore-stubdom-rs.elf "$out/xenstore-stubdom-rs-$mark.elf"
    cp build/xenstore-stubdom-rs.gz "$out/xenstore-stubdom-rs-$mark.gz"
done
# Put the ordinary image back.
make -s image >/dev/null
guest=$REPO/build/boot/lu-guest-$xen
"$REPO/scripts/xen-rig/mkguest.sh" "$xen" "$HERE/guest-init.sh" "$guest"

"$REPO/scripts/xen-rig/boot.sh" --xen "$xen" --stub "$out/xenstore-stubdom-rs-lu-a.gz" \
    --stub-mem 4 --stub-args '--param "--log-level info"' \
    --extra "$out/xenstore-stubdom-rs-lu-b.elf" \
    --extra "$guest/vmlinuz" --extra "$guest/guest.cpio.gz" \
    --check "$HERE/check.sh" \
    --log "$REPO/build/boot/$xen-lu.log" --timeout "${LU_TIMEOUT:-1800}"
