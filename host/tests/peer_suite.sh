#!/usr/bin/env bash
# End-to-end suite with Debian's clients against one daemon:
#   1. test-xenstore (all tests, then a `-r 10` random run),
#   2. the xenstore-* CLI (xenstore_cli.sh),
#   3. simulated guests over simring (simring_guests.py, simring_reconnect.py).
#
# Usage: peer_suite.sh ours PATH/TO/xenstored-rs | peer_suite.sh c
# Environment: PEERS = the peers kit's front end (default tests/peers/peers).
# "c" runs the suite against C xenstored 4.17 to confirm the expectations.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${PEERS:=$here/../../tests/peers/peers}"
kind=${1:?usage: peer_suite.sh ours BINARY | c}

work=$(mktemp -d /tmp/xs-host-test.XXXXXX)
run=$work/run
sr=$work/sr
mkdir -p "$run" "$sr"
export XENSTORED_PATH=$run/socket SIMRING_DIR=$sr
daemon_pid=
# A lower watch quota than the default (128), checked by simring_guests.py.
watch_quota=50
export XS_QUOTA_WATCHES=$watch_quota
# A short watch-event timeout (default 20 s), checked by simring_guests.py.
event_timeout=2
export XS_WATCH_EVENT_TIMEOUT=$event_timeout

stop() {
    if [ "$kind" == c ]; then
        "$PEERS" stop "$run"
    elif [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null
        wait "$daemon_pid"
        local rc=$?
        [ "$rc" == 0 ] || { echo "not ok - daemon exit status $rc after SIGTERM"; failures=$((failures + 1)); }
        [ ! -e "$run/socket" ] || { echo "not ok - socket left behind"; failures=$((failures + 1)); }
    fi
}

case $kind in
c)
    # C 4.17 names the watch quota -W; current C and we use -Q watches=N.
    "$PEERS" start c "$run" -W "$watch_quota" -w watch-event="$event_timeout" >/dev/null || exit 1
    export XS_REFERENCE=c
    ;;
ours)
    bin=${2:?usage: peer_suite.sh ours BINARY}
    "$bin" --socket "$run/socket" --simring "$sr" --pid-file "$run/pid" -Q watches="$watch_quota" \
        -w watch-event="$event_timeout" \
        --log-level "${XS_LOG_LEVEL:-warn}" 2>"$run/stderr" &
    daemon_pid=$!
    # The pid file is written once the socket listens. The deadline is
    # generous: only a daemon that does not start reaches it.
    deadline=$((SECONDS + 60))
    until [ -s "$run/pid" ]; do
        kill -0 "$daemon_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] ||
            { echo "not ok - daemon did not start"; cat "$run/stderr"; exit 1; }
        sleep 0.05
    done
    ;;
*) echo "usage: peer_suite.sh ours BINARY | c" >&2; exit 2 ;;
esac

failures=0
step() { # step NAME COMMAND...
    echo "# $1"
    "${@:2}"
    local rc=$?
    if [ "$rc" != 0 ]; then
        echo "not ok - $1 (status $rc)"
        failures=$((failures + 1))
    fi
}

test_xenstore=$("$PEERS" bin test-xenstore)
xs_tests() { timeout 600 "$test_xenstore" "$@" >"$work/test-xenstore.out" 2>&1 || { cat "$work/test-xenstore.out"; return 1; }; }
step "test-xenstore: all 12 tests" xs_tests
step "test-xenstore: -r 10 random run" xs_tests -r 10
step "xenstore-* CLI" timeout 600 "$here/xenstore_cli.sh"
step "simring guests" timeout 600 python3 "$here/simring_guests.py"
step "simring reconnection" timeout 600 python3 "$here/simring_reconnect.py"

stop
if [ -n "$daemon_pid" ] && [ -s "$run/stderr" ]; then
    echo "# daemon log:"; sed 's/^/#   /' "$run/stderr" | tail -40
fi
if [ "$failures" == 0 ]; then
    rm -rf "$work"
    echo "# peer suite ($kind): all passed"
else
    echo "# peer suite ($kind): $failures failed (files kept in $work)"
fi
exit "$failures"
