#!/bin/bash
# Several Pis on one NAS: four `netrootctl upgrade` runs at once, each for its own serial folder
# <tftproot>/<serial>/ (its boot_dir), all sharing one shared_dir, the TFTP root with the
# cluster's bootcode.bin, start*.elf and fixup*.dat, served by a real tftpd-hpa on 127.0.0.1.
# One cached Debian chroot is the system of every Pi (copies cost seconds each): each run gets
# its own agent.conf (boot_dir=/srv/tftp/<serial>) and --serial; the runs share nothing else.
#
# Asserted:
#  - every run ends ok (exit 0) or, with a lock held elsewhere, refused with the holder named and
#    "waited N s" (exit 1), nothing changed;
#  - only one run writes in shared_dir at a time: each backup folder's write window (folder birth
#    to manifest mtime, kernel timestamps) overlaps no other, and a second writer that replaces
#    the live firmware (rollback --firmware) during a second round of upgrades never mixes with
#    a backup: every backup is wholly one firmware version;
#  - no file is ever torn: the shared files are hashed continually while the runs go, every hash
#    seen is one of the known versions; every per-Pi file ends as expected;
#  - a lock left by a SIGKILLed holder (and one planted for a dead PID) blocks until its expiry
#    and is taken over right after it, not before (measured).
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/tftp.sh
. "$TOP/tests/lib/tftp.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot and tftpd"
[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
why=$(tftp_check) || skip "$why"
for tool in zstd cpio jq sha256sum stat; do
	command -v "$tool" >/dev/null || fail "$tool missing (make deps)"
done
t_start=$(date +%s)

on_cleanup chroot_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
SH=$CH/srv/tftp # the NAS's TFTP root = shared_dir; each Pi's boot folder lives in it
mkdir -p "$SH"
tftp_start "$SH" >/dev/null || fail "in.tftpd did not start"
SERIALS=(1a2b3c01 1a2b3c02 1a2b3c03 1a2b3c04)
FW=(bootcode.bin start.elf start_x.elf fixup.dat fixup_x.dat)

# Two firmware versions in realistic sizes (a start*.elf is MiBs: copies take a while).
fw_make() { # DIR
	mkdir -p "$1"
	head -c 52000 /dev/urandom >"$1/bootcode.bin"
	head -c 2900000 /dev/urandom >"$1/start.elf"
	head -c 3900000 /dev/urandom >"$1/start_x.elf"
	head -c 7300 /dev/urandom >"$1/fixup.dat"
	head -c 10200 /dev/urandom >"$1/fixup_x.dat"
	chmod 0644 "$1"/*
}
fw_make "$T/v1"
fw_make "$T/v2"
for f in "${FW[@]}"; do
	printf '%s %s v1\n%s %s v2\n' "$(sha256sum <"$T/v1/$f" | cut -c1-64)" "$f" \
		"$(sha256sum <"$T/v2/$f" | cut -c1-64)" "$f"
done >"$T/valid" # "HASH NAME VERSION"
cp -p "$T/v1/"* "$SH/"

# A second valid initrd with other bytes (an early cpio in front), copied by the build step
# (NETROOT_TEST_INITRD_FROM): this test is about the shared folder, not mkinitramfs.
mkdir -p "$T/early/kernel/x86/microcode"
echo "not really microcode" >"$T/early/kernel/x86/microcode/GenuineIntel.bin"
(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$T/variant.img"
cat "$CH/boot/initrd.img-$KV" >>"$T/variant.img"
VARIANT_SHA=$(sha256sum <"$T/variant.img" | cut -c1-64)

# Each Pi: its serial folder in the TFTP root (per-Pi start.elf/fixup.dat too, as bootcode.bin
# loads them from there) and its own agent.conf.
for s in "${SERIALS[@]}"; do
	d=$SH/$s
	mkdir -p "$d"
	cp "$CH/boot/config.txt" "$CH/boot/cmdline.txt" "$CH/boot/bcm2710-rpi-3-b.dtb" "$d/"
	# kernel and initrd: hard links (the upgrade only ever renames onto these names)
	ln "$CH/boot/vmlinuz-$KV" "$d/vmlinuz-$KV" && ln "$CH/boot/initrd.img-$KV" "$d/initrd.img-$KV" ||
		fail "hard links into $d"
	cp "$T/v1/start.elf" "$T/v1/fixup.dat" "$d/"
	chmod 0644 "$d"/*
	# Its own run folder too: on a real Pi /run (and the boot lock in it) is the Pi's own.
	sed -e "s|^boot_dir = .*|boot_dir = /srv/tftp/$s|" -e "s|^run_dir = .*|run_dir = /run/netroot-$s|" \
		"$CH/etc/netroot/agent.conf" >"$T/$s.conf"
	printf 'shared_dir = /srv/tftp\ntftp = 127.0.0.1:%s\n' "$TFTP_PORT" >>"$T/$s.conf"
	sed -i 's/^verify_tftp = .*/verify_tftp = required/' "$T/$s.conf"
	(cd "$d" && sha256sum config.txt cmdline.txt bcm2710-rpi-3-b.dtb start.elf fixup.dat \
		"vmlinuz-$KV") >"$T/$s.perpi"
done
pi() { # SERIAL ARGS...: netrootctl as that Pi
	local s=$1
	shift
	"$NETROOTCTL" --root "$CH" --config "$T/$s.conf" "$@"
}
upgrade_bg() { # SERIAL TAG [ARGS...]: an upgrade in the background, output in $T/TAG.{out,err,rc}
	local s=$1 tag=$2
	shift 2
	(
		NETROOT_TEST_INITRD_FROM=$T/variant.img pi "$s" upgrade --serial "$s" "$@" \
			>"$T/$tag.out" 2>"$T/$tag.err"
		echo $? >"$T/$tag.rc"
	) &
	BG=$!
	track_pid "$BG"
}

# The watcher: hashes every shared file continually and notes each version seen.
watch_start() {
	rm -f "$T/stop"
	(
		while [ ! -e "$T/stop" ]; do
			(cd "$SH" && sha256sum "${FW[@]}" 2>&1) | awk '{ print $1, $2 }'
		done >"$T/seen"
	) &
	WATCH=$!
	track_pid "$WATCH"
}
watch_check() { # WHAT
	touch "$T/stop"
	wait "$WATCH"
	local rounds bad
	rounds=$(($(wc -l <"$T/seen") / ${#FW[@]}))
	[ "$rounds" -ge 3 ] || fail "$1: the watcher hashed the shared set only $rounds times"
	bad=$(awk 'NR == FNR { ok[$1 " " $2] = 1; next } !(($1 " " $2) in ok)' "$T/valid" "$T/seen" | sort -u)
	[ -z "$bad" ] || fail "$1: torn or unknown shared file seen: $bad"
	pass "$1: $rounds full hash rounds of the shared set while the runs went, every hash a known version"
}
# Prints "START END NAME" (ns) for each backup folder: folder birth (mkdir, under the lock) to
# the manifest's mtime (its last write, still under the lock).
windows() {
	local b
	for b in "$SH"/.netroot-backup/*/; do
		[ -f "$b/SHA256SUMS" ] || continue
		echo "$(stat -c %.9W "$b") $(stat -c %.9Y "$b/SHA256SUMS") $(basename "$b")"
	done | sort -n
}
no_overlap() { # WHAT [EXTRA-WINDOW]: no two write windows in shared_dir overlap
	{ windows; [ -z "${2:-}" ] || echo "$2"; } | sort -n >"$T/windows"
	awk '$1 == "0" || $1 == "0.000000000" { exit 2 }' "$T/windows" ||
		skip "the file system has no birth times (statx btime)"
	awk 'NR > 1 && $1 < end { printf "%s overlaps %s\n", $3, name; bad = 1 }
	     { if ($2 > end) { end = $2; name = $3 } } END { exit bad }' "$T/windows" ||
		fail "$1: two runs wrote in shared_dir at once: $(cat "$T/windows")"
	pass "$1: $(wc -l <"$T/windows") write windows in shared_dir, none overlapping"
}
version_of_backup() { # DIR: v1, v2 or "mixed"
	(cd "$1" && sha256sum "${FW[@]}") | awk 'NR == FNR { v[$1] = $3; next }
		{ seen[v[$1] ? v[$1] : "unknown"] = 1 }
		END { n = 0; for (k in seen) { n++; out = k } print n == 1 ? out : "mixed" }' "$T/valid" -
}
lock_free() {
	[ ! -e "$SH/.netroot-firmware.lock" ] || fail "$1: lock left behind: $(cat "$SH/.netroot-firmware.lock")"
	! ls -A "$SH" | grep -Eq '^\.netroot-firmware\.lock\.stale|\.tmp$|\.netroot-restore' ||
		fail "$1: leftovers in shared_dir: $(ls -A "$SH")"
	pass "$1: lock free, nothing left aside"
}

# --- 1. four upgrades at once ---
watch_start
t0=$(date +%s%N)
pids=()
for s in "${SERIALS[@]}"; do
	upgrade_bg "$s" "r1-$s" --lock-wait 60
	pids+=("$BG")
done
for p in "${pids[@]}"; do wait "$p"; done
t1=$(date +%s%N)
watch_check "round 1"
for s in "${SERIALS[@]}"; do
	rc=$(cat "$T/r1-$s.rc")
	[ "$rc" = 0 ] || fail "round 1: $s: exit $rc: $(cat "$T/r1-$s.out" "$T/r1-$s.err")"
	grep -q "sha256 matches" "$T/r1-$s.err" || fail "round 1: $s: no TFTP verification"
	[ "$(sha256sum <"$SH/$s/initrd.img-$KV" | cut -c1-64)" = "$VARIANT_SHA" ] ||
		fail "round 1: $s: new initrd not in place"
	(cd "$SH/$s" && sha256sum -c --quiet "$T/$s.perpi") || fail "round 1: $s: a per-Pi file changed"
	cmp -s "$SH/$s/.netroot/gen-1/boot/initrd.img-$KV" "$CH/boot/initrd.img-$KV" ||
		fail "round 1: $s: generation 1 lacks the old initrd"
done
pass "round 1: 4 concurrent upgrades exit 0, TFTP-verified, per-Pi files as expected (sha256)"
echo "  measured: 4 upgrades took $(((t1 - t0) / 1000000)) ms together; lock waits:" \
	"$(for s in "${SERIALS[@]}"; do sed -n 's/.*lock taken after \([0-9.]*\) s/\1/p' "$T/r1-$s.err"; done | tr '\n' ' ')s;" \
	"held: $(for s in "${SERIALS[@]}"; do sed -n 's/.*lock released after \([0-9.]*\) s/\1/p' "$T/r1-$s.err"; done | tr '\n' ' ')s"
[ "$(cat "$T"/r1-*.err | grep -c 'lock taken after')" = 4 ] ||
	fail "round 1: not every run reports its lock wait"
no_overlap "round 1"
for b in "$SH"/.netroot-backup/*/; do
	[ "$(version_of_backup "$b")" = v1 ] || fail "round 1: backup $b is not firmware v1"
	(cd "$b" && sha256sum -c --quiet SHA256SUMS) || fail "round 1: $b does not match its manifest"
done
pass "round 1: every backup is the whole v1 set and matches its manifest"
lock_free "round 1"
ls "$SH"/*/*.netroot-new "$SH"/*/.netroot/transaction 2>/dev/null && fail "round 1: leftovers"

# --- 2. a firmware writer among upgrades ---
# The admin installs firmware v2 (by rename, as every writer must). Then Pi 1 restores v1 from
# its generation-1 backup (rollback --firmware: replaces the live files, under the lock) while
# Pis 2-4 upgrade again (each backs up the live set, under the lock). A backup taken while the
# restore was half done would hold both versions.
for f in "${FW[@]}"; do cp -p "$T/v2/$f" "$SH/.$f.new" && mv -f "$SH/.$f.new" "$SH/$f"; done
watch_start
pids=()
(
	pi "${SERIALS[0]}" rollback --to 1 --firmware >"$T/rb.out" 2>"$T/rb.err"
	echo $? >"$T/rb.rc"
) &
pids+=($!)
track_pid $!
# Staggered, so that (on this machine) backups fall both before and after the restore, which
# reaches the lock ~1.5 s in (it checks the restored initrd first); which way each goes is not
# asserted, only that none is mixed.
for s in "${SERIALS[@]:1}"; do
	upgrade_bg "$s" "r2-$s" --lock-wait 60
	pids+=("$BG")
	sleep 0.6
done
for p in "${pids[@]}"; do wait "$p"; done
watch_check "round 2"
[ "$(cat "$T/rb.rc")" = 0 ] || fail "round 2: rollback --firmware: exit $(cat "$T/rb.rc"): $(cat "$T/rb.out" "$T/rb.err")"
assert_contains "$(cat "$T/rb.out")" "shared firmware restored" "round 2: Pi 1 restored firmware v1"
for s in "${SERIALS[@]:1}"; do
	rc=$(cat "$T/r2-$s.rc")
	[ "$rc" = 0 ] || fail "round 2: $s: exit $rc: $(cat "$T/r2-$s.out" "$T/r2-$s.err")"
done
pass "round 2: 3 upgrades exit 0 alongside the restore"
for f in "${FW[@]}"; do cmp -s "$SH/$f" "$T/v1/$f" || fail "round 2: $f is not v1 after the restore"; done
pass "round 2: the live set is wholly v1 after the restore"
vers=""
for s in "${SERIALS[@]:1}"; do
	g=$(pi "$s" history --json | jq -r '.pending')
	b=$SH/$(sed -n 's/^shared_backup=//p' "$SH/$s/.netroot/gen-$g/record")
	v=$(version_of_backup "$b")
	case $v in v1 | v2) vers="$vers $s:$v" ;; *) fail "round 2: $s's backup $b is $v" ;; esac
done
pass "round 2: every backup taken during the restore is one whole version:$vers"
# The restore's own window: its staged copies' mtimes to the last rename (ctime) of a live file.
restore_window=$(for f in "${FW[@]}"; do stat -c '%.9Y %.9Z' "$SH/$f"; done |
	awk 'NR == 1 { a = $1; b = $2 } { if ($1 < a) a = $1; if ($2 > b) b = $2 } END { print a, b, "restore" }')
no_overlap "round 2" "$restore_window"
awk 'NR == 1 { t = $1 } { printf "  window %-40s +%.3f .. +%.3f s\n", $3, $1 - t, $2 - t }' "$T/windows"
lock_free "round 2"
cmp -s "$SH/${SERIALS[0]}/initrd.img-$KV" "$CH/boot/initrd.img-$KV" ||
	fail "round 2: Pi 1's rollback did not restore its initrd"
(cd "$SH/${SERIALS[0]}" && sha256sum -c --quiet "$T/${SERIALS[0]}.perpi") ||
	fail "round 2: Pi 1's per-Pi files after the rollback"
pass "round 2: Pi 1 back on its old initrd, per-Pi files intact"

# --- 3. a holder killed with SIGKILL while it holds the lock ---
S4=${SERIALS[3]}
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do cat "$T/v2/start_x.elf"; done >"$SH/start_db.elf" # ~47 MB: a long backup
victim=
for attempt in 1 2 3; do
	upgrade_bg "$S4" "kill" --lock-wait 60
	victim=$BG
	# kill the netrootctl the lock file names as soon as it is copying the firmware
	kpid=
	for _ in $(seq 2000); do
		if [ -s "$SH/.netroot-firmware.lock" ] &&
			find "$SH/.netroot-backup" -mindepth 2 -name start_db.elf | grep -q .; then
			kpid=$(sed -n 's/^pid=//p' "$SH/.netroot-firmware.lock")
			[ -n "$kpid" ] && break
		fi
		sleep 0.005
	done
	[ -n "$kpid" ] && kill -9 "$kpid" 2>/dev/null && break
	wait "$victim"
	kpid=
done
[ -n "$kpid" ] || fail "could not kill a holder while it held the lock"
wait "$victim"
assert_eq "$(cat "$T/kill.rc")" 137 "holder died by SIGKILL while holding the lock"
assert_file_contains "$SH/.netroot-firmware.lock" "pid=$kpid" "the dead holder's lock remains"
kill -0 "$kpid" 2>/dev/null && fail "pid $kpid still alive"
rm -f "$SH/start_db.elf"
# The dead holder's PID is on this very host, yet only the expiry counts: a Pi cannot check a
# PID on another Pi, and a PID check on one host would treat hosts unequally.
S3=${SERIALS[2]}
cfg_before=$(sha256sum <"$SH/$S3/config.txt")
t0=$(date +%s%N)
NETROOT_TEST_INITRD_FROM=$T/variant.img pi "$S3" upgrade --serial "$S3" --lock-wait 2 >"$T/o" 2>"$T/e"
rc=$?
t1=$(date +%s%N)
assert_eq "$rc" 1 "dead holder's unexpired lock: refused (exit 1)"
assert_contains "$(cat "$T/e")" "shared firmware locked by $S4@$(hostname) pid $kpid until" "names the dead holder"
assert_contains "$(cat "$T/e")" "waited 2 s" "says it waited"
echo "  measured: refused after $(((t1 - t0) / 1000000)) ms of a 2 s --lock-wait"
assert_eq "$(sha256sum <"$SH/$S3/config.txt")" "$cfg_before" "refused run changed nothing"
# Age the dead holder's lock as if its 600 s had nearly passed: same holder, expiry in 3 s. A
# lock ages by the NAS's clock, its mtime (the holder's last write), not by the lines in it.
exp=$(($(date +%s) + 3))
sed -i -e "s/^acquired=.*/acquired=$((exp - 600))/" -e "s/^expires=.*/expires=$exp/" \
	"$SH/.netroot-firmware.lock"
touch -d "@$((exp - 600))" "$SH/.netroot-firmware.lock"
takeover() { # TAG EXPIRES: an upgrade that must take the lock over at EXPIRES, not before
	local tag=$1 e=$2 t0 t1 taken
	t0=$(date +%s%N)
	NETROOT_TEST_INITRD_FROM=$T/variant.img pi "$S3" upgrade --serial "$S3" --lock-wait 20 \
		>"$T/$tag.out" 2>"$T/$tag.err"
	rc=$?
	t1=$(date +%s%N)
	[ "$rc" = 0 ] || fail "$tag: exit $rc: $(cat "$T/$tag.out" "$T/$tag.err")"
	g=$(pi "$S3" history --json | jq -r '.pending')
	b=$SH/$(sed -n 's/^shared_backup=//p' "$SH/$S3/.netroot/gen-$g/record")
	taken=$(stat -c %.9W "$b") # the backup folder is made right after the takeover
	awk -v t="$taken" -v e="$e" 'BEGIN { exit !(t >= e) }' ||
		fail "$tag: took the lock at $taken, before its expiry $e"
	awk -v t="$taken" -v e="$e" 'BEGIN { exit !(t < e + 2.5) }' ||
		fail "$tag: took the lock at $taken, long after its expiry $e"
	pass "$tag: taken over after the expiry, not before"
	echo "  measured: $tag: expiry $e, takeover at +$(awk -v t="$taken" -v e="$e" 'BEGIN { printf "%.2f", t - e }') s" \
		"after it; the run waited $(sed -n 's/.*lock taken after \([0-9.]*\) s/\1/p' "$T/$tag.err") s," \
		"took $(((t1 - t0) / 1000000)) ms in all"
}
takeover "SIGKILLed holder" "$exp"
lock_free "after the takeover"
# The killed holder was copying into a backup folder: the next holder clears what it left.
for b in "$SH"/.netroot-backup/* "$SH"/.netroot-backup/.[!.]*; do
	[ -e "$b" ] || continue
	[ -f "$b/SHA256SUMS" ] || fail "half-written backup left by the killed holder: $b: $(ls -la "$b")"
done
pass "no half-written backup folder left by the killed holder"
# The killed run's Pi: its next run rolls the interrupted transaction back first.
NETROOT_TEST_INITRD_FROM=$T/variant.img pi "$S4" upgrade --serial "$S4" --lock-wait 10 >"$T/o" 2>"$T/e" ||
	fail "the killed Pi's next upgrade: $(cat "$T/o" "$T/e")"
pass "the killed Pi's next upgrade recovers and succeeds"

# --- 4. a planted lock for a dead PID on another host, expiring in the future ---
sleep 30 &
dead=$!
kill -9 $dead
wait $dead 2>/dev/null
exp=$(($(date +%s) + 4))
printf 'serial=0ldp1000\nhost=pi-gone\npid=%s\nacquired=%s\nexpires=%s\n' "$dead" \
	$((exp - 600)) "$exp" >"$SH/.netroot-firmware.lock"
touch -d "@$((exp - 600))" "$SH/.netroot-firmware.lock"
NETROOT_TEST_INITRD_FROM=$T/variant.img pi "$S3" upgrade --serial "$S3" --lock-wait 0 >"$T/o" 2>"$T/e"
assert_eq "$?" 1 "planted lock, --lock-wait 0: refused"
assert_contains "$(cat "$T/e")" "shared firmware locked by 0ldp1000@pi-gone pid $dead until" "names the planted holder"
assert_contains "$(cat "$T/e")" "waited 0 s" "says it did not wait"
takeover "planted dead-PID lock" "$exp"
lock_free "the end"
echo "concurrent upgrade checks passed in $(($(date +%s) - t_start)) s"
