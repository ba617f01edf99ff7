#!/bin/bash
# contrib/ansible (role netroot_upgrade, playbook netroot-rolling-upgrade.yml) for real:
# ansible-lint on it, then ansible-playbook against two sandbox Pis, each its own copy of the
# cached Debian chroot (tests/lib/chroot.sh, tests/lib/pi_sandbox.sh) with its own serial and
# hostname, served from one TFTP root (bind mounts). Connection plugin: ansible.builtin.local,
# each host's netrootctl confined to its tree with --root (the role's netroot_upgrade_ctl).
# The upgrade is real (netrootctl upgrade --json: backup, initrd check, switch, record); the
# initrd build copies a prepared initrd (NETROOT_TEST_INITRD_FROM) to keep the run short.
# THE REBOOT IS A STAND-IN (tests/lib/reboot_standin.sh, the role's netroot_upgrade_reboot_command):
# netrootd restarted and `netrootctl confirm --wait` started as at boot; no machine reboots.
#   run 1: both Pis upgraded one after the other, each confirmed good; recap ok for both;
#   run 2: the first Pi boots another kernel after its upgrade (stand-in --other-kernel): its
#          generation is bad, the role rolls it back (netrootctl rollback, reboot stand-in) and
#          fails with the reason; the play stops: the second Pi is not touched.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"
# shellcheck source=../lib/fake_firmware.sh
. "$TOP/tests/lib/fake_firmware.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot and bind mounts"
[ -x "$NETROOTCTL" ] && [ -x "$NETROOTD" ] || fail "not built (make)"
for tool in ansible-playbook ansible-lint jq debootstrap zstd; do
	command -v $tool >/dev/null || fail "$tool missing (make deps)"
done
export CHROOT_CACHE_DIR
ANS=$TOP/contrib/ansible

# ansible-lint, offline, on a copy (it writes caches next to the files).
cp -a "$ANS" "$T/lint"
(cd "$T/lint" && HOME=$T ansible-lint --offline) >"$T/lint.log" 2>&1 \
	|| fail "ansible-lint: $(tail -n 30 "$T/lint.log")"
pass "ansible-lint: $(grep -o 'Passed.*' "$T/lint.log" | sed 's/\x1b\[[0-9;]*m//g')"

