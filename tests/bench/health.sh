#!/bin/bash
# netrootd health bench against a real tgtd in a network namespace (tests/lib/tgt.sh):
#  1. fault -> state latency: time from injecting a fault to BOTH status.json (.state) and the
#     LED trigger showing it, per fault, REPS times each, median and max against the goals;
#  2. idle cost at default settings (probe every 5 s, discovery, healthy portal): CPU, wakeups,
#     RSS, locked memory; beside it the loop an admin would script today (iscsi-ls every 5 s).
# Knobs: BENCH_QUICK=1 (idle 60 s, 5 repetitions), BENCH_IDLE_SECONDS (default 600),
# BENCH_REPS (default 10). Figures, not a test: a missed goal is printed, not failed on.
# Exit 1 only when the lab cannot be set up.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/tgt.sh"

die() {
	echo "health bench: $*" >&2
	exit 1
}

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	IDLE=${BENCH_IDLE_SECONDS:-60}
	REPS=${BENCH_REPS:-5}
else
	IDLE=${BENCH_IDLE_SECONDS:-600}
	REPS=${BENCH_REPS:-10}
fi
INTERVAL_MS=1000 # probe_interval for the fault rows
TIMEOUT_MS=1000  # probe_timeout for the fault rows
IDLE_INTERVAL=5  # the default probe_interval, for the idle rows and the baseline loop

why=$(tgt_lab_check) || die "$why"
for c in iscsi-ls cc awk; do
	command -v "$c" >/dev/null 2>&1 || die "missing $c (make deps)"
done
[ -x "$NETROOTD" ] || die "$NETROOTD not built (make)"

HW=$T/health_watch
cc -O2 -Wall -o "$HW" "$TOP/tests/bench/health_watch.c" 2>"$T/cc.err" || die "cannot build the watcher: $(cat "$T/cc.err")"

# Sandboxes on tmpfs, as /run is on a Pi: status.json is fsync'ed on every write, and a disk
# under the sandbox would add its latency and wakeups to the daemon's.
SHM=/dev/shm
[ "$(stat -f -c %T "$SHM" 2>/dev/null)" = tmpfs ] && [ -w "$SHM" ] || SHM=$T
SB=$(mktemp -d "$SHM/netroot-bench.XXXXXX") || die "no sandbox dir"
on_cleanup "rm -rf '$SB'"

tgt_lab_setup || die "cannot create network namespaces and a veth pair"
tgt_start || die "tgtd did not start"
IQN=iqn.2016-11.org.example:bench-$$
tgt_add_target 1 "$IQN" || die "tgtadm could not create the target"

ms() { awk -v n="$1" 'BEGIN { printf "%d.%03d", n / 1000, n % 1000 }'; }

# write_conf ROOT fault FAIL_AFTER | write_conf ROOT idle
write_conf() {
	local root=$1 kind=$2
	{
		printf '[agent]\nboot_dir = /boot\nrun_dir = /run/netroot\nstate_dir = /var/lib/netroot\n'
		printf '[led]\nenabled = yes\ndevice = ACT\n'
		if [ "$kind" = fault ]; then
			# the defaults, spelled out: the watcher maps them back to states
			printf 'trigger_ok = heartbeat\ntrigger_degraded = timer\ntrigger_failed = default-on\n'
			printf '[ipv6]\nmode = keep\n'
		fi
		printf '[iscsi]\nprobe = discovery\nportal = %s\ntarget = %s\n' "$TGT_PORTAL" "$IQN"
		if [ "$kind" = fault ]; then
			printf 'probe_interval = %dms\nprobe_timeout = %dms\nfail_after = %s\nrecover_after = 1\n' \
				"$INTERVAL_MS" "$TIMEOUT_MS" "$3"
		fi
	} >"$root/etc/netroot/agent.conf"
	chmod 600 "$root/etc/netroot/agent.conf"
}

DPID=
start_daemon() { # ROOT LOG [ARGS...]
	local root=$1 log=$2
	shift 2
	mkdir -p "$root/run/netroot"
	# not through cli_exec: a backgrounded function is a subshell, and $! would be its PID
	ip netns exec "$CLI_NS" "$NETROOTD" --root "$root" --log-target stderr "$@" >>"$log" 2>&1 &
	DPID=$!
	track_pid "$DPID"
	wait_for 10 test -s "$root/run/netroot/status.json" || die "netrootd did not start: $(tail -n 5 "$log")"
}

