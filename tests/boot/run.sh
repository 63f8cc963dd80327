#!/usr/bin/env bash
# Host side of `make boot-test`: boots Xen with our stub (or C xenstored as a
# dom0 daemon with --xenstore daemon) through the rig, runs check.sh in dom0,
# and for the stub also finds and prints its console markers.
#
#   tests/boot/run.sh [--xen 4.17|4.20] [--xenstore stub|daemon] [--stub FILE]
#
# The stub writes its console to port 0xE9; with guest_loglvl=all Xen prints
# those bytes as "(dN) ..." lines in the serial log. Each marker below is an
# extended regular expression matched against those lines only; the first
# match is printed. They follow the strings kernel/ logs (see its log sites).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# Time from entry to serving xenstore.
MARK_READY=${MARK_READY:-'xenstore-stubdom-rs: ready in [0-9]+ ms'}
# The heap the stub manages.
MARK_HEAP=${MARK_HEAP:-'xenstore-stubdom-rs: heap [0-9]+ KiB'}
# The hypervisor version the stub found (must be the one booted).
MARK_XEN=${MARK_XEN:-'xenstore-stubdom-rs: Xen version [0-9]+\.[0-9]+'}
# The domctl interface version it settled on (Xen accepts only its own).
MARK_DOMCTL=${MARK_DOMCTL:-'xenstore-stubdom-rs: domctl interface version 0x[0-9a-f]+'}

# XEN_DOMCTL_INTERFACE_VERSION of each Xen version the rig boots.
domctl_version() {
    case $1 in
    4.17) echo 0x15 ;;
    4.20) echo 0x17 ;;
    esac
}

xen=4.17
xenstore=stub
stub=$REPO/build/xenstore-stubdom-rs.elf
while [ $# -gt 0 ]; do
    case $1 in
    --xen) xen=$2; shift 2 ;;
    --xenstore) xenstore=$2; shift 2 ;;
    --stub) stub=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
log=$REPO/build/boot/$xen-$xenstore.log

rc=0
"$REPO/scripts/xen-rig/boot.sh" --xen "$xen" --xenstore "$xenstore" --stub "$stub" \
    --check "$HERE/check.sh" --log "$log" --timeout "${BOOT_TIMEOUT:-900}" || rc=1

if [ "$xenstore" = stub ]; then
    console=$(tr -d '\r' <"$log" | grep -aE '\(d[0-9]+\) ' | sed -E 's/^.*\((d[0-9]+)\) /(\1) /' || true)
    for mark in READY HEAP XEN DOMCTL; do
        var=MARK_$mark
        line=$(grep -aE -m1 -- "${!var}" <<<"$console" || true)
        if [ -n "$line" ]; then
            echo "boot-test: stub $mark: $line"
        else
            echo "boot-test: FAILED: no stub console line matches $var='${!var}'" >&2
            rc=1
        fi
        # The version markers must name what was actually booted.
        expect=
        [ "$mark" = XEN ] && expect="Xen version ${xen//./\\.}"
        [ "$mark" = DOMCTL ] && expect="version $(domctl_version "$xen")"
        if [ -n "$line" ] && [ -n "$expect" ] && ! grep -qE -- "$expect([^0-9a-f]|\$)" <<<"$line"; then
            echo "boot-test: FAILED: the stub's $mark line does not say '$expect'" >&2
            rc=1
        fi
    done
fi
[ "$rc" = 0 ] && echo "boot-test: Xen $xen with xenstore=$xenstore passed" || echo "boot-test: Xen $xen with xenstore=$xenstore FAILED (log: $log)" >&2
exit "$rc"
