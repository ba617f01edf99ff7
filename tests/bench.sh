#!/bin/bash
# make bench: runs every tests/bench/*.sh; each prints its own table (figures, goals, verdicts).
# These are measurements, not tests: a missed goal is printed as such and does not fail the run.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
filter=${1:-}
for b in tests/bench/*.sh; do
	[ -f "$b" ] || continue
	[[ -z $filter || $b == *$filter* ]] || continue
	echo "### $(basename "$b" .sh)"
	bash "$b" || echo "(bench $(basename "$b") exited with $?)"
	echo
done
