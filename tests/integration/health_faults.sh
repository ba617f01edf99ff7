#!/bin/bash
# netrootd against a real tgtd in another network namespace: each fault with the state, the
# reason and the LED trigger it must produce, and the recovery. The kernel session is a FAKE
# sysfs tree in the sandbox (the host kernel has no iSCSI initiator; tests/lib/fake_sysfs.sh lays
# out the real format); link, portal and probe are real.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/tgt.sh"
. "$TOP/tests/lib/fake_sysfs.sh"

why=$(tgt_lab_check) || skip "$why"
tgt_lab_setup || fail "lab setup"
tgt_start || fail "tgtd did not start"
IQN=iqn.2016-11.org.example:pi1
tgt_add_target 1 "$IQN" || fail "target"
tgt_add_target 2 iqn.2016-11.org.example:other || fail "second target"

S=$T/root
make_sandbox "$S"
fake_iscsi_tree "$S"
fake_iscsid "$S" running
fake_recovery_tmo "$S" session1 86400
conf() {
	cat >"$S/etc/netroot/agent.conf" <<-CONF
	[agent]
	run_dir = /run/netroot
	metrics_file = /run/netroot/metrics.prom
	[ipv6]
	mode = keep
	[iscsi]
	probe = ${MODE:-discovery}
	portal = $TGT_PORTAL
	target = $IQN
	probe_interval = ${INTERVAL:-300ms}
	probe_timeout = 1s
	fail_after = 2
	recover_after = 2
	session_poll = 1s
	username = ${CHAP_USER:-}
	password = ${CHAP_PASS:-}
	CONF
	chmod 600 "$S/etc/netroot/agent.conf"
}
conf
# Not through cli_exec: a shell function in the background would be a subshell, and $! its PID.
ip netns exec "$CLI_NS" "$NETROOTD" --root "$S" --log-target stderr --no-mlock >"$T/netrootd.log" 2>&1 &
PID=$!
track_pid "$PID"

