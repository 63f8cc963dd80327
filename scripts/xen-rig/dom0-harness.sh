# Sourced by dom0's /init before the check script: the one helper checks use.
#
#   check NAME COMMAND [ARGS...]
#
# runs COMMAND (a program or a shell function) with its output captured and a
# time limit of $RIG_STEP_TIMEOUT seconds (default 60), records PASS or FAIL
# for NAME in /run/rig/results and prints "RIG: PASS NAME" or "RIG: FAIL NAME"
# followed by the command's last output lines.

check() {
    name=$1
    shift
    out=/run/rig/check.out
    ("$@") >"$out" 2>&1 &
    rig_wait $! "${RIG_STEP_TIMEOUT:-60}"
    rc=$?
    if [ "$rc" = 0 ]; then
        echo "PASS $name" >>/run/rig/results
        echo "RIG: PASS $name"
        [ -n "${RIG_VERBOSE:-}" ] && sed 's/^/    /' "$out"
    else
        echo "FAIL $name" >>/run/rig/results
        [ "$rc" = 124 ] && echo "RIG: FAIL $name (timed out)" || echo "RIG: FAIL $name (exit $rc)"
        tail -n 20 "$out" | sed 's/^/    /'
    fi
    return 0
}

# stub_idle: the xenstore stub domain sleeps when nobody talks to it. Its
# CPU time (xl list's Time(s)) may grow by less than 0.5 s over 5 idle
# seconds; a spinning stub would add 5 s. (A single look at the state letters
# is not enough: `xl list` itself asks xenstore, so the stub may be caught
# running while it answers.)
stub_idle() {
    t0=$(xl list Xenstore | awk 'NR == 2 { print $6 }')
    sleep 5
    t1=$(xl list Xenstore | awk 'NR == 2 { print $6 }')
    xl list Xenstore
    echo "stub CPU time: $t0 s -> $t1 s"
    [ -n "$t0" ] && [ -n "$t1" ] && awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 0.5) }'
}
