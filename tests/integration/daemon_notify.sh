#!/bin/bash
# Type=notify behaviour over a real NOTIFY_SOCKET (the datagram protocol systemd uses): READY=1
# after start-up, STATUS=, WATCHDOG=1 at the requested rate, RELOADING=1 on SIGHUP, STOPPING=1.
# Also: memory is locked (mlockall) and the figures RSS/VmLck are printed.
. "$(dirname "$0")/../lib/common.sh"

command -v python3 >/dev/null || fail "python3 missing (make deps installs it)"
S=$T/root
make_sandbox "$S"
python3 "$TOP/tests/lib/notify_listen.py" "$T/notify.sock" "$T/notify.log" &
track_pid $!
wait_for 5 grep -q LISTENING "$T/notify.log" || fail "notify listener did not start"

NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 \
	"$NETROOTD" --root "$S" --log-target stderr >"$T/netrootd.log" 2>&1 &
pid=$!
track_pid "$pid"
wait_for 5 grep -q '^READY=1' "$T/notify.log" || fail "no READY=1: $(cat "$T/notify.log" "$T/netrootd.log")"
pass "READY=1 sent after start-up"
assert_file_contains "$T/notify.log" "STATUS=OK; LED ACT heartbeat" "STATUS= one-line summary"
sleep 1.2
n=$(grep -c '^WATCHDOG=1' "$T/notify.log")
[ "$n" -ge 3 ] || fail "only $n WATCHDOG=1 in 1.2 s with WATCHDOG_USEC=400ms"
pass "watchdog pinged $n times in 1.2 s (every ≤ 200 ms for a 400 ms timeout)"

# mlockall: VmLck covers the whole resident set when not a sanitizer build.
if [ "${SANITIZE:-0}" != 1 ]; then
	assert_eq "$(status_field "$S" .memory_locked)" true "status says memory is locked"
	lck=$(awk '/^VmLck/ {print $2}' "/proc/$pid/status")
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
	[ "$lck" -gt 0 ] || fail "VmLck is $lck kB"
	echo "figures: VmRSS=${rss} kB VmLck=${lck} kB"
	pass "memory locked (VmLck ${lck} kB)"
fi

kill -HUP "$pid"
wait_for 5 grep -q '^RELOADING=1' "$T/notify.log" || fail "no RELOADING=1"
ready_twice() { [ "$(grep -c '^READY=1' "$T/notify.log")" -ge 2 ]; }
wait_for 5 ready_twice || fail "no READY=1 after reload"
pass "RELOADING=1 then READY=1 on SIGHUP"
kill -TERM "$pid"
wait "$pid"; rc=$?
assert_eq "$rc" 0 "exit 0 on SIGTERM"
assert_file_contains "$T/notify.log" "STOPPING=1" "STOPPING=1 on stop"
