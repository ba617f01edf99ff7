#!/bin/bash
# make test-vm: the whole product on a real kernel, initramfs, iSCSI session and systemd.
# A QEMU guest (TCG) plays a Raspberry Pi 3 that netboots from a NAS:
#   - tgtd, in a network namespace of this run's own, serves the root LUN: an ext4 image of the
#     Debian chroot with netroot-agent's .deb installed (tests/vm/image.sh);
#   - the Pi's boot folder <tftproot>/<serial>/ is shared into the guest as /boot/firmware over 9p
#     (the NFS mount of a real Pi; Debian's layout: the kernel packages keep their files in the
#     root's /boot), the TFTP root as /srv/tftproot (its shared firmware); QEMU's own TFTP server
#     serves the same tree at 10.0.2.2, as the NAS's does;
#   - tests/vm/firmware.py plays start.elf: it reads config.txt (and the files it includes) and
#     cmdline.txt and boots QEMU with exactly the kernel, initramfs and command line they name.
# Scenarios, each asserted from the host: boot, fault (tgtd stopped 20 s), upgrade (Debian's REAL
# raspi-firmware installed through apt, its hook rewriting config.txt and cmdline.txt, then a
# kernel through apt under that hook, reboot into it with confirmation), a guarded failure
# (initramfs without iSCSI), never-healthy (in place: a package overwrites the fixed kernel file
# kernel-lab.img; the new kernel boots but its root never gets healthy: rolled back, the old
# image put back into kernel-lab.img, and rebooted by the Pi itself), and a rollback run on the
# host against the boot folder, as on the NAS.
#
# Usage: tests/vm/run.sh [--demo]   (--demo: tells what happens as it goes, for `make demo VM=1`)
# Environment: BUILD (unused: the guest gets the .deb), VM_KEEP=1 keeps $T for a look afterwards,
# VM_SERIAL=<8 hex digits> the Pi's serial folder (default 0b615590, a leading zero on purpose).
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/tgt.sh
. "$TOP/tests/lib/tgt.sh"
# shellcheck source=../lib/deb.sh
. "$TOP/tests/lib/deb.sh"
# shellcheck source=image.sh
. "$TOP/tests/vm/image.sh"

DEMO=0
[ "${1:-}" = --demo ] && DEMO=1
say() { [ "$DEMO" = 1 ] && printf '\n== %s\n' "$*"; return 0; }

[ "$(id -u)" = 0 ] || fail "needs root (network namespace, tgtd, chroot)"
for tool in qemu-system-x86_64 mkfs.ext4 python3 tgtd dpkg-buildpackage zstd jq sha256sum; do
	command -v "$tool" >/dev/null || fail "$tool not installed (make vm-deps)"
done
why=$(tgt_lab_check) || fail "$why"
on_cleanup chroot_cleanup
[ "${VM_KEEP:-0}" = 1 ] && on_cleanup 'echo "kept: $T"; T=/nonexistent'

# The Pi's folder is named as the bootloader asks the TFTP server for it: the low 32 bits of the
# serial as 8 lowercase hex digits WITH leading zeros (cpuinfo 000000000b615590 -> 0b615590/;
# LibreELEC PR 3853, rpi-eeprom#563). The default serial starts with a 0 on purpose: a reader
# that drops it (b615590/) fetches from a folder the Pi never reads, and the lab must see that.
VM_SERIAL=${VM_SERIAL:-0b615590}
[[ $VM_SERIAL =~ ^[0-9a-f]{8}$ ]] ||
	fail "VM_SERIAL=$VM_SERIAL: the serial folder is 8 lowercase hex digits (leading zeros kept)"

