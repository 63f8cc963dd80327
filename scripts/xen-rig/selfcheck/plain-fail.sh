# Rig self-check (make rig-selfcheck): a step that fails without any crash
# must stay failed: rig_script never runs such a script again.
plain_fail() { echo "a plain failure"; return 1; }
check selfcheck-plain-fail plain_fail
