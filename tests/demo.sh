#!/bin/bash
# make demo: netrootd on a sandbox Pi tree, in a network namespace of its own ("the Pi"), with a
# real iSCSI target (tgtd) in a second namespace ("the NAS"). Nothing on this machine is touched.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces)"; exit 1; }
. "$TOP/tests/lib/common.sh"
. "$TOP/tests/lib/tgt.sh"
. "$TOP/tests/lib/fake_sysfs.sh"
. "$TOP/tests/lib/chroot.sh"
. "$TOP/tests/lib/pi_sandbox.sh"
. "$TOP/tests/lib/tftp.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
S=$T/root
led() { cat "$S/sys/class/leds/ACT/trigger"; }
state() { jq -r '.state + (if (.reasons|length) > 0 then "  (" + ([.reasons[].text]|join("; ")) + ")" else "" end)' "$S/run/netroot/status.json"; }
show() { printf '   state: %-60s LED trigger: %s\n' "$(state)" "$(led)"; }
log_tail() { tail -n "${1:-3}" "$T/netrootd.log" | sed 's/^/  | /'; }
v6() { cli_exec sh -c 'for f in all default lo; do printf "%s=%s " $f $(cat /proc/sys/net/ipv6/conf/$f/disable_ipv6); done; echo'; }
state_is() { [ "$(jq -r .state "$S/run/netroot/status.json")" = "$1" ]; }

say "The lab: 'the NAS' runs tgtd with the Pi's root target; 'the Pi' is a namespace of its own"
tgt_lab_setup && tgt_start || { echo "lab setup failed"; exit 1; }
IQN=iqn.2016-11.org.example:pi1
tgt_add_target 1 "$IQN"
echo "   portal $TGT_PORTAL, target $IQN, the Pi's interface $CLI_IF ($CLI_ADDR)"

say "A sandbox Pi tree (--root): activity LED in the kernel's sysfs format, the kernel's iSCSI"
echo "   session in sysfs (FAKE: this host's kernel has no iSCSI initiator), agent.conf"
make_sandbox "$S"
fake_iscsi_tree "$S"; fake_iscsid "$S" running; fake_recovery_tmo "$S" session1 86400
rm -rf "$S/proc/sys"; mkdir -p "$S/proc"; ln -s /proc/sys "$S/proc/sys"
cp "$TOP/etc/agent.conf" "$S/etc/netroot/agent.conf"
cat >>"$S/etc/netroot/agent.conf" <<CONF
[iscsi]
portal = $TGT_PORTAL
target = $IQN
probe_interval = 1s
probe_timeout = 1s
CONF
chmod 600 "$S/etc/netroot/agent.conf"
run grep -E '^(mode|trigger_ok|trigger_failed|portal|target|probe_interval)' "$S/etc/netroot/agent.conf"
cli_exec sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
echo "   before: LED trigger $(led); IPv6 in the Pi's namespace: $(v6)"

say "Start netrootd (stderr here; under systemd the journal, with MESSAGE_IDs)"
ip netns exec "$CLI_NS" "$NETROOTD" --root "$S" --log-target stderr --no-mlock 2>"$T/netrootd.log" &
PID=$!; track_pid $PID
wait_for 10 state_is OK
log_tail 8
show
echo "   IPv6:  $(v6)"

say "netrootctl status"
run "$NETROOTCTL" --root "$S" status

say "Fault: the Pi's cable is pulled (the NAS side of the link goes down)"
tgt_link peer down; wait_for 3 state_is FAILED; show
say "Cable back: OK again after recover_after good probes (no flapping)"
tgt_link peer up; wait_for 10 state_is OK; show

say "Fault: the iSCSI target process dies on the NAS"
tgt_kill; wait_for 10 state_is FAILED; show
log_tail 4
say "The target comes back"
tgt_start && tgt_add_target 1 "$IQN"; wait_for 15 state_is OK; show

say "Someone turns IPv6 back on in the Pi: corrected at once"
run ip netns exec "$CLI_NS" sysctl -w net.ipv6.conf.all.disable_ipv6=0
sleep 0.5; echo "   IPv6:  $(v6)"; log_tail 1

say "Reload (SIGHUP) with a trigger the LED does not have: refused, running config kept"
printf '[led]\ntrigger_ok = disco\n' >>"$S/etc/netroot/agent.conf"
kill -HUP $PID; sleep 0.5; log_tail 1; show

say "Stop (SIGTERM): the LED gets back the trigger it had"
kill $PID; wait $PID; echo "   netrootd exit status $?"
log_tail 1
echo "   LED trigger: $(led)"

say "Part 2: a guarded kernel upgrade on a real Debian system (a cached debootstrap chroot laid"
echo "   out as a netbooted Pi 3: boot folder, serial, config.txt, cmdline.txt; amd64 stands in)"
on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || { echo "could not build the chroot"; exit 1; }
pi_sandbox_make "$CH" >/dev/null || exit 1
B=$CH/boot
mkdir -p "$T/tftp"; pi_sandbox_tftp "$CH" "$T/tftp"; tftp_start "$T/tftp" >/dev/null
pi_sandbox_conf "$CH" tftp "127.0.0.1:$TFTP_PORT"
pi_sandbox_conf "$CH" verify_tftp required
pi_sandbox_conf "$CH" confirm_after 3s
echo "   TFTP server (tftpd-hpa) on 127.0.0.1:$TFTP_PORT serves the boot folder as $PI_SERIAL/"
run "$NETROOTCTL" --root "$CH" bootcfg show

say "netrootctl upgrade: back up, build the initrd next to the old one, check it, switch, verify over TFTP"
run "$NETROOTCTL" --root "$CH" upgrade
echo "   exit status $?"
run "$NETROOTCTL" --root "$CH" history

say "A broken upgrade: the initramfs would lack iSCSI (MODULES=list, NO_ISCSI_IN_INITRAMFS=yes)"
echo "MODULES=list" >"$CH/etc/initramfs-tools/conf.d/netroot-demo"
echo "NO_ISCSI_IN_INITRAMFS=yes" >"$CH/etc/initramfs-tools/conf.d/open-iscsi"
before=$(sha256sum <"$B/config.txt")
run "$NETROOTCTL" --root "$CH" upgrade
echo "   exit status $? (3 = rolled back)"
[ "$(sha256sum <"$B/config.txt")" = "$before" ] && echo "   config.txt is byte for byte what it was (sha256)"
rm -f "$CH/etc/initramfs-tools/conf.d/netroot-demo" "$CH/etc/initramfs-tools/conf.d/open-iscsi"
run "$NETROOTCTL" --root "$CH" history

say "After the reboot: netrootd reports a healthy root; netroot-confirm.service (netrootctl confirm --wait) confirms the pending kernel"
echo "1.00 1.00" >"$CH/proc/uptime"
"$NETROOTD" --root "$CH" --log-target stderr --no-mlock 2>"$T/confirm.log" &
CPID=$!; track_pid $CPID
for _ in $(seq 50); do [ -s "$CH/run/netroot/status.json" ] && break; sleep 0.1; done
run "$NETROOTCTL" --root "$CH" confirm --wait
echo "   exit status $?"
kill $CPID; wait $CPID
run "$NETROOTCTL" --root "$CH" history