T0=$(date +%s)
TIMES=()
scenario_start() { S_NAME=$1; S_T0=$(date +%s.%N); echo "--- scenario: $1"; }
scenario_end() {
	local secs
	secs=$(awk -v a="$S_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
	TIMES+=("$(printf '%-22s %5s s  %s' "$S_NAME" "$secs" "${1:-}")")
	echo "--- scenario $S_NAME done in $secs s"
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# --- the lab ---------------------------------------------------------------------------------
scenario_start setup
deb_build "$T/deb" || fail "the package does not build"
pass "package built: $(basename "$DEB")"
vm_base_ensure || fail "cannot build the guest's base system"
echo "kernels: the Pi boots $VM_KV_OLD; the local repository offers $VM_KV_NEW and $VM_KV_BAD"
IQN=iqn.2026-11.test.netroot:vm-$VM_SERIAL
INITIATOR=iqn.2016-11.org.raspberrypi:pi-$VM_SERIAL
TFTPROOT=$T/tftproot
BOOT=$TFTPROOT/$VM_SERIAL
VMCTL=$T/vmctl
mkdir -p "$TFTPROOT" "$VMCTL"
# FAKE firmware: the VM never runs these (QEMU boots the kernel directly), but the agent backs up
# and hashes the shared set at the TFTP root exactly as it does a real one.
for f in bootcode.bin start.elf fixup.dat; do
	printf 'FAKE %s for the VM lab\n' "$f" >"$TFTPROOT/$f"
done
(cd "$TFTPROOT" && sha256sum bootcode.bin start.elf fixup.dat) >"$T/firmware.sha256"
vm_root_make "$T/root" "$DEB" "$VM_KV_NEW" || fail "cannot prepare the guest's root"
vm_boot_folder "$BOOT" "$T/root" "$IQN" "$INITIATOR" || fail "cannot prepare the boot folder"
# The tutorial gives the Pi's iscsid the name its cmdline.txt logs in with: iscsid, adopting the
# initramfs's session, logs in again under it (and the never-healthy scenario's NAS admits that
# name only).
echo "InitiatorName=$INITIATOR" >"$T/root/etc/iscsi/initiatorname.iscsi" || fail "initiatorname.iscsi"
tgt_lab_setup || fail "lab setup"
# QEMU's user networking maps the guest's 10.0.2.2 to this namespace's 127.0.0.1.
TGT_PORT=3260
TGT_PORTAL=127.0.0.1:$TGT_PORT
tgt_start || fail "tgtd does not start"
# The never-healthy scenario's in-place kernel: the image holds netroot-lab-kernel 1.0 (kernel
# $VM_KV_NEW in kernel-lab.img); 2.0 brings $VM_KV_BAD.
LAB_DEB=$(vm_inplace_deb "$T/root" "$VM_KV_BAD" 2.0 "$VMCTL") || fail "cannot build the in-place kernel stand-in"
LAB_SHA=$(dpkg-deb --fsys-tarfile "$LAB_DEB" | tar -xOf - ./boot/firmware/kernel-lab.img | sha256sum | cut -d' ' -f1)
vm_disk_make "$T/root" "$TGT_DIR/lun-1.img" || fail "mkfs.ext4 -d"
rm -rf "$T/root"
tgt_add_target 1 "$IQN" || fail "cannot add the root target"
pass "lab: tgtd serves $IQN (3 GiB ext4) in $TGT_NS; boot folder $BOOT"
scenario_end "package, image, lab"

# --- the guest -------------------------------------------------------------------------------
QEMU_PID=
BOOTS=0

# vm_boot [--tryboot]: the firmware reads the boot folder and starts QEMU; waits until the
# guest's command runner announces itself. Sets BOOTED_KV and BOOT_SECS.
# The metrics file of the previous boot is removed first: a verdict read after a boot is this
# boot's (the guest is down, nobody writes it).
vm_boot() {
	local t0 log
	BOOTS=$((BOOTS + 1))
	log=$T/console-$BOOTS.log
	rm -f "$VMCTL/booted" "$VMCTL/metrics.prom"
	t0=$(date +%s.%N)
	ip netns exec "$TGT_NS" python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" "$@" -- \
		-accel tcg -cpu max -smp 2 -m 1024 -nodefaults -display none -monitor none -no-reboot \
		-serial "file:$log" \
		-netdev "user,id=n0,tftp=$TFTPROOT" -device virtio-net-pci,netdev=n0 \
		-fsdev "local,id=boot,path=$BOOT,security_model=none" \
		-device virtio-9p-pci,fsdev=boot,mount_tag=boot \
		-fsdev "local,id=tftproot,path=$TFTPROOT,security_model=none" \
		-device virtio-9p-pci,fsdev=tftproot,mount_tag=tftproot \
		-fsdev "local,id=vmctl,path=$VMCTL,security_model=none" \
		-device virtio-9p-pci,fsdev=vmctl,mount_tag=vmctl \
		>"$T/firmware-$BOOTS.log" 2>&1 </dev/null &
	QEMU_PID=$!
	track_pid "$QEMU_PID"
	until [ -s "$VMCTL/booted" ]; do
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then
			echo "firmware: $(cat "$T/firmware-$BOOTS.log")" >&2
			tail -n 40 "$log" >&2
			fail "boot $BOOTS: QEMU exited before the guest came up"
		fi
		if [ "$(elapsed "$t0" | cut -d. -f1)" -ge 400 ]; then
			tail -n 60 "$log" >&2
			fail "boot $BOOTS: the guest did not come up within 400 s"
		fi
		sleep 0.5
	done
	BOOT_SECS=$(elapsed "$t0")
	read -r _ BOOTED_KV <"$VMCTL/booted"
	echo "boot $BOOTS: $(cat "$T/firmware-$BOOTS.log" | grep '^firmware: kernel=' | head -n1)"
	echo "boot $BOOTS: up in $BOOT_SECS s running $BOOTED_KV"
}

# vm_cmd [-t SECONDS] SCRIPT: runs SCRIPT (bash) in the guest; its output on stdout, its status
# as ours.
vm_cmd() {
	local timeout=120 n t0
	if [ "$1" = -t ]; then timeout=$2; shift 2; fi
	# Unique without a counter: vm_cmd often runs in a $(...) subshell, which would lose one.
	n=$(date +%s%N)-$RANDOM
	printf '%s\n' "$1" >"$VMCTL/.cmd-$n.sh" && mv "$VMCTL/.cmd-$n.sh" "$VMCTL/cmd-$n.sh"
	t0=$(date +%s)
	until [ -e "$VMCTL/rc-$n" ]; do
		kill -0 "$QEMU_PID" 2>/dev/null || { echo "vm_cmd: the guest is gone" >&2; return 99; }
		[ $(($(date +%s) - t0)) -lt "$timeout" ] || { echo "vm_cmd: no answer in $timeout s: $1" >&2; return 98; }
		sleep 0.2
	done
	cat "$VMCTL/out-$n"
	return "$(cat "$VMCTL/rc-$n")"
}

# vm_down reboot|poweroff: asks systemd, then waits for QEMU to exit (-no-reboot turns a reboot
# into an exit; the firmware boots the next time we say). A shutdown that hangs is a power cut.
vm_down() {
	local t0
	t0=$(date +%s.%N)
	# The guest may be gone before it writes the command's exit code: that is the point.
	vm_cmd "systemctl --no-block $1" >/dev/null 2>&1
	for _ in $(seq 600); do
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -9 "$QEMU_PID"
		echo "$1: the guest did not stop within 120 s; power cut"
	fi
	wait "$QEMU_PID" 2>/dev/null
	echo "$1: down in $(elapsed "$t0") s"
}

# The daemon's metrics file (the guest writes it into the vmctl share): readable from here even
# while the guest's root is stalled.
metric() { # NAME-WITH-LABELS
	awk -v m="$1" '$1 == m { print $2 }' "$VMCTL/metrics.prom" 2>/dev/null
}
state_is() { [ "$(metric "netroot_state{state=\"$1\"}")" = 1 ]; }
state_now() { awk '/^netroot_state\{/ && $2 == 1 { sub(/.*state="/, ""); sub(/".*/, ""); print }' "$VMCTL/metrics.prom" 2>/dev/null; }

# The boot confirmation's journal events (netrootctl confirm logs them with MESSAGE_ID).
MSG_CONFIRMED=b6e55df01ca247ffa7fbc06e67aeb532
MSG_REJECTED=c73fe56bc4e844c9a83f375cb7f21cd8

# confirm_facts: waits (in the guest) until multi-user.target is reached and
# netroot-confirm.service has run to its end in this boot, then prints what systemd says about it.
confirm_facts() {
	vm_cmd -t 300 'for _ in $(seq 480); do
		[ "$(systemctl is-active multi-user.target)" = active ] &&
			[ "$(systemctl show -P ExecMainExitTimestampMonotonic netroot-confirm.service)" != 0 ] && break
		sleep 0.5
	done
	echo "enabled=$(systemctl is-enabled netroot-confirm.service)"
	echo "default=$(systemctl get-default)"
	echo "multi-user=$(systemctl is-active multi-user.target)"
	systemctl list-dependencies --plain --no-pager multi-user.target | grep -q "netroot-confirm.service" &&
		echo "multi-user.target wants netroot-confirm.service"
	systemctl show -p WantedBy -p After -p ActiveState -p Result -p ExecMainStatus -p ExecMainStartTimestampMonotonic netroot-confirm.service
	echo "--- journal of netroot-confirm.service, this boot"
	journalctl -b -o cat --no-pager -u netroot-confirm.service'
}
# assert_confirm_ran FACTS: netroot-confirm.service is wired into multi-user.target and ran to a
# clean end in this boot.
assert_confirm_ran() {
	local f=$1
	echo "$f" | sed 's/^/  guest| /'
	assert_contains "$f" "enabled=enabled" "netroot-confirm.service is enabled"
	assert_contains "$f" "multi-user=active" "the guest reached multi-user.target"
	assert_contains "$f" "multi-user.target wants netroot-confirm.service" \
		"multi-user.target pulls in netroot-confirm.service (systemctl list-dependencies)"
	assert_contains "$f" "WantedBy=multi-user.target" "netroot-confirm.service: WantedBy=multi-user.target"
	assert_contains "$f" "netrootd.service" "netroot-confirm.service runs after netrootd.service"
	echo "$f" | grep -q '^ExecMainStartTimestampMonotonic=[1-9]' ||
		fail "netroot-confirm.service did not run in this boot"
	pass "netroot-confirm.service ran in this boot"
	assert_contains "$f" "Result=success" "netroot-confirm.service ended with Result=success"
	assert_contains "$f" "ExecMainStatus=0" "netrootctl confirm exited 0"
}

# --- scenario 1: boot ------------------------------------------------------------------------
scenario_start boot
say "Boot 1: the firmware script reads $BOOT/config.txt and boots QEMU; the root is the iSCSI LUN"
vm_boot
assert_eq "$BOOTED_KV" "$VM_KV_OLD" "boot 1 runs the kernel config.txt names ($VM_KV_OLD)"
wait_for 120 state_is OK || fail "netrootd did not report OK: $(cat "$VMCTL/metrics.prom" 2>&1 | grep -v '^#')"
pass "netrootd reports OK (metrics file)"
out=$(vm_cmd 'cat /sys/class/iscsi_session/session*/targetname /sys/class/iscsi_session/session*/state; findmnt -no SOURCE,FSTYPE /; findmnt -no FSTYPE /boot/firmware')
echo "$out" | sed 's/^/  guest| /'
assert_contains "$out" "$IQN" "the kernel's iSCSI session is to the root target"
assert_contains "$out" "LOGGED_IN" "the kernel's session is LOGGED_IN"
assert_contains "$out" "/dev/sda ext4" "the root filesystem is the iSCSI disk"
assert_contains "$out" "9p" "/boot/firmware is the boot folder share"
status=$(vm_cmd 'SYSTEMD_COLORS=0 systemctl status --no-pager --lines=0 netrootd')
echo "$status" | sed 's/^/  guest| /'
assert_contains "$status" "active (running)" "systemctl status: netrootd active (running)"
assert_contains "$status" "Status: \"root $IQN via" "systemctl status: the STATUS line names the root"
assert_contains "$status" "OK" "systemctl status: the STATUS line says OK"
assert_contains "$status" "session LOGGED_IN" "systemctl status: the STATUS line has the kernel session LOGGED_IN"
vm_cmd 'journalctl -b -o json --output-fields=MESSAGE_ID,MESSAGE,NETROOT_STATE,SYSLOG_IDENTIFIER _SYSTEMD_UNIT=netrootd.service' \
	>"$T/journal-1.json" || fail "journalctl in the guest"
jq -r 'select(.MESSAGE_ID != null) | .MESSAGE' "$T/journal-1.json" | sed 's/^/  journal| /' | head -n 12
n_events=$(jq -r 'select(.MESSAGE_ID != null) | .MESSAGE_ID' "$T/journal-1.json" | sort -u | wc -l)
[ "$n_events" -ge 2 ] || fail "the guest's journal has $n_events kinds of netrootd events"
pass "the journal has $n_events kinds of netrootd events (with MESSAGE_ID)"
jq -e 'select(.NETROOT_STATE == "OK")' "$T/journal-1.json" >/dev/null ||
	fail "no journal event with NETROOT_STATE=OK"
pass "a journal event carries NETROOT_STATE=OK"
ipv6=$(vm_cmd 'cat /proc/sys/net/ipv6/conf/all/disable_ipv6')
assert_eq "$ipv6" 1 "IPv6 disabled as agent.conf says"
bc=$(vm_cmd 'netrootctl bootcfg show')
assert_contains "$bc" "Boot dir:   /boot/firmware (boot_dir = auto)" "boot_dir = auto finds the boot folder the firmware reads (/boot/firmware)"
say "netroot-confirm.service: wired into multi-user.target under the guest's real systemd; nothing pending yet"
facts=$(confirm_facts) || fail "systemctl in the guest: $facts"
assert_confirm_ran "$facts"
assert_contains "$facts" "nothing pending in /boot/firmware" "netrootctl confirm: nothing pending in /boot/firmware on the first boot"
scenario_end "boot $BOOT_SECS s"

# --- scenario 2: fault -----------------------------------------------------------------------
scenario_start fault
say "Fault: tgtd stopped for 20 s under the running guest"
t_kill=$(date +%s.%N)
tgt_kill
wait_for 30 state_is FAILED || fail "netrootd did not report FAILED within 30 s"
t_failed=$(elapsed "$t_kill")
pass "FAILED after $t_failed s"
session_down() { [ "$(metric netroot_session_logged_in)" = 0 ]; }
probe_down() { [ "$(metric netroot_probe_up)" = 0 ]; }
wait_for 10 session_down || fail "the metrics never showed the kernel session down"
t_session=$(elapsed "$t_kill")
pass "the kernel session state shows the loss after $t_session s"
wait_for 15 probe_down || fail "the probe of the portal did not fail while tgtd is down"
t_probe=$(elapsed "$t_kill")
pass "the out-of-band probe fails after $t_probe s"
sleep "$(awk -v t="$(elapsed "$t_kill")" 'BEGIN { s = 20 - t; print (s > 0 ? s : 0) }')"
# Refuse connections until the target is back, so the guest's iscsid never logs in to a tgtd
# without targets (it would give up on "target not found").
tgt_fw_reject syn || fail "iptables"
tgt_start || fail "tgtd does not restart"
tgt_add_target 1 "$IQN" || fail "cannot add the root target again"
tgt_fw_clear
t_back=$(date +%s.%N)
echo "  tgtd back after $(elapsed "$t_kill") s"
wait_for 120 state_is OK || fail "netrootd did not report OK within 120 s of tgtd's return"
t_ok=$(elapsed "$t_back")
pass "OK again $t_ok s after tgtd's return"
out=$(vm_cmd -t 60 'echo written >/var/tmp/after-fault && sync && cat /var/tmp/after-fault && cat /sys/class/iscsi_session/session*/state')
assert_contains "$out" "written" "the guest's root is writable after the fault"
assert_contains "$out" "LOGGED_IN" "the kernel session logged in again"
vm_cmd 'journalctl -b -o cat -u netrootd | grep -E "FAILED|OK" | tail -n 6' | sed 's/^/  journal| /'
scenario_end "FAILED after $t_failed s (session $t_session s, probe $t_probe s), OK $t_ok s after tgtd is back"

# --- scenario 3: Debian's real raspi-firmware, then an upgrade through apt under its hook -------
scenario_start upgrade
say "raspi-firmware: apt-get install raspi-firmware (Debian's real package) in the guest; its hook rewrites config.txt and cmdline.txt"
t_rf=$(date +%s.%N)
vm_cmd -t 600 "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q raspi-firmware" >"$T/apt-rf.log" 2>&1
rc=$?
grep -E '^(netroot|raspi-firmware|\*\*\*)' "$T/apt-rf.log" | sed 's/^/  apt| /' | head -n 30
[ "$rc" = 0 ] || fail "apt-get install raspi-firmware in the guest exited $rc: $(tail -n 30 "$T/apt-rf.log")"
rf_secs=$(elapsed "$t_rf")
assert_contains "$(cat "$T/apt-rf.log")" "REPAIRED cmdline.txt" "the agent repaired the cmdline.txt raspi-firmware's hook wrote, on the apt console"
assert_contains "$(cat "$BOOT/config.txt")" "It is automatically generated upon install or update" \
	"config.txt is the one raspi-firmware's hook wrote"
assert_contains "$(cat "$BOOT/cmdline.txt")" "ISCSI_TARGET_NAME=$IQN" "cmdline.txt still logs into the root target"
fw=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null)
assert_contains "$fw" "kernel=vmlinuz-$VM_KV_OLD" "the firmware reads kernel=vmlinuz-$VM_KV_OLD from the hook's config.txt"
check=$(vm_cmd 'netrootctl hook check 2>&1; echo "exit $?"')
echo "$check" | sed 's/^/  guest| /'
assert_contains "$check" "exit 0" "netrootctl hook check passes after raspi-firmware's install"
say "Upgrade: apt-get install linux-image-$VM_KV_NEW inside the guest, from the local repository, under raspi-firmware's hook"
cfg_before=$(sha256sum <"$BOOT/config.txt")
t_apt=$(date +%s.%N)
# INITRD as Debian ships it (not No): raspi-firmware copies the newest /boot/initrd.img-* into the
# boot folder and deletes there every initrd that is not in /boot, so the kernel package's own
# initrd must exist (docs/vm.md).
vm_cmd -t 1500 "DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-image-$VM_KV_NEW" \
	>"$T/apt-new.log" 2>&1
rc=$?
grep -E '^(netroot|step|upgraded|raspi-firmware|  )' "$T/apt-new.log" | grep -v 'mkinitramfs running' | sed 's/^/  apt| /' | head -n 60
[ "$rc" = 0 ] || fail "apt-get install in the guest exited $rc: $(tail -n 30 "$T/apt-new.log")"
apt_secs=$(elapsed "$t_apt")
pass "apt-get install linux-image-$VM_KV_NEW in the guest ($apt_secs s)"
log=$(cat "$T/apt-new.log")
assert_contains "$log" "REPAIRED cmdline.txt: raspi-firmware's hook (kernel postinst) dropped the iSCSI login" \
	"the kernel install's raspi-firmware hook dropped the iSCSI login; the agent put it back"
assert_contains "$(cat "$BOOT/cmdline.txt")" "ISCSI_TARGET_NAME=$IQN" "cmdline.txt still logs into the root target after the kernel install"
assert_contains "$log" "upgraded: kernel $VM_KV_NEW" "the hooks ran the guarded upgrade"
assert_contains "$log" "netroot: backup before this apt run: generation" "apt-pre saved the boot folder before dpkg"
assert_not_contains "$log" "no backup of the boot folder" "the backup worked on the 9p boot folder and TFTP root"
assert_contains "$log" "/boot/initrd.img-$VM_KV_NEW taken: update-initramfs built it in this apt run" \
	"one mkinitramfs per kernel install: the agent takes the initrd update-initramfs built in this apt run"
assert_not_contains "$log" "mkinitramfs took" "no second mkinitramfs"
assert_contains "$log" "step 5/8: check: checking initrd.img-$VM_KV_NEW" "the agent checked the new initramfs"
assert_contains "$log" "step 6/8: switch: initrd.img-$VM_KV_NEW (atomic rename)" "the new initramfs switched in atomically"
# raspi-firmware's hook copied the kernel package's initrd.img-VER into the boot folder first: the
# agent's checked copy replaces it, the hook's copy kept in the generation.
assert_contains "$log" "initrd.img-$VM_KV_NEW (the old one is in the generation) is now the new initramfs" \
	"the agent's checked initramfs replaced the copy raspi-firmware's hook made"
assert_contains "$log" "/initrd.img-$VM_KV_NEW: " "the new initramfs fetched back over TFTP"
assert_contains "$log" "sha256 matches" "what TFTP serves matches the boot folder (sha256)"
[ "$(sha256sum <"$BOOT/config.txt")" != "$cfg_before" ] || fail "config.txt unchanged after the upgrade"
fw=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null)
assert_contains "$fw" "kernel=vmlinuz-$VM_KV_NEW" "the firmware now reads kernel=vmlinuz-$VM_KV_NEW"
assert_contains "$fw" "initramfs=initrd.img-$VM_KV_NEW" "the firmware now reads initrd.img-$VM_KV_NEW"
(cd "$TFTPROOT" && sha256sum -c --quiet "$T/firmware.sha256") || fail "the shared firmware changed"
pass "the shared firmware at the TFTP root is intact (sha256)"
vm_cmd "netrootctl history --json" >"$T/h-new.json" || fail "history: $(cat "$T/h-new.json")"
gen_new=$(jq -r --arg k "$VM_KV_NEW" '[.generations[] | select(.kernel_to == $k)] | last | .gen' "$T/h-new.json")
assert_eq "$(jq -r --argjson g "$gen_new" '.generations[] | select(.gen == $g) | .status' "$T/h-new.json")" \
	pending "history: generation $gen_new ($VM_KV_NEW) pending before the reboot"
say "Reboot: the firmware script boots whatever config.txt now names"
vm_down reboot
vm_boot
assert_eq "$BOOTED_KV" "$VM_KV_NEW" "boot $BOOTS runs the new kernel $VM_KV_NEW"
confirmed() {
	vm_cmd "netrootctl history --json" >"$T/h-conf.json" 2>/dev/null &&
		[ "$(jq -r --argjson g "$gen_new" '.generations[] | select(.gen == $g) | .status' "$T/h-conf.json")" = good ]
}
t_conf=$(date +%s.%N)
wait_for 300 confirmed || fail "generation $gen_new not confirmed: $(cat "$T/h-conf.json")"
conf_secs=$(elapsed "$t_conf")
pass "the boot is confirmed: history says generation $gen_new good ($conf_secs s after the guest came up; confirm_after=20s)"
vm_cmd 'netrootctl history' | sed 's/^/  guest| /'
facts=$(confirm_facts) || fail "systemctl in the guest: $facts"
assert_confirm_ran "$facts"
assert_contains "$facts" "generation $gen_new (kernel $VM_KV_NEW): good" "netrootctl confirm (the unit) decided generation $gen_new good"
vm_cmd "journalctl -b -o json --output-fields=MESSAGE_ID,MESSAGE,NETROOT_GENERATION,NETROOT_BOOT,_SYSTEMD_UNIT MESSAGE_ID=$MSG_CONFIRMED" \
	>"$T/journal-confirm.json" || fail "journalctl in the guest"
jq -r '.MESSAGE' "$T/journal-confirm.json" | sed 's/^/  journal| /'
jq -e --arg g "$gen_new" 'select(._SYSTEMD_UNIT == "netroot-confirm.service" and .NETROOT_GENERATION == $g and .NETROOT_BOOT == "good")' \
	"$T/journal-confirm.json" >/dev/null || fail "no BOOT_CONFIRMED event from netroot-confirm.service for generation $gen_new"
pass "journal: BOOT_CONFIRMED (MESSAGE_ID=$MSG_CONFIRMED) from netroot-confirm.service, NETROOT_GENERATION=$gen_new NETROOT_BOOT=good"
scenario_end "raspi-firmware install $rf_secs s, kernel apt $apt_secs s, boot $BOOT_SECS s, confirmed after $conf_secs s"

# --- scenario 4: a guarded failure -----------------------------------------------------------
scenario_start guarded-failure
say "Guarded failure: linux-image-$VM_KV_BAD with an initramfs that lacks iSCSI (NO_ISCSI_IN_INITRAMFS=yes)"
cfg_before=$(sha256sum <"$BOOT/config.txt")
fw_before=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null) ||
	fail "the firmware stand-in cannot read the boot folder before the guarded failure"
t_bad=$(date +%s.%N)
vm_cmd -t 1200 "mkdir -p /etc/initramfs-tools/conf.d && echo NO_ISCSI_IN_INITRAMFS=yes >/etc/initramfs-tools/conf.d/open-iscsi &&
	DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -q linux-image-$VM_KV_BAD" >"$T/apt-bad.log" 2>&1
rc=$?
grep -E '^(netroot|step|upgraded|\*\*\*|  )' "$T/apt-bad.log" | grep -v 'mkinitramfs running' | sed 's/^/  apt| /' | head -n 60
[ "$rc" = 0 ] || fail "apt-get install linux-image-$VM_KV_BAD exited $rc: $(tail -n 30 "$T/apt-bad.log")"
assert_contains "$(cat "$T/apt-bad.log")" "WARNING: kernel $VM_KV_BAD is installed but the Pi will NOT boot it" \
	"the agent refuses the upgrade and says so on the apt console"
assert_eq "$(sha256sum <"$BOOT/config.txt")" "$cfg_before" "config.txt unchanged (sha256)"
# What the next boot loads, byte for byte, before booting it (the firmware stand-in's dry run:
# the same kernel, initramfs and cmdline as before the apt run).
fw_after=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null) ||
	fail "the firmware stand-in cannot read the boot folder after the guarded failure"
