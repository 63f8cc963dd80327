#!/usr/bin/env bash
# The dom0less service on Xen 4.21+ (arm64, built from source): the stub as
# the xenstore domain, two test clients and a Linux guest (linux-guest.sh:
# Debian's arm64 kernel, whose /init writes and reads xenstore through
# /dev/xen/xenbus, then powers off). The first client runs its steps and
# stays, watching @releaseDomain/3; the second runs them, waits until the
# first is watching, leaves a node the first can read, and powers off
# (guest/release.rs). The stub must notice it going (VIRQ_DOM_EXC,
# get_domain_state) and fire @releaseDomain/3, which the first client
# sees. With ON_SHUTDOWN=destroy (the stub's `--on-shutdown destroy`; it
# needs the control capability) the stub then destroys the domain,
# releases it (ring unmapped, nodes removed, @releaseDomain/3 again), and
# Xen frees it; the first client sees the second event and the node gone.
# With `keep` (C xenstored's way: a toolstack destroys domains, and a
# dom0less system has none) the shut-down domain, its ring and its nodes
# stay.
#
#   scripts/arm-rig/dom0less-test.sh XEN STUB CLIENT [CAPS] [XEN_ARGS] [ON_SHUTDOWN]
#
# CAPS is the stub's `capabilities` (default 0x5: xenstore + control; see
# README "Arm64" for what 0x4 needs). ON_SHUTDOWN defaults to destroy with
# the control capability, keep without. Checks: both clients pass every
# step, Linux reads its domid and name and writes, the stub introduced all
# three, served them, logged the second client's shutdown, and released
# (or kept) it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
xen=${1:?usage: dom0less-test.sh XEN STUB CLIENT [CAPS] [XEN_ARGS] [ON_SHUTDOWN]}
stub=${2:?}
client=${3:?}
caps=${4:-0x5}
xen_args=${5:-}
on_shutdown=${6:-}
if [ -z "$on_shutdown" ]; then
    if [ "$caps" = 0x5 ]; then on_shutdown=destroy; else on_shutdown=keep; fi
fi
case $on_shutdown in
destroy) expect=gone; stop='domain 3 released' ;;
keep) expect=kept; stop='domain 3 shut down' ;;
*) echo "dom0less-test.sh: ON_SHUTDOWN is destroy or keep, not '$on_shutdown'"; exit 2 ;;
esac
log=$REPO/build/arm/dom0less-$caps-$on_shutdown.log
read -r kernel initrd < <("$HERE/linux-guest.sh")
"$HERE/boot.sh" --xen "$xen" --stub "$stub" --caps "$caps" --enhanced \
    --client "$client" --client-args "watch-release=3 expect-release=$expect" \
    --client "$client" --client-args "wait-for=2 poweroff" --linux "$kernel:$initrd" \
    --stub-args "--log-level debug --on-shutdown $on_shutdown" --xen-args "$xen_args" \
    --until "$stop" --until '\(d2\).*xs-arm-client: [0-9]+ passed' \
    --until 'LINUX: (PASS|FAIL)' --timeout 300 --log "$log" || true
fail=0
mark() {
    if grep -aqE "$1" "$log"; then echo "PASS $2"; else echo "FAIL $2 ($1)"; fail=1; fi
}
nomark() {
    if grep -aqE "$1" "$log"; then echo "FAIL $2 (seen: $1)"; fail=1; else echo "PASS $2"; fi
}
mark '\(d1\).*xenstore-stubdom-rs: Xen version 4\.2[1-9]' "stub on Xen 4.21+"
mark '\(d1\).*existing domains introduced: \[DomId\(2\), DomId\(3\), DomId\(4\)\], failed: \[\]' "stub introduced the clients and Linux"
mark '\(d1\).*xenstore-stubdom-rs: ready in [0-9]+ ms' "stub ready"
mark '\(d2\).*xs-arm-client: 10 passed, 0 failed' "client 2: every step"
mark '\(d3\).*xs-arm-client: 10 passed, 0 failed' "client 3: every step"
mark '\(d3\).*xs-arm-client: PASS bye' "client 3 waited for the watcher and left a node"
mark '\(d3\).*xs-arm-client: powering off' "client 3 powered off"
mark '\(d1\).*domain 3 shut down: @releaseDomain' "stub saw client 3 shut down"
mark '\(d2\).*xs-arm-client: PASS release-watched' "client 2 saw @releaseDomain/3 and the nodes $expect"
if [ "$on_shutdown" = destroy ]; then
    mark '\(d1\).*domain 3 shut down for good \(poweroff\): destroyed, [1-9][0-9]* KiB to free' "stub destroyed client 3"
    mark '\(d1\).*domain 3 ring unmapped' "stub unmapped client 3's ring"
    mark '\(d1\).*domain 3 released: Xen has freed it and its memory' "Xen freed client 3"
else
    nomark '\(d1\).*domain 3 (shut down for good|ring unmapped)' "stub kept client 3"
fi
mark '\(d1\).*ring sweep: domain [23] had [0-9]+ request bytes that no event announced' "stub's timed sweep found an unannounced request"
if [ "$caps" = 0x5 ]; then
    mark '\(d2\).*xs-arm-client: memory/static-max: [1-9][0-9]+' "home has the memory a toolstack writes (CONTROL)"
fi
mark "LINUX: domid reads '4'" "Linux reads its domid"
mark "LINUX: write 'OK ', read back 'ok', name 'dom0less-4'" "Linux writes, reads back, finds its home"
grep -aE 'LINUX:|unannounced request answered' "$log" | tr -d '\r' | sed 's/^/  /'
grep -aE '\(d1\).*(ready in|domain [0-9]+ (shut down|ring unmapped|released|still held))' "$log" | tr -d '\r' | sed 's/^/  /'
[ $fail = 0 ] && echo "arm-dom0less-test: caps $caps, on-shutdown $on_shutdown passed" || { echo "arm-dom0less-test: caps $caps, on-shutdown $on_shutdown FAILED (log $log)"; exit 1; }
