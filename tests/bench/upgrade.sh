#!/bin/bash
# Upgrade overhead: wall time of `netrootctl upgrade` (backup, real mkinitramfs, check, switch,
# TFTP verification of config.txt and the 30 MB initrd, record) against a bare
# `update-initramfs -c -k VER` in the same chroot; median of RUNS (default 5) each, alternating so
# both see the same cache state. Goal: ratio <= 1.15. Also check-initrd on the real initrd
# (goal <= 1 s). Prints a table; a missed goal is reported, not fatal.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/tftp.sh
. "$TOP/tests/lib/tftp.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"

RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || skip "needs root"
why=$(tftp_check) || skip "$why"
on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
CHROOT_QUIET=1 chroot_ensure CH || fail "chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
mkdir -p "$T/tftp"
pi_sandbox_tftp "$CH" "$T/tftp" || fail "bind"
tftp_start "$T/tftp" >/dev/null || fail "tftpd"
pi_sandbox_conf "$CH" tftp "127.0.0.1:$TFTP_PORT"
pi_sandbox_conf "$CH" verify_tftp required
pi_sandbox_conf "$CH" keep 1

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
: >"$T/up" && : >"$T/bare" && : >"$T/chk"
for i in $(seq "$RUNS"); do
	t=$(now)
	chroot "$CH" update-initramfs -c -k "$KV" >/dev/null 2>&1 || fail "update-initramfs"
	awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }' >>"$T/bare"
	t=$(now)
	"$NETROOTCTL" --root "$CH" upgrade >/dev/null 2>"$T/err" || fail "upgrade: $(tail "$T/err")"
	awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }' >>"$T/up"
	# Generations would pile up a 30 MB initrd each: drop them between runs.
	rm -rf "$CH/boot/.netroot"
	t=$(now)
	"$NETROOTCTL" --root "$CH" check-initrd "/boot/initrd.img-$KV" >/dev/null || fail "check-initrd"
	awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }' >>"$T/chk"
done
up=$(median <"$T/up")
bare=$(median <"$T/bare")
chk=$(median <"$T/chk")
size=$(stat -c %s "$CH/boot/initrd.img-$KV")
ratio=$(awk -v a="$up" -v b="$bare" 'BEGIN { printf "%.3f", a / b }')
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "met" : "MISSED" }'; }
printf '%-44s %12s %10s %8s\n' "measure (median of $RUNS)" value goal verdict
printf '%-44s %11.2fs %10s %8s\n' "update-initramfs -c -k $KV" "$bare" - -
printf '%-44s %11.2fs %10s %8s\n' "netrootctl upgrade (incl. TFTP verify)" "$up" - -
printf '%-44s %12s %10s %8s\n' "ratio upgrade / update-initramfs" "$ratio" "<= 1.15" "$(verdict "$ratio" 1.15)"
printf '%-44s %11.2fs %10s %8s\n' "check-initrd, $((size / 1000000)) MB zstd initrd" "$chk" "<= 1 s" "$(verdict "$chk" 1)"
