#!/bin/bash
# Journal output for real: a private systemd-journald in a private mount namespace (tmpfs over
# /run, so the machine's own journal is untouched), netrootd logging natively to it; asserts the
# MESSAGE_IDs and structured fields, and that journalctl -x explains them from our catalog.
if [ -z "${NETROOT_IN_PRIVATE_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private mount namespace"; exit 77; }
	NETROOT_IN_PRIVATE_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../lib/common.sh"

JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || fail "systemd-journald missing (package systemd; make deps installs it)"
mount -t tmpfs tmpfs /run || fail "cannot mount a private /run"
mkdir -p /run/systemd/journal /run/log/journal
if [ -f "$TOP/units/netroot-agent.catalog" ]; then
	mkdir -p "$T/catalog-src" "$T/catalog-db"
	cp "$TOP/units/netroot-agent.catalog" "$T/catalog-src/"
	mount --bind "$T/catalog-src" /usr/lib/systemd/catalog
	mkdir -p /var/lib/systemd/catalog
	mount --bind "$T/catalog-db" /var/lib/systemd/catalog
	journalctl --update-catalog || fail "journalctl --update-catalog rejects our catalog"
fi
"$JOURNALD" &
track_pid $!
wait_for 5 test -S /run/systemd/journal/socket || fail "journald did not start"

S=$T/root
make_sandbox "$S"
"$NETROOTD" --root "$S" --log-target journal --no-mlock &
pid=$!
track_pid "$pid"
wait_for 5 test -s "$S/run/netroot/status.json" || fail "netrootd did not start"
kill -HUP "$pid"
sleep 0.3
kill -TERM "$pid"; wait "$pid"
sleep 0.3
J() { journalctl -D /run/log/journal --no-pager "$@"; }

id_of() { sed -n "s/^#define MSGID_$1 *\"\(.*\)\"/\1/p" "$TOP/agent/msgid.h"; }
for ev in DAEMON_STARTED LED_SET CONFIG_RELOADED DAEMON_STOPPING; do
	id=$(id_of $ev)
	[ -n "$id" ] || fail "no MSGID_$ev"
	out=$(J MESSAGE_ID="$id" -o cat)
	[ -n "$out" ] || fail "no journal entry with MESSAGE_ID of $ev: $(J -o verbose | tail -40)"
	pass "$ev logged with MESSAGE_ID=$id: $out"
done
out=$(J MESSAGE_ID="$(id_of LED_SET)" -o verbose)
assert_contains "$out" "NETROOT_LED_TRIGGER=heartbeat" "LED event carries NETROOT_LED_TRIGGER"
assert_contains "$out" "NETROOT_STATE=OK" "LED event carries NETROOT_STATE"
assert_contains "$out" "SYSLOG_IDENTIFIER=netrootd" "identifier netrootd"
if [ -f "$TOP/units/netroot-agent.catalog" ]; then
	out=$(J -x MESSAGE_ID="$(id_of DAEMON_STARTED)")
	assert_contains "$out" "Documentation: man:netrootd(8)" "journalctl -x shows our catalog entry"
fi
