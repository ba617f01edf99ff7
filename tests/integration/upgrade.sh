#!/bin/bash
# netrootctl upgrade / rollback / history on a real Debian system: the cached bookworm chroot
# (tests/lib/chroot.sh) made into a netbooting Pi's view (tests/lib/pi_sandbox.sh), a real
# mkinitramfs inside it, the real initrd check and a real tftpd-hpa on 127.0.0.1 serving the boot
# folder as <serial>/. Every failure must leave the old boot byte for byte as it was (sha256 of
# config.txt and of the initrd it names) with the half-built initrd gone.
# Where a test is not about mkinitramfs, the build step copies a prepared initrd
# (NETROOT_TEST_INITRD_FROM, a documented test hook) to keep the suite short.
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
for tool in debootstrap zstd cpio jq sha256sum; do
	command -v "$tool" >/dev/null || fail "$tool missing (make deps)"
done

on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
B=$CH/boot
INITRD=$B/initrd.img-$KV
mkdir -p "$T/tftp"
pi_sandbox_tftp "$CH" "$T/tftp" || fail "bind mount for TFTP"
tftp_start "$T/tftp" >/dev/null || fail "in.tftpd did not start"
pi_sandbox_conf "$CH" tftp "127.0.0.1:$TFTP_PORT"
pi_sandbox_conf "$CH" verify_tftp required
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }

