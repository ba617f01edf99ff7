#!/bin/bash
# The package's kernel and apt hooks on a real Debian system: the .deb built in a temp copy of the
# tree, lintian-clean, installed with apt in the cached bookworm chroot made into a netbooted Pi
# (tests/lib/pi_sandbox.sh), then real kernel packages from Debian's archive installed with apt:
#   1. a kernel with INITRD=No: the hooks back up the boot folder, the agent builds and checks the
#      initramfs itself and the Pi is set to boot it (pending generation), apt shows the summary;
#   2. a kernel whose initramfs fails the guard (NO_ISCSI_IN_INITRAMFS=yes):
#      apt still succeeds, config.txt ends up byte for byte as before, a WARNING is printed;
#   3. apt purge: no file of the package left.
#
# Layout decision: pi_sandbox's config.txt names the kernel explicitly (kernel=vmlinuz-VER), and
# an explicit kernel file pins the version (agent/flavour.c), so a NEW kernel is only followed in
# the packaging where something rewrites kernel=: Debian's raspi-firmware, whose kernel hook
# z50-raspi-firmware points config.txt at the newest /boot/vmlinuz-* on every kernel install
# (FACTS "Kernel packages and hooks"). raspi-firmware is not built for amd64, so a STAND-IN hook
# of that name does just that part (rewrites the kernel= and initramfs lines to the newest
# version). Its presence is also how flavour.c detects the packaging. Since the stand-in follows
# the NEWEST kernel, the chroot first gets an older kernel as the Pi's "current" one, and the
# kernels installed through apt are newer.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
# shellcheck source=../lib/pi_sandbox.sh
. "$TOP/tests/lib/pi_sandbox.sh"
# shellcheck source=../lib/deb.sh
. "$TOP/tests/lib/deb.sh"

[ "$(id -u)" = 0 ] || skip "needs root for debootstrap, chroot and mount"
for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-deb lintian debootstrap zstd jq sha256sum; do
	command -v "$tool" >/dev/null || skip "$tool not installed (run 'make deps')"
done
if ! (cd "$TOP" && dpkg-checkbuilddeps) >"$T/builddeps.log" 2>&1; then
	skip "build dependencies missing (run 'make deps'): $(cat "$T/builddeps.log")"
fi
on_cleanup chroot_cleanup
t_start=$(date +%s)
lap() { echo "  ($(($(date +%s) - t_start)) s) $*"; }

# --- the package, built from a copy of the working tree (as tests/integration/package.sh) ---
deb_build "$T" || fail "the package does not build"
pass "dpkg-buildpackage: $(basename "$DEB")"
lap "package built"
lintian --display-info "$DEB" >"$T/lintian.log" 2>&1
lrc=$?
sed 's/^/  lintian: /' "$T/lintian.log"
grep -qE '^[EW]: ' "$T/lintian.log" && fail "lintian reported errors or warnings"
[ "$lrc" = 0 ] || fail "lintian exited $lrc"
pass "lintian: no E: or W:"
mkdir -p "$T/control"
dpkg-deb -e "$DEB" "$T/control"
for f in /etc/kernel/postinst.d/zz-netroot /etc/netroot/netroot-apt-pre \
	/etc/netroot/netroot-apt-post /etc/apt/apt.conf.d/99netroot; do
	grep -qx -- "$f" "$T/control/conffiles" || fail "$f is not a conffile: $(cat "$T/control/conffiles")"
done
pass "the four hook files are conffiles"

# --- a Debian system that plays the Pi ---
chroot_ensure CH || fail "could not build or copy the Debian chroot"
# A small initramfs (MODULES=list, tests/lib/chroot.sh): this test is about the hooks, and each of
# its three builds would take 3 minutes with Debian's MODULES=most.
chroot_initramfs_small "$CH" || fail "could not configure the small initramfs"
# No /proc: pi_sandbox's Pi identity (proc/device-tree/model, proc/cpuinfo) lives in the chroot's
# own proc/ folder, which a procfs mount would hide. apt, dpkg and mkinitramfs work without it.
for m in dev dev/pts; do
	_chroot_mount_one "$CH/.chroot-mounts" "$CH/$m" --bind "/$m" || fail "bind mount /$m"