echo "$fw_after" | sed 's/^/  firmware| /'
assert_eq "$fw_after" "$fw_before" "the next boot loads what it loaded before: kernel, initramfs, cmdline (sha256)"
assert_contains "$fw_after" "kernel=vmlinuz-$VM_KV_NEW" "the next boot is still $VM_KV_NEW"
vm_cmd "rm /etc/initramfs-tools/conf.d/open-iscsi" ||
	fail "cannot restore the initramfs settings"
# And the real boot. Without it (tried: CI run of 2026-11-29 12:27) the next scenario ran on a
# guest whose kernel had oopsed in ext4 (ext4_mb_load_buddy_gfp, NULL, in dpkg) during this apt
# run under TCG; journald hung and the reinstall never ended. A fresh boot proves the refused
# upgrade left a bootable Pi and gives the next scenario a clean guest.
vm_down reboot
vm_boot
assert_eq "$BOOTED_KV" "$VM_KV_NEW" "the next boot is still $VM_KV_NEW, and it comes up"
wait_for 120 state_is OK || fail "netrootd not OK after the refused upgrade"
pass "netrootd OK after the refused upgrade"
vm_cmd "netrootctl history --json" >"$T/h-bad.json" || fail "history"
assert_eq "$(jq -r --arg k "$VM_KV_BAD" '[.generations[] | select(.kernel_to == $k and .status == "rolled-back")] | length' "$T/h-bad.json")" \
	1 "history: the upgrade to $VM_KV_BAD is rolled back"
