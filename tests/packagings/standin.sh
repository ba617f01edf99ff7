# shellcheck shell=bash
# STAND-IN packages for the packagings Debian does not carry (sourced by tests/packagings/run.sh).
# Raspbian's raspberrypi-kernel is built from Raspberry Pi's own tree for armhf; what matters to
# the agent is its file layout and maintainer-script behaviour (FACTS, "Kernel packages and
# hooks"), which this stand-in has exactly:
#   - ONE unversioned package, raspberrypi-kernel, whose upgrade overwrites /boot/kernel.img,
#     kernel7.img, kernel8.img, the DTBs and /boot/overlays/* in place at unpack time, and whose
#     versioned /lib/modules/<ver>+, <ver>-v7+ ... go with it (dpkg deletes the old version's);
#   - a conffile /etc/default/raspberrypi-kernel, sourced by the postinst, so INITRD=No unless it
#     says INITRD=Yes (no initramfs is built by the package);
#   - postinst: run-parts -v --report --exit-on-error --arg=<ver> --arg=<image>
#     /etc/kernel/postinst.d once per flavour (+, -v7+, -v8+); preinst and postrm likewise for
#     preinst.d / postrm.d.
# What differs, and why it does not matter here: Architecture all (the chroot is amd64), the
# kernel images are the real amd64 vmlinuz of a Debian kernel, and the -v7+ modules are a real
# subset of that Debian kernel's modules (what an iSCSI root needs: SCSI, crypto, lib, block,
# ext4, the Pi 3's USB NICs smsc95xx and lan78xx) with depmod's files; the other flavours ship one module file each.
#
#   standin_raspbian_deb CHROOT DEBIAN_KVER STANDIN_VER UNPACKED_KERNEL_DIR
#       builds CHROOT/tmp/raspberrypi-kernel_1.STANDIN_VER_all.deb from the unpacked Debian
#       kernel package (dpkg-deb -x of linux-image-DEBIAN_KVER), with the chroot's depmod;
#       prints its path

standin_raspbian_deb() {
	local ch=$1 dkv=$2 sv=$3 src=$4 out=$1/tmp pkg f fl
	pkg=$out/standin-$sv
	rm -rf "$pkg"
	mkdir -p "$pkg/DEBIAN" "$pkg/boot/overlays" "$pkg/etc/default" "$pkg/lib/modules/$sv-v7+/kernel" || return 1
	# The kernel images: the same real image under every flavour's name.
	for f in kernel.img kernel7.img kernel7l.img kernel8.img; do
		cp "$src/boot/vmlinuz-$dkv" "$pkg/boot/$f" || return 1
	done
	# DTBs and overlays: content differs per version, as a new kernel's do.
	for f in bcm2710-rpi-3-b.dtb bcm2710-rpi-3-b-plus.dtb bcm2711-rpi-4-b.dtb; do
		printf 'STAND-IN device tree %s for kernel %s\n' "$f" "$sv" >"$pkg/boot/$f"
	done
	for f in vc4-kms-v3d.dtbo disable-bt.dtbo i2c-rtc.dtbo; do
		printf 'STAND-IN overlay %s for kernel %s\n' "$f" "$sv" >"$pkg/boot/overlays/$f"
	done
	printf 'STAND-IN overlays README for kernel %s\n' "$sv" >"$pkg/boot/overlays/README"
	# Modules: a real subset of the Debian kernel's, with depmod's index files.
	standin_modules_subset "$src/lib/modules/$dkv" "$pkg/lib/modules/$sv-v7+" || return 1
	chroot "$ch" depmod -b "/tmp/standin-$sv" "$sv-v7+" || return 1
	for fl in "+" "-v8+"; do
		mkdir -p "$pkg/lib/modules/$sv$fl/kernel"
		printf 'STAND-IN module for %s\n' "$sv$fl" >"$pkg/lib/modules/$sv$fl/kernel/standin.ko"
	done
	printf '#INITRD=Yes\n' >"$pkg/etc/default/raspberrypi-kernel"
	echo /etc/default/raspberrypi-kernel >"$pkg/DEBIAN/conffiles"
	cat >"$pkg/DEBIAN/control" <<-CTL
	Package: raspberrypi-kernel
	Version: 1:1.$sv
	Architecture: all
	Maintainer: netroot-agent tests <netroot@example.org>
	Description: STAND-IN for Raspbian's raspberrypi-kernel (netroot-agent test)
	 Same file layout and maintainer-script behaviour; amd64 images and modules.
	CTL
	# The maintainer scripts, as Raspbian's (raspberrypi/firmware debian/), one block per flavour.
	for f in preinst postinst postrm; do
		{
			echo '#!/bin/sh'
			echo 'if [ -f /etc/default/raspberrypi-kernel ]; then'
			echo '  . /etc/default/raspberrypi-kernel'
			echo '  INITRD=${INITRD:-"No"}'
			echo '  export INITRD'
			echo 'fi'
			echo "if [ -d \"/etc/kernel/$f.d\" ]; then"
			echo "  run-parts -v --report --exit-on-error --arg=$sv+ --arg=/boot/kernel.img /etc/kernel/$f.d"
			echo "  run-parts -v --report --exit-on-error --arg=$sv-v7+ --arg=/boot/kernel7.img /etc/kernel/$f.d"
			echo "  run-parts -v --report --exit-on-error --arg=$sv-v8+ --arg=/boot/kernel8.img /etc/kernel/$f.d"
			echo 'fi'
		} >"$pkg/DEBIAN/$f"
		chmod 0755 "$pkg/DEBIAN/$f"
	done
	dpkg-deb -Zgzip -z1 --root-owner-group -b "$pkg" "$out/raspberrypi-kernel_1.${sv}_all.deb" >/dev/null || return 1
	rm -rf "$pkg"
	echo "$out/raspberrypi-kernel_1.${sv}_all.deb"
}

