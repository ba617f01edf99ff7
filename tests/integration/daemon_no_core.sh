#!/bin/bash
# netrootd holds the CHAP secret: it must never be dumped. It makes itself non-dumpable at start
# (prctl PR_SET_DUMPABLE 0), so no core file even with `ulimit -c unlimited`, and its /proc files
# are root's even when it runs as another user (no reading its memory or environment by that
# user). The unit adds LimitCORE=0 (unit_file.sh).
. "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (runs the daemon as nobody)"
command -v setpriv >/dev/null || skip "setpriv missing (package util-linux)"
S=$T/root
make_sandbox "$S"
cat >>"$S/etc/netroot/agent.conf" <<-CONF
username = piuser
password = CoreSecret-$$
CONF
mkdir -p "$T/cwd"
chmod 755 "$T"
chown -R nobody:nogroup "$S" "$T/cwd"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# As nobody: then the kernel shows a non-dumpable process's /proc files as root's.
(cd "$T/cwd" && ulimit -c unlimited &&
	exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$NETROOTD" --root "$S" --log-target stderr --no-mlock) >"$T/netrootd.log" 2>&1 &
PID=$!
track_pid "$PID"
wait_for 10 test -s "$S/run/netroot/status.json" || fail "netrootd did not start: $(cat "$T/netrootd.log")"
assert_eq "$(awk '/^Uid:/ {print $2}' "/proc/$PID/status")" "$(id -u nobody)" "netrootd runs as nobody"
assert_eq "$(stat -c %U "/proc/$PID/environ")" root "its /proc files are root's: not dumpable"
if as_nobody cat "/proc/$PID/environ" >/dev/null 2>&1; then
	fail "the same user can read netrootd's environment"
fi
pass "the same user cannot read /proc/$PID/environ"

# A crash: no core file, even with the core limit lifted.
pattern=$(cat /proc/sys/kernel/core_pattern)
kill -SEGV "$PID"
wait "$PID"
echo "netrootd exited with $? on SIGSEGV; core_pattern: $pattern"
case $pattern in
"|"* | */*) echo "note: core_pattern is not a plain file name here: the core file check is skipped" ;;
*)
	cores=$(ls "$T/cwd")
	[ -z "$cores" ] || fail "core file written: $cores"
	pass "no core file with ulimit -c unlimited and core_pattern '$pattern'"
	;;
esac
