#!/bin/bash
# make test-packagings: a real `apt-get install` of a newer kernel on every kernel packaging a
# netbooted Pi has, in the cached bookworm chroot (tests/lib/chroot.sh) made into a Pi
# (tests/lib/pi_sandbox.sh), with the agent's .deb installed (tests/lib/deb.sh):
#
#   debian-raspi-firmware  Debian's REAL raspi-firmware package (non-free-firmware): its hook
#                          rewrites config.txt and cmdline.txt in /boot/firmware on every kernel
#                          install and initramfs rebuild; Debian's real linux-image packages
#   raspbian               a STAND-IN raspberrypi-kernel (tests/packagings/standin.sh: in-place
#                          kernel*.img, DTBs, overlays, versioned /lib/modules, run-parts of
#                          postinst.d with INITRD=No), built from real Debian kernels
#   rpios-standin          Raspberry Pi OS bookworm, STAND-INs (standin.sh): versioned
#                          linux-image-<ver>-rpi-v8 packages and Raspberry Pi's raspi-firmware
#                          hook, which copies kernel, initrd, DTBs and overlays over
#                          /boot/firmware/kernel8.img, initramfs8, … in place; auto_initramfs=1
#
# Per layout: install (the packaging's starting point), good (a newer kernel), guarded-failure
# (a kernel whose initramfs cannot mount an iSCSI root: NO_ISCSI_IN_INITRAMFS),
# trigger (apt-get install --reinstall open-iscsi: the initramfs trigger), rollback (netrootctl
# rollback to the generation before the good upgrade). After each: `netrootctl hook check`
# passes, and the sha256 of every boot file config.txt names, cmdline.txt and the kernel's
# modules directory equal the set before the step or the set of the expected new kernel, never
# a mix. A table with the times is printed at the end.
#
# Environment: CHROOT_CACHE_DIR (the cached chroot tarball; CI: the repository's .cache),
# PACKAGINGS_LAYOUTS (the layouts to run, default all).
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"
# shellcheck source=../lib/deb.sh
. "$TOP/tests/lib/deb.sh"
# shellcheck source=standin.sh
. "$TOP/tests/packagings/standin.sh"

[ "$(id -u)" = 0 ] || skip "needs root for debootstrap, chroot and mount"
for tool in dpkg-buildpackage dpkg-deb debootstrap zstd jq sha256sum; do
	command -v "$tool" >/dev/null || skip "$tool not installed (run 'make deps')"
done
on_cleanup chroot_cleanup
on_cleanup 'umount -l "$CH/boot/firmware" 2>/dev/null'
T_ALL=$(date +%s.%N)
ROWS=()
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
row() { # LAYOUT STEP RESULT SECONDS NOTE
	ROWS+=("$(printf '%-22s %-16s %-5s %7s s  %s' "$1" "$2" "$3" "$4" "$5")")
	echo "== $1 / $2: $3 ($4 s) $5"
}
table() {
	echo
	echo "test-packagings ($(since "$T_ALL") s in total)"
	printf '%-22s %-16s %-5s %9s  %s\n' layout step result time note
	printf '%s\n' "${ROWS[@]}"
}
on_cleanup table

export DEBIAN_FRONTEND=noninteractive LC_ALL=C
capt() { chroot "$CH" apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "$@"; }
ctl() { chroot "$CH" /usr/sbin/netrootctl "$@"; }

# ---- the package and the Pi ---------------------------------------------------------------------
t=$(now)
deb_build "$T" || fail "the package does not build"
chroot_ensure CH || fail "could not build or copy the Debian chroot"
# A small initramfs (MODULES=list, tests/lib/chroot.sh): the rows are about the packagings'
# hooks; with Debian's MODULES=most each of their builds would take about 3 minutes.
chroot_initramfs_small "$CH" || fail "could not configure the small initramfs"
for m in dev dev/pts; do
	_chroot_mount_one "$CH/.chroot-mounts" "$CH/$m" --bind "/$m" || fail "bind mount /$m"
