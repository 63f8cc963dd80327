#!/bin/sh
# /init of the PV Linux test guest (busybox sh; built into its initramfs by
# scripts/xen-rig/mkguest.sh, started by tests/boot/guest.sh in dom0).
#
# It talks to xenstore through its own ring as an unprivileged domain, prints
# "GUEST: N passed, M failed" on hvc0, then waits for `xl shutdown` (which
# writes control/shutdown; the kernel then runs /sbin/poweroff).
#
# Dom0's side of the handshake: it creates /rig/guestdir writable by this
# domain and /rig/acl readable by it before unpausing it, and writes data/ping
# in this domain's home once data/ready appears.
#
# Then dom0 saves this domain (`xl save -D`, which destroys it) and restores
# it as a new domain with the same domid; the restored kernel carries on
# where it was, polling for data/reuse, which dom0 writes in the new domain's
# home. The second round of tests ("GUEST: reuse: N passed, M failed") checks
# that the new domain inherited nothing from the old one.

/usr/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

# The kernel's orderly power-off (xl shutdown) runs /sbin/poweroff; busybox's
# would signal an init that is not busybox's, so power off directly.
rm -f /usr/sbin/poweroff
printf '#!/bin/sh\nexec /usr/bin/busybox poweroff -f\n' >/usr/sbin/poweroff
chmod 0755 /usr/sbin/poweroff

passed=0
failed=0
# t NAME COMMAND...: runs one test, prints "GUEST: PASS|FAIL NAME".
t() {
    name=$1
    shift
    if "$@" >/tmp/t.out 2>&1; then
        passed=$((passed + 1))
        echo "GUEST: PASS $name"
    else
        failed=$((failed + 1))
        echo "GUEST: FAIL $name"
        sed 's/^/GUEST:     /' /tmp/t.out
    fi
}

# The four little-endian bytes of $1, as printf octal escapes.
le32() {
    printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255))
}

# xs_raw TYPE FILE: sends one xenstore request of TYPE whose payload is FILE
# through /dev/xen/xenbus and prints the reply as "TYPE PAYLOAD" (payload NULs
# dropped). The xenstore-* clients report a refused request only as "could not
# write path", so this is how the error name (EACCES) is seen.
xs_raw() {
    len=$(wc -c <"$2")
    # shellcheck disable=SC2059 # le32 prints escapes for printf to expand.
    { printf "$(le32 "$1")$(le32 7)$(le32 0)$(le32 "$len")"; cat "$2"; } >/tmp/req
    exec 3<>/dev/xen/xenbus || return 1
    cat /tmp/req >&3
    dd bs=4096 count=1 <&3 >/tmp/rep 2>/dev/null
    exec 3<&-
    echo "$(od -An -tu4 -N4 /tmp/rep | tr -d ' ') $(dd if=/tmp/rep bs=1 skip=16 2>/dev/null | tr -d '\000')"
}
# XS_READ = 2, XS_WRITE = 11, XS_ERROR = 16 (xs_wire.h).
XS_READ=2
XS_WRITE=11

# Our domid, from the relative node "domid" of our home.
domid_ok() {
    domid=$(xenstore-read domid) || return 1
    [ "$domid" -gt 0 ] 2>/dev/null
}

# A relative write lands under /local/domain/<domid>.
write_home() {
    xenstore-write data/x 1 || return 1
    [ "$(xenstore-read data/x)" = 1 ] || return 1
    [ "$(xenstore-read "/local/domain/$domid/data/x")" = 1 ] || return 1
    xenstore-rm data/x || return 1
    ! xenstore-exists data/x
}

# refused TYPE PATH [VALUE]: xenstore answers the request with EACCES.
refused() {
    if [ $# = 3 ]; then
        printf '%s\000%s' "$2" "$3"
    else
        printf '%s\000' "$2"
    fi >/tmp/p
    r=$(xs_raw "$1" /tmp/p)
    echo "reply: $r"
    [ "$r" = "16 EACCES" ]
}

# Dom0's nodes are neither writable nor readable by us: EACCES.
refused_write() {
    ! xenstore-write /local/domain/0/x 1 || return 1
    refused $XS_WRITE /local/domain/0/x 1
}
refused_read() { refused $XS_READ /local/domain/0/name; }

# Dom0's node whose ACL names us (n0 r<domid>) is readable.
acl_read() { [ "$(xenstore-read /rig/acl)" = acl ]; }

# Outside our home, in the directory dom0 made writable for us.
write_outside() {
    xenstore-write "/rig/guestdir/g$domid" 1 || return 1
    [ "$(xenstore-read "/rig/guestdir/g$domid")" = 1 ]
}

# wait_lines FILE N: waits for FILE to hold N lines (a watch's events);
# gives up after 120 s, which only a hang takes.
wait_lines() {
    n=0
    while [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
        n=$((n + 1))
        [ "$n" -le 1200 ] || return 1
        sleep 0.1
    done
}

# A watch on our own node fires for our own write below it.
own_watch() {
    xenstore-watch -n 2 data/w >/tmp/w1 &
    pid=$!
    wait_lines /tmp/w1 1 || { kill $pid; return 1; }
    xenstore-write data/w/c 1 || { kill $pid; return 1; }
    wait $pid || return 1
    cat /tmp/w1
    grep -q 'data/w/c$' /tmp/w1
}

# A watch on our own node fires for dom0's write: dom0 waits for data/ready.
dom0_watch() {
    xenstore-watch -n 2 data/ping >/tmp/w2 &
    pid=$!
    wait_lines /tmp/w2 1 || { kill $pid; return 1; }
    xenstore-write data/ready 1 || { kill $pid; return 1; }
    wait $pid || return 1
    cat /tmp/w2
    grep -q 'data/ping$' /tmp/w2
}

# After the restore: xenstore still gives us the same domid.
same_domid() {
    d=$(xenstore-read domid) || return 1
    echo "domid $d, before the save $domid"
    [ "$d" = "$domid" ]
}

# Nothing the old domain wrote in its home is in the new one's.
fresh_home() {
    ! xenstore-exists data/ready || return 1
    ! xenstore-exists data/w
}

# The ACL entries dom0 gave the old domain do not let the new one in
# (XSA-322): neither /rig/guestdir (b<domid>) nor /rig/acl (r<domid>).
refused_outside() { refused $XS_WRITE "/rig/guestdir/g$domid" 2; }
refused_acl() { refused $XS_READ /rig/acl; }

echo "GUEST: up after $(cut -d' ' -f1 /proc/uptime) s"
t domid domid_ok
echo "GUEST: domid ${domid:-unknown}"
t write-home write_home
t refused-write refused_write
t refused-read refused_read
t acl-read acl_read
t write-outside write_outside
t own-watch own_watch
t dom0-watch dom0_watch
echo "GUEST: $passed passed, $failed failed"

# Wait to be saved and restored as a new domain with the same domid: dom0
# writes data/reuse in the new domain's home.
until xenstore-read data/reuse >/dev/null 2>&1; do sleep 1; done
echo "GUEST: resumed after $(cut -d' ' -f1 /proc/uptime) s"
passed=0
failed=0
t reuse-domid same_domid
t reuse-fresh-home fresh_home
t reuse-refused-outside refused_outside
t reuse-refused-acl refused_acl
t reuse-write-home write_home
t reuse-own-watch own_watch
echo "GUEST: reuse: $passed passed, $failed failed"

# Stay up until dom0 shuts us down.
while :; do sleep 3600; done
