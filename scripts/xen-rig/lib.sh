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

# apt_config DIR SUITE [ARCH]: writes a private apt configuration in DIR for
# Debian SUITE (with its -updates and -security suites), for the host's
# architecture or ARCH, whose lists and caches live in DIR, so that the
# host's own apt configuration never changes; prints the path of its config
# file. Its package lists are fetched the first time (DIR/lists/.updated).
apt_config() {
    local dir=$1 suite=$2 arch=${3:-} opt= status=/var/lib/dpkg/status s
    if [ -n "$arch" ]; then
        opt="arch=$arch "
        status=/dev/null # a foreign architecture: nothing of it is installed
    fi
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/sources.list.d" "$dir/preferences.d"
    for s in "debian $suite" "debian $suite-updates" "debian-security $suite-security"; do
        echo "deb [${opt}signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/${s% *} ${s#* } main"
    done >"$dir/sources.list"
    {
        cat <<CONF
Dir::Etc::sourcelist "$dir/sources.list";
Dir::Etc::sourceparts "$dir/sources.list.d";
Dir::Etc::preferencesparts "$dir/preferences.d";
Dir::State::Lists "$dir/lists";
Dir::Cache "$dir/cache";
Dir::State::status "$status";
APT::Sandbox::User "root";
CONF
        [ -z "$arch" ] || printf 'APT::Architecture "%s";\nAPT::Architectures { "%s"; };\n' "$arch" "$arch"
    } >"$dir/apt.conf"
    if [ ! -e "$dir/lists/.updated" ]; then
        APT_CONFIG=$dir/apt.conf timeout 600 apt-get update >/dev/null
        touch "$dir/lists/.updated"
    fi
    echo "$dir/apt.conf"
}

# apt_download DIR PACKAGE...: downloads the packages into DIR with the
# current APT_CONFIG (the host's if unset); when the package lists are
# stale (a version left the archive), updates them once and tries again.
apt_download() {
    local dir=$1
    shift
    (cd "$dir" && timeout 900 apt-get -o APT::Sandbox::User=root download "$@" >/dev/null) && return 0
    timeout 600 apt-get update >/dev/null
    (cd "$dir" && timeout 900 apt-get -o APT::Sandbox::User=root download "$@" >/dev/null)
}
