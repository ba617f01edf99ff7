#!/bin/bash
# netrootctl bootcfg on a sandbox Pi 3 tree shaped like the netboot tutorial: what the Pi boots
# (text and JSON, secrets masked), and set-initramfs refusing, dry-running and changing exactly
# the one deciding line of config.txt.
. "$(dirname "$0")/../lib/common.sh"

[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (run make)"
command -v jq >/dev/null || skip "jq not installed"

R=$T/root
BOOT=$R/boot
SECRET=chap-s3cr3t-Xy
mkdir -p "$R/proc/device-tree" "$R/etc/netroot" "$BOOT"
# The kernel's model property ends in a NUL, not a newline.
printf 'Raspberry Pi 3 Model B Rev 1.2\0' >"$R/proc/device-tree/model"
printf 'processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\n\nHardware\t: BCM2835\nRevision\t: a02082\nSerial\t\t: 00000000511e57f7\nModel\t\t: Raspberry Pi 3 Model B Rev 1.2\n' \
	>"$R/proc/cpuinfo"
printf '[agent]\nboot_dir = /boot\n' >"$R/etc/netroot/agent.conf"

# config.txt as the tutorial leaves it, plus a section for another Pi of the rack.
cat >"$BOOT/config.txt" <<'EOF'
# For more options and information see
# http://rpf.io/configtxt
dtparam=audio=on
initramfs initrd.img-4.4.27-v7+ followkernel

[0xdeadbeef]
initramfs initrd.img-4.4.13-v7+ followkernel

[all]
dtparam=act_led_trigger=none
EOF
DECIDING=4
echo "dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 ip=::::superpi:eth0:dhcp root=UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait ISCSI_INITIATOR=iqn.2016-11.org.raspberrypi:superpi ISCSI_TARGET_NAME=iqn.2000-01.com.synology:BlackSyno.PiTarget ISCSI_TARGET_IP=192.168.1.10 ISCSI_TARGET_PORT=3260 ISCSI_USERNAME=pi ISCSI_PASSWORD=$SECRET rw" \
	>"$BOOT/cmdline.txt"
: >"$BOOT/kernel7.img"
# FAKE: plain bytes, not an initramfs; the real initrd check must reject it.
echo "not an initramfs" >"$BOOT/initrd.img-4.4.27-v7+"
echo "not an initramfs either" >"$BOOT/initrd.img-4.9.35-v7+"
echo "the other Pi's initrd" >"$BOOT/initrd.img-4.4.13-v7+"
chmod 0640 "$BOOT/config.txt"
cp -p "$BOOT/config.txt" "$T/config.orig"

ctl() { "$NETROOTCTL" --root "$R" bootcfg "$@"; }

# --- show ---------------------------------------------------------------------------------------
out=$(ctl show 2>&1) || fail "show exited $?: $out"
assert_contains "$out" "serial folder 511e57f7" "show: serial folder from /proc/cpuinfo (low 32 bits, 8 hex digits)"
assert_contains "$out" "Kernel:     kernel7.img (default)  present" "show: default Pi 3 kernel"
assert_contains "$out" "line $DECIDING, address followkernel" "show: deciding initramfs line"
assert_contains "$out" "initrd.img-4.4.27-v7+  present" "show: initramfs present"
assert_contains "$out" "ISCSI_TARGET_IP=192.168.1.10" "show: iSCSI settings from cmdline.txt"
assert_contains "$out" "ISCSI_PASSWORD=********" "show: password masked"
assert_not_contains "$out" "$SECRET" "show: secret never printed"

json=$(ctl show --json) || fail "show --json exited $?"
echo "$json" | jq -e . >/dev/null || fail "show --json is not valid JSON: $json"
pass "show --json parses"
assert_eq "$(echo "$json" | jq -r '.initramfs.files[0].file')" "initrd.img-4.4.27-v7+" "json: initramfs"
assert_eq "$(echo "$json" | jq -r '.initramfs.files[0].exists')" "true" "json: initramfs exists"
assert_eq "$(echo "$json" | jq -r '.initramfs.lines[0]')" "$DECIDING" "json: deciding line"
assert_eq "$(echo "$json" | jq -r '.kernel.file + " " + (.kernel.line|tostring)')" "kernel7.img null" \
	"json: default kernel"
assert_eq "$(echo "$json" | jq -r '.cmdline.iscsi[] | select(.key=="ISCSI_PASSWORD") | .value')" \
	"********" "json: password masked"
assert_eq "$(echo "$json" | jq -r '.ok')" "true" "json: everything present"
assert_not_contains "$json" "$SECRET" "json: secret never printed"

# root=iscsi:user:pass@… is masked too, and a missing initramfs makes show exit 1.
cp "$BOOT/cmdline.txt" "$T/cmdline.orig"
echo "root=iscsi:pi:$SECRET@192.168.1.10:6:3260:1:iqn.2000-01.com.synology:BlackSyno.PiTarget rw" \
	>"$BOOT/cmdline.txt"
mv "$BOOT/initrd.img-4.4.27-v7+" "$T/"
out=$(ctl show 2>&1)
rc=$?
assert_eq "$rc" 1 "show: exit 1 when the initramfs is missing"
assert_contains "$out" "initrd.img-4.4.27-v7+  MISSING" "show: says which file is missing"
assert_contains "$out" "root=iscsi:pi:********@192.168.1.10" "show: root=iscsi password masked"
assert_not_contains "$out" "$SECRET" "show: root=iscsi secret never printed"
mv "$T/initrd.img-4.4.27-v7+" "$BOOT/"
cp "$T/cmdline.orig" "$BOOT/cmdline.txt"

# The other Pi of the rack sees its own section.
out=$(ctl show --serial deadbeef --json) || fail "show --serial exited $?"
assert_eq "$(echo "$out" | jq -r '.initramfs.lines[0]')" 7 "show --serial: serial section decides"

# --- set-initramfs ------------------------------------------------------------------------------
out=$(ctl set-initramfs initrd.img-4.9.35-v7+ --dry-run 2>&1)
rc=$?
assert_eq "$rc" 1 "dry run: exits as the real run would (fake initrd fails the check)"
assert_contains "$out" "-$DECIDING: initramfs initrd.img-4.4.27-v7+ followkernel" "dry run: old line"
assert_contains "$out" "+$DECIDING: initramfs initrd.img-4.9.35-v7+ followkernel" "dry run: new line"
assert_contains "$out" "would be refused" "dry run: says it would be refused"
cmp -s "$BOOT/config.txt" "$T/config.orig" || fail "dry run changed config.txt"
pass "dry run: config.txt unchanged"

out=$(ctl set-initramfs --dry-run --force initrd.img-4.9.35-v7+ 2>&1) || fail "dry run --force: $out"
assert_contains "$out" "+$DECIDING: initramfs initrd.img-4.9.35-v7+ followkernel" "dry run --force: diff"
cmp -s "$BOOT/config.txt" "$T/config.orig" || fail "dry run --force changed config.txt"
pass "dry run --force: config.txt unchanged"

out=$(ctl set-initramfs initrd.img-9.9.9-v7+ 2>&1)
rc=$?
assert_eq "$rc" 1 "missing file: refused"
assert_contains "$out" "does not exist" "missing file: says why"
cmp -s "$BOOT/config.txt" "$T/config.orig" || fail "refused change touched config.txt"
pass "missing file: config.txt unchanged"

out=$(ctl set-initramfs initrd.img-4.9.35-v7+ 2>&1)
rc=$?
assert_eq "$rc" 1 "initrd failing the check: refused"
assert_contains "$out" "refused" "failing initrd: says refused"
cmp -s "$BOOT/config.txt" "$T/config.orig" || fail "refused change touched config.txt"
pass "failing initrd: config.txt unchanged"

out=$(ctl set-initramfs --force initrd.img-4.9.35-v7+ 2>&1) || fail "--force exited $?: $out"
sed "${DECIDING}s/initrd.img-4.4.27-v7+/initrd.img-4.9.35-v7+/" "$T/config.orig" >"$T/config.want"
cmp "$BOOT/config.txt" "$T/config.want" || fail "--force: more than line $DECIDING changed: $(diff "$T/config.want" "$BOOT/config.txt")"
pass "--force: only line $DECIDING changed"
assert_eq "$(stat -c %a "$BOOT/config.txt")" 640 "--force: file mode kept"
[ -z "$(find "$BOOT" -name '.*.tmp')" ] || fail "temp file left in the boot folder"
pass "--force: no temp file left"
out=$(ctl show --json) || fail "show after change exited $?"
assert_eq "$(echo "$out" | jq -r '.initramfs.files[0].file')" "initrd.img-4.9.35-v7+" "show: sees the change"

# --- refusals and usage -------------------------------------------------------------------------
printf 'auto_initramfs=1\narm_64bit=1\n' >"$BOOT/config.txt"
cp "$BOOT/config.txt" "$T/config.auto"
out=$(ctl set-initramfs --force initrd.img-4.9.35-v7+ 2>&1)
rc=$?
assert_eq "$rc" 1 "auto_initramfs: refused"
assert_contains "$out" "renaming the new initrd onto initramfs8" "auto_initramfs: explains the rename"
cmp -s "$BOOT/config.txt" "$T/config.auto" || fail "auto_initramfs refusal touched config.txt"
pass "auto_initramfs: config.txt unchanged"

rm "$R/proc/device-tree/model"
out=$(ctl show 2>&1)
rc=$?
assert_eq "$rc" 2 "no model file: usage/input error"
assert_contains "$out" "pass --model" "no model file: says how to override"
out=$(ctl show --model "Raspberry Pi 3 Model B Plus Rev 1.3" 2>&1) || true
assert_contains "$out" "(pi3+)" "--model override"
out=$(ctl show --model "Raspberry Pi 3 Model B Rev 1.2" --boot-dir /nonexistent 2>&1)
assert_eq "$?" 2 "unreadable config.txt: exit 2"
out=$(ctl frobnicate 2>&1)
assert_eq "$?" 2 "unknown action: exit 2"
echo "all bootcfg checks passed"
