# shellcheck shell=bash
# The VM guest's system: the cached Debian chroot (tests/lib/chroot.sh) made bootable with systemd,
# three real Debian kernels and a local apt repository (two newer kernels and Debian's REAL
# raspi-firmware, from non-free-firmware), then, per run, netroot-agent's .deb installed and the
# whole tree turned into an ext4 image for tgtd to serve as the root LUN.
# Sourced after common.sh and chroot.sh, never run.
#
#   vm_base_ensure            builds <repo>/.cache/vm-<suite>-<arch>-rN.tar.zst on first use (a few
#                             minutes: kernels come from Debian's archive), sets VM_KV_OLD (the
#                             kernel the Pi boots first), VM_KV_NEW (offered by the local repo,
#                             newer) and VM_KV_BAD (newer still, for the failing upgrade)
#   vm_root_make DIR DEB [LAB_KVER]
#                             (VM_SERIAL set) a fresh copy of the base in DIR with DEB installed and the guest's
#                             configuration (fstab with the 9p mounts, agent.conf, the test
#                             harness's command runner); with LAB_KVER, first the in-place kernel
#                             stand-in netroot-lab-kernel 1.0 holding kernel LAB_KVER
#   vm_boot_folder DIR ROOT IQN INITIATOR
#                             copies the booted kernel and initrd from ROOT/boot into DIR (the Pi's
#                             <tftproot>/<serial>/) and writes config.txt and cmdline.txt as the
#                             tutorial has them
#   vm_disk_make ROOT IMG     mkfs.ext4 -d: the root LUN
#   vm_inplace_deb ROOT KVER VERSION OUT
#                             a STAND-IN in-place kernel package (kernel-lab.img), see below
#
# The guest is amd64 playing a Raspberry Pi 3 on Debian proper: agent.conf names its model and
# serial ([agent] model=, serial=) because an x86 kernel has no device tree; the boot folder is
# mounted at /boot/firmware and the kernel packages keep their files in the root's /boot, the
# layout Debian's raspi-firmware works on (its hook copies the newest kernel and initrd from
# /boot into /boot/firmware and rewrites config.txt and cmdline.txt). The upgrade scenario
# installs the real raspi-firmware from the local repository, as an admin would.

# 2: raspi-firmware (and dosfstools, its dependency) in the local repository.
VM_RECIPE=2
VM_SUITE=${CHROOT_SUITE:-bookworm}
VM_ARCH=$(dpkg --print-architecture)
VM_TARBALL=$CHROOT_CACHE_DIR/vm-$VM_SUITE-$VM_ARCH-r$VM_RECIPE.tar.zst
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# What the guest needs beyond the chroot: an init, udev for the virtio disk and NIC, the agent's
# runtime libraries (so the .deb installs offline), and what a Pi admin types.
VM_PACKAGES="systemd-sysv udev kmod iproute2 procps libiscsi7 libnl-3-200 libnl-route-3-200 libinih1
  libcurl4 apt-utils dosfstools"
VM_KV_OLD=
VM_KV_NEW=
VM_KV_BAD=

_vm_log() {
	echo "vm: $*" >&2
}

_vm_kernels_from() {
	# The three kernels are recorded in the tarball's /etc/netroot-vm/kernels.
	local line
	line=$(zstd -q -dc "$VM_TARBALL" | tar -xOf - ./etc/netroot-vm/kernels 2>/dev/null) || return 1
	read -r VM_KV_OLD VM_KV_NEW VM_KV_BAD <<<"$line"
	[ -n "$VM_KV_BAD" ]
}

