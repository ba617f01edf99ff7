#!/bin/bash
# The CHAP password never leaves the files that hold it. Sources, each with its own distinctive
# value: agent.conf [iscsi] password, cmdline.txt in the boot folder (ISCSI_PASSWORD=,
# ISCSI_IN_PASSWORD=, root=iscsi:user:pass@…), the kernel command line the daemon reads
# (/proc/cmdline) and the initramfs's /etc/iscsi/iscsi.initramfs. Outputs searched for any of
# them: netrootctl status (text and --json), status.json, the metrics file, the journal (a real
# systemd-journald in a private mount namespace, every field of every entry), stdout and stderr
# of every command, including the error paths (CHAP rejected by a real tgtd, an unknown target,
# a broken iscsi.initramfs line, a refused upgrade), and the argv and environment of every
# process started (strace -f -v -e trace=execve).
if [ -z "${NETROOT_IN_PRIVATE_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private mount namespace"; exit 77; }
	NETROOT_IN_PRIVATE_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/tgt.sh
. "$TOP/tests/lib/tgt.sh"

JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || fail "systemd-journald missing (make deps)"
command -v strace >/dev/null || fail "strace missing (make deps)"
# LeakSanitizer cannot run under ptrace (strace): on the ASan build it would fail every traced
# command. Leaks are the soak's and the other tests' business; here only the exits and texts count.
[ "${SANITIZE:-0}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
why=$(tgt_lab_check) || skip "$why"
[ -x "$NETROOTD" ] && [ -x "$NETROOTCTL" ] || fail "not built (make)"
t_start=$(date +%s)

# A private /run: our own journald (the machine's journal is not touched), and the namespaces
# and tgtd socket of this test live there too.
mount -t tmpfs tmpfs /run || fail "cannot mount a private /run"
mkdir -p /run/systemd/journal /run/log/journal /run/tgtd /run/netns
"$JOURNALD" &
track_pid $!
wait_for 5 test -S /run/systemd/journal/socket || fail "journald did not start"

tgt_lab_setup || skip "cannot create network namespaces here"
tgt_start || fail "tgtd did not start"
IQN=iqn.2016-11.org.example:secrets-$$
tgt_add_target 1 "$IQN" || fail "tgtadm target"

MARK=nrS3cr3t # every password starts with it: one grep finds any of them
rnd=$RANDOM$RANDOM
PW_CONF=$MARK-conf-$rnd
PW_CMDLINE=$MARK-cmdl-$rnd
PW_IN=$MARK-inpw-$rnd
PW_ROOTARG=$MARK-root-$rnd
PW_PROC=$MARK-proc-$rnd
PW_INITRAMFS=$MARK-init-$rnd
tgt_add_chap 1 piuser "wrong-on-purpose-$rnd" || fail "tgtadm chap"

S=$T/root
make_sandbox "$S"
mkdir -p "$S/etc/iscsi" "$S/proc" "$S/boot"
cat >"$S/etc/netroot/agent.conf" <<EOF
[agent]
boot_dir = /boot
run_dir = /run/netroot
state_dir = /var/lib/netroot
metrics_file = /run/netroot/metrics.prom
[led]
enabled = yes
[ipv6]
mode = keep
[iscsi]
probe = login
portal = $TGT_PORTAL
target = $IQN
username = piuser
password = $PW_CONF
probe_interval = 200ms
probe_timeout = 2s
fail_after = 1
recover_after = 1
EOF
chmod 600 "$S/etc/netroot/agent.conf"
printf 'kernel=kernel7.img\ninitramfs initrd.img-1 followkernel\n' >"$S/boot/config.txt"
: >"$S/boot/kernel7.img"
echo "not an initramfs" >"$S/boot/initrd.img-1"
echo "console=tty1 root=iscsi:piuser:$PW_ROOTARG@$TGT_ADDR:6:3260:1:$IQN ISCSI_INITIATOR=iqn.2016-11.org.example:pi ISCSI_TARGET_NAME=$IQN ISCSI_TARGET_IP=$TGT_ADDR ISCSI_USERNAME=piuser ISCSI_PASSWORD=$PW_CMDLINE ISCSI_IN_USERNAME=nas ISCSI_IN_PASSWORD=$PW_IN rw" \
	>"$S/boot/cmdline.txt"
echo "console=tty1 ISCSI_INITIATOR=iqn.2016-11.org.example:pi ISCSI_TARGET_NAME=$IQN ISCSI_TARGET_IP=$TGT_ADDR ISCSI_TARGET_PORT=3260 ISCSI_USERNAME=piuser ISCSI_PASSWORD=$PW_PROC rw" \
	>"$S/proc/cmdline"
printf 'ISCSI_USERNAME=piuser\nISCSI_PASSWORD="%s"\n' "$PW_INITRAMFS" >"$S/etc/iscsi/iscsi.initramfs"
mkdir -p "$S/proc/device-tree" && printf 'Raspberry Pi 3 Model B Rev 1.2\0' >"$S/proc/device-tree/model"
printf 'Serial\t\t: 00000000511e57f7\n' >"$S/proc/cpuinfo"
echo "bad-$rnd" >"$T/wrong.pw" # a wrong password of the admin's, not one of ours
echo "$PW_CONF" >"$T/right.pw"
chmod 600 "$T"/*.pw

OUT=$T/collect # everything the agent printed, wrote or logged, and every exec it made
mkdir -p "$OUT"
n=0
# run EXPECTED-EXIT WHAT CMD...: CMD under strace (argv and environment of every exec), with
# stdout and stderr kept; in the client namespace, where the portal is reachable.
run() {
	local want=$1 what=$2 rc
	shift 2
	n=$((n + 1))
	cli_exec strace -f -v -s 4096 -e trace=execve -o "$OUT/exec.$n" "$@" >"$OUT/out.$n" 2>"$OUT/err.$n"
	rc=$?
	[ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want: $(cat "$OUT/out.$n" "$OUT/err.$n")"
	[ -s "$OUT/exec.$n" ] || fail "$what: strace recorded nothing"
	pass "$what: exit $want"
}
ctl() { echo "$NETROOTCTL" --root "$S"; }

# --- the daemon: CHAP rejected, then accepted, then an unknown target (reload) ---
cli_exec strace -f -v -s 4096 -e trace=execve -o "$OUT/exec.daemon" \
	"$NETROOTD" --root "$S" --log-target journal --no-mlock >"$OUT/daemon.out" 2>"$OUT/daemon.err" &
STRACE=$!
track_pid $STRACE
wait_for 10 test -s "$S/run/netroot/status.json" || fail "netrootd did not start: $(cat "$OUT/daemon.err")"
DPID=$(jq -r .pid "$S/run/netroot/status.json")
track_pid "$DPID"
reasons() { jq -r '[.reasons[]?.text] | join("; ")' "$S/run/netroot/status.json" 2>/dev/null; }
wait_for 15 sh -c "grep -q 'CHAP' '$S/run/netroot/status.json'" ||
	fail "no CHAP failure in status.json: $(cat "$S/run/netroot/status.json")"
pass "daemon: the portal rejects its CHAP login ($(reasons))"
cp "$S/run/netroot/status.json" "$OUT/status.chap-rejected.json"
cp "$S/run/netroot/metrics.prom" "$OUT/metrics.chap-rejected.prom" 2>/dev/null
run 1 "status while CHAP is rejected" $(ctl) status
run 1 "status --json while CHAP is rejected" $(ctl) status --json
tgt_adm --op delete --mode account --user piuser || fail "tgtadm delete account"
tgt_add_chap 1 piuser "$PW_CONF" || fail "tgtadm chap"
wait_for 15 sh -c "jq -e '.state == \"OK\"' '$S/run/netroot/status.json' >/dev/null" ||
	fail "daemon did not log in with the configured password: $(cat "$S/run/netroot/status.json")"
pass "daemon: logged in with [iscsi] password (the secret was really used)"
run 0 "status when OK" $(ctl) status
run 0 "status --json when OK" $(ctl) status --json
cp "$S/run/netroot/status.json" "$OUT/status.ok.json"
cp "$S/run/netroot/metrics.prom" "$OUT/metrics.ok.prom" || fail "no metrics file"
sed -i "s/^target = .*/target = $IQN-gone/" "$S/etc/netroot/agent.conf"
kill -HUP "$DPID"
wait_for 15 sh -c "jq -e '.state != \"OK\"' '$S/run/netroot/status.json' >/dev/null" ||
	fail "unknown target not noticed"
pass "daemon: unknown target after reload ($(reasons))"
cp "$S/run/netroot/status.json" "$OUT/status.badtarget.json"
# target and portal "auto": taken from the boot parameters, password from iscsi.initramfs
# (which wins over ISCSI_PASSWORD on the command line), wrong for this portal
sed -i -e "s/^target = .*/target = auto/" -e "s/^portal = .*/portal = auto/" \
	-e "/^username = /d" -e "/^password = /d" "$S/etc/netroot/agent.conf"
kill -HUP "$DPID"
wait_for 15 sh -c "grep -q 'CHAP rejected by portal $TGT_ADDR:3260' '$S/run/netroot/status.json'" ||
	fail "boot-parameter CHAP not used: $(cat "$S/run/netroot/status.json")"
pass "daemon: portal and target from the boot parameters, the iscsi.initramfs password rejected ($(reasons))"
cp "$S/run/netroot/status.json" "$OUT/status.auto.json"
cp "$S/run/netroot/metrics.prom" "$OUT/metrics.auto.prom"
run 1 "status with boot-parameter CHAP" $(ctl) status
kill -TERM "$DPID"
wait "$STRACE"
sleep 0.3
pass "daemon stopped"

# --- netrootctl, each with its errors ---
run 0 "probe with [iscsi] password" $(ctl) probe --portal "$TGT_PORTAL" --target "$IQN" \
	--username piuser --password-file "$T/right.pw" --timeout 2s
run 1 "probe with a wrong password" $(ctl) probe --portal "$TGT_PORTAL" --target "$IQN" \
	--username piuser --password-file "$T/wrong.pw" --timeout 2s
assert_contains "$(cat "$OUT/out.$n" "$OUT/err.$n")" "CHAP" "the probe says CHAP failed"
run 1 "probe of an unknown target" $(ctl) probe --portal "$TGT_PORTAL" --target "$IQN-nope" \
	--username piuser --password-file "$T/right.pw" --timeout 2s
run 1 "probe of a dead portal" $(ctl) probe --portal "$TGT_ADDR:3261" --target "$IQN" \
	--username piuser --password-file "$T/right.pw" --timeout 1s
run 2 "probe with portal=auto (usage error: probe takes no boot parameters)" $(ctl) probe --timeout 2s
run 1 "doctor" $(ctl) doctor
run 1 "doctor --json" $(ctl) doctor --json
run 0 "bootcfg show" $(ctl) bootcfg show
run 0 "bootcfg show --json" $(ctl) bootcfg show --json
run 1 "upgrade --dry-run (refused: the sandbox has no mkinitramfs)" $(ctl) upgrade --dry-run
run 1 "upgrade (refused)" $(ctl) upgrade
# The daemon wrote one trigger name into the fake LED's trigger file: the kernel's list again.
echo "none timer heartbeat default-on [mmc0]" >"$S/sys/class/leds/ACT/trigger"
run 0 "netrootd --check-config" "$NETROOTD" --root "$S" --check-config
# a broken iscsi.initramfs line and a broken root=iscsi: credential field
printf 'ISCSI_USERNAME=piuser\nISCSI_PASSWORD="%s\n' "$PW_INITRAMFS" >"$S/etc/iscsi/iscsi.initramfs"
run 1 "doctor with an unterminated quote in iscsi.initramfs" $(ctl) doctor
assert_contains "$(cat "$OUT/out.$n")" "iscsi.initramfs:2" "names iscsi.initramfs:2"
printf 'ISCSI_PASSWORD=%s$HOME\n' "$PW_INITRAMFS" >"$S/etc/iscsi/iscsi.initramfs"
run 1 "doctor with a shell expansion in iscsi.initramfs" $(ctl) doctor
sed -i "s|root=iscsi:piuser:$PW_ROOTARG@|root=iscsi:piuser:$PW_ROOTARG:x@|" "$S/boot/cmdline.txt"
run 1 "doctor with three credential fields in root=iscsi:" $(ctl) doctor

# --- the search ---
journalctl -D /run/log/journal --no-pager -o export >"$OUT/journal.export" || fail "journalctl"
grep -q '^MESSAGE_ID=' "$OUT/journal.export" || fail "the journal holds no agent events"
grep -q 'CHAP' "$OUT/journal.export" || fail "the CHAP failure is not in the journal"
pass "journal: $(grep -c '^__CURSOR=' "$OUT/journal.export") entries, the CHAP failure among them"
grep -q 'execve(' "$OUT/exec.daemon" || fail "strace of the daemon recorded no exec"
execs=$(cat "$OUT"/exec.* | grep -c 'execve(')
grep -qF -- "--password-file\", \"$T/right.pw\"" "$OUT"/exec.* ||
	fail "control: strace did not record the probe's argv"
# The control: the search finds the secrets where they are meant to be.
grep -rqF "$MARK" "$S/etc/netroot/agent.conf" "$S/boot/cmdline.txt" || fail "control: secrets not in their files"
leaks=$(grep -rlaF "$MARK" "$OUT")
[ -z "$leaks" ] || fail "a password leaked into: $leaks: $(grep -raF "$MARK" $leaks | head -5)"
pass "no password in $(ls "$OUT" | wc -l) outputs ($n commands, $execs execs with argv and environment, status.json x4, metrics x3, journal)"
# Nothing else in the sandbox holds one: only the files that are meant to.
others=$(grep -rlaF "$MARK" "$S" | grep -vxF -e "$S/etc/netroot/agent.conf" -e "$S/boot/cmdline.txt" \
	-e "$S/proc/cmdline" -e "$S/etc/iscsi/iscsi.initramfs")
[ -z "$others" ] || fail "a password was copied into: $others"
pass "no copy of a password anywhere else in the sandbox"
echo "secrets checks passed in $(($(date +%s) - t_start)) s"
