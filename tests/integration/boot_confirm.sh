#!/bin/bash
# netrootd's side of the guarded upgrade on a real Debian tree (the cached chroot as a netbooted
# Pi): a pending generation is confirmed good after confirm_after of healthy root when the new
# kernel runs, marked bad at once when another kernel booted, and an upgrade killed half-way is
# rolled back when netrootd starts.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/chroot.sh"
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot"
on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
B=$CH/boot
cp "$B/initrd.img-$KV" "$T/debian.img"
printf '[upgrade]\nconfirm_after = 2s\nkeep = 1\n' >>"$CH/etc/netroot/agent.conf"
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }
gen_status() { ctl history --json | jq -r ".generations[] | select(.gen == $1) | .status"; }
gen_is() { [ "$(gen_status "$1")" = "$2" ]; }
outcome_set() { [ -n "$(jq -r .boot.outcome "$CH/run/netroot/status.json")" ]; }
daemon() {
	"$NETROOTD" --root "$CH" --log-target stderr --no-mlock >>"$T/netrootd.log" 2>&1 &
	PID=$!
	track_pid "$PID"
}

# 1. Upgrade, then the new kernel boots with a healthy root: confirmed good after 2 s.
NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>&1 || fail "upgrade: $(cat "$T/out")"
g1=$(ctl history --json | jq -r .pending)
[ "$g1" != null ] && [ -n "$g1" ] || fail "no pending generation after upgrade"
assert_eq "$(gen_status "$g1")" pending "generation $g1 pending after the upgrade"
daemon
wait_for 10 test -s "$CH/run/netroot/status.json" || fail "netrootd did not start: $(cat "$T/netrootd.log")"
assert_eq "$(jq -r .boot.pending "$CH/run/netroot/status.json")" true "status shows the boot on trial"
sleep 1
assert_eq "$(gen_status "$g1")" pending "not confirmed before confirm_after"
wait_for 5 gen_is "$g1" good || fail "generation $g1 not confirmed: $(cat "$T/netrootd.log")"
pass "generation $g1 confirmed good after 2 s of healthy root"
assert_file_contains "$T/netrootd.log" "confirmed good" "confirmation logged (MSGID_BOOT_CONFIRMED)"
wait_for 5 outcome_set || fail "status has no outcome"
pass "status.json carries the outcome"
kill "$PID"; wait "$PID"

# 2. Another upgrade, but the Pi comes up on another kernel: marked bad at once, with the reason.
NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>&1 || fail "second upgrade: $(cat "$T/out")"
g2=$(ctl history --json | jq -r .pending)
echo "6.1.0-0-old-amd64" >"$CH/proc/sys/kernel/osrelease"
daemon
wait_for 5 gen_is "$g2" bad || fail "generation $g2 not marked bad: $(cat "$T/netrootd.log")"
pass "generation $g2 marked bad when another kernel booted"
assert_file_contains "$T/netrootd.log" "booted kernel 6.1.0-0-old-amd64 instead of the pending $KV" \
	"the reason names both kernels"
kill "$PID"; wait "$PID"
echo "$KV" >"$CH/proc/sys/kernel/osrelease"
# keep=1: the older good generation was pruned when g1 was confirmed? Only good ones beyond keep.
n_good=$(ctl history --json | jq '[.generations[] | select(.status == "good")] | length')
[ "$n_good" -le 1 ] || fail "$n_good good generations kept with keep=1"
pass "pruning keeps at most keep=1 good generations"

# 3. An upgrade killed right after the switch: netrootd's start rolls it back.
cfg_before=$(sha256sum <"$B/config.txt")
NETROOT_FAULT_STEP=switch NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>&1
rc=$?
assert_eq "$rc" 137 "upgrade killed by the fault hook after the switch"
[ -e "$B/.netroot/transaction" ] || fail "no transaction journal left by the killed upgrade"
daemon
wait_for 10 test ! -e "$B/.netroot/transaction" || fail "netrootd did not recover: $(cat "$T/netrootd.log")"
pass "netrootd rolled back the interrupted transaction at start"
assert_file_contains "$T/netrootd.log" "rolled back" "recovery logged"
initrd=$(sed -n 's/^initramfs \([^ ]*\) .*/\1/p' "$B/config.txt" | tail -1)
[ -s "$B/$initrd" ] || fail "config.txt names a missing initrd $initrd"
ctl check-initrd "/boot/$initrd" --kernel "$KV" >/dev/null || fail "config.txt's initrd fails the check"
pass "invariant: config.txt names $initrd, which exists and passes check-initrd"
