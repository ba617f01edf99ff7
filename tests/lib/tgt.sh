# shellcheck shell=bash
# A real iSCSI target for integration tests: tgtd in a network namespace of its own, reached from
# a second namespace over a veth pair, with fault injection (kill, link down on either side,
# iptables DROP/REJECT, target removal, CHAP). Namespaces only: no host address is ever touched.
#
# Sourced, never run. Needs root, iproute2, tgt (tgtd, tgtadm), iptables.
#
#   tgt_lab_setup            namespaces + veth + addresses; sets TGT_NS CLI_NS TGT_IF CLI_IF
#                            TGT_ADDR CLI_ADDR TGT_PORT TGT_PORTAL TGT_CTL TGT_DIR
#   tgt_start                start tgtd (foreground, setsid, own -C port) in TGT_NS; sets TGT_PID
#   tgt_add_target TID IQN [SIZE]   target + LUN 1 on a sparse file, open to every initiator
#   tgt_add_chap TID USER PASS      account bound to the target (CHAP required from then on)
#   tgt_del_target TID       remove a target (also with sessions on it)
#   tgt_kill                 SIGKILL tgtd by PID (it ignores SIGTERM) and reap it
#   tgt_restart              kill, start again (a restarted tgtd has no targets)
#   tgt_link own|peer down|up       client side (own) or target side (peer, the pulled cable)
#   tgt_fw_drop              iptables DROP of the portal's port in TGT_NS (silent black hole)
#   tgt_fw_reject [syn|established] REJECT with tcp-reset: every packet (the SYN too, which
#                            the client sees as "refused") or only after the handshake ("reset")
#   tgt_acl_initiators TID NAME...  the target admits these initiator names only (tgtd's name
#                            ACL: other names are refused at login and not listed by discovery)
#   tgt_acl_open TID NAME... removes those names: the target is open to every initiator again
#   tgt_fw_clear             remove every rule tgt_fw_* added
#   cli_exec CMD...          run CMD in the client namespace
#   tgt_adm ARGS...          tgtadm on this lab's tgtd
#   tgt_cleanup              kill by PID, delete namespaces, remove files; registered on EXIT
#
# tgtd's control socket is a file shared across namespaces (/var/run/tgtd/socket.N): every lab
# gets its own N. Names carry $$ and a random suffix, so parallel runs do not collide.

TGT_PID=
TGT_NS=
CLI_NS=
TGT_DIR=
TGT_CTL=
TGT_FW_RULES=()
_TGT_CLEANED=0

_tgt_log() {
	echo "tgt: $*" >&2
}

# The prerequisites; prints what is missing and returns 1 (callers turn that into a skip).
tgt_lab_check() {
	local missing=() c
	[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, tgtd)"; return 1; }
	for c in ip tgtd tgtadm iptables; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "missing ${missing[*]} (make deps)"
		return 1
	fi
	return 0
}

_tgt_subnet_used() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in nrt-*) ;; *) continue ;; esac
		ip -n "$ns" -4 addr show 2>/dev/null | grep -q "inet 10\.99\.$1\." && return 0
	done
	return 1
}

tgt_lab_setup() {
	local suffix x tries=0
	suffix=$$-$RANDOM
	TGT_NS=nrt-t-$suffix
	CLI_NS=nrt-c-$suffix
	TGT_IF=nrt-vt$RANDOM
	CLI_IF=nrt-vc$RANDOM
	TGT_DIR=$(mktemp -d /tmp/netroot-tgt.XXXXXX) || return 1
	if declare -F on_cleanup >/dev/null; then
		on_cleanup tgt_cleanup # common.sh's EXIT trap runs it
	else
		trap tgt_cleanup EXIT
	fi
	while :; do
		x=$(((RANDOM + $$) % 254 + 1))
		_tgt_subnet_used "$x" || break
		tries=$((tries + 1))
		[ $tries -lt 50 ] || { _tgt_log "no free 10.99.X.0/24"; return 1; }
	done
	TGT_ADDR=10.99.$x.1
	CLI_ADDR=10.99.$x.2
	TGT_PORT=3260
	TGT_PORTAL=$TGT_ADDR:$TGT_PORT
	ip netns add "$TGT_NS" || return 1
	ip netns add "$CLI_NS" || return 1
	ip link add "$TGT_IF" netns "$TGT_NS" type veth peer name "$CLI_IF" netns "$CLI_NS" || return 1
	ip -n "$TGT_NS" addr add "$TGT_ADDR/24" dev "$TGT_IF" || return 1
	ip -n "$CLI_NS" addr add "$CLI_ADDR/24" dev "$CLI_IF" || return 1
	ip -n "$TGT_NS" link set lo up && ip -n "$CLI_NS" link set lo up || return 1
	ip -n "$TGT_NS" link set "$TGT_IF" up && ip -n "$CLI_NS" link set "$CLI_IF" up || return 1
	return 0
}

cli_exec() {
	ip netns exec "$CLI_NS" "$@"
}

tgt_adm() {
	tgtadm -C "$TGT_CTL" --lld iscsi "$@"
}

_tgt_pick_ctl() {
	local n tries=0
	while :; do
		n=$((1000 + ($$ * 31 + RANDOM) % 31000)) # tgtd refuses -C above 32767
		[ -e "/var/run/tgtd/socket.$n" ] || [ -e "/var/run/tgtd/socket.$n.lock" ] || break
		tries=$((tries + 1))
		[ $tries -lt 50 ] || return 1
	done
	TGT_CTL=$n
}

