#!/bin/bash
# The cluster firmware lock between "Pis" that are separate hosts: each contender runs in its own
# UTS and PID namespace (own host name, and PID 1 in every one of them, so PIDs collide as they
# do across real Pis). Checks: never two holders (strict enter/leave alternation over many
# rounds), a holder killed with SIGKILL blocks others until its expiry and not a moment longer
# (its PID means nothing on another host), and many hosts racing for one stale lock produce
# exactly one winner and leave nothing behind. (cluster_lock_takeover.sh: the same with NFS-like
# latency, overlap measured, and a holder stopped past its TTL.) A small driver links the library directly.
. "$(dirname "$0")/../lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (UTS and PID namespaces)"
command -v unshare >/dev/null || skip "unshare missing (util-linux)"
unshare --uts --pid --fork --kill-child true 2>/dev/null || skip "cannot create UTS/PID namespaces here"
[ -f "$BUILD/libnetroot.a" ] || fail "$BUILD/libnetroot.a not built (make)"

cat >"$T/lockdrv.c" <<'EOF'
/* lockdrv DIR SERIAL TTL WAIT HOLD_MS ROUNDS LOG: takes the lock ROUNDS times, writing
 * "enter HOST PID" and "leave HOST PID" to LOG around HOLD_MS of holding it.
 * HOLD_MS < 0: takes it once and holds it until killed. Exit 0 taken, 3 busy, 1 error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cluster_lock.h"

static void logline(const char *path, const char *what, const struct cluster_lock *l)
{
        char buf[160];
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
        int n = snprintf(buf, sizeof(buf), "%s %s %ld\n", what, l->me.host, l->me.pid);

        if (fd < 0 || write(fd, buf, (size_t)n) != n)
                exit(1);
        close(fd);
}

int main(int argc, char **argv)
{
        int hold, rounds;

        if (argc != 8)
                return 2;
        hold = atoi(argv[5]);
        rounds = atoi(argv[6]);
        for (int i = 0; i < rounds; i++) {
                struct cluster_lock l = {0};
                struct cluster_lock_holder h = {0};
                int r = cluster_lock_acquire(&l, argv[1], argv[2], (unsigned)atoi(argv[3]),
                                             (unsigned)atoi(argv[4]), &h);
                if (r == -EBUSY) {
                        printf("busy holder=%s host=%s pid=%ld expires=%lld\n", h.serial, h.host,
                               h.pid, (long long)h.expires);
                        return 3;
                }
                if (r < 0) {
                        printf("error %s\n", strerror(-r));
                        return 1;
                }
                printf("taken host=%s pid=%ld\n", l.me.host, l.me.pid);
                fflush(stdout);
                if (hold < 0)
                        for (;;)
                                pause();
                logline(argv[7], "enter", &l);
                usleep((useconds_t)hold * 1000);
                logline(argv[7], "leave", &l);
                r = cluster_lock_release(&l);
                if (r < 0) {
                        printf("release: %s\n", strerror(-r));
                        return 1;
                }
        }
        return 0;
}
EOF
san=
[ "${SANITIZE:-0}" = 1 ] && san="-fsanitize=address,undefined -fno-omit-frame-pointer"
# shellcheck disable=SC2086 # flag list
cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $san -I"$TOP/agent" -o "$T/lockdrv" \
	"$T/lockdrv.c" "$BUILD/libnetroot.a" || fail "driver does not compile"

SHARED=$T/tftproot
mkdir -p "$SHARED"

# on_host NAME CMD...: CMD as PID 1 of a fresh PID namespace with host name NAME
on_host() {
	local name=$1; shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare --uts --pid --fork --kill-child sh -c 'hostname "$1"; shift; exec "$@"' sh "$name" "$@"
}
# on_host_bg NAME CMD...: the same in the background, and $! is unshare itself: a SIGKILL to it
# takes the host's PID 1 down too (--kill-child). Before, `on_host ... &` made $! a subshell of
# this script; killing that orphaned unshare and its driver, which held the lock in pause()
# forever (11 pairs left running after every make check).
on_host_bg() {
	local name=$1; shift
	# shellcheck disable=SC2016
	unshare --uts --pid --fork --kill-child sh -c 'hostname "$1"; shift; exec "$@"' sh "$name" "$@" &
}
# PIDs of the drivers of this test still running
drivers_left() {
	find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$T/lockdrv*" -printf '%h\n' 2>/dev/null |
		sed 's|^/proc/||'
}
no_drivers_left() { [ -z "$(drivers_left)" ]; }

# --- 1. four hosts, all PID 1, five rounds each: never two holders ---
LOG=$T/log
pids=()
for i in 1 2 3 4; do
	on_host_bg "pi$i" "$T/lockdrv" "$SHARED" "0000000$i" 60 60 30 5 "$LOG" >"$T/host$i.out" 2>&1
	pids+=($!)
	track_pid $!
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" || fail "host pi$i: exit $?: $(cat "$T/host$i.out")"
done
[ "$(wc -l <"$LOG")" = 40 ] || fail "expected 40 log lines, got $(wc -l <"$LOG")"
awk 'NR % 2 == 1 { if ($1 != "enter") exit 1; who = $2 " " $3 }
     NR % 2 == 0 { if ($1 != "leave" || $2 " " $3 != who) exit 1 }' "$LOG" ||
	fail "two holders at once: $(cat "$LOG")"
pass "4 hosts x 5 rounds: strict enter/leave alternation"
assert_eq "$(awk '{ print $3 }' "$LOG" | sort -u)" 1 "every holder was PID 1 of its own host"
assert_eq "$(awk '$1 == "enter" { print $2 }' "$LOG" | sort | uniq -c | awk '{ print $1 }' | sort -u)" 5 \
	"each host held the lock 5 times"
[ ! -e "$SHARED/.netroot-firmware.lock" ] || fail "lock left behind"
pass "lock free at the end"

# --- 2. a holder dies without releasing: others wait for its expiry, not for its PID ---
on_host_bg pi-dead "$T/lockdrv" "$SHARED" deadbeef 3 0 -1 1 "$LOG" >"$T/dead.out" 2>&1
DEAD=$!
track_pid $DEAD
wait_for 5 grep -q taken "$T/dead.out" || fail "pi-dead did not take the lock: $(cat "$T/dead.out")"
t_taken=$(date +%s)
kill -9 "$DEAD"
wait "$DEAD" 2>/dev/null
wait_for 5 no_drivers_left || fail "the killed holder still runs: $(drivers_left)"
assert_file_contains "$SHARED/.netroot-firmware.lock" "host=pi-dead" "dead holder's lock remains"
assert_file_contains "$SHARED/.netroot-firmware.lock" "pid=1" "dead holder was PID 1"
# pi-live is PID 1 too, and PID 1 is alive there: a PID check would be wrong either way
on_host pi-live "$T/lockdrv" "$SHARED" cafe0001 60 0 0 1 "$LOG" >"$T/live.out" 2>&1
rc=$?
assert_eq "$rc" 3 "before expiry: -EBUSY"
assert_contains "$(cat "$T/live.out")" "busy holder=deadbeef host=pi-dead pid=1" "holder reported"
t0=$(date +%s%N)
on_host pi-live "$T/lockdrv" "$SHARED" cafe0001 60 10 0 1 "$LOG" >"$T/live.out" 2>&1 ||
	fail "after expiry: $(cat "$T/live.out")"
t1=$(date +%s%N)
waited=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
now=$(date +%s)
# the lock said expires=t_taken+3; "expires < now" first holds one second later
[ "$now" -ge $((t_taken + 4)) ] || fail "taken over at $now, before expiry $((t_taken + 3)) had passed"
pass "dead holder's lock taken over after expiry (waited ${waited}s of a 3 s TTL)"
echo "  measured: takeover of a SIGKILLed holder's 3 s lock after ${waited}s of waiting"
[ ! -e "$SHARED/.netroot-firmware.lock" ] || fail "lock left behind"
[ -z "$(find "$SHARED" -name '*.stale.*')" ] || fail "renamed-aside lock left behind"
pass "no stale file left"

# --- 3. eight hosts race for one stale lock, ten times: exactly one winner each time ---
for round in $(seq 10); do
	now=$(date +%s)
	printf 'serial=0badc0de\nhost=pi-gone\npid=1\nacquired=%s\nexpires=%s\n' \
		$((now - 700)) $((now - 100)) >"$SHARED/.netroot-firmware.lock"
	# the NAS last saw it written 700 s ago: its mtime is what ages a lock
	touch -d "@$((now - 700))" "$SHARED/.netroot-firmware.lock"
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		on_host_bg "race$i" "$T/lockdrv" "$SHARED" "race000$i" 60 0 -1 1 "$LOG" \
			>"$T/race$i.out" 2>&1
		pids+=($!)
		track_pid $!
	done
	# each contender either holds (and sleeps until killed) or has exited with "busy"
	wait_for 10 sh -c "[ \$(cat $T/race*.out | grep -c .) -ge 8 ]" ||
		fail "round $round: contenders did not finish: $(cat "$T"/race*.out)"
	winners=$(cat "$T"/race*.out | grep -c '^taken')
	busy=$(cat "$T"/race*.out | grep -c '^busy')
	if [ "$winners" != 1 ] || [ "$busy" != 7 ]; then
		fail "round $round: $winners winners, $busy busy: $(cat "$T"/race*.out)"
	fi
	winner=$(grep -l '^taken' "$T"/race*.out)
	winner=$(basename "$winner" .out)
	assert_file_contains "$SHARED/.netroot-firmware.lock" "host=$winner" "round $round: file names $winner" >/dev/null
	[ "$(find "$SHARED" -mindepth 1 | wc -l)" = 1 ] || fail "round $round: left: $(ls -A "$SHARED")"
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	wait_for 5 no_drivers_left || fail "round $round: the winner still runs: $(drivers_left)"
	rm -f "$T"/race*.out "$SHARED/.netroot-firmware.lock"
done
pass "10 rounds of 8 hosts racing for a stale lock: one winner each, nothing left aside"

# --- 4. a symlink planted at the lock path is refused, not followed ---
echo precious >"$T/victim"
ln -s "$T/victim" "$SHARED/.netroot-firmware.lock"
on_host pi1 "$T/lockdrv" "$SHARED" 00000001 60 0 0 1 "$LOG" >"$T/sym.out" 2>&1
assert_eq "$?" 1 "symlink at the lock path: error"
assert_contains "$(cat "$T/sym.out")" "Too many levels of symbolic links" "symlink: ELOOP"
assert_eq "$(cat "$T/victim")" precious "symlink target untouched"
no_drivers_left || fail "drivers left running: $(drivers_left)"
pass "no driver left running"
exit 0
