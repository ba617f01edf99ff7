#!/bin/bash
# netrootd's footprint: `size` of the program (text, data, bss) and the resident set of a running
# daemon (memory locked, as the service runs it; probe off, a sandbox Pi), beside the figures
# before the engine left the daemon (issue 13: text 236,892 B, bss 16,480 B, VmRSS 7.2 MiB).
# Goal: VmRSS <= 6 MiB. Figures, not a test: a missed goal is printed, not failed on.
. "$(dirname "$0")/../lib/common.sh"

BEFORE_TEXT=236892
BEFORE_BSS=16480
BEFORE_RSS_KB=7373 # 7.2 MiB
GOAL_RSS_KB=6144   # 6 MiB

[ -x "$NETROOTD" ] || { echo "footprint: $NETROOTD not built (make)" >&2; exit 1; }
command -v size >/dev/null || { echo "footprint: size missing (binutils)" >&2; exit 1; }
read -r text data bss _ < <(size "$NETROOTD" | awk 'NR == 2 {print $1, $2, $3}')

S=$T/root
make_sandbox "$S"
mlock=""
# A sanitizer build maps terabytes of shadow memory: never lock it.
[ "${SANITIZE:-0}" = 1 ] && mlock=--no-mlock
"$NETROOTD" --root "$S" --log-target stderr $mlock >"$T/netrootd.log" 2>&1 &
pid=$!
track_pid "$pid"
wait_for 10 test -s "$S/run/netroot/status.json" || {
	echo "footprint: netrootd did not start: $(cat "$T/netrootd.log")" >&2
	exit 1
}
sleep 2 # past start-up: the steady state
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
lck=$(awk '/^VmLck/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"
wait "$pid" 2>/dev/null

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.0f %%", (b - a) * 100 / a }'; }
printf '%-28s %12s %12s %8s\n' "netrootd" "before" "now" "change"
printf '%-28s %12s %12s %8s\n' "text (bytes, size)" "$BEFORE_TEXT" "$text" "$(pct "$BEFORE_TEXT" "$text")"
printf '%-28s %12s %12s %8s\n' "data (bytes, size)" "-" "$data" ""
printf '%-28s %12s %12s %8s\n' "bss (bytes, size)" "$BEFORE_BSS" "$bss" "$(pct "$BEFORE_BSS" "$bss")"
printf '%-28s %12s %12s %8s\n' "VmRSS (kB, running)" "$BEFORE_RSS_KB" "$rss" "$(pct "$BEFORE_RSS_KB" "$rss")"
printf '%-28s %12s %12s %8s\n' "VmLck (kB, running)" "-" "$lck" ""
if [ "$rss" -le "$GOAL_RSS_KB" ]; then
	echo "goal VmRSS <= $GOAL_RSS_KB kB (6 MiB): met"
else
	echo "goal VmRSS <= $GOAL_RSS_KB kB (6 MiB): MISSED by $((rss - GOAL_RSS_KB)) kB"
fi