stop_pid() {
	local p=$1 _
	kill "$p" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------- 1. fault -> state latency
WLOG=$T/watch.log
WPID=
start_watch() { # ROOT
	rm -f "$T/watch.ctl"
	mkfifo "$T/watch.ctl" || die "mkfifo"
	# in the client namespace: it also timestamps the kernel's link events there
	ip netns exec "$CLI_NS" "$HW" watch "$1" <"$T/watch.ctl" >>"$WLOG" 2>>"$T/watch.err" &
	WPID=$!
	track_pid "$WPID"
	exec 7>"$T/watch.ctl"
	wait_for 5 grep -q ' ready$' "$WLOG" || die "watcher did not start: $(cat "$T/watch.err")"
}
stop_watch() {
	exec 7>&-
	stop_pid "$WPID"
}
mark() { echo "mark $*" >&7; }

led_for() { case $1 in OK) echo heartbeat ;; DEGRADED) echo timer ;; FAILED) echo default-on ;; esac; }
shown() { awk '$2 == "status" { s = $3 } $2 == "led" { l = $3 } END { print s, l }' "$WLOG"; }
wait_shown() { # STATE TIMEOUT_S: status.json and LED both show STATE
	local want deadline=$(($(date +%s%N) + $2 * 1000000000))
	want="$1 $(led_for "$1")"
	while [ "$(shown)" != "$want" ]; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.01
	done
}
# Waits for the next status.json write (a probe result): the fault is then injected at a known
# phase of the probe cycle.
wait_probe() {
	local n deadline=$(($(date +%s%N) + 5000000000))
	n=$(grep -c ' status ' "$WLOG")
	while [ "$(grep -c ' status ' "$WLOG")" = "$n" ]; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.005
	done
}

fault_own() { tgt_link own down; }
restore_own() { tgt_link own up; }
fault_peer() { tgt_link peer down; }
restore_peer() { tgt_link peer up; }
fault_refused() { tgt_kill; }
restore_refused() { tgt_start >/dev/null && tgt_add_target 1 "$IQN"; }
fault_reset() { tgt_fw_reject established; }
restore_reset() { tgt_fw_clear; }
fault_drop() { tgt_fw_drop; }
restore_drop() { tgt_fw_clear; }

ROWS=()
run_row() { # KEY FAULT FAIL_AFTER
	local key=$1 fault=$2 i phase
	ROWS+=("$key $fault $3")
	for i in $(seq "$REPS"); do
		wait_shown OK 30 || die "$key #$i: not OK before the fault: $(shown); $(tail -n 3 "$DLOG")"
		wait_probe || die "$key #$i: no probe result within 5 s"
		# stratified phase after a probe result: covers the whole cycle, worst case included
		phase=$(((i - 1) * INTERVAL_MS / REPS + RANDOM % (INTERVAL_MS / REPS)))
		sleep "$(ms "$phase")"
		mark fault "$key" "$i"
		"fault_$fault" || die "$key: fault injection failed"
		mark injected "$key" "$i"
		wait_shown FAILED 20 || echo "  ($key #$i: not FAILED within 20 s: $(shown))" >&2
		mark restore "$key" "$i"
		"restore_$fault" || die "$key: restore failed"
	done
	wait_shown OK 30 || die "$key: no recovery: $(shown)"
}

# Per trial of KEY: "degraded_ns failed_ns injection_ns after_kernel_ns" (-1: not seen), from the
# watcher log; after_kernel = from the kernel's link event (link rows) to both files written.
trials() {
	awk -v key="$1" '
	function both(a, b) { return (a && b) ? (a > b ? a : b) - t0 : -1 }
	$2 == "mark" && $4 == key && $3 == "fault" { t0 = $1; on = 1; sd = sf = ld = lf = k = 0; next }
	$2 == "mark" && $4 == key && $3 == "injected" { inj = $1 - t0; next }
	$2 == "mark" && $4 == key && $3 == "restore" {
		d = both(sd, ld)
		print d, both(sf, lf), inj, (k && d >= 0) ? d + t0 - k : -1
		on = 0; next
	}
	on && $2 == "link" && !k && ($4 == "down" || $5 == "nocarrier") { k = $1 }
	on && $2 == "status" { if (!sd && ($3 == "DEGRADED" || $3 == "FAILED")) sd = $1; if (!sf && $3 == "FAILED") sf = $1 }
	on && $2 == "led" { if (!ld && ($3 == "timer" || $3 == "default-on")) ld = $1; if (!lf && $3 == "default-on") lf = $1 }
	' "$WLOG"
}
# "median max n missing" in seconds of column COL
stats() {
	awk -v c="$1" '{ print $c }' | sort -n | awk '
	$1 < 0 { miss++; next }
	{ v[n++] = $1 }
	END {
		if (!n) { printf "- - 0 %d\n", miss; exit }
		med = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
		printf "%.3f %.3f %d %d\n", med / 1e9, v[n - 1] / 1e9, n, miss
	}'
}