scenario_end "apt and reboot $(elapsed "$t_bad") s, boot $BOOT_SECS s"

# --- scenario 5: a new kernel boots, its root never gets healthy -----------------------------
scenario_start never-healthy
say "Never healthy, in place: the admin leaves raspi-firmware for a kernel file of a fixed name (kernel-lab.img) that a package overwrites; $VM_KV_BAD comes that way, with iSCSI in its initramfs; it boots, but the NAS admits only the root's initiator name, so netrootd's probe is refused and it never says OK"
# The in-place layout, as a Pi with a self-built kernel has it: the admin's package
# netroot-lab-kernel 1.0 (installed in the image) holds the running kernel in kernel-lab.img,
# config.txt boots that file; raspi-firmware (whose hook would point config.txt at vmlinuz-VER
# again) is purged. The file goes into the boot folder as the package's unpack would put it
# (the image was built before the boot folder existed). The agent reads the kernel's version from
# the image itself.
out=$(vm_cmd -t 600 "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q raspi-firmware >/tmp/purge.log 2>&1 || { tail -n 20 /tmp/purge.log; exit 1; }
	dpkg -s netroot-lab-kernel | grep -x 'Version: 1.0' &&
	cp /boot/firmware/vmlinuz-$VM_KV_NEW /boot/firmware/kernel-lab.img &&
	sed -i 's/^kernel=.*/kernel=kernel-lab.img/' /boot/firmware/config.txt &&
	netrootctl hook check 2>&1") || fail "cannot switch the guest to the in-place layout: $out"
echo "$out" | sed 's/^/  guest| /'
assert_contains "$out" "kernel $VM_KV_NEW" "hook check: kernel-lab.img holds $VM_KV_NEW (read from the image) and the Pi boots"
fw=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null)
assert_contains "$fw" "kernel=kernel-lab.img" "the firmware reads kernel=kernel-lab.img"
inplace_before=$(sha256sum <"$BOOT/kernel-lab.img" | cut -d' ' -f1)
assert_eq "$inplace_before" "$(sha256sum <"$BOOT/vmlinuz-$VM_KV_NEW" | cut -d' ' -f1)" "kernel-lab.img is the $VM_KV_NEW image"
cfg_before=$(sha256sum <"$BOOT/config.txt")
t_up=$(date +%s.%N)
# netroot-lab-kernel 2.0 overwrites kernel-lab.img at unpack; its postinst runs the kernel hooks
# (INITRD=No, as Raspbian's), where zz-netroot runs the guarded upgrade. apt-pre counts the
# package (an installed package with files under /boot) and saves the in-place set
# (kernel-lab.img, DTBs, overlays) before dpkg.
vm_cmd -t 1800 "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /vmctl/$(basename "$LAB_DEB")" >"$T/upgrade-hang.log" 2>&1
rc=$?
grep -E '^(netroot|step|upgraded|\*\*\*|  )' "$T/upgrade-hang.log" | grep -v 'mkinitramfs running' | sed 's/^/  guest| /' | head -n 40
[ "$rc" = 0 ] || fail "apt-get install netroot-lab-kernel exited $rc: $(tail -n 30 "$T/upgrade-hang.log")"
up_secs=$(elapsed "$t_up")
assert_contains "$(cat "$T/upgrade-hang.log")" "upgraded: kernel $VM_KV_BAD" "the guarded upgrade to $VM_KV_BAD went through ($up_secs s)"
assert_contains "$(cat "$T/upgrade-hang.log")" "netroot: backup before this apt run: generation" "apt-pre saved the boot folder before dpkg overwrote kernel-lab.img"
assert_contains "$(cat "$T/upgrade-hang.log")" "kernel-lab.img (in-place kernel file, kernel $VM_KV_BAD read from the image)" "the agent read the new kernel's version from kernel-lab.img"
assert_eq "$(sha256sum <"$BOOT/kernel-lab.img" | cut -d' ' -f1)" "$LAB_SHA" "kernel-lab.img now holds the package's $VM_KV_BAD image"
fw=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null)
assert_contains "$fw" "kernel=kernel-lab.img" "the firmware still reads kernel=kernel-lab.img"
assert_contains "$fw" "initramfs=initrd.img-$VM_KV_BAD" "the firmware now reads initrd.img-$VM_KV_BAD"
vm_cmd "netrootctl history --json" >"$T/h-hang.json" || fail "history: $(cat "$T/h-hang.json")"
gen_hang=$(jq -r --arg k "$VM_KV_BAD" '[.generations[] | select(.kernel_to == $k and .status == "pending")] | last | .gen' "$T/h-hang.json")
assert_eq "$(jq -r '.pending' "$T/h-hang.json")" "$gen_hang" "history: generation $gen_hang ($VM_KV_BAD) is the pending one"
assert_eq "$(jq -r --argjson g "$gen_hang" '.generations[] | select(.gen == $g) | .kernel_from' "$T/h-hang.json")" \
	"$VM_KV_NEW" "history: generation $gen_hang goes from $VM_KV_NEW (what kernel-lab.img held before dpkg)"
