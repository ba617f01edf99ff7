#!/bin/bash
# IPv6 enforcement for real, inside a network namespace this test creates (never the host's
# own sysctls): all/default/every interface, new interfaces, drift back, timer re-check, reload
# to enable and keep.
. "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
ns=nrt-v6-$$-$RANDOM
ip netns add "$ns" || skip "cannot create a network namespace here"
on_cleanup "ip netns del $ns"
in_ns() { ip netns exec "$ns" "$@"; }
v6() { in_ns cat "/proc/sys/net/ipv6/conf/$1/disable_ipv6"; }
v6_is() { [ "$(v6 "$1")" = "$2" ]; }
[ -d /proc/sys/net/ipv6 ] || skip "kernel without IPv6"

S=$T/root
make_sandbox "$S"
ln -s /proc "$S/proc" # /proc/sys/net shows the namespace of whoever reads it: the daemon's
sed -i 's/mode = keep/mode = disable\ncheck_interval = 1h/' "$S/etc/netroot/agent.conf"
in_ns ip link set lo up
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
in_ns ip link add v6a type veth peer name v6b
assert_eq "$(v6 v6a)" 0 "precondition: IPv6 on in the namespace"

ip netns exec "$ns" "$NETROOTD" --root "$S" --log-target stderr --no-mlock >>"$T/netrootd.log" 2>&1 &
NETROOTD_PID=$!
track_pid "$NETROOTD_PID"
wait_for 10 test -s "$S/run/netroot/status.json" || fail "no status: $(cat "$T/netrootd.log")"
for e in all default lo v6a v6b; do assert_eq "$(v6 $e)" 1 "disable_ipv6=1 on $e at start"; done
assert_eq "$(status_field "$S" .ipv6.applied)" true "status: applied"
assert_file_contains "$T/netrootd.log" "mode=disable holds" "application logged"

# A new interface while `default` was changed behind our back: the link event fixes both.
in_ns sysctl -qw net.ipv6.conf.default.disable_ipv6=0
in_ns ip link add v6c type veth peer name v6d
wait_for 2 v6_is v6c 1 || fail "new interface v6c kept IPv6 (no link event handling)"
pass "new interface v6c gets disable_ipv6=1 on its link event (check_interval is 1h)"
assert_eq "$(v6 default)" 1 "default corrected on the same event"
assert_file_contains "$T/netrootd.log" "drift corrected" "drift logged"

# Someone flips `all` back: the addresses that reappear trigger the correction.
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0
wait_for 2 v6_is all 1 || fail "all=0 not corrected"
pass "all flipped back to 0 is corrected within 2 s"
wait_for 2 v6_is lo 1 || fail "lo not corrected"
c=$(status_field "$S" .ipv6.corrections)
[ "$c" -ge 2 ] || fail "corrections counter $c"
pass "status counts $c drift corrections"

# Timer path: only `default` changes (no netlink event); reload to a 1 s re-check.
sed -i 's/check_interval = 1h/check_interval = 1s/' "$S/etc/netroot/agent.conf"
kill -HUP "$NETROOTD_PID"
wait_for 5 grep -q "configuration reloaded" "$T/netrootd.log" || fail "reload"
in_ns sysctl -qw net.ipv6.conf.default.disable_ipv6=0
wait_for 3 v6_is default 1 || fail "default not corrected by the periodic check"
pass "periodic check corrects a change that sends no event"

# mode=enable: everything back on, sysctl.d file follows.
sed -i 's/mode = disable/mode = enable/' "$S/etc/netroot/agent.conf"
kill -HUP "$NETROOTD_PID"
wait_for 5 v6_is v6a 0 || fail "enable not applied"
for e in all default lo v6a v6d; do assert_eq "$(v6 $e)" 0 "disable_ipv6=0 on $e in mode=enable"; done
assert_file_contains "$S/etc/sysctl.d/90-netroot-ipv6.conf" "all.disable_ipv6 = 0" "sysctl.d follows enable"

# mode=keep: nothing touched, sysctl.d file removed.
sed -i 's/mode = enable/mode = keep/' "$S/etc/netroot/agent.conf"
kill -HUP "$NETROOTD_PID"
wait_for 5 test ! -e "$S/etc/sysctl.d/90-netroot-ipv6.conf" || fail "sysctl.d file not removed for keep"
pass "keep removes the sysctl.d file"
in_ns sysctl -qw net.ipv6.conf.v6a.disable_ipv6=1
sleep 1.5
assert_eq "$(v6 v6a)" 1 "keep leaves a manual change alone"
kill -TERM "$NETROOTD_PID"; wait "$NETROOTD_PID"
assert_eq "$?" 0 "clean stop"
