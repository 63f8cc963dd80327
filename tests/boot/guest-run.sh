#!/usr/bin/env bash
# Host side of `make guest-test`: builds the PV Linux test guest for one Xen
# version (scripts/xen-rig/mkguest.sh with tests/boot/guest-init.sh as its
# /init) and the tiny guest (tests/boot/tiny-pv.S, with as and ld), boots Xen with our stub (or C xenstored in dom0 with --xenstore
# daemon) through the rig, and runs tests/boot/guest.sh in dom0. For the stub
# it then checks the stub's own console: every guest ring it mapped was
# unmapped again, and one domid was served twice (the restored guest).
#
#   tests/boot/guest-run.sh [--xen 4.17|4.20] [--xenstore stub|daemon] [--stub FILE]
#                           [--check FILE]... [--extra FILE[=NAME]]...
#
# --check and --extra go to boot.sh as they are: more dom0 check scripts run
# in the same boot after guest.sh, with the files they need in /rig/extra/
# (the hook for other areas' guest checks; `make guest-test` passes
# GUEST_TEST_ARGS here).
# The serial log lands in build/boot/<xen>-<xenstore>-guest.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

xen=4.17
xenstore=stub
stub=$REPO/build/xenstore-stubdom-rs.elf
more=()
while [ $# -gt 0 ]; do
    case $1 in
    --xen) xen=$2; shift 2 ;;
    --xenstore) xenstore=$2; shift 2 ;;
    --stub) stub=$2; shift 2 ;;
    --check | --extra) more+=("$1" "$2"); shift 2 ;;
    *) echo "guest-run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
log=$REPO/build/boot/$xen-$xenstore-guest.log
guest=$REPO/build/boot/guest-$xen

"$REPO/scripts/xen-rig/mkguest.sh" "$xen" "$HERE/guest-init.sh" "$guest"
# The loop's tiny PV guest (see its header).
as --64 -o "$guest/tiny-pv.o" "$HERE/tiny-pv.S"
ld -N -Ttext=0 -e _start --build-id=none --no-warn-rwx-segments -o "$guest/tiny-pv.elf" "$guest/tiny-pv.o"

rc=0
"$REPO/scripts/xen-rig/boot.sh" --xen "$xen" --xenstore "$xenstore" --stub "$stub" \
    --check "$HERE/guest.sh" --extra "$guest/vmlinuz" --extra "$guest/guest.cpio.gz" \
    --extra "$guest/tiny-pv.elf" "${more[@]}" \
    --log "$log" --timeout "${GUEST_TIMEOUT:-900}" || rc=1

# The stub logs "domain N ring mapped, ..." when it grant-maps a guest's ring
# and "domain N ring unmapped" when the domain is gone: each guest domain
# must appear exactly once in each. Dom0 (domain 0) stays mapped.
if [ "$xenstore" = stub ]; then
    console=$(tr -d '\r' <"$log" | grep -aE '\(d[0-9]+\) ' | sed -E 's/^.*\((d[0-9]+)\) (\[[^]]*\] )?//' || true)
    mapped=$(grep -aoE 'domain [0-9]+ ring mapped' <<<"$console" | awk '$2 != 0 {print $2}' | sort -n || true)
    unmapped=$(grep -aoE 'domain [0-9]+ ring unmapped' <<<"$console" | awk '{print $2}' | sort -n || true)
    echo "guest-test: the stub mapped $(wc -w <<<"$mapped") guest rings and unmapped $(wc -w <<<"$unmapped")"
    if [ -z "$mapped" ] || [ "$mapped" != "$unmapped" ]; then
        echo "guest-test: FAILED: guest rings mapped ($(echo $mapped)) and unmapped ($(echo $unmapped)) differ" >&2
        rc=1
    fi
    # guest.sh restores gtest with its old domid: the stub must have mapped
    # that domid's ring twice (two domains, one after the other).
    dups=$(uniq -d <<<"$mapped" | tr '\n' ' ')
    echo "guest-test: domids the stub saw twice (reused): ${dups:-none}"
    if [ -z "$dups" ]; then
        echo "guest-test: FAILED: the stub never served a reused domid" >&2
        rc=1
    fi
fi
[ "$rc" = 0 ] && echo "guest-test: Xen $xen with xenstore=$xenstore passed" ||
    echo "guest-test: Xen $xen with xenstore=$xenstore FAILED (log: $log)" >&2
exit "$rc"