# /lib/modules/$VM_KV_NEW belongs to linux-image-$VM_KV_NEW, which this apt run leaves alone: no
# 400 MB copy of it in the generation (Raspbian's package, which deletes its old modules, gets one).
[ ! -e "$BOOT/.netroot/gen-$gen_hang/modules" ] ||
	fail "generation $gen_hang copied /lib/modules although no package of the run owns it: $(ls "$BOOT/.netroot/gen-$gen_hang/modules")"
pass "generation $gen_hang keeps no copy of /lib/modules/$VM_KV_NEW (its package is not in the run)"
# Long enough that a healthy boot of this guest confirms well within it (the upgrade scenario
# confirmed about 20 s after the guest came up), short for a test.
vm_cmd "sed -i '/^\[boot\]/a confirm_timeout = 150s' /etc/netroot/agent.conf && grep -A4 '^\[boot\]' /etc/netroot/agent.conf" |
	sed 's/^/  guest| /'
vm_down reboot
# The NAS's initiator ACL admits the root's name only: the root logs in (and iscsid, adopting
# the initramfs's session, may log in again), the probe's own name
# ($INITIATOR:netroot-probe, agent.conf initiator = auto) is refused at every try. (Refusing new
# TCP connections instead hung the root: iscsid reconnects the session it adopts. And the
# address ACL "ALL" must go while the names are bound: tgtd admits a login that either ACL
# matches; tgt_acl_initiators does both.)
tgt_acl_initiators 1 "$INITIATOR" || fail "cannot set the target's initiator ACL"
vm_boot
assert_eq "$BOOTED_KV" "$VM_KV_BAD" "boot $BOOTS runs the pending kernel $VM_KV_BAD"
t_guest=$(date +%s.%N)
seen_states=
while kill -0 "$QEMU_PID" 2>/dev/null; do
	st=$(state_now)
	[ "$st" != OK ] || fail "netrootd reported OK while the NAS refuses every probe login"
	case " $seen_states " in *" ${st:-none} "*) ;; *) seen_states="$seen_states ${st:-none}" ;; esac
	[ "$(elapsed "$t_guest" | cut -d. -f1)" -lt 400 ] ||
		fail "the guest did not roll back and reboot within 400 s of coming up (confirm_timeout 150 s): $(vm_cmd 'journalctl -b -o cat -u netroot-confirm' 2>&1 | tail -n 5)"
	sleep 1
