#!/bin/bash
# Hostile files where the agent reads and writes. The boot folder is an NFS export of the NAS
# and shared_dir the whole TFTP root: anybody with write access there can plant a symlink or
# leave a damaged file. Checked:
#  - symlinks planted at config.txt, cmdline.txt, tryboot.txt, the kernel, the initrd, the
#    generation store .netroot, the journal and a record, the upgrade's own temp name, and in
#    shared_dir at bootcode.bin, .netroot-backup and the lock file: refused with the path named
#    (or, for the agent's own temp name, removed unfollowed), the link's target byte for byte
#    untouched, the boot intact (sha256), nothing left behind;
#  - NUL bytes, a 1 MiB line, invalid UTF-8 and 0 bytes in config.txt, cmdline.txt, agent.conf,
#    the journal, a record and status.json: an error naming the file (and the line where there
#    is one) or a documented sane reading, never a crash, and the file unchanged.
# A real Debian chroot is the Pi for the upgrade cases; the build step copies a prepared initrd
# (NETROOT_TEST_INITRD_FROM): this test is about files, not mkinitramfs.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot"
[ -x "$NETROOTCTL" ] && [ -x "$NETROOTD" ] || fail "not built (make)"
for tool in zstd cpio jq sha256sum; do
	command -v "$tool" >/dev/null || fail "$tool missing (make deps)"
done