done
# raspi-firmware is in non-free-firmware (same mirror).
sed -i 's/ main$/ main non-free-firmware/' "$CH/etc/apt/sources.list"
capt update >"$T/update.log" 2>&1 || fail "apt-get update: $(tail "$T/update.log")"
KV0=$(chroot_kernel "$CH")
mapfile -t others < <(chroot_other_kernels "$CH" | sed 's/^linux-image-//')
[ "${#others[@]}" -ge 2 ] || skip "the archive offers fewer than two other kernels: ${others[*]}"
NEW=${others[0]}
OLD=${others[1]}
# The Debian kernel packages, unpacked, for the stand-ins.
(cd "$T" && chroot "$CH" sh -c "cd /tmp && apt-get download -q linux-image-$OLD linux-image-$NEW" >"$T/dl.log" 2>&1) ||
	fail "apt-get download: $(tail "$T/dl.log")"
for k in "$OLD" "$NEW" "$KV0"; do
	mkdir -p "$T/k-$k"
	if [ "$k" = "$KV0" ]; then
		mkdir -p "$T/k-$k/boot" "$T/k-$k/lib/modules"
		cp "$CH/boot/vmlinuz-$k" "$CH/boot/config-$k" "$T/k-$k/boot/" && cp -a "$CH/lib/modules/$k" "$T/k-$k/lib/modules/"
	else
		dpkg-deb -x "$CH"/tmp/linux-image-"${k}"_*.deb "$T/k-$k"
	fi || fail "unpacking kernel $k"
done
rm -f "$CH"/tmp/linux-image-*.deb
capt install "linux-image-$OLD" >"$T/old.log" 2>&1 || fail "installing $OLD: $(tail -n 20 "$T/old.log")"
capt purge linux-image-amd64 "linux-image-$KV0" >"$T/purge.log" 2>&1 || fail "removing $KV0: $(tail -n 20 "$T/purge.log")"
pi_sandbox_make "$CH" || fail "sandbox"
# The running kernel's config, as a Pi has it (mkinitramfs needs it for a kernel that ships none).
gzip -c "$CH/boot/config-$OLD" >"$CH/proc/config.gz"
cp "$DEB" "$CH/tmp/"
capt -o Dpkg::Options::=--force-confold install "/tmp/$(basename "$DEB")" >"$T/install.log" 2>&1 ||
	fail "apt-get install of the package: $(tail -n 30 "$T/install.log")"
row setup "chroot+package" ok "$(since "$t")" "Debian kernels: $OLD (booted), $NEW (good), $KV0 (guarded failure)"

# An apt run that switched the kernel without installing one (the hook copies the newest kernel,
# one the guard refused before, on an initramfs rebuild) leaves that boot pending like an
# upgrade, for the boot confirmation to confirm or roll back.
assert_switch_pending() { # LAYOUT LOG KERNEL
	assert_contains "$(cat "$2")" "to $3 (raspi-firmware's hook, an initramfs rebuild): generation" \
		"$1/trigger: apt's console says the switch to $3 waits for the boot confirmation"
	assert_eq "$(ctl history --json | jq -r '.pending as $p | .generations[] | select(.gen == $p) | "\(.status) \(.kernel_to)"')" \
		"pending $3" "$1/trigger: history has the switch to $3 as the pending generation"
}

