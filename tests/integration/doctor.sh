#!/bin/bash
# netrootctl doctor on sandbox Pi trees: a "good Pi" set up as the tutorial says (fake kernel
# iSCSI sysfs from tests/lib/fake_sysfs.sh, NFS /boot from its serial folder, config.txt and
# cmdline.txt, a small but real zstd initramfs, fstab, dhcpcd.conf, iscsid, status.json), then
# one broken copy per check, asserting that check's result by name in --json and the exit code.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/fake_sysfs.sh
. "$TOP/tests/lib/fake_sysfs.sh"

[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
for tool in cpio zstd jq; do
	command -v "$tool" >/dev/null || fail "$tool missing (make deps)"
done

KV=6.1.21-v7+
SERIAL=1a2b3c4d # the serial folder fake_root_on's NFS /boot line names
UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d

# make_initrd OUT [SKIP_MODULE]: a newc cpio, zstd-compressed, with what initrd_check looks for.
make_initrd() {
	local out=$1 skip=${2:-} d m
	d=$(mktemp -d "$T/initrd.XXXXXX")
	mkdir -p "$d/usr/sbin" "$d/lib/modules/$KV/kernel"
	printf '#!/bin/sh\n' >"$d/usr/sbin/iscsistart"
	for m in drivers/scsi/iscsi_tcp drivers/scsi/libiscsi drivers/scsi/libiscsi_tcp \
		drivers/scsi/scsi_transport_iscsi drivers/scsi/sd_mod fs/ext4/ext4 \
		drivers/net/usb/smsc95xx drivers/net/usb/lan78xx crypto/crc32c_generic; do
		[ "$(basename "$m")" = "$skip" ] && continue
		mkdir -p "$d/lib/modules/$KV/kernel/$(dirname "$m")"
		printf 'ELF' >"$d/lib/modules/$KV/kernel/$m.ko"
	done
	: >"$d/lib/modules/$KV/modules.builtin"
	(cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | zstd -q -c) >"$out" \
		|| fail "could not build the test initramfs"
}

make_good_pi() {
	local r=$1
	make_sandbox "$r"
	fake_iscsi_tree "$r"
	fake_recovery_tmo "$r" session1 86400
	fake_iscsid "$r" running
	mkdir -p "$r/proc/device-tree" "$r/proc/sys/kernel" "$r/proc/sys/net/ipv6/conf/all" \
		"$r/dev/disk/by-uuid" "$r/etc/iscsi" "$r/etc/network" "$r/etc/default" \
		"$r/lib/systemd/system" "$r/etc/systemd/system/sockets.target.wants" \
		"$r/var/lib/dpkg/info" "$r/run/netroot"
	printf 'Raspberry Pi 3 Model B Rev 1.2\0' >"$r/proc/device-tree/model"
	printf 'processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: 00000000%s\n' "$SERIAL" \
		>"$r/proc/cpuinfo"
	echo "$KV" >"$r/proc/sys/kernel/osrelease"
	echo 1 >"$r/proc/sys/net/ipv6/conf/all/disable_ipv6"
	cat >"$r/proc/mounts" <<-EOF2
		sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
		proc /proc proc rw,relatime 0 0
		/dev/sda / ext4 rw,relatime 0 0
		192.168.1.10:/tftpboot/$SERIAL /boot nfs rw,relatime,vers=3,nolock,proto=tcp,addr=192.168.1.10 0 0
	EOF2
	# The tutorial's boot folder: copied boot files, its initramfs line, its cmdline.
	printf 'start' >"$r/boot/start.elf"
	printf 'fixup' >"$r/boot/fixup.dat"
	printf 'kernel' >"$r/boot/kernel7.img"
	printf 'CONFIG_RD_GZIP=y\n' >"$r/boot/config-$KV"
	cat >"$r/boot/config.txt" <<-EOF2
		# For more options and information see config.txt documentation
		dtparam=audio=on
		initramfs initrd.img-$KV followkernel
		dtparam=act_led_trigger=none
	EOF2
	echo "$FAKE_CMDLINE_DEFAULT" >"$r/boot/cmdline.txt"
	make_initrd "$r/boot/initrd.img-$KV"
	ln -s ../../sda "$r/dev/disk/by-uuid/$UUID"
	cat >"$r/etc/fstab" <<-EOF2
		UUID=$UUID       /       ext4    defaults        1       1
		proc            /proc           proc    defaults          0       0
		192.168.1.10:/tftpboot/$SERIAL  /boot  nfs  nfsvers=3,nolock  0  0
	EOF2
	printf 'hostname\nclientid\npersistent\ndenyinterfaces eth0\n' >"$r/etc/dhcpcd.conf"
	printf 'source-directory /etc/network/interfaces.d\nauto lo\niface lo inet loopback\n' \
		>"$r/etc/network/interfaces"
	printf 'node.startup = manual\nnode.session.timeo.replacement_timeout = 86400\n' \
		>"$r/etc/iscsi/iscsid.conf"
	printf '[Socket]\nListenStream=@ISCSIADM_ABSTRACT_NAMESPACE\n' \
		>"$r/lib/systemd/system/iscsid.socket"
	ln -s /lib/systemd/system/iscsid.socket \
		"$r/etc/systemd/system/sockets.target.wants/iscsid.socket"
	: >"$r/var/lib/dpkg/info/raspberrypi-kernel.list"
	echo 'INITRD=Yes' >"$r/etc/default/raspberrypi-kernel"
	cat >"$r/run/netroot/status.json" <<-EOF2
		{"state": "ok",
		 "led": {"present": true, "enabled": true, "device": "ACT", "trigger": "heartbeat", "original": "mmc0"},
		 "ipv6": {"mode": "disable", "available": true, "applied": true, "corrections": 0, "error": ""},
		 "version": "0.1.0", "pid": 1}
	EOF2
}

GOOD=$T/good
make_good_pi "$GOOD"

# doctor ROOT [ARGS...]: runs doctor --json; sets $rc, keeps the JSON in $T/out.json.
doctor() {
	local root=$1
	shift
	"$NETROOTCTL" --root "$root" doctor --json "$@" >"$T/out.json" 2>"$T/err"
	rc=$?
	jq -e '(.ok | type == "boolean") and (.checks | type == "array") and
	       all(.checks[]; (.name | type == "string") and
	                      (.result | IN("ok", "warn", "fail", "skip")) and
	                      (.detail | type == "string") and (.fix | type == "string"))' \
		"$T/out.json" >/dev/null || fail "bad JSON (exit $rc): $(cat "$T/out.json" "$T/err")"
}
result() { jq -r --arg n "$1" '.checks[] | select(.name == $n) | .result' "$T/out.json"; }
detail() { jq -r --arg n "$1" '.checks[] | select(.name == $n) | .detail' "$T/out.json"; }
fixof() { jq -r --arg n "$1" '.checks[] | select(.name == $n) | .fix' "$T/out.json"; }

# expect NAME RESULT WHAT [EXIT]: the check's result, and the exit code (1 for a fail, else 0).
expect() {
	local name=$1 want=$2 what=$3 code=${4:-}
	[ -n "$code" ] || { [ "$want" = fail ] && code=1 || code=0; }
	assert_eq "$(result "$name")" "$want" "$what: $name is $want ($(detail "$name"))"
	assert_eq "$rc" "$code" "$what: exit $code"
	if [ "$want" = fail ] || [ "$want" = warn ]; then
		[ -n "$(fixof "$name")" ] || fail "$what: $name has no fix"
	fi
}

# variant NAME: a fresh copy of the good Pi in $V.
variant() {
	V=$T/v-$1
	rm -rf "$V"
	cp -a "$GOOD" "$V"
}

# ---- the good Pi ----
doctor "$GOOD"
assert_eq "$rc" 0 "good Pi: exit 0"
assert_eq "$(jq -r .ok "$T/out.json")" true "good Pi: ok true"
CHECKS="otp-boot-bit boot-mount serial-folder config-initramfs cmdline-iscsi cmdline-root
fstab-sd-card fstab-root fstab-boot dhcpcd ifupdown iscsid recovery-timeout initrd-setting
kernel-config raspi-firmware raspi-fw-folder raspi-fw-cmdline led ipv6"
for c in $CHECKS; do
	[ -n "$(result "$c")" ] || fail "good Pi: no check named $c"
done
# Without Debian's raspi-firmware its two checks do not apply.
expect raspi-fw-folder skip "raspi-firmware is not installed"
expect raspi-fw-cmdline skip "raspi-firmware is not installed"
assert_eq "$(jq -r '.checks | length' "$T/out.json")" "$(echo "$CHECKS" | wc -w)" "good Pi: every check reported"
assert_eq "$(jq -r '[.checks[].name] | join(" ")' "$T/out.json")" "$(echo $CHECKS)" "good Pi: checks in the table's order"
assert_eq "$(jq -r '[.checks[] | select(.group == "")] | length' "$T/out.json")" 0 "good Pi: every check has a group"
bad=$(jq -r '.checks[] | select(.result != "ok" and .name != "otp-boot-bit" and (.name | startswith("raspi-fw-") | not)) | "\(.name)=\(.result): \(.detail)"' "$T/out.json")
[ -z "$bad" ] || fail "good Pi: checks not ok: $bad"
pass "good Pi: every check ok"
assert_eq "$(result otp-boot-bit)" skip "good Pi: otp skipped in a sandbox"
assert_contains "$(detail otp-boot-bit)" "not on the Pi" "otp: says why"
assert_contains "$(detail config-initramfs)" "initrd.img-$KV" "config-initramfs names the file"
assert_contains "$(detail boot-mount)" "/tftpboot/$SERIAL" "boot-mount names the export"

# Human output: one line per check, fix lines only for warn/fail.
out=$("$NETROOTCTL" --root "$GOOD" doctor 2>&1)
assert_eq "$?" 0 "human output: exit 0"
assert_contains "$out" "[ ok ] boot-mount: " "human output format"
assert_contains "$out" "[skip] otp-boot-bit: " "human output: skip"
assert_not_contains "$out" "fix:" "human output: no fix lines when all is well"

# ---- --only ----
doctor "$GOOD" --only cmdline-root
assert_eq "$rc" 0 "--only cmdline-root: exit 0"
assert_eq "$(jq -r '[.checks[].name] | join(" ")' "$T/out.json")" cmdline-root "--only NAME runs that check alone"
doctor "$GOOD" --only net
assert_eq "$(jq -r '[.checks[].name] | join(" ")' "$T/out.json")" "dhcpcd ifupdown ipv6" "--only GROUP runs the group"
"$NETROOTCTL" --root "$GOOD" doctor --only no-such-check >/dev/null 2>"$T/err"
assert_eq "$?" 2 "--only unknown: exit 2"
assert_contains "$(cat "$T/err")" "no check or group named 'no-such-check'" "--only unknown: says so"
assert_contains "$(cat "$T/err")" "fstab-root" "--only unknown: lists the check names"
assert_contains "$(cat "$T/err")" "groups: boot iscsi net kernel" "--only unknown: lists the groups"

# ---- usage ----
"$NETROOTCTL" --root "$GOOD" doctor --bogus >/dev/null 2>&1
assert_eq "$?" 2 "unknown option: exit 2"
"$NETROOTCTL" --root "$GOOD" doctor extra >/dev/null 2>&1
assert_eq "$?" 2 "extra argument: exit 2"
"$NETROOTCTL" --root "$GOOD" doctor --serial 'x;y' >/dev/null 2>&1
assert_eq "$?" 2 "bad --serial: exit 2"
printf '[agent]\nno_such_key = 1\n' >"$T/bad.conf"
"$NETROOTCTL" --root "$GOOD" --config "$T/bad.conf" doctor >/dev/null 2>&1
assert_eq "$?" 2 "bad agent.conf: exit 2"

# ---- boot-mount ----
variant boot-unmounted
sed -i '/ \/boot /d' "$V/proc/mounts"
doctor "$V"
expect boot-mount fail "/boot not mounted"
assert_contains "$(fixof boot-mount)" "/tftpboot/$SERIAL /boot nfs nfsvers=3,nolock 0 0" "fix is the fstab line"

variant boot-other-serial
sed -i "s|/tftpboot/$SERIAL|/tftpboot/deadbeef|" "$V/proc/mounts"
doctor "$V"
expect boot-mount fail "/boot is another Pi's folder"

variant boot-sd
sed -i "s|^192.168.1.10:/tftpboot/$SERIAL /boot nfs [^ ]*|/dev/mmcblk0p1 /boot vfat rw|" "$V/proc/mounts"
doctor "$V"
expect boot-mount fail "/boot on the SD card"
assert_contains "$(detail boot-mount)" "SD card" "says SD card"

doctor "$GOOD" --serial 00000000deadbeef
expect boot-mount fail "--serial overrides /proc/cpuinfo"
assert_contains "$(detail boot-mount)" "deadbeef" "--serial: names the given serial, zeros stripped"

# /proc/mounts absent: the mountinfo of fake_root_on (the same NFS /boot) is read instead.
variant mountinfo
rm "$V/proc/mounts"
doctor "$V"
expect boot-mount ok "mountinfo fallback"

# ---- serial-folder ----
variant no-start-elf
rm "$V/boot/start.elf"
doctor "$V"
expect serial-folder fail "no start.elf in the serial folder"
variant no-fixup
rm "$V/boot/fixup.dat"
doctor "$V"
expect serial-folder warn "start.elf without fixup.dat"

# ---- config-initramfs ----
variant no-initramfs-line
sed -i '/^initramfs/d' "$V/boot/config.txt"
doctor "$V"
expect config-initramfs fail "config.txt without initramfs line"
assert_contains "$(fixof config-initramfs)" "initramfs initrd.img-$KV followkernel" "fix names the line"

variant initrd-missing
rm "$V/boot/initrd.img-$KV"
doctor "$V"
expect config-initramfs fail "initramfs file missing"

variant kernel-updated
echo 6.1.58-v7+ >"$V/proc/sys/kernel/osrelease"
doctor "$V"
expect config-initramfs fail "initramfs for another kernel than the running one"
assert_contains "$(detail config-initramfs)" "lib/modules/6.1.58-v7+" "names the missing modules folder"

variant no-iscsi-tcp
make_initrd "$V/boot/initrd.img-$KV" iscsi_tcp
doctor "$V"
expect config-initramfs fail "initramfs without iscsi_tcp"
assert_contains "$(detail config-initramfs)" "iscsi_tcp" "names iscsi_tcp"

variant garbage-initrd
head -c 4096 /dev/urandom >"$V/boot/initrd.img-$KV"
doctor "$V"
expect config-initramfs fail "garbage initramfs"

variant filtered
# A section for another Pi's serial only: this Pi loads no initramfs.
sed -i "s/^initramfs/[0x11111111]\ninitramfs/" "$V/boot/config.txt"
doctor "$V"
expect config-initramfs fail "initramfs line in another Pi's section"

variant auto
printf 'auto_initramfs=1\n' >"$V/boot/config.txt"
cp "$V/boot/initrd.img-$KV" "$V/boot/initramfs7"
doctor "$V"
expect config-initramfs ok "auto_initramfs: initramfs7 named after kernel7.img"
assert_contains "$(detail config-initramfs)" "initramfs7" "auto: names initramfs7"
rm "$V/boot/initramfs7"
doctor "$V"
expect config-initramfs fail "auto_initramfs without initramfs7"

variant no-model
rm "$V/proc/device-tree/model"
doctor "$V"
expect config-initramfs warn "model unknown"
doctor "$V" --model "Raspberry Pi 3 Model B Plus Rev 1.3"
expect config-initramfs ok "--model given"

# ---- cmdline-iscsi ----
variant wrong-target
sed -i 's/ISCSI_TARGET_NAME=[^ ]*/ISCSI_TARGET_NAME=iqn.2000-01.com.synology:Other.Target/' \
	"$V/boot/cmdline.txt"
doctor "$V"
expect cmdline-iscsi fail "cmdline.txt names another target"
assert_contains "$(detail cmdline-iscsi)" "Other.Target" "names the wrong target"

variant wrong-ip
sed -i 's/ISCSI_TARGET_IP=[^ ]*/ISCSI_TARGET_IP=192.168.1.99/' "$V/boot/cmdline.txt"
doctor "$V"
expect cmdline-iscsi fail "cmdline.txt names another portal"

variant wrong-port
sed -i 's/ISCSI_TARGET_PORT=[^ ]*/ISCSI_TARGET_PORT=3261/' "$V/boot/cmdline.txt"
doctor "$V"
expect cmdline-iscsi fail "cmdline.txt names another port"

variant wrong-initiator
sed -i 's/ISCSI_INITIATOR=[^ ]*/ISCSI_INITIATOR=iqn.2016-11.org.raspberrypi:otherpi/' \
	"$V/boot/cmdline.txt"
doctor "$V"
expect cmdline-iscsi fail "cmdline.txt names another initiator"

variant no-target
sed -i 's/ISCSI_TARGET_NAME=[^ ]* //' "$V/boot/cmdline.txt"
doctor "$V"
expect cmdline-iscsi fail "cmdline.txt without ISCSI_TARGET_NAME"

variant two-lines
echo "quiet" >>"$V/boot/cmdline.txt"
doctor "$V"
expect cmdline-iscsi fail "cmdline.txt on two lines"

variant secret
SECRET=Sup3rS3cretCHAP
sed -i "s/ rw\$/ ISCSI_USERNAME=pi ISCSI_PASSWORD=$SECRET ISCSI_TARGET_IP=192.168.1.99 rw/" \
	"$V/boot/cmdline.txt"
sed -i "s/^root=.*//; s/ root=UUID=[^ ]*/ root=iscsi:pi:$SECRET@192.168.1.10::3260:1:x/" \
	"$V/boot/cmdline.txt"
doctor "$V"
all=$(cat "$T/out.json"; "$NETROOTCTL" --root "$V" doctor 2>&1)
assert_not_contains "$all" "$SECRET" "a CHAP password never appears"
assert_eq "$(result cmdline-root)" ok "root=iscsi: accepted"
assert_contains "$(detail cmdline-root)" "********" "root=iscsi: password masked"

variant no-session
fake_remove_session "$V" 1
doctor "$V"
expect cmdline-iscsi warn "no session carries /"
assert_contains "$(detail cmdline-iscsi)" "names target $FAKE_TARGET_DEFAULT" "no session: names the cmdline target"

# ---- cmdline-root ----
variant root-other-disk
ln -sfn ../../sdb "$V/dev/disk/by-uuid/$UUID"
doctor "$V"
expect cmdline-root fail "root=UUID= is another disk"
variant root-unknown-uuid
rm "$V/dev/disk/by-uuid/$UUID"
doctor "$V"
expect cmdline-root warn "by-uuid link missing: cannot verify"
assert_contains "$(detail cmdline-root)" "cannot verify" "says cannot verify"
variant root-missing
sed -i 's/ root=UUID=[^ ]*//' "$V/boot/cmdline.txt"
doctor "$V"
expect cmdline-root fail "cmdline.txt without root="

# ---- fstab ----
variant fstab-sd
printf '/dev/mmcblk0p1  /boot/firmware  vfat  defaults  0  2\n' >>"$V/etc/fstab"
doctor "$V"
expect fstab-sd-card fail "an SD card line in fstab"
assert_contains "$(detail fstab-sd-card)" "line 4" "names the line"
variant fstab-partuuid
printf 'PARTUUID=5a7089a1-01  /boot/firmware  vfat  defaults  0  2\n' >>"$V/etc/fstab"
doctor "$V"
expect fstab-sd-card warn "a PARTUUID that is not on this Pi"
sed -i 's/defaults  0  2/defaults,nofail  0  2/' "$V/etc/fstab"
doctor "$V"
expect fstab-sd-card ok "the same with nofail"
variant fstab-noroot
sed -i '/ \/ /d' "$V/etc/fstab"
doctor "$V"
expect fstab-root warn "no / line (not mandatory)"
assert_contains "$(fixof fstab-root)" "UUID=$UUID / ext4 defaults 1 1" "fix: the tutorial's line"
variant fstab-rootdiff
sed -i "s/UUID=$UUID/UUID=11111111-2222-3333-4444-555555555555/" "$V/etc/fstab"
doctor "$V"
expect fstab-root warn "/ in fstab differs from root="
variant fstab-noboot
sed -i '/\/boot/d' "$V/etc/fstab"
doctor "$V"
expect fstab-boot warn "no /boot line in fstab"
variant fstab-badboot
sed -i "s|/tftpboot/$SERIAL|/tftpboot/deadbeef|" "$V/etc/fstab"
doctor "$V"
expect fstab-boot fail "fstab /boot is another Pi's folder"
variant no-fstab
rm "$V/etc/fstab"
doctor "$V"
expect fstab-sd-card warn "no fstab"

# ---- dhcpcd / ifupdown ----
variant dhcpcd
sed -i '/denyinterfaces/d' "$V/etc/dhcpcd.conf"
doctor "$V"
expect dhcpcd fail "dhcpcd.conf without denyinterfaces"
assert_eq "$(fixof dhcpcd | grep -c 'denyinterfaces eth0')" 1 "fix: denyinterfaces eth0"
variant dhcpcd-eth1
fake_cmdline "$V" "${FAKE_CMDLINE_DEFAULT/eth0/eth1}"
doctor "$V"
expect dhcpcd fail "ip= names eth1, dhcpcd denies only eth0"
assert_contains "$(detail dhcpcd)" eth1 "names eth1"
variant dhcpcd-glob
sed -i 's/denyinterfaces eth0/denyinterfaces wlan0 eth*/' "$V/etc/dhcpcd.conf"
doctor "$V"
expect dhcpcd ok "denyinterfaces with a glob"
variant no-dhcpcd
rm "$V/etc/dhcpcd.conf"
doctor "$V"
expect dhcpcd skip "no dhcpcd.conf"
variant ifupdown
printf 'auto eth0\niface eth0 inet dhcp\n' >>"$V/etc/network/interfaces"
doctor "$V"
expect ifupdown fail "ifupdown DHCP stanza"
variant ifupdown-d
mkdir -p "$V/etc/network/interfaces.d"
printf 'allow-hotplug eth0\niface eth0 inet dhcp\n' >"$V/etc/network/interfaces.d/eth0"
doctor "$V"
expect ifupdown fail "ifupdown DHCP stanza in interfaces.d"

# ---- iscsid / recovery-timeout ----
variant iscsid-stopped
fake_iscsid "$V" stopped
doctor "$V"
expect iscsid warn "iscsid enabled but not running"
rm "$V/etc/systemd/system/sockets.target.wants/iscsid.socket"
doctor "$V"
expect iscsid fail "iscsid not running, socket not enabled"
rm "$V/lib/systemd/system/iscsid.socket"
doctor "$V"
expect iscsid fail "open-iscsi not installed"
assert_contains "$(fixof iscsid)" "apt-get install open-iscsi" "fix: install open-iscsi"

variant tmo-short
fake_recovery_tmo "$V" session1 60
doctor "$V"
expect recovery-timeout fail "recovery_tmo 60 s"
variant tmo-default
fake_recovery_tmo "$V" session1 120
doctor "$V"
expect recovery-timeout warn "recovery_tmo 120 s (the default)"
variant tmo-conf
sed -i 's/= 86400/= 30/' "$V/etc/iscsi/iscsid.conf"
doctor "$V"
expect recovery-timeout fail "iscsid.conf replacement_timeout 30"

# ---- kernel packaging ----
variant initrd-no
echo 'INITRD=No' >"$V/etc/default/raspberrypi-kernel"
doctor "$V"
expect initrd-setting fail "INITRD=No"
rm "$V/etc/default/raspberrypi-kernel"
doctor "$V"
expect initrd-setting fail "no /etc/default/raspberrypi-kernel"
rm "$V/var/lib/dpkg/info/raspberrypi-kernel.list"
doctor "$V"
expect initrd-setting skip "raspberrypi-kernel not installed"

variant kconfig
rm "$V/boot/config-$KV"
doctor "$V"
expect kernel-config warn "no /boot/config-VER, initramfs-tools version unknown"
assert_contains "$(fixof kernel-config)" "zcat /proc/config.gz > /boot/config-\$(uname -r)" "fix: zcat"
mkdir -p "$V/var/lib/dpkg"
printf 'Package: initramfs-tools\nStatus: install ok installed\nVersion: 0.142\n\n' \
	>"$V/var/lib/dpkg/status"
doctor "$V"
expect kernel-config fail "no /boot/config-VER with initramfs-tools 0.142"
sed -i 's/0.142/0.140+deb11u1/' "$V/var/lib/dpkg/status"
doctor "$V"
expect kernel-config ok "initramfs-tools 0.140 does not need it"

variant raspi-firmware
mkdir -p "$V/etc/kernel/postinst.d"
printf '#!/bin/sh\n' >"$V/etc/kernel/postinst.d/z50-raspi-firmware"
doctor "$V"
# The tutorial's layout (boot folder /boot): the real hook exits 1 ("missing /boot/firmware") on
# every kernel install, and without the lasting fix it drops the iSCSI login: both FAIL.
expect raspi-firmware warn "Debian's raspi-firmware hook" 1
expect raspi-fw-folder fail "raspi-firmware installed but the boot folder is /boot"
assert_contains "$(detail raspi-fw-folder)" "raspi-firmware installed but the boot folder is not /boot/firmware" \
	"raspi-fw-folder says why"
expect raspi-fw-cmdline fail "raspi-firmware's cmdline.txt would lack the iSCSI login"
assert_contains "$(fixof raspi-fw-cmdline)" "netrootctl doctor --fix" "raspi-fw-cmdline: fix is doctor --fix"
# The fix it names works: doctor --fix writes the live cmdline.txt's login into raspi-firmware's
# files, and the same run then judges raspi-fw-cmdline ok (before: --fix was a usage error).
"$NETROOTCTL" --root "$V" doctor --fix >"$T/fix.out" 2>&1
assert_contains "$(cat "$T/fix.out")" "fixed: /etc/default/raspi-extra-cmdline" "doctor --fix: says what it wrote"
assert_contains "$(grep raspi-fw-cmdline "$T/fix.out")" "ok" "doctor --fix: raspi-fw-cmdline ok after it"
grep -q ISCSI_TARGET_NAME "$V/etc/default/raspi-extra-cmdline" || fail "doctor --fix: no ISCSI_TARGET_NAME in raspi-extra-cmdline"
doctor "$V" --fix
expect raspi-fw-cmdline ok "doctor --fix --json: one JSON object on stdout" 1
pass "doctor --fix writes the lasting fix"

variant rpios-raspi-firmware
# Raspberry Pi OS's own raspi-firmware has the same hook name; with auto_initramfs its hook writes
# neither config.txt nor cmdline.txt: Debian's rows do not apply (they FAILed a good Pi OS Pi).
mkdir -p "$V/etc/kernel/postinst.d"
printf '#!/bin/sh
' >"$V/etc/kernel/postinst.d/z50-raspi-firmware"
printf 'auto_initramfs=1
' >"$V/boot/config.txt"
cp "$V/boot/initrd.img-$KV" "$V/boot/initramfs7"
doctor "$V"
expect raspi-fw-folder skip "Pi OS's raspi-firmware: not Debian's"
expect raspi-fw-cmdline skip "Pi OS's raspi-firmware: its hook leaves cmdline.txt"
assert_contains "$(detail raspi-fw-cmdline)" "auto_initramfs" "raspi-fw-cmdline: says why it skips"

# ---- LED / IPv6 ----
variant led
rm "$V/run/netroot/status.json"
doctor "$V"
expect led warn "no netrootd, LED still on mmc0"
echo "none [heartbeat] mmc0" >"$V/sys/class/leds/ACT/trigger"
doctor "$V"
expect led ok "LED on heartbeat"
echo 0 >"$V/proc/sys/net/ipv6/conf/all/disable_ipv6"
sed -i 's/mode = keep/mode = disable/' "$V/etc/netroot/agent.conf"
doctor "$V"
expect ipv6 warn "IPv6 enabled though agent.conf disables it, no netrootd"
variant ipv6
sed -i 's/"applied": true/"applied": false/; s/"error": ""/"error": "eth0: Permission denied"/' \
	"$V/run/netroot/status.json"
doctor "$V"
expect ipv6 warn "netrootd could not apply the IPv6 mode"

# Several failures at once still give one result per check and exit 1.
variant many
rm "$V/boot/start.elf"
fake_recovery_tmo "$V" session1 5
doctor "$V"
assert_eq "$rc" 1 "several failures: exit 1"
assert_eq "$(jq -r '[.checks[] | select(.result == "fail")] | length' "$T/out.json")" 2 "two fails"
assert_eq "$(jq -r .ok "$T/out.json")" false "ok false"
out=$("$NETROOTCTL" --root "$V" doctor 2>&1)
assert_contains "$out" "[FAIL] serial-folder: " "human: FAIL tag"
assert_contains "$out" "       fix: " "human: fix line"
echo "doctor: all assertions passed"