# Runs in a subshell with its own traps, like chroot.sh's builder.
_vm_base_build() {
	(
		set -o pipefail
		local root others kv0 t0
		t0=$(date +%s)
		chroot_ensure root || exit 1
		trap 'chroot_cleanup' EXIT
		chroot_mount "$root" || exit 1
		export DEBIAN_FRONTEND=noninteractive LC_ALL=C
		capt() { chroot "$root" apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "$@"; }
		# raspi-firmware is in non-free-firmware (same mirror).
		sed -i 's/ main$/ main non-free-firmware/' "$root/etc/apt/sources.list" || exit 1
		capt update >"$root/../vm-apt.log" 2>&1 || { tail -n 20 "$root/../vm-apt.log" >&2; exit 1; }
		kv0=$(chroot_kernel "$root")
		mapfile -t others < <(chroot_other_kernels "$root" | sed 's/^linux-image-//')
		[ "${#others[@]}" -ge 2 ] || {
			echo "vm: the archive offers fewer than two other kernels: ${others[*]}" >&2
			exit 1
		}
		# The Pi first boots others[1]; the local repository offers others[0] (good) and kv0 (bad).
		# shellcheck disable=SC2086
		capt install $VM_PACKAGES "linux-image-${others[1]}" >>"$root/../vm-apt.log" 2>&1 &&
			capt purge linux-image-amd64 "linux-image-$kv0" >>"$root/../vm-apt.log" 2>&1 || {
			tail -n 30 "$root/../vm-apt.log" >&2
			exit 1
		}
		mkdir -p "$root/srv/netroot-repo" "$root/etc/netroot-vm" || exit 1
		(cd "$root/srv/netroot-repo" && chroot "$root" sh -c \
			"cd /srv/netroot-repo && apt-get download linux-image-${others[0]} linux-image-$kv0 raspi-firmware &&
			 apt-ftparchive packages . > Packages") >>"$root/../vm-apt.log" 2>&1 || {
			tail -n 20 "$root/../vm-apt.log" >&2
			exit 1
		}
		capt clean || exit 1
		echo "${others[1]} ${others[0]} $kv0" >"$root/etc/netroot-vm/kernels"
		chroot_umount "$root" || exit 1
		tar --numeric-owner --xattrs -C "$root" -cf - . | zstd -q -T0 -3 -o "$VM_TARBALL.tmp" &&
			mv -f "$VM_TARBALL.tmp" "$VM_TARBALL" || exit 1
		_vm_log "base image built in $(($(date +%s) - t0)) s: $(du -h "$VM_TARBALL" | cut -f1)"
	)
}

vm_base_ensure() {
	local lockfd
	mkdir -p "$CHROOT_CACHE_DIR" || return 1
	if [ ! -s "$VM_TARBALL" ]; then
		exec {lockfd}>"$CHROOT_CACHE_DIR/vm.lock"
		flock "$lockfd"
		if [ ! -s "$VM_TARBALL" ]; then
			_vm_log "building the guest's base system (first use; cached afterwards)"
			_vm_base_build || {
				exec {lockfd}>&-
				return 1
			}
		fi
		exec {lockfd}>&-
	fi
	_vm_kernels_from || {
		_vm_log "$VM_TARBALL names no kernels"
		return 1
	}
}