tgt_start() {
	local _
	[ -n "$TGT_CTL" ] || _tgt_pick_ctl || { _tgt_log "no free tgtd control port"; return 1; }
	ip netns exec "$TGT_NS" setsid tgtd -f -C "$TGT_CTL" --iscsi "portal=$TGT_PORTAL" \
		>>"$TGT_DIR/tgtd.log" 2>&1 </dev/null &
	TGT_PID=$!
	# `ip netns exec` and setsid both exec (no fork here: a background job is no group leader),
	# so $! is tgtd itself.
	for _ in $(seq 100); do
		if ! kill -0 "$TGT_PID" 2>/dev/null; then
			_tgt_log "tgtd exited: $(tail -n 5 "$TGT_DIR/tgtd.log")"
			return 1
		fi
		tgt_adm --op show --mode target >/dev/null 2>&1 && break
		sleep 0.05
	done
	[ "$(cat "/proc/$TGT_PID/comm" 2>/dev/null)" = tgtd ] || {
		_tgt_log "PID $TGT_PID is not tgtd"
		return 1
	}
	# the portal is listening once tgtadm answers, but check the socket anyway
	for _ in $(seq 100); do
		ip netns exec "$TGT_NS" ss -Hltn "sport = :$TGT_PORT" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	_tgt_log "tgtd does not listen on $TGT_PORTAL: $(tail -n 5 "$TGT_DIR/tgtd.log")"
	return 1
}

tgt_add_target() {
	local tid=$1 iqn=$2 size=${3:-16M} img
	img=$TGT_DIR/lun-$tid.img
	[ -e "$img" ] || truncate -s "$size" "$img" || return 1
	tgt_adm --op new --mode target --tid "$tid" -T "$iqn" &&
		tgt_adm --op new --mode logicalunit --tid "$tid" --lun 1 -b "$img" &&
		tgt_adm --op bind --mode target --tid "$tid" -I ALL
}

tgt_add_chap() {
	local tid=$1 user=$2 pass=$3
	tgt_adm --op new --mode account --user "$user" --password "$pass" &&
		tgt_adm --op bind --mode account --tid "$tid" --user "$user"
}

# tgtd admits a login when EITHER its address ACL or its name ACL matches: with the address ACL
# "ALL" that tgt_add_target binds, a name ACL refuses nobody. So the names go in first and ALL
# comes out; tgt_acl_open puts ALL back.
tgt_acl_initiators() {
	local tid=$1 name
	shift
	for name; do
		tgt_adm --op bind --mode target --tid "$tid" --initiator-name "$name" || return 1
	done
	tgt_adm --op unbind --mode target --tid "$tid" -I ALL
}

tgt_acl_open() {
	local tid=$1 name
	shift
	tgt_adm --op bind --mode target --tid "$tid" -I ALL || return 1
	for name; do
		tgt_adm --op unbind --mode target --tid "$tid" --initiator-name "$name" || return 1
	done
}

tgt_del_target() {
	tgt_adm --op delete --force --mode target --tid "$1"
}

tgt_kill() {
	[ -n "$TGT_PID" ] || return 0
	kill -9 "$TGT_PID" 2>/dev/null
	wait "$TGT_PID" 2>/dev/null
	TGT_PID=
	rm -f "/var/run/tgtd/socket.$TGT_CTL" "/var/run/tgtd/socket.$TGT_CTL.lock"
	return 0
}

tgt_restart() {
	tgt_kill && tgt_start
}

tgt_link() { # own|peer up|down
	case $1 in
	own) ip -n "$CLI_NS" link set "$CLI_IF" "$2" ;;
	peer) ip -n "$TGT_NS" link set "$TGT_IF" "$2" ;;
	*) _tgt_log "tgt_link: own or peer, not '$1'"; return 1 ;;
	esac
}

_tgt_fw_add() {
	ip netns exec "$TGT_NS" iptables -w -I INPUT "$@" || return 1
	TGT_FW_RULES+=("$*")
}

tgt_fw_drop() {
	_tgt_fw_add -p tcp --dport "$TGT_PORT" -j DROP
}

tgt_fw_reject() {
	case ${1:-syn} in
	syn) _tgt_fw_add -p tcp --dport "$TGT_PORT" -j REJECT --reject-with tcp-reset ;;
	established) _tgt_fw_add -p tcp --dport "$TGT_PORT" ! --syn -j REJECT --reject-with tcp-reset ;;
	*) _tgt_log "tgt_fw_reject: syn or established"; return 1 ;;
	esac
}

tgt_fw_clear() {
	local rule
	for rule in "${TGT_FW_RULES[@]}"; do
		# shellcheck disable=SC2086 # a rule is a word list on purpose
		ip netns exec "$TGT_NS" iptables -w -D INPUT $rule 2>/dev/null
	done
	TGT_FW_RULES=()
}

tgt_cleanup() {
	local rc=$?
	[ "$_TGT_CLEANED" = 0 ] || return $rc
	_TGT_CLEANED=1
	tgt_kill
	[ -z "$CLI_NS" ] || ip netns del "$CLI_NS" 2>/dev/null
	[ -z "$TGT_NS" ] || ip netns del "$TGT_NS" 2>/dev/null
	[ -z "$TGT_DIR" ] || rm -rf "$TGT_DIR"
	return $rc
}
