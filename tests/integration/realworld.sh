#!/bin/bash
# The 39 real-world boot files of other projects (../shared/reference/realworld, read where they
# are, never copied into the project) against build/netrootctl: its run.sh holds what the firmware
# does with each file, from the Raspberry Pi documentation, not from netrootctl's output. Any FAIL
# line fails this test. Before issue 11: 50 passed, 14 failed.
# Where: $NETROOT_REALWORLD, else <repo>/../shared/reference/realworld, else this lab's
# /work/shared/reference/realworld; skipped with a message when none exists.
. "$(dirname "$0")/../lib/common.sh"

dir=
for d in "${NETROOT_REALWORLD:-}" "$TOP/../shared/reference/realworld" /work/shared/reference/realworld; do
	[ -n "$d" ] && [ -x "$d/run.sh" ] && { dir=$d; break; }
done
[ -n "$dir" ] || skip "the real-world boot files (../shared/reference/realworld) are not on this machine"
[ -x "$NETROOTCTL" ] || fail "$NETROOTCTL not built (make)"
command -v python3 >/dev/null || fail "python3 missing (make deps)"
bash "$dir/run.sh" "$NETROOTCTL" >"$T/rw.log" 2>&1
rc=$?
grep '^FAIL' "$T/rw.log" && fail "realworld/run.sh: $(grep -c '^FAIL' "$T/rw.log") FAIL line(s)"
[ "$rc" = 0 ] || fail "realworld/run.sh exited $rc: $(tail -n 5 "$T/rw.log")"
n=$(grep -c '^PASS' "$T/rw.log")
[ "$n" -ge 60 ] || fail "only $n expectations ran (64 expected): $(tail -n 5 "$T/rw.log")"
pass "realworld/run.sh ($dir): $n passed, 0 failed"