done
wait "$QEMU_PID" 2>/dev/null
bad_secs=$(elapsed "$t_guest")
pass "the guest rebooted itself $bad_secs s after it came up; netrootd said:$seen_states, never OK"
assert_eq "$(sha256sum <"$BOOT/config.txt")" "$cfg_before" "config.txt is back to the one before the upgrade (sha256)"
assert_eq "$(sha256sum <"$BOOT/kernel-lab.img" | cut -d' ' -f1)" "$inplace_before" \
	"kernel-lab.img, overwritten in place by the package, holds the $VM_KV_NEW image again (sha256)"
fw=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null)
assert_contains "$fw" "kernel=kernel-lab.img" "the firmware reads kernel=kernel-lab.img"
assert_contains "$fw" "initramfs=initrd.img-$VM_KV_NEW" "the firmware reads initrd.img-$VM_KV_NEW again"
tgt_acl_open 1 "$INITIATOR" || fail "cannot clear the target's initiator ACL"
vm_boot
assert_eq "$BOOTED_KV" "$VM_KV_NEW" "the next boot is the old kernel $VM_KV_NEW"
wait_for 120 state_is OK || fail "netrootd not OK after the rollback: $(grep -v '^#' "$VMCTL/metrics.prom" 2>&1)"
pass "netrootd OK on $VM_KV_NEW"
vm_cmd "netrootctl history --json" >"$T/h-hang2.json" || fail "history"
assert_eq "$(jq -r --argjson g "$gen_hang" '.generations[] | select(.gen == $g) | .status' "$T/h-hang2.json")" bad \
	"history: generation $gen_hang ($VM_KV_BAD) is bad"
