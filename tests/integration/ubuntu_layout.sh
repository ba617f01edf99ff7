#!/bin/bash
# Ubuntu's layout (kernel=vmlinuz or vmlinux, unversioned, which Ubuntu's flash-kernel overwrites
# on every kernel install, often set in an included usercfg.txt) is not one netroot-agent guards:
# the agent says so ONCE per apt run (apt-pre), with the reason, and never ends a kernel apt run
# in a false "CRITICAL: not bootable" or a non-zero exit; `netrootctl upgrade` refuses with the
# reason before any change; `hook check` says it does not judge the layout. Before: every apt
# run's apt-post ended "CRITICAL: the boot folder is not bootable" (exit 1, Post-Invoke fails).
# The Pi is the cached Debian chroot made into a sandbox Pi (tests/lib/pi_sandbox.sh) with the
# boot folder rewritten to Ubuntu's real config.txt files (../shared/reference/realworld, 09 and 32).
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/chroot.sh"
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot"
RW=$TOP/../shared/reference/realworld
[ -f "$RW/09-ubuntu-jammy-armhf-config.txt" ] || skip "the real-world boot files are not at $RW"
on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
B=$CH/boot
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }
boot_files() { (cd "$B" && find . -path ./.netroot -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }

run_layout() { # NAME: apt-pre, kernel-postinst, apt-post, hook check, upgrade on the layout in $B
	local name=$1 before out
	before=$(boot_files)
	ctl hook apt-pre --apt-pid $$ "linux-image-$KV:install" >"$T/pre" 2>&1
	assert_eq "$?" 0 "$name: apt-pre exits 0"
	assert_contains "$(cat "$T/pre")" "Ubuntu" "$name: apt-pre names the layout"
	assert_contains "$(cat "$T/pre")" "not guarded" "$name: apt-pre says kernel installs are not guarded"
	ctl hook kernel-postinst "$KV" "/boot/vmlinuz-$KV" >"$T/post" 2>&1
	assert_eq "$?" 0 "$name: kernel-postinst exits 0"
	ctl hook initramfs-post-update "$KV" "/boot/initrd.img-$KV" >>"$T/post" 2>&1
	assert_eq "$?" 0 "$name: initramfs-post-update exits 0"
	ctl hook apt-post >>"$T/post" 2>&1
	assert_eq "$?" 0 "$name: apt-post exits 0 (apt's Post-Invoke succeeds)"
	out=$(cat "$T/pre" "$T/post")
	assert_not_contains "$out" "CRITICAL" "$name: no false CRITICAL"
	assert_not_contains "$out" "WARNING" "$name: no warning"
	assert_eq "$(grep -c 'not guarded' <<<"$out")" 1 "$name: said once in the apt run"
	ctl hook check >"$T/check" 2>&1
	assert_eq "$?" 0 "$name: hook check exits 0"
	assert_contains "$(cat "$T/check")" "not judged" "$name: hook check says it does not judge the layout"
	ctl upgrade --kernel "$KV" >"$T/up" 2>&1
	assert_eq "$?" 1 "$name: upgrade refused"
	assert_contains "$(cat "$T/up")" "flash-kernel" "$name: the refusal says why"
	[ "$(boot_files)" = "$before" ] || fail "$name: boot files changed: $(diff <(echo "$before") <(boot_files))"
	[ ! -e "$B/.netroot" ] || fail "$name: a generation store was made: $(ls -A "$B/.netroot")"
	pass "$name: every boot file (sha256) as before; no generation store"
}

# Ubuntu 22.04 (jammy): kernel=vmlinuz, initramfs initrd.img followkernel in config.txt.
rm -rf "$B/.netroot"
cp "$RW/09-ubuntu-jammy-armhf-config.txt" "$B/config.txt"
cp "$B/vmlinuz-$KV" "$B/vmlinuz"
cp "$B/initrd.img-$KV" "$B/initrd.img"
run_layout "Ubuntu 22.04 (kernel=vmlinuz)"

# Ubuntu 20.04 arm64 as images set it up: kernel=vmlinux only in the included usercfg.txt.
cp "$RW/32-ubuntu-focal-arm64-config.txt" "$B/config.txt"
cp "$RW/32-ubuntu-focal-arm64-include-syscfg.txt" "$B/syscfg.txt"
cp "$RW/32-ubuntu-focal-arm64-include-usercfg.txt" "$B/usercfg.txt"
mv "$B/vmlinuz" "$B/vmlinux"
run_layout "Ubuntu 20.04 (kernel=vmlinux in usercfg.txt)"
echo "all Ubuntu layout checks passed"
