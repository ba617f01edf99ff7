# Shared helpers for the integration tests (bash). Source it first:
#   . "$(dirname "$0")/../lib/common.sh"
# Every test gets its own temp dir ($T) and a cleanup that runs on any exit and kills, by PID,
# every process registered with track_pid.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
NETROOTD=$BUILD/netrootd
NETROOTCTL=$BUILD/netrootctl
T=$(mktemp -d /tmp/netroot-it.XXXXXX)
_pids=()
_cleanups=()

track_pid() { _pids+=("$1"); }
on_cleanup() { _cleanups+=("$1"); }

_run_cleanup() {
	local rc=$? i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
	for p in "${_pids[@]}"; do
		kill "$p" 2>/dev/null && { for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null; }
	done
	wait 2>/dev/null
	rm -rf "$T"
	exit $rc
}
trap _run_cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
pass() { echo "ok - $*"; }

assert_eq() { # actual expected what
	[ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
	pass "$3"
}
assert_contains() { # haystack needle what
	case $1 in *"$2"*) pass "$3" ;; *) fail "$3: '$2' not found in: $1" ;; esac
}
assert_not_contains() {
	case $1 in *"$2"*) fail "$3: '$2' must not appear in: $1" ;; *) pass "$3" ;; esac
}
assert_file_contains() { # file needle what
	grep -qF -- "$2" "$1" || fail "$3: '$2' not in $1: $(tail -n 20 "$1")"
	pass "$3"
}

# wait_for SECONDS COMMAND... : polls every 20 ms until COMMAND succeeds.
wait_for() {
	local deadline=$(($(date +%s%N) + ${1%.*} * 1000000000)); shift
	until "$@" 2>/dev/null; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.02
	done
}

# A sandbox Pi tree under $1: a fake activity LED in the kernel's sysfs format (FAKE: the host
# has no Pi LED; the trigger file lists every trigger with the active one in brackets, as the
# kernel prints it), and a config file.
make_sandbox() {
	local root=$1
	mkdir -p "$root/sys/class/leds/ACT" "$root/etc/netroot" "$root/run" "$root/boot"
	echo "none rc-feedback kbd-scrolllock timer oneshot heartbeat backlight gpio cpu cpu0 default-on input panic mmc1 [mmc0] rfkill-any" \
		>"$root/sys/class/leds/ACT/trigger"
	# The kernel creates these when the timer trigger is set; plain files stand in for them.
	echo 500 >"$root/sys/class/leds/ACT/delay_on"
	echo 500 >"$root/sys/class/leds/ACT/delay_off"
	cat >"$root/etc/netroot/agent.conf" <<-CONF
	[agent]
	boot_dir = /boot
	run_dir = /run/netroot
	state_dir = /var/lib/netroot
	[led]
	enabled = yes
	device = auto
	[ipv6]
	mode = keep
	[iscsi]
	probe = off
	CONF
	chmod 600 "$root/etc/netroot/agent.conf"
}

# led_kernel_view ROOT: FAKE: a plain file keeps the one name netrootd wrote, where the kernel's
# trigger file would show its whole list with that name in brackets; this rewrites the file the
# kernel's way, as a daemon starting next would read it.
led_kernel_view() {
	local f=$1/sys/class/leds/ACT/trigger active
	active=$(tr -d '[]\n' <"$f")
	case $active in *" "*) return 0 ;; esac # already a list
	echo "none rc-feedback kbd-scrolllock timer oneshot heartbeat backlight gpio cpu cpu0 default-on input panic mmc1 mmc0 rfkill-any" |
		sed "s/\(^\| \)$active\( \|\$\)/\1[$active]\2/" >"$f"
}

# start_netrootd ROOT [ARGS...]: starts the daemon in the background with stderr logging into
# $T/netrootd.log, records its PID in NETROOTD_PID and waits for status.json.
start_netrootd() {
	local root=$1; shift
	"$NETROOTD" --root "$root" --log-target stderr --no-mlock "$@" >>"$T/netrootd.log" 2>&1 &
	NETROOTD_PID=$!
	track_pid "$NETROOTD_PID"
	wait_for 10 test -s "$root/run/netroot/status.json" \
		|| fail "netrootd did not write status.json: $(cat "$T/netrootd.log")"
}

status_field() { # ROOT JQ-FILTER
	jq -r "$2" "$1/run/netroot/status.json"
}
