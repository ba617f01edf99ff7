#!/bin/bash
# libFuzzer harnesses for every parser of outside input (tests/fuzz/fuzz_<name>.c), with ASan and
# UBSan. Builds them with clang into build-fuzz/ (never build/ or build-asan/), then either
#   tests/fuzz/run.sh [NAME...]            fuzzes each harness for $FUZZ_SECONDS (default 600),
#                                          one after the other, starting from its seed corpus
#   tests/fuzz/run.sh --regress [NAME...]  runs each harness once over every seed and regression
#                                          input (tests/fuzz/regressions/<name>/), no fuzzing
# and prints a table: harness, seconds, executions, corpus size, crashes. Exits 1 when any
# harness crashed (the input is kept under build-fuzz/crashes/<name>/), 2 when the build failed.
# The working corpus lives in build-fuzz/corpus/<name>/, so the repository is never written to.
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
OUT=${FUZZ_OUT:-$TOP/build-fuzz} # another folder only to keep a second run off a running one
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10} # seconds for one input before it counts as a hang
CC=${FUZZ_CC:-clang}
ALL=(bootcfg cmdline config kvfile generation status sysfs iscsi_boot initrd)

regress=0
if [ "${1:-}" = --regress ]; then
	regress=1
	shift
fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
	[ -f "tests/fuzz/fuzz_$n.c" ] || { echo "run.sh: no harness tests/fuzz/fuzz_$n.c" >&2; exit 2; }
done
command -v "$CC" >/dev/null || { echo "run.sh: $CC not found (make deps)" >&2; exit 2; }

# ---- build ----
PKGS="libsystemd libiscsi libnl-3.0 libnl-route-3.0 inih libcurl"
VERSION=$(sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=gnu11 -g -O1 -Wall -Wextra -Werror -Wshadow -D_GNU_SOURCE \
	-DNETROOT_VERSION=\"$VERSION\" $SAN $(pkg-config --cflags $PKGS)"
LIBS=$(pkg-config --libs $PKGS)
mkdir -p "$OUT/obj"

# An object is stale when its source or any agent header is newer.
newest_header=$(ls -t agent/*.h | head -n 1)
stale() { [ ! -e "$2" ] || [ "$1" -nt "$2" ] || [ "$newest_header" -nt "$2" ]; }

build_lib() {
	local src obj objs=() jobs=0 failed=0
	for src in agent/*.c; do
		case $src in agent/netrootd.c | agent/netrootctl.c) continue ;; esac
		obj=$OUT/obj/$(basename "$src" .c).o
		objs+=("$obj")
		stale "$src" "$obj" || continue
		# The agent code gets coverage feedback but no fuzzer main.
		$CC $CFLAGS -fsanitize=fuzzer-no-link -c -o "$obj" "$src" &
		jobs=$((jobs + 1))
		if [ $jobs -ge 2 ]; then wait -n || failed=1; jobs=$((jobs - 1)); fi
	done
	while [ $jobs -gt 0 ]; do wait -n || failed=1; jobs=$((jobs - 1)); done
	[ $failed = 0 ] || return 1
	local lib=$OUT/libnetroot-fuzz.a o
	for o in "${objs[@]}"; do
		if [ ! -e "$lib" ] || [ "$o" -nt "$lib" ]; then
			rm -f "$lib"
			ar rcs "$lib" "${objs[@]}" || return 1
			break
		fi
	done
}

build_harness() { # name
	local src=tests/fuzz/fuzz_$1.c bin=$OUT/fuzz_$1
	if [ -e "$bin" ] && [ "$bin" -nt "$src" ] && [ "$bin" -nt tests/fuzz/fuzz.h ] &&
		[ "$bin" -nt "$OUT/libnetroot-fuzz.a" ]; then
		return 0
	fi
	# -Iagent: fuzz_sysfs.c includes session.c for its static parsers; that object then
	# shadows the archive's copy.
	$CC $CFLAGS -Iagent -Itests/fuzz -fsanitize=fuzzer -o "$bin" "$src" \
		"$OUT/libnetroot-fuzz.a" $LIBS
}

build_lib || { echo "run.sh: building the agent sources failed" >&2; exit 2; }
for n in "${names[@]}"; do
	build_harness "$n" || { echo "run.sh: building fuzz_$n failed" >&2; exit 2; }
done

# ---- run ----
crashed=0
rows=()
for n in "${names[@]}"; do
	bin=$OUT/fuzz_$n
	seeds=tests/fuzz/corpus/$n
	regs=tests/fuzz/regressions/$n
	crashdir=$OUT/crashes/$n
	log=$OUT/log/$n.log
	mkdir -p "$crashdir" "$OUT/log"
	rm -rf "$OUT/tmp/$n"
	mkdir -p "$OUT/tmp/$n"
	before=$(find "$crashdir" -type f | wc -l)
	start=$(date +%s.%N)
	if [ $regress = 1 ]; then
		inputs=()
		for d in "$seeds" "$regs"; do
			[ -d "$d" ] && while IFS= read -r f; do inputs+=("$f"); done \
				< <(find "$d" -type f | sort)
		done
		# Without inputs libFuzzer would start fuzzing instead.
		[ ${#inputs[@]} -gt 0 ] || { echo "run.sh: no inputs for $n" >&2; exit 2; }
		TMPDIR=$OUT/tmp/$n "$bin" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 \
			-artifact_prefix="$crashdir/" "${inputs[@]}" >"$log" 2>&1
		rc=$?
		execs=${#inputs[@]}
		corpus=${#inputs[@]}
	else
		corpus_dir=$OUT/corpus/$n
		mkdir -p "$corpus_dir"
		[ -d "$seeds" ] && cp -n "$seeds"/* "$corpus_dir"/ 2>/dev/null
		extra=()
		[ -d "$regs" ] && extra+=("$regs")
		dict=()
		[ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
		TMPDIR=$OUT/tmp/$n "$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
			-timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 -artifact_prefix="$crashdir/" \
			"${dict[@]}" "$corpus_dir" "${extra[@]}" >"$log" 2>&1
		rc=$?
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		corpus=$(find "$corpus_dir" -type f | wc -l)
	fi
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.0f", b-a}')
	crashes=$(($(find "$crashdir" -type f | wc -l) - before))
	if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then
		crashes=1 # died without an artifact (e.g. a sanitizer report during start-up)
	fi
	if [ "$crashes" != 0 ]; then
		crashed=1
		echo "== fuzz_$n: exit $rc; inputs kept in $crashdir/; log $log" >&2
		grep -a -m 1 -A 40 -E '^==[0-9]+==ERROR|runtime error|invariant broken|ERROR: libFuzzer' \
			"$log" >&2
	fi
	rows+=("$(printf '%-12s %8s %14s %8s %8s' "$n" "$secs" "${execs:-?}" "$corpus" "$crashes")")
	printf '%s\n' "${rows[-1]}"
done

echo
printf '%-12s %8s %14s %8s %8s\n' harness seconds execs corpus crashes
printf '%s\n' "${rows[@]}"
exit $crashed
