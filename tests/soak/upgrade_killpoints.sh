#!/bin/bash
# The kill-point sweep of netrootctl upgrade (make soak): SIGKILLed right after each of its
# mutating calls in turn (tests/lib/kill_after_shim.c, LD_PRELOAD, a test tool), both switch
# kinds; then the next run that changes the boot folder (netrootctl confirm) must finish or roll
# back. 203 kill points on the Debian chroot (~17 min on 2 loaded cores). The per-step crash
# test (NETROOT_FAULT_STEP) stays in make check: tests/integration/upgrade_crash.sh.
# Checked at every point: right after the kill config.txt names the old or the new initrd, whole;
# after the recovery no leftover, no journal, and the boot is the old one or the complete new one.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/tftp.sh
. "$TOP/tests/lib/tftp.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for debootstrap, chroot and mount"
[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
why=$(tftp_check) || skip "$why"

on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
B=$CH/boot
mkdir -p "$T/tftp"
pi_sandbox_tftp "$CH" "$T/tftp" || fail "bind mount for TFTP"
tftp_start "$T/tftp" >/dev/null || fail "in.tftpd did not start"
pi_sandbox_conf "$CH" tftp "127.0.0.1:$TFTP_PORT"
pi_sandbox_conf "$CH" verify_tftp required
# The sandbox Pi booted a moment ago: the boot confirmation (the vehicle of the recovery below)
# leaves a pending boot undecided rather than judge it by this machine's uptime.
echo "5.00 5.00" >"$CH/proc/uptime"

# A valid initrd with other bytes than Debian's: an early cpio in front.
mkdir -p "$T/early/kernel/x86/microcode"
echo "not really microcode" >"$T/early/kernel/x86/microcode/GenuineIntel.bin"
(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$T/variant.img"
cat "$B/initrd.img-$KV" >>"$T/variant.img"

# The initrd config.txt names for this Pi, as a path in the sandbox.
booted() {
	"$NETROOTCTL" --root "$CH" bootcfg show --json | jq -r '.initramfs.files[0].file'
}
# At every instant, crash or not: config.txt names an initramfs that exists and passes the check.
invariant() { # WHAT
	local f
	f=$(booted)
	[ -f "$B/$f" ] || fail "$1: config.txt names $f, which does not exist"
	"$NETROOTCTL" --root "$CH" check-initrd "/boot/$f" >/dev/null ||
		fail "$1: config.txt names $f, which fails check-initrd"
	return 0
}
# After the next command that changes the boot folder: the journal is gone, and so is anything
# the dead run left.
recovered() { # WHAT
	ls "$B"/*.netroot-new "$B"/*.netroot-restore "$B"/.*.tmp 2>/dev/null && fail "$1: leftover files"
	ls -d "$B"/.netroot/gen-*.tmp 2>/dev/null && fail "$1: unfinished generation left"
	[ -e "$B/.netroot/transaction" ] && fail "$1: journal left behind"
	return 0
}
snap() { sha256sum "$B/config.txt" "$B/$(booted)" | awk '{print $1}' | tr '\n' ' '; }
tree() { find "$B" -type f -print0 | sort -z | xargs -0 sha256sum; }

ctl_pending() { "$NETROOTCTL" --root "$CH" history --json | jq -r .pending; }
# The step test's edit mode leaves this file; the sweep's edit mode names it.
cp "$B/initrd.img-$KV" "$B/initrd-old.img"
# --- Every mutating call: the upgrade SIGKILLed right after each write (coalesced per file),
# rename, link, unlink, mkdir and fsync it makes (kill_after_shim.so, LD_PRELOAD, a test tool),
# both switch kinds. TFTP is off here: the sweep is about the boot folder, not the network.
. "$TOP/tests/lib/kill_after.sh"
kill_after_build "$T" || fail "kill_after_shim does not compile"
pi_sandbox_conf "$CH" verify_tftp off
OLD_SHA=$(sha256sum <"$B/initrd.img-$KV" | cut -c1-64)
NEW_SHA=$(sha256sum <"$T/variant.img" | cut -c1-64)
booted_sha() { sha256sum <"$B/$(booted)" | cut -c1-64; }
total=0
for mode in rename edit; do
	case $mode in
	rename) sed -i "s/^initramfs .*/initramfs initrd.img-$KV followkernel/" "$B/config.txt" ;;
	edit) sed -i "s/^initramfs .*/initramfs initrd-old.img followkernel/" "$B/config.txt" ;;
	esac
	n=0 old_after=0 new_after=0
	t_mode=$(date +%s)
	while :; do
		n=$((n + 1))
		[ "$n" -le 600 ] || fail "$mode: the upgrade did not complete within 600 kill points"
		before=$(snap)
		KILL_AT=$n KILL_COALESCE_WRITES=1 LD_PRELOAD=$KILL_PRELOAD NETROOT_TEST_INITRD_FROM=$T/variant.img \
			"$NETROOTCTL" --root "$CH" upgrade >"$T/out" 2>"$T/err"
		rc=$?
		if [ $rc != 137 ]; then
			[ $rc = 0 ] || fail "$mode: the uninterrupted upgrade exited $rc: $(cat "$T/err")"
			[ "$(booted_sha)" = "$NEW_SHA" ] || fail "$mode: the completed upgrade boots other bytes"
			"$NETROOTCTL" --root "$CH" rollback >/dev/null 2>&1 || fail "$mode: rollback after the sweep"
			break
		fi
		# Right after the kill: config.txt names a file that is the old or the new initrd, whole.
		f=$(booted)
		[ -f "$B/$f" ] || fail "$mode, kill point $n: config.txt names $f, which does not exist"
		case $(booted_sha) in
		"$OLD_SHA" | "$NEW_SHA") ;;
		*) fail "$mode, kill point $n: config.txt names $f, which is neither the old nor the new initrd" ;;
		esac
		"$NETROOTCTL" --root "$CH" confirm >"$T/cout" 2>"$T/cerr" ||
			fail "$mode, kill point $n: confirm after the kill: $(cat "$T/cout" "$T/cerr")"
		recovered "$mode, kill point $n"
		if [ "$(snap)" = "$before" ]; then
			old_after=$((old_after + 1))
		else
			# Killed after the record was complete: the new boot, pending; back for the next point.
			[ "$(booted_sha)" = "$NEW_SHA" ] || fail "$mode, kill point $n: neither the old boot nor the new"
			[ "$(ctl_pending)" != null ] || fail "$mode, kill point $n: the new boot is not pending"
			new_after=$((new_after + 1))
			"$NETROOTCTL" --root "$CH" rollback >/dev/null 2>&1 || fail "$mode, kill point $n: rollback"
			recovered "$mode, kill point $n, rollback"
		fi
		[ "$(booted_sha)" = "$OLD_SHA" ] || fail "$mode, kill point $n: not back on the old initrd"
	done
	points=$((n - 1))
	total=$((total + points))
	invariant "$mode sweep"
	pass "$mode: upgrade killed after each of its $points mutating calls ($(($(date +%s) - t_mode)) s): every next run left the old boot ($old_after) or the whole new one ($new_after); no leftover, no journal"
done
echo "  measured: $total kill points covered (both switch kinds)"
echo "all kill-point checks passed"
