#!/bin/bash
# Soak: netrootd for tens of thousands of probe cycles against a real tgtd in a network namespace
# (tests/lib/tgt.sh), probe_interval 10 ms (the minimum), with a fault injected every few hundred
# cycles, rotating through every fault the lab offers. Each fault is held until the daemon
# reports it and then cleared until it reports OK again. Asserted per run: every fault detected,
# every recovery seen, the daemon alive throughout, a clean exit, no sanitizer or valgrind error
# and no leak, fd count and VmRSS flat. The kernel session is the FAKE sysfs tree of
# tests/lib/fake_sysfs.sh (the host has no iSCSI initiator); link, portal and probe are real.
#
# Runs (SOAK_RUNS, "KIND:BINARY" words; KIND asan, valgrind, plain, or auto = asan when the
# binary carries ASan, plain otherwise). Default: build-asan/netrootd under ASan+UBSan (LSan at
# exit), build/netrootd bare (the RSS verdict, see below), then build/netrootd under valgrind
# (SOAK_VALGRIND=0 leaves that out).
#
# Knobs: SOAK_CYCLES (20000) probe cycles per run, from the daemon's own counter (status.json
# .probe.probes = netroot_probes_total); SOAK_FAULT_EVERY (400) healthy cycles between faults;
# SOAK_FAULTS (every kind, see fault_inject); SOAK_MODES ("discovery login": the probe mode
# changes, by SIGHUP, after each full rotation of the faults); SOAK_VALGRIND_MINUTES (25): a
# valgrind run that would take longer at its measured rate is cut to what fits, and says so;
# SOAK_ASAN_QUARANTINE_MB (unset: ASan's default); SOAK_RSS_SLACK_KB (512).
#
# RSS is judged on the bare build only. Under ASan freed memory waits in the quarantine (256 MB
# by default) and the allocator's own bookkeeping keeps growing: with the quarantine cut to 8 MB
# VmRSS still crept ~0.7 MB per 1000 cycles while the bare build stayed within 12 kB over the
# same run. Cutting the quarantine would only shorten ASan's use-after-free window, so the ASan
# run keeps the default and its verdict on memory is LeakSanitizer's. Under valgrind VmRSS is
# valgrind's own (translation cache, freed-block queue): reported, not judged; its leak check is
# the memory verdict there. The fd count is judged in every run.
#
# Exit 0 pass, 1 fail, 77 skip (no root / no tgtd / no build).
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/tgt.sh"
. "$TOP/tests/lib/fake_sysfs.sh"

CYCLES=${SOAK_CYCLES:-20000}
FAULT_EVERY=${SOAK_FAULT_EVERY:-400}
read -r -a KINDS <<<"${SOAK_FAULTS:-kill drop reset refused own peer target lun session disk}"
read -r -a MODES <<<"${SOAK_MODES:-discovery login}"
VALGRIND_MINUTES=${SOAK_VALGRIND_MINUTES:-25}
QUARANTINE=${SOAK_ASAN_QUARANTINE_MB:+:quarantine_size_mb=$SOAK_ASAN_QUARANTINE_MB}
RSS_SLACK_KB=${SOAK_RSS_SLACK_KB:-512}
PROBE_TIMEOUT=${SOAK_PROBE_TIMEOUT:-500ms}
WARMUP=${SOAK_WARMUP:-100}
if [ -n "${SOAK_RUNS:-}" ]; then
	read -r -a RUNS <<<"$SOAK_RUNS"
else
	RUNS=("asan:$TOP/build-asan/netrootd" "plain:$TOP/build/netrootd")
	[ "${SOAK_VALGRIND:-1}" = 1 ] && RUNS+=("valgrind:$TOP/build/netrootd")
fi

why=$(tgt_lab_check) || skip "$why"
command -v jq >/dev/null || skip "jq missing (make deps)"
for run in "${RUNS[@]}"; do
	[ -x "${run#*:}" ] || skip "${run#*:} not built (make soak builds both)"
	[ "${run%%:*}" != valgrind ] || command -v valgrind >/dev/null || skip "valgrind missing (make deps)"
