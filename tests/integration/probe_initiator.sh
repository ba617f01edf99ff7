#!/bin/bash
# The probe's initiator name against a target with an initiator ACL (a NAS that admits only
# listed initiators): tgtd in a network namespace with the target bound to initiator names only.
# [iscsi] initiator = auto (the default) logs in as the root session's initiator name plus
# ":netroot-probe" (the session is a FAKE sysfs tree, tests/lib/fake_sysfs.sh, with the
# tutorial's initiator name); a configured name is used as given; a name the ACL does not admit
# fails, and the reason names the initiator.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/tgt.sh"
. "$TOP/tests/lib/fake_sysfs.sh"

why=$(tgt_lab_check) || skip "$why"
tgt_lab_setup || fail "lab setup"
tgt_start || fail "tgtd did not start"
IQN=iqn.2016-11.org.example:pi-acl-$$
AUTO_NAME=$FAKE_INITIATOR_DEFAULT:netroot-probe
EXPLICIT=iqn.2016-11.org.example:probe-explicit-$$
tgt_add_target 1 "$IQN" || fail "target"
tgt_add_target 2 "iqn.2016-11.org.example:other-$$" || fail "second target"
# Initiator names only, through the lab's helper (the VM suite's never-healthy fault uses it too:
# it once left the address ACL "ALL" bound, under which tgtd refuses no name).
tgt_acl_initiators 1 "$AUTO_NAME" "$EXPLICIT" || fail "initiator ACL"

S=$T/root
make_sandbox "$S"
fake_iscsi_tree "$S"
fake_iscsid "$S" running
fake_recovery_tmo "$S" session1 86400
conf() { # MODE [INITIATOR-LINE]
	cat >"$S/etc/netroot/agent.conf" <<-CONF
	[agent]
	run_dir = /run/netroot
	[ipv6]
	mode = keep
	[iscsi]
	probe = $1
	portal = $TGT_PORTAL
	target = $IQN
	probe_interval = 200ms
	probe_timeout = 1s
	fail_after = 1
	recover_after = 1
	session_poll = 1s
	${2:-}
	CONF
	chmod 600 "$S/etc/netroot/agent.conf"
}
status() { jq -r "$1" "$S/run/netroot/status.json" 2>/dev/null; }
probe_is() { # OK|FAILED [REASON-SUBSTRING]: a fresh probe result after the last reload
	[ "$(status .probe.probes)" -ge "${P0:-0}" ] || return 1
	[ "$(status .state)" = "$1" ] || return 1
	[ -z "${2:-}" ] || [[ $(status .probe.last_error) == *"$2"* ]]
}
reload() {
	kill -HUP "$PID"
	sleep 0.3
	P0=$(($(status .probe.probes) + 2))
}

conf login
ip netns exec "$CLI_NS" "$NETROOTD" --root "$S" --log-target stderr --no-mlock >"$T/netrootd.log" 2>&1 &
PID=$!
track_pid "$PID"
wait_for 10 probe_is OK || fail "auto: the probe does not get in: $(status .probe | tr -d '\n') $(tail -3 "$T/netrootd.log")"
assert_eq "$(status .probe.initiator)" "$AUTO_NAME" "auto: logs in as the root's initiator + :netroot-probe"
assert_eq "$(status .probe.last_ok)" true "auto: admitted by the initiator ACL"

conf login "initiator = $EXPLICIT"
reload
wait_for 5 probe_is OK || fail "explicit: $(status .probe | tr -d '\n')"
assert_eq "$(status .probe.initiator)" "$EXPLICIT" "configured initiator name used as given"

BAD=iqn.2016-11.org.example:not-in-the-acl
conf login "initiator = $BAD"
reload
wait_for 5 probe_is FAILED "for initiator $BAD" || fail "not admitted: $(status .probe | tr -d '\n')"
pass "login probe with a name the ACL refuses: FAILED, '$(status .probe.last_error)'"
conf discovery "initiator = $BAD"
reload
wait_for 5 probe_is FAILED "to initiator $BAD" || fail "discovery not admitted: $(status .probe | tr -d '\n')"
pass "discovery probe: '$(status .probe.last_error)'"
conf login
reload
wait_for 5 probe_is OK || fail "back to auto: $(status .probe | tr -d '\n')"
pass "back to auto: OK again"

# A value that is no iSCSI name: refused naming file and line.
conf login "initiator = not an iqn"
out=$("$NETROOTD" --root "$S" --check-config 2>&1)
assert_eq "$?" 2 "--check-config refuses a malformed initiator name"
assert_contains "$out" "agent.conf:14: [iscsi] initiator=not an iqn" "the error names file and line"
kill -TERM "$PID"
wait "$PID"
assert_eq "$?" 0 "clean stop"
