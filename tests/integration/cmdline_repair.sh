#!/bin/bash
# raspi-firmware's hook rewrites cmdline.txt from scratch (FACTS): the agent's hooks after it put
# back the newest generation's cmdline.txt that still logs into the live root, say REPAIRED with
# the lasting fix, and leave nothing to repair once cmdline.txt is good. In make check (the real
# package runs in make test-packagings); the hook's rewrite is stood in for by writing the
# cmdline.txt it writes without /etc/default/raspi-extra-cmdline (FACTS: root=$ROOTPART rw …).
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
cp "$B/cmdline.txt" "$T/cmdline.good"
mkdir -p "$CH/etc/kernel/postinst.d"
printf '#!/bin/sh\n# stand-in: only its presence matters to the agent\n' >"$CH/etc/kernel/postinst.d/z50-raspi-firmware"

ctl hook apt-pre --apt-pid $$ "open-iscsi:trigger" >"$T/pre" 2>&1 || fail "apt-pre: $(cat "$T/pre")"
assert_contains "$(cat "$T/pre")" "saved as generation 1" "apt-pre saved the boot folder"
echo "console=serial0,115200 console=tty1 root=/dev/sda rw fsck.repair=yes net.ifnames=0 cma=64M rootwait" >"$B/cmdline.txt"
ctl hook initramfs-post-update "$KV" "/boot/initrd.img-$KV" >"$T/post" 2>&1
assert_eq "$?" 0 "initramfs-post-update exits 0"
sed 's/^/  hook| /' "$T/post" | head -n 8
assert_contains "$(cat "$T/post")" "REPAIRED" "the dropped iSCSI login is repaired, and said"
assert_contains "$(cat "$T/post")" "doctor --fix" "the lasting fix is named"
cmp -s "$B/cmdline.txt" "$T/cmdline.good" || fail "cmdline.txt is not generation 1's: $(cat "$B/cmdline.txt")"
pass "cmdline.txt put back from generation 1"
ctl hook apt-post >"$T/apt-post" 2>&1
assert_eq "$?" 0 "apt-post exits 0"
assert_not_contains "$(cat "$T/apt-post")" "CRITICAL" "no CRITICAL after the repair"
ctl hook check >"$T/check" 2>&1 || fail "hook check after the repair: $(cat "$T/check")"
ctl hook initramfs-post-update "$KV" "/boot/initrd.img-$KV" >"$T/again" 2>&1
assert_not_contains "$(cat "$T/again")" "REPAIRED" "nothing to repair when cmdline.txt logs in"
echo "all cmdline repair checks passed"
