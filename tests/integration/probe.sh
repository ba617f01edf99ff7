#!/bin/bash
# netrootctl probe against a real tgtd in a network namespace: healthy, every fault the lab can
# inject (target killed and restarted, own and peer link down, DROP, REJECT, target removed,
# wrong CHAP secret) with exit status and reason, and 1000+ probe cycles in one process without
# fd or memory growth.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/tgt.sh"

why=$(tgt_lab_check) || skip "$why"
[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built"
tgt_lab_setup || skip "cannot create network namespaces and a veth pair here"
tgt_start || fail "tgtd did not start"
IQN=iqn.2016-11.org.example:pi-$$
tgt_add_target 1 "$IQN" || fail "tgtadm could not create the target"
# another Pi's root on the same portal: removing ours leaves a portal that still answers
# discovery (tgtd without any target closes a discovery login without an answer)
tgt_add_target 2 "iqn.2016-11.org.example:other-pi-$$" || fail "tgtadm: second target"

TIMEOUT=2
probe() { # [OPTIONS...]: runs netrootctl probe in the client namespace; sets OUT, RC, SECS, CPU
	local t0 t1 tms
	t0=$(date +%s%N)
	tms=$(TIMEFORMAT='%U %S'; { time cli_exec "$NETROOTCTL" probe --portal "$TGT_PORTAL" \
		--target "$IQN" --timeout "${TIMEOUT}s" "$@" >"$T/out" 2>&1; echo "rc=$?" >"$T/rc"; } 2>&1)
	t1=$(date +%s%N)
	OUT=$(cat "$T/out")
	RC=$(sed 's/rc=//' "$T/rc")
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	CPU=$(echo "$tms" | awk '{ printf "%.2f", $1 + $2 }')
	echo "  probe $*: rc=$RC ${SECS}s cpu=${CPU}s: $OUT"
}
expect() { # RC REGEX WHAT
	[ "$RC" = "$1" ] || fail "$3: exit $RC, expected $1; output: $OUT"
	echo "$OUT" | grep -Eq -- "$2" || fail "$3: output does not match /$2/: $OUT"
	pass "$3"
}
ok_line='^ok +rtt [0-9]+\.[0-9] ms'

# --- healthy ---
probe --mode discovery
expect 0 "$ok_line" "healthy: discovery ok with rtt"
probe --mode login
expect 0 "$ok_line" "healthy: login + TEST UNIT READY ok with rtt"
probe --mode login --lun 1 --json
expect 0 '"ok":true' "healthy: --json"
[ "$(echo "$OUT" | jq -r .rtt_ms)" != null ] || fail "--json has no rtt_ms"
RTT_LOGIN=$(echo "$OUT" | jq -r .rtt_ms)
probe --mode discovery --count 3 --interval 50ms
[ "$(echo "$OUT" | grep -Ec "$ok_line")" = 3 ] || fail "--count 3 printed: $OUT"
pass "--count 3 prints three results"

# --- usage ---
probe --mode bogus
expect 2 "not discovery or login" "usage error: bad mode"
cli_exec "$NETROOTCTL" --config /dev/null probe --target "$IQN" >"$T/out" 2>&1
RC=$? OUT=$(cat "$T/out")
expect 2 "no portal" "usage error: no portal with the default configuration"

# --- target process killed, then restarted and configured again ---
tgt_kill
probe --mode discovery
expect 1 "^fail .*portal $TGT_PORTAL: connection refused" "tgtd killed: connection refused"
tgt_start || fail "tgtd did not restart"
probe --mode discovery
expect 1 "target $IQN not offered by portal $TGT_PORTAL|portal $TGT_PORTAL: connection (closed by portal|reset)" \
	"restarted tgtd without targets: fails"
tgt_add_target 1 "$IQN" && tgt_add_target 2 "iqn.2016-11.org.example:other-pi-$$" \
	|| fail "re-create targets"
probe --mode login
expect 0 "$ok_line" "restarted and re-configured: ok again"

# --- own link down (client side) ---
tgt_link own down
probe --mode discovery
expect 1 "portal $TGT_PORTAL: network unreachable" "own link down: network unreachable"
awk -v s="$SECS" 'BEGIN { exit !(s < 1) }' || fail "own link down: took ${SECS}s"
tgt_link own up
wait_for 5 cli_exec "$NETROOTCTL" probe --portal "$TGT_PORTAL" --target "$IQN" --timeout 1s >/dev/null \
	|| fail "no recovery after own link up"
pass "own link up: ok again"

# --- peer link down (the cable pulled at the target) ---
tgt_link peer down
probe --mode login
expect 1 "portal $TGT_PORTAL: (connection timed out after $TIMEOUT\.0 s|host unreachable)" \
	"peer link down: timed out"
awk -v s="$SECS" -v t="$TIMEOUT" 'BEGIN { exit !(s <= t + 1) }' || fail "peer link down: took ${SECS}s"
pass "peer link down: result within timeout + 1 s (${SECS}s)"
tgt_link peer up
wait_for 10 cli_exec "$NETROOTCTL" probe --portal "$TGT_PORTAL" --target "$IQN" --timeout 1s >/dev/null \
	|| fail "no recovery after peer link up"
pass "peer link up: ok again"

# --- iptables DROP: a silent black hole ---
tgt_fw_drop || fail "iptables DROP in $TGT_NS"
probe --mode discovery
expect 1 "portal $TGT_PORTAL: connection timed out after $TIMEOUT\.0 s" "DROP: connection timed out"
awk -v s="$SECS" -v t="$TIMEOUT" 'BEGIN { exit !(s >= t - 0.1 && s <= t + 1) }' \
	|| fail "DROP: failure after ${SECS}s, expected ${TIMEOUT}s .. $((TIMEOUT + 1))s"
pass "DROP: failure after ${SECS}s (timeout ${TIMEOUT}s)"
awk -v c="$CPU" 'BEGIN { exit !(c < 0.5) }' || fail "DROP: ${CPU}s CPU while waiting (spinning?)"
pass "DROP: no spinning while waiting (${CPU}s CPU)"
DROP_SECS=$SECS
tgt_fw_clear

# --- REJECT with TCP reset ---
tgt_fw_reject syn || fail "iptables REJECT"
probe --mode discovery
expect 1 "portal $TGT_PORTAL: connection refused" "REJECT tcp-reset on the SYN: refused"
tgt_fw_clear
tgt_fw_reject established || fail "iptables REJECT (established)"
probe --mode login
expect 1 "portal $TGT_PORTAL: connection reset" "REJECT tcp-reset after the handshake: reset"
tgt_fw_clear
probe --mode login
expect 0 "$ok_line" "rules removed: ok again"

# --- the root target removed from the portal ---
tgt_del_target 1 || fail "delete target"
probe --mode discovery
expect 1 "target $IQN not offered by portal $TGT_PORTAL" "target deleted: not offered (discovery)"
probe --mode login
expect 1 "target $IQN not found on portal $TGT_PORTAL" "target deleted: not found (login)"
tgt_add_target 1 "$IQN" || fail "re-create target"

# --- CHAP ---
SECRET=GoodSecret-$RANDOM$RANDOM
WRONG=WrongSecret-$RANDOM$RANDOM
tgt_add_chap 1 pi-user "$SECRET" || fail "CHAP account"
printf '%s\n' "$WRONG" >"$T/wrong.pw"
printf '%s\n' "$SECRET" >"$T/good.pw"
probe --mode login --username pi-user --password-file "$T/wrong.pw"
expect 1 "CHAP rejected by portal $TGT_PORTAL" "wrong CHAP secret: CHAP rejected"
assert_not_contains "$OUT" "$WRONG" "the wrong secret is not printed"
probe --mode login --username pi-user --password-file "$T/wrong.pw" --json
expect 1 '"ok":false' "wrong CHAP secret: --json"
assert_not_contains "$OUT" "$WRONG" "the wrong secret is not in the JSON"
probe --mode login
expect 1 "requires CHAP" "CHAP required, none given"
probe --mode login --username pi-user --password-file "$T/good.pw"
expect 0 "$ok_line" "right CHAP secret: ok"
assert_not_contains "$OUT" "$SECRET" "the secret is not printed"
cat >"$T/agent.conf" <<CONF
[iscsi]
portal = $TGT_PORTAL
target = $IQN
probe = login
username = pi-user
password = $SECRET
CONF
chmod 600 "$T/agent.conf"
cli_exec "$NETROOTCTL" --config "$T/agent.conf" probe >"$T/out" 2>&1
RC=$? OUT=$(cat "$T/out")
expect 0 "$ok_line +login $IQN via portal $TGT_PORTAL" "portal, target, mode and CHAP from the configuration"
sed -i "s/^password = .*/password = $WRONG/" "$T/agent.conf"
cli_exec "$NETROOTCTL" --config "$T/agent.conf" probe >"$T/out" 2>&1
RC=$? OUT=$(cat "$T/out")
expect 1 "CHAP rejected" "wrong secret from the configuration: CHAP rejected"
assert_not_contains "$OUT" "$WRONG" "the configured secret is not printed"

# --- 1000+ cycles in one process: no fd or memory growth ---
# fd count and VmRSS of the running process, sampled after warm-up and near the end. Both samples
# are taken while the process is held alive at the same point of its loop: its output (stdout and
# stderr) goes through a FIFO that this shell reads, in a pipe shrunk to one page. When the test
# stops reading, netrootctl blocks in write() of a result line once the page is full; it cannot exit
# while lines it must still print do not fit in the page (before: the late sample was timed, 30
# cycles before the end, and once read a process that had exited).
command -v python3 >/dev/null || fail "python3 missing (make deps installs it)"
loop_line() { # SECONDS: appends the next output line to $T/loop.out
	local line
	IFS= read -r -t "$1" -u "$LOOP_FD" line || return 1
	printf '%s\n' "$line" >>"$T/loop.out"
	LOOP_N=$((LOOP_N + 1))
}
loop_read_to() { # N: reads until N lines were read, at most 10 s for each
	while [ "$LOOP_N" -lt "$1" ]; do loop_line 10 || return 1; done
}
blocked_on_output() { # PID: in write() to the full pipe (wchan pipe_write, anon_pipe_write)
	case $(cat "/proc/$1/wchan" 2>/dev/null) in *pipe_write) return 0 ;; esac
	return 1
}
sample() { # PID: sets FDS and RSS (kB) of the process held in write(); fails unless it stayed there
	wait_for 10 blocked_on_output "$1" || fail "$name: not held on its output: $(tail -n 3 "$T/loop.out")"
	FDS=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l)
	RSS=$(awk '/^VmRSS/ { print $2 }' "/proc/$1/status")
	blocked_on_output "$1" && [ -n "$RSS" ] && [ "$FDS" -gt 0 ] ||
		fail "$name: the process left its write() during the sample"
}
loop_check() { # NAME COUNT [OPTIONS...]
	local name=$1 count=$2 pid early_fd early_rss late_fd late_rss n pipe_size hold min_len
	shift 2
	rm -f "$T/loop.fifo" "$T/loop.out"
	: >"$T/loop.out"
	mkfifo "$T/loop.fifo" || fail "mkfifo"
	# Read-write: the open does not wait for a writer, and the pipe exists before netrootctl runs.
	exec {LOOP_FD}<>"$T/loop.fifo"
	pipe_size=$(python3 -c 'import fcntl; fcntl.fcntl(0, fcntl.F_SETPIPE_SZ, 4096)
print(fcntl.fcntl(0, fcntl.F_GETPIPE_SZ))' <&"$LOOP_FD") || fail "cannot shrink the pipe"
	LOOP_N=0
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 \
		ip netns exec "$CLI_NS" "$NETROOTCTL" probe --target "$IQN" --timeout 1s \
		--count "$count" --interval 10ms "$@" >"$T/loop.fifo" 2>&1 &
	pid=$!
	track_pid "$pid"
	loop_read_to 150 || fail "$name: slow start: $(tail -n 3 "$T/loop.out")"
	sample "$pid"
	early_fd=$FDS early_rss=$RSS
	# The late sample leaves HOLD lines unread, more than fit in the pipe: the lines of one loop
	# differ only in the round trip's digits, so none is shorter than the shortest so far less 8.
	min_len=$(awk '{ n = length($0) + 1; if (min == "" || n < min) min = n } END { print min - 8 }' \
		"$T/loop.out")
	[ "$min_len" -ge 32 ] || min_len=32
	hold=$((pipe_size / min_len + 1))
	[ $((count - hold)) -ge 250 ] || fail "$name: $count cycles are too few for a $pipe_size-byte pipe"
	loop_read_to $((count - hold)) || fail "$name: too slow: $(tail -n 3 "$T/loop.out")"
	sample "$pid"
	late_fd=$FDS late_rss=$RSS
	loop_read_to "$count" || fail "$name: too slow at the end: $(tail -n 3 "$T/loop.out")"
	wait "$pid"
	LOOP_RC=$?
	# Anything printed after the last result (all of it is in the pipe once the process is gone).
	while loop_line 0.2; do :; done
	exec {LOOP_FD}<&-
	rm -f "$T/loop.fifo"
	n=$(wc -l <"$T/loop.out")
	[ "$n" = "$count" ] || fail "$name: $n result lines, expected $count: $(tail -n 3 "$T/loop.out")"
	echo "  $name: $count cycles: fds $early_fd -> $late_fd, VmRSS ${early_rss} kB -> ${late_rss} kB" \
		"(held in write() with 150 and $((count - hold)) lines read)"
	[ "$late_fd" -le "$early_fd" ] || fail "$name: fd count grew $early_fd -> $late_fd"
	# ASan's quarantine keeps freed memory on purpose; there LeakSanitizer checks for leaks.
	[ "${SANITIZE:-0}" = 1 ] || [ "$late_rss" -le $((early_rss + 512)) ] ||
		fail "$name: VmRSS grew ${early_rss} -> ${late_rss} kB"
	pass "$name: $count cycles, no fd or RSS growth"
	LOOP_SUMMARY+="$name fds $early_fd->$late_fd rss ${early_rss}->${late_rss}kB; "
}
LOOP_SUMMARY=
loop_check "login loop" 1100 --portal "$TGT_PORTAL" --mode login --username pi-user \
	--password-file "$T/good.pw"
[ "$LOOP_RC" = 0 ] || fail "login loop: last result not ok"
[ "$(grep -c '^ok ' "$T/loop.out")" = 1100 ] || fail "login loop: failures: $(grep -m3 '^fail' "$T/loop.out")"
pass "login loop: 1100 of 1100 ok"
loop_check "refused loop" 400 --portal "$TGT_ADDR:3261" --mode discovery
[ "$LOOP_RC" = 1 ] || fail "refused loop: exit $LOOP_RC"
grep -q 'connection refused' "$T/loop.out" || fail "refused loop: $(tail -n 1 "$T/loop.out")"

# --- valgrind over ok and failing cycles (not under ASan: the two do not mix) ---
if command -v valgrind >/dev/null && ! nm -D "$NETROOTCTL" 2>/dev/null | grep -q __asan_init &&
	! nm "$NETROOTCTL" 2>/dev/null | grep -q __asan_init; then
	for args in "--mode login --count 20 --interval 10ms" "--mode discovery --count 20 --interval 10ms"; do
		# shellcheck disable=SC2086 # word list on purpose
		cli_exec valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite,indirect "$NETROOTCTL" probe \
			--portal "$TGT_PORTAL" --target "$IQN" --username pi-user \
			--password-file "$T/good.pw" $args >"$T/vg.out" 2>&1
		rc=$?
		[ $rc = 0 ] || fail "valgrind ($args): exit $rc: $(tail -n 30 "$T/vg.out")"
	done
	tgt_fw_drop
	cli_exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$NETROOTCTL" probe --portal "$TGT_PORTAL" --target "$IQN" --timeout 1s --count 2 \
		--interval 10ms >"$T/vg.out" 2>&1
	rc=$?
	tgt_fw_clear
	[ $rc = 1 ] || fail "valgrind (DROP): exit $rc: $(tail -n 30 "$T/vg.out")"
	pass "valgrind: no errors or leaks over ok, CHAP and timed-out cycles"
fi

echo "figures: login rtt ${RTT_LOGIN} ms; DROP -> failure ${DROP_SECS}s (timeout ${TIMEOUT}s); $LOOP_SUMMARY"
exit 0
