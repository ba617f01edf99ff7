#!/bin/bash
# Crash safety of netrootctl upgrade: the process SIGKILLs itself right after each step in turn
# (NETROOT_FAULT_STEP, a documented test hook), then the next netrootctl run (history) must find
# the journal and roll back. Checked after every crash: config.txt names an initrd that exists
# and passes check-initrd; before the record step finished, config.txt and that initrd are byte
# for byte the old ones; no .netroot-new, no journal; the generation says rolled-back.
# Both switch kinds: rename onto the file config.txt names, and an edit of config.txt.
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

for mode in rename edit; do
	if [ $mode = edit ]; then
		cp "$B/initrd.img-$KV" "$B/initrd-old.img"
		sed -i "s/^initramfs .*/initramfs initrd-old.img followkernel/" "$B/config.txt"
	fi
	for step in plan preflight backup build check switch tftp record; do
		before=$(snap)
		NETROOT_TEST_INITRD_FROM=$T/variant.img NETROOT_FAULT_STEP=$step \
			"$NETROOTCTL" --root "$CH" upgrade >"$T/out" 2>"$T/err"
		rc=$?
		[ $rc = 137 ] || fail "$mode/$step: expected death by SIGKILL (137), got $rc: $(cat "$T/err")"
		invariant "$mode/$step (right after the crash)"
		# history only reads: it names the interrupted run and changes nothing.
		t0=$(tree)
		"$NETROOTCTL" --root "$CH" history >"$T/hist" 2>"$T/herr" ||
			fail "$mode/$step: history after the crash: $(cat "$T/herr")"
		[ "$(tree)" = "$t0" ] || fail "$mode/$step: history changed the boot folder"
		case $step in
		plan | preflight | record) ;;
		*) grep -q "^transaction interrupted: upgrade to" "$T/hist" ||
			fail "$mode/$step: history does not name the interrupted run: $(cat "$T/hist")" ;;
		esac
		# The next run that changes the boot folder (the boot confirmation here) rolls it back.
		"$NETROOTCTL" --root "$CH" confirm >"$T/cout" 2>"$T/cerr" ||
			fail "$mode/$step: confirm after the crash: $(cat "$T/cout" "$T/cerr")"
		"$NETROOTCTL" --root "$CH" history >"$T/hist" 2>"$T/herr" || fail "$mode/$step: history"
		invariant "$mode/$step"
		recovered "$mode/$step"
		if [ $step = record ]; then
			# The transaction was complete: the new initrd stays, pending.
			cmp -s "$B/$(booted)" "$T/variant.img" || fail "$mode/record: new initrd not in place"
			grep -q pending "$T/hist" || fail "$mode/record: not pending: $(cat "$T/hist")"
			pass "$mode/$step: completed upgrade kept, invariant holds"
			# Back to the old boot for the next mode.
			"$NETROOTCTL" --root "$CH" rollback >/dev/null 2>&1 || fail "$mode: rollback"
			invariant "$mode/rollback"
			recovered "$mode/rollback"
			continue
		fi
		[ "$(snap)" = "$before" ] || fail "$mode/$step: the old boot changed"
		case $step in
		plan | preflight) [ -e "$B/.netroot/transaction" ] && fail "journal before any change" ;;
		*)
			grep -q "interrupted at step" "$T/hist" ||
				fail "$mode/$step: history shows no recovered generation: $(cat "$T/hist")"
			grep -q "rolled back" "$T/cout" || fail "$mode/$step: recovery not reported: $(cat "$T/cout")"
			;;
		esac
		pass "$mode/$step: recovered, old boot intact, invariant holds"
	done
done

# Every mutating syscall of the upgrade: tests/soak/upgrade_killpoints.sh (make soak).
echo "all crash checks passed"