assert_contains "$(jq -r --argjson g "$gen_hang" '.generations[] | select(.gen == $g) | .reason' "$T/h-hang2.json")" \
	"confirm_timeout" "history: the reason names confirm_timeout"
assert_eq "$(jq -r '.pending' "$T/h-hang2.json")" null "history: nothing pending"
vm_cmd "journalctl -b -1 -o json --output-fields=MESSAGE_ID,MESSAGE,NETROOT_GENERATION,NETROOT_BOOT,_SYSTEMD_UNIT MESSAGE_ID=$MSG_REJECTED" \
	>"$T/journal-rejected.json" || fail "journalctl -b -1 in the guest: $(cat "$T/journal-rejected.json")"
jq -r '.MESSAGE' "$T/journal-rejected.json" | sed 's/^/  journal -b -1| /'
jq -e --arg g "$gen_hang" 'select(._SYSTEMD_UNIT == "netroot-confirm.service" and .NETROOT_GENERATION == $g and .NETROOT_BOOT == "bad")' \
	"$T/journal-rejected.json" >/dev/null || fail "no BOOT_REJECTED event from netroot-confirm.service for generation $gen_hang in the previous boot"
pass "journal of the bad boot: BOOT_REJECTED (MESSAGE_ID=$MSG_REJECTED) from netroot-confirm.service, NETROOT_BOOT=bad"
assert_contains "$(jq -r '.MESSAGE' "$T/journal-rejected.json")" "saved state (kernel $VM_KV_NEW)" \
	"the rejection names the kernel the boot folder went back to ($VM_KV_NEW), not the rejected one"
