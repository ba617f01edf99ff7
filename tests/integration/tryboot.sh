#!/bin/bash
# trial_boot=tryboot on a real Debian tree (the cached chroot as a netbooting Pi 3, real tftpd-hpa
# serving its boot folder as <serial>/): the upgrade leaves config.txt byte for byte alone and
# puts the new initramfs, under a name of its own, into tryboot.txt; the boot confirmation
# (netrootctl confirm, with a real netrootd reporting a healthy root) then promotes tryboot.txt to
# config.txt only when the firmware says it booted with the tryboot flag
# (/proc/device-tree/chosen/bootloader/tryboot = 1), rejects the trial when it says 0 and
# leaves everything alone when the firmware does not say. A crash after the switch and the
# auto_initramfs (bookworm) layout are covered too. The build step copies a prepared initrd
# (NETROOT_TEST_INITRD_FROM): this test is not about mkinitramfs.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/tftp.sh
. "$TOP/tests/lib/tftp.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot and the TFTP bind mount"
{ [ -x "$NETROOTCTL" ] && [ -x "$NETROOTD" ]; } || fail "not built (make)"
why=$(tftp_check) || skip "$why"
for tool in jq sha256sum diff; do
	command -v "$tool" >/dev/null || fail "$tool missing (make deps)"
done

on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
B=$CH/boot
FLAG=$CH/proc/device-tree/chosen/bootloader/tryboot
cp "$B/initrd.img-$KV" "$T/debian.img"
mkdir -p "$T/tftp"
pi_sandbox_tftp "$CH" "$T/tftp" || fail "bind mount for TFTP"
tftp_start "$T/tftp" >/dev/null || fail "in.tftpd did not start"
pi_sandbox_conf "$CH" tftp "127.0.0.1:$TFTP_PORT"
pi_sandbox_conf "$CH" verify_tftp required
pi_sandbox_conf "$CH" trial_boot tryboot
pi_sandbox_conf "$CH" confirm_after 2s
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
gen_status() { ctl history --json | jq -r ".generations[] | select(.gen == $1) | .status"; }
gen_is() { [ "$(gen_status "$1")" = "$2" ]; }
flag() { # 0|1|none: what the firmware says about this boot
	rm -f "$FLAG"
	[ "$1" = none ] && return
	mkdir -p "$(dirname "$FLAG")"
	case $1 in
	1) printf '\0\0\0\1' >"$FLAG" ;;
	0) printf '\0\0\0\0' >"$FLAG" ;;
	esac
}
daemon() {
	: >"$T/netrootd.log"
	"$NETROOTD" --root "$CH" --log-target stderr --no-mlock >>"$T/netrootd.log" 2>&1 &
	PID=$!
	track_pid "$PID"
	wait_for 10 test -s "$CH/run/netroot/status.json" ||
		fail "netrootd did not start: $(cat "$T/netrootd.log")"
}
stop_daemon() { kill "$PID"; wait "$PID" 2>/dev/null; rm -f "$CH/run/netroot/status.json"; }
# The boot's decision, as netroot-confirm.service runs it (no reboot in a test); C holds its output.
confirm() { ctl confirm --wait --no-reboot >"$T/c" 2>&1; }
upgrade() { # WHAT: a trial upgrade that must succeed; sets G (its generation)
	NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>"$T/err" ||
		fail "$1: upgrade failed: $(cat "$T/out" "$T/err")"
	G=$(ctl history --json | jq -r .pending)
	{ [ -n "$G" ] && [ "$G" != null ]; } || fail "$1: no pending generation"
}

