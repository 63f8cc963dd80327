#!/usr/bin/env bash
# Boots Xen with a dom0 in QEMU (TCG) and runs one dom0 check script, or opens
# an interactive dom0 shell. See README.md in this directory.
#
#   scripts/xen-rig/boot.sh [options]
#     --xen 4.17|4.20        Xen version (default 4.17)
#     --xenstore stub|daemon stub: --stub ELF started by init-xenstore-domain (default);
#                            daemon: C xenstored from xen-utils as a dom0 daemon
#     --stub FILE            the stub kernel (ELF or .gz; default build/xenstore-stubdom-rs.elf)
#     --stub-mem MIB         the stub's --memory (default 4: what we claim the stub runs in)
#     --stub-args ARGS       extra init-xenstore-domain arguments, e.g. '--param "-v"'
#     --check FILE           dom0 check script (default tests/boot/check.sh); it is
#                            sourced after scripts/xen-rig/dom0-harness.sh. Repeat
#                            it to run several scripts in order in the same boot,
#                            each in its own subshell
#     --extra FILE[=NAME]    place FILE in dom0 as /rig/extra/NAME (default: its
#                            base name), e.g. a guest kernel; may be repeated
#     --log FILE             serial log (default build/boot/<xen>-<xenstore>.log)
#     --timeout SEC          kill QEMU after SEC seconds (default 900: only a hang
#                            takes that long, even on a loaded host)
#     --interactive          dom0 shell on the serial console instead of checks
#
# RIG_QEMU_CPU overrides QEMU's CPU model (default max,-xsave: QEMU's TCG
# XSAVE emulation under Xen corrupts dom0 processes and PVH domains now and
# then; see README.md, "Why QEMU's CPU has no XSAVE").
#
# Exit status: 0 when dom0 printed "N passed, 0 failed" with N > 0, 1 otherwise.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

xen=4.17
xenstore=stub
stub=$RIG_REPO/build/xenstore-stubdom-rs.elf
stub_mem=4
stub_args=
checks=()
extras=()
log=
timeout_s=900
interactive=0
while [ $# -gt 0 ]; do
    case $1 in
    --xen) xen=$2; shift 2 ;;
    --xenstore) xenstore=$2; shift 2 ;;
    --stub) stub=$2; shift 2 ;;
    --stub-mem) stub_mem=$2; shift 2 ;;
    --stub-args) stub_args=$2; shift 2 ;;
    --check) checks+=("$2"); shift 2 ;;
    --extra) extras+=("$2"); shift 2 ;;
    --log) log=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --interactive) interactive=1; shift ;;
    *) echo "boot.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
case $xenstore in stub | daemon) ;; *) echo "boot.sh: --xenstore stub|daemon" >&2; exit 2 ;; esac
[ -n "$log" ] || log=$RIG_REPO/build/boot/$xen-$xenstore.log
[ "${#checks[@]}" -gt 0 ] || checks=("$RIG_REPO/tests/boot/check.sh")
for f in "${checks[@]}" "${extras[@]%%=*}"; do
    [ -f "$f" ] || { echo "boot.sh: $f not found" >&2; exit 2; }
done
mkdir -p "$(dirname "$log")"

rig_paths "$xen"
# Hold the cache lock while reading the cache, so that a concurrent fetch
# cannot replace files under us; QEMU then runs from private copies.
rig_lock
"$HERE/mkbase.sh" "$xen" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/xen-rig.XXXXXX")
qemu_pid=
cleanup() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -9 "$qemu_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The run's own archive: configuration, check script, harness and stub.
# /init and the harness come from this checkout, not from the cached base
# (which other checkouts sharing the cache may have built from their own
# versions): Linux unpacks the archives in order, so these replace the
# base's copies.
mkdir -p "$work/overlay/rig"
install -m 0755 "$HERE/dom0-init.sh" "$work/overlay/init"
install -m 0644 "$HERE/dom0-harness.sh" "$work/overlay/rig/harness.sh"
{
    echo "RIG_XENSTORE=$xenstore"
    echo "RIG_STUB_MEM=$stub_mem"
    printf 'RIG_STUB_ARGS=%q\n' "$stub_args"
    echo "RIG_INTERACTIVE=$interactive"
    echo "RIG_XS_TIMEOUT=${RIG_XS_TIMEOUT:-120}"
    echo "RIG_CHECK_TIMEOUT=${RIG_CHECK_TIMEOUT:-$((timeout_s - 60))}"
    echo "RIG_VERBOSE=${RIG_VERBOSE:-}"
} >"$work/overlay/rig/rig.conf"
# /rig/check.sh (dom0's /init sources it) runs each check script in order,
# each in a subshell so that one script's variables or `exit` spare the next
# (rig_script in dom0-harness.sh, which runs a script again when a dom0
# process crash cost it a step).
mkdir -p "$work/overlay/rig/checks" "$work/overlay/rig/extra"
n=0
for f in "${checks[@]}"; do
    n=$((n + 1))
    dest=$(printf '%02d-%s' "$n" "$(basename "$f")")
    cp "$f" "$work/overlay/rig/checks/$dest"
    echo "rig_script /rig/checks/$dest"