state_is() { # STATE [REASON-SUBSTRING]
	local st
	st=$(jq -r '.state + "|" + ([.reasons[] | .text] | join("; "))' "$S/run/netroot/status.json" 2>/dev/null) || return 1
	[ "${st%%|*}" = "$1" ] || return 1
	[ -z "${2:-}" ] || [[ ${st#*|} == *"$2"* ]]
}
led() { cat "$S/sys/class/leds/ACT/trigger"; }
expect() { # SECONDS STATE REASON LED WHAT
	if ! wait_for "$1" state_is "$2" "$3"; then
		fail "$5: wanted $2 ($3) within $1 s, status: $(jq -c '[.state, .reasons]' "$S/run/netroot/status.json") log: $(tail -5 "$T/netrootd.log")"
	fi
	assert_eq "$(led)" "$4" "$5: state $2 with '$3', LED $4"
}

expect 10 OK "" heartbeat "healthy portal"
assert_eq "$(jq -r .probe.last_ok "$S/run/netroot/status.json")" true "probe ok in status"
assert_eq "$(jq -r .session.state "$S/run/netroot/status.json")" LOGGED_IN "session read from the (fake) sysfs tree"
assert_eq "$(jq -r .link.interface "$S/run/netroot/status.json")" "$CLI_IF" "carrying interface found by route"
out=$("$NETROOTCTL" --root "$S" status); rc=$?
assert_eq "$rc" 0 "netrootctl status exits 0 when OK"
assert_contains "$out" "probe" "netrootctl status shows the probe"
wait_for 5 test -s "$S/run/netroot/metrics.prom" || fail "no metrics file"
assert_file_contains "$S/run/netroot/metrics.prom" 'netroot_state{state="OK"} 1' "Prometheus metrics file written"

# Target process killed: refused; FAILED after fail_after probes.
tgt_kill
expect 5 FAILED "connection refused" default-on "target killed"
out=$("$NETROOTCTL" --root "$S" status); rc=$?
assert_eq "$rc" 1 "netrootctl status exits 1 when FAILED"
assert_contains "$out" "connection refused" "netrootctl status gives the reason"
tgt_start && tgt_add_target 1 "$IQN" && tgt_add_target 2 iqn.2016-11.org.example:other || fail "restart tgtd"
expect 10 OK "" heartbeat "target back and re-configured"

# Own link down: event-driven, no probe needed.
tgt_link own down
expect 1 FAILED "$CLI_IF: down" default-on "own link down"
tgt_link own up
ip -n "$CLI_NS" route add default via "$TGT_ADDR" 2>/dev/null || true
expect 10 OK "" heartbeat "own link back"

# Peer link down: the pulled cable.
tgt_link peer down
expect 1 FAILED "$CLI_IF: no carrier" default-on "peer link down (carrier lost)"
tgt_link peer up
expect 10 OK "" heartbeat "cable back"

# Silent black hole.
tgt_fw_drop
expect 6 FAILED "timed out" default-on "iptables DROP"
tgt_fw_clear
expect 10 OK "" heartbeat "black hole lifted"

# Reset after the handshake.
tgt_fw_reject established
expect 6 FAILED "reset" default-on "REJECT with tcp-reset"
tgt_fw_clear
expect 10 OK "" heartbeat "reset lifted"

# Root target deleted from the portal.
tgt_del_target 1
expect 6 FAILED "not offered" default-on "root target deleted"
tgt_add_target 1 "$IQN"
expect 10 OK "" heartbeat "root target back"

# Wrong CHAP password (login probe), and the secret never shows.
tgt_add_chap 1 piuser RightSecret12 || fail "chap"
MODE=login CHAP_USER=piuser CHAP_PASS=WrongSecret99 conf
kill -HUP "$PID"
expect 6 FAILED "CHAP rejected" default-on "wrong CHAP password"
for f in "$S/run/netroot/status.json" "$S/run/netroot/metrics.prom" "$T/netrootd.log"; do
	grep -q WrongSecret99 "$f" && fail "password appears in $f"
done
"$NETROOTCTL" --root "$S" status --json | grep -q WrongSecret99 && fail "password in status --json"
pass "the CHAP password appears in no status, metrics or log output"
MODE=login CHAP_USER=piuser CHAP_PASS=RightSecret12 conf
kill -HUP "$PID"
expect 10 OK "" heartbeat "right CHAP password"

# Kernel session state (fake sysfs): FAILED at once, back after recover_after good results.
fake_session_state "$S" session1 FAILED
expect 4 FAILED "session1" default-on "kernel session FAILED"
assert_eq "$(jq -r '[.reasons[] | .code] | index("session-failed") != null' "$S/run/netroot/status.json")" true "status.json: reasons carry the code session-failed"
fake_session_state "$S" session1 LOGGED_IN
expect 10 OK "" heartbeat "kernel session LOGGED_IN again"
fake_session_state "$S" session1 FREE
expect 4 FAILED "session1" default-on "kernel session FREE"
fake_session_state "$S" session1 LOGGED_IN
expect 10 OK "" heartbeat "session back"
fake_disk_state "$S" sda blocked
expect 4 DEGRADED "blocked" timer "disk blocked while the session recovers"
fake_disk_state "$S" sda running
expect 10 OK "" heartbeat "disk running"

# Journal-style events for each transition went out.
n=$(grep -c "iSCSI root .* -> FAILED" "$T/netrootd.log")
[ "$n" -ge 8 ] || fail "only $n FAILED transitions logged"
pass "$n FAILED transitions logged with their reasons"
assert_file_contains "$T/netrootd.log" "ISCSI_PORTAL=$TGT_PORTAL" "events carry ISCSI_PORTAL"
assert_file_contains "$T/netrootd.log" "NETROOT_REASON_CODE=session-failed" "events carry the reason's code (session FAILED)"
assert_file_contains "$T/netrootd.log" "NETROOT_REASON_CODE=link-" "events carry the reason's code (link)"

# 1000 probe cycles: no fd or memory growth.
INTERVAL=10ms MODE=discovery conf
kill -HUP "$PID"
wait_for 5 state_is OK || fail "not OK with a 10 ms interval"
probes() { jq -r .probe.probes "$S/run/netroot/status.json"; }
p0=$(probes)
warmed_up() { [ $(($(probes) - p0)) -ge 100 ]; }
wait_for 60 warmed_up || fail "fewer than 100 probes in 60 s after the warm-up"
# A probe's socket is open for part of every 10 ms cycle: the smallest of 10 looks 10 ms apart is
# the count without it (a leaked fd is in every look). One look once caught a probe in flight.
fds() {
	local i n min=
	for i in 1 2 3 4 5 6 7 8 9 10; do
		n=$(ls "/proc/$PID/fd" | wc -l)
		[ -z "$min" ] || [ "$n" -lt "$min" ] && min=$n
		sleep 0.01
	done
	echo "$min"
}
fd1=$(fds); rss1=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status"); p1=$(probes)
wait_for_probes() { [ $(( $(probes) - p1 )) -ge 1000 ]; }
wait_for 120 wait_for_probes || fail "fewer than 1000 probes in 120 s ($(( $(probes) - p1 )))"
fd2=$(fds); rss2=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
echo "figures: $(( $(probes) - p1 )) probe cycles: fds $fd1 -> $fd2, VmRSS $rss1 -> $rss2 kB"
[ "$fd2" -le "$fd1" ] || fail "fd count grew from $fd1 to $fd2"
# ASan's quarantine keeps freed memory on purpose; there LeakSanitizer checks for leaks.
[ "${SANITIZE:-0}" = 1 ] || [ "$rss2" -le $((rss1 + 256)) ] || fail "VmRSS grew from $rss1 to $rss2 kB"
pass "no fd or memory growth over 1000 probe cycles"
kill -TERM "$PID"; wait "$PID"
assert_eq "$?" 0 "clean stop"
assert_eq "$(led)" mmc0 "LED restored"
