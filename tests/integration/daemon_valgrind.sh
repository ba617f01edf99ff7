#!/bin/bash
# netrootd start, reload (good and bad config) and stop under valgrind: no leak, no invalid access.
. "$(dirname "$0")/../lib/common.sh"

[ "${SANITIZE:-0}" = 1 ] && skip "valgrind does not run sanitizer builds; the ASan run covers it"
command -v valgrind >/dev/null || fail "valgrind missing (make deps installs it)"
S=$T/root
make_sandbox "$S"
valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--log-file="$T/valgrind.log" \
	"$NETROOTD" --root "$S" --log-target stderr --no-mlock >"$T/netrootd.log" 2>&1 &
pid=$!
track_pid "$pid"
wait_for 30 test -s "$S/run/netroot/status.json" || fail "netrootd under valgrind did not start"
kill -HUP "$pid"
wait_for 10 grep -q "configuration reloaded" "$T/netrootd.log" || fail "reload"
cp "$S/etc/netroot/agent.conf" "$T/good.conf"
printf '[led]\ntrigger_ok = nope\n' >>"$S/etc/netroot/agent.conf"
kill -HUP "$pid"
wait_for 10 grep -q "reload refused" "$T/netrootd.log" || fail "bad reload"
kill -TERM "$pid"
wait "$pid"; rc=$?
cat "$T/valgrind.log"
assert_eq "$rc" 0 "valgrind reports no leak or error over start/reload/stop"
