# Shared paths of the Xen boot rig; sourced by the other scripts.
#
# CACHE is the repository's cache directory (git-ignored); the Makefile
# exports it, and standalone use falls back to <repo>/.cache.
RIG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${CACHE:-$RIG_REPO/.cache}
RIG_CACHE=$CACHE/xen-rig

# Sets DEBS, KDEBS, ROOT and INITRD_BASE for one Xen version.
rig_paths() {
    DEBS=$RIG_CACHE/$1/debs
    KDEBS=$RIG_CACHE/kernel-debs
    ROOT=$RIG_CACHE/$1/root
    INITRD_BASE=$RIG_CACHE/$1/dom0-base.cpio.gz
}

# Prints the static busybox of the unpacked tree (bookworm keeps it in /bin,
# trixie in /usr/bin).
rig_busybox() {
    local f
    for f in "$ROOT/bin/busybox" "$ROOT/usr/bin/busybox"; do
        [ -f "$f" ] && [ ! -L "$f" ] && { echo "$f"; return 0; }
    done
    echo "xen-rig: no busybox in $ROOT" >&2
    return 1
}
