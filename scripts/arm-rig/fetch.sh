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
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${CACHE:-$REPO/.cache}
ver=${1:?usage: fetch.sh 4.17|4.20}
case $ver in
4.17) suite=bookworm ;;
4.20) suite=trixie ;;
*) echo "fetch.sh: no Debian arm64 Xen $ver (4.17 or 4.20)" >&2; exit 2 ;;
esac
dir=$CACHE/arm-rig/$ver
out=$dir/xen
[ -s "$out" ] && { echo "$out"; exit 0; }

apt_dir=$CACHE/arm-rig/apt-$suite
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" \
    "$apt_dir/preferences.d" "$dir"
cat >"$apt_dir/sources.list" <<SRC
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite-updates main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $suite-security main
SRC
cat >"$apt_dir/apt.conf" <<CONF
Dir::Etc::sourcelist "$apt_dir/sources.list";
Dir::Etc::sourceparts "$apt_dir/sources.list.d";
Dir::Etc::preferencesparts "$apt_dir/preferences.d";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
Dir::State::status "/dev/null";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Sandbox::User "root";
CONF
export APT_CONFIG=$apt_dir/apt.conf
pkg=xen-hypervisor-$ver-arm64
if [ ! -e "$apt_dir/lists/.updated" ]; then
    timeout 600 apt-get update >/dev/null
    touch "$apt_dir/lists/.updated"
fi
rm -rf "$dir/debs" "$dir/root"
mkdir -p "$dir/debs" "$dir/root"
(cd "$dir/debs" && timeout 900 apt-get download "$pkg" >/dev/null) || {
    timeout 600 apt-get update >/dev/null
    (cd "$dir/debs" && timeout 900 apt-get download "$pkg" >/dev/null)
}
dpkg-deb -x "$dir"/debs/*.deb "$dir/root"
dpkg-deb -W --showformat='${Package} ${Version}\n' "$dir"/debs/*.deb >"$dir/package.txt"
img=$(find "$dir/root/boot" -maxdepth 1 -type f -name 'xen-*' ! -name '*.efi' ! -name '*.config' | head -1)
[ -n "$img" ] || { echo "fetch.sh: no hypervisor image in $pkg" >&2; ls -R "$dir/root/boot" >&2; exit 1; }
cp "$img" "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
