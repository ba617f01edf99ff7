#!/bin/bash
# journald stops reading (it does when / is gone, and when it is stopped or hung): netrootd must
# keep following the root's health. A real systemd-journald in a private mount namespace (tmpfs
# over /run, the machine's journal untouched) is SIGSTOPped and its native socket filled to the
# kernel's queue limit; then 30 flips of the kernel session (FAKE sysfs, tests/lib/fake_sysfs.sh:
# the host has no iSCSI initiator) must each reach status.json and the LED (fake trigger file)
# within a bound, and what could not be logged is dropped and counted (status.json, metrics,
# STATUS=). Part 2 does the same with netrootd's stderr on journald's stream socket (as under
# systemd with StandardError=journal). When journald runs again, the count is said in the journal.
if [ -z "${NETROOT_IN_PRIVATE_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private mount namespace"; exit 77; }
	NETROOT_IN_PRIVATE_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/fake_sysfs.sh"

JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || fail "systemd-journald missing (package systemd; make deps installs it)"
command -v python3 >/dev/null || fail "python3 missing (make deps installs it)"
mount -t tmpfs tmpfs /run || fail "cannot mount a private /run"
mkdir -p /run/systemd/journal /run/log/journal
"$JOURNALD" &
JPID=$!
track_pid "$JPID"
# A stopped journald would not die from the cleanup's SIGTERM.
on_cleanup 'kill -CONT $JPID 2>/dev/null'
wait_for 5 test -S /run/systemd/journal/socket || fail "journald did not start"
wait_for 5 test -S /run/systemd/journal/stdout || fail "journald has no stream socket"

S=$T/root
make_sandbox "$S"
fake_iscsi_tree "$S"
fake_iscsid "$S" running
fake_recovery_tmo "$S" session1 86400
cat >"$S/etc/netroot/agent.conf" <<-CONF
[agent]
run_dir = /run/netroot
metrics_file = /run/netroot/metrics.prom
[ipv6]
mode = keep
[iscsi]
probe = off
session_poll = 100ms
fail_after = 1
recover_after = 1
CONF
chmod 600 "$S/etc/netroot/agent.conf"

python3 "$TOP/tests/lib/notify_listen.py" "$T/notify.sock" "$T/notify.log" &
track_pid $!
wait_for 5 grep -q LISTENING "$T/notify.log" || fail "notify listener did not start"

