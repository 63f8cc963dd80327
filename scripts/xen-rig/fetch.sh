#!/usr/bin/env bash
# Fetches and unpacks everything a Xen boot needs for one Xen version into the
# cache, without installing anything on the host except QEMU:
#
#   scripts/xen-rig/fetch.sh 4.17|4.20
#
# Result (idempotent; a finished tree is marked by "$ROOT/.complete"):
#   $CACHE/xen-rig/<ver>/debs/   the downloaded .deb files
#   $CACHE/xen-rig/<ver>/root/   all of them unpacked with dpkg-deb -x
#   $CACHE/xen-rig/<ver>/packages.txt   "name version" of each package used
#
# Xen 4.17 comes from bookworm (the host's own suites). Xen 4.20 comes from
# trixie through a private APT_CONFIG whose lists and caches live in the cache,
# so the host's apt configuration never sees trixie. The dom0 kernel is
# bookworm's for both versions (it boots as dom0 under 4.17 and 4.20).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

ver=${1:?usage: fetch.sh 4.17|4.20}
rig_paths "$ver"
rig_lock
[ -e "$ROOT/.complete" ] && exit 0

ensure_qemu() {
    command -v qemu-system-x86_64 >/dev/null && return 0
    # Backports carries QEMU 10; bookworm's own 7.2 also boots multiboot Xen.
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo 'deb http://deb.debian.org/debian bookworm-backports main' >/etc/apt/sources.list.d/bookworm-backports.list
    fi
    timeout 300 apt-get update >/dev/null || true
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y --no-install-recommends \
        -t bookworm-backports qemu-system-x86 >/dev/null ||
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y --no-install-recommends qemu-system-x86 >/dev/null
}

# Packages shared by both versions; the Xen-specific ones are added below.
common="xen-utils-common xenstore-utils libxenstore4 libxencall1 libxenevtchn1
    libxenforeignmemory1 libxengnttab1 libxentoollog1 libxendevicemodel1
    libxenhypfs1 libxentoolcore1 libyajl2 libc6 libgcc-s1 libncurses6 libtinfo6
    libcom-err2 liblzma5 libuuid1 libzstd1 zlib1g libbz2-1.0 liblz4-1 busybox-static"
case $ver in
4.17)
    pkgs="xen-hypervisor-4.17-amd64 xen-utils-4.17 libxenmisc4.17 libext2fs2 $common"
    export -n APT_CONFIG
    ;;
4.20)
    pkgs="xen-hypervisor-4.20-amd64 xen-utils-4.20 libxenmisc4.20 libext2fs2t64 $common"
    APT_CONFIG=$(apt_config "$RIG_CACHE/apt-trixie" trixie)
    export APT_CONFIG
    ;;
*)
    echo "fetch.sh: unknown Xen version '$ver' (4.17 or 4.20)" >&2
    exit 2
    ;;
esac

# QEMU comes from the host's own suites, never trixie.
(unset APT_CONFIG; ensure_qemu)
# Start from an empty directory, so that a package version that left the
# archive is never unpacked next to its successor.
rm -rf "$DEBS"
mkdir -p "$DEBS"
# shellcheck disable=SC2086 # $pkgs is a list of package names.
apt_download "$DEBS" $pkgs

# The dom0 kernel always comes from bookworm, with the host's apt config.
mkdir -p "$KDEBS"
if ! ls "$KDEBS"/linux-image-*.deb >/dev/null 2>&1; then
    kpkg=$(env -u APT_CONFIG apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
    [ -n "$kpkg" ] || { echo "fetch.sh: cannot resolve linux-image-amd64" >&2; exit 1; }
    (unset APT_CONFIG; apt_download "$KDEBS" "$kpkg")
fi

rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$DEBS"/*.deb "$KDEBS"/*.deb; do
    dpkg-deb -x "$deb" "$ROOT"
done
# Dom0 needs only the Xen driver modules; the other ~390 MB of modules go.
for kdir in "$ROOT"/lib/modules/*/kernel; do
    find "$kdir" -mindepth 1 -maxdepth 1 ! -name drivers -exec rm -rf {} +
    find "$kdir/drivers" -mindepth 1 -maxdepth 1 ! -name xen -exec rm -rf {} +
done

# Which package versions this tree holds (for reports and bug hunts).
for deb in "$DEBS"/*.deb "$KDEBS"/*.deb; do
    dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"
done | LC_ALL=C sort >"$RIG_CACHE/$ver/packages.txt"
touch "$ROOT/.complete"
echo "fetch.sh: Xen $ver unpacked in $ROOT"
