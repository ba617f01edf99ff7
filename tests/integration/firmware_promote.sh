#!/bin/bash
# Firmware promotion by canary (netrootctl firmware status|promote|rollback|recover) on a
# generated TFTP root served by a real tftpd-hpa on 127.0.0.1. Pis: two boot the root's set
# (FAKE firmware v1, see tests/lib/fake_firmware.sh), the canary 511e57f7 boots its own set v2
# and has a generation confirmed good after that set was put there (made by `netrootctl hook
# apt-pre` itself, as that Pi), 1a2b3c04 boots its own v3 but its boot was never confirmed.
# Checked: status (versions, which Pi boots which, skew, pairs; --json); promotion from the
# unconfirmed Pi refused; a mismatched start/fixup pair anywhere refuses it; the promotion:
# root set = the canary's (sha256 of every file), the old set backed up, every file fetched
# back over TFTP matches (also with curl); the promotion SIGKILLed after each of its mutating
# calls (LD_PRELOAD kill_after_shim, a test tool): the next run leaves one whole set; firmware
# rollback puts v1 back.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/tftp.sh
. "$TOP/tests/lib/tftp.sh"
# shellcheck source=../lib/fake_firmware.sh
. "$TOP/tests/lib/fake_firmware.sh"

[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
why=$(tftp_check) || skip "$why"
for tool in cc curl jq sha256sum; do command -v $tool >/dev/null || fail "$tool missing (make deps)"; done
t_start=$(date +%s%N)

R=$T/root
TFTP=$R/srv/tftp
CANARY=511e57f7
FW=(bootcode.bin fixup.dat fixup_x.dat start.elf start_x.elf)
mkdir -p "$TFTP"
fake_firmware "$T/v1" "$(fake_build v1)" "Aug 26 2022" "${FW[@]}"
fake_firmware "$T/v2" "$(fake_build v2)" "Mar 14 2023" "${FW[@]}"
fake_firmware "$T/v3" "$(fake_build v3)" "Jan 02 2024" "${FW[@]}"
for v in v1 v2 v3; do (cd "$T/$v" && sha256sum "${FW[@]}") | awk -v v=$v '{ print $1, $2, v }'; done \
	>"$T/valid"
cp -p "$T/v1/"* "$TFTP/"
mkdir -p "$TFTP/0b615590" "$TFTP/22bba2d2" "$TFTP/$CANARY" "$TFTP/1a2b3c04" "$TFTP/overlays"
cp -p "$T/v2/"* "$TFTP/$CANARY/"
cp -p "$T/v3/"* "$TFTP/1a2b3c04/"
for s in 0b615590 22bba2d2 $CANARY 1a2b3c04; do printf 'kernel=kernel7.img\n' >"$TFTP/$s/config.txt"; done
chmod -R a+rX "$TFTP"

# The canary, as netrootctl sees it on that Pi: its identity as files, its boot folder in the
# TFTP root. `hook apt-pre` saves its boot folder as a generation with status good.
mkdir -p "$R/proc/device-tree" "$R/etc/netroot" "$R/run"
printf 'Raspberry Pi 3 Model B Rev 1.2\0' >"$R/proc/device-tree/model"
printf 'Hardware\t: BCM2835\nRevision\t: a02082\nSerial\t\t: 00000000%s\n' "$CANARY" >"$R/proc/cpuinfo"
printf '[agent]\nboot_dir = /srv/tftp/%s\n[upgrade]\nshared_dir = /srv/tftp\nverify_tftp = off\n' \
	"$CANARY" >"$R/etc/netroot/agent.conf"
echo "console=tty1 root=/dev/sda" >"$TFTP/$CANARY/cmdline.txt"
head -c 2000 /dev/urandom >"$TFTP/$CANARY/kernel7.img"
ctl() { "$NETROOTCTL" --root "$R" "$@"; }
sleep 0.05 # the record must be written after the firmware: distinct timestamps
ctl hook apt-pre >"$T/o" 2>&1 || fail "apt-pre: $(cat "$T/o")"
rm -f "$R/run/netroot/apt-kernel"
grep -q '^status=good' "$TFTP/$CANARY/.netroot/gen-1/record" || fail "no good generation 1"
pass "canary $CANARY: generation 1, status good, written by netrootctl hook apt-pre"

tftp_start "$TFTP" >/dev/null || fail "in.tftpd did not start"
KEEP_BACKUPS=$(ls "$TFTP/.netroot-backup")

version_of() { # DIR: v1, v2, v3 or "mixed: …"
	(cd "$1" && sha256sum "${FW[@]}" 2>&1) | awk 'NR == FNR { v[$1 " " $2] = $3; next }
		{ k = $1 " " $2; seen[k in v ? v[k] : "unknown:" $2] = 1 }
		END { n = 0; s = ""; for (x in seen) { n++; s = s " " x } print n == 1 ? substr(s, 2) : "mixed:" s }' \
		"$T/valid" -
}
clean_state() { # WHAT
	local left
	left=$(ls -A "$TFTP" | grep -E '^\.netroot-staged\.|^\.netroot-firmware\.(txn|lock)|\.tmp$|\.reset$' || true)
	[ -z "$left" ] || fail "$1: left in the TFTP root: $left"
	left=$(ls -A "$TFTP/.netroot-backup" | grep '^\.' || true)
	[ -z "$left" ] || fail "$1: partial backups left: $left"
}
reset_v1() { # the root set v1 again, only the first backups kept
	local f b
	for f in "${FW[@]}"; do cp -p "$T/v1/$f" "$TFTP/.$f.reset" && mv -f "$TFTP/.$f.reset" "$TFTP/$f"; done
	for b in "$TFTP"/.netroot-backup/*; do
		grep -qxF "$(basename "$b")" <<<"$KEEP_BACKUPS" || rm -rf "$b"
	done
}
age_lock() { # a dead run's lock once its TTL has passed, by every clock
	local l=$TFTP/.netroot-firmware.lock now
	[ -e "$l" ] || return 0
	now=$(date +%s)
	sed -i -e "s/^acquired=.*/acquired=$((now - 700))/" -e "s/^expires=.*/expires=$((now - 100))/" "$l"
	touch -d "@$((now - 700))" "$l"
}

# --- 1. status ---
ctl firmware status --tftp-root /srv/tftp >"$T/st" 2>&1
assert_eq "$?" 0 "status: exit 0 (skew alone is not a problem)"
ctl firmware status --json >"$T/st.json" 2>&1 || fail "status --json: $(cat "$T/st.json")"
v1b=$(fake_build v1)
v2b=$(fake_build v2)
assert_eq "$(jq -r .root.version "$T/st.json")" "$v1b" "root set: version read from start.elf's build string"
assert_eq "$(jq -r .root.bootcode.came_with_version "$T/st.json")" "$v1b" "bootcode.bin: the version of the set it came with"
assert_eq "$(jq -r '[.pis[].serial] | join(" ")' "$T/st.json")" "0b615590 1a2b3c04 22bba2d2 $CANARY" \
	"every serial folder, nothing else (overlays/ ignored)"
assert_eq "$(jq -r --arg v "$v1b" '.versions[] | select(.version == $v) | .pis | join(" ")' "$T/st.json")" \
	"0b615590 22bba2d2" "v1: the Pis that boot the root's set"
assert_eq "$(jq -r --arg v "$v2b" '.versions[] | select(.version == $v) | .pis | join(" ")' "$T/st.json")" \
	"$CANARY" "v2: the canary"
assert_eq "$(jq -r '[.pis[] | select(.skew) | .serial] | join(" ")' "$T/st.json")" "1a2b3c04 $CANARY" "skew flagged"
assert_eq "$(jq -r --arg s $CANARY '.pis[] | select(.serial == $s) | "\(.boots_from) \(.generation) \(.generation_status)"' "$T/st.json")" \
	"own 1 good" "canary: boots its own set, generation 1 good"
assert_eq "$(jq -r .mismatched "$T/st.json")" 0 "no mismatched pair"
assert_contains "$(cat "$T/st")" "SKEW" "text status names the skew"

# --- 2. refusals ---
before=$(version_of "$TFTP")
ctl firmware promote --from 1a2b3c04 --tftp "127.0.0.1:$TFTP_PORT" >"$T/o" 2>"$T/e"
assert_eq "$?" 1 "promote from a Pi whose boot was never confirmed: refused"
assert_contains "$(cat "$T/e")" "never confirmed" "says why"
mkdir -p "$TFTP/1a2b3c04/.netroot/gen-1"
sed 's/^status=good/status=pending/; s/^gen=.*/gen=1/' "$TFTP/$CANARY/.netroot/gen-1/record" \
	>"$TFTP/1a2b3c04/.netroot/gen-1/record"
ctl firmware promote --from 1a2b3c04 >"$T/o" 2>"$T/e"
assert_eq "$?" 1 "promote from a Pi whose newest generation is pending: refused"
assert_contains "$(cat "$T/e")" "is pending, not good" "says why"
# The canary's set changed after its confirmation: refused (ctime, whatever the mtime says).
cp -p "$TFTP/$CANARY/fixup_x.dat" "$T/fixup_x.keep"
cp -p "$T/fixup_x.keep" "$TFTP/$CANARY/.fx" && mv "$TFTP/$CANARY/.fx" "$TFTP/$CANARY/fixup_x.dat"
ctl firmware promote --from $CANARY >"$T/o" 2>"$T/e"
assert_eq "$?" 1 "a file of the canary's set replaced after the confirmation: refused"
assert_contains "$(cat "$T/e")" "changed after generation 1 was confirmed good" "says why"
# (confirm again: a new generation written after the change)
ctl hook apt-pre >"$T/o" 2>&1 || fail "apt-pre: $(cat "$T/o")"
rm -f "$R/run/netroot/apt-kernel"
KEEP_BACKUPS=$(ls "$TFTP/.netroot-backup")
# A mismatched pair in another Pi's folder refuses it too: v1's start.elf (the backups know it
# with v1's fixup.dat) beside v2's fixup.dat.
cp -p "$T/v2/fixup.dat" "$TFTP/0b615590/fixup.dat" && cp -p "$T/v1/start.elf" "$TFTP/0b615590/start.elf"
ctl firmware status --json >"$T/st.json"
assert_eq "$?" 1 "status: exit 1 with a mismatched pair"
ctl firmware promote --from $CANARY >"$T/o" 2>"$T/e"
assert_eq "$?" 1 "a mismatched start/fixup pair in 0b615590: refused"
assert_contains "$(cat "$T/e")" "mismatched start/fixup pair" "says why"
rm -f "$TFTP/0b615590/fixup.dat" "$TFTP/0b615590/start.elf"
[ "$(version_of "$TFTP")" = "$before" ] || fail "a refusal changed the root set"
pass "refusals changed nothing"

# --- 3. the promotion, verified over TFTP ---
t0=$(date +%s%N)
ctl firmware promote --from $CANARY --tftp "127.0.0.1:$TFTP_PORT" --verify-tftp required >"$T/o" 2>"$T/e" ||
	fail "promote: $(cat "$T/o" "$T/e")"
t1=$(date +%s%N)
assert_eq "$(version_of "$TFTP")" v2 "root set = the canary's v2 (sha256 of every file)"
assert_contains "$(cat "$T/o")" "5 files fetched back from TFTP server 127.0.0.1:$TFTP_PORT: sha256 matches" "fetched back over TFTP"
for f in "${FW[@]}"; do
	[ "$(curl -s "tftp://127.0.0.1:$TFTP_PORT/$f" | sha256sum | cut -c1-64)" = "$(sha256sum <"$T/v2/$f" | cut -c1-64)" ] ||
		fail "curl fetches another $f"
done
pass "curl fetches the canary's set from the TFTP server too"
b=$(sed -n 's/^  the previous set is in //p' "$T/o")
[ "$(version_of "$b")" = v1 ] || fail "backup $b is not v1"
pass "old root set backed up first ($(basename "$b"))"
clean_state "promote"
echo "  measured: promote with TFTP check took $(((t1 - t0) / 1000000)) ms"
ctl firmware status --json >"$T/st.json"
assert_eq "$(jq -r '[.pis[] | select(.skew) | .serial] | join(" ")' "$T/st.json")" "1a2b3c04" "the canary is no longer skewed"

# --- 4. firmware rollback ---
ctl firmware rollback --tftp "127.0.0.1:$TFTP_PORT" >"$T/o" 2>"$T/e" || fail "rollback: $(cat "$T/o" "$T/e")"
assert_eq "$(version_of "$TFTP")" v1 "firmware rollback: v1 back"
assert_contains "$(cat "$T/o")" "sha256 matches" "rollback fetched back over TFTP"
clean_state "rollback"

# --- 5. the promotion SIGKILLed after each of its mutating calls ---
. "$TOP/tests/lib/kill_after.sh"
kill_after_build "$T" || fail "kill_after_shim does not compile"
# Under SANITIZE=1 the ASan runtime must come first in the preload list; calls still reach the
# shim (ASan's interceptors pass them on to the next definition).
n=0
points=0
old_after=0
new_after=0
t0=$(date +%s%N)
while :; do
	n=$((n + 1))
	[ "$n" -le 400 ] || fail "the promotion did not complete within 400 kill points"
	reset_v1
	KILL_AT=$n LD_PRELOAD=$KILL_PRELOAD ctl firmware promote --from $CANARY >"$T/out" 2>&1
	rc=$?
	if [ "$rc" != 137 ]; then
		[ "$rc" = 0 ] || fail "uninterrupted promote: exit $rc: $(cat "$T/out")"
		[ "$(version_of "$TFTP")" = v2 ] || fail "completed promote left $(version_of "$TFTP")"
		clean_state "completed promote"
		break
	fi
	points=$n
	age_lock
	if [ $((n % 2)) = 0 ]; then
		how="firmware recover"
		ctl firmware recover >"$T/rec" 2>&1 || fail "kill point $n: recover: $(cat "$T/rec")"
	else
		how="the next promote"
		ctl firmware promote --from $CANARY >"$T/rec" 2>&1 || fail "kill point $n: next promote: $(cat "$T/rec")"
	fi
	v=$(version_of "$TFTP")
	case $v in
	v1) old_after=$((old_after + 1)) ;;
	v2) new_after=$((new_after + 1)) ;;
	*) fail "kill point $n, then $how: the root set is $v" ;;
	esac
	clean_state "kill point $n, then $how"
	[ -e "$TFTP/.netroot-firmware.lock" ] && fail "kill point $n: lock left"
done
t1=$(date +%s%N)
pass "promote killed at each of its $points mutating calls: every next run left one whole set ($old_after times the old, $new_after times the new), nothing left over"
echo "  measured: $points kill points in $(((t1 - t0) / 1000000)) ms"
echo "firmware promotion checks passed in $((($(date +%s%N) - t_start) / 1000000)) ms"
exit 0
