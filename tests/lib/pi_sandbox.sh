# shellcheck shell=bash
# A netbooting Pi 3 as the upgrade sees it, built inside a copy of the Debian chroot
# (tests/lib/chroot.sh): amd64 stands in for the Pi, so the kernel is the chroot's own and
# config.txt names it Debian-style (kernel=vmlinuz-VER: the "explicit kernel file" row of the
# flavour table). Sourced after common.sh and chroot.sh, never run.
#
#   pi_sandbox_make CH [SERIAL]   turns the chroot copy CH into the sandbox Pi:
#       CH/boot          the Pi's boot folder (on a real Pi: the NFS mount of <tftproot>/<serial>),
#                        with config.txt adapted from the tutorial and cmdline.txt with ISCSI_*
#       CH/proc/...      the Pi's identity as plain files: device-tree/model, cpuinfo (Serial),
#                        sys/kernel/osrelease (= the chroot's kernel: "the running kernel"),
#                        cmdline (= cmdline.txt: what the running kernel booted with).
#                        Decision: the tests never mount /proc in the chroot (mkinitramfs builds
#                        without it), so piinfo reads these files exactly as on a Pi and no
#                        --model/--serial override is needed.
#       CH/etc/netroot/agent.conf   boot_dir=/boot, [upgrade] verify_tftp=off (tests set tftp=)
#   pi_sandbox_tftp CH DIR        makes DIR a TFTP root serving CH/boot as DIR/<serial> (bind mount,
#                                 undone by chroot_cleanup's unmount-before-remove and our trap)
#   pi_sandbox_conf CH KEY VALUE  sets KEY in [upgrade] of agent.conf
#   PI_SERIAL, PI_KV              set by pi_sandbox_make

PI_SERIAL=
PI_KV=
PI_BINDS=()

pi_sandbox_make() {
	local ch=$1
	PI_SERIAL=${2:-511e57f7}
	PI_KV=$(chroot_kernel "$ch")
	[ -n "$PI_KV" ] || { echo "pi_sandbox: no kernel in $ch" >&2; return 1; }
	[ -s "$ch/boot/initrd.img-$PI_KV" ] || { echo "pi_sandbox: no initrd in $ch/boot" >&2; return 1; }
	mkdir -p "$ch/proc/device-tree" "$ch/proc/sys/kernel" "$ch/etc/netroot" "$ch/run" || return 1
	printf 'Raspberry Pi 3 Model B Rev 1.2\0' >"$ch/proc/device-tree/model"
	printf 'processor\t: 0\nHardware\t: BCM2835\nRevision\t: a02082\nSerial\t\t: 00000000%s\n' \
		"$PI_SERIAL" >"$ch/proc/cpuinfo"
	echo "$PI_KV" >"$ch/proc/sys/kernel/osrelease"
	# A Pi that booted a second ago (netrootctl confirm measures confirm_timeout from the boot;
	# under --root it reads this once and advances it by the monotonic clock).
	echo "1.00 1.00" >"$ch/proc/uptime"
	# The tutorial's config.txt lines, with the chroot's kernel named explicitly.
	cat >"$ch/boot/config.txt" <<-CFG
	# netroot test Pi (config.txt adapted from the netboot tutorial)
	dtparam=act_led_trigger=none
	[pi3]
	kernel=vmlinuz-$PI_KV
	initramfs initrd.img-$PI_KV followkernel
	[all]
	CFG
	echo "dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 ip=::::superpi:eth0:dhcp root=UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait ISCSI_INITIATOR=iqn.2016-11.org.raspberrypi:superpi ISCSI_TARGET_NAME=iqn.2000-01.com.synology:BlackSyno.PiTarget ISCSI_TARGET_IP=127.0.0.1 ISCSI_TARGET_PORT=3260 rw" \
		>"$ch/boot/cmdline.txt"
	# The running kernel's command line: the Pi booted this cmdline.txt (the boot check compares
	# the iSCSI login and root= of cmdline.txt with it).
	cp "$ch/boot/cmdline.txt" "$ch/proc/cmdline"
	printf 'fake dtb for the manifest\n' >"$ch/boot/bcm2710-rpi-3-b.dtb"
	chmod 0644 "$ch/boot/"*
	cat >"$ch/etc/netroot/agent.conf" <<-CONF
	[agent]
	boot_dir = /boot
	run_dir = /run/netroot
	state_dir = /var/lib/netroot
	[ipv6]
	mode = keep
	[iscsi]
	probe = off
	[upgrade]
	verify_tftp = off
	CONF
	chmod 600 "$ch/etc/netroot/agent.conf"
}

pi_sandbox_conf() {
	local ch=$1 key=$2 value=$3 f=$1/etc/netroot/agent.conf
	sed -i "/^$key *=/d" "$f"
	sed -i "/^\[upgrade\]/a $key = $value" "$f"
}

pi_sandbox_tftp() {
	local ch=$1 dir=$2
	mkdir -p "$dir/$PI_SERIAL" || return 1
	mount --bind "$ch/boot" "$dir/$PI_SERIAL" || return 1
	PI_BINDS+=("$dir/$PI_SERIAL")
}

pi_sandbox_cleanup() {
	local m
	for m in "${PI_BINDS[@]}"; do umount -l "$m" 2>/dev/null; done
	PI_BINDS=()
}
