#!/usr/bin/env bash
# The xenstore-* command-line tools (Debian's xenstore-utils, libxenstore)
# against the daemon at $XENSTORED_PATH, with asserted outputs. The expected
# outputs were taken from Debian's C xenstored 4.17 (`peers start c`).
# Prints one "ok"/"not ok" line per check; exits with the failure count.
set -uo pipefail
: "${XENSTORED_PATH:?set XENSTORED_PATH to the daemon socket}"
failures=0

expect() { # expect NAME WANT GOT
    if [ "$2" == "$3" ]; then
        echo "ok - $1"
    else
        echo "not ok - $1"
        diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/#   /'
        failures=$((failures + 1))
    fi
}

# Every command has a deadline, generous so that only a hang reaches it.
t() { timeout 60 "$@"; }

t xenstore-write /cli/a 1 /cli/b "two words"
expect "write exits 0" 0 $?
expect "read" $'1\ntwo words' "$(t xenstore-read /cli/a /cli/b)"
t xenstore-exists /cli/a
expect "exists on a node" 0 $?
t xenstore-exists /cli/nope
expect "exists on a missing node" 1 $?
out=$(t xenstore-read /cli/nope 2>&1)
expect "read of a missing node fails" "1|xenstore-read: couldn't read path /cli/nope" "$?|$out"
expect "list" $'a\nb' "$(t xenstore-list /cli)"
expect "ls -p" \
'a = "1"  . . . . . . . . . . . . . . . . . . . . . . . . . .  (n0)
b = "two words"  . . . . . . . . . . . . . . . . . . . . . .  (n0)' \
    "$(t xenstore-ls -p /cli </dev/null)"
t xenstore-chmod /cli/a n1 r2
expect "chmod exits 0" 0 $?
expect "ls -p after chmod" \
'a = "1"  . . . . . . . . . . . . . . . . . . . . . . . . . .  (n1,r2)
b = "two words"  . . . . . . . . . . . . . . . . . . . . . .  (n0)' \
    "$(t xenstore-ls -p /cli </dev/null)"
t xenstore-write /cli/deep/er/x 1
t xenstore-rm -t /cli/deep/er/x
expect "rm -t removes empty parents" $'a\nb' "$(t xenstore-list /cli)"
t xenstore-rm /cli/b
expect "rm" "a" "$(t xenstore-list /cli)"

watch_out=$(mktemp)
timeout 120 xenstore-watch -n 3 /cli/w >"$watch_out" 2>&1 &
watcher=$!
# The watch is in place once its initial event has been printed
# (xenstore-watch flushes each line); only then write.
deadline=$((SECONDS + 60))
until [ -s "$watch_out" ] || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.05; done
t xenstore-write /cli/w/x 1
t xenstore-write /cli/w 2
wait "$watcher"
expect "watch reports the initial event and two writes" $'/cli/w\n/cli/w/x\n/cli/w' "$(cat "$watch_out")"
rm -f "$watch_out"
expect "ls -f" $'/cli/a = "1"\n/cli/w = "2"\n/cli/w/x = "1"' "$(t xenstore-ls -f /cli </dev/null)"
t xenstore-rm /cli
exit "$failures"
