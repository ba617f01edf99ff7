#!/bin/bash
# netrootctl check-initrd on real Debian initramfs images: the one Debian built for its kernel
# in a bookworm chroot with open-iscsi (tests/lib/chroot.sh), variants built next to it with
# mkinitramfs -o, a truncated copy, a garbage file, recompressed and concatenated copies.
# Exit codes checked: 0 all there, 1 something missing or "archive complete" failing (truncated),
# 2 unreadable or not an initramfs.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"

[ "$(id -u)" = 0 ] || skip "needs root for debootstrap, chroot and mount"
[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
for tool in debootstrap zstd gzip lz4 cpio jq; do
	command -v "$tool" >/dev/null || fail "$tool missing (make deps)"
done

on_cleanup chroot_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
KV=$(chroot_kernel "$CH")
[ -n "$KV" ] || fail "no kernel in the chroot"
REAL=/boot/initrd.img-$KV
[ -s "$CH$REAL" ] || fail "the chroot has no $REAL"
echo "kernel $KV, initrd $(stat -c %s "$CH$REAL") bytes"

# check OUT_FILE ARGS...: runs check-initrd in the chroot's sandbox, sets $rc and $out.
check() {
	local t0 t1
	t0=$(date +%s%N)
	out=$("$NETROOTCTL" --root "$CH" check-initrd "$@" 2>"$T/stderr")
	rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	printf '%s\n' "$out" >"$T/last.out"
}

missing() { # ITEM: the human output names ITEM as MISSING
	grep -qE "^  MISSING  $1 " "$T/last.out" || fail "$1 not reported missing: $out"
	pass "$1 reported missing"
}
present() {
	grep -qE "^  ok       $1 " "$T/last.out" || fail "$1 not reported ok: $out"
}

# (a) Debian's own initrd with open-iscsi: everything there. Debian's amd64 image happens to carry
# the Pi 3 NIC drivers too (MODULES=most takes drivers/net/usb), so the default check passes.
check "$REAL" --nic none
assert_eq "$rc" 0 "(a) real initrd, --nic none: exit 0"
for it in iscsistart iscsi_tcp libiscsi_tcp scsi_transport_iscsi sd_mod ext4 crc32c; do
	present "$it"
done
echo "check-initrd on the real $(($(stat -c %s "$CH$REAL") / 1000000)) MB zstd initrd: $ms ms"
[ "$ms" -lt 3000 ] || fail "check-initrd took $ms ms (goal: about 1 s)"
check "$REAL"
assert_eq "$rc" 0 "(a) real initrd, default NIC check (smsc95xx or lan78xx): exit 0"
check "$REAL" --nic smsc95xx
assert_eq "$rc" 0 "(a) real initrd has smsc95xx (Pi 3B)"
check "$REAL" --nic no_such_nic
assert_eq "$rc" 1 "(a) a NIC driver that is not there: exit 1"
missing no_such_nic

# The entry count agrees with Debian's own lister (an independent cpio reader).
n_ls=$(chroot "$CH" lsinitramfs "$REAL" | wc -l)
n_us=$("$NETROOTCTL" --root "$CH" check-initrd --json --nic none "$REAL" | jq .entries)
assert_eq "$n_us" "$n_ls" "entries seen = lsinitramfs lines"

# (e) --json is valid and has the documented shape, for a pass, a failure and an unreadable file.
json_ok() {
	jq -e '(.file | type == "string") and (.ok | type == "boolean") and
	       (.kernel == null or (.kernel | type == "string")) and (.items | type == "array") and
	       all(.items[]; (.name | type == "string") and (.ok | type == "boolean") and
	                     (.detail | type == "string"))' "$1" >/dev/null
}
"$NETROOTCTL" --root "$CH" check-initrd --json --nic none "$REAL" >"$T/a.json"
assert_eq "$?" 0 "(e) --json exit 0"
json_ok "$T/a.json" || fail "(e) bad JSON: $(cat "$T/a.json")"
assert_eq "$(jq -r '.ok, .kernel, (.items | length), ([.items[] | select(.ok | not)] | length)' \
	"$T/a.json" | tr '\n' ' ')" "true $KV 12 0 " "(e) JSON: ok, kernel, 12 items, none failing"
assert_eq "$(jq -r .file "$T/a.json")" "$REAL" "(e) JSON file is the argument"

# (f) A kernel version the archive does not have: lib/modules item fails.
check "$REAL" --nic none --kernel 6.1.0-1-amd64
assert_eq "$rc" 1 "(f) --kernel with a wrong version: exit 1"
missing "lib/modules/6.1.0-1-amd64"
assert_contains "$out" "(it has: $KV)" "(f) names the version it has"
"$NETROOTCTL" --root "$CH" check-initrd --json --nic none --kernel 6.1.0-1-amd64 "$REAL" \
	>"$T/f.json"
json_ok "$T/f.json" || fail "(e) bad JSON for a failing check"
assert_eq "$(jq -r '.ok, (.items[] | select(.name == "lib/modules/6.1.0-1-amd64") | .ok)' \
	"$T/f.json" | tr '\n' ' ')" "false false " "(e)(f) JSON says which item failed"

# (c) Truncated: the main archive cut in half decompresses only partly; read, but failing.
head -c $(($(stat -c %s "$CH$REAL") / 2)) "$CH$REAL" >"$CH/boot/half.img"
check /boot/half.img --nic none
echo "(c) truncated copy: exit $rc"
assert_eq "$rc" 1 "(c) truncated initrd: exit 1 (archive incomplete), not 2"
missing "archive complete"
assert_contains "$out" "archive incomplete" "(c) says archive incomplete"

# (d) Not an initramfs at all: exit 2, in JSON too.
head -c 1000000 /dev/urandom >"$CH/boot/garbage.img"
printf '\x00\x00garbage' >>"$CH/boot/garbage.img"
check /boot/garbage.img --nic none
echo "(d) garbage: exit $rc: $out"
assert_eq "$rc" 2 "(d) garbage file: exit 2"
"$NETROOTCTL" --root "$CH" check-initrd --json /boot/garbage.img >"$T/d.json" 2>/dev/null
assert_eq "$?" 2 "(d) garbage file, --json: exit 2"
json_ok "$T/d.json" || fail "(e) bad JSON for an unreadable file"
assert_eq "$(jq -r .ok "$T/d.json")" false "(d) JSON ok=false"
check /boot/no-such.img
assert_eq "$rc" 2 "missing file: exit 2"
check "$REAL" --nic 'smsc95xx;reboot'
assert_eq "$rc" 2 "bad --nic value: usage error"

# Other compressions the kernel reads, recompressed from the real one (gzip; lz4 legacy format),
# and an uncompressed early cpio (microcode) in front, as intel-/amd64-microcode add.
zstd -q -dc "$CH$REAL" >"$T/main.cpio"
gzip -1 -c "$T/main.cpio" >"$CH/boot/gzip.img"
lz4 -q -l -c "$T/main.cpio" >"$CH/boot/lz4.img"
for img in gzip lz4; do
	check "/boot/$img.img" --nic none
	assert_eq "$rc" 0 "$img-compressed initrd: exit 0"
	assert_contains "$out" "unpacked, $img" "$img detected"
done
mkdir -p "$T/early/kernel/x86/microcode"
echo "not really microcode" >"$T/early/kernel/x86/microcode/GenuineIntel.bin"
(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$CH/boot/early.img"
cat "$CH$REAL" >>"$CH/boot/early.img"
check /boot/early.img --nic none
assert_eq "$rc" 0 "early cpio + zstd main archive: exit 0"
n_early=$("$NETROOTCTL" --root "$CH" check-initrd --json --nic none /boot/early.img | jq .entries)
assert_eq "$n_early" "$((n_us + 4))" "early cpio entries counted as well"
rm -f "$CH/boot/"{half,garbage,gzip,lz4,early}.img "$T/main.cpio"

# (g) The Pi relies on /etc/iscsi/iscsi.initramfs: the old initrd lacks its copy; one rebuilt
# after the file appeared has it.
printf 'ISCSI_TARGET_NAME=iqn.2024-01.test:root\nISCSI_TARGET_IP=127.0.0.1\n' \
	>"$CH/etc/iscsi/iscsi.initramfs"
check "$REAL" --nic none
assert_eq "$rc" 1 "(g) iscsi.initramfs on the system but not in the initrd: exit 1"
missing "etc/iscsi.initramfs"
# Built from a copy of the configuration with a small module list (tests/lib/chroot.sh): what
# matters here is open-iscsi's hook, which copies the file whatever MODULES says.
cp -a "$CH/etc/initramfs-tools" "$CH/etc/initramfs-tools-small"
chroot_initramfs_small "$CH" /etc/initramfs-tools-small || fail "could not configure the small initramfs"
t0=$(date +%s)
chroot "$CH" mkinitramfs -d /etc/initramfs-tools-small -o /boot/test-conf.img "$KV" >"$T/mk.log" 2>&1 ||
	fail "mkinitramfs: $(tail -n 20 "$T/mk.log")"
echo "mkinitramfs: $(($(date +%s) - t0)) s"
check /boot/test-conf.img --nic none
assert_eq "$rc" 0 "(g) initrd rebuilt with iscsi.initramfs: exit 0"
present "etc/iscsi.initramfs"
rm -f "$CH/etc/iscsi/iscsi.initramfs" "$CH/boot/test-conf.img"

# (b) NO_ISCSI_IN_INITRAMFS=yes: open-iscsi's hook adds nothing. Built twice at once, next to the
# real initrd, from small configurations (the real initrd, (a), is Debian's MODULES=most): one
# whose module list names iscsi_tcp, as MODULES=most takes all of drivers/scsi whatever the hook
# says (the modules are there, the login program is not), and one with only what the Pi needs
# besides iSCSI (nothing of iSCSI at all).
# open-iscsi's hook reads this very file, whichever configuration directory mkinitramfs -d names.
echo NO_ISCSI_IN_INITRAMFS=yes >"$CH/etc/initramfs-tools/conf.d/open-iscsi"
cp -a "$CH/etc/initramfs-tools-small" "$CH/etc/initramfs-tools-small-tcp"
echo iscsi_tcp >>"$CH/etc/initramfs-tools-small-tcp/modules"
t0=$(date +%s)
chroot "$CH" mkinitramfs -d /etc/initramfs-tools-small-tcp -o /boot/test-noiscsi.img "$KV" >"$T/mk1.log" 2>&1 &
pid1=$!
track_pid $pid1
chroot "$CH" mkinitramfs -d /etc/initramfs-tools-small -o /boot/test-noiscsi-small.img \
	"$KV" >"$T/mk2.log" 2>&1
rc2=$?
wait $pid1 || fail "mkinitramfs: $(tail -n 20 "$T/mk1.log")"
[ $rc2 = 0 ] || fail "mkinitramfs -d: $(tail -n 20 "$T/mk2.log")"
echo "two mkinitramfs in parallel: $(($(date +%s) - t0)) s"
cmp -s "$CH$REAL" "$CH/boot/test-noiscsi.img" && fail "the variant overwrote the real initrd"
check /boot/test-noiscsi-small.img --nic none
assert_eq "$rc" 1 "(b) NO_ISCSI_IN_INITRAMFS=yes, no iSCSI module listed: exit 1"
missing iscsistart
missing iscsi_tcp
check /boot/test-noiscsi.img --nic none
assert_eq "$rc" 1 "(b) NO_ISCSI_IN_INITRAMFS=yes, iscsi_tcp in the module list: exit 1"
missing iscsistart
present iscsi_tcp
# The real initrd next to them is untouched and still passes.
check "$REAL" --nic none
assert_eq "$rc" 0 "real initrd still passes after the variants were built"
echo "all check-initrd integration checks passed"
