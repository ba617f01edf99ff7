#!/bin/bash
# The boot confirmation (netrootctl confirm, netroot-confirm.service) on a real Debian tree (the
# cached chroot as a netbooted Pi), with a real netrootd reporting the health it judges by:
#   1. the new kernel runs with a healthy root: good after confirm_after, not before;
#   2. another kernel came up: bad at once, the boot folder back to the generation saved before
#      the upgrade, the reason naming both kernels;
#   3. the root never gets healthy within confirm_timeout of the boot: bad and rolled back;
#   4. an upgrade killed half-way: rolled back by the confirmation at the next boot;
#   5. netrootd itself never writes the boot folder, pending generation or not.
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
# A different but valid initrd (an early-cpio piece in front), so an upgrade changes a boot file.
mkdir -p "$T/early/kernel"
(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$T/variant.img"
cat "$T/debian.img" >>"$T/variant.img"
printf '[upgrade]\nconfirm_after = 2s\nkeep = 1\n[boot]\nconfirm_timeout = 10s\n' \
	>>"$CH/etc/netroot/agent.conf"
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }
gen_status() { ctl history --json | jq -r ".generations[] | select(.gen == $1) | .status"; }
gen_field() { ctl history --json | jq -r ".generations[] | select(.gen == $1) | .$2"; }
uptime_is() { echo "$1 $1" >"$CH/proc/uptime"; }
tree() { find "$B" -type f -print0 | sort -z | xargs -0 sha256sum; }
# The boot files themselves, without the agent's own store.
boot_files() { (cd "$B" && find . -path ./.netroot -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }
daemon() {
	"$NETROOTD" --root "$CH" --log-target stderr --no-mlock >>"$T/netrootd.log" 2>&1 &
	PID=$!
	track_pid "$PID"
	wait_for 10 test -s "$CH/run/netroot/status.json" ||
		fail "netrootd did not start: $(cat "$T/netrootd.log")"
}
stop_daemon() { kill "$PID"; wait "$PID" 2>/dev/null; rm -f "$CH/run/netroot/status.json"; }
upgrade() { NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>&1 || fail "upgrade: $(cat "$T/out")"; }

uptime_is 1
daemon
state=$(jq -r .state "$CH/run/netroot/status.json")
[ "$state" = OK ] || fail "the sandbox's netrootd reports $state, not OK: $(cat "$T/netrootd.log")"

# 1. Upgrade, then the new kernel runs with a healthy root.
before_upgrade=$(tree)
upgrade
g1=$(ctl history --json | jq -r .pending)
[ "$g1" != null ] && [ -n "$g1" ] || fail "no pending generation after upgrade"
assert_eq "$(gen_status "$g1")" pending "generation $g1 pending after the upgrade"
# netrootd only reports health: over 3 s with a pending generation the boot folder stays as it is.
t0=$(tree)
sleep 3
[ "$(tree)" = "$t0" ] || fail "netrootd wrote into the boot folder"
pass "netrootd never writes the boot folder (3 s with a pending generation)"
ctl confirm >"$T/c" 2>&1 || fail "confirm without --wait: $(cat "$T/c")"
assert_contains "$(cat "$T/c")" "undecided" "confirm without --wait: undecided before confirm_after"
assert_eq "$(gen_status "$g1")" pending "not confirmed before confirm_after of healthy root"
s0=$(date +%s.%N)
ctl confirm --wait >"$T/c" 2>&1 || fail "confirm --wait: $(cat "$T/c")"
secs=$(awk -v a="$s0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
assert_eq "$(gen_status "$g1")" good "generation $g1 confirmed good"
awk -v s="$secs" 'BEGIN { exit !(s >= 1.9 && s < 6) }' || fail "confirmed after $secs s, not ~2 s"
pass "confirmed after $secs s of healthy root (confirm_after = 2s)"
assert_contains "$(cat "$T/c")" "good: kernel $KV ran with a healthy root for 2 s" "the reason names the kernel"
assert_eq "$(ctl history --json | jq -r .pending)" null "nothing pending after the confirmation"

# 2. Another upgrade, but the Pi comes up on another kernel: bad at once, rolled back.
before=$(tree)
upgrade
g2=$(ctl history --json | jq -r .pending)
echo "6.1.0-0-old-amd64" >"$CH/proc/sys/kernel/osrelease"
ctl confirm --wait >"$T/c" 2>&1
assert_eq "$?" 1 "confirm exits 1 for a bad boot"
assert_eq "$(gen_status "$g2")" bad "generation $g2 marked bad when another kernel booted"
assert_contains "$(cat "$T/c")" "booted kernel 6.1.0-0-old-amd64 instead of the pending $KV" \
	"the reason names both kernels"
assert_contains "$(cat "$T/c")" "the boot folder is back to generation $g2's saved state (kernel $(gen_field "$g2" kernel_from))" \
	"says it rolled back, naming the kernel it went back to (what booted before, not the rejected one)"
echo "$KV" >"$CH/proc/sys/kernel/osrelease"
cmp -s "$B/config.txt" <(tar -xOf /dev/null 2>/dev/null; cat "$B/.netroot/gen-$g2/boot/config.txt") ||
	fail "config.txt is not generation $g2's copy"
pass "config.txt is the one saved before the upgrade"
# An admin (or the Ansible role) rolling back to it again keeps the verdict and its cause.
ctl rollback --to "$g2" >"$T/rb" 2>&1 || fail "rollback to the bad generation: $(cat "$T/rb")"
assert_eq "$(gen_status "$g2")" bad "generation $g2 still bad after another rollback to it"
assert_contains "$(ctl history --json | jq -r ".generations[] | select(.gen == $g2) | .reason")" \
	"booted kernel 6.1.0-0-old-amd64" "its reason still names the kernel that came up"
n_good=$(ctl history --json | jq '[.generations[] | select(.status == "good")] | length')
[ "$n_good" -le 1 ] || fail "$n_good good generations kept with keep=1"
pass "pruning keeps at most keep=1 good generations"

# 3. The root never gets healthy: no netrootd, and the boot is older than confirm_timeout.
stop_daemon
files_before=$(boot_files)
NETROOT_TEST_INITRD_FROM="$T/variant.img" ctl upgrade >"$T/out" 2>&1 || fail "upgrade: $(cat "$T/out")"
g3=$(ctl history --json | jq -r .pending)
[ "$(boot_files)" != "$files_before" ] || fail "the upgrade changed no boot file (test premise)"
uptime_is 4
ctl confirm >"$T/c" 2>&1 || fail "confirm before the timeout: $(cat "$T/c")"
assert_eq "$(gen_status "$g3")" pending "still pending 4 s after the boot (timeout 10 s)"
uptime_is 11
ctl confirm --wait >"$T/c" 2>&1
assert_eq "$?" 1 "confirm exits 1 when the root was not healthy in time"
assert_eq "$(gen_status "$g3")" bad "generation $g3 marked bad after confirm_timeout"
assert_contains "$(cat "$T/c")" "no healthy root for 2 s within 10 s of the boot" "the reason names the timeout"
assert_contains "$(cat "$T/c")" "netrootd says unknown" "the reason says what netrootd said"
[ "$(boot_files)" = "$files_before" ] || fail "the boot files are not those before the upgrade: $(diff <(echo "$files_before") <(boot_files))"
pass "the boot folder went back to generation $g3's saved state (sha256 of every boot file)"
uptime_is 1

# 4. An upgrade killed right after the switch: the next boot's confirmation rolls it back.
NETROOT_FAULT_STEP=switch NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>&1
assert_eq "$?" 137 "upgrade killed by the fault hook after the switch"
[ -e "$B/.netroot/transaction" ] || fail "no transaction journal left by the killed upgrade"
ctl confirm >"$T/c" 2>&1 || fail "confirm: $(cat "$T/c")"
[ -e "$B/.netroot/transaction" ] && fail "the confirmation did not recover the journal"
pass "the boot confirmation rolled back the interrupted transaction"
assert_contains "$(cat "$T/c")" "was rolled back" "recovery reported"
initrd=$(sed -n 's/^initramfs \([^ ]*\) .*/\1/p' "$B/config.txt" | tail -1)
[ -s "$B/$initrd" ] || fail "config.txt names a missing initrd $initrd"
ctl check-initrd "/boot/$initrd" --kernel "$KV" >/dev/null || fail "config.txt's initrd fails the check"
pass "invariant: config.txt names $initrd, which exists and passes check-initrd"
