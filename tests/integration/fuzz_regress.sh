#!/bin/bash
# The fuzz harnesses (tests/fuzz/) as the CI short run: each harness once over its seed corpus
# and over every input that once crashed it (tests/fuzz/regressions/<name>/), then a few seconds
# of fuzzing each (FUZZ_REGRESS_SECONDS, default 8), all with ASan and UBSan.
# The long run (10 minutes per harness) is `make fuzz`.
. "$(dirname "$0")/../lib/common.sh"

command -v clang >/dev/null || skip "clang is not installed (make deps)"
# libFuzzer's runtime is a separate package on Debian (libclang-rt-14-dev).
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$T/probe.c"
clang -fsanitize=fuzzer,address,undefined -o "$T/probe" "$T/probe.c" >"$T/probe.log" 2>&1 ||
	skip "clang cannot link libFuzzer ($(head -n 1 "$T/probe.log")); make deps installs libclang-rt-14-dev"

harnesses=$(cd "$TOP/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
[ -n "$harnesses" ] || fail "no harnesses in tests/fuzz/"

out=$(bash "$TOP/tests/fuzz/run.sh" --regress 2>&1); rc=$?
echo "$out"
assert_eq "$rc" 0 "every seed and regression input runs clean"
for n in $harnesses; do
	want=$(find "$TOP/tests/fuzz/corpus/$n" "$TOP/tests/fuzz/regressions/$n" -type f 2>/dev/null | wc -l)
	row=$(echo "$out" | awk -v n="$n" '$1 == n { print; exit }')
	[ -n "$row" ] || fail "no result for harness $n"
	got=$(echo "$row" | awk '{ print $3 }')
	crashes=$(echo "$row" | awk '{ print $5 }')
	[ "$want" -gt 0 ] || fail "harness $n has no seed corpus"
	assert_eq "$got/$crashes" "$want/0" "$n: all $want seed and regression inputs ran, no crash"
done

out=$(FUZZ_SECONDS=${FUZZ_REGRESS_SECONDS:-8} bash "$TOP/tests/fuzz/run.sh" 2>&1); rc=$?
echo "$out"
assert_eq "$rc" 0 "short fuzz run of every harness finds no crash"
for n in $harnesses; do
	execs=$(echo "$out" | awk -v n="$n" '$1 == n { print $3; exit }')
	case $execs in '' | *[!0-9]*) fail "$n: no execution count in the short run" ;; esac
	[ "$execs" -gt 0 ] || fail "$n: the short run executed nothing"
done
pass "short fuzz run: every harness executed inputs"