# Raspberry Pi OS bookworm: Raspberry Pi's own packages, built for arm64/armhf from their tree.
# What matters to the agent (FACTS, "Kernel packages and hooks", packaging 2), which these
# stand-ins have exactly:
#   - VERSIONED kernel packages linux-image-<ver>-rpi-v8 (old versions stay installed), Debian
#     style: /boot/vmlinuz-<ver>, /boot/config-<ver>, /lib/modules/<ver>, DTBs and overlays under
#     /usr/lib/linux-image-<ver>/, maintainer scripts that run-parts /etc/kernel/{preinst,postinst,
#     postrm}.d with DEB_MAINT_PARAMS (initramfs-tools then builds /boot/initrd.img-<ver>);
#   - Raspberry Pi's raspi-firmware hook, run from /etc/kernel/postinst.d AND
#     /etc/initramfs/post-update.d: it COPIES the kernel over /boot/firmware/kernel8.img, the
#     initrd over /boot/firmware/initramfs8, and the DTBs and overlays over those in
#     /boot/firmware, in place (plain cp); it writes neither config.txt (auto_initramfs=1 makes
#     the firmware load the initramfs named after the kernel file) nor cmdline.txt.
# What differs, and why it does not matter here: Architecture all, the image is a real amd64
# Debian vmlinuz, the modules the same real subset as the Raspbian stand-in's.
#
#   standin_rpios_kernel_deb CHROOT DEBIAN_KVER STANDIN_VER UNPACKED_KERNEL_DIR
#       builds CHROOT/tmp/linux-image-STANDIN_VER-rpi-v8_STANDIN_VER-1_all.deb; prints its path
#   standin_rpios_firmware_deb CHROOT
#       builds CHROOT/tmp/rpios-raspi-firmware-standin_1_all.deb (the hook); prints its path

standin_modules_subset() { # SRC_MODULES_DIR DEST_MODULES_DIR
	local src=$1 dst=$2 d
	mkdir -p "$dst/kernel" || return 1
	for d in kernel/drivers/scsi kernel/crypto kernel/lib kernel/block kernel/arch kernel/fs/ext4 \
		kernel/fs/jbd2 kernel/fs/mbcache.ko kernel/drivers/net/virtio_net.ko kernel/drivers/net/net_failover.ko \
		kernel/net/core kernel/drivers/net/usb kernel/drivers/net/phy kernel/drivers/net/mii.ko \
		kernel/drivers/net/mdio; do
		[ -e "$src/$d" ] || continue
		mkdir -p "$dst/$(dirname "$d")"
		cp -a "$src/$d" "$dst/$d" || return 1
	done
	cp "$src/modules.builtin" "$src/modules.builtin.modinfo" "$src/modules.order" "$dst/" 2>/dev/null
	return 0
}

