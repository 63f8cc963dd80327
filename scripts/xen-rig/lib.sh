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

# Serialises fetching and image building between concurrent users of the
# cache (several engineers or make jobs may boot at once). The lock is held
# on fd 9 until the calling script exits or calls rig_unlock; scripts it
# starts inherit it.
rig_lock() {
    [ -n "${RIG_LOCK_HELD:-}" ] && return 0
    mkdir -p "$RIG_CACHE"
    exec 9>"$RIG_CACHE/.lock"
    flock -w 1800 9 || { echo "xen-rig: the cache lock stayed busy for 30 minutes" >&2; return 1; }
    export RIG_LOCK_HELD=1
}

# Releases the lock taken by rig_lock.
rig_unlock() {
    exec 9>&-
    unset RIG_LOCK_HELD
}
