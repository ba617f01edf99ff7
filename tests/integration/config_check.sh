#!/bin/bash
# netrootd --check-config and the command-line contract of both programs: exit codes 0/1/2,
# errors that name the file, the line and the allowed values.
. "$(dirname "$0")/../lib/common.sh"

S=$T/root
make_sandbox "$S"
C=$S/etc/netroot/agent.conf

check() { "$NETROOTD" --root "$S" --check-config 2>&1; }
out=$(check); rc=$?
assert_eq "$rc" 0 "valid sandbox config passes --check-config"
assert_contains "$out" "agent.conf: valid" "says valid"

expect_bad() { # content, line, needle, what
	printf '%b' "$1" >"$C"
	out=$(check); rc=$?
	assert_eq "$rc" 2 "$4: exit 2"
	assert_contains "$out" "$C:$2: " "$4: names file and line"
	assert_contains "$out" "$3" "$4: says what is allowed"
}
expect_bad '[agent]\nboot_dir=/boot\n[ipv6]\nmode=off\n' 4 "allowed: disable, enable, keep" "bad enum"
expect_bad '[iscsi]\nprobe_interval=fast\n' 2 "not a duration; allowed: a number with ms, s, m or h" "bad duration"
expect_bad '[leds]\nenabled=yes\n' 1 "unknown section [leds]" "unknown section"
expect_bad '[led]\ntrigger_ok=heartbeat\nblink=yes\n' 3 "allowed: enabled, device, trigger_ok" "unknown key"
long=$(printf 'x%.0s' $(seq 1 300))
expect_bad "[agent]\n; $long\n" 2 "at most 198 are allowed" "line over inih's limit"

# A trigger the kernel does not offer is a config error that lists what it offers.
printf '[led]\ntrigger_failed = fireworks\n' >"$C"
out=$(check); rc=$?
assert_eq "$rc" 2 "unknown LED trigger: exit 2"
assert_contains "$out" "[led] trigger_failed=fireworks: LED ACT does not offer this trigger; offered: none rc-feedback" \
	"unknown trigger names the offered ones"

# The daemon refuses to start on a bad config with the same message.
"$NETROOTD" --root "$S" --log-target stderr --no-mlock >"$T/start.log" 2>&1; rc=$?
assert_eq "$rc" 2 "netrootd exits 2 on a bad config"
assert_file_contains "$T/start.log" "trigger_failed=fireworks" "start-up error names the problem"

# A password readable by others: a warning, not an error; the password itself never printed.
printf '[iscsi]\nusername = pi\npassword = Sup3rS3cret\n' >"$C"
chmod 644 "$C"
out=$(check); rc=$?
assert_eq "$rc" 0 "readable password is a warning only"
assert_contains "$out" "readable by non-root users" "warns about the password's permissions"
assert_not_contains "$out" "Sup3rS3cret" "the password is not printed"
chmod 600 "$C"

# Missing file: defaults.
rm "$C"
out=$(check); rc=$?
assert_eq "$rc" 0 "no config file: defaults are valid"
assert_contains "$out" "built-in defaults" "says defaults are used"

# The shipped default config must itself be valid.
if [ -f "$TOP/etc/agent.conf" ]; then
	out=$("$NETROOTD" --root "$S" --config "$TOP/etc/agent.conf" --check-config 2>&1); rc=$?
	assert_eq "$rc" 0 "shipped etc/agent.conf is valid: $out"
fi

# Command line contract.
"$NETROOTD" --version | grep -q '^netrootd [0-9]' || fail "netrootd --version"
"$NETROOTCTL" --version | grep -q '^netrootctl [0-9]' || fail "netrootctl --version"
pass "--version"
"$NETROOTCTL" --help | grep -q "status" || fail "netrootctl --help lists status"
pass "--help"
"$NETROOTCTL" frobnicate >/dev/null 2>&1; assert_eq "$?" 2 "unknown command exits 2"
"$NETROOTCTL" >/dev/null 2>&1; assert_eq "$?" 2 "no command exits 2"
"$NETROOTD" --bogus >/dev/null 2>&1; assert_eq "$?" 2 "netrootd bad option exits 2"
"$NETROOTCTL" --root "$S" status >/dev/null 2>&1; assert_eq "$?" 1 "status exits 1 when not running"
t0=$(date +%s%N)
"$NETROOTCTL" --root "$S" status --wait 1s >/dev/null 2>&1; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "$rc" 1 "status --wait gives up with exit 1 when the daemon never reports OK"
[ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] || fail "status --wait 1s took $ms ms"
pass "status --wait 1s waited $ms ms"
"$NETROOTCTL" --root "$S" status --json | jq -e '.running == false' >/dev/null || fail "status --json when not running"
pass "status --json says running=false"
mkdir -p "$S/run/netroot"; echo '{"state": "OK", ' >"$S/run/netroot/status.json"
out=$("$NETROOTCTL" --root "$S" status 2>&1); rc=$?
assert_eq "$rc" 1 "corrupt status.json exits 1"
assert_contains "$out" "status.json: line 2: expected a member name" "corrupt status.json named with its line"