# --- 1. the trial upgrade: config.txt untouched, tryboot.txt names the new initrd ---
cfg0=$(sha "$B/config.txt")
cp "$B/config.txt" "$T/config.0"
upgrade "trial upgrade"
assert_eq "$(sha "$B/config.txt")" "$cfg0" "config.txt byte-identical after the trial upgrade (sha256)"
[ -f "$B/tryboot.txt" ] || fail "no tryboot.txt written"
NEW="initrd.img-$KV.netroot-g$G"
diff "$B/config.txt" "$B/tryboot.txt" >"$T/diff"
assert_eq "$(grep -c '^[<>]' "$T/diff")" 2 "tryboot.txt differs from config.txt in one line only"
assert_eq "$(grep '^>' "$T/diff")" "> initramfs $NEW followkernel" "that line is the initramfs line, naming $NEW"
assert_eq "$(grep '^<' "$T/diff")" "< initramfs initrd.img-$KV followkernel" "and it replaces the old initramfs line"
[ -s "$B/$NEW" ] || fail "the trial initrd $NEW is missing"
cmp -s "$B/initrd.img-$KV" "$T/debian.img" || fail "the initrd config.txt boots was touched"
ctl check-initrd "/boot/$NEW" --kernel "$KV" >"$T/ci" 2>&1 || fail "$NEW fails check-initrd: $(cat "$T/ci")"
pass "the trial initrd $NEW exists and passes check-initrd; the old one is untouched"
assert_contains "$(cat "$T/err")" "tftp://127.0.0.1:$TFTP_PORT/$PI_SERIAL/tryboot.txt" "TFTP fetched tryboot.txt"
assert_contains "$(grep "tryboot.txt" "$T/err" | grep tftp://)" "sha256 matches" "TFTP verified tryboot.txt"
assert_contains "$(grep "$NEW:" "$T/err")" "sha256 matches" "TFTP verified the new initrd"
assert_contains "$(cat "$T/out")" "sudo reboot '0 tryboot'" "tells the admin how to boot the trial"
assert_contains "$(cat "$T/out")" "falls back to the old boot" "says a plain reset falls back"
grep -qx 'trial=tryboot' "$B/.netroot/gen-$G/record" || fail "record lacks trial=tryboot"
assert_eq "$(gen_status "$G")" pending "generation $G pending"
cp "$B/tryboot.txt" "$T/tryboot.1"

# --- 2. the firmware booted tryboot.txt (flag 1): confirmed and promoted ---
flag 1
daemon
confirm || fail "confirm: $(cat "$T/c")"
gen_is "$G" good || fail "generation $G not confirmed: $(cat "$T/c")"
pass "generation $G confirmed good after 2 s with the tryboot flag set"
assert_eq "$(sha "$B/config.txt")" "$(sha "$T/tryboot.1")" "config.txt now equals the former tryboot.txt"
[ -e "$B/tryboot.txt" ] && fail "tryboot.txt left after the promotion"
pass "tryboot.txt removed after the promotion"
assert_file_contains "$T/c" "generation $G (kernel $KV): good" "confirmation said"
assert_file_contains "$T/c" "tryboot.txt promoted to config.txt" "promotion said"
stop_daemon

# --- 3. the firmware booted config.txt (flag 0): the trial failed ---
upgrade "second trial upgrade"
assert_eq "$(ctl history --json | jq -r ".generations[] | select(.gen == $G) | .kernel_from")" "$KV" \
	"after a promotion the trial initrd name still yields the kernel version"
cfg1=$(sha "$B/config.txt")
[ -f "$B/tryboot.txt" ] || fail "no tryboot.txt for generation $G"
flag 0
daemon
confirm
assert_eq "$?" 1 "confirm exits 1 for the failed trial"
gen_is "$G" bad || fail "generation $G not marked bad: $(cat "$T/c")"
pass "generation $G marked bad when the firmware booted config.txt"
assert_file_contains "$T/c" "the firmware booted config.txt, not tryboot.txt" "the reason is said"
assert_contains "$(ctl history --json | jq -r ".generations[] | select(.gen == $G) | .reason")" \
	"not tryboot.txt (trial failed or not requested)" "history carries the reason"
[ -e "$B/tryboot.txt" ] && fail "tryboot.txt of the failed trial left behind"
pass "tryboot.txt of the failed trial removed"
assert_eq "$(sha "$B/config.txt")" "$cfg1" "config.txt unchanged by the failed trial"
stop_daemon

