#!/usr/bin/env bash
# Boots Xen on Arm64 in QEMU (TCG) as a dom0less system with no dom0: our
# stub as the first boot-time domain, optional client domains after it.
#
#   scripts/arm-rig/boot.sh --xen XEN --stub IMAGE [--client IMAGE]...
#       [--caps N] [--stub-args ARGS] [--client-args ARGS] [--enhanced]
#       [--until REGEX] [--timeout SECONDS] [--log FILE]
#
# --xen      the hypervisor (an arm64 Image: Debian's /boot/xen-*-arm64 or a
#            build's xen/xen)
# --stub     the stub's raw Image (make arm-image)
# --client   a client domain's raw Image (repeatable); each gets
#            `xen,enhanced = "enabled"` (a store page and event channel)
# --client-args  the bootargs of the --client just before it
# --linux    KERNEL:INITRD: a Linux guest (256 MiB, vpl011 console,
#            `xen,enhanced = "enabled"`), booted with console=ttyAMA0
# --caps     the stub's `capabilities` (Xen 4.21+: 0x4 = xenstore,
#            0x5 = xenstore + control); without --caps (and without
#            --enhanced) the stub is a plain dom0less domain: what Xen
#            before 4.21 accepts
# --stub-mem the stub's memory in KiB, hex (default 0x10000: 64 MiB)
# --enhanced give the stub `xen,enhanced = "no-xenstore"` (the /hypervisor
#            node; Xen 4.21+)
# --xen-args extra words for Xen's command line (e.g. xsm=dummy)
# --until    stop once the serial log matches REGEX (success); repeatable:
#            every one must match
# --log      where the serial log goes (default build/arm/boot.log)
#
# The device tree is QEMU's own for the machine (dumped once, cached),
# decompiled, with a /chosen that describes the domains appended. Fails
# when the log shows FATAL, PANIC or a Xen panic, or when --until does not
# match within --timeout seconds. Prints the stub's and clients' console
# lines at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${CACHE:-$REPO/.cache}

xen= stub= caps= enhanced= timeout=120 log=$REPO/build/arm/boot.log
stub_args= xen_args=
clients=()
client_args=()
linux=
stub_mem=0x10000
until=()
while [ $# -gt 0 ]; do
    case $1 in
    --xen) xen=$2; shift ;;
    --stub) stub=$2; shift ;;
    --client) clients+=("$2"); client_args+=(""); shift ;;
    --caps) caps=$2; shift ;;
    --enhanced) enhanced=1 ;;
    --stub-args) stub_args=$2; shift ;;
    --client-args) client_args[${#client_args[@]}-1]=$2; shift ;;
    --linux) linux=$2; shift ;;
    --stub-mem) stub_mem=$2; shift ;;
    --xen-args) xen_args=$2; shift ;;
    --until) until+=("$2"); shift ;;
    --timeout) timeout=$2; shift ;;
    --log) log=$2; shift ;;
    *) echo "boot.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ -f "$xen" ] || { echo "boot.sh: no hypervisor at '$xen' (--xen)" >&2; exit 2; }
[ -f "$stub" ] || { echo "boot.sh: no stub image at '$stub' (--stub)" >&2; exit 2; }
command -v qemu-system-aarch64 >/dev/null && command -v dtc >/dev/null || {
    echo "boot.sh: needs qemu-system-aarch64 and dtc (make arm-deps)" >&2
    exit 2
}

MACHINE="virt,virtualization=on,gic-version=3"
QEMU=(qemu-system-aarch64 -machine "$MACHINE" -cpu cortex-a57 -m 2048 -smp 2)
work=$(dirname "$log")
mkdir -p "$work" "$CACHE/arm-rig"
base_dts=$CACHE/arm-rig/virt.dts
if [ ! -s "$base_dts" ]; then
    "${QEMU[@]}" -machine dumpdtb="$CACHE/arm-rig/virt.dtb" -nographic >/dev/null 2>&1
    dtc -q -I dtb -O dts -o "$base_dts.tmp" "$CACHE/arm-rig/virt.dtb"
    mv "$base_dts.tmp" "$base_dts"
fi