vm_root_make() {
	local root=$1 deb=$2 lab_kv=${3:-} lab
	mkdir -p "$root" || return 1
	zstd -q -dc -T0 "$VM_TARBALL" | tar --numeric-owner --xattrs -C "$root" -xf - || return 1
	# The admin's in-place kernel package, installed before the agent was (its hooks find no
	# boot folder to judge in an image being built).
	if [ -n "$lab_kv" ]; then
		lab=$(vm_inplace_deb "$root" "$lab_kv" 1.0 "$root/tmp") &&
			chroot "$root" dpkg -i "/tmp/${lab##*/}" >"$root/tmp/dpkg-lab.log" 2>&1 || {
			tail -n 20 "$root/tmp/dpkg-lab.log" >&2
			return 1
		}
		rm -f "$lab"
	fi
	cp "$deb" "$root/tmp/" || return 1
	chroot "$root" dpkg -i "/tmp/$(basename "$deb")" >"$root/tmp/dpkg.log" 2>&1 || {
		tail -n 20 "$root/tmp/dpkg.log" >&2
		return 1
	}
	rm -f "$root/tmp/$(basename "$deb")" "$root/usr/sbin/policy-rc.d"
	install -m 0755 "$VM_DIR/guest/netroot-vmctl" "$root/usr/local/sbin/netroot-vmctl" &&
		install -m 0644 "$VM_DIR/guest/netroot-vmctl.service" \
			"$root/etc/systemd/system/netroot-vmctl.service" || return 1
	echo "deb [trusted=yes] file:/srv/netroot-repo ./" >"$root/etc/apt/sources.list" || return 1
	echo "pi-vm" >"$root/etc/hostname"
	mkdir -p "$root/vmctl" "$root/srv/tftproot" "$root/boot/firmware" || return 1
	cat >"$root/etc/fstab" <<-FSTAB
	/dev/sda / ext4 rw,errors=remount-ro 0 1
	# The Pi's boot folder: on a real Pi an NFS mount of <tftproot>/<serial>; here a 9p share of it,
	# at /boot/firmware as Debian's raspi-firmware wants it (the kernels stay in the root's /boot).
	boot /boot/firmware 9p trans=virtio,version=9p2000.L,msize=262144 0 0
	tftproot /srv/tftproot 9p trans=virtio,version=9p2000.L,msize=262144 0 0
	# TEST HARNESS ONLY: the host's command drop box (tests/vm/guest/netroot-vmctl).
	vmctl /vmctl 9p trans=virtio,version=9p2000.L,msize=262144 0 0
	FSTAB
	printf '9p\n9pnet_virtio\n' >"$root/etc/modules-load.d/netroot-vm.conf"
	# A netbooting Pi's initramfs travels over TFTP: MODULES=dep (what this machine uses; open-iscsi's
	# hook adds iSCSI) keeps it small, and mkinitramfs under TCG short (MODULES=most or netboot
	# spawn a process per module: 6 to 8 minutes each here). The NIC drivers, the Pi's and the
	# VM's, are named, as is what netrootctl check-initrd asks for (MODULES=netboot alone lacked
	# sd_mod: the agent refused that initramfs, seen here first).
	sed -i 's/^MODULES=.*/MODULES=dep/' "$root/etc/initramfs-tools/initramfs.conf" &&
		printf '%s\n' sd_mod ext4 crc32c_generic virtio_net virtio_pci smsc95xx \
			>>"$root/etc/initramfs-tools/modules" || return 1
	# What `netrootctl doctor` tells a Pi admin with an iSCSI root: ride out a long NAS outage
	# (replacement_timeout 86400) for sessions iscsid makes, and for the one the initramfs made.
	sed -i 's/^node.session.timeo.replacement_timeout = .*/node.session.timeo.replacement_timeout = 86400/' \
		"$root/etc/iscsi/iscsid.conf" || return 1
	echo 'ACTION=="add", SUBSYSTEM=="iscsi_session", ATTR{recovery_tmo}="86400"' \
		>"$root/etc/udev/rules.d/60-iscsi-root-timeout.rules" || return 1
	# The metrics file lives in the lab's share so the host can watch it while the guest's root is
	# stalled; the unit's sandbox needs to be told (netroot-agent.conf(5), metrics_file).
	mkdir -p "$root/etc/systemd/system/netrootd.service.d" &&
		printf '[Service]\nReadWritePaths=/vmctl\n' \
			>"$root/etc/systemd/system/netrootd.service.d/vm-metrics.conf" || return 1
	chroot "$root" systemctl enable netroot-vmctl.service iscsid.service >/dev/null 2>&1 || return 1
	# A persistent journal: a boot that rolls itself back and reboots (on_bad =
	# rollback-and-reboot) is read from the next boot with journalctl -b -1.
	mkdir -p "$root/var/log/journal" || return 1
	# No password prompt on the serial console: the console log is for reading, not for logins.
	chroot "$root" passwd -d root >/dev/null || return 1
	install -m 0600 /dev/stdin "$root/etc/netroot/agent.conf" <<-CONF
	# netroot-agent in the VM lab (tests/vm/): a Pi 3 emulated by QEMU, quick checks for the test.
	[agent]
	# The shipped default: /boot/firmware when it holds config.txt, else /boot (here: /boot/firmware).
	boot_dir = auto
	metrics_file = /vmctl/metrics.prom
	model = Raspberry Pi 3 Model B Rev 1.2
	serial = $VM_SERIAL
	[led]
	# QEMU has no activity LED.
	enabled = no
	[ipv6]
	mode = disable
	[iscsi]
	probe = discovery
	probe_interval = 1s
	probe_timeout = 1s
	fail_after = 2
	recover_after = 2
	session_poll = 1s
	[upgrade]
	shared_dir = /srv/tftproot
	tftp = 10.0.2.2
	verify_tftp = required
	confirm_after = 20s
	[boot]
	# netroot-confirm.service decides a pending boot; confirm_timeout keeps its default (10 min)
	# until the never-healthy scenario shortens it. A bad boot is rolled back and rebooted.
	on_bad = rollback-and-reboot
	CONF
}