done

# status.json is rewritten after every probe (its counter changes) and fsync'ed: on tmpfs, as
# /run is on a Pi, so that the disk under /tmp does not set the pace.
SHM=/dev/shm
[ "$(stat -f -c %T "$SHM" 2>/dev/null)" = tmpfs ] && [ -w "$SHM" ] || SHM=$T
SB=$(mktemp -d "$SHM/netroot-soak.XXXXXX") || fail "no sandbox dir"
on_cleanup "rm -rf '$SB'"

tgt_lab_setup || fail "lab setup"
tgt_start || fail "tgtd did not start"
IQN=iqn.2016-11.org.example:soak-$$
IQN2=iqn.2016-11.org.example:other-$$
add_targets() { tgt_add_target 1 "$IQN" && tgt_add_target 2 "$IQN2"; }
add_targets || fail "targets"

# A sleep without a fork per poll: read on a FIFO nobody writes times out.
mkfifo "$T/nap" || fail "mkfifo"
exec {NAPFD}<>"$T/nap"
nap() { read -r -t "$1" -u "$NAPFD" _; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# ------------------------------------------------------------------ reading the daemon
# st_read: ST_STATE ST_REASONS ST_PROBES ST_FAILURES ST_MODE from status.json, bash builtins only
# (polled every 10-20 ms for a whole run). The file is replaced by rename: never half-read.
st_read() {
	local line
	ST_STATE= ST_REASONS= ST_PROBES= ST_FAILURES= ST_MODE=
	[ -r "$STATUS" ] || return 1
	while IFS= read -r line; do
		case $line in
		'  "state": '*) line=${line#*: \"}; ST_STATE=${line%%\"*} ;;
		'  "reasons": '*) ST_REASONS=$line ;;
		'  "probe": '*)
			[[ $line =~ \"mode\":\ \"([a-z]+)\" ]] && ST_MODE=${BASH_REMATCH[1]}
			[[ $line =~ \"probes\":\ ([0-9]+) ]] && ST_PROBES=${BASH_REMATCH[1]}
			[[ $line =~ \"failures\":\ ([0-9]+) ]] && ST_FAILURES=${BASH_REMATCH[1]}
			;;
		esac
	done <"$STATUS"
	[ -n "$ST_STATE" ] && [ -n "$ST_PROBES" ]
}

# wait_state SECONDS STATE [REASON-SUBSTRING]: 0 when seen; also fails at once when the daemon died.
wait_state() {
	local deadline=$(($(now_ms) + $1 * 1000))
	while :; do
		if st_read && [ "$ST_STATE" = "$2" ] && [[ -z ${3:-} || $ST_REASONS == *"$3"* ]]; then
			return 0
		fi
		kill -0 "$DPID" 2>/dev/null || { DIED=1; return 1; }
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		nap 0.01
	done
}

# the daemon writes the trigger name without a newline, as one does to the kernel's file
led_now() { local l; read -r l <"$S/sys/class/leds/ACT/trigger"; echo "$l"; }

# The fd count without the probe's own socket: the smallest of up to 10 looks 10 ms apart (a
# probe is in flight for part of every cycle; a leaked fd stays in every look).
fd_count() {
	local min=999999 i f
	for ((i = 0; i < 10; i++)); do
		f=(/proc/"$DPID"/fd/*)
		[ ${#f[@]} -lt "$min" ] && min=${#f[@]}
		nap 0.01
	done
	echo "$min"
}
rss_kb() {
	local k v _
	while read -r k v _; do [ "$k" = VmRSS: ] && { echo "$v"; return; }; done <"/proc/$DPID/status"
}
sample() {
	st_read
	SMP_P+=("$ST_PROBES")
	SMP_RSS+=("$(rss_kb)")
	SMP_FD+=("$(fd_count)")
}

# ------------------------------------------------------------------ faults
# fault_expect KIND MODE: the state and a reason substring the fault must produce
fault_expect() {
	case $1 in
	kill | refused) echo "FAILED connection refused" ;;
	drop) echo "FAILED timed out" ;;
	reset) echo "FAILED reset" ;;
	own) echo "FAILED $CLI_IF: down" ;;
	peer) echo "FAILED $CLI_IF: no carrier" ;;
	target) [ "$2" = login ] && echo "FAILED not found on portal" || echo "FAILED not offered" ;;
	lun) echo "FAILED LUN 1 no longer reported" ;;
	session) echo "FAILED session1" ;;
	disk) echo "DEGRADED blocked" ;;
	esac
}
# tgtadm refuses to delete a target or LUN while a command on it is in flight ("this logical
# unit is still active"), which a probe every 10 ms often has: try again for a while.
tgt_retry() {
	local i
	for ((i = 0; i < 60; i++)); do
		"$@" 2>/dev/null && return 0
		nap 0.05
	done
	"$@"
}
del_lun() { tgt_adm --op delete --mode logicalunit --tid 1 --lun 1; }
SESSION_FLIP=0
fault_inject() {
	case $1 in
	kill) tgt_kill ;;                     # tgtd gone: connection refused
	drop) tgt_fw_drop ;;                  # silent black hole
	reset) tgt_fw_reject established ;;   # RST after the handshake
	refused) tgt_fw_reject syn ;;         # RST to the SYN
	own) tgt_link own down ;;             # our interface down
	peer) tgt_link peer down ;;           # the cable pulled at the far end: no carrier
	target) tgt_retry tgt_del_target 1 ;; # the root's target removed from the portal
	lun) tgt_retry del_lun ;;             # the root's LUN removed, the target stays
	session)                              # the kernel session fails (FAKE sysfs)
		SESSION_FLIP=$((1 - SESSION_FLIP))
		fake_session_state "$S" session1 "$([ $SESSION_FLIP = 1 ] && echo FAILED || echo FREE)" ;;
	disk) fake_disk_state "$S" sda blocked ;; # SCSI disk blocked while the session recovers
	*) echo "unknown fault $1" >&2; return 1 ;;
	esac
}
fault_clear() {
	case $1 in
	kill) tgt_start && add_targets ;;
	drop | reset | refused) tgt_fw_clear ;;
	own) tgt_link own up ;;
	peer) tgt_link peer up ;;
	target) tgt_add_target 1 "$IQN" ;;
	lun) tgt_adm --op new --mode logicalunit --tid 1 --lun 1 -b "$TGT_DIR/lun-1.img" ;;
	session) fake_session_state "$S" session1 LOGGED_IN ;;
	disk) fake_disk_state "$S" sda running ;;
	esac
}

# ------------------------------------------------------------------ one run
write_conf() { # MODE
	cat >"$S/etc/netroot/agent.conf" <<-CONF
	[agent]
	run_dir = /run/netroot
	metrics_file = /run/netroot/metrics.prom
	[led]
	enabled = yes
	device = auto
	[ipv6]
	mode = keep
	[iscsi]
	probe = $1
	portal = $TGT_PORTAL
	target = $IQN
	probe_interval = 10ms
	probe_timeout = $PROBE_TIMEOUT
	fail_after = 2
	recover_after = 2
	session_poll = 200ms
	CONF
	chmod 600 "$S/etc/netroot/agent.conf"
}

reloaded() { [ "$(grep -c "configuration reloaded" "$LOG")" -gt "$RELOADS_SEEN" ]; }
set_mode() { # MODE: reload by SIGHUP and wait for the new mode to be probing and OK
	local n
	[ "$ST_MODE" = "$1" ] && return 0
	write_conf "$1"
	RELOADS_SEEN=$(grep -c "configuration reloaded" "$LOG")
	kill -HUP "$DPID"
	wait_for 20 reloaded || return 1
	RELOADS=$((RELOADS + 1))
	wait_state 20 OK && [ "$ST_MODE" = "$1" ]
}

median_max() { # numbers on stdin -> "median max" (or "- -")
	sort -n | awk '{ v[n++] = $1 } END { if (!n) { print "- -"; exit }
		print (n % 2 ? v[int(n / 2)] : int((v[n / 2 - 1] + v[n / 2]) / 2)), v[n - 1] }'
}
maxof() { local m=0 v; for v in "$@"; do [ "$v" -gt "$m" ] && m=$v; done; echo "$m"; }

ROWS=()
KIND_LOG=$T/faults.tsv # run kind mode detect_ms recover_ms
: >"$KIND_LOG"
FAILED_RUNS=0

soak_one() { # KIND BINARY
	local kind=$1 bin=$2 target=$CYCLES deadline_s t_start wall cmd=() problems=() note=""
	local fi=0 next inj=0 det=0 rec=0 rc fk mode exp want sub t0 d r i p0 t_rate
	local half early_rss=() late_rss=() early_fd=() late_fd=() leaks errors
	SMP_P=() SMP_RSS=() SMP_FD=() DIED=0 RELOADS=0
	S=$SB/$kind
	STATUS=$S/run/netroot/status.json
	LOG=$T/netrootd-$kind.log
	VLOG=$T/valgrind-$kind.log
	rm -rf "$S"
	make_sandbox "$S"
	fake_iscsi_tree "$S"
	fake_iscsid "$S" running
	fake_recovery_tmo "$S" session1 86400
	write_conf "${MODES[0]}"
	case $kind in
	asan)
		cmd=(env "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=86$QUARANTINE:detect_stack_use_after_return=1:strict_string_checks=1"
			"UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1") ;;
	valgrind)
		cmd=(valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
			--error-exitcode=99 --log-file="$VLOG") ;;
	plain) cmd=() ;;
	*) fail "unknown run kind $kind" ;;
	esac
	echo "== $kind: $bin, target $target cycles, a fault every $FAULT_EVERY, probe_interval 10ms"
	t_start=$(now_ms)
	# not through cli_exec: $! of a backgrounded function would be a subshell's PID; ip, env and
	# valgrind all exec, so $! is the daemon (valgrind's process is the daemon's)
	ip netns exec "$CLI_NS" "${cmd[@]}" "$bin" --root "$S" --log-target stderr --no-mlock >"$LOG" 2>&1 &
	DPID=$!
	track_pid "$DPID"
	wait_state 60 OK || { echo "FAIL: $kind: not OK at start: $(tail -n 5 "$LOG")" >&2; return 1; }
	p0=$ST_PROBES
	until st_read && [ "$ST_PROBES" -ge $((p0 + WARMUP)) ]; do
		kill -0 "$DPID" 2>/dev/null || { echo "FAIL: $kind: died in warm-up: $(tail "$LOG")" >&2; return 1; }
		nap 0.05
	done
	# rate over a healthy stretch: for valgrind, the cycle count that fits the time budget
	t_rate=$(now_ms); p0=$ST_PROBES
	nap "$([ "$kind" = valgrind ] && echo 5 || echo 1)"
	st_read
	RATE=$(((ST_PROBES - p0) * 1000 / ($(now_ms) - t_rate)))
	echo "   healthy rate: $RATE probe cycles/s"
	if [ "$kind" = valgrind ] && [ "$RATE" -gt 0 ] && [ $((target / RATE)) -gt $((VALGRIND_MINUTES * 60)) ]; then
		# faults cost time as well (a DROP holds probes for probe_timeout): keep 20% for them
		target=$((RATE * VALGRIND_MINUTES * 60 * 8 / 10 / 1000 * 1000))
		note="cut to $target cycles: $CYCLES at $RATE/s would take $((CYCLES / RATE / 60)) min under valgrind"
		echo "   $note"
	fi
	# hard limit: twice the expected time plus 2 min for the faults, beyond that it is a hang
	deadline_s=$((t_start / 1000 + 2 * target / (RATE > 0 ? RATE : 1) + 120))
	sample
	next=$((ST_PROBES + FAULT_EVERY))
	local sampled=0
	while :; do
		if ! st_read; then nap 0.01; continue; fi
		kill -0 "$DPID" 2>/dev/null || { DIED=1; break; }
		[ "$ST_PROBES" -ge "$target" ] && break
		if [ $((EPOCHSECONDS)) -gt "$deadline_s" ]; then
			problems+=("only $ST_PROBES of $target cycles by the time limit")
			break
		fi
		if [ $sampled = 0 ] && [ "$ST_PROBES" -ge $((next - FAULT_EVERY / 2)) ]; then
			sample; sampled=1
		fi
		if [ "$ST_PROBES" -lt "$next" ]; then
			nap 0.05
			continue
		fi
		fk=${KINDS[fi % ${#KINDS[@]}]}
		mode=${MODES[(fi / ${#KINDS[@]}) % ${#MODES[@]}]}
		# a discovery probe touches no LUN by design: a lost LUN is the login probe's to find
		if [ "$fk" = lun ] && [ "$mode" != login ]; then
			fi=$((fi + 1))
			continue
		fi
		if ! set_mode "$mode"; then
			problems+=("reload to probe=$mode did not come back OK: $ST_STATE $ST_MODE $ST_REASONS")
			break
		fi
		read -r want sub <<<"$(fault_expect "$fk" "$mode")"
		fault_inject "$fk" || { problems+=("cannot inject $fk"); break; }
		inj=$((inj + 1))
		t0=$(now_ms)
		if wait_state 30 "$want" "$sub"; then
			d=$(($(now_ms) - t0))
			det=$((det + 1))
			exp=$( [ "$want" = FAILED ] && echo default-on || echo timer)
			[ "$(led_now)" = "$exp" ] || problems+=("fault #$fi $fk: LED $(led_now), wanted $exp")
		else
			d=-1
			[ $DIED = 1 ] && break
			problems+=("fault #$fi $fk ($mode) not detected in 30 s: state $ST_STATE $ST_REASONS")
		fi
		fault_clear "$fk" || { problems+=("cannot clear $fk"); break; }
		t0=$(now_ms)
		if wait_state 30 OK; then
			r=$(($(now_ms) - t0))
			rec=$((rec + 1))
			[ "$(led_now)" = heartbeat ] || problems+=("fault #$fi $fk: LED $(led_now) after recovery")
		else
			[ $DIED = 1 ] && break
			problems+=("fault #$fi $fk ($mode): no recovery in 30 s: $ST_STATE $ST_REASONS")
			break
		fi
		printf '   fault %2d %-8s %-9s at %6d cycles: %-8s in %5d ms, OK again in %5d ms\n' \
			"$fi" "$fk" "$mode" "$ST_PROBES" "$want" "$d" "$r"
		printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$fk" "$mode" "$d" "$r" >>"$KIND_LOG"
		fi=$((fi + 1))
		st_read
		next=$((ST_PROBES + FAULT_EVERY))
		sampled=0
	done
	[ $DIED = 1 ] && problems+=("netrootd died: $(grep -m3 -E 'ERROR|runtime error|Sanitizer' "$LOG" | tr '\n' ' ')")
	st_read
	local cycles=$ST_PROBES failures=$ST_FAILURES
	[ $DIED = 1 ] || sample
	local metrics_probes
	metrics_probes=$(awk '$1 == "netroot_probes_total" { print $2 }' "$S/run/netroot/metrics.prom" 2>/dev/null)
	# stop: SIGTERM, LSan / valgrind's leak check run at exit
	kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < 1200; i++)); do kill -0 "$DPID" 2>/dev/null || break; nap 0.1; done
	wait "$DPID"; rc=$?
	wall=$((($(now_ms) - t_start) / 1000))
	[ "$rc" = 0 ] || problems+=("exit status $rc")
	leaks=$(grep -c -E 'ERROR: LeakSanitizer|definitely lost: [1-9]' "$LOG" "$VLOG" 2>/dev/null | awk -F: '{ s += $NF } END { print s + 0 }')
	errors=$(grep -c -E 'ERROR: AddressSanitizer|runtime error|WARNING: ThreadSanitizer' "$LOG" 2>/dev/null)
	if [ "$kind" = valgrind ]; then
		errors=$((errors + $(awk '/ERROR SUMMARY:/ { s += $4 } END { print s + 0 }' "$VLOG")))
		leaks=$(awk '/definitely lost:/ { gsub(",", "", $4); s += $4 } END { print s + 0 }' "$VLOG")
		[ "$leaks" = 0 ] || leaks="${leaks}B"
	fi
	[ "$leaks" = 0 ] || problems+=("leaks: $leaks")
	[ "$errors" = 0 ] || problems+=("$errors sanitizer/valgrind errors")
	[ "$inj" = "$det" ] || problems+=("$((inj - det)) of $inj faults not detected")
	[ "$inj" = "$rec" ] || problems+=("$((inj - rec)) of $inj faults without recovery")
	[ "$cycles" -ge "$target" ] || problems+=("$cycles of $target cycles")
	[ "$inj" -gt 0 ] || problems+=("no fault injected")
	# flatness: the second half of the run against the first (the warm-up sample left out)
	half=$((target / 2))
	for ((i = 1; i < ${#SMP_P[@]}; i++)); do
		if [ "${SMP_P[i]}" -lt "$half" ]; then
			early_rss+=("${SMP_RSS[i]}"); early_fd+=("${SMP_FD[i]}")
		else
			late_rss+=("${SMP_RSS[i]}"); late_fd+=("${SMP_FD[i]}")
		fi
	done
	local n=${#SMP_P[@]} rss_v=- fd_v=-
	if [ ${#early_fd[@]} -gt 0 ] && [ ${#late_fd[@]} -gt 0 ]; then
		local eb lb
		eb=$(maxof "${early_fd[@]}"); lb=$(maxof "${late_fd[@]}")
		if [ "$lb" -le "$eb" ]; then fd_v=flat; else fd_v=GREW; problems+=("fd count: first half max $eb, second half max $lb"); fi
		eb=$(maxof "${early_rss[@]}"); lb=$(maxof "${late_rss[@]}")
		if [ "$kind" != plain ]; then
			rss_v="n/a"
		elif [ "$lb" -le $((eb + RSS_SLACK_KB)) ]; then
			rss_v="flat(+$((lb - eb)))"
		else
			rss_v=GREW; problems+=("VmRSS: first half max $eb kB, second half max $lb kB (slack $RSS_SLACK_KB)")
		fi
	else
		problems+=("too few samples ($n) to judge fd/RSS flatness")
	fi
	if [ "$DIED" = 1 ] || [ ${#problems[@]} -gt 0 ] && [ -n "${SOAK_KEEP:-}" ]; then
		cp "$LOG" "$SOAK_KEEP/" 2>/dev/null; cp "$VLOG" "$SOAK_KEEP/" 2>/dev/null
	fi
	read -r dmed dmax <<<"$(awk -F'\t' -v k="$kind" '$1 == k && $4 >= 0 { print $4 }' "$KIND_LOG" | median_max)"
	read -r rmed rmax <<<"$(awk -F'\t' -v k="$kind" '$1 == k { print $5 }' "$KIND_LOG" | median_max)"
	local verdict=PASS
	[ ${#problems[@]} = 0 ] || verdict=FAIL
	ROWS+=("$(printf '%-9s|%6s|%6s|%5ss|%4s|%8s|%5s/%-5s|%5s/%-5s|%6s/%6s/%6s|%3s/%3s/%3s|%-11s|%-4s|%4s/%-6s|%s' \
		"$kind" "$cycles" "$failures" "$wall" "$RELOADS" "$inj/$det/$rec" "$dmed" "$dmax" "$rmed" "$rmax" \
		"${SMP_RSS[0]:--}" "${SMP_RSS[n - 1]:--}" "$(maxof "${SMP_RSS[@]}")" \
		"${SMP_FD[0]:--}" "${SMP_FD[n - 1]:--}" "$(maxof "${SMP_FD[@]}")" "$rss_v" "$fd_v" "$leaks" "$errors" "$verdict")")
	echo "   $kind: $cycles cycles ($failures failed probes; metrics file: ${metrics_probes:-?}) in ${wall}s, $inj faults injected, $det detected, $rec recovered, exit $rc"
	[ -z "$note" ] || echo "   note: $note"
	printf '   samples (cycles:VmRSS kB:fds):'
	for ((i = 0; i < n; i++)); do printf ' %s:%s:%s' "${SMP_P[i]}" "${SMP_RSS[i]}" "${SMP_FD[i]}"; done
	echo
	for p in "${problems[@]}"; do echo "FAIL: $kind: $p" >&2; done
	if [ ${#problems[@]} -gt 0 ]; then
		echo "   last log lines:" >&2; tail -n 30 "$LOG" | sed 's/^/   | /' >&2
		[ ! -s "$VLOG" ] || { echo "   valgrind:" >&2; sed 's/^/   | /' "$VLOG" | head -80 >&2; }
		return 1
	fi
	return 0
}

for run in "${RUNS[@]}"; do
	kind=${run%%:*} bin=${run#*:}
	if [ "$kind" = auto ]; then
		grep -qa __asan_init "$bin" && kind=asan || kind=plain
	fi
	soak_one "$kind" "$bin" || FAILED_RUNS=$((FAILED_RUNS + 1))
done

echo
echo "Soak: probe_interval 10ms, probe_timeout $PROBE_TIMEOUT, fail_after 2, recover_after 2, session_poll 200ms;"
echo "a fault every $FAULT_EVERY cycles, rotating: ${KINDS[*]}; probe mode by rotation: ${MODES[*]}."
echo "Times in ms from the fault command's return to status.json showing the state (polled every 10 ms)."
echo "RSS/fd in kB/count, sampled mid-way between faults; flat = 2nd-half max <= 1st-half max (+${RSS_SLACK_KB} kB RSS);"
echo "RSS judged on the bare build only (ASan quarantine${QUARANTINE:+ $SOAK_ASAN_QUARANTINE_MB MB}, valgrind's own heap: n/a)."
echo
printf '%-9s|%6s|%6s|%6s|%4s|%8s|%11s|%11s|%20s|%11s|%-11s|%-4s|%11s|%s\n' build cycles failed wall hups "inj/det/rec" "detect m/mx" "recover m/mx" "RSS kB start/end/max" "fd st/end/mx" "RSS" fds "leaks/errs" verdict
for row in "${ROWS[@]}"; do echo "$row"; done
echo
echo "Per fault kind (all runs): n, detect median/max ms, recover median/max ms"
awk -F'\t' '{ k = $2 " (" $3 ")"; print k "\t" $4 "\t" $5 }' "$KIND_LOG" | sort | awk -F'\t' '
	function flush() { if (key == "") return; printf "  %-22s %3d  detect %5d/%-5d  recover %5d/%-5d\n", key, n, med(d, n), d[n], med(r, n), r[n] }
	function med(a, n) { return n % 2 ? a[(n + 1) / 2] : int((a[n / 2] + a[n / 2 + 1]) / 2) }
	function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
	$1 != key { if (key != "") { sortv(d, n); sortv(r, n); flush() } key = $1; n = 0 }
	{ n++; d[n] = $2; r[n] = $3 }
	END { sortv(d, n); sortv(r, n); flush() }'
[ "$FAILED_RUNS" = 0 ] || fail "$FAILED_RUNS soak run(s) failed"
pass "soak: every fault detected and recovered, no leak, no sanitizer error, fds and RSS flat"
