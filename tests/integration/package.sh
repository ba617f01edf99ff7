#!/bin/bash
# The Debian package: builds it with dpkg-buildpackage in a temp copy of the tree (the repository
# stays clean), then checks lintian (no E: or W:), the file list, the conffile, the maintainer
# scripts dh_installsystemd adds, and that the resident daemon does not link libcurl.
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/deb.sh
. "$TOP/tests/lib/deb.sh"

for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-deb lintian objdump readelf dh; do
	command -v "$tool" >/dev/null || skip "$tool not installed (run 'make deps')"
done
if ! (cd "$TOP" && dpkg-checkbuilddeps) >"$T/builddeps.log" 2>&1; then
	skip "build dependencies missing (run 'make deps'): $(cat "$T/builddeps.log")"
fi

# The shipped agent.conf lists every key of config.c, in its section, with a comment line above
# it and the built-in default as its value; netroot-agent.conf(5) documents every key.
[ -f "$BUILD/libnetroot.a" ] || fail "$BUILD/libnetroot.a not built (run make)"
sed -n 's/^[[:space:]]*{"\([a-z0-9_]*\)", "\([a-z0-9_]*\)", KEY_.*/\1 \2/p' "$TOP/agent/config.c" >"$T/keys"
[ -s "$T/keys" ] || fail "no keys found in agent/config.c"
while read -r section key; do
	awk -v s="$section" -v k="$key" '
		/^\[/ { cur = substr($0, 2, length($0) - 2) }
		cur == s && index($0, k "=") == 1 { found = 1; ok = (prev ~ /^[#;]/) }
		{ prev = $0 }
		END { exit !(found && ok) }' "$TOP/etc/agent.conf" \
		|| fail "etc/agent.conf: [$section] $key= missing or without a comment line above it"
	grep -q "^\.BR $key= " "$TOP/man/netroot-agent.conf.5" \
		|| fail "man/netroot-agent.conf.5 does not document $key="
done <"$T/keys"
pass "agent.conf and netroot-agent.conf(5) cover all $(wc -l <"$T/keys") keys"
if awk 'length > 150 { exit 1 }' "$TOP/etc/agent.conf"; then pass "agent.conf lines <= 150"; else
	fail "etc/agent.conf has lines over 150 characters"; fi
cat >"$T/defaults.c" <<'C'
#include "config.h"
#include <stdio.h>
#include <string.h>
/* Loads the file given and compares it with config_set_defaults(). */
int main(int argc, char **argv)
{
        struct netroot_config want, got;
        struct config_diag diag;

        (void)argc;
        if (config_load(argv[1], &got, &diag) < 0) {
                fprintf(stderr, "%s\n", diag.error);
                return 1;
        }
        config_set_defaults(&want);
        return memcmp(&want, &got, sizeof(want)) == 0 ? 0 : 3;
}
C
# config.c resolves portal host names at load (probe.c): the library needs all of the agent's libraries.
read -r -a inih_libs < <(pkg-config --libs inih libsystemd libiscsi libnl-route-3.0 libnl-3.0 libcurl)
san=()
[ "${SANITIZE:-0}" = 1 ] && san=("-fsanitize=address,undefined")
cc -std=gnu11 -D_GNU_SOURCE "${san[@]}" -I"$TOP/agent" -o "$T/defaults" "$T/defaults.c" \
	"$BUILD/libnetroot.a" "${inih_libs[@]}" 2>"$T/cc.log" || fail "cannot build the defaults check: $(cat "$T/cc.log")"
"$T/defaults" "$TOP/etc/agent.conf"
assert_eq "$?" 0 "etc/agent.conf loads and holds exactly the built-in defaults"

deb_build "$T" "" || fail "the package does not build"
pass "dpkg-buildpackage -us -uc -b"
echo "package: $(basename "$DEB")"

lintian --display-info "$DEB" >"$T/lintian.log" 2>&1
lrc=$?
cat "$T/lintian.log"
if grep -qE '^[EW]: ' "$T/lintian.log"; then
	fail "lintian reported errors or warnings"
fi
# lintian exits non-zero only for the tags --fail-on selects (errors by default) or on a crash.
[ "$lrc" = 0 ] || fail "lintian exited $lrc"
pass "lintian: no E: or W:"

dpkg-deb -c "$DEB" | awk '{ print $NF }' | sed 's#^\./#/#' >"$T/files"
for f in /usr/sbin/netrootd /usr/sbin/netrootctl /etc/netroot/agent.conf \
	/lib/systemd/system/netrootd.service /usr/lib/systemd/catalog/netroot-agent.catalog \
	/usr/share/man/man8/netrootd.8.gz /usr/share/man/man8/netrootctl.8.gz \
	/usr/share/man/man5/netroot-agent.conf.5.gz /usr/share/doc/netroot-agent/copyright; do
	grep -qx -- "$f" "$T/files" || fail "$f not in the package: $(cat "$T/files")"
done
pass "file list"
if grep -q '^/boot' "$T/files"; then
	fail "the package ships files under /boot"
fi
pass "nothing under /boot"

mkdir -p "$T/control" "$T/root"
dpkg-deb -e "$DEB" "$T/control"
dpkg-deb -x "$DEB" "$T/root"
# Fault hooks read from the environment exist only in test builds (agent/testhooks.h): the
# package is built with TEST_HOOKS=0 (debian/rules), so none is compiled in.
grep -q -- '-DNETROOT_TEST_HOOKS' "$T/build.log" && fail "the package was compiled with -DNETROOT_TEST_HOOKS"
if strings "$T/root/usr/sbin/netrootctl" | grep -q NETROOT_FAULT_FIRMWARE; then
	fail "the packaged netrootctl contains the test hook NETROOT_FAULT_FIRMWARE"
fi
pass "no test hooks in the package (TEST_HOOKS=0)"
grep -qx /etc/netroot/agent.conf "$T/control/conffiles" \
	|| fail "/etc/netroot/agent.conf is not a conffile: $(cat "$T/control/conffiles" 2>/dev/null)"
pass "agent.conf is a conffile"
assert_eq "$(stat -c %a "$T/root/etc/netroot/agent.conf")" 644 "agent.conf mode (no password in it)"
grep -q '^password=$' "$T/root/etc/netroot/agent.conf" || fail "shipped agent.conf has a password"
pass "shipped password is empty"

# dh_installsystemd must have seen the unit: enable on install, restart on upgrade.
grep -q 'deb-systemd-helper.*netrootd.service' "$T/control/postinst" \
	|| fail "postinst does not enable netrootd.service: $(cat "$T/control/postinst")"
grep -q 'netrootd.service' "$T/control/prerm" || fail "prerm does not stop netrootd.service"
pass "dh_installsystemd handles netrootd.service"
grep -q 'rm -rf /var/lib/netroot /run/netroot' "$T/control/postrm" || fail "postrm does not purge state"
if grep -E '^[^#]*rm .*/boot' "$T/control/postrm"; then
	fail "postrm removes something under /boot"
fi
pass "postrm purges state, leaves /boot alone"

needed=$(objdump -p "$T/root/usr/sbin/netrootd" | awk '$1 == "NEEDED" { print $2 }')
echo "netrootd NEEDED: ${needed//$'\n'/ }"
assert_not_contains "$needed" libcurl "netrootd does not link libcurl (objdump -p)"
assert_not_contains "$(ldd "$T/root/usr/sbin/netrootd" 2>&1)" libcurl "netrootd does not load libcurl (ldd)"
dyn=$(readelf -d "$T/root/usr/sbin/netrootd")
grep -qE '\(FLAGS\).*BIND_NOW' <<<"$dyn" || fail "netrootd is not linked with -z now: $dyn"
grep -qE '\(FLAGS_1\).*\bPIE\b' <<<"$dyn" || fail "netrootd is not a PIE: $dyn"
pass "netrootd is PIE with BIND_NOW"

# Install and purge round trip on a real Debian system (the cached bookworm chroot of
# tests/lib/chroot.sh): dh_installsystemd enables the unit, purge removes what the daemon
# created and leaves the boot folder byte for byte as it was.
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"
on_cleanup chroot_cleanup
if ! CHROOT_QUIET=1 chroot_ensure CR 2>"$T/chroot.log"; then
	echo "note: no Debian chroot here ($(tail -n 3 "$T/chroot.log")): install/purge not checked"
	exit 0
fi
chroot_mount "$CR" || fail "cannot mount proc/sys/dev in the chroot"
cp "$DEB" "$CR/tmp/"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
chroot "$CR" apt-get install -y -q --no-install-recommends "/tmp/$(basename "$DEB")" \
	>"$T/install.log" 2>&1 || fail "apt-get install of the package failed: $(tail -n 30 "$T/install.log")"
pass "package installs (apt resolves its dependencies)"
[ -L "$CR/etc/systemd/system/multi-user.target.wants/netrootd.service" ] \
	|| fail "netrootd.service not enabled after install: $(tail -n 20 "$T/install.log")"
pass "netrootd.service enabled"
chroot "$CR" /usr/sbin/netrootd --version >/dev/null || fail "installed netrootd does not run"
chroot "$CR" /usr/sbin/netrootd --check-config >"$T/check.log" 2>&1 \
	|| fail "the shipped agent.conf fails netrootd --check-config: $(cat "$T/check.log")"
pass "shipped agent.conf passes netrootd --check-config"

# An upgrade of the package keeps the admin's edited configuration (a conffile).
sed -i 's/^trigger_ok=heartbeat$/trigger_ok=default-on/' "$CR/etc/netroot/agent.conf"
grep -qx 'trigger_ok=default-on' "$CR/etc/netroot/agent.conf" || fail "could not edit agent.conf"
chroot "$CR" dpkg -i "/tmp/$(basename "$DEB")" >"$T/reinstall.log" 2>&1 \
	|| fail "reinstall failed: $(tail -n 20 "$T/reinstall.log")"
grep -qx 'trigger_ok=default-on' "$CR/etc/netroot/agent.conf" \
	|| fail "package upgrade overwrote the admin's agent.conf"
pass "package upgrade (reinstall) keeps the admin's edited agent.conf"

# What a running daemon leaves behind, and a boot folder it must never touch.
mkdir -p "$CR/var/lib/netroot" "$CR/run/netroot" "$CR/etc/sysctl.d"
echo '{}' >"$CR/var/lib/netroot/history.json"
echo '{}' >"$CR/run/netroot/status.json"
echo 'net.ipv6.conf.all.disable_ipv6 = 1' >"$CR/etc/sysctl.d/90-netroot-ipv6.conf"
printf 'kernel=kernel7.img\ninitramfs initrd.img followkernel\n' >"$CR/boot/config.txt"
boot_before=$(cd "$CR/boot" && find . -type f -exec sha256sum {} + | sort)
chroot "$CR" dpkg --purge netroot-agent >"$T/purge.log" 2>&1 \
	|| fail "dpkg --purge failed: $(cat "$T/purge.log")"
for gone in /var/lib/netroot /run/netroot /etc/netroot /etc/sysctl.d/90-netroot-ipv6.conf \
	/etc/systemd/system/multi-user.target.wants/netrootd.service /usr/sbin/netrootd; do
	if [ -e "$CR$gone" ] || [ -L "$CR$gone" ]; then fail "$gone left behind after purge"; fi
done
pass "purge removes state, runtime files, the generated sysctl file and the enablement"
boot_after=$(cd "$CR/boot" && find . -type f -exec sha256sum {} + | sort)
assert_eq "$boot_after" "$boot_before" "purge leaves /boot untouched"