echo "health bench: fault phase ($REPS runs per fault) ..." >&2
FROOT=$SB/fault
DLOG=$T/netrootd-fault.log
for fa in 1 2; do
	rm -rf "$FROOT"
	make_sandbox "$FROOT"
	write_conf "$FROOT" fault "$fa"
	start_daemon "$FROOT" "$DLOG"
	start_watch "$FROOT"
	if [ "$fa" = 1 ]; then
		run_row own own 1
		run_row peer peer 1
		run_row refused refused 1
		run_row reset reset 1
		run_row drop drop 1
	else
		run_row refused2 refused 2
		run_row reset2 reset 2
	fi
	stop_watch
	stop_pid "$DPID"
done

# ---------------------------------------------------------------- 2. idle cost
echo "health bench: idle phase (${IDLE} s, netrootd and the iscsi-ls loop side by side) ..." >&2
IROOT=$SB/idle
make_sandbox "$IROOT"
write_conf "$IROOT" idle
ILOG=$T/netrootd-idle.log
start_daemon "$IROOT" "$ILOG" # no --no-mlock: memory locked as in production
IPID=$DPID
wait_for 20 grep -q '"state": "OK"' "$IROOT/run/netroot/status.json" ||
	die "idle netrootd not OK: $(cat "$IROOT/run/netroot/status.json")"
sleep 3 # past the start-up work

