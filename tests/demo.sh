#!/bin/bash
# make demo: netrootd on a sandbox Pi tree, inside a network namespace of its own, so that what it
# changes (LED trigger, IPv6 sysctls) is visible and nothing on this machine is touched.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
D=$(mktemp -d /tmp/netroot-demo.XXXXXX)
ns=nrt-demo-$$-$RANDOM
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
led() { cat "$D/root/sys/class/leds/ACT/trigger"; }
v6() { ip netns exec "$ns" sh -c 'for f in all default lo eth0; do printf "%s=%s " $f $(cat /proc/sys/net/ipv6/conf/$f/disable_ipv6); done; echo'; }

[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespace)"; exit 1; }
say "A sandbox Pi tree in $D/root (--root): a fake ACT LED in the kernel's sysfs format, agent.conf"
mkdir -p "$D/root/sys/class/leds/ACT" "$D/root/etc/netroot" "$D/root/boot"
echo "none timer oneshot heartbeat default-on input panic mmc1 [mmc0]" >"$D/root/sys/class/leds/ACT/trigger"
echo 500 >"$D/root/sys/class/leds/ACT/delay_on"; echo 500 >"$D/root/sys/class/leds/ACT/delay_off"
ln -s /proc "$D/root/proc"
cp "$TOP/etc/agent.conf" "$D/root/etc/netroot/agent.conf"
chmod 600 "$D/root/etc/netroot/agent.conf"
run grep -E '^(mode|trigger_ok|enabled)' "$D/root/etc/netroot/agent.conf"

say "A network namespace '$ns' plays the Pi's network stack (IPv6 on, as the kernel boots)"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type veth peer name eth0-peer
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
echo "LED trigger: $(led)"
echo "IPv6:        $(v6)"

say "Start netrootd (stderr log below; under systemd it goes to the journal with MESSAGE_IDs)"
ip netns exec "$ns" "$BUILD/netrootd" --root "$D/root" --log-target stderr --no-mlock 2>"$D/netrootd.log" &
pid=$!
for _ in $(seq 50); do [ -s "$D/root/run/netroot/status.json" ] && break; sleep 0.1; done
sleep 0.2
sed 's/^/  | /' "$D/netrootd.log"
echo "LED trigger: $(led)"
echo "IPv6:        $(v6)"

say "netrootctl status"
run "$BUILD/netrootctl" --root "$D/root" status

say "Someone turns IPv6 back on: netrootd corrects it"
run ip netns exec "$ns" sysctl -w net.ipv6.conf.all.disable_ipv6=0
sleep 1
echo "IPv6:        $(v6)"
tail -n 1 "$D/netrootd.log" | sed 's/^/  | /'

say "A new interface appears: it gets the configured policy at once"
run ip -n "$ns" link add wlan0 type veth peer name wlan0-peer
sleep 0.5
echo "wlan0 disable_ipv6=$(ip netns exec "$ns" cat /proc/sys/net/ipv6/conf/wlan0/disable_ipv6)"

say "Reload (SIGHUP) with a bad trigger: refused, running config kept"
run sh -c "printf '[led]\\ntrigger_ok = disco\\n' >>$D/root/etc/netroot/agent.conf"
kill -HUP "$pid"; sleep 0.5
tail -n 1 "$D/netrootd.log" | sed 's/^/  | /'
echo "LED trigger: $(led)"

say "Stop (SIGTERM): the LED gets back the trigger it had"
kill "$pid"; wait "$pid"; echo "netrootd exit status $?"; pid=
tail -n 1 "$D/netrootd.log" | sed 's/^/  | /'
echo "LED trigger: $(led)"
run "$BUILD/netrootctl" --root "$D/root" status
exit 0
