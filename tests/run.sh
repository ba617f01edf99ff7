#!/bin/bash
# Runs the unit tests (cmocka binaries) and the integration tests (tests/integration/*.sh) and
# ends with one line "N passed, N failed, N skipped". A skipped test is never counted as passed.
# Usage: tests/run.sh [unit|integration] [NAME-FILTER]
# Tests run NETROOT_TEST_JOBS at a time (default: the number of CPUs; 1 runs them one after
# another). They are written to be parallel-safe (own namespaces, ports, temp dirs). On two
# cores the gain is small (CI: 1538 s -> 1404 s): the CPU-bound ones set the pace. The longest
# start first, so the last one to finish is a short one.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
export BUILD SANITIZE=${SANITIZE:-0}
kind=${1:-all}
filter=${2:-}
jobs=${NETROOT_TEST_JOBS:-$(nproc)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "NETROOT_TEST_JOBS=$jobs: not a number of jobs" >&2; exit 2; }
logdir=$(mktemp -d /tmp/netroot-tests.XXXXXX)
# The ones over a minute go first (measured one at a time in CI). The CPU-bound ones (mkinitramfs,
# dpkg, ASan replays) run one at a time beside the others: two of them together took 2.2 times
# as long each (check_initrd 476 s instead of 213 s), as mkinitramfs forks a process per module.
first="integration/apt_kernel integration/check_initrd integration/upgrade integration/fuzz_regress
integration/boot_lock integration/upgrade_crash integration/fleet_ansible integration/package"
cpu_bound=" integration/apt_kernel integration/check_initrd integration/upgrade integration/fuzz_regress
integration/upgrade_crash integration/package "

# One test: its log, then one result line "STATUS NAME SECONDS EXIT" in its .result file.
run_one() {
	local name=$1; shift
	local base="$logdir/${name//\//_}" start end rc secs status
	start=$(date +%s.%N)
	"$@" >"$base.log" 2>&1 </dev/null
	rc=$?
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
	case $rc in
	0) status=PASS ;;
	77) status=SKIP ;;
	*) status=FAIL ;;
	esac
	echo "$status $name $secs $rc" >"$base.result"
}


declare -A cmd_of=()
names=()
add() {
	local name=$1; shift
	[[ -z $filter || $name == *$filter* ]] || return 0
	names+=("$name")
	cmd_of[$name]=$(printf '%q ' "$@")
}
if [ "$kind" = all ] || [ "$kind" = unit ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		if [ "${VALGRIND:-0}" = 1 ]; then
			add "unit/$(basename "$t")" valgrind -q --error-exitcode=99 --leak-check=full "$t"
		else
			add "unit/$(basename "$t")" "$t"
		fi
	done
fi
if [ "$kind" = all ] || [ "$kind" = integration ]; then
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		add "integration/$(basename "$t" .sh)" bash "$t"
	done
fi

# The order: the long ones first, then the rest as listed.
order=()
for n in $first; do
	[ -n "${cmd_of[$n]+x}" ] && order+=("$n")
done
for n in "${names[@]}"; do
	case " $first " in *[[:space:]]"$n"[[:space:]]*) ;; *) order+=("$n") ;; esac
done

# Each test in a process group of its own (job control), so an interrupted run stops the whole
# test, not just its runner; the tests' own traps clean up what they started.
set -m
declare -A pid_of=()
stop_all() {
	local p
	for p in "${pid_of[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
	wait
}
trap 'stop_all; exit 130' INT TERM

passed=0 failed=0 skipped=0
failed_names=()
collect() { # NAME: its result counted and printed
	local name=$1 base="$logdir/${1//\//_}" status secs rc
	read -r status _ secs rc <"$base.result" || status=FAIL
	case $status in
	PASS) passed=$((passed + 1))
	   printf 'PASS  %-48s %6ss\n' "$name" "$secs" ;;
	SKIP) skipped=$((skipped + 1))
	   printf 'SKIP  %-48s %6ss  (%s)\n' "$name" "$secs" \
		"$(grep -m1 '^SKIP:' "$base.log" | cut -c7- || true)" ;;
	*) failed=$((failed + 1)); failed_names+=("$name")
	   printf 'FAIL  %-48s %6ss  (exit %d)\n' "$name" "$secs" "${rc:-99}"
	   sed 's/^/    | /' "$base.log" | tail -n 60 ;;
	esac
}
reap() { # waits for any one test to end
	local n
	wait -n 2>/dev/null
	for n in "${!pid_of[@]}"; do
		if ! kill -0 "${pid_of[$n]}" 2>/dev/null; then
			wait "${pid_of[$n]}" 2>/dev/null
			unset "pid_of[$n]"
			[ -e "$logdir/${n//\//_}.result" ] || echo "FAIL $n 0 99" >"$logdir/${n//\//_}.result"
			collect "$n"
		fi
	done
}
is_cpu_bound() { [[ $cpu_bound == *[[:space:]]"$1"[[:space:]]* ]]; }
cpu_bound_running() {
	local n
	for n in "${!pid_of[@]}"; do is_cpu_bound "$n" && return 0; done
	return 1
}
# The next test to start: the first in ORDER, unless it is CPU-bound while another CPU-bound one
# runs; then the first that is not. Prints nothing when none may start now.
next_test() {
	local i busy=0
	cpu_bound_running && busy=1
	for i in "${!order[@]}"; do
		if [ "$busy" = 0 ] || ! is_cpu_bound "${order[$i]}"; then
			echo "$i"
			return
		fi
	done
}
while [ "${#order[@]}" -gt 0 ]; do
	while [ "${#pid_of[@]}" -ge "$jobs" ]; do reap; done
	i=$(next_test)
	if [ -z "$i" ]; then
		reap
		continue
	fi
	n=${order[$i]}
	unset "order[$i]"
	order=("${order[@]}")
	eval "run_one \"\$n\" ${cmd_of[$n]}" &
	pid_of[$n]=$!
done
while [ "${#pid_of[@]}" -gt 0 ]; do reap; done

echo "logs: $logdir"
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "tests run $jobs at a time (NETROOT_TEST_JOBS)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