on_cleanup chroot_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
B=$CH/boot
SH=$CH/srv/tftp
INITRD=$B/initrd.img-$KV
mkdir -p "$SH"
for f in bootcode.bin start.elf fixup.dat; do head -c 4096 /dev/urandom >"$SH/$f"; done
pi_sandbox_conf "$CH" shared_dir /srv/tftp
mkdir -p "$T/early/kernel/x86/microcode"
echo "not really microcode" >"$T/early/kernel/x86/microcode/GenuineIntel.bin"
(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$T/variant.img"
cat "$INITRD" >>"$T/variant.img"

# The victims a planted link points at: a file and a folder outside the boot folder.
V=$T/victim
mkdir -p "$V/dir"
echo "precious: not the agent's to touch" >"$V/file"
victims() { (cd "$V" && find . -type f -exec sha256sum {} + | sort; find . | sort) | sha256sum; }
victims_before=$(victims)
snap() { # everything a run could change: the boot folder and shared_dir, names and bytes
	(cd "$CH" && find boot srv/tftp \( -type f -o -type l \) -print0 | sort -z |
		xargs -0 sha256sum 2>/dev/null; find boot srv/tftp | sort) | sha256sum
}
leftovers() {
	find "$B" "$SH" \( -name '*.tmp' -o -name '*.tmp-*' -o -name '*.netroot-new' \
		-o -name '*.netroot-restore' -o -name '.partial-*' -o -name '*.stale.*' \
		-o -name transaction -o -name .netroot-firmware.lock \) ! -type l 2>/dev/null
}
untouched() { # WHAT [FILE-UNDER-TEST]
	[ "$(victims)" = "$victims_before" ] || fail "$1: the link target changed: $(ls -laR "$V")"
	[ -z "$(leftovers | grep -vxF -- "${2:-/}")" ] || fail "$1: left behind: $(leftovers)"
}
upgrade() { # EXPECTED-EXIT ... : an upgrade; OUT holds stdout+stderr
	local want=$1 rc
	shift
	NETROOT_TEST_INITRD_FROM=$T/variant.img "$NETROOTCTL" --root "$CH" upgrade --lock-wait 1 "$@" \
		>"$T/out" 2>&1
	rc=$?
	OUT=$(cat "$T/out")
	[ "$rc" = "$want" ] || fail "exit $rc, expected $want: $OUT"
}
# plant NAME TARGET WHAT NEEDLE [EXIT]: replaces NAME (in the chroot) by a symlink to TARGET, runs
# an upgrade, expects it refused (exit 1, or EXIT) with NEEDLE in the message, the target and the
# boot untouched; then puts NAME back.
plant() {
	local name=$1 target=$2 what=$3 needle=$4 want=${5:-1} saved=
	if [ -e "$CH/$name" ] || [ -L "$CH/$name" ]; then
		saved=$T/saved.$$
		rm -rf "$saved"
		mv "$CH/$name" "$saved"
	fi
	ln -s "$target" "$CH/$name"
	local before
	before=$(snap)
	touch "$T/out.mark"
	sleep 0.01
	upgrade "$want"
	assert_contains "$OUT" "$needle" "symlink at $what: refused, naming it"
	[ "$(snap)" = "$before" ] || fail "symlink at $what: the boot folder or shared_dir changed: $(cd "$CH" && find boot srv/tftp -newer "$T/out.mark")"
	untouched "symlink at $what"
	pass "symlink at $what: target untouched, boot intact (sha256), nothing left behind"
	rm -f "$CH/$name"
	[ -z "$saved" ] || mv "$saved" "$CH/$name"
}

# --- symlinks in the boot folder and in shared_dir ---
cp -p "$B/config.txt" "$V/config.txt"
victims_before=$(victims)
plant boot/config.txt "$V/config.txt" config.txt \
	"cannot read $B/config.txt: a symlink (refused, never followed)"
plant boot/cmdline.txt "$V/file" cmdline.txt "$B/cmdline.txt is a symlink: refusing"
plant boot/tryboot.txt "$V/file" tryboot.txt "$B/tryboot.txt is a symlink: refusing"
plant "boot/initrd.img-$KV" "$V/file" "the initrd" "$INITRD is a symlink: refusing"
plant "boot/vmlinuz-$KV" "$V/file" "the kernel" "$B/vmlinuz-$KV is a symlink: refusing"
plant boot/.netroot "$V/dir" "the generation store" "$B/.netroot is a symlink: refusing"
[ -z "$(ls -A "$V/dir")" ] || fail "something was written into the folder .netroot pointed at"
# From here on the store exists (a backup refused after the lock leaves it, empty).
mkdir "$B/.netroot"
plant srv/tftp/bootcode.bin "$V/file" "shared bootcode.bin" "$SH/bootcode.bin is a symlink: refusing it"
plant srv/tftp/.netroot-backup "$V/dir" "shared .netroot-backup" "$SH/.netroot-backup: not a folder"
plant srv/tftp/.netroot-firmware.lock "$V/file" "the lock file" \
	"$SH/.netroot-firmware.lock: a symlink (refused, never followed)"

# The journal and a record, once the store exists (a good upgrade makes it).
upgrade 0
pass "a clean upgrade for the store to exist"
ln -s "$V/file" "$B/.netroot/transaction"
before=$(snap)
"$NETROOTCTL" --root "$CH" history >"$T/out" 2>&1
assert_eq "$?" 1 "symlinked journal: history fails"
assert_contains "$(cat "$T/out")" "$B/.netroot/transaction: a symlink (refused, never followed)" \
	"symlinked journal: named"
upgrade 1
assert_contains "$OUT" "could not be rolled back ($B/.netroot/transaction: a symlink (refused, never followed)); not starting another" "symlinked journal: no upgrade on top"
[ "$(snap)" = "$before" ] || fail "symlinked journal: something changed"
rm "$B/.netroot/transaction"
untouched "symlinked journal"
pass "symlinked journal: refused, target untouched"
mv "$B/.netroot/gen-1/record" "$T/record"
ln -s "$V/file" "$B/.netroot/gen-1/record"
"$NETROOTCTL" --root "$CH" history >"$T/out" 2>&1
assert_contains "$(cat "$T/out")" "gen-1/record: a symlink (refused, never followed)" "symlinked record: named"
rm "$B/.netroot/gen-1/record" && mv "$T/record" "$B/.netroot/gen-1/record"
untouched "symlinked record"
# Back to the old boot for the rest.
"$NETROOTCTL" --root "$CH" rollback >/dev/null 2>&1 || fail "rollback"

# The upgrade's own temp name (<initrd>.netroot-new): a leftover is the agent's, so a link
# there is removed, never followed, and the upgrade goes on.
ln -s "$V/file" "$INITRD.netroot-new"
upgrade 0
untouched "symlink at the upgrade's temp name"
cmp -s "$INITRD" "$T/variant.img" || fail "temp-name link: the new initrd is not in place"
pass "symlink at the upgrade's temp name: removed unfollowed, upgrade done, target untouched"
"$NETROOTCTL" --root "$CH" rollback >/dev/null 2>&1 || fail "rollback"

# rollback without --to: the newest record damaged is skipped with a warning naming it, and the
# rollback goes back to the generation before it (never stops on the admin's broken record).
upgrade 0
g1=$(ls "$B/.netroot" | sed -n 's/^gen-//p' | sort -n | tail -n 1)
upgrade 0
g=$(ls "$B/.netroot" | sed -n 's/^gen-//p' | sort -n | tail -n 1)
[ "$g" -gt "$g1" ] || fail "the second upgrade made no generation"
cp -p "$B/.netroot/gen-$g/record" "$T/record"
printf 'gen=%s\nthis is not a record line\n' "$g" >"$B/.netroot/gen-$g/record"
"$NETROOTCTL" --root "$CH" rollback >"$T/out" 2>&1
rc=$?
sed 's/^/  rb| /' "$T/out" | head -n 4
assert_eq "$rc" 0 "rollback beside a damaged record: exit 0"
assert_contains "$(cat "$T/out")" "warning: generation $g skipped" "a damaged newest record: skipped with a warning"
assert_contains "$(cat "$T/out")" "rolled back to generation $g1" "the generation before it is the target"
cp -p "$T/record" "$B/.netroot/gen-$g/record"
untouched "a damaged record beside a rollback"
pass "rollback without --to: a damaged record skipped with a warning"

# --- damaged content ---
# kinds: a NUL byte on line 2, a 1 MiB line, invalid UTF-8 on line 2, 0 bytes
damage() { # KIND FILE [FIRST-LINE]
	local first=${3:-}
	case $1 in
	nul) printf '%s\nx=a\0b\n' "$first" >"$2" ;;
	huge) { echo "$first"; head -c 1048576 /dev/zero | tr '\0' x; echo; } >"$2" ;;
	utf8) printf '%s\n# caf\xc3\x28 \xff\xfe\n' "$first" >"$2" ;;
	empty) : >"$2" ;;
	esac
}
# check KIND FILE EXPECTED-EXIT NEEDLE -- CMD...: CMD on the damaged FILE; FILE stays as damaged
check() {
	local kind=$1 file=$2 want=$3 needle=$4 sum rc
	shift 5
	sum=$(sha256sum <"$file")
	"$@" >"$T/out" 2>&1
	rc=$?
	[ "$rc" -lt 128 ] || fail "$(basename "$file") $kind: crashed (exit $rc): $(cat "$T/out")"
	[ "$rc" = "$want" ] || fail "$(basename "$file") $kind: exit $rc, expected $want: $(head -c 600 "$T/out")"
	[ -z "$needle" ] || grep -qF -- "$needle" "$T/out" ||
		fail "$(basename "$file") $kind: '$needle' not in: $(head -c 600 "$T/out")"
	[ "$(sha256sum <"$file")" = "$sum" ] || fail "$(basename "$file") $kind: the file was changed"
	untouched "$(basename "$file") $kind" "$file"
	pass "$(basename "$file") $kind: exit $want${needle:+, says '$needle'}, file unchanged"
}
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }

cp -p "$B/config.txt" "$T/config.txt"
first="kernel=vmlinuz-$KV"
damage nul "$B/config.txt" "$first"
check nul "$B/config.txt" 1 "$B/config.txt:2: NUL byte" -- ctl upgrade --dry-run
check nul "$B/config.txt" 2 "$B/config.txt:2: NUL byte" -- ctl bootcfg show
damage huge "$B/config.txt" "$first"
check huge "$B/config.txt" 1 "$B/config.txt: too large" -- ctl upgrade --dry-run
damage utf8 "$B/config.txt" "$first"
# Documented: config.txt is bytes to the firmware (a comment in Latin-1 is harmless), so invalid
# UTF-8 is no error: the plan adds the initramfs line this file lacks.
check utf8 "$B/config.txt" 0 "verdict: ok (dry run" -- ctl upgrade --dry-run
damage empty "$B/config.txt"
# Documented: an empty config.txt is the firmware's defaults (kernel7.img, no initramfs).
check empty "$B/config.txt" 1 "" -- ctl upgrade --dry-run
assert_contains "$(cat "$T/out")" "kernel7.img" "empty config.txt: read as the firmware's defaults"
cp -p "$T/config.txt" "$B/config.txt"
# cmdline.txt: only shown and copied by the agent
cp -p "$B/cmdline.txt" "$T/cmdline.txt"
damage nul "$B/cmdline.txt" "root=/dev/sda1"
check nul "$B/cmdline.txt" 0 "$B/cmdline.txt:2: NUL byte" -- ctl bootcfg show
damage huge "$B/cmdline.txt" "root=/dev/sda1"
check huge "$B/cmdline.txt" 0 "$B/cmdline.txt: too large" -- ctl bootcfg show
# 4 KiB on one line: readable, but past the kernel's 2048-byte command line
{ printf 'root=/dev/sda1 '; head -c 4096 /dev/zero | tr '\0' x; echo; } >"$B/cmdline.txt"
check long "$B/cmdline.txt" 1 "cmdline.txt is 4111 characters long: the kernel keeps only the first 2047" -- ctl doctor
cp -p "$T/cmdline.txt" "$B/cmdline.txt"
# agent.conf: netrootd --check-config and netrootctl, exit 2 naming file:line
AC=$T/agent.conf
damage nul "$AC" "[agent]"
check nul "$AC" 2 "$AC:2: line contains a NUL byte" -- "$NETROOTD" --root "$CH" --config "$AC" --check-config
check nul "$AC" 2 "$AC:2: line contains a NUL byte" -- ctl --config "$AC" history
damage huge "$AC" "[agent]"
check huge "$AC" 2 "$AC: cannot read: File too large" -- "$NETROOTD" --root "$CH" --config "$AC" --check-config
damage utf8 "$AC" "[agent]"
check utf8 "$AC" 2 "$AC:2: line is not valid UTF-8" -- "$NETROOTD" --root "$CH" --config "$AC" --check-config
damage empty "$AC"
check empty "$AC" 0 "valid" -- "$NETROOTD" --root "$CH" --config "$AC" --check-config
# the journal and a generation record
mkdir -p "$B/.netroot"
for kind in nul huge utf8 empty; do
	damage $kind "$B/.netroot/transaction" "gen=1"
	check $kind "$B/.netroot/transaction" 1 "$B/.netroot/transaction" -- ctl history
	rm -f "$B/.netroot/transaction"
