#!/usr/bin/env bash
# The dom0less service on Xen 4.21+ (arm64, built from source): the stub as
# the xenstore domain, two test clients and a Linux guest (linux-guest.sh:
# Debian's arm64 kernel, whose /init writes and reads xenstore through
# /dev/xen/xenbus, then powers off). The first client runs its steps
# and stays; the second runs them and powers off, so the stub must notice
# it going (VIRQ_DOM_EXC, get_domain_state) and fire @releaseDomain. With
# no toolstack nobody destroys the shut-down domain, so its ring stays
# mapped, as C xenstored keeps a shut-down domain's until it dies.
#
#   scripts/arm-rig/dom0less-test.sh XEN STUB CLIENT [CAPS] [XEN_ARGS]
#
# CAPS is the stub's `capabilities` (default 0x5: xenstore + control; see
# README "Arm64" for what 0x4 needs). Checks: both clients print
# "9 passed, 0 failed", Linux reads its domid and name and writes, the
# stub introduced all three, served them, and logged the second client's
# shutdown.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
xen=${1:?usage: dom0less-test.sh XEN STUB CLIENT [CAPS] [XEN_ARGS]}
stub=${2:?}
client=${3:?}
caps=${4:-0x5}
xen_args=${5:-}
log=$REPO/build/arm/dom0less-$caps.log
read -r kernel initrd < <("$HERE/linux-guest.sh")
"$HERE/boot.sh" --xen "$xen" --stub "$stub" --caps "$caps" --enhanced \
    --client "$client" --client "$client" --client-args poweroff --linux "$kernel:$initrd" \
    --stub-args "--log-level debug" --xen-args "$xen_args" \
    --until 'domain 3 shut down' --until '\(d2\).*xs-arm-client: [0-9]+ passed' \
    --until 'LINUX: (PASS|FAIL)' --timeout 300 --log "$log" || true
fail=0
mark() {
    if grep -aqE "$1" "$log"; then echo "PASS $2"; else echo "FAIL $2 ($1)"; fail=1; fi
}
mark '\(d1\).*xenstore-stubdom-rs: Xen version 4\.2[1-9]' "stub on Xen 4.21+"
mark '\(d1\).*existing domains introduced: \[DomId\(2\), DomId\(3\), DomId\(4\)\], failed: \[\]' "stub introduced the clients and Linux"
mark '\(d1\).*xenstore-stubdom-rs: ready in [0-9]+ ms' "stub ready"
mark '\(d2\).*xs-arm-client: 9 passed, 0 failed' "client 2: every step"
mark '\(d3\).*xs-arm-client: 9 passed, 0 failed' "client 3: every step"
mark '\(d3\).*xs-arm-client: powering off' "client 3 powered off"
mark '\(d1\).*domain 3 shut down: @releaseDomain' "stub saw client 3 shut down"
mark '\(d1\).*ring sweep: domain [23] had [0-9]+ request bytes that no event announced' "stub's timed sweep found an unannounced request"
if [ "$caps" = 0x5 ]; then
    mark '\(d2\).*xs-arm-client: memory/static-max: [1-9][0-9]+' "home has the memory a toolstack writes (CONTROL)"
fi
mark "LINUX: domid reads '4'" "Linux reads its domid"
mark "LINUX: write 'OK ', read back 'ok', name 'dom0less-4'" "Linux writes, reads back, finds its home"
grep -aE 'LINUX:|unannounced request answered' "$log" | tr -d '\r' | sed 's/^/  /'
grep -aE '\(d1\).*ready in' "$log" | tr -d '\r' | sed 's/^/  /'
[ $fail = 0 ] && echo "arm-dom0less-test: caps $caps passed" || { echo "arm-dom0less-test: caps $caps FAILED (log $log)"; exit 1; }
