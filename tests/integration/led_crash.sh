#!/bin/bash
# The LED after a crash: netrootd killed with SIGKILL leaves its own trigger on the LED; the
# netrootd started next (systemd's Restart=on-failure) must still give back the trigger the LED
# had before netrootd first took it (kept in /run/netroot/led-original), not take its own
# heartbeat for the original. FAKE LED (tests/lib/common.sh: a trigger file in the kernel's
# format; led_kernel_view makes it read back the way the kernel would after a write).
. "$(dirname "$0")/../lib/common.sh"

S=$T/root
make_sandbox "$S"
led() { cat "$S/sys/class/leds/ACT/trigger"; }
led_is() { [ "$(led)" = "$1" ] || [[ $(led) == *"[$1]"* ]]; }
SAVED=$S/run/netroot/led-original

crash_and_restart() { # WHAT
	start_netrootd "$S"
	wait_for 5 led_is heartbeat || fail "$1: LED not heartbeat: $(led)"
	kill -KILL "$NETROOTD_PID"
	wait "$NETROOTD_PID" 2>/dev/null
	led_kernel_view "$S"
	assert_contains "$(led)" "[heartbeat]" "$1: killed, the LED keeps netrootd's trigger"
	rm -f "$S/run/netroot/status.json"
}

crash_and_restart "first crash"
[ -f "$SAVED" ] && pass "the original trigger is kept in /run: $(cat "$SAVED")"
crash_and_restart "second crash in a row"
start_netrootd "$S"
wait_for 5 led_is heartbeat || fail "third start: LED not heartbeat"
assert_eq "$(status_field "$S" .led.original)" mmc0 "status.json: original trigger mmc0, not heartbeat"
kill -TERM "$NETROOTD_PID"
wait "$NETROOTD_PID"
assert_eq "$?" 0 "clean stop"
assert_eq "$(led)" mmc0 "after two crashes and a clean stop the LED is back to mmc0"
[ ! -e "$SAVED" ] || fail "$SAVED left after a clean stop"
pass "led-original removed after the clean stop"

# A clean stop forgot it: the next start takes what the LED shows then.
led_kernel_view "$S"
sed -i 's/\[mmc0\]/mmc0/; s/ timer / [timer] /' "$S/sys/class/leds/ACT/trigger"
start_netrootd "$S"
assert_eq "$(status_field "$S" .led.original)" timer "after a clean stop the next start takes the LED's trigger of then"
kill -TERM "$NETROOTD_PID"
wait "$NETROOTD_PID"
assert_eq "$(led)" timer "and gives that back"