kill_standins() {
	local f
	for f in "$T"/state-*/*.pid; do
		[ -f "$f" ] || continue
		while read -r p; do kill "$p" 2>/dev/null; done <"$f"
	done
}
on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
on_cleanup kill_standins

declare -A CHS SERIALS=([redpi]=511e57f7 [bluepi]=0b615590)
HOSTS=(redpi bluepi)
mkdir -p "$T/tftp"
for h in "${HOSTS[@]}"; do
	chroot_ensure ch || fail "could not build or copy the Debian chroot"
	pi_sandbox_make "$ch" "${SERIALS[$h]}" || fail "sandbox $h"
	echo "$h" >"$ch/etc/hostname"
	printf '[upgrade]\nconfirm_after = 2s\n[boot]\nconfirm_timeout = 20s\n' >>"$ch/etc/netroot/agent.conf"
	pi_sandbox_tftp "$ch" "$T/tftp" || fail "bind mount for $h"
	cp "$ch/boot/initrd.img-$PI_KV" "$T/initrd-$h.img"
	CHS[$h]=$ch
	# the Pi is up: its first boot
	"$TOP/tests/lib/reboot_standin.sh" "$NETROOTD" "$NETROOTCTL" "$ch" "$T/state-$h" >/dev/null
done
KV=$PI_KV
fake_firmware "$T/tftp" "$(fake_build v1)" "Aug 26 2022" bootcode.bin start.elf fixup.dat

inventory() { # HOST-WITH-OTHER-KERNEL (or "")
	{
		echo "all:"
		echo "  children:"
		echo "    netroot_pis:"
		echo "      hosts:"
		for h in "${HOSTS[@]}"; do
			local extra=""
			[ "$h" = "$1" ] && extra=', "--other-kernel"'
			cat <<-INV
			        $h:
			          ansible_connection: ansible.builtin.local
			          ansible_python_interpreter: /usr/bin/python3
			          netroot_upgrade_ctl: ["$NETROOTCTL", "--root", "${CHS[$h]}"]
			          netroot_upgrade_environment: {NETROOT_TEST_INITRD_FROM: "$T/initrd-$h.img"}
			          netroot_upgrade_reboot_command: ["$TOP/tests/lib/reboot_standin.sh", "$NETROOTD", "$NETROOTCTL", "${CHS[$h]}", "$T/state-$h"$extra]
			          netroot_upgrade_confirm_timeout: 60
			          netroot_upgrade_confirm_poll: 1
			INV
		done
	} >"$T/inventory.yml"
}
play() { # LOG
	HOME=$T ANSIBLE_ROLES_PATH=$ANS/roles ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
		ANSIBLE_LOCAL_TEMP=$T/ansible-tmp ANSIBLE_REMOTE_TEMP=$T/ansible-tmp \
		ansible-playbook -i "$T/inventory.yml" -e netroot_become=false "$ANS/netroot-rolling-upgrade.yml" >"$1" 2>&1
}
gens() { "$NETROOTCTL" --root "${CHS[$1]}" history --json | jq -r '[.generations[] | "\(.gen):\(.status)"] | join(" ")'; }

# ---- run 1: both Pis, one after the other ----
inventory ""
rc=0
play "$T/run1.log" || rc=$?
echo "=== run 1 (THE REBOOT IS A STAND-IN: netrootd restart + netrootctl confirm) ==="
sed -n '/PLAY RECAP/,$p' "$T/run1.log"
[ "$rc" = 0 ] || fail "run 1: ansible-playbook exit $rc: $(tail -n 60 "$T/run1.log")"
grep -q "REBOOT STAND-IN" "$T/run1.log" || fail "run 1: the stand-in did not say what it is"
pass "run 1: the stand-in reboot named in the output"
for h in "${HOSTS[@]}"; do
	grep -Eq "^$h +: ok=[0-9]+ +changed=[1-9][0-9]* +unreachable=0 +failed=0" "$T/run1.log" \
		|| fail "run 1: recap of $h: $(grep "^$h " "$T/run1.log")"
	assert_eq "$(gens $h)" "1:good" "run 1: $h generation 1 confirmed good"
	assert_file_contains "${CHS[$h]}/boot/.netroot/identity" "command=confirm" \
		"run 1: $h's identity record written by netrootctl confirm"
	assert_file_contains "${CHS[$h]}/boot/.netroot/identity" "hostname=$h" "run 1: $h's hostname recorded"
done
# serial: 1 -- redpi's confirmation came before bluepi's upgrade began
first_done=$(grep -n 'redpi.*confirmed good' "$T/run1.log" | head -1 | cut -d: -f1)
second_start=$(grep -n 'TASK \[netroot_upgrade : Upgrade the kernel' "$T/run1.log" | sed -n 2p | cut -d: -f1)
[ -n "$first_done" ] && [ -n "$second_start" ] && [ "$first_done" -lt "$second_start" ] \
	|| fail "run 1: not one Pi after the other"
pass "run 1: serial 1, bluepi upgraded only after redpi was confirmed good"
echo "=== netrootctl fleet on the NAS after run 1 ==="
"$NETROOTCTL" fleet --tftp-root "$T/tftp" >"$T/fleet1" 2>&1 || fail "fleet after run 1: $(cat "$T/fleet1")"
cat "$T/fleet1"
pass "run 1: netrootctl fleet: both Pis good, nothing needs attention"

# ---- run 2: redpi boots the wrong kernel ----
cfg_before=$(sha256sum <"${CHS[redpi]}/boot/config.txt")
HOSTS=(redpi bluepi)
inventory redpi
rc=0
play "$T/run2.log" || rc=$?
echo "=== run 2 (redpi's stand-in reboot comes up on another kernel) ==="
grep -E 'fatal:|"msg": "redpi' "$T/run2.log" | head -5
sed -n '/PLAY RECAP/,$p' "$T/run2.log"
[ "$rc" != 0 ] || fail "run 2: the play did not fail"
pass "run 2: ansible-playbook failed (exit $rc)"
grep -Eq "^redpi +: .*failed=1" "$T/run2.log" || fail "run 2: redpi not failed: $(grep '^redpi ' "$T/run2.log")"
grep -q "generation 2 is \(bad\|rolled-back\)" "$T/run2.log" || fail "run 2: no reason: $(grep -A5 'Stop the play' "$T/run2.log")"
pass "run 2: the failure names the reason (generation 2 bad)"
grep -q "TASK \[netroot_upgrade : Roll back to the generation saved before the upgrade\]" "$T/run2.log" \
	&& grep -A3 "Roll back to the generation saved" "$T/run2.log" | grep -Eq "(ok|changed): \[redpi\]" \
	|| fail "run 2: netrootctl rollback not run"
pass "run 2: netrootctl rollback --to 2 ran on redpi"
assert_eq "$(sha256sum <"${CHS[redpi]}/boot/config.txt")" "$cfg_before" "run 2: redpi's config.txt as before the upgrade"
assert_contains "$(gens redpi)" "2:" "run 2: redpi has generation 2"
assert_eq "$(gens bluepi)" "1:good" "run 2: the play stopped: bluepi untouched"
grep -Eq "^bluepi +: ok=0" "$T/run2.log" || ! grep -q "^bluepi " "$T/run2.log" \
	|| fail "run 2: bluepi ran tasks: $(grep '^bluepi ' "$T/run2.log")"
pass "run 2: no task ran on bluepi"
echo "=== netrootctl fleet on the NAS after run 2 ==="
rc=0
"$NETROOTCTL" fleet --tftp-root "$T/tftp" >"$T/fleet2" 2>&1 || rc=$?
cat "$T/fleet2"
assert_eq "$rc" 1 "run 2: netrootctl fleet: attention (exit 1)"
assert_contains "$(grep "^${SERIALS[redpi]}" "$T/fleet2")" "generation 2 is bad" "run 2: fleet names redpi's bad generation (rolled back, the verdict kept)"
[ -z "${FLEET_ANSIBLE_KEEP:-}" ] || cp "$T/run1.log" "$T/run2.log" "$T/fleet1" "$T/fleet2" "$FLEET_ANSIBLE_KEEP/"