# A second valid initrd with other bytes: an early uncompressed cpio in front, as microcode adds.
mkdir -p "$T/early/kernel/x86/microcode"
echo "not really microcode" >"$T/early/kernel/x86/microcode/GenuineIntel.bin"
variant() { # SRC DST
	(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$2"
	cat "$1" >>"$2"
}
cp "$INITRD" "$T/debian.img"

snap() { sha256sum "$B/config.txt" "$INITRD" | awk '{print $1}' | tr '\n' ' '; }
intact() { # WHAT: the old boot is untouched and nothing is left over
	[ "$(snap)" = "$before" ] || fail "$1: config.txt or the initrd changed"
	ls "$B"/*.netroot-new "$B"/*.netroot-restore 2>/dev/null && fail "$1: leftover files"
	[ -e "$B/.netroot/transaction" ] && fail "$1: journal left behind"
	pass "$1: old boot intact (sha256), nothing left over"
}
run() { # EXPECTED-EXIT WHAT [ENV=VAL...] -- ARGS
	local want=$1 what=$2
	shift 2
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" "$NETROOTCTL" --root "$CH" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want: $(cat "$T/out" "$T/err")"
	pass "$what: exit $want"
}

# --- dry run: plan + verdict, nothing written ---
before=$(snap)
run 0 "dry run" -- upgrade --dry-run
assert_contains "$(cat "$T/out")" "kernel:          $KV -> $KV" "dry run shows the plan"
assert_contains "$(cat "$T/out")" "verdict: ok (dry run" "dry run shows the verdict"
[ -e "$B/.netroot" ] && fail "dry run created .netroot"
intact "dry run"

# --- the real thing: mkinitramfs in the chroot, check, rename, TFTP verification ---
t0=$(date +%s)
run 0 "upgrade with a real mkinitramfs" -- upgrade
echo "upgrade took $(($(date +%s) - t0)) s"
for s in plan preflight backup build check switch tftp record; do
	grep -q "^step [1-8]/8: $s: " "$T/err" || fail "no progress line for step $s"
done
pass "progress lines step N/8 for all steps"
assert_contains "$(cat "$T/err")" "sha256 matches" "TFTP verification ran"
ctl check-initrd "/boot/initrd.img-$KV" >"$T/ci" 2>&1 || fail "the new initrd fails check-initrd: $(cat "$T/ci")"
cmp -s "$INITRD" "$T/debian.img" && fail "the initrd was not rebuilt"
cmp -s "$B/.netroot/gen-1/boot/initrd.img-$KV" "$T/debian.img" || fail "generation 1 lacks the old initrd"
pass "new initrd in place and passing; the old one is in generation 1"
assert_eq "$(ctl history --json | jq -r '.pending, .generations[0].status, .generations[0].kernel_to')" \
	"$(printf '1\npending\n%s' "$KV")" "history: generation 1 pending for $KV"
cp "$INITRD" "$T/built.img"
variant "$T/built.img" "$T/variant.img"

# --- failures, each rolled back ---
# (1) mkinitramfs fails: a kernel config without any CONFIG_RD_* (the raspberrypi-kernel case).
before=$(snap)
cp "$B/config-$KV" "$T/kconfig"
grep -v '^CONFIG_RD_' "$T/kconfig" >"$B/config-$KV"
run 3 "mkinitramfs fails" -- upgrade
assert_contains "$(cat "$T/err")" "not supported by kernel" "mkinitramfs' own reason is shown"
assert_contains "$(cat "$T/err")" "rolled back" "says it rolled back"
intact "mkinitramfs fails"
# (2) /boot/config-VER missing and VER is not the running kernel: refused before any change.
rm -f "$B/config-$KV"
echo 6.1.0-1-amd64 >"$CH/proc/sys/kernel/osrelease"
run 1 "missing config-VER, not the running kernel" -- upgrade
assert_contains "$(cat "$T/out")" "CONFIG_RD_GZIP" "names the known mkinitramfs failure"
intact "missing config-VER"
echo "$KV" >"$CH/proc/sys/kernel/osrelease"
cp "$T/kconfig" "$B/config-$KV"

# (3) a truncated initrd (fault hook after the build)
run 3 "truncated initrd" NETROOT_TEST_INITRD_FROM="$T/variant.img" NETROOT_FAULT_TRUNCATE=1 -- upgrade
assert_contains "$(cat "$T/err")" "archive" "the check names the incomplete archive"
intact "truncated initrd"

# (4) the TFTP server serves an old copy of the folder
mkdir -p "$T/tftp-old"
cp -a "$B" "$T/tftp-old/$PI_SERIAL"
cp "$T/debian.img" "$T/tftp-old/$PI_SERIAL/initrd.img-$KV"
main_port=$TFTP_PORT
tftp_start "$T/tftp-old" >/dev/null || fail "second in.tftpd"
pi_sandbox_conf "$CH" tftp "127.0.0.1:$TFTP_PORT"
run 3 "TFTP serves an old file" NETROOT_TEST_INITRD_FROM="$T/variant.img" -- upgrade
assert_contains "$(cat "$T/err")" "serves a different" "says the server serves something else"
intact "TFTP serves an old file"
pi_sandbox_conf "$CH" tftp "127.0.0.1:$main_port"

# (5) no TFTP server known while verify_tftp=required: refused in the preflight
pi_sandbox_conf "$CH" tftp auto
run 1 "verify_tftp=required without a server" -- upgrade
intact "verify_tftp=required without a server"
pi_sandbox_conf "$CH" tftp "127.0.0.1:$main_port"

# (6) an initrd without iSCSI: MODULES=netboot + NO_ISCSI_IN_INITRAMFS=yes, real mkinitramfs
cp -a "$CH/etc/initramfs-tools" "$T/itools"
echo NO_ISCSI_IN_INITRAMFS=yes >"$CH/etc/initramfs-tools/conf.d/open-iscsi"
sed -i 's/^MODULES=.*/MODULES=netboot/' "$CH/etc/initramfs-tools/initramfs.conf"
run 3 "initrd without iSCSI" -- upgrade
assert_contains "$(cat "$T/err")" "iscsistart" "the check names iscsistart"
intact "initrd without iSCSI"
rm -rf "$CH/etc/initramfs-tools" && cp -a "$T/itools" "$CH/etc/initramfs-tools"

# (7) a full boot folder (tmpfs of 48 MiB holding a copy of the folder)
cp -a "$B" "$T/bootcopy" && rm -rf "$T/bootcopy/.netroot"
mount -t tmpfs -o size=48m tmpfs "$B" || fail "tmpfs"
on_cleanup "umount -l '$B' 2>/dev/null"
cp -a "$T/bootcopy/." "$B/"
run 1 "full boot folder" NETROOT_TEST_INITRD_FROM="$T/variant.img" -- upgrade
assert_contains "$(cat "$T/out")" "MiB needed" "names the space needed"
intact "full boot folder"
umount "$B"

# (8) a read-only boot folder
mount --bind "$B" "$B" && mount -o remount,ro,bind "$B" || fail "ro bind"
on_cleanup "umount -l '$B' 2>/dev/null"
run 1 "read-only boot folder" NETROOT_TEST_INITRD_FROM="$T/variant.img" -- upgrade
assert_contains "$(cat "$T/out")" "Read-only file system" "says read-only"
intact "read-only boot folder"
umount "$B"

# (9) shared firmware: missing, read-only, locked by another Pi; then a good run backs it up
SH=$CH/srv/tftp
pi_sandbox_conf "$CH" shared_dir /srv/tftp
run 1 "shared_dir missing" NETROOT_TEST_INITRD_FROM="$T/variant.img" -- upgrade
intact "shared_dir missing"
mkdir -p "$SH"
for f in bootcode.bin start.elf fixup.dat; do head -c 4096 /dev/urandom >"$SH/$f"; done
mount --bind "$SH" "$SH" && mount -o remount,ro,bind "$SH" || fail "ro bind shared"
on_cleanup "umount -l '$SH' 2>/dev/null"
run 1 "shared_dir not writable" NETROOT_TEST_INITRD_FROM="$T/variant.img" -- upgrade
intact "shared_dir not writable"
umount "$SH"
printf 'serial=9abcdef0\nhost=pi-two\npid=4242\nacquired=%s\nexpires=%s\n' "$(date +%s)" \
	"$(($(date +%s) + 300))" >"$SH/.netroot-firmware.lock"
run 1 "shared lock held by another Pi" NETROOT_TEST_INITRD_FROM="$T/variant.img" -- upgrade --lock-wait 1
assert_contains "$(cat "$T/err")" "shared firmware locked by 9abcdef0@pi-two pid 4242 until" \
	"names the holder"
assert_contains "$(cat "$T/err")" "waited" "says how long it waited"
intact "shared lock held"
rm -f "$SH/.netroot-firmware.lock"
fw_before=$(cat "$SH"/*.bin "$SH"/*.elf "$SH"/*.dat | sha256sum)
run 0 "upgrade with shared firmware backup" NETROOT_TEST_INITRD_FROM="$T/variant.img" -- upgrade
cmp -s "$INITRD" "$T/variant.img" || fail "variant not installed"
g=$(ctl history --json | jq -r '.pending')
grep -q '^shared_backup=.\+' "$B/.netroot/gen-$g/record" || fail "no shared backup recorded"
[ ! -e "$SH/.netroot-firmware.lock" ] || fail "lock not released"
assert_eq "$(cat "$SH"/*.bin "$SH"/*.elf "$SH"/*.dat | sha256sum)" "$fw_before" "shared firmware untouched"

# --- edit mode: config.txt names another file; the switch edits the line ---
cp "$T/built.img" "$B/initrd-old.img"
sed -i "s/^initramfs .*/initramfs initrd-old.img followkernel/" "$B/config.txt"
cfg_old=$(sha256sum <"$B/config.txt")
run 0 "upgrade that edits config.txt" NETROOT_TEST_INITRD_FROM="$T/debian.img" -- upgrade
assert_contains "$(cat "$B/config.txt")" "initramfs initrd.img-$KV followkernel" "config.txt edited"
eg=$(ctl history --json | jq -r '.pending')

# --- rollback, online and offline ---
run 0 "rollback of the last upgrade" -- rollback
assert_eq "$(sha256sum <"$B/config.txt")" "$cfg_old" "config.txt back to initrd-old.img"
assert_eq "$(ctl history --json | jq -r ".generations[] | select(.gen == $eg) | .status")" \
	rolled-back "history: rolled-back"
"$NETROOTCTL" rollback --boot-dir "$B" --to 1 >"$T/out" 2>"$T/err" ||
	fail "offline rollback --to 1: $(cat "$T/out" "$T/err")"
cmp -s "$INITRD" "$T/debian.img" || fail "offline rollback did not restore Debian's initrd"
assert_contains "$(cat "$B/config.txt")" "initramfs initrd.img-$KV followkernel" \
	"offline rollback restored generation 1's config.txt"
pass "offline rollback --boot-dir --to 1"
"$NETROOTCTL" history --boot-dir "$B" --json | jq -e '[.generations[] | select(.status == "pending")] | length == 0' >/dev/null ||
	fail "pending generations left after rollback"
pass "offline history"

# --- a bad record names file:line ---
sed -i 's/^status=.*/status=bogus/' "$B/.netroot/gen-1/record"
run 1 "history with a bad record" -- history
line=$(grep -n '^status=' "$B/.netroot/gen-1/record" | cut -d: -f1)
assert_contains "$(cat "$T/err")" "gen-1/record:$line: status=bogus" "names file:line"
echo "all upgrade integration checks passed"
