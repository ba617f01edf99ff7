#!/bin/bash
# netrootd on a sandbox Pi tree (--root): LED triggers in the kernel's sysfs format, status.json,
# netrootctl status, SIGHUP reload (good and bad config), SIGTERM restores the LED.
# The sandbox has no /proc/sys/net/ipv6: the "no IPv6 in this kernel" case.
. "$(dirname "$0")/../lib/common.sh"

S=$T/root
make_sandbox "$S"
sed -i 's/mode = keep/mode = disable/' "$S/etc/netroot/agent.conf"
start_netrootd "$S"

assert_eq "$(status_field "$S" .state)" OK "state is OK before any iSCSI watch"
assert_eq "$(cat "$S/sys/class/leds/ACT/trigger")" heartbeat "LED shows trigger_ok"
assert_eq "$(status_field "$S" .led.device)" ACT "status names the LED"
assert_eq "$(status_field "$S" .led.original)" mmc0 "status remembers the trigger found at start"
assert_eq "$(status_field "$S" .ipv6.available)" false "no IPv6 in the sandbox kernel"
assert_eq "$(status_field "$S" .ipv6.error)" "" "absent IPv6 is not an error"
assert_eq "$(status_field "$S" .pid)" "$NETROOTD_PID" "status carries the daemon pid"
assert_file_contains "$S/etc/sysctl.d/90-netroot-ipv6.conf" "net.ipv6.conf.all.disable_ipv6 = 1" \
	"sysctl.d file written so early boot matches"
assert_file_contains "$T/netrootd.log" "/proc/sys/net/ipv6 absent" "absent IPv6 is logged"

out=$("$NETROOTCTL" --root "$S" status --wait 10s); rc=$?
assert_eq "$rc" 0 "netrootctl status (--wait, the boot-assessment unit's call) exits 0 when running and OK"
assert_contains "$out" "running (pid $NETROOTD_PID), state OK" "status says running"
assert_contains "$out" "trigger heartbeat (was mmc0 at start)" "status shows the LED"
"$NETROOTCTL" --root "$S" status --json | jq -e '.running == true and .state == "OK"' >/dev/null \
	|| fail "status --json"
pass "status --json is valid JSON with running=true"

# Reload with another trigger for OK: the LED follows, the original stays the one from start.
sed -i 's/^enabled = yes/enabled = yes\ntrigger_ok = default-on/' "$S/etc/netroot/agent.conf"
kill -HUP "$NETROOTD_PID"
wait_for 5 grep -q "configuration reloaded" "$T/netrootd.log" || fail "no reload message"
led_is() { [ "$(cat "$S/sys/class/leds/ACT/trigger")" = "$1" ]; }
wait_for 5 led_is default-on || fail "LED not updated"
pass "SIGHUP reload applies the new trigger"
assert_eq "$(status_field "$S" .led.original)" mmc0 "reload keeps the trigger found at start"

# A bad config on reload is reported and the running one kept.
cp "$S/etc/netroot/agent.conf" "$T/good.conf"
printf '[led]\ntrigger_ok = disco\n' >>"$S/etc/netroot/agent.conf"
kill -HUP "$NETROOTD_PID"
wait_for 5 grep -q "reload refused" "$T/netrootd.log" || fail "bad reload not reported"
assert_file_contains "$T/netrootd.log" "trigger_ok=disco: LED ACT does not offer this trigger; offered: none" \
	"bad trigger named with the offered ones"
kill -0 "$NETROOTD_PID" || fail "daemon died on a bad reload"
assert_eq "$(cat "$S/sys/class/leds/ACT/trigger")" default-on "old config kept after bad reload"
cp "$T/good.conf" "$S/etc/netroot/agent.conf"

# Stop: the LED gets back the trigger found at start and the process exits 0.
kill -TERM "$NETROOTD_PID"
wait "$NETROOTD_PID"; rc=$?
assert_eq "$rc" 0 "SIGTERM stops cleanly"
assert_eq "$(cat "$S/sys/class/leds/ACT/trigger")" mmc0 "LED restored on stop"
assert_file_contains "$T/netrootd.log" "stopping" "stop is logged"
out=$("$NETROOTCTL" --root "$S" status); rc=$?
assert_eq "$rc" 1 "status exits 1 when the daemon is gone"
assert_contains "$out" "NOT running" "status says the file is stale"

# No LED at all: reported in status, not an error.
rm -rf "$S/sys/class/leds/ACT"
start_netrootd "$S"
assert_eq "$(status_field "$S" .led.present)" false "missing LED reported in status"
assert_eq "$(status_field "$S" .state)" OK "missing LED is not a failure"
assert_file_contains "$T/netrootd.log" "no activity LED found" "missing LED logged"

# led0 (older kernels) is found when ACT is absent.
kill "$NETROOTD_PID"; wait "$NETROOTD_PID"
mkdir -p "$S/sys/class/leds/led0"
echo "none [mmc0] timer heartbeat default-on" >"$S/sys/class/leds/led0/trigger"
start_netrootd "$S"
assert_eq "$(status_field "$S" .led.device)" led0 "led0 found when ACT is absent"
assert_eq "$(cat "$S/sys/class/leds/led0/trigger")" default-on "led0 driven with trigger_ok"
