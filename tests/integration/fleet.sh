#!/bin/bash
# netrootctl fleet on a generated TFTP root. Five Pis, each a sandbox tree of its own (model,
# cpuinfo serial, hostname, agent.conf) whose boot folder is its serial folder in one shared
# TFTP root; each Pi's identity record and generation are written by netrootctl itself (`hook
# apt-pre` as that Pi). Then, as an admin's tools would leave them: one generation pending for
# two hours (record backdated), one bad, one Pi with its own start.elf of another build (skew),
# misnamed folders (upper case, 7 digits, 16 digits). Checked: the table, exit status, the JSON
# field by field (jq), --textfile (node_exporter format, written atomically), and with a
# cluster lock held.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/fake_firmware.sh
. "$TOP/tests/lib/fake_firmware.sh"

[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
for tool in jq sha256sum; do command -v $tool >/dev/null || fail "$tool missing (make deps)"; done

TFTP=$T/tftp
FW=(bootcode.bin fixup.dat start.elf)
mkdir -p "$TFTP"
fake_firmware "$TFTP" "$(fake_build v1)" "Aug 26 2022" "${FW[@]}"

# make_pi SERIAL HOSTNAME MODEL: a Pi's tree $T/pi-HOSTNAME, boot folder $TFTP/SERIAL
make_pi() {
	local s=$1 h=$2 model=$3 R=$T/pi-$2
	mkdir -p "$R/proc/device-tree" "$R/etc/netroot" "$R/run" "$R/srv" "$TFTP/$s"
	ln -sfn "$TFTP" "$R/srv/tftp"
	printf '%s\0' "$model" >"$R/proc/device-tree/model"
	printf 'Hardware\t: BCM2835\nSerial\t\t: 00000000%s\n' "$s" >"$R/proc/cpuinfo"
	echo "$h" >"$R/etc/hostname"
	printf '[agent]\nboot_dir = /srv/tftp/%s\n[upgrade]\nshared_dir = /srv/tftp\nverify_tftp = off\n[boot]\nconfirm_timeout = 10m\n' \
		"$s" >"$R/etc/netroot/agent.conf"
	printf 'kernel=kernel8.img\ninclude netroot.txt\n' >"$TFTP/$s/config.txt"
	printf '[all]\ninitramfs initrd.img-6.1.0-rpi7 followkernel\n' >"$TFTP/$s/netroot.txt"
	echo "console=tty1 root=/dev/sda" >"$TFTP/$s/cmdline.txt"
	head -c 3000 /dev/urandom >"$TFTP/$s/kernel8.img"
	head -c 3000 /dev/urandom >"$TFTP/$s/initrd.img-6.1.0-rpi7"
	"$NETROOTCTL" --root "$R" hook apt-pre >"$T/o" 2>&1 || fail "apt-pre as $h: $(cat "$T/o")"
	rm -f "$R/run/netroot/apt-kernel"
}
PI3="Raspberry Pi 3 Model B Rev 1.2"
make_pi 511e57f7 redpi "$PI3"
make_pi 0b615590 bluepi "$PI3"
make_pi 22bba2d2 greenpi "Raspberry Pi 4 Model B Rev 1.4"
make_pi 1a2b3c04 whitepi "$PI3"
make_pi 00c0ffee canary "$PI3"
for s in 511e57f7 0b615590 22bba2d2 1a2b3c04 00c0ffee; do
	[ -f "$TFTP/$s/.netroot/identity" ] || fail "$s: no identity record after hook apt-pre"
done
pass "identity records written by netrootctl hook apt-pre (one per Pi)"
assert_file_contains "$TFTP/22bba2d2/.netroot/identity" "hostname=greenpi" "identity: hostname"
assert_file_contains "$TFTP/22bba2d2/.netroot/identity" "model=Raspberry Pi 4 Model B Rev 1.4" \
	"identity: model"
assert_file_contains "$TFTP/22bba2d2/.netroot/identity" "confirm_timeout=600" \
	"identity: the Pi's confirm timeout"

ctl() { "$NETROOTCTL" "$@"; }
ctl fleet --tftp-root "$TFTP" >"$T/all-good" 2>&1 || fail "fleet on a healthy root: $(cat "$T/all-good")"
cat "$T/all-good"
pass "a healthy fleet: exit 0"

# The states an admin meets.
sed -i 's/^status=good/status=pending/' "$TFTP/0b615590/.netroot/gen-1/record"
touch -d '2 hours ago' "$TFTP/0b615590/.netroot/gen-1/record"
sed -i 's/^status=good/status=bad/' "$TFTP/1a2b3c04/.netroot/gen-1/record"
fake_firmware "$TFTP/00c0ffee" "$(fake_build v2)" "Mar 14 2023" fixup.dat start.elf
mkdir -p "$TFTP/1A2B3C05" "$TFTP/b615591" "$TFTP/000000002bba2d20" "$TFTP/overlays"

rc=0
ctl fleet --tftp-root "$TFTP" >"$T/table" 2>&1 || rc=$?
cat "$T/table"
assert_eq "$rc" 1 "attention needed: exit 1"
grep -q '^511e57f7 .*redpi .*pi3 .*kernel8.img .*initrd.img-6.1.0-rpi7 .*1 good .* ok$' "$T/table" \
	|| fail "redpi's row: $(grep 511e57f7 "$T/table")"
pass "table: redpi good, kernel and initramfs (through include) shown"
assert_contains "$(grep ^0b615590 "$T/table")" "generation 1 pending for" "table: bluepi overdue"
assert_contains "$(grep ^1a2b3c04 "$T/table")" "generation 1 is bad" "table: whitepi bad"
assert_contains "$(grep ^00c0ffee "$T/table")" "firmware skew" "table: canary skewed"
assert_contains "$(grep ^1A2B3C05 "$T/table")" "upper case: the bootloader asks for 1a2b3c05/" \
	"table: upper case flagged"
assert_contains "$(grep ^b615591 "$T/table")" "7 digits" "table: 7 digits flagged"
assert_contains "$(grep ^000000002bba2d20 "$T/table")" "low 32 bits, 2bba2d20/" "table: 16 digits flagged"
assert_not_contains "$(cat "$T/table")" "overlays" "overlays/ is no Pi's folder"

rc=0
ctl fleet --tftp-root "$TFTP" --json >"$T/json" || rc=$?
assert_eq "$rc" 1 "--json: exit 1"
j() { jq -r "$1" "$T/json"; }
row() { jq -r --arg f "$1" ".rows[] | select(.folder == \$f) | $2" "$T/json"; }
assert_eq "$(j .pis)" 5 "json: pis"
assert_eq "$(j .misnamed)" 3 "json: misnamed"
assert_eq "$(j .attention)" true "json: attention"
assert_eq "$(j .bootcode.sha256)" "$(sha256sum <"$TFTP/bootcode.bin" | cut -c1-64)" "json: bootcode sha256"
assert_eq "$(j .bootcode.came_with_version)" "$(fake_build v1)" "json: bootcode came with v1"
assert_eq "$(j .lock)" null "json: lock free"
assert_eq "$(row 511e57f7 .serial)" 511e57f7 "json: serial"
assert_eq "$(row 511e57f7 .hostname)" redpi "json: hostname"
assert_eq "$(row 511e57f7 .model)" "$PI3" "json: model"
assert_eq "$(row 511e57f7 .board)" pi3 "json: board"
assert_eq "$(row 511e57f7 .kernel)" kernel8.img "json: kernel"
assert_eq "$(row 511e57f7 .kernel_present)" true "json: kernel present"
assert_eq "$(row 511e57f7 .initramfs)" initrd.img-6.1.0-rpi7 "json: initramfs"
assert_eq "$(row 511e57f7 .initramfs_present)" true "json: initramfs present"
assert_eq "$(row 511e57f7 .generations.total)" 1 "json: generations total"
assert_eq "$(row 511e57f7 .generations.good)" 1 "json: generations good"
assert_eq "$(row 511e57f7 .generations.newest_status)" good "json: newest status"
assert_eq "$(row 511e57f7 '.generations.bytes > 0')" true "json: generation bytes"
assert_eq "$(row 511e57f7 .generations.confirm_timeout_seconds)" 600 "json: confirm timeout"
assert_eq "$(row 511e57f7 .firmware.boots_from)" root "json: boots the root's firmware"
assert_eq "$(row 511e57f7 .firmware.version)" "$(fake_build v1)" "json: firmware version"
assert_eq "$(row 511e57f7 .firmware.skew)" false "json: no skew"
assert_eq "$(row 511e57f7 .attention)" false "json: redpi fine"
assert_eq "$(row 22bba2d2 .board)" pi4 "json: greenpi is a pi4"
assert_eq "$(row 0b615590 .generations.pending)" 1 "json: bluepi pending"
assert_eq "$(row 0b615590 .generations.pending_overdue)" true "json: bluepi overdue"
assert_eq "$(row 0b615590 '.generations.pending_age_seconds >= 7200')" true "json: pending age"
assert_eq "$(row 0b615590 .attention)" true "json: bluepi attention"
assert_eq "$(row 1a2b3c04 .generations.bad)" 1 "json: whitepi bad"
assert_eq "$(row 1a2b3c04 .reason)" "generation 1 is bad" "json: whitepi reason"
assert_eq "$(row 00c0ffee .firmware.boots_from)" own "json: canary boots its own"
assert_eq "$(row 00c0ffee .firmware.version)" "$(fake_build v2)" "json: canary version"
assert_eq "$(row 00c0ffee .firmware.skew)" true "json: canary skew"
assert_eq "$(row 1A2B3C05 .misnamed)" true "json: 1A2B3C05 misnamed"
assert_eq "$(row 1A2B3C05 .expected)" 1a2b3c05 "json: 1A2B3C05 expected name"
assert_eq "$(row b615591 .expected)" 0b615591 "json: b615591 expected name"
assert_eq "$(row 000000002bba2d20 .expected)" 2bba2d20 "json: 16-digit expected name"

# The cluster lock, as a Pi holding it leaves it: shown with its holder.
printf 'serial=00c0ffee\nhost=canary\npid=4242\nacquired=0\nexpires=0\nttl=600\n' >"$TFTP/.netroot-firmware.lock"
ctl fleet --tftp-root "$TFTP" --json >"$T/json" || true
assert_eq "$(j .lock.serial)@$(j .lock.host)" "00c0ffee@canary" "json: lock holder"
ctl fleet --tftp-root "$TFTP" >"$T/table" || true
assert_contains "$(cat "$T/table")" "cluster lock: held by 00c0ffee@canary pid 4242" "table: lock holder"
rm -f "$TFTP/.netroot-firmware.lock"

# node_exporter's textfile.
mkdir -p "$T/textfile"
ctl fleet --tftp-root "$TFTP" --textfile "$T/textfile/netroot-fleet.prom" || true
tf=$T/textfile/netroot-fleet.prom
assert_file_contains "$tf" "netroot_fleet_pis 5" "textfile: pis"
assert_file_contains "$tf" "netroot_fleet_firmware_skewed_pis 1" "textfile: skewed"
assert_file_contains "$tf" "netroot_fleet_misnamed_folders 3" "textfile: misnamed"
assert_file_contains "$tf" 'netroot_fleet_pi_firmware_skew{serial="00c0ffee",version="'"$(fake_build v2)"'"} 1' \
	"textfile: per-Pi skew"
assert_file_contains "$tf" 'netroot_fleet_pi_confirm_timeout_seconds{serial="0b615590"} 600' \
	"textfile: confirm timeout"
grep -q '^netroot_fleet_pi_pending_age_seconds{serial="0b615590"} 7[0-9][0-9][0-9]$' "$tf" \
	|| fail "textfile: pending age: $(grep pending_age "$tf")"
pass "textfile: pending age"
[ "$(find "$T/textfile" -type f | wc -l)" = 1 ] || fail "textfile: a temp file left: $(ls -a "$T/textfile")"
pass "textfile: written atomically (no temp file left)"
if command -v promtool >/dev/null; then
	promtool check metrics <"$tf" >"$T/lint" 2>&1 || fail "promtool check metrics: $(cat "$T/lint")"
	pass "textfile: promtool check metrics"
else
	fail "promtool missing (make deps)"
fi

# netrootctl confirm writes the record only when it decides a boot (fleet_ansible.sh checks
# that); with nothing pending it leaves the folder alone.
rm "$TFTP/511e57f7/.netroot/identity"
"$NETROOTCTL" --root "$T/pi-redpi" confirm --no-reboot >"$T/o" 2>&1 || fail "confirm: $(cat "$T/o")"
[ ! -e "$TFTP/511e57f7/.netroot/identity" ] || fail "confirm with nothing pending wrote the identity"
pass "confirm with nothing pending writes nothing"

# Read-only: nothing in the root changed.
before=$(find "$TFTP" -printf '%p %s %T@\n' | sort | sha256sum)
ctl fleet --tftp-root "$TFTP" >/dev/null 2>&1 || true
ctl fleet --tftp-root "$TFTP" --json >/dev/null 2>&1 || true
assert_eq "$(find "$TFTP" -printf '%p %s %T@\n' | sort | sha256sum)" "$before" "fleet is read-only"

# Version names are shown whole: cut at a column width, vmlinuz-6.1.0-55-amd64 read as
# "vmlinuz-6.1.0-55-amd" (before: KERNEL cut at 20 characters, INITRAMFS at 26).
LONG_K=vmlinuz-6.1.0-55-amd64
LONG_I=initrd.img-6.12.25+rpt-rpi-2712
printf 'kernel=%s\ninclude netroot.txt\n' "$LONG_K" >"$TFTP/22bba2d2/config.txt"
printf '[all]\ninitramfs %s followkernel\n' "$LONG_I" >"$TFTP/22bba2d2/netroot.txt"
head -c 3000 /dev/urandom >"$TFTP/22bba2d2/$LONG_K"
head -c 3000 /dev/urandom >"$TFTP/22bba2d2/$LONG_I"
ctl fleet --tftp-root "$TFTP" >"$T/table-long" 2>&1 || true
row=$(grep '^22bba2d2 ' "$T/table-long")
assert_contains "$row" " $LONG_K " "table: the kernel name whole ($LONG_K)"
assert_contains "$row" " $LONG_I " "table: the initramfs name whole ($LONG_I)"
hdr=$(grep '^SERIAL ' "$T/table-long")
[ "$(awk -v h="$hdr" 'BEGIN { print index(h, "INITRAMFS") }')" = "$(awk -v r="$row" -v i="$LONG_I" 'BEGIN { print index(r, i) }')" ] ||
	fail "the INITRAMFS column does not line up with its header: $hdr / $row"
pass "the columns line up with the longer names"