vm_boot_folder() {
	local dir=$1 root=$2 target=$3 initiator=$4
	mkdir -p "$dir" || return 1
	# What raspi-firmware's hook would have copied: the booted kernel and its initrd.
	cp "$root/boot/vmlinuz-$VM_KV_OLD" "$root/boot/initrd.img-$VM_KV_OLD" "$dir/" || {
		_vm_log "no kernel or initrd for $VM_KV_OLD in the image's /boot: $(ls "$root/boot")"
		return 1
	}
	cat >"$dir/config.txt" <<-CFG
	# Raspberry Pi 3 netbooting its root over iSCSI (the tutorial's config.txt, Debian kernel names)
	dtparam=act_led_trigger=none
	[pi4]
	kernel=kernel8.img
	[pi3]
	kernel=vmlinuz-$VM_KV_OLD
	initramfs initrd.img-$VM_KV_OLD followkernel
	[all]
	CFG
	echo "console=ttyS0 ip=dhcp root=/dev/sda rootfstype=ext4 rw ISCSI_INITIATOR=$initiator ISCSI_TARGET_NAME=$target ISCSI_TARGET_IP=10.0.2.2 ISCSI_TARGET_PORT=3260 panic=10" \
		>"$dir/cmdline.txt"
	printf 'FAKE device tree: the VM boots without one\n' >"$dir/bcm2710-rpi-3-b.dtb"
}

vm_disk_make() {
	local root=$1 img=$2
	mkfs.ext4 -q -F -L pi-root -d "$root" "$img" 3G >/dev/null
}

# vm_inplace_deb ROOT KVER VERSION OUT: a STAND-IN in-place kernel package, as a Pi admin with a
# self-built kernel has one (a local package): it overwrites the fixed file
# /boot/firmware/kernel-lab.img with kernel KVER's image (the real Debian bzImage from the local
# repository under ROOT; linux-image-KVER brings its modules) and, as Raspbian's
# raspberrypi-kernel does, builds no initramfs (INITRD=No) and runs the kernel hooks with the
# version and the image. Writes OUT/netroot-lab-kernel_VERSION_all.deb; prints its path.
vm_inplace_deb() {
	local root=$1 kv=$2 ver=$3 out=$4 pkg deb
	pkg=$out/netroot-lab-kernel-$ver
	deb=$(ls "$root"/srv/netroot-repo/linux-image-"$kv"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || { _vm_log "no linux-image-$kv in $root/srv/netroot-repo"; return 1; }
	mkdir -p "$pkg/DEBIAN" "$pkg/boot/firmware" || return 1
	dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./boot/vmlinuz-$kv" >"$pkg/boot/firmware/kernel-lab.img" ||
		return 1
	cat >"$pkg/DEBIAN/control" <<-CTL
	Package: netroot-lab-kernel
	Version: $ver
	Architecture: all
	Maintainer: netroot-agent tests <netroot@example.org>
	Description: STAND-IN in-place kernel for the netroot-agent VM lab
	 Overwrites /boot/firmware/kernel-lab.img with kernel $kv; runs the kernel hooks.
	CTL
	cat >"$pkg/DEBIAN/postinst" <<-SCRIPT
	#!/bin/sh
	set -e
	INITRD=No
	export INITRD
	if [ -d /etc/kernel/postinst.d ]; then
	  run-parts -v --report --exit-on-error --arg=$kv --arg=/boot/firmware/kernel-lab.img /etc/kernel/postinst.d
	fi
	SCRIPT
	chmod 0755 "$pkg/DEBIAN/postinst"
	dpkg-deb -Zgzip -z1 --root-owner-group -b "$pkg" "$out/netroot-lab-kernel_${ver}_all.deb" >/dev/null || return 1
	rm -rf "$pkg"
	echo "$out/netroot-lab-kernel_${ver}_all.deb"
}