standin_rpios_kernel_deb() {
	local ch=$1 dkv=$2 sv=$3 src=$4 out=$1/tmp pkg kv f s
	kv=$sv-rpi-v8
	pkg=$out/standin-rpios-$sv
	rm -rf "$pkg"
	mkdir -p "$pkg/DEBIAN" "$pkg/boot" "$pkg/usr/lib/linux-image-$kv/broadcom" \
		"$pkg/usr/lib/linux-image-$kv/overlays" || return 1
	cp "$src/boot/vmlinuz-$dkv" "$pkg/boot/vmlinuz-$kv" || return 1
	cp "$src/boot/config-$dkv" "$pkg/boot/config-$kv" || return 1
	for f in bcm2710-rpi-3-b.dtb bcm2710-rpi-3-b-plus.dtb bcm2711-rpi-4-b.dtb; do
		printf 'STAND-IN device tree %s for kernel %s\n' "$f" "$kv" >"$pkg/usr/lib/linux-image-$kv/broadcom/$f"
	done
	for f in vc4-kms-v3d.dtbo disable-bt.dtbo i2c-rtc.dtbo README; do
		printf 'STAND-IN overlay %s for kernel %s\n' "$f" "$kv" >"$pkg/usr/lib/linux-image-$kv/overlays/$f"
	done
	standin_modules_subset "$src/lib/modules/$dkv" "$pkg/lib/modules/$kv" || return 1
	chroot "$ch" depmod -b "/tmp/standin-rpios-$sv" "$kv" || return 1
	cat >"$pkg/DEBIAN/control" <<-CTL
	Package: linux-image-$kv
	Version: 1:$sv-1
	Architecture: all
	Maintainer: netroot-agent tests <netroot@example.org>
	Description: STAND-IN for Raspberry Pi OS's linux-image-$kv (netroot-agent test)
	 Same file layout and maintainer-script behaviour; an amd64 image and modules.
	CTL
	# As Debian's linux-image maintainer scripts (Pi OS builds its kernels with Debian's packaging).
	for s in preinst postinst postrm; do
		{
			echo '#!/bin/sh'
			echo 'set -e'
			echo 'export DEB_MAINT_PARAMS="$*"'
			echo "if [ -d /etc/kernel/$s.d ]; then"
			echo "  run-parts --report --exit-on-error --arg=$kv --arg=/boot/vmlinuz-$kv /etc/kernel/$s.d"
			echo 'fi'
		} >"$pkg/DEBIAN/$s"
		chmod 0755 "$pkg/DEBIAN/$s"
	done
	dpkg-deb -Zgzip -z1 --root-owner-group -b "$pkg" "$out/linux-image-${kv}_${sv}-1_all.deb" >/dev/null || return 1
	rm -rf "$pkg"
	echo "$out/linux-image-${kv}_${sv}-1_all.deb"
}

standin_rpios_firmware_deb() {
	local ch=$1 out=$1/tmp pkg
	pkg=$out/standin-rpios-firmware
	rm -rf "$pkg"
	mkdir -p "$pkg/DEBIAN" "$pkg/etc/kernel/postinst.d" "$pkg/etc/initramfs/post-update.d" || return 1
	# The hook: ARGS VERSION [IMAGE|INITRD]. Only the -rpi-v8 flavour (a Pi 3/4 on arm64).
	cat >"$pkg/etc/kernel/postinst.d/z50-raspi-firmware" <<-'HOOK'
	#!/bin/sh
	# STAND-IN for Raspberry Pi OS's raspi-firmware kernel hook (netroot-agent test).
	set -e
	version=$1
	case $version in *-rpi-v8) ;; *) exit 0 ;; esac
	[ -d /boot/firmware ] || { echo "raspi-firmware: missing /boot/firmware" >&2; exit 1; }
	echo "raspi-firmware: copying kernel $version to /boot/firmware/kernel8.img"
	cp /boot/vmlinuz-"$version" /boot/firmware/kernel8.img
	if [ -f /boot/initrd.img-"$version" ]; then
		cp /boot/initrd.img-"$version" /boot/firmware/initramfs8
	fi
	cp /usr/lib/linux-image-"$version"/broadcom/*.dtb /boot/firmware/
	mkdir -p /boot/firmware/overlays
	cp /usr/lib/linux-image-"$version"/overlays/* /boot/firmware/overlays/
	HOOK
	chmod 0755 "$pkg/etc/kernel/postinst.d/z50-raspi-firmware"
	cp -p "$pkg/etc/kernel/postinst.d/z50-raspi-firmware" "$pkg/etc/initramfs/post-update.d/z50-raspi-firmware"
	cat >"$pkg/DEBIAN/control" <<-CTL
	Package: rpios-raspi-firmware-standin
	Version: 1
	Architecture: all
	Maintainer: netroot-agent tests <netroot@example.org>
	Description: STAND-IN for Raspberry Pi OS's raspi-firmware kernel hook (netroot-agent test)
	 Copies kernel, initramfs, DTBs and overlays into /boot/firmware in place.
	CTL
	dpkg-deb -Zgzip -z1 --root-owner-group -b "$pkg" "$out/rpios-raspi-firmware-standin_1_all.deb" >/dev/null || return 1
	rm -rf "$pkg"
	echo "$out/rpios-raspi-firmware-standin_1_all.deb"
}
