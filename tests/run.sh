#!/bin/bash
# Runs the unit tests (cmocka binaries) and the integration tests (tests/integration/*.sh) and
# ends with one line "N passed, N failed, N skipped". A skipped test is never counted as passed.
# Usage: tests/run.sh [unit|integration] [NAME-FILTER]
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD SANITIZE=${SANITIZE:-0}
kind=${1:-all}
filter=${2:-}
passed=0 failed=0 skipped=0
failed_names=()
logdir=$(mktemp -d /tmp/netroot-tests.XXXXXX)

run_one() {
	local name=$1; shift
	local log="$logdir/${name//\//_}.log" start end rc
	start=$(date +%s.%N)
	"$@" >"$log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	local secs
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
	case $rc in
	0) passed=$((passed + 1)); printf 'PASS  %-48s %6ss\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1)); printf 'SKIP  %-48s %6ss  (%s)\n' "$name" "$secs" \
		"$(grep -m1 '^SKIP:' "$log" | cut -c7- || true)" ;;
	*) failed=$((failed + 1)); failed_names+=("$name")
	   printf 'FAIL  %-48s %6ss  (exit %d)\n' "$name" "$secs" "$rc"
	   sed 's/^/    | /' "$log" | tail -n 60 ;;
	esac
}

if [ "$kind" = all ] || [ "$kind" = unit ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		n=unit/$(basename "$t")
		[[ -z $filter || $n == *$filter* ]] || continue
		if [ "${VALGRIND:-0}" = 1 ]; then
			run_one "$n" valgrind -q --error-exitcode=99 --leak-check=full "$t"
		else
			run_one "$n" "$t"
		fi
	done
fi
if [ "$kind" = all ] || [ "$kind" = integration ]; then
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		n=integration/$(basename "$t" .sh)
		[[ -z $filter || $n == *$filter* ]] || continue
		run_one "$n" bash "$t"
	done
fi
echo "logs: $logdir"
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