done
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
capt() { chroot "$CH" apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "$@"; }
capt update >"$T/update.log" 2>&1 || fail "apt-get update in the chroot: $(tail "$T/update.log")"
KV0=$(chroot_kernel "$CH")
mapfile -t others < <(chroot_other_kernels "$CH" | sed 's/^linux-image-//')
[ "${#others[@]}" -ge 2 ] || skip "the archive offers fewer than two other kernels: ${others[*]}"
NEW=${others[0]} # newer than OLD, older than KV0
OLD=${others[1]}
echo "kernels: Pi boots $OLD; apt installs $NEW (good), then $KV0 (fails the guard)"
capt install "linux-image-$OLD" >"$T/old.log" 2>&1 || fail "installing $OLD: $(tail -n 20 "$T/old.log")"
capt purge linux-image-amd64 "linux-image-$KV0" >"$T/purge-kv0.log" 2>&1 ||
	fail "removing $KV0: $(tail -n 20 "$T/purge-kv0.log")"
[ "$(chroot_kernel "$CH")" = "$OLD" ] || fail "the chroot's newest kernel is not $OLD: $(ls "$CH/lib/modules")"
pi_sandbox_make "$CH" || fail "sandbox"
B=$CH/boot
# STAND-IN for Debian's raspi-firmware kernel hook (see the header): only its config.txt part.
install -m 0755 "$TOP/tests/lib/z50-raspi-firmware.standin" "$CH/etc/kernel/postinst.d/z50-raspi-firmware" ||
	fail "cannot install the stand-in hook"
lap "chroot ready"

# Every file of the system but the mounted and volatile parts, for the purge check.
files() {
	(cd "$CH" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./sys -o -path ./tmp \
		-o -path ./var/cache -o -path ./var/log -o -path ./var/lib/apt -o -path ./var/lib/dpkg \
		-o -path ./boot -o -path ./lib/modules -o -path ./usr/lib/modules \
		-o -path ./var/lib/initramfs-tools -o -path ./.chroot-mounts \) -prune -o -print) | sort
}
files >"$T/files.before"

# --- install the package ---
cp "$DEB" "$CH/tmp/"
# --force-confold: keep the sandbox's agent.conf (pi_sandbox wrote it before the package came).
capt -o Dpkg::Options::=--force-confold install "/tmp/$(basename "$DEB")" >"$T/install.log" 2>&1 ||
	fail "apt-get install of the package: $(tail -n 30 "$T/install.log")"
for f in /etc/kernel/postinst.d/zz-netroot /etc/netroot/netroot-apt-pre \
	/etc/netroot/netroot-apt-post /etc/apt/apt.conf.d/99netroot; do
	[ -e "$CH$f" ] || fail "$f not installed"
done
pass "package installs with apt; hooks in place"
[ -e "$CH/run/netroot/apt-kernel" ] && fail "an apt run without kernel packages left the marker"
assert_not_contains "$(cat "$T/install.log")" "netroot:" "an unrelated apt run prints nothing of ours"

# --- 1: a new kernel through apt, INITRD=No: the agent builds the initramfs itself ---
t1=$(date +%s)
# A stale /boot/initrd.img-$NEW (left from an earlier install of this version, here the old
# kernel's) must not be taken for one update-initramfs built in this apt run.
cp -p "$CH/boot/initrd.img-$OLD" "$CH/boot/initrd.img-$NEW"
touch -d '1 hour ago' "$CH/boot/initrd.img-$NEW"
INITRD=No capt install "linux-image-$NEW" >"$T/new.log" 2>&1
rc=$?
sed 's/^/  apt| /' "$T/new.log" | grep -E 'netroot|step [0-9]|upgraded|z50|WARNING|initramfs' | head -n 40
[ "$rc" = 0 ] || fail "apt-get install linux-image-$NEW exited $rc: $(tail -n 30 "$T/new.log")"
pass "apt installs linux-image-$NEW (exit 0, $(($(date +%s) - t1)) s)"
log=$(cat "$T/new.log")
assert_contains "$log" "saved as generation 1" "apt-pre saved the boot folder before dpkg"
assert_not_contains "$log" "update-initramfs: Generating /boot/initrd.img-$NEW" "INITRD=No: no initramfs from the kernel package"
assert_contains "$log" "netroot: kernel $NEW installed: guarded upgrade" "zz-netroot ran the upgrade"
assert_contains "$log" "/boot/initrd.img-$NEW was not built in this apt run; building" \
	"a stale initrd.img-$NEW is not taken: the agent builds its own"
assert_contains "$log" "mkinitramfs took" "the agent ran mkinitramfs"
assert_contains "$log" "upgraded: kernel $NEW" "the upgrade succeeded"
assert_contains "$log" "netroot: boot folder checked after this apt run: config.txt boots vmlinuz-$NEW with initramfs initrd.img-$NEW" \
	"apt-post summary on the apt console"
# The upgrade adopts the generation apt-pre saved before dpkg ran: one apt run, one generation.
assert_contains "$log" "generation 1 (kernel $NEW) pending" "summary names the pending generation"
grep -qx "initramfs initrd.img-$NEW followkernel" "$B/config.txt" ||
	fail "config.txt does not name initrd.img-$NEW: $(cat "$B/config.txt")"