# --- 4. the firmware does not say (no indicator): unconfirmed, nothing changed ---
upgrade "third trial upgrade"
cp "$B/tryboot.txt" "$T/tryboot.3"
flag none
daemon
confirm
gen_is "$G" unconfirmed || fail "generation $G not unconfirmed: $(cat "$T/c")"
pass "generation $G unconfirmed without the firmware's tryboot indicator"
assert_file_contains "$T/c" "tryboot could not be confirmed on this firmware" "warning said"
assert_eq "$(sha "$B/config.txt")" "$cfg1" "config.txt unchanged when unconfirmed"
cmp -s "$B/tryboot.txt" "$T/tryboot.3" || fail "tryboot.txt changed or removed when unconfirmed"
pass "tryboot.txt kept when unconfirmed"
ctl history >"$T/hist" || fail "history failed"
assert_contains "$(grep "^$G " "$T/hist")" "unconfirmed" "netrootctl history shows unconfirmed"
stop_daemon
# An unconfirmed trial is undone by netrootctl rollback: tryboot.txt goes, config.txt stays.
ctl rollback >"$T/out" 2>&1 || fail "rollback of the unconfirmed trial: $(cat "$T/out")"
[ -e "$B/tryboot.txt" ] && fail "rollback left tryboot.txt"
assert_eq "$(sha "$B/config.txt")" "$cfg1" "rollback of the trial keeps config.txt"
assert_eq "$(gen_status "$G")" rolled-back "rolled-back generation $G"

# --- 5. a trial upgrade killed right after the switch: the next boot's confirmation rolls it back ---
cfg2=$(sha "$B/config.txt")
NETROOT_FAULT_STEP=switch NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>&1
assert_eq "$?" 137 "trial upgrade killed after the switch"
[ -e "$B/.netroot/transaction" ] || fail "no journal after the kill"
[ -f "$B/tryboot.txt" ] || fail "the killed upgrade had not written tryboot.txt (test premise)"
grep -qx 'tryboot_touched=1' "$B/.netroot/transaction" || fail "journal lacks tryboot_touched=1"
kg=$(sed -n 's/^gen=//p' "$B/.netroot/transaction")
ctl history >"$T/out" 2>&1
[ -e "$B/.netroot/transaction" ] || fail "history (read-only) removed the journal"
ctl confirm >"$T/out" 2>&1 || fail "confirm after the crash: $(cat "$T/out")"
[ -e "$B/.netroot/transaction" ] && fail "the confirmation did not roll the transaction back"
[ -e "$B/tryboot.txt" ] && fail "tryboot.txt left after the crash rollback"
[ -e "$B/initrd.img-$KV.netroot-g$kg" ] && fail "trial initrd left after the crash rollback"
assert_eq "$(sha "$B/config.txt")" "$cfg2" "config.txt unchanged through the crash and its rollback"
assert_eq "$(gen_status "$kg")" rolled-back "crashed generation $kg rolled back"

# --- 6. bookworm's auto_initramfs: refused before any change ---
cp "$B/vmlinuz-$KV" "$B/kernel7.img"
cp "$T/debian.img" "$B/initramfs7"
printf '# bookworm layout\nauto_initramfs=1\n[all]\n' >"$B/config.txt"
snap() { (cd "$B" && find . -type f | sort | xargs sha256sum); }
before=$(snap)
NETROOT_TEST_INITRD_FROM="$T/debian.img" ctl upgrade >"$T/out" 2>"$T/err"
assert_eq "$?" 1 "auto_initramfs with trial_boot=tryboot: refused"
assert_contains "$(cat "$T/out" "$T/err")" "trial_boot=tryboot needs an initramfs line" "names the reason"
assert_contains "$(cat "$T/out" "$T/err")" "Fix: set trial_boot = none" "names the fix"
assert_eq "$(snap)" "$before" "nothing in the boot folder changed"
echo "all tryboot integration checks passed"
