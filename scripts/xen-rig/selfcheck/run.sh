#!/usr/bin/env bash
# make rig-selfcheck: boots Xen 4.17 with the stub and the two self-check
# scripts beside this file, and checks what the rig made of them: the
# crashed script ran again and passed, the plain failure stayed a failure
# (exactly "3 passed, 1 failed": xenstore-start and the two steps of the
# second run pass), and the console says which script ran again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
stub=${1:-}
[ -f "$stub" ] || { echo "usage: run.sh STUB_IMAGE" >&2; exit 2; }
log=$repo/build/boot/rig-selfcheck.log
mkdir -p "$(dirname "$log")"
"$repo/scripts/xen-rig/boot.sh" --xen 4.17 --stub "$stub" --stub-mem 4 \
    --check "$here/crash-once.sh" --check "$here/plain-fail.sh" \
    --log "$log" --timeout 900 >/dev/null 2>&1 || true
fail() { echo "rig-selfcheck: FAILED: $*" >&2; grep -a 'RIG: \|passed,' "$log" | tail -n 20 >&2; exit 1; }
lines=$(tr -d '\r' <"$log")
grep -aqx '3 passed, 1 failed' <<<"$lines" || fail "expected 3 passed, 1 failed"
grep -aq 'RIG: FAIL selfcheck-plain-fail' <<<"$lines" || fail "the plain failure is not reported"
grep -aqx 'RIG: note: check scripts run again after a dom0 process crash: RERUN 01-crash-once.sh ' <<<"$lines" ||
    fail "the crashed script was not run again (or another one was)"
echo "rig-selfcheck: passed (a crashed script ran again, a plain failure stayed)"
