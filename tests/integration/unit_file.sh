#!/bin/bash
# units/netrootd.service: `systemd-analyze verify` is clean (with ExecStart pointing at the built
# daemon and the man pages of this tree on MANPATH, as both exist once installed), the sandbox
# leaves the daemon what it needs, and the offline security exposure score is at most 3.5.
. "$(dirname "$0")/../lib/common.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (package systemd)"
command -v man >/dev/null || skip "man not installed (package man-db): verify checks Documentation="
[ -x "$NETROOTD" ] || fail "$NETROOTD not built (run make)"

UNIT=$TOP/units/netrootd.service
[ -f "$UNIT" ] || fail "$UNIT missing"

# The installed unit runs /usr/sbin/netrootd; here it runs the binary of this build.
grep -qx 'ExecStart=/usr/sbin/netrootd' "$UNIT" || fail "ExecStart is not /usr/sbin/netrootd"
mkdir -p "$T/unit" "$T/man/man5" "$T/man/man8"
sed "s#^ExecStart=/usr/sbin/netrootd#ExecStart=$NETROOTD#" "$UNIT" >"$T/unit/netrootd.service"
cp "$TOP"/man/*.8 "$T/man/man8/"
cp "$TOP"/man/*.5 "$T/man/man5/"

MANPATH=$T/man systemd-analyze verify "$T/unit/netrootd.service" >"$T/verify.log" 2>&1
rc=$?
cat "$T/verify.log"
[ "$rc" = 0 ] || fail "systemd-analyze verify exited $rc"
[ ! -s "$T/verify.log" ] || fail "systemd-analyze verify printed warnings"
pass "systemd-analyze verify is clean"

# What the daemon must keep being able to do (see the comments in the unit).
prop() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }
assert_eq "$(prop Type)" notify "Type"
assert_eq "$(prop NotifyAccess)" main "NotifyAccess"
assert_eq "$(prop WatchdogSec)" 30s "WatchdogSec"
assert_eq "$(prop LimitCORE)" 0 "LimitCORE=0: no core file holding the CHAP secret"
# shellcheck disable=SC2016 # $MAINPID is systemd's, not the shell's
assert_eq "$(prop ExecReload)" '/bin/kill -HUP $MAINPID' "ExecReload"
assert_eq "$(prop RuntimeDirectory)" netroot "RuntimeDirectory"
assert_eq "$(prop StateDirectory)" netroot "StateDirectory"
assert_eq "$(prop ProtectSystem)" strict "ProtectSystem"
[ -z "$(prop ProtectKernelTunables)" ] || fail "ProtectKernelTunables= set: LED and IPv6 sysctl writes would fail"
pass "/sys and /proc/sys stay writable"
rw=$(prop ReadWritePaths)
assert_contains " $rw " " -/boot " "ReadWritePaths has the optional boot folder"
assert_contains " $rw " " -/etc/sysctl.d " "ReadWritePaths has /etc/sysctl.d"
assert_contains " $(prop InaccessiblePaths) " " -/run/nscd " "no way to nscd (it hangs with the root filesystem)"
caps=$(prop CapabilityBoundingSet)
assert_contains "$caps" CAP_NET_ADMIN "CAP_NET_ADMIN kept"
assert_contains "$caps" CAP_IPC_LOCK "CAP_IPC_LOCK kept"
assert_not_contains "$caps" CAP_SYS_ADMIN "no CAP_SYS_ADMIN"
for fam in AF_NETLINK AF_INET AF_INET6 AF_UNIX; do
	assert_contains " $(prop RestrictAddressFamilies) " " $fam " "$fam allowed"
done

if ! systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
	echo "note: this systemd-analyze has no 'security --offline': exposure score not checked"
	exit 0
fi
systemd-analyze security --offline=yes "$T/unit/netrootd.service" >"$T/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for netrootd.service: \([0-9.]*\).*/\1/p' "$T/security.log")
[ -n "$score" ] || fail "no exposure score in: $(cat "$T/security.log")"
grep '✗' "$T/security.log" || true
echo "exposure score: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 3.5) }' || fail "exposure score $score is above 3.5"
pass "exposure score $score <= 3.5"

# The boot decision unit: verify clean; wanted by multi-user.target (a target every booted Pi
# reaches) and never ordered before it (Type=exec: the decision may take confirm_timeout).
B=$TOP/units/netroot-confirm.service
sed "s#^ExecStart=/usr/sbin/netrootctl#ExecStart=$NETROOTCTL#" "$B" >"$T/unit/netroot-confirm.service"
MANPATH=$T/man:/usr/share/man systemd-analyze verify "$T/unit/netroot-confirm.service" >"$T/verify2.log" 2>&1 ||
	fail "verify netroot-confirm.service: $(cat "$T/verify2.log")"
[ ! -s "$T/verify2.log" ] || fail "verify printed: $(cat "$T/verify2.log")"
pass "netroot-confirm.service verifies clean"
grep -qx 'WantedBy=multi-user.target' "$B" || fail "not wanted by multi-user.target"
grep -qx 'Type=exec' "$B" || fail "not Type=exec: multi-user.target would wait for the decision"
grep -q '^Before=.*multi-user.target' "$B" && fail "ordered before multi-user.target: boot would wait"
grep -q 'boot-complete.target' "$B" && fail "still wired to boot-complete.target (nothing on a Pi reaches it)"
grep -qx 'ExecStart=/usr/sbin/netrootctl confirm --wait' "$B" || fail "ExecStart is not netrootctl confirm --wait"
pass "boot decision: wanted by multi-user.target, Type=exec, runs netrootctl confirm --wait"