done >"$work/overlay/rig/check.sh"
for e in "${extras[@]}"; do
    src=${e%%=*}
    name=$(basename "$src")
    [ "$e" = "$src" ] || name=${e#*=}
    cp "$src" "$work/overlay/rig/extra/$name"
done
if [ "$xenstore" = stub ]; then
    [ -f "$stub" ] || { echo "boot.sh: stub kernel $stub not found (make image)" >&2; exit 1; }
    # init-xenstore-domain reads gzipped or plain images; keep the name fixed.
    if [ "$(head -c2 "$stub" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
        gunzip -c "$stub" >"$work/overlay/rig/stub.elf"
    else
        cp "$stub" "$work/overlay/rig/stub.elf"
    fi
    # The stub's code symbols, for xenctx when a step times out (stub_diag
    # in dom0-harness.sh): "address type name", names without spaces, and a
    # last one, text_end, that names every address past the code.
    if command -v nm >/dev/null && command -v readelf >/dev/null; then
        {
            nm -nC "$work/overlay/rig/stub.elf" | awk '$2 ~ /^[tTwW]$/ {
                a = $1; t = $2; $1 = ""; $2 = ""; n = $0; gsub(/^ +/, "", n); gsub(/ /, "_", n)
                print a, t, n }'
            readelf -SW "$work/overlay/rig/stub.elf" |
                awk '{ for (i = 1; i < NF; i++) if ($i == ".text") print $(i + 2), $(i + 4) }' |
                { read -r addr size && printf '%016x T text_end\n' $((0x$addr + 0x$size)) || :; }
        } >"$work/overlay/rig/stub.map"
    fi
fi
busybox=$(rig_busybox)
(cd "$work/overlay" && find . -mindepth 1 | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$work/overlay.cpio.gz"
cat "$INITRD_BASE" "$work/overlay.cpio.gz" >"$work/initrd.gz"

# Xen is a multiboot ELF once gunzipped; QEMU loads it with -kernel.
gunzip -c "$ROOT/boot/xen-$xen-amd64.gz" >"$work/xen"
kver=$(ls "$ROOT/lib/modules" | head -n1)
cp "$ROOT/boot/vmlinuz-$kver" "$work/vmlinuz"
rig_unlock
# conring_size: checks read guests' port-0xE9 lines back with `xl dmesg`; a
# ring of 1 MiB keeps every line of a boot (the default 16 KiB could lose
# one while dom0 is slow to look).
xen_cmdline="console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all console_timestamps=boot conring_size=1M dom0_mem=1024M,max:1024M dom0_max_vcpus=1"
dom0_cmdline="console=hvc0 earlyprintk=xen quiet"
qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu "${RIG_QEMU_CPU:-max,-xsave}" -machine q35 -smp 2 -m 3072
    -display none -vga none -no-reboot
    -kernel "$work/xen" -append "$xen_cmdline"
    -initrd "$work/vmlinuz $dom0_cmdline,$work/initrd.gz")

if [ "$interactive" = 1 ]; then
    echo "boot.sh: Xen $xen, dom0 shell on this terminal; quit with 'poweroff -f' in dom0 or Ctrl-A X." >&2
    echo "boot.sh: the session is also logged to $log" >&2
    "${qemu[@]}" -serial mon:stdio -monitor none 2>&1 | tee "$log"
    exit 0
fi

start=$(date +%s.%N)
"${qemu[@]}" -serial stdio -monitor none </dev/null >"$log" 2>&1 &
qemu_pid=$!
deadline=$((SECONDS + timeout_s))
while kill -0 "$qemu_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.5
done
timed_out=0
if kill -0 "$qemu_pid" 2>/dev/null; then
    timed_out=1
    kill -9 "$qemu_pid" 2>/dev/null || true
fi
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
elapsed=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo "?")

tr -d '\r' <"$log" | grep -a '^RIG: \|^    ' || true
summary=$(tr -d '\r' <"$log" | grep -aoE '^[0-9]+ passed, [0-9]+ failed$' | tail -n1 || true)
printf 'boot.sh: Xen %s, xenstore=%s, %.1f s, log %s\n' "$xen" "$xenstore" "$elapsed" "$log"
if [ "$timed_out" = 1 ]; then
    echo "boot.sh: FAILED: QEMU killed after ${timeout_s} s; last lines of the log:" >&2
    tr -d '\r' <"$log" | tail -n 40 >&2
    exit 1
fi
if [ -z "$summary" ]; then
    echo "boot.sh: FAILED: no summary line; last lines of the log:" >&2
    tr -d '\r' <"$log" | tail -n 40 >&2
    exit 1
fi
echo "boot.sh: $summary"
passed=${summary%% passed*}
failed=${summary#*, }
failed=${failed%% failed}
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
