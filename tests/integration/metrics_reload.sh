#!/bin/bash
# The metrics writer thread over reloads: one thread, however many reloads, also while its file
# system hangs (the metrics file usually lives on the root filesystem). A loop-mounted ext4 in a
# private mount namespace is frozen (fsfreeze: every write to it waits, as on a dead disk); then
# 10 reloads (SIGHUP) must each finish quickly, the thread count in /proc/PID/task stays flat,
# and the health still follows a session flip (FAKE sysfs, tests/lib/fake_sysfs.sh).
if [ -z "${NETROOT_IN_PRIVATE_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private mount namespace"; exit 77; }
	NETROOT_IN_PRIVATE_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/fake_sysfs.sh"

for c in fsfreeze mkfs.ext4 losetup; do command -v $c >/dev/null || skip "$c missing (util-linux, e2fsprogs)"; done
S=$T/root
make_sandbox "$S"
fake_iscsi_tree "$S"
fake_iscsid "$S" running
fake_recovery_tmo "$S" session1 86400
M=$S/var/lib/prometheus
mkdir -p "$M"
truncate -s 16M "$T/metrics.img"
mkfs.ext4 -q "$T/metrics.img" || fail "mkfs.ext4"
LOOP=$(losetup -f --show "$T/metrics.img") || skip "no loop device here"
on_cleanup "losetup -d $LOOP"
mount "$LOOP" "$M" || skip "cannot mount a loop device here"
on_cleanup "umount -l '$M'"
# Runs before the daemon is killed (cleanups go first): a thread stuck on a frozen file system
# would keep the process from dying.
on_cleanup "fsfreeze -u '$M' 2>/dev/null"
cat >"$S/etc/netroot/agent.conf" <<-CONF
[agent]
run_dir = /run/netroot
metrics_file = /var/lib/prometheus/netroot.prom
[ipv6]
mode = keep
[iscsi]
probe = off
session_poll = 100ms
fail_after = 1
recover_after = 1
CONF
chmod 600 "$S/etc/netroot/agent.conf"
start_netrootd "$S"
PID=$NETROOTD_PID
wait_for 5 test -s "$M/netroot.prom" || fail "no metrics file"
threads() { ls "/proc/$PID/task" | wc -l; }
state_is() { [ "$(jq -r .state "$S/run/netroot/status.json")" = "$1" ]; }
reloaded() { [ "$(grep -c 'configuration reloaded' "$T/netrootd.log")" -ge "$1" ]; }
n=0
# reloads WHAT COUNT: each SIGHUP must be done (logged) within 2 s; prints the slowest.
reloads() {
	local i t0 dt max=0
	for i in $(seq "$2"); do
		n=$((n + 1))
		t0=$(date +%s%N)
		kill -HUP "$PID"
		wait_for 2 reloaded "$n" || fail "$1: reload $i not done within 2 s"
		dt=$((($(date +%s%N) - t0) / 1000000))
		[ "$dt" -gt "$max" ] && max=$dt
	done
	echo "figures: $1: $2 reloads, slowest $max ms, threads $(threads)"
}

t0=$(threads)
reloads "healthy file system" 10
assert_eq "$(threads)" "$t0" "thread count flat over 10 reloads ($t0)"

fsfreeze -f "$M" || skip "fsfreeze not supported here"
fake_session_state "$S" session1 FAILED # a change, so a metrics write is queued and hangs
wait_for 3 state_is FAILED || fail "FAILED not shown"
sleep 0.3
reloads "metrics file system frozen" 10
assert_eq "$(threads)" "$t0" "thread count flat over 10 reloads while the metrics write hangs"
fake_session_state "$S" session1 LOGGED_IN
wait_for 3 state_is OK || fail "OK not shown while frozen"
pass "health still followed with the metrics write hanging"

fsfreeze -u "$M"
wait_for 5 grep -q 'netroot_state{state="OK"} 1' "$M/netroot.prom" || fail "metrics not written after thaw"
pass "metrics written again after the thaw"
kill -TERM "$PID"
wait "$PID"
assert_eq "$?" 0 "clean stop"
