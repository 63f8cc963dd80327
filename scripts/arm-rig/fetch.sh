#!/usr/bin/env bash
# Fetches Debian's arm64 Xen hypervisor of one version into the cache and
# prints the path of the hypervisor image (an arm64 Image QEMU can boot):
#
#   scripts/arm-rig/fetch.sh 4.17|4.20
#
# 4.17 comes from bookworm, 4.20 from trixie, each through a private
# APT_CONFIG for arm64 whose lists and caches live in the cache, so the
# host's apt configuration (amd64) never changes. Only the hypervisor
# package is downloaded (apt-get download) and unpacked (dpkg-deb -x).
# Result (idempotent): $CACHE/arm-rig/<ver>/xen.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../xen-rig/lib.sh"
ver=${1:?usage: fetch.sh 4.17|4.20}
case $ver in
4.17) suite=bookworm ;;
4.20) suite=trixie ;;
*) echo "fetch.sh: no Debian arm64 Xen $ver (4.17 or 4.20)" >&2; exit 2 ;;
esac
dir=$CACHE/arm-rig/$ver
out=$dir/xen
[ -s "$out" ] && { echo "$out"; exit 0; }

mkdir -p "$dir"
APT_CONFIG=$(apt_config "$CACHE/arm-rig/apt-$suite" "$suite" arm64)
export APT_CONFIG
pkg=xen-hypervisor-$ver-arm64
rm -rf "$dir/debs" "$dir/root"
mkdir -p "$dir/debs" "$dir/root"
apt_download "$dir/debs" "$pkg"
dpkg-deb -x "$dir"/debs/*.deb "$dir/root"
dpkg-deb -W --showformat='${Package} ${Version}\n' "$dir"/debs/*.deb >"$dir/package.txt"
img=$(find "$dir/root/boot" -maxdepth 1 -type f -name 'xen-*' ! -name '*.efi' ! -name '*.config' | head -1)
[ -n "$img" ] || { echo "fetch.sh: no hypervisor image in $pkg" >&2; ls -R "$dir/root/boot" >&2; exit 1; }
cp "$img" "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
