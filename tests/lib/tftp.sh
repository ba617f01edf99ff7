# shellcheck shell=bash
# A real TFTP server for integration tests: tftpd-hpa on 127.0.0.1 only, on a free random port
# in 20000-60000, serving one folder. Sourced after common.sh, never run.
#
#   tftp_check          prints what is missing and returns 1 (callers turn that into a skip)
#   tftp_start DIR      starts in.tftpd (foreground, --secure = chroot to DIR) in the background,
#                       registers it with track_pid, sets TFTP_PID and TFTP_PORT and prints the
#                       port. Call it directly, not inside $(...): a subshell would lose the PID
#                       registration (it refuses to run there).
#   tftp_stop           stops the server by PID (also done by common.sh's cleanup)
#
# in.tftpd chroots into DIR and drops to the tftp user: DIR and its files must be world-readable;
# tftp_start makes DIR 0755. It logs only to syslog: there is no log file to show.

# shellcheck disable=SC2034 # read by the tests that source this
TFTP_PID=
TFTP_PORT=

tftp_check() {
	[ "$(id -u)" = 0 ] || { echo "needs root (in.tftpd --secure chroots)"; return 1; }
	command -v in.tftpd >/dev/null 2>&1 || { echo "in.tftpd missing (make deps: tftpd-hpa)"; return 1; }
	command -v ss >/dev/null 2>&1 || { echo "ss missing (make deps: iproute2)"; return 1; }
	return 0
}

_tftp_port_used() {
	ss -Hlun "sport = :$1" 2>/dev/null | grep -q .
}

tftp_start() {
	local dir=$1 port tries _
	if [ "${BASH_SUBSHELL:-0}" -gt 0 ]; then
		echo "tftp_start: called in a subshell; its PID would not be tracked" >&2
		return 1
	fi
	[ -d "$dir" ] || { echo "tftp_start: no folder $dir" >&2; return 1; }
	chmod 0755 "$dir" || return 1
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 40001))
		_tftp_port_used "$port" && continue
		in.tftpd --foreground --address "127.0.0.1:$port" --secure --create "$dir" \
			</dev/null >/dev/null 2>&1 &
		TFTP_PID=$!
		track_pid "$TFTP_PID"
		for _ in $(seq 50); do
			kill -0 "$TFTP_PID" 2>/dev/null || break
			if ss -Hlunp "sport = :$port" 2>/dev/null | grep -q "pid=$TFTP_PID,"; then
				TFTP_PORT=$port
				echo "$port"
				return 0
			fi
			sleep 0.02
		done
		# lost a race for the port, or it did not come up: kill it and try another port
		kill "$TFTP_PID" 2>/dev/null
		wait "$TFTP_PID" 2>/dev/null
		TFTP_PID=
		echo "tftp_start: attempt $tries on port $port failed" >&2
	done
	echo "tftp_start: in.tftpd did not start" >&2
	return 1
}

# shellcheck disable=SC2034
tftp_stop() {
	[ -n "$TFTP_PID" ] || return 0
	kill "$TFTP_PID" 2>/dev/null
	wait "$TFTP_PID" 2>/dev/null
	TFTP_PID=
	TFTP_PORT=
	return 0
}
