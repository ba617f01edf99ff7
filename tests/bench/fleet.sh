#!/bin/bash
# netrootctl fleet on a generated TFTP root of N Pi folders (default 200): each with the
# identity record, config.txt with an include, kernel and initramfs and three generations of a
# Pi that netrootctl itself set up (`hook apt-pre`, copied to every folder with its serial
# changed), one, the canary, with its own start.elf (FAKE firmware, 3 MB like a real one). Median wall time
# of RUNS (default 5) runs of the table and of --json, cache warm. Goal: <= 1 s for 200 folders.
# Then one in ten with its own start.elf (20 x 3 MB hashed and scanned for the version on every
# run: bound by sha256 throughput), reported without a goal.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/fake_firmware.sh
. "$TOP/tests/lib/fake_firmware.sh"

N=${N:-200}
RUNS=${RUNS:-5}
GOAL=1.0
[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
TFTP=$T/tftp R=$T/pi
mkdir -p "$TFTP/00000000" "$R/proc/device-tree" "$R/etc/netroot" "$R/run" "$R/srv"
fake_firmware "$TFTP" "$(fake_build v1)" "Aug 26 2022" bootcode.bin fixup.dat start.elf
fake_firmware "$T/v2" "$(fake_build v2)" "Mar 14 2023" fixup.dat start.elf
head -c 3000000 /dev/urandom >>"$T/v2/start.elf" # a real start.elf's size: hashed for each Pi
ln -s "$TFTP" "$R/srv/tftp"
printf 'Raspberry Pi 3 Model B Rev 1.2\0' >"$R/proc/device-tree/model"
printf 'Serial\t\t: 0000000000000000\n' >"$R/proc/cpuinfo"
echo benchpi >"$R/etc/hostname"
printf '[agent]\nboot_dir = /srv/tftp/00000000\n' >"$R/etc/netroot/agent.conf"
S=$TFTP/00000000
printf 'kernel=kernel8.img\ninclude netroot.txt\n' >"$S/config.txt"
printf '[all]\ninitramfs initrd.img-6.1.0-rpi7 followkernel\n' >"$S/netroot.txt"
echo "console=tty1 root=/dev/sda" >"$S/cmdline.txt"
head -c 8000 /dev/urandom >"$S/kernel8.img"
head -c 8000 /dev/urandom >"$S/initrd.img-6.1.0-rpi7"
for _ in 1 2 3; do
	"$NETROOTCTL" --root "$R" hook apt-pre >/dev/null 2>&1 || fail "hook apt-pre"
	rm -f "$R/run/netroot/apt-kernel"
done
[ -d "$S/.netroot/gen-3" ] || fail "no three generations"
for ((i = 1; i <= N; i++)); do
	s=$(printf '%08x' $((0x10000000 + i)))
	cp -a "$S" "$TFTP/$s"
	sed -i "s/^serial=.*/serial=$s/" "$TFTP/$s/.netroot/identity"
	[ "$i" != 1 ] || cp -p "$T/v2/"* "$TFTP/$s/" # the canary
done
rm -rf "$S"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
time_runs() { # ARGS...: median seconds of RUNS runs
	local i t0 t1
	"$NETROOTCTL" fleet --tftp-root "$TFTP" "$@" >/dev/null 2>&1 # warm the cache
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		"$NETROOTCTL" fleet --tftp-root "$TFTP" "$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000000))
	done | median | awk '{ printf "%.3f", $1 / 1000 }'
}
rows=$("$NETROOTCTL" fleet --tftp-root "$TFTP" --json 2>/dev/null | jq '.rows | length')
[ "$rows" = "$N" ] || fail "expected $N rows, got $rows"
table=$(time_runs)
json=$(time_runs --json)
printf '%-60s %8s %8s %8s\n' "netrootctl fleet ($N folders, 3 generations each)" "seconds" "goal" "verdict"
for m in "table, 1 canary:$table" "--json, 1 canary:$json"; do
	printf '%-60s %8s %8s %8s\n' "  ${m%%:*} (median of $RUNS)" "${m#*:}" "<= $GOAL" \
		"$(awk -v t="${m#*:}" -v g=$GOAL 'BEGIN { print (t <= g) ? "ok" : "MISSED" }')"
done
for ((i = 10; i <= N; i += 10)); do cp -p "$T/v2/"* "$TFTP/$(printf '%08x' $((0x10000000 + i)))/"; done
printf '%-60s %8s %8s %8s\n' "  table, 1 in 10 with its own 3 MB start.elf (median of $RUNS)" \
	"$(time_runs)" - -
echo "  (load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs)"
