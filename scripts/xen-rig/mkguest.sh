#!/usr/bin/env bash
# Builds a PV Linux guest for one Xen version: Debian's kernel from the rig's
# cache and a small busybox initramfs holding the xenstore-* tools
# (xenstore-utils, libxenstore and the libraries they load, all from the same
# Debian release as that version's dom0) and a given /init script.
#
#   scripts/xen-rig/mkguest.sh 4.17|4.20 INIT OUTDIR
#
# Output: OUTDIR/vmlinuz (the kernel) and OUTDIR/guest.cpio.gz (the
# initramfs, INIT as /init). Hand both to dom0 with `boot.sh --extra`; a
# guest configuration then names them as /rig/extra/vmlinuz and
# /rig/extra/guest.cpio.gz with `type = "pv"`. The kernel drives its console
# (hvc0) and xenbus itself: no modules are needed, and the tools reach
# xenstore through /dev/xen/xenbus.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

ver=${1:?usage: mkguest.sh 4.17|4.20 INIT OUTDIR}
init=${2:?usage: mkguest.sh 4.17|4.20 INIT OUTDIR}
out=${3:?usage: mkguest.sh 4.17|4.20 INIT OUTDIR}
rig_paths "$ver"
rig_lock
"$HERE/fetch.sh" "$ver"
mkdir -p "$out"

stage=$(mktemp -d "${TMPDIR:-/tmp}/xen-rig-guest.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64} "$stage"/{dev,proc,sys,run,tmp,root}
ln -s usr/bin "$stage/bin"
ln -s usr/sbin "$stage/sbin"
ln -s usr/lib "$stage/lib"
ln -s usr/lib64 "$stage/lib64"

busybox=$(rig_busybox)
cp "$busybox" "$stage/usr/bin/busybox"
ln -s busybox "$stage/usr/bin/sh"

# xenstore-utils ships one multi-call client; its name picks the command.
cp "$ROOT/usr/bin/xenstore" "$stage/usr/bin/xenstore"
for cmd in read write rm exists list ls chmod watch; do
    ln -s xenstore "$stage/usr/bin/xenstore-$cmd"
done

# The client's libraries, resolved with the tree's own loader (trixie's client
# needs trixie's glibc), copied under their sonames.
libs="$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu"
loader=
for f in "$ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$ROOT/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"; do
    [ -e "$f" ] && { loader=$f; break; }
done
[ -n "$loader" ] || { echo "mkguest.sh: no ld-linux-x86-64.so.2 in $ROOT" >&2; exit 1; }
deps=$("$loader" --library-path "$libs" --list "$ROOT/usr/bin/xenstore")
while read -r name arrow path _; do
    # The loader names itself by its absolute path; it is copied below.
    [ "$arrow" = "=>" ] && [ "${name#/}" = "$name" ] || continue
    case $path in
    "$ROOT"/*) cp -L "$path" "$stage/usr/lib/x86_64-linux-gnu/$name" ;;
    *) echo "mkguest.sh: xenstore needs $name from outside the tree ($path)" >&2; exit 1 ;;
    esac
done <<<"$deps"
[ -e "$stage/usr/lib/x86_64-linux-gnu/libxenstore.so.4" ] || { echo "mkguest.sh: libxenstore.so.4 not resolved" >&2; exit 1; }
cp -L "$loader" "$stage/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
# glibc loads libgcc_s with dlopen when a thread is cancelled (xenstore-watch
# cancels libxenstore's reader thread on exit), so the loader never names it.
gcc_s=
for f in "$ROOT/lib/x86_64-linux-gnu/libgcc_s.so.1" "$ROOT/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"; do
    [ -e "$f" ] && { gcc_s=$f; break; }
done
[ -n "$gcc_s" ] || { echo "mkguest.sh: no libgcc_s.so.1 in $ROOT" >&2; exit 1; }
cp -L "$gcc_s" "$stage/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$stage/usr/lib64/ld-linux-x86-64.so.2"

install -m 0755 "$init" "$stage/init"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) |
    gzip -6 >"$out/guest.cpio.gz"
kver=$(ls "$ROOT/lib/modules" | head -n1)
cp "$ROOT/boot/vmlinuz-$kver" "$out/vmlinuz"
rig_unlock
echo "mkguest.sh: $out/vmlinuz ($kver) and $out/guest.cpio.gz ($(du -h "$out/guest.cpio.gz" | cut -f1))"