state_is() { [ "$(jq -r .state "$S/run/netroot/status.json" 2>/dev/null)" = "$1" ]; }
led() { cat "$S/sys/class/leds/ACT/trigger"; }
follows() { state_is "$1" && [ "$(led)" = "$2" ]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
BOUND=3 # seconds a flip may take to show; it takes one session poll (100 ms) when nothing blocks

# flips WHAT: 30 session flips; each must reach status.json and the LED within BOUND.
flips() {
	local i st want_state want_led t0 dt max=0 sum=0
	for i in $(seq 30); do
		if [ $((i % 2)) = 1 ]; then
			st=FAILED want_state=FAILED want_led=default-on
		else
			st=LOGGED_IN want_state=OK want_led=heartbeat
		fi
		t0=$(now_ms)
		fake_session_state "$S" session1 "$st"
		wait_for "$BOUND" follows "$want_state" "$want_led" ||
			fail "$1: flip $i (session $st) not shown within $BOUND s: status $(jq -c '[.state, .reasons]' "$S/run/netroot/status.json"), LED $(led); netrootd $(cat "/proc/$PID/wchan" 2>/dev/null; echo) $(grep State "/proc/$PID/status")"
		dt=$(($(now_ms) - t0))
		sum=$((sum + dt))
		[ "$dt" -gt "$max" ] && max=$dt
	done
	echo "figures: $1: 30 flips followed, latency mean $((sum / 30)) ms, max $max ms"
	pass "$1: status.json and LED followed all 30 flips within $BOUND s each"
}

# --- 1: native journal socket, journald stopped and its queue full ---
NOTIFY_SOCKET=$T/notify.sock "$NETROOTD" --root "$S" --log-target journal --no-mlock \
	>"$T/netrootd.log" 2>&1 &
PID=$!
track_pid "$PID"
wait_for 5 follows OK heartbeat || fail "netrootd not OK at start: $(cat "$T/netrootd.log")"
kill -STOP "$JPID"
python3 "$TOP/tests/lib/dgram_fill.py" /run/systemd/journal/socket >"$T/fill.log" &
track_pid $!
wait_for 10 grep -q FILLED "$T/fill.log" || fail "could not fill journald's socket"
echo "journald stopped, its native socket filled with $(sed -n 's/FILLED //p' "$T/fill.log") datagrams"
flips "native journal, journald stopped"
dropped=$(jq -r .log.dropped "$S/run/netroot/status.json")
[ "$dropped" -gt 0 ] 2>/dev/null || fail "status.json log.dropped is '$dropped', expected > 0"
echo "figures: native journal: $dropped log messages dropped, $(jq -r .log.queued "$S/run/netroot/status.json") queued"
pass "status.json counts the dropped log messages ($dropped)"
wait_for 5 grep -Eq '^netroot_log_messages_dropped_total [1-9]' "$S/run/netroot/metrics.prom" ||
	fail "metrics: no netroot_log_messages_dropped_total > 0: $(grep log_ "$S/run/netroot/metrics.prom")"
pass "metrics count them: $(grep '^netroot_log_messages_dropped_total' "$S/run/netroot/metrics.prom")"
grep -q '^STATUS=.*log messages dropped' "$T/notify.log" || fail "STATUS= does not say so: $(grep STATUS= "$T/notify.log" | tail -2)"
pass "STATUS= says so: $(grep '^STATUS=.*dropped' "$T/notify.log" | tail -1)"
out=$("$NETROOTCTL" --root "$S" status)
assert_contains "$out" "message(s) dropped while the journal was not reading" "netrootctl status says so"

kill -CONT "$JPID"
# What was queued goes out, then one entry with the count.
said() { journalctl -D /run/log/journal --no-pager -o cat SYSLOG_IDENTIFIER=netrootd 2>/dev/null | grep -q "log messages dropped"; }
wait_for 10 said || fail "no 'log messages dropped' entry after journald came back: $(journalctl -D /run/log/journal --no-pager -o cat SYSLOG_IDENTIFIER=netrootd | tail -5)"
pass "journald back: $(journalctl -D /run/log/journal --no-pager -o cat SYSLOG_IDENTIFIER=netrootd | grep 'log messages dropped' | tail -1)"
kill -TERM "$PID"
wait "$PID"
assert_eq "$?" 0 "clean stop after the stall"
assert_eq "$(led)" mmc0 "LED restored"

# --- 2: stderr on journald's stream socket (StandardError=journal), journald stopped ---
fake_session_state "$S" session1 LOGGED_IN
led_kernel_view "$S"
python3 "$TOP/tests/lib/stream_exec.py" /run/systemd/journal/stdout netrootd-stderr \
	"$NETROOTD" --root "$S" --log-target stderr --no-mlock &
PID=$!
track_pid "$PID"
wait_for 5 follows OK heartbeat || fail "netrootd (stderr) not OK at start: $(jq -c "[.state, .pid]" "$S/run/netroot/status.json"), LED $(led), alive: $(kill -0 $PID && echo yes); journal: $(journalctl -D /run/log/journal --no-pager -o cat -n 5)"
kill -STOP "$JPID"
flips "stderr stream, journald stopped"
dropped=$(jq -r .log.dropped "$S/run/netroot/status.json")
[ "$dropped" -gt 0 ] 2>/dev/null || fail "stderr: status.json log.dropped is '$dropped', expected > 0"
echo "figures: stderr stream: $dropped log lines dropped"
pass "stderr: dropped lines counted ($dropped)"
kill -CONT "$JPID"
said2() { journalctl -D /run/log/journal --no-pager -o cat SYSLOG_IDENTIFIER=netrootd-stderr 2>/dev/null | grep -q "log messages dropped"; }
wait_for 10 said2 || fail "stderr: no 'log messages dropped' line after journald came back"
pass "stderr: the count reached the journal when journald came back"
kill -TERM "$PID"
wait "$PID"
assert_eq "$?" 0 "clean stop (stderr)"
