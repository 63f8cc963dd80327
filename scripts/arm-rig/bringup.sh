#!/usr/bin/env bash
# The stub's bring-up on Debian's arm64 Xen (no xenstore domain before
# 4.21, so a plain dom0less domain): every line below must appear.
#
#   scripts/arm-rig/bringup.sh 4.17|4.20 IMAGE
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ver=${1:?usage: bringup.sh 4.17|4.20 IMAGE}
image=${2:?usage: bringup.sh 4.17|4.20 IMAGE}
xen=$("$HERE/fetch.sh" "$ver")
log=$REPO/build/arm/bringup-$ver.log
"$HERE/boot.sh" --xen "$xen" --stub "$image" --stub-args "--log-level debug" \
    --until 'xenstore-stubdom-rs: ready in [0-9]+ ms' --timeout 120 --log "$log"
fail=0
for mark in \
    "xenstore-stubdom-rs: entered EL1, device tree at 0x[0-9a-f]+" \
    "xenstore-stubdom-rs: Xen version ${ver/./\\.}" \
    "xenstore-stubdom-rs: heap [0-9]+ KiB" \
    "xenstore-stubdom-rs: grant table frame 0 at 0x[0-9a-f]+, [0-9]+ of [0-9]+ frames" \
    "xenstore-stubdom-rs: event channel loop-back ok" \
    "xenstore-stubdom-rs: domctl interface version 0x[0-9a-f]+" \
    "xenstore-stubdom-rs: ready in [0-9]+ ms"; do
    if grep -aqE "$mark" "$log"; then
        echo "PASS $mark"
    else
        echo "FAIL $mark"
        fail=1
    fi
done
[ $fail = 0 ] && echo "arm-bringup: Xen $ver passed" || { echo "arm-bringup: Xen $ver FAILED"; exit 1; }
