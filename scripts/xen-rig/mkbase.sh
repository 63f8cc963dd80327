#!/usr/bin/env bash
# Builds the version-specific part of the dom0 initramfs (cached):
#
#   scripts/xen-rig/mkbase.sh 4.17|4.20
#
# Output: $CACHE/xen-rig/<ver>/dom0-base.cpio.gz, a gzipped newc archive with
# a merged-/usr userland taken only from the unpacked Debian packages (never
# from the host): static busybox, Xen's tools and the libraries they need,
# the dom0 kernel's Xen modules, /etc/xen and the rig's /init. It is rebuilt
# when the unpacked tree or the init script is newer than the archive.
#
# Each boot appends a small second archive (see boot.sh) with the run's
# configuration, check script and stub kernel, and its own /init and
# harness (the cache may be shared by several checkouts, and the base then
# holds whichever checkout's copies built it last); Linux unpacks
# concatenated archives in order, later files replacing earlier ones.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

ver=${1:?usage: mkbase.sh 4.17|4.20}
rig_paths "$ver"
rig_lock
"$HERE/fetch.sh" "$ver"
if [ -e "$INITRD_BASE" ] && [ "$INITRD_BASE" -nt "$ROOT/.complete" ] &&
    [ "$INITRD_BASE" -nt "$HERE/dom0-init.sh" ] && [ "$INITRD_BASE" -nt "$HERE/dom0-harness.sh" ] &&
    [ "$INITRD_BASE" -nt "$HERE/mkbase.sh" ]; then
    exit 0
fi

stage=$RIG_CACHE/$ver/stage
rm -rf "$stage"
mkdir -p "$stage"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64,lib/xen-$ver} \
    "$stage"/{dev,proc,sys,run,tmp,root,etc,rig,var/lib/xen/xenstore,var/log/xen/console}
ln -s usr/bin "$stage/bin"
ln -s usr/sbin "$stage/sbin"
ln -s usr/lib "$stage/lib"
ln -s usr/lib64 "$stage/lib64"
ln -s /run "$stage/var/run"

# Busybox: /bin/sh must exist for /init; the other applets are linked at boot.
busybox=$(rig_busybox)
cp "$busybox" "$stage/usr/bin/busybox"
ln -s busybox "$stage/usr/bin/sh"

# Xen tools: the real binaries, and xenstore-utils' multi-call client.
cp -a "$ROOT/usr/lib/xen-$ver/bin" "$stage/usr/lib/xen-$ver/"
cp -a "$ROOT"/usr/bin/xenstore* "$stage/usr/bin/"
cp -a "$ROOT/etc/xen" "$stage/etc/"

# Libraries from both the split (bookworm) and merged (trixie) layouts;
# gconv and other data directories are not needed.
for dir in "$ROOT/lib/x86_64-linux-gnu" "$ROOT/usr/lib/x86_64-linux-gnu"; do
    [ -d "$dir" ] || continue
    find "$dir" -maxdepth 1 \( -type f -o -type l \) -name '*.so*' -exec cp -a {} "$stage/usr/lib/x86_64-linux-gnu/" \;
done
ln -sf ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$stage/usr/lib64/ld-linux-x86-64.so.2"

# Every dynamic tool must resolve all its libraries inside the image, with the
# image's own loader (trixie's tools need trixie's glibc).
loader=$stage/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
libdir=$stage/usr/lib/x86_64-linux-gnu
required="xl xenstored init-xenstore-domain xen-init-dom0 xenconsoled xenstore-control test-xenstore"
[ "$ver" = 4.17 ] || required="$required xen-9pfsd"
missing=0
for bin in "$stage/usr/lib/xen-$ver/bin"/* "$stage/usr/bin/xenstore"; do
    head -c4 "$bin" | grep -q ELF || continue
    deps=$("$loader" --library-path "$libdir" --list "$bin" 2>&1) || continue
    bad=$(awk -v s="$stage" '/=>/ && index($3, s) != 1 {print $1}' <<<"$deps" | sort -u | tr '\n' ' ')
    [ -z "$bad" ] && continue
    name=$(basename "$bin")
    if [[ " $required " == *" $name "* ]]; then
        echo "mkbase.sh: $name needs libraries missing from the image: $bad" >&2
        missing=1
    else
        rm -f "$bin"
    fi
done
[ "$missing" = 0 ] || exit 1
# libgcc_s is loaded with dlopen (thread cancellation), so ldd never names it.
[ -e "$libdir/libgcc_s.so.1" ] || { echo "mkbase.sh: libgcc_s.so.1 missing" >&2; exit 1; }

# Dom0 kernel modules, flat, in the order /init loads them.
kver=$(ls "$ROOT/lib/modules" | head -n1)
mkdir -p "$stage/lib/modules/rig"
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs/xenfs; do
    cp "$ROOT/lib/modules/$kver/kernel/drivers/xen/$m.ko" "$stage/lib/modules/rig/"
done

install -m 0755 "$HERE/dom0-init.sh" "$stage/init"
install -m 0644 "$HERE/dom0-harness.sh" "$stage/rig/harness.sh"
echo "$ver" >"$stage/rig/xen-version"
echo "$kver" >"$stage/rig/kernel-version"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) |
    gzip -6 >"$INITRD_BASE.tmp"
mv "$INITRD_BASE.tmp" "$INITRD_BASE"
rm -rf "$stage"
echo "mkbase.sh: $INITRD_BASE ($(du -h "$INITRD_BASE" | cut -f1))"
