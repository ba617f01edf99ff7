#!/bin/bash
# Crash safety of `netrootctl rollback --firmware` (the shared firmware set put back from a
# generation's backup). A test tool, kill_after_shim.so (LD_PRELOAD), counts every call that
# changes the file system (write to a file, rename, link, unlink, mkdir, fsync) and SIGKILLs
# the process right after call number KILL_AT; the test runs the rollback with KILL_AT = 1, 2, …
# until a run completes, so every such call is a kill point. After each kill the lock the dead
# run held is aged past its TTL (as the NAS's clock would), and the next run, in turn
# `netrootctl hook apt-pre` (the next upgrade's backup step), `netrootctl firmware recover` and
# the next `rollback --firmware`, must leave: every firmware file one version and all files the
# same version (sha256: all old or all new, never a mix), no staged or temp file, no journal,
# no lock, no partial backup; a backup it takes is one whole version too. Then the named kill
# points of the test hook NETROOT_FAULT_FIRMWARE (test builds only) the same way.
# The Pi is a sandbox tree (netrootctl --root): its identity as files, its folder in a TFTP root;
# generation 1 with the firmware backup is made by `netrootctl hook apt-pre` itself.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/fake_firmware.sh
. "$TOP/tests/lib/fake_firmware.sh"

[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
for tool in cc sha256sum; do command -v $tool >/dev/null || fail "$tool missing (make deps)"; done
t_start=$(date +%s%N)

. "$TOP/tests/lib/kill_after.sh"
kill_after_build "$T" || fail "kill_after_shim does not compile"

# --- the sandbox Pi and its TFTP root ---
R=$T/root
S=511e57f7
TFTP=$R/srv/tftp
PI=$TFTP/$S
FW=(bootcode.bin fixup.dat fixup_x.dat start.elf start_x.elf)
mkdir -p "$R/proc/device-tree" "$R/etc/netroot" "$R/run" "$PI"
printf 'Raspberry Pi 3 Model B Rev 1.2\0' >"$R/proc/device-tree/model"
printf 'processor\t: 0\nHardware\t: BCM2835\nRevision\t: a02082\nSerial\t\t: 00000000%s\n' "$S" \
	>"$R/proc/cpuinfo"
cat >"$R/etc/netroot/agent.conf" <<CONF
[agent]
boot_dir = /srv/tftp/$S
[upgrade]
shared_dir = /srv/tftp
verify_tftp = off
CONF
printf 'kernel=kernel7.img\n' >"$PI/config.txt"
echo "console=tty1 root=/dev/sda rootwait" >"$PI/cmdline.txt"
head -c 4000 /dev/urandom >"$PI/kernel7.img"
fake_firmware "$T/v1" "$(fake_build v1)" "Aug 26 2022" "${FW[@]}"
fake_firmware "$T/v2" "$(fake_build v2)" "Mar 14 2023" "${FW[@]}"
for v in v1 v2; do (cd "$T/$v" && sha256sum "${FW[@]}") | awk -v v=$v '{ print $1, $2, v }'; done \
	>"$T/valid"
cp -p "$T/v1/"* "$TFTP/"
ctl() { "$NETROOTCTL" --root "$R" "$@"; }
# The rollback as the NAS runs it (--boot-dir): this sandbox is no iSCSI-root Pi, so whether the
# Pi boots the result (kernel modules, live iSCSI login) is not judged here; the firmware set is.
nas_rollback() { ctl rollback --to 1 --firmware --boot-dir "/srv/tftp/$S"; }
ctl hook apt-pre >"$T/o" 2>&1 || fail "apt-pre: $(cat "$T/o")"
rm -f "$R/run/netroot/apt-kernel"
GEN1_BACKUP=$(sed -n 's/^shared_backup=//p' "$PI/.netroot/gen-1/record")
[ -f "$TFTP/$GEN1_BACKUP/SHA256SUMS" ] || fail "generation 1 has no firmware backup"
pass "generation 1 made by netrootctl hook apt-pre, firmware v1 backed up in $GEN1_BACKUP"

version_of() { # DIR: v1, v2, or "mixed: …"
	(cd "$1" && sha256sum "${FW[@]}" 2>&1) | awk 'NR == FNR { v[$1 " " $2] = $3; next }
		{ k = $1 " " $2; seen[k in v ? v[k] : "unknown:" $2] = 1 }
		END { n = 0; s = ""; for (x in seen) { n++; s = s " " x } print n == 1 ? substr(s, 2) : "mixed:" s }' \
		"$T/valid" -
}
reset_v2() { # the live set v2 (installed by rename, as a writer must), only gen 1's backup kept
	local f b
	for f in "${FW[@]}"; do cp -p "$T/v2/$f" "$TFTP/.$f.reset" && mv -f "$TFTP/.$f.reset" "$TFTP/$f"; done
	for b in "$TFTP"/.netroot-backup/*; do
		[ "$b" = "$TFTP/$GEN1_BACKUP" ] || rm -rf "$b"
	done
}
clean_state() { # WHAT: nothing left over in the TFTP root
	local left
	left=$(ls -A "$TFTP" | grep -E '^\.netroot-staged\.|^\.netroot-firmware\.(txn|lock)|\.tmp$|\.reset$' || true)
	[ -z "$left" ] || fail "$1: left in the TFTP root: $left"
	left=$(ls -A "$TFTP/.netroot-backup" | grep '^\.' || true)
	[ -z "$left" ] || fail "$1: partial backups left: $left"
}
age_lock() { # a dead run's lock as it is once its 600 s TTL has passed, by every clock
	local l=$TFTP/.netroot-firmware.lock now
	[ -e "$l" ] || return 0
	now=$(date +%s)
	sed -i -e "s/^acquired=.*/acquired=$((now - 700))/" -e "s/^expires=.*/expires=$((now - 100))/" "$l"
	touch -d "@$((now - 700))" "$l"
}
recovery_run() { # I: the next run, in turn: the backup step, firmware recover, the next rollback
	case $(($1 % 3)) in
	0)
		rm -f "$R/run/netroot/apt-kernel"
		ctl hook apt-pre >"$T/rec.out" 2>&1 || return 1
		grep -q WARNING "$T/rec.out" && return 1
		NEWEST_BACKUP=$(ls -d "$TFTP"/.netroot-backup/* | sort | tail -n 1)
		echo apt-pre
		;;
	1) ctl firmware recover >"$T/rec.out" 2>&1 || return 1; echo recover ;;
	2) nas_rollback >"$T/rec.out" 2>&1 || return 1; echo rollback ;;
	esac
}

# --- 1. every mutating call of rollback --firmware is a kill point ---
n=0
points=0
old_after=0
new_after=0
while :; do
	n=$((n + 1))
	[ "$n" -le 400 ] || fail "the rollback did not complete within 400 kill points"
	reset_v2
	rm -f "$TFTP/.netroot-firmware.lock"
	KILL_AT=$n LD_PRELOAD=$KILL_PRELOAD nas_rollback >"$T/out" 2>&1
	rc=$?
	if [ "$rc" != 137 ]; then
		[ "$rc" = 0 ] || fail "uninterrupted rollback: exit $rc: $(cat "$T/out")"
		[ "$(version_of "$TFTP")" = v1 ] || fail "completed rollback left $(version_of "$TFTP")"
		clean_state "completed rollback"
		break
	fi
	points=$n
	age_lock
	NEWEST_BACKUP=
	how=$(recovery_run "$n") || fail "kill point $n: the next run failed: $(cat "$T/rec.out")"
	v=$(version_of "$TFTP")
	case $v in
	v1) new_after=$((new_after + 1)) ;;
	v2) old_after=$((old_after + 1)) ;;
	*) fail "kill point $n, then $how: the live set is $v" ;;
	esac
	clean_state "kill point $n, then $how"
	if [ -n "$NEWEST_BACKUP" ]; then
		bv=$(version_of "$NEWEST_BACKUP")
		case $bv in v1 | v2) ;; *) fail "kill point $n: the backup step backed up $bv" ;; esac
	fi
	[ -e "$TFTP/.netroot-firmware.lock" ] && fail "kill point $n, then $how: lock left: $(cat "$TFTP/.netroot-firmware.lock")"
done
pass "rollback --firmware killed at each of its $points mutating calls: every next run left one whole set ($old_after times the old, $new_after times the new), no temp file, no journal, no lock"
echo "  measured: $points kill points covered"

# --- 2. the named kill points of the test hook ---
named=0
for point in staged journal rename-1 rename-2 rename-3 rename-4 rename-5 switched; do
	reset_v2
	NETROOT_FAULT_FIRMWARE=$point nas_rollback >"$T/out" 2>&1
	rc=$?
	[ "$rc" = 137 ] || fail "NETROOT_FAULT_FIRMWARE=$point: expected death by SIGKILL, got $rc: $(cat "$T/out")"
	[ -e "$TFTP/.netroot-firmware.txn" ] && [ "$point" = staged ] && fail "journal before the staging ended"
	age_lock
	ctl firmware status >"$T/st" 2>&1
	case $point in
	staged) ;;
	*) grep -q "PENDING: an interrupted restore" "$T/st" || fail "$point: status does not show the pending switch: $(cat "$T/st")" ;;
	esac
	ctl firmware recover >"$T/rec.out" 2>&1 || fail "$point: recover: $(cat "$T/rec.out")"
	want=v1
	[ "$point" = staged ] && want=v2
	[ "$(version_of "$TFTP")" = $want ] || fail "$point: after recover: $(version_of "$TFTP"), expected $want"
	clean_state "$point"
	named=$((named + 1))
done
pass "$named named kill points (NETROOT_FAULT_FIRMWARE): finished from the journal, or nothing switched before it"
echo "firmware crash checks passed in $((($(date +%s%N) - t_start) / 1000000)) ms"
exit 0
