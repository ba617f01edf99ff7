#!/bin/bash
# One boot folder, many commands (issue "Trust", item 1): every command that changes the boot
# folder holds the boot lock (flock on RUN_DIR/boot.lock, never on the NFS folder) for its whole
# run; read-only commands change nothing, ever.
#   1. a loop of `history` and `status` (and `history --json`) beside 30 upgrades: all 30 finish
#      as they would alone (exit 0, config.txt names an initrd that exists, no journal left), and
#      the loop never touched the boot folder;
#   2. a second upgrade while one is running (the first SIGSTOPped holding the lock) is refused
#      naming the holder's command and pid, changes nothing; `history` then says "in progress",
#      not "interrupted", and leaves the journal; the first finishes once continued.
# Before the lock (old main): history "recovered" a running upgrade's journal: 30 of 30 sabotaged.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/chroot.sh"
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot"
on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
KV=$PI_KV
B=$CH/boot
ctl() { "$NETROOTCTL" --root "$CH" "$@"; }
# Two valid initrds with different bytes, alternated, so that every upgrade really switches.
cp "$B/initrd.img-$KV" "$T/a.img"
mkdir -p "$T/early/kernel"
(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$T/b.img"
cat "$T/a.img" >>"$T/b.img"
# Generations are whole copies: keep the store small while 30 upgrades pile up pending ones.
pi_sandbox_conf "$CH" keep 1

# --- 1. 30 upgrades beside a history/status loop ---
rm -f "$T/stop"
(
	n=0
	while [ ! -e "$T/stop" ]; do
		ctl history >/dev/null 2>&1
		ctl history --json >/dev/null 2>&1
		ctl status >/dev/null 2>&1
		n=$((n + 1))
	done
	echo "$n" >"$T/loops"
) &
LOOP=$!
track_pid "$LOOP"
t0=$(date +%s.%N)
for i in $(seq 1 30); do
	img=$T/a.img
	[ $((i % 2)) = 0 ] || img=$T/b.img
	NETROOT_TEST_INITRD_FROM=$img ctl upgrade >"$T/u.$i" 2>&1 || fail "upgrade $i of 30 failed beside the loop: $(tail -n 20 "$T/u.$i")"
	[ -e "$B/.netroot/transaction" ] && fail "upgrade $i left its journal"
	initrd=$(sed -n 's/^initramfs \([^ ]*\) .*/\1/p' "$B/config.txt" | tail -1)
	cmp -s "$B/$initrd" "$img" || fail "upgrade $i: config.txt names $initrd, which is not the new initrd"
	g=$(ctl history --json | jq -r .pending)
	[ "$g" != null ] || fail "upgrade $i: nothing pending"
done
touch "$T/stop"
wait "$LOOP"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
loops=$(cat "$T/loops")
[ "$loops" -ge 30 ] || fail "the read-only loop ran only $loops times beside the upgrades"
pass "30 of 30 upgrades done beside $loops rounds of history/history --json/status ($secs s)"
ctl check-initrd "/boot/$initrd" --kernel "$KV" >/dev/null || fail "the final initrd fails check-initrd"
pass "the final config.txt names $initrd, which passes check-initrd"

# --- 2. a second upgrade while the first holds the lock ---
NETROOT_TEST_INITRD_FROM=$T/a.img "$NETROOTCTL" --root "$CH" upgrade >"$T/first" 2>&1 &
FIRST=$!
track_pid "$FIRST"
# The first holds the lock once its pid is in the lock file; then it is stopped mid-run.
wait_for 20 grep -qx "pid=$FIRST" "$CH/run/netroot/boot.lock" || fail "the first upgrade never took the lock"
wait_for 20 test -e "$B/.netroot/transaction" || fail "the first upgrade never began its journal"
kill -STOP "$FIRST"
snap() { (cd "$B" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(snap)
NETROOT_TEST_INITRD_FROM=$T/b.img ctl upgrade --lock-wait 1 >"$T/second" 2>&1
assert_eq "$?" 1 "a second upgrade is refused (exit 1)"
assert_contains "$(cat "$T/second")" "netrootctl upgrade, pid $FIRST" "the refusal names the holder's command and pid"
assert_contains "$(cat "$T/second")" "nothing was changed" "the refusal says nothing was changed"
ctl history >"$T/h" 2>&1
assert_contains "$(cat "$T/h")" "in progress" "history: the running upgrade is in progress"
assert_not_contains "$(cat "$T/h")" "interrupted" "history: not interrupted"
ctl rollback >"$T/rb" 2>&1
assert_eq "$?" 1 "rollback while an upgrade runs: refused"
assert_contains "$(cat "$T/rb")" "pid $FIRST" "rollback's refusal names the holder"
[ "$(snap)" = "$before" ] || fail "the boot folder changed while the first upgrade was stopped"
pass "second upgrade, history and rollback changed nothing while the first held the lock"
kill -CONT "$FIRST"
wait "$FIRST"
assert_eq "$?" 0 "the first upgrade finishes once continued: $(tail -n 5 "$T/first")"
[ -e "$B/.netroot/transaction" ] && fail "journal left after the first upgrade"
cmp -s "$B/$(sed -n 's/^initramfs \([^ ]*\) .*/\1/p' "$B/config.txt" | tail -1)" "$T/a.img" ||
	fail "the first upgrade's initrd is not the one config.txt names"
pass "the first upgrade completed as it would alone"
echo "all boot lock checks passed"
