#!/bin/bash
# contrib/prometheus/netroot-rules.yml: `promtool check rules`, the cases of
# tests/prometheus/netroot-rules.test.yml (`promtool test rules`: root FAILED over a minute, a
# boot pending past its confirm time, probe failures rising, the textfiles stale, firmware
# skew), and every netroot_* metric the rules use is one the agent writes (netrootd's
# agent/metrics.c or `netrootctl fleet --textfile`, agent/ctl_fleet.c).
. "$(dirname "$0")/../lib/common.sh"

command -v promtool >/dev/null || fail "promtool missing (make deps: package prometheus)"
RULES=$TOP/contrib/prometheus/netroot-rules.yml
promtool check rules "$RULES" >"$T/o" 2>&1 || fail "promtool check rules: $(cat "$T/o")"
pass "promtool check rules: $(grep -o '[0-9]* rules found' "$T/o")"
promtool test rules "$TOP/tests/prometheus/netroot-rules.test.yml" >"$T/o" 2>&1 \
	|| fail "promtool test rules: $(cat "$T/o")"
pass "promtool test rules: SUCCESS"
for m in $(grep -v '^ *#' "$RULES" | grep -o 'netroot_[a-z_]*[a-z]' | sort -u); do
	grep -q "\"$m" "$TOP/agent/metrics.c" "$TOP/agent/ctl_fleet.c" \
		|| fail "the rules use $m, which nothing writes"
	pass "metric $m is written by the agent"
done