done
g=$(ctl history --json | jq -r '.generations[-1].gen')
cp -p "$B/.netroot/gen-$g/record" "$T/record"
for kind in nul huge utf8 empty; do
	damage $kind "$B/.netroot/gen-$g/record" "gen=$g"
	check $kind "$B/.netroot/gen-$g/record" 1 "$B/.netroot/gen-$g/record" -- ctl history
done
cp -p "$T/record" "$B/.netroot/gen-$g/record"
# the pending confirmation: a damaged one names its line (0: no gen= line at all)
P=$B/.netroot/pending
damage nul "$P" "gen=$g"
check nul "$P" 1 "$P:2: NUL byte" -- ctl history
damage huge "$P" "gen=$g"
check huge "$P" 1 "$P: " -- ctl history
damage empty "$P"
check empty "$P" 1 "$P:0: no gen= line" -- ctl history
rm -f "$P"
# status.json for netrootctl status (and --json): named with its line
mkdir -p "$CH/run/netroot"
S=$CH/run/netroot/status.json
printf '{"pid": 1,\n"state": "O\0K"}\n' >"$S"
check nul "$S" 1 "$S: line 2: control character in string" -- ctl status
check nul "$S" 1 "$S: line 2: control character in string" -- ctl status --json
damage huge "$S" '{"pid": 1,'
check huge "$S" 1 "$S: File too large" -- ctl status
printf '{"pid": 1, "state": "OK\xff"}\n' >"$S"
check utf8 "$S" 1 "$S: line 1: invalid UTF-8" -- ctl status
damage empty "$S"
check empty "$S" 1 "$S: line 1: unexpected end of input" -- ctl status --json
rm -f "$S"
echo "all hostile file checks passed"