prev=$(vm_cmd 'journalctl -b -1 -o cat --no-pager -u netroot-confirm.service')
echo "$prev" | sed 's/^/  journal -b -1| /'
assert_contains "$prev" "rollback-and-reboot: rebooting" "netrootctl confirm rebooted the Pi itself (on_bad = rollback-and-reboot)"
facts=$(confirm_facts) || fail "systemctl in the guest: $facts"
assert_confirm_ran "$facts"
assert_contains "$facts" "nothing pending in /boot/firmware" "netrootctl confirm: nothing pending after the rollback"
vm_cmd "sed -i '/^confirm_timeout = 150s$/d' /etc/netroot/agent.conf" || fail "cannot restore agent.conf"
scenario_end "in-place upgrade $up_secs s, bad boot rolled back and rebooted $bad_secs s after it came up, old kernel up in $BOOT_SECS s"

# --- scenario 6: rollback from the NAS -------------------------------------------------------
scenario_start rollback
say "Rollback: the Pi is off; on the NAS, netrootctl rollback --boot-dir $BOOT"
vm_down poweroff
"$NETROOTCTL" rollback --boot-dir "$BOOT" --dry-run >"$T/rb-dry.log" 2>&1 ||
	fail "rollback --dry-run: $(cat "$T/rb-dry.log")"
sed 's/^/  nas| /' "$T/rb-dry.log"
"$NETROOTCTL" rollback --boot-dir "$BOOT" --to 1 >"$T/rb.log" 2>&1 || fail "rollback: $(cat "$T/rb.log")"
sed 's/^/  nas| /' "$T/rb.log"
fw=$(python3 "$TOP/tests/vm/firmware.py" "$BOOT" --serial "$VM_SERIAL" --dry-run 2>/dev/null)
assert_contains "$fw" "kernel=vmlinuz-$VM_KV_OLD" "after the rollback the firmware reads kernel=vmlinuz-$VM_KV_OLD"
vm_boot
assert_eq "$BOOTED_KV" "$VM_KV_OLD" "the Pi boots the previous generation's kernel $VM_KV_OLD"
wait_for 120 state_is OK || fail "netrootd not OK after the rollback"
pass "netrootd OK after the rollback"
vm_cmd 'netrootctl history' | sed 's/^/  guest| /'
vm_down poweroff
scenario_end "boot $BOOT_SECS s"

echo
echo "VM suite timings (TCG, $(nproc) cores):"
printf '  %s\n' "${TIMES[@]}"
echo "  total                  $(($(date +%s) - T0)) s"
