#!/bin/bash
# REBOOT STAND-IN for the Ansible tests (tests/integration/fleet_ansible.sh): a sandbox Pi cannot
# reboot, so this does what a reboot does to the agent, and says so. For the sandbox tree ROOT:
#   - stops what ran in the previous "boot" (netrootd, netrootctl confirm, the uptime ticker: by
#     the PIDs in STATE/*.pid);
#   - a new boot: ROOT/proc/uptime starts again at 1 s and a ticker advances it every second; with --other-kernel the running kernel
#     (ROOT/proc/sys/kernel/osrelease) is another than the one the upgrade installed (the boot
#     that comes up on the wrong kernel);
#   - starts netrootd --root ROOT again, and `netrootctl --root ROOT confirm --wait --no-reboot`
#     as netroot-confirm.service does at boot; their PIDs go to STATE/*.pid for the test's
#     cleanup (by PID).
# Usage: reboot_standin.sh NETROOTD NETROOTCTL ROOT STATE [--other-kernel]
set -u
netrootd=$1 netrootctl=$2 root=$3 state=$4 other=${5:-}
mkdir -p "$state"
for f in "$state"/*.pid; do
	[ -f "$f" ] || continue
	while read -r pid; do
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done <"$f"
	rm -f "$f"
done
rm -f "$root/run/netroot/status.json"
echo "1 1" >"$root/proc/uptime"
setsid bash -c 'for ((s = 2; ; s++)); do sleep 1; echo "$s $s" >"$0/proc/uptime.new" && mv "$0/proc/uptime.new" "$0/proc/uptime"; done' \
	"$root" >/dev/null 2>&1 </dev/null &
echo $! >"$state/ticker.pid"
if [ "$other" = --other-kernel ]; then
	echo "6.1.0-0-wrong-amd64" >"$root/proc/sys/kernel/osrelease"
fi
setsid "$netrootd" --root "$root" --log-target stderr --no-mlock >>"$state/netrootd.log" 2>&1 </dev/null &
echo $! >"$state/netrootd.pid"
for _ in $(seq 100); do [ -s "$root/run/netroot/status.json" ] && break; sleep 0.1; done
setsid "$netrootctl" --root "$root" confirm --wait --no-reboot >>"$state/confirm.log" 2>&1 </dev/null &
echo $! >"$state/confirm.pid"
echo "REBOOT STAND-IN (no real reboot): netrootd restarted (pid $(cat "$state/netrootd.pid")), netrootctl confirm --wait started (pid $!)${other:+, booted another kernel ($other)}"