# ---- the sets -----------------------------------------------------------------------------------
# "kernel-file sha, initramfs sha, config.txt sha, cmdline sha, modules sha, version" of what
# BOOT's config.txt boots; VERSION is the kernel version the image is (by KNOWN images).
declare -A IMAGE_VERSION
boot_set() { # BOOTDIR
	local b=$1 kernel initrd ver mods
	kernel=$(sed -n 's/^kernel=//p' "$b/config.txt" | tail -n 1)
	kernel=${kernel:-${BOOT_KERNEL_DEFAULT:-kernel7.img}}
	initrd=$(sed -n 's/^initramfs \([^ ]*\).*/\1/p' "$b/config.txt" | tail -n 1)
	# auto_initramfs=1: the initramfs named after the kernel file (kernel8.img: initramfs8).
	[ -n "$initrd" ] || ! grep -q '^auto_initramfs=1' "$b/config.txt" || initrd=$(echo "$kernel" | sed 's/^kernel/initramfs/; s/\.img$//')
	ver=${IMAGE_VERSION[$(sha256sum <"$b/$kernel" | cut -c1-64)]:-UNKNOWN}
	mods=$( (cd "$CH/lib/modules/$ver" 2>/dev/null && find . -type f ! -name 'modules.*' | sort | xargs -r sha256sum) | sha256sum | cut -c1-16)
	printf '%s %s %s %s %s %s\n' "$(sha256sum <"$b/$kernel" | cut -c1-16)" \
		"$( [ -f "$b/$initrd" ] && sha256sum <"$b/$initrd" | cut -c1-16)" \
		"$(sha256sum <"$b/config.txt" | cut -c1-16)" "$(sha256sum <"$b/cmdline.txt" | cut -c1-16)" "$mods" "$ver"
}
# After STEP: hook check passes; the set is BEFORE's or one whose version is EXPECT, with the
# kernel image, initramfs (checked for that version by hook check) and modules of ONE version.
verify() { # LAYOUT STEP BOOTDIR BEFORE EXPECT_NEW_VERSION
	local layout=$1 step=$2 b=$3 before=$4 expect=$5 after ver
	ctl hook check >"$T/check.log" 2>&1 || fail "$layout/$step: hook check: $(cat "$T/check.log")"
	after=$(boot_set "$b")
	ver=${after##* }
	[ "$ver" != UNKNOWN ] || fail "$layout/$step: config.txt boots an image of no known kernel: $after"
	grep -q "kernel $ver" "$T/check.log" || fail "$layout/$step: hook check judged another version than the image ($ver): $(cat "$T/check.log")"
	if [ "$after" = "$before" ]; then
		echo "  $layout/$step: the old set ($ver), unchanged"
	elif [ "$ver" = "$expect" ]; then
		echo "  $layout/$step: the new set ($ver)"
	else
		fail "$layout/$step: a mix: before [$before], after [$after], expected the old set or kernel $expect"
	fi
	LAST_SET=$after
}

# PACKAGINGS_LAYOUTS: the layouts to run (default: all), e.g. to rerun one while debugging.
want() { [[ " ${PACKAGINGS_LAYOUTS:-raspbian-standin rpios-standin debian-raspi-firmware} " == *" $1 "* ]]; }

# ==== Layout: Raspbian raspberrypi-kernel (STAND-IN) ===========================================
# The stand-ins' versions, from the Debian kernels they are built of (6.1.0-NN-amd64: 6.1.NN).
SV_OLD=6.1.${OLD#6.1.0-}
SV_OLD=${SV_OLD%-amd64}
SV_NEW=6.1.${NEW#6.1.0-}
SV_NEW=${SV_NEW%-amd64}
SV_BAD=6.1.${KV0#6.1.0-}
SV_BAD=${SV_BAD%-amd64}
cp "$CH/boot/config.txt" "$T/sandbox-config.txt"

L=raspbian-standin
if want "$L"; then
t=$(now)
for pair in "$OLD $SV_OLD" "$NEW $SV_NEW" "$KV0 $SV_BAD"; do
	set -- $pair
	standin_raspbian_deb "$CH" "$1" "$2" "$T/k-$1" >/dev/null || fail "building the stand-in for $2"
	IMAGE_VERSION[$(sha256sum <"$T/k-$1/boot/vmlinuz-$1" | cut -c1-64)]=$2-v7+
done
echo "STAND-IN raspberrypi-kernel packages: $(cd "$CH/tmp" && ls raspberrypi-kernel_*)"
row "$L" stand-in-debs ok "$(since "$t")" "STAND-IN raspberrypi-kernel $SV_OLD, $SV_NEW, $SV_BAD built"
t=$(now)
B=$CH/boot
# The Pi as the tutorial sets it up: kernel7.img (the Pi 3 default), initramfs line, INITRD=No.
capt install "/tmp/raspberrypi-kernel_1.${SV_OLD}_all.deb" >"$T/r-install.log" 2>&1 ||
	fail "$L: installing the stand-in $SV_OLD: $(tail -n 30 "$T/r-install.log")"
cp "$CH/boot/config-$OLD" "$CH/boot/config-$SV_OLD-v7+"
chroot "$CH" mkinitramfs -o "/boot/initrd.img-$SV_OLD-v7+" "$SV_OLD-v7+" >"$T/r-mkinit.log" 2>&1 ||
	fail "$L: mkinitramfs: $(tail "$T/r-mkinit.log")"
rm -f "$CH/boot/config-$SV_OLD-v7+"
echo "$SV_OLD-v7+" >"$CH/proc/sys/kernel/osrelease"
cat >"$B/config.txt" <<-CFG
# netroot test Pi: Raspbian as in the netboot tutorial (kernel7.img is the Pi 3 default)
dtparam=act_led_trigger=none
initramfs initrd.img-$SV_OLD-v7+ followkernel
CFG
rm -rf "$B/.netroot" # the generation the stand-in's own install made (the sandbox's config)
S0=$(boot_set "$B")
verify "$L" install "$B" "$S0" "$SV_OLD-v7+"
row "$L" install ok "$(since "$t")" "stand-in $SV_OLD-v7+ booted"

# good. raspberrypi-kernel ships no /boot/config-VER, and mkinitramfs needs it (FACTS); the
# agent's preflight refuses without it (its FIX: install the kernel's config file), as an admin
# does here.
cp "$CH/boot/config-$OLD" "$CH/boot/config-$SV_NEW-v7+"
cp "$CH/boot/config-$OLD" "$CH/boot/config-$SV_BAD-v7+"
t=$(now)
capt install "/tmp/raspberrypi-kernel_1.${SV_NEW}_all.deb" >"$T/r-good.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*|upgraded' "$T/r-good.log" | sed 's/^/  apt| /' | head -n 20
[ "$rc" = 0 ] || fail "$L/good: apt exited $rc: $(tail -n 30 "$T/r-good.log")"
assert_contains "$(cat "$T/r-good.log")" "saved as generation" "$L/good: apt-pre saved a generation"
assert_contains "$(cat "$T/r-good.log")" "upgraded: kernel $SV_NEW-v7+" "$L/good: guarded upgrade done"
GEN_BEFORE_GOOD=$(sed -n 's/.*saved as generation \([0-9]*\).*/\1/p' "$T/r-good.log" | head -n 1)
[ -n "$GEN_BEFORE_GOOD" ] || fail "$L/good: no generation number in the apt output"
[ -d "$B/.netroot/gen-$GEN_BEFORE_GOOD/modules/$SV_OLD-v7+" ] || fail "$L/good: the generation kept no copy of /lib/modules/$SV_OLD-v7+"
[ -f "$B/.netroot/gen-$GEN_BEFORE_GOOD/boot/kernel7.img" ] || fail "$L/good: the generation kept no copy of kernel7.img"
[ "$(stat -c %h "$B/.netroot/gen-$GEN_BEFORE_GOOD/boot/kernel7.img")" = 1 ] || fail "$L/good: the kernel copy is a hard link"
verify "$L" good "$B" "$S0" "$SV_NEW-v7+"
S1=$LAST_SET
row "$L" good ok "$(since "$t")" "kernel7.img, DTBs, overlays, modules kept as copies in generation $GEN_BEFORE_GOOD"

# guarded failure
t=$(now)
mkdir -p "$CH/etc/initramfs-tools/conf.d"
echo NO_ISCSI_IN_INITRAMFS=yes >"$CH/etc/initramfs-tools/conf.d/open-iscsi"
capt install "/tmp/raspberrypi-kernel_1.${SV_BAD}_all.deb" >"$T/r-bad.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*|restored' "$T/r-bad.log" | sed 's/^/  apt| /' | head -n 30
[ "$rc" = 0 ] || fail "$L/guarded-failure: apt exited $rc: $(tail -n 30 "$T/r-bad.log")"
assert_contains "$(cat "$T/r-bad.log")" "will NOT boot it" "$L/guarded-failure: the WARNING says the Pi stays"
verify "$L" guarded-failure "$B" "$S1" "none"
row "$L" guarded-failure ok "$(since "$t")" "in-place kernel, DTBs, overlays and modules $SV_NEW-v7+ put back"
rm -f "$CH/etc/initramfs-tools/conf.d/open-iscsi"

# trigger
t=$(now)
capt install --reinstall open-iscsi >"$T/r-trig.log" 2>&1 || fail "$L/trigger: $(tail -n 30 "$T/r-trig.log")"
grep -E '^netroot' "$T/r-trig.log" | sed 's/^/  apt| /' | head
verify "$L" trigger "$B" "$S1" "none"
row "$L" trigger ok "$(since "$t")" "--reinstall open-iscsi"

# rollback
t=$(now)
ctl rollback --to "$GEN_BEFORE_GOOD" >"$T/r-rb.log" 2>&1 || fail "$L/rollback: $(cat "$T/r-rb.log")"
sed 's/^/  | /' "$T/r-rb.log" | tail -n 12
assert_contains "$(cat "$T/r-rb.log")" "/lib/modules/$SV_OLD-v7+ restored" "$L/rollback: modules restored"
verify "$L" rollback "$B" "$S1" "$SV_OLD-v7+"
assert_eq "$LAST_SET" "$S0" "$L/rollback: exactly the set before the good upgrade"
row "$L" rollback ok "$(since "$t")" "to generation $GEN_BEFORE_GOOD: the stand-in $SV_OLD-v7+ set"

# Clean the layout away for the next one.
capt purge raspberrypi-kernel >"$T/r-purge.log" 2>&1 || fail "$L: purge: $(tail "$T/r-purge.log")"
rm -rf "$B/.netroot" "$B"/kernel*.img "$B"/*.dtb "$B/overlays" "$B"/initrd.img-*-v7+ "$CH"/lib/modules/*-v7+ \
	"$CH"/lib/modules/*-v8+ "$CH"/lib/modules/*+ "$CH/run/netroot/apt-kernel"
echo "$OLD" >"$CH/proc/sys/kernel/osrelease"
cp "$T/sandbox-config.txt" "$CH/boot/config.txt"
fi

# ==== Layout: Raspberry Pi OS bookworm (STAND-IN) ==============================================
L=rpios-standin
if want "$L"; then
t=$(now)
for pair in "$OLD $SV_OLD" "$NEW $SV_NEW" "$KV0 $SV_BAD"; do
	set -- $pair
	standin_rpios_kernel_deb "$CH" "$1" "$2" "$T/k-$1" >/dev/null || fail "building the Pi OS stand-in for $2"
	IMAGE_VERSION[$(sha256sum <"$T/k-$1/boot/vmlinuz-$1" | cut -c1-64)]=$2-rpi-v8
done
standin_rpios_firmware_deb "$CH" >/dev/null || fail "building the Pi OS raspi-firmware hook stand-in"
echo "STAND-IN Pi OS packages: $(cd "$CH/tmp" && ls linux-image-*-rpi-v8_* rpios-raspi-firmware-standin_*)"
row "$L" stand-in-debs ok "$(since "$t")" "STAND-IN linux-image-$SV_OLD/$SV_NEW/$SV_BAD-rpi-v8, raspi-firmware hook built"
t=$(now)
BF=$CH/boot/firmware
BOOT_KERNEL_DEFAULT=kernel8.img
mkdir -p "$BF"
mount -t tmpfs -o size=1536m netroot-boot "$BF" || fail "tmpfs on /boot/firmware"
# The image as Pi OS ships it: the hook and the first kernel installed (the agent still looks
# at /boot, whose config.txt boots another kernel: it leaves these alone), then config.txt.
capt install /tmp/rpios-raspi-firmware-standin_1_all.deb "/tmp/linux-image-$SV_OLD-rpi-v8_$SV_OLD-1_all.deb" \
	>"$T/p-install.log" 2>&1 || fail "$L: installing the stand-ins: $(tail -n 30 "$T/p-install.log")"
grep -E '^netroot|^raspi-firmware' "$T/p-install.log" | sed 's/^/  apt| /' | head -n 10
[ -f "$BF/kernel8.img" ] && [ -f "$BF/initramfs8" ] || fail "$L: the hook stand-in did not fill /boot/firmware: $(ls "$BF")"
cp "$CH/boot/cmdline.txt" "$BF/cmdline.txt"
cat >"$BF/config.txt" <<-CFG
# netroot test Pi: Raspberry Pi OS bookworm (arm_64bit=1: kernel8.img; auto_initramfs=1: initramfs8)
arm_64bit=1
auto_initramfs=1
dtparam=act_led_trigger=none
CFG
sed -i 's|^boot_dir *=.*|boot_dir = /boot/firmware|' "$CH/etc/netroot/agent.conf"
echo "$SV_OLD-rpi-v8" >"$CH/proc/sys/kernel/osrelease"
SP0=$(boot_set "$BF")
verify "$L" install "$BF" "$SP0" "$SV_OLD-rpi-v8"
ctl doctor >"$T/p-doc.log" 2>&1
grep -E 'raspi-fw|raspi-firmware|config-initramfs' "$T/p-doc.log" | sed 's/^/  doctor| /'
assert_not_contains "$(grep -E 'raspi-fw' "$T/p-doc.log")" "FAIL" "$L: doctor does not take Pi OS's hook for Debian's"
row "$L" install ok "$(since "$t")" "stand-in $SV_OLD-rpi-v8 booted from kernel8.img + initramfs8"

# good
t=$(now)
capt install "/tmp/linux-image-$SV_NEW-rpi-v8_$SV_NEW-1_all.deb" >"$T/p-good.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*|upgraded|^raspi-firmware' "$T/p-good.log" | sed 's/^/  apt| /' | head -n 20
[ "$rc" = 0 ] || fail "$L/good: apt exited $rc: $(tail -n 30 "$T/p-good.log")"
assert_contains "$(cat "$T/p-good.log")" "saved as generation" "$L/good: apt-pre saved a generation"
assert_contains "$(cat "$T/p-good.log")" "upgraded: kernel $SV_NEW-rpi-v8" "$L/good: guarded upgrade done"
GEN_P=$(sed -n 's/.*saved as generation \([0-9]*\).*/\1/p' "$T/p-good.log" | head -n 1)
[ -n "$GEN_P" ] || fail "$L/good: no generation number in the apt output"
[ -f "$BF/.netroot/gen-$GEN_P/boot/kernel8.img" ] || fail "$L/good: the generation kept no copy of kernel8.img"
[ "$(stat -c %h "$BF/.netroot/gen-$GEN_P/boot/kernel8.img")" = 1 ] || fail "$L/good: the kernel copy is a hard link"
verify "$L" good "$BF" "$SP0" "$SV_NEW-rpi-v8"
SP1=$LAST_SET
row "$L" good ok "$(since "$t")" "kernel8.img, initramfs8, DTBs, overlays overwritten; old set kept in generation $GEN_P"

# guarded failure
t=$(now)
mkdir -p "$CH/etc/initramfs-tools/conf.d"
echo NO_ISCSI_IN_INITRAMFS=yes >"$CH/etc/initramfs-tools/conf.d/open-iscsi"
capt install "/tmp/linux-image-$SV_BAD-rpi-v8_$SV_BAD-1_all.deb" >"$T/p-bad.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*|restored|^raspi-firmware' "$T/p-bad.log" | sed 's/^/  apt| /' | head -n 30
[ "$rc" = 0 ] || fail "$L/guarded-failure: apt exited $rc: $(tail -n 30 "$T/p-bad.log")"
assert_contains "$(cat "$T/p-bad.log")" "will NOT boot it" "$L/guarded-failure: the WARNING says the Pi stays"
verify "$L" guarded-failure "$BF" "$SP1" "none"
row "$L" guarded-failure ok "$(since "$t")" "kernel8.img, initramfs8, DTBs, overlays of $SV_NEW-rpi-v8 put back"
rm -f "$CH/etc/initramfs-tools/conf.d/open-iscsi"

# trigger: update-initramfs rebuilds the newest kernel's initrd; the hook copies it in place
t=$(now)
capt install --reinstall open-iscsi >"$T/p-trig.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*|^raspi-firmware' "$T/p-trig.log" | sed 's/^/  apt| /' | head -n 20
[ "$rc" = 0 ] || fail "$L/trigger: apt exited $rc: $(tail -n 30 "$T/p-trig.log")"
verify "$L" trigger "$BF" "$SP1" "$SV_BAD-rpi-v8"
assert_switch_pending "$L" "$T/p-trig.log" "$SV_BAD-rpi-v8"
row "$L" trigger ok "$(since "$t")" "--reinstall open-iscsi"

# rollback
t=$(now)
ctl rollback --to "$GEN_P" >"$T/p-rb.log" 2>&1 || fail "$L/rollback: $(cat "$T/p-rb.log")"
sed 's/^/  | /' "$T/p-rb.log" | tail -n 8
verify "$L" rollback "$BF" "$SP1" "$SV_OLD-rpi-v8"
assert_eq "$LAST_SET" "$SP0" "$L/rollback: exactly the set before the good upgrade"
row "$L" rollback ok "$(since "$t")" "to generation $GEN_P: the $SV_OLD-rpi-v8 set"

# Clean the layout away for the next one.
capt purge rpios-raspi-firmware-standin "linux-image-$SV_OLD-rpi-v8" "linux-image-$SV_NEW-rpi-v8" \
	"linux-image-$SV_BAD-rpi-v8" >"$T/p-purge.log" 2>&1 || fail "$L: purge: $(tail "$T/p-purge.log")"
umount "$BF" || fail "$L: umount /boot/firmware"
rm -f "$CH"/boot/*-rpi-v8 "$CH/run/netroot/apt-kernel"
rm -rf "$CH"/lib/modules/*-rpi-v8
sed -i 's|^boot_dir *=.*|boot_dir = /boot|' "$CH/etc/netroot/agent.conf"
echo "$OLD" >"$CH/proc/sys/kernel/osrelease"
unset BOOT_KERNEL_DEFAULT
fi

# ==== Layout: Debian raspi-firmware (the REAL package) =========================================
L=debian-raspi-firmware
want "$L" || exit 0
for k in "$OLD" "$NEW" "$KV0"; do
	IMAGE_VERSION[$(sha256sum <"$T/k-$k/boot/vmlinuz-$k" | cut -c1-64)]=$k
done
t=$(now)
BF=$CH/boot/firmware
# The Pi's TFTP folder mounted at /boot/firmware (a mountpoint: raspi-firmware's hook checks it
# when it cannot tell it runs in a chroot, and without /proc it cannot).
mkdir -p "$BF"
mount -t tmpfs -o size=1536m netroot-boot "$BF" || fail "tmpfs on /boot/firmware"
sed -i 's|^boot_dir *=.*|boot_dir = /boot/firmware|' "$CH/etc/netroot/agent.conf"
# The Pi already boots from /boot/firmware with the tutorial's cmdline.txt.
cp "$CH/boot/cmdline.txt" "$BF/cmdline.txt"
cp "$CH/boot/vmlinuz-$OLD" "$CH/boot/initrd.img-$OLD" "$BF/"
printf 'kernel=vmlinuz-%s\ninitramfs initrd.img-%s\n' "$OLD" "$OLD" >"$BF/config.txt"
ctl hook check >"$T/f-pre.log" 2>&1 || fail "$L: the starting point does not pass: $(cat "$T/f-pre.log")"
SF=$(boot_set "$BF")
# install: raspi-firmware itself; its postinst runs its hook, which rewrites cmdline.txt.
capt install raspi-firmware >"$T/f-install.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*|raspi-firmware:' "$T/f-install.log" | sed 's/^/  apt| /' | head -n 20
[ "$rc" = 0 ] || fail "$L/install: apt exited $rc: $(tail -n 30 "$T/f-install.log")"
assert_contains "$(cat "$T/f-install.log")" "REPAIRED cmdline.txt" "$L/install: the dropped iSCSI login is repaired on the apt console"
grep -q ISCSI_TARGET_NAME "$BF/cmdline.txt" || fail "$L/install: cmdline.txt lost ISCSI_*: $(cat "$BF/cmdline.txt")"
verify "$L" install "$BF" "$SF" "$OLD"
SF=$LAST_SET
# The tutorial's layout (boot folder /boot) with raspi-firmware: doctor FAILs.
sed -i 's|^boot_dir *=.*|boot_dir = /boot|' "$CH/etc/netroot/agent.conf"
ctl doctor >"$T/f-doc-tut.log" 2>&1
assert_contains "$(cat "$T/f-doc-tut.log")" "raspi-firmware installed but the boot folder is not /boot/firmware" "$L: doctor FAILs the tutorial layout"
sed -i 's|^boot_dir *=.*|boot_dir = /boot/firmware|' "$CH/etc/netroot/agent.conf"
ctl doctor >"$T/f-doc.log" 2>&1
grep -E 'raspi-fw' "$T/f-doc.log" | sed 's/^/  doctor| /'
assert_contains "$(grep raspi-fw-cmdline "$T/f-doc.log")" "FAIL" "$L: doctor FAILs while the lasting fix is missing"
row "$L" install ok "$(since "$t")" "real raspi-firmware; cmdline.txt repaired from generation"

# good
t=$(now)
capt install "linux-image-$NEW" >"$T/f-good.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*|upgraded' "$T/f-good.log" | sed 's/^/  apt| /' | head -n 30
[ "$rc" = 0 ] || fail "$L/good: apt exited $rc: $(tail -n 30 "$T/f-good.log")"
assert_contains "$(cat "$T/f-good.log")" "upgraded: kernel $NEW" "$L/good: guarded upgrade done"
# One mkinitramfs per kernel install: the agent checks and takes what initramfs-tools' hook built.
assert_contains "$(cat "$T/f-good.log")" "/boot/initrd.img-$NEW taken: update-initramfs built it in this apt run" \
	"$L/good: the agent takes the initrd update-initramfs built in this apt run"
assert_not_contains "$(cat "$T/f-good.log")" "mkinitramfs took" "$L/good: no second mkinitramfs"
assert_eq "$(sha256sum <"$BF/initrd.img-$NEW")" "$(sha256sum <"$CH/boot/initrd.img-$NEW")" \
	"$L/good: the boot folder's initrd.img-$NEW is that checked initrd (sha256)"
grep -q ISCSI_TARGET_NAME "$BF/cmdline.txt" || fail "$L/good: cmdline.txt lost ISCSI_*"
GEN_F=$(ctl history --json | jq -r "[.generations[] | select(.kernel_to == \"$NEW\")][0].gen")
assert_eq "$(ctl history --json | jq -r ".generations[] | select(.gen == $GEN_F) | .kernel_from")" "$OLD" \
	"$L/good: history says $OLD -> $NEW"
verify "$L" good "$BF" "$SF" "$NEW"
SF1=$LAST_SET
row "$L" good ok "$(since "$t")" "$OLD -> $NEW, pending generation $GEN_F"

# guarded failure
t=$(now)
echo NO_ISCSI_IN_INITRAMFS=yes >"$CH/etc/initramfs-tools/conf.d/open-iscsi"
capt install "linux-image-$KV0" >"$T/f-bad.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*' "$T/f-bad.log" | sed 's/^/  apt| /' | head -n 30
[ "$rc" = 0 ] || fail "$L/guarded-failure: apt exited $rc: $(tail -n 30 "$T/f-bad.log")"
verify "$L" guarded-failure "$BF" "$SF1" "none"
row "$L" guarded-failure ok "$(since "$t")" "$KV0 refused, $NEW kept"
rm -f "$CH/etc/initramfs-tools/conf.d/open-iscsi"

# trigger: update-initramfs rebuilds the newest kernel's initrd; the hook moves config.txt to it
t=$(now)
capt install --reinstall open-iscsi >"$T/f-trig.log" 2>&1
rc=$?
grep -E '^netroot|^\*\*\*' "$T/f-trig.log" | sed 's/^/  apt| /' | head -n 30
[ "$rc" = 0 ] || fail "$L/trigger: apt exited $rc: $(tail -n 30 "$T/f-trig.log")"
assert_contains "$(cat "$T/f-trig.log")" "REPAIRED cmdline.txt" "$L/trigger: repaired after the post-update hook"
verify "$L" trigger "$BF" "$SF1" "$KV0"
assert_switch_pending "$L" "$T/f-trig.log" "$KV0"
row "$L" trigger ok "$(since "$t")" "--reinstall open-iscsi: cmdline.txt repaired"

# the lasting fix holds through an initramfs trigger
t=$(now)
ctl doctor --fix >"$T/f-fix.log" 2>&1
assert_contains "$(cat "$T/f-fix.log")" "fixed: /etc/default/raspi-extra-cmdline" "$L: doctor --fix writes the lasting fix"
assert_contains "$(grep raspi-fw-cmdline "$T/f-fix.log")" "ok" "$L: doctor agrees the fix is in place"
BEFORE=$(boot_set "$BF")
capt install --reinstall open-iscsi >"$T/f-trig2.log" 2>&1 || fail "$L/fix: $(tail -n 30 "$T/f-trig2.log")"
assert_not_contains "$(cat "$T/f-trig2.log")" "REPAIRED" "$L/fix: nothing to repair with the lasting fix"
grep -q ISCSI_TARGET_NAME "$BF/cmdline.txt" || fail "$L/fix: raspi-firmware's own cmdline.txt lacks ISCSI_*"
verify "$L" lasting-fix "$BF" "$BEFORE" "$KV0"
row "$L" lasting-fix ok "$(since "$t")" "doctor --fix; the hook's own cmdline.txt logs in"

# rollback to the generation before the good upgrade
t=$(now)
ctl rollback --to "$GEN_F" >"$T/f-rb.log" 2>&1 || fail "$L/rollback: $(cat "$T/f-rb.log")"
tail -n 5 "$T/f-rb.log" | sed 's/^/  | /'
verify "$L" rollback "$BF" "$SF" "$OLD"
row "$L" rollback ok "$(since "$t")" "to generation $GEN_F ($OLD)"
pass "every layout: good, guarded failure, trigger, rollback"