# Modules go from 0x60000000 up, each on a 2 MiB boundary.
addr=$((0x60000000))
loaders=()
# Prints one module node of type $1 ("kernel" or "ramdisk") for file $2
# with bootargs $3, and places the file.
module() {
    local size
    size=$(stat -c %s "$2")
    printf '        module@%x { compatible = "multiboot,%s", "multiboot,module";\n' "$addr" "$1"
    printf '            reg = <0x0 0x%x 0x0 0x%x>;%s };\n' "$addr" "$size" "${3:+ bootargs = \"$3\";}"
    loaders+=(-device "loader,file=$2,addr=$(printf '0x%x' "$addr"),force-raw=on")
    addr=$(((addr + size + 0x1fffff) & ~0x1fffff))
}
# Prints one domain node: name, image, extra properties, bootargs,
# memory in KiB (default 64 MiB), ramdisk.
domain() {
    local name=$1 image=$2 props=$3 args=$4 mem=${5:-0x10000} ramdisk=${6:-}
    printf '    %s {\n' "$name"
    printf '        compatible = "xen,domain"; #address-cells = <2>; #size-cells = <2>;\n'
    printf '        memory = <0x0 %s>; cpus = <1>;\n%s' "$mem" "$props"
    module kernel "$image" "$args"
    [ -n "$ramdisk" ] && module ramdisk "$ramdisk" ""
    printf '    };\n'
}
stub_props=
[ -n "$caps" ] && stub_props+="        capabilities = <$caps>;"$'\n'
[ -n "$enhanced" ] && stub_props+='        xen,enhanced = "no-xenstore";'$'\n'
{
    cat "$base_dts"
    echo '/ { chosen {'
    echo '    #address-cells = <2>; #size-cells = <2>;'
    echo "    xen,xen-bootargs = \"console=dtuart loglvl=all guest_loglvl=all console_timestamps=boot $xen_args\";"
    domain xsdom "$stub" "$stub_props" "$stub_args" "$stub_mem"
    for i in "${!clients[@]}"; do
        domain "client$((i + 1))" "${clients[$i]}" '        xen,enhanced = "enabled";'$'\n' "${client_args[$i]}"
    done
    if [ -n "$linux" ]; then
        domain linux "${linux%%:*}" '        xen,enhanced = "enabled"; vpl011;'$'\n' \
            "console=ttyAMA0 loglevel=6" 0x40000 "${linux#*:}"
    fi
    echo '}; };'
} >"$work/sys.dts"
dtc -q -I dts -O dtb -o "$work/sys.dtb" "$work/sys.dts"

: >"$log"
start=$(date +%s.%N)
"${QEMU[@]}" -nographic -no-reboot -kernel "$xen" -dtb "$work/sys.dtb" "${loaders[@]}" \
    -serial "file:$log" -monitor none -display none </dev/null &
qemu=$!
verdict=timeout
while kill -0 "$qemu" 2>/dev/null; do
    now=$(date +%s.%N)
    if grep -aqE 'FATAL|PANIC|Panic on CPU|Xen call trace' "$log"; then
        verdict=fail
        sleep 1
        break
    fi
    if [ ${#until[@]} -gt 0 ]; then
        seen=1
        for u in "${until[@]}"; do grep -aqE "$u" "$log" || { seen=0; break; }; done
        if [ $seen = 1 ]; then
            verdict=pass
            sleep 0.5
            break
        fi
    fi
    if [ "$(echo "$now - $start > $timeout" | bc)" = 1 ]; then
        break
    fi
    sleep 0.5
done
kill "$qemu" 2>/dev/null || true
wait "$qemu" 2>/dev/null || true
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
echo "---- domain console lines ($log)"
grep -aE '\(d[0-9]+\)' "$log" | tr -d '\r' || true
echo "---- $verdict after ${elapsed%.*} s"
case $verdict in
pass) exit 0 ;;
fail) grep -aE -B2 -A20 'FATAL|PANIC|Panic on CPU|Xen call trace' "$log" | tr -d '\r' | head -60; exit 1 ;;
*) echo "boot.sh: '${until[*]}' not all seen within $timeout s; last lines:"; tail -30 "$log" | tr -d '\r'; exit 1 ;;
esac