# the daemon's own figures: CPU ns (schedstat), voluntary context switches, over all its threads
proc_sample() { # PID -> "cpu_ns voluntary_switches ticks"
	local p=$1 t cpu=0 vol=0 v s
	for t in /proc/"$p"/task/*; do
		read -r s _ <"$t/schedstat" && cpu=$((cpu + s))
		v=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status") && vol=$((vol + v))
	done
	# utime+stime in clock ticks, the coarse cross-check
	echo "$cpu $vol $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")"
}
probes() { awk -F'[:,]' '/"probes"/ { for (i = 1; i < NF; i++) if ($i ~ /"probes"/) { print $(i + 1) + 0; exit } }' "$IROOT/run/netroot/status.json"; }
failures() { awk -F'[:,]' '/"failures"/ { for (i = 1; i < NF; i++) if ($i ~ /"failures"/) { print $(i + 1) + 0; exit } }' "$IROOT/run/netroot/status.json"; }

# The baseline: what an admin scripts today, in /bin/sh; its rusage (itself and every child it
# reaped) is written by the wrapper when it ends. It stops after a sleep, so whole cycles count.
BSTOP=$T/baseline.stop
# shellcheck disable=SC2016 # expanded by the loop's own shell
ip netns exec "$CLI_NS" "$HW" rusage "$T/baseline.ru" sh -c '
	n=0
	while :; do
		iscsi-ls "iscsi://$1/" >/dev/null 2>&1
		n=$((n + 1))
		sleep "$2"
		[ -e "$3" ] && break
	done
	echo "$n" >"$4"' sh "$TGT_PORTAL" "$IDLE_INTERVAL" "$BSTOP" "$T/baseline.n" &
BPID=$!
track_pid "$BPID"
read -r d_cpu0 d_vol0 d_tick0 <<<"$(proc_sample "$IPID")"
p0=$(probes) f0=$(failures)
t0=$(date +%s%N)
sleep 0.5
BLOOP=$(cat "/proc/$BPID/task/$BPID/children" 2>/dev/null)
BLOOP=${BLOOP%% *}
[ -n "$BLOOP" ] || die "baseline loop did not start"
track_pid "$BLOOP" # the wrapper does not pass signals on: on an early exit, stop the loop itself
while [ $(($(date +%s%N) - t0)) -lt $((IDLE * 1000000000)) ]; do sleep 1; done
read -r d_cpu1 d_vol1 d_tick1 <<<"$(proc_sample "$IPID")"
t1=$(date +%s%N)
p1=$(probes) f1=$(failures)
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$IPID/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$IPID/status")
lck=$(awk '/^VmLck/ { print $2 }' "/proc/$IPID/status")
locked=$(grep -o '"memory_locked": [a-z]*' "$IROOT/run/netroot/status.json" | awk '{ print $2 }')
state=$(grep -o '"state": "[A-Z]*"' "$IROOT/run/netroot/status.json" | awk -F'"' '{ print $4 }')
b_rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$BLOOP/status" 2>/dev/null)
touch "$BSTOP"
wait "$BPID" 2>/dev/null
[ -s "$T/baseline.ru" ] || die "baseline loop left no rusage"
read -r b_ut b_st b_nv _ b_maxrss b_el <"$T/baseline.ru"
b_n=$(cat "$T/baseline.n")

# ---------------------------------------------------------------- tables
row() {
	local fmt="|" w
	for w in "${WIDTHS[@]}"; do fmt+=" %-${w}s |"; done
	# shellcheck disable=SC2059 # the format is built from the widths
	printf "$fmt\n" "$@"
}
sep() {
	local s="|" w
	for w in "${WIDTHS[@]}"; do s+=$(printf -- '-%.0s' $(seq $((w + 2))))"|"; done
	echo "$s"
}
echo
if [ "$QUICK" = 1 ]; then
	echo "QUICK RUN (BENCH_QUICK=1): $REPS runs per fault, ${IDLE} s idle window: indicative figures only"
	echo
fi
GOAL_PROBE=$(ms $((INTERVAL_MS + 200)))
GOAL_DROP=$(ms $((INTERVAL_MS + TIMEOUT_MS + 200)))
echo "Fault -> state, both status.json .state and LED trigger written (CLOCK_MONOTONIC, inotify)."
echo "Fault rows run with probe=discovery probe_interval=$(ms $INTERVAL_MS)s probe_timeout=$(ms $TIMEOUT_MS)s recover_after=1;"
echo "t0 = just before the fault command; faults injected at stratified phases of the probe cycle."
echo
WIDTHS=(32 10 6 17 17 17 26 7)
row fault fail_after n "DEGRADED+ med/max" "FAILED med/max" "kernel->files" goal verdict
sep
INJ_ALL=()
for row in "${ROWS[@]}"; do
	read -r key fault fa <<<"$row"
	trials "$key" >"$T/trials.$key"
	read -r dmed dmax dn dmiss <<<"$(stats 1 <"$T/trials.$key")"
	read -r fmed fmax _ <<<"$(stats 2 <"$T/trials.$key")"
	read -r kmed kmax kn _ <<<"$(stats 4 <"$T/trials.$key")"
	kcol="-"
	[ "$kn" = 0 ] || kcol="$kmed / $kmax s"
	INJ_ALL+=("$(awk '{ print $3 }' "$T/trials.$key")")
	case $fault in
	own) label="own link down (client veth down)" goal=0.100 applies="<= 0.100 s (first change)" ;;
	peer) label="peer link down (cable pulled)" goal=0.100 applies="<= 0.100 s (first change)" ;;
	refused) label="target refused (tgtd killed)" goal=$GOAL_PROBE applies="<= $GOAL_PROBE s (first change)" ;;
	reset) label="target reset (RST after SYN)" goal=$GOAL_PROBE applies="<= $GOAL_PROBE s (first change)" ;;
	drop) label="black hole (iptables DROP)" goal=$GOAL_DROP applies="<= $GOAL_DROP s (first change)" ;;
	esac
	if [ "$fa" != 1 ]; then
		applies="info (default fail_after)"
		verdict="-"
	elif [ "$dn" = 0 ] || [ "$dmiss" != 0 ]; then
		verdict=MISSED
	else
		# "kernel": missed in total, met from the kernel's link event on (netrootd's share)
		verdict=$(awk -v m="$dmax" -v g="$goal" -v k="$kmax" -v kn="$kn" \
			'BEGIN { print (m <= g) ? "ok" : (kn > 0 && k <= g) ? "kernel" : "MISSED" }')
	fi
	n="$dn"
	[ "$dmiss" = 0 ] || n="$dn+${dmiss}x"
	row "$label" "$fa" "$n" "$dmed / $dmax s" "$fmed / $fmax s" "$kcol" "$applies" "$verdict"
done
inj=$(printf '%s\n' "${INJ_ALL[@]}" | sort -n | awk '{ v[n++] = $1 } END { if (n) printf "%.1f ms median, %.1f ms max", v[int(n / 2)] / 1e6, v[n - 1] / 1e6 }')
echo
echo "DEGRADED+ = first state at least DEGRADED (the goal's 'state change'); FAILED = the FAILED"
echo "state. The fault command itself (ip/iptables/kill, counted in the figures) took $inj."
echo "kernel->files = from the kernel's RTM_NEWLINK (link down / carrier lost, seen by a netlink"
echo "listener in the client namespace) to both files written: netrootd's own share of a link row."
echo "verdict 'kernel' = the total misses the goal only by the kernel's delay in reporting the link."
echo "Goals: link faults event-driven <= 100 ms; refused/reset <= probe_interval + 0.2 s;"
echo "black hole <= probe_interval + probe_timeout + 0.2 s (all with fail_after=1)."

W=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
d_cpuh=$(awk -v c=$((d_cpu1 - d_cpu0)) -v w="$W" 'BEGIN { printf "%.3f", c / 1e9 * 3600 / w }')
d_tickh=$(awk -v c=$((d_tick1 - d_tick0)) -v w="$W" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", c / hz * 3600 / w }')
d_wk=$(awk -v v=$((d_vol1 - d_vol0)) -v w="$W" 'BEGIN { printf "%.2f", v / w }')
b_w=$(awk -v e="$b_el" 'BEGIN { printf "%.1f", e / 1e9 }')
b_cpuh=$(awk -v u="$b_ut" -v s="$b_st" -v e="$b_el" 'BEGIN { printf "%.3f", (u + s) / e * 3600 }')
# wakeups: voluntary switches, plus the first run of each child (iscsi-ls and sleep per cycle)
b_wk=$(awk -v v="$b_nv" -v n="$b_n" -v e="$b_el" 'BEGIN { printf "%.2f", (v + 2 * n) / e * 1e9 }')
b_rsst=$((${b_rss:-0} + b_maxrss))
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
verdict() { awk -v a="$1" -v g="$2" 'BEGIN { print (a <= g) ? "ok" : "MISSED" }'; }

echo
echo "Idle cost at default settings (probe=discovery every ${IDLE_INTERVAL} s, timeout 3 s, healthy tgtd;"
echo "memory locked: ${locked:-?}; state ${state:-?}); window ${W} s for netrootd ($((p1 - p0)) probes,"
echo "$((f1 - f0)) failed), ${b_w} s = ${b_n} whole cycles for the baseline, run side by side."
echo "Baseline: sh loop 'iscsi-ls iscsi://PORTAL/ >/dev/null; sleep ${IDLE_INTERVAL}' (dash, libiscsi-bin)."
echo
WIDTHS=(12 10 36 17 8 7)
row metric netrootd "baseline (iscsi-ls loop)" "netrootd/baseline" goal verdict
sep
row "CPU s / hour" "$d_cpuh" "$b_cpuh" \
	"$(ratio "$d_cpuh" "$b_cpuh")" "<= 1" "$(verdict "$d_cpuh" 1)"
row "wakeups / s" "$d_wk" "$b_wk" \
	"$(ratio "$d_wk" "$b_wk")" "<= 1" "$(verdict "$d_wk" 1)"
row "VmRSS" "$(mib "$rss")" \
	"$(mib "$b_rsst") ($(mib "${b_rss:-0}") sh + $(mib "$b_maxrss") peak)" "$(ratio "$rss" "$b_rsst")" "<= 8 MiB" \
	"$(verdict "$rss" 8192)"
row "VmLck" "$(mib "$lck")" "- (nothing locked)" "-" "= RSS" \
	"$(awk -v l="${lck:-0}" -v r="${rss:-1}" 'BEGIN { print (l >= 0.95 * r) ? "ok" : "partial" }')"
echo
echo "netrootd CPU from /proc/PID/task/*/schedstat (ns); /proc/PID/stat utime+stime gives $d_tickh s/h"
echo "(${W} s window, $(getconf CLK_TCK) Hz ticks). Wakeups = voluntary context switches of every thread;"
echo "baseline: the loop and every child it reaped (getrusage), plus the first run of each child."
echo "VmHWM of netrootd: $(mib "$hwm"). Baseline RSS = the loop shell + the largest child (iscsi-ls)."
if [ -n "${BENCH_RAW:-}" ]; then # keep the raw logs for a closer look
	mkdir -p "$BENCH_RAW" && cp "$WLOG" "$DLOG" "$ILOG" "$T/baseline.ru" "$T"/trials.* "$BENCH_RAW/"
fi