pass "config.txt names the new initrd"
chroot "$CH" /usr/sbin/netrootctl check-initrd --kernel "$NEW" "/boot/initrd.img-$NEW" >"$T/ci.log" 2>&1 ||
	fail "check-initrd of the new initrd: $(cat "$T/ci.log")"
pass "check-initrd passes for initrd.img-$NEW"
chroot "$CH" /usr/sbin/netrootctl history --json >"$T/h1.json" || fail "history: $(cat "$T/h1.json")"
assert_eq "$(jq -r '.pending' "$T/h1.json")" 1 "history: generation 1 pending"
assert_eq "$(jq -r '.generations[] | select(.gen == 1) | "\(.status) \(.kernel_to)"' "$T/h1.json")" \
	"pending $NEW" "history: generation 1 is $NEW"
assert_eq "$(jq -r '.generations | length' "$T/h1.json")" 1 "history: one apt run, one generation"
# The stand-in z50 hook pointed config.txt at $NEW before zz-netroot ran: "from" must still be
# what booted before apt (apt-pre's generation), not what the hook left.
assert_eq "$(jq -r '.generations[] | select(.gen == 1) | .kernel_from' "$T/h1.json")" "$OLD" \
	"history: generation 1 is an upgrade from $OLD"
[ -e "$CH/run/netroot/apt-kernel" ] && fail "marker left after the apt run"
pass "marker removed"
lap "good kernel done"

# --- 2: a kernel whose initramfs cannot mount an iSCSI root ---
mkdir -p "$CH/etc/initramfs-tools/conf.d"
echo NO_ISCSI_IN_INITRAMFS=yes >"$CH/etc/initramfs-tools/conf.d/open-iscsi"
cfg_before=$(sha256sum <"$B/config.txt")
t1=$(date +%s)
capt install "linux-image-$KV0" >"$T/bad.log" 2>&1
rc=$?
sed 's/^/  apt| /' "$T/bad.log" | grep -E 'netroot|step [0-9]|z50|WARNING|\*\*\*' | head -n 50
[ "$rc" = 0 ] || fail "apt-get install linux-image-$KV0 exited $rc: $(tail -n 30 "$T/bad.log")"
pass "apt installs linux-image-$KV0 although the guard fails (exit 0, $(($(date +%s) - t1)) s)"
log=$(cat "$T/bad.log")
assert_contains "$log" "netroot: WARNING: kernel $KV0 is installed but the Pi will NOT boot it" "WARNING block printed"
assert_contains "$log" "fails the check" "the WARNING says what failed"
assert_contains "$log" "netrootctl history" "the WARNING points at netrootctl history"
assert_eq "$(sha256sum <"$B/config.txt")" "$cfg_before" "config.txt unchanged (sha256)"
chroot "$CH" /usr/sbin/netrootctl history --json >"$T/h2.json" || fail "history: $(cat "$T/h2.json")"
assert_eq "$(jq -r "[.generations[] | select(.kernel_to == \"$KV0\" and .status == \"rolled-back\")] | length" "$T/h2.json")" \
	1 "history: the upgrade to $KV0 is rolled back"
assert_eq "$(jq -r '.pending' "$T/h2.json")" 1 "history: generation 1 ($NEW) still pending"
chroot "$CH" /usr/sbin/netrootctl hook check >"$T/check.log" 2>&1 || fail "boot folder inconsistent: $(cat "$T/check.log")"
pass "boot folder consistent: $(cat "$T/check.log")"
lap "failing kernel done"

# --- 3: purge ---
rm -f "$CH/etc/initramfs-tools/conf.d/open-iscsi" # the test's own file
capt purge netroot-agent >"$T/purge.log" 2>&1 || fail "apt-get purge: $(tail -n 30 "$T/purge.log")"
pass "apt-get purge netroot-agent (exit 0: the Post-Invoke hook tolerates its own removal)"
files >"$T/files.after"
# New files owned by packages still installed (the agent's libraries, the kernels) are theirs.
# Merged /usr: dpkg lists /lib/x/..., find sees usr/lib/x/... .
sed -e 's#^#.#' -e 'p' -e 's#^\./\(lib\|lib64\|bin\|sbin\)/#./usr/\1/#' "$CH"/var/lib/dpkg/info/*.list |
	sort -u >"$T/owned"
comm -13 "$T/files.before" "$T/files.after" | comm -23 - "$T/owned" >"$T/left"
[ -s "$T/left" ] && fail "left after purge: $(head -n 30 "$T/left")"
pass "purge leaves no file of the package"
lap "all done"
