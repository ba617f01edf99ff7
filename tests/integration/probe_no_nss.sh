#!/bin/bash
# The portal probe never walks the root filesystem for name service: no nscd socket, no
# /etc/nsswitch.conf, /etc/hosts, /etc/gai.conf or /etc/resolv.conf, nothing under /var, while it
# probes (strace of netrootd against a real tgtd in a network namespace). libiscsi resolves every
# portal string with getaddrinfo() and no hints, and glibc then asks nscd (/var/run/nscd/socket)
# even for a numeric address. A host name in [iscsi] portal is resolved once, at start and
# reload, or refused naming file and line.
if [ -z "${NETROOT_IN_PRIVATE_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private mount namespace"; exit 77; }
	NETROOT_IN_PRIVATE_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/tgt.sh"

why=$(tgt_lab_check) || skip "$why"
command -v strace >/dev/null || fail "strace missing (make deps installs it)"
tgt_lab_setup || fail "lab setup"
tgt_start || fail "tgtd did not start"
IQN=iqn.2016-11.org.example:pi-nss-$$
tgt_add_target 1 "$IQN" || fail "target"

S=$T/root
make_sandbox "$S"
conf() { # PORTAL
	cat >"$S/etc/netroot/agent.conf" <<-CONF
	[agent]
	run_dir = /run/netroot
	[ipv6]
	mode = keep
	[iscsi]
	probe = discovery
	portal = $1
	target = $IQN
	probe_interval = 200ms
	probe_timeout = 1s
	CONF
	chmod 600 "$S/etc/netroot/agent.conf"
}
probes() { jq -r .probe.probes "$S/run/netroot/status.json" 2>/dev/null || echo 0; }
enough_ok() { [ "$(probes)" -ge 6 ] && [ "$(jq -r .probe.last_ok "$S/run/netroot/status.json")" = true ]; }
# Name service and anything under /var: the root filesystem, or daemons that hang with it.
FORBIDDEN='"/var/|nscd|"/etc/nsswitch.conf"|"/etc/hosts"|"/etc/host.conf"|"/etc/gai.conf"|"/etc/resolv.conf"|"/run/systemd/resolve'

# traced_run WHAT: netrootd under strace in the client namespace until 6 probes, one of them ok.
traced_run() {
	rm -f "$S/run/netroot/status.json"
	led_kernel_view "$S"
	# Not through cli_exec: a shell function in the background would be a subshell, and $! its
	# PID; `ip netns exec` execs strace.
	ip netns exec "$CLI_NS" strace -f -qq -s 80 -o "$T/strace.log" -e trace=%file,connect,write \
		"$NETROOTD" --root "$S" --log-target stderr --no-mlock 2>"$T/netrootd.log" &
	STRACE=$!
	track_pid "$STRACE"
	wait_for 30 enough_ok || fail "$1: no 6 probes with a good one: $(jq -c .probe "$S/run/netroot/status.json" 2>&1) $(tail -3 "$T/netrootd.log")"
	PID=$(jq -r .pid "$S/run/netroot/status.json")
	track_pid "$PID"
	kill -TERM "$PID"
	wait "$STRACE"
	# From "started" on, netrootd is watching: the probes run there.
	awk '/netrootd [0-9.]+ started/ { on = 1 } on' "$T/strace.log" >"$T/watching.log"
	[ -s "$T/watching.log" ] || fail "$1: no 'started' line in the trace"
	echo "figures: $1: $(probes) probe cycles traced, $(grep -c 'connect(' "$T/watching.log") connect() calls while watching"
}

# --- numeric portal: nothing forbidden at any time ---
conf "$TGT_PORTAL"
traced_run "numeric portal"
if grep -E "$FORBIDDEN" "$T/strace.log"; then
	fail "numeric portal: netrootd touched name service or /var (above)"
fi
grep -q "connect(.*sin_port=htons($TGT_PORT)" "$T/watching.log" || fail "no probe connect() in the trace"
pass "numeric portal: probes connect to $TGT_PORTAL, no nscd, NSS file or /var access"

# --- a host name: resolved at start (/etc/hosts read then), never while watching ---
NAME=nas-$$.netroot.test
cp /etc/hosts "$T/hosts"
echo "$TGT_ADDR $NAME" >>"$T/hosts"
mount --bind "$T/hosts" /etc/hosts || fail "cannot bind a private /etc/hosts"
conf "$NAME:$TGT_PORT"
traced_run "host name portal"
awk '/netrootd [0-9.]+ started/ { exit } 1' "$T/strace.log" | grep -q '"/etc/hosts"' ||
	fail "the host name was not looked up at start"
pass "host name looked up once at start (/etc/hosts read before 'started')"
if grep -E "$FORBIDDEN" "$T/watching.log"; then
	fail "host name portal: name service or /var touched while watching (above)"
fi
pass "host name portal: no name service while probing"
assert_eq "$(jq -r .probe.portal "$S/run/netroot/status.json")" "$TGT_PORTAL" "status shows the resolved portal"
assert_file_contains "$T/netrootd.log" "$NAME" "the log names the host name and its address"

# --- a name that does not resolve: refused, naming file and line ---
conf "no-such-host-$$.invalid:3260"
out=$("$NETROOTD" --root "$S" --check-config 2>&1)
rc=$?
assert_eq "$rc" 2 "--check-config refuses an unresolvable portal name"
line=$(grep -n '^portal' "$S/etc/netroot/agent.conf" | cut -d: -f1)
assert_contains "$out" "agent.conf:$line: [iscsi] portal=no-such-host-$$.invalid:3260" "the error names file and line"
assert_contains "$out" "cannot resolve" "the error says why"
