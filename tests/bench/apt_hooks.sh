#!/bin/bash
# What the apt hooks cost an apt run that installs no kernel, boot firmware or initramfs-tools
# package: N runs of each hook, fed what apt feeds it, against `true` started the same way
# (apt runs each hook through `sh -c`). Goal: at most 50 ms added per apt run.
# Usage: tests/bench/apt_hooks.sh [N]   (default 50). Prints a table; exit 1 when over the goal.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-50}
PRE=$TOP/hooks/netroot-apt-pre
POST=$TOP/hooks/netroot-apt-post
GOAL_MS=50
[ ! -e /run/netroot/apt-kernel ] || {
	echo "apt_hooks: /run/netroot/apt-kernel exists (an apt run in progress?): not measuring" >&2
	exit 77
}
tmp=$(mktemp -d /tmp/netroot-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# An ordinary upgrade: 200 .deb paths, none of them ours to act on.
for i in $(seq 1 200); do
	echo "/var/cache/apt/archives/libexample$i-1.2.3_1.2.3-$i+deb12u1_amd64.deb"
done >"$tmp/debs"
: >"$tmp/empty"

ms_per_run() { # INPUT COMMAND: mean wall time of one `sh -c COMMAND <INPUT`, in ms
	local input=$1 cmd=$2 t0 t1
	t0=$(date +%s%N)
	for ((i = 0; i < N; i++)); do sh -c "$cmd" <"$input" >/dev/null; done
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / n / 1e6 }'
}

base_list=$(ms_per_run "$tmp/debs" true)
pre=$(ms_per_run "$tmp/debs" "$PRE")
base_none=$(ms_per_run "$tmp/empty" true)
post=$(ms_per_run "$tmp/empty" "test ! -x $POST || $POST")
printf '%-44s %10s %10s %10s\n' "hook (N=$N, unrelated apt run)" "ms/run" "true ms" "added ms"
printf '%-44s %10s %10s %10s\n' "netroot-apt-pre (200 unrelated .debs)" "$pre" "$base_list" \
	"$(awk -v a="$pre" -v b="$base_list" 'BEGIN { printf "%.2f", a - b }')"
printf '%-44s %10s %10s %10s\n' "netroot-apt-post (no marker)" "$post" "$base_none" \
	"$(awk -v a="$post" -v b="$base_none" 'BEGIN { printf "%.2f", a - b }')"
total=$(awk -v a="$pre" -v b="$base_list" -v c="$post" -v d="$base_none" 'BEGIN { printf "%.2f", a - b + c - d }')
printf '%-44s %32s\n' "both, per apt run (goal <= $GOAL_MS ms)" "$total"
awk -v t="$total" -v g="$GOAL_MS" 'BEGIN { exit !(t <= g) }'
