#!/bin/bash
# Regression: under apt, "before" is the generation apt-pre saved before dpkg ran, never what a
# hook left. raspi-firmware's z50 hook (stood in for here by a sed on config.txt) points
# config.txt at the new kernel's files before zz-netroot runs; when the guarded upgrade then
# fails, the boot folder must go back to apt-pre's state, and apt must not end in a CRITICAL.
# Before the fix the upgrade recorded the hook's initramfs name as "kernel_from", the rollback
# refused the saved initrd as not matching that kernel, and apt-post ended CRITICAL with the Pi
# set to boot a broken initramfs. Also: apt's PID in the marker is this machine's process, read
# from its own /proc under --root (before: "left by an apt run that is gone").
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
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }
boot_files() { (cd "$B" && find . -path ./.netroot -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }

before=$(boot_files)
cp "$B/config.txt" "$T/config.before"
ctl hook apt-pre --apt-pid $$ "linux-image-$KV:install" >"$T/pre" 2>&1 || fail "apt-pre: $(cat "$T/pre")"
assert_contains "$(cat "$T/pre")" "saved as generation 1" "apt-pre saved the boot folder"
# The stand-in for z50-raspi-firmware: config.txt now names an initramfs that will not boot.
sed -i "s/^initramfs .*/initramfs initrd.img-$KV-hook followkernel/" "$B/config.txt"
echo "not an initramfs" >"$B/initrd.img-$KV-hook"
echo "not an initramfs" >"$T/bad.img"
NETROOT_TEST_INITRD_FROM=$T/bad.img ctl hook kernel-postinst "$KV" "/boot/vmlinuz-$KV" >"$T/post" 2>&1
assert_eq "$?" 0 "kernel-postinst: the failed upgrade is handled, the kernel package configures"
assert_contains "$(cat "$T/post")" "kernel:          $KV -> $KV" \
	"the plan on the apt console: from apt-pre's kernel (before the fix: the hook's $KV-hook)"
assert_not_contains "$(cat "$T/post")" "CRITICAL" "no CRITICAL: the boot folder went back"
assert_contains "$(cat "$T/post")" "the Pi still boots its old kernel" "says the Pi boots what it booted before"
cmp -s "$B/config.txt" "$T/config.before" || fail "config.txt is not apt-pre's: $(diff "$T/config.before" "$B/config.txt")"
pass "config.txt is the one apt-pre saved"
assert_eq "$(ctl history --json | jq -r '.generations[] | select(.gen == 1) | .kernel_from')" "$KV" \
	"history: kernel_from is apt-pre's kernel, not the hook's name"
ctl hook apt-post >"$T/apt-post" 2>&1
assert_eq "$?" 0 "apt-post exits 0"
assert_contains "$(cat "$T/apt-post")" "boot folder checked after this apt run" "apt-post checked the boot folder (the marker was honoured)"
assert_not_contains "$(cat "$T/apt-post")" "left by an apt run that is gone" "apt's live PID is seen as alive"
rm -f "$B/initrd.img-$KV-hook"
[ "$(boot_files)" = "$before" ] || fail "boot files differ from before apt: $(diff <(echo "$before") <(boot_files))"
pass "every boot file (sha256) is as before the apt run"
echo "all hook before-state checks passed"
