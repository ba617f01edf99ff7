#!/bin/bash
# hooks/netroot-apt-pre speaks APT's Pre-Install-Pkgs protocol VERSION 3 (hooks/99netroot asks
# for it): the input below is what apt 2.6 (Debian 12) really wrote for a kernel upgrade, a
# removal and `apt-get install --reinstall open-iscsi` (captured with a hook that saved its
# stdin). The hook must call `netrootctl hook apt-pre --apt-pid PPID PKG:ACTION...` with the
# boot-relevant packages: kernels by name, removals too, and installed packages shipping
# initramfs-tools hooks (they fire the initramfs trigger). netrootctl here is a FAKE that records
# its arguments; the dpkg info folder is a FAKE with three .list files. The v1 hook (one .deb path a
# line, no removals, no trigger, no --apt-pid) fails every case.
. "$(dirname "$0")/../lib/common.sh"

HOOK=${APT_PRE_HOOK:-$TOP/hooks/netroot-apt-pre}
grep -qx 'DPkg::Tools::Options::/etc/netroot/netroot-apt-pre::Version "3";' "$TOP/hooks/99netroot" ||
	fail "hooks/99netroot does not ask apt for protocol version 3: $(cat "$TOP/hooks/99netroot")"
pass "99netroot asks for protocol version 3"

# FAKE netrootctl: records its arguments.
cat >"$T/fake-netrootctl" <<FAKE
#!/bin/sh
printf '%s\n' "\$*" >>"$T/calls"
FAKE
chmod +x "$T/fake-netrootctl"
# FAKE dpkg info: open-iscsi ships an initramfs hook, curl does not.
mkdir -p "$T/info"
printf '/.\n/usr/share/initramfs-tools/hooks/iscsi\n/usr/sbin/iscsid\n' >"$T/info/open-iscsi.list"
printf '/.\n/usr/bin/curl\n' >"$T/info/curl.list"
# ... and a locally built in-place kernel package ships a fixed kernel file in the boot folder.
printf '/.\n/boot\n/boot/firmware\n/boot/firmware/kernel-custom.img\n' >"$T/info/my-pi-kernel.list"

header() {
	printf 'VERSION 3\nDir=/\nBinary=apt-get\nquiet=1\nDPkg::Tools::Options::/etc/netroot/netroot-apt-pre::Version=3\nDPkg::Pre-Install-Pkgs::=/etc/netroot/netroot-apt-pre\n\n'
}
run_hook() { # NAME: stdin is the protocol text
	: >"$T/calls"
	echo "$BASHPID" >"$T/ppid" # the hook's $PPID: this shell
	NETROOT_CTL=$T/fake-netrootctl NETROOT_DPKG_INFO=$T/info sh "$HOOK" >"$T/$1.out" 2>&1 ||
		fail "$1: the hook exited $?: $(cat "$T/$1.out")"
	sed "s/--apt-pid $(cat "$T/ppid") /--apt-pid PPID /" "$T/calls"
}

# 1. a kernel upgrade (apt-get install linux-image-6.1.0-57-amd64) with an unrelated package
out=$({
	header
	echo 'linux-image-6.1.0-57-amd64 - - none < 6.1.158-1 amd64 same /var/cache/apt/archives/linux-image-6.1.0-57-amd64_6.1.158-1_amd64.deb'
	echo 'curl 7.88.1-10+deb12u7 amd64 foreign < 7.88.1-10+deb12u8 amd64 foreign /var/cache/apt/archives/curl_7.88.1-10+deb12u8_amd64.deb'
	echo 'linux-image-6.1.0-57-amd64 - - none < 6.1.158-1 amd64 same **CONFIGURE**'
	echo 'curl 7.88.1-10+deb12u7 amd64 foreign < 7.88.1-10+deb12u8 amd64 foreign **CONFIGURE**'
} | run_hook install)
assert_eq "$out" "hook apt-pre --apt-pid PPID linux-image-6.1.0-57-amd64:install linux-image-6.1.0-57-amd64:configure" \
	"kernel install: apt-pre with --apt-pid and PKG:ACTION, nothing else"

# 2. a removal (apt-get purge linux-image-6.1.0-55-amd64): raspi-firmware's postrm hook acts
out=$({
	header
	echo 'linux-image-6.1.0-55-amd64 6.1.153-1 amd64 same > - - none **REMOVE**'
} | run_hook remove)
assert_eq "$out" "hook apt-pre --apt-pid PPID linux-image-6.1.0-55-amd64:remove" "kernel removal counts"

# 3. apt-get install --reinstall open-iscsi: the initramfs trigger
out=$({
	header
	echo 'open-iscsi 2.1.8-1+deb12u1 amd64 foreign = 2.1.8-1+deb12u1 amd64 foreign /var/cache/apt/archives/open-iscsi_2.1.8-1+deb12u1_amd64.deb'
	echo 'open-iscsi 2.1.8-1+deb12u1 amd64 foreign = 2.1.8-1+deb12u1 amd64 foreign **CONFIGURE**'
} | run_hook trigger)
assert_eq "$out" "hook apt-pre --apt-pid PPID open-iscsi:trigger" "a package firing the initramfs trigger counts"

# 3b. an upgrade of an installed package that ships files under /boot (an in-place kernel of its
# own name): dpkg overwrites what the Pi boots, so the boot folder is saved first
out=$({
	header
	echo 'my-pi-kernel 1.0 all foreign < 2.0 all foreign /var/cache/apt/archives/my-pi-kernel_2.0_all.deb'
	echo 'curl 7.88.1-10+deb12u7 amd64 foreign < 7.88.1-10+deb12u8 amd64 foreign /var/cache/apt/archives/curl_7.88.1-10+deb12u8_amd64.deb'
	echo 'my-pi-kernel 1.0 all foreign < 2.0 all foreign **CONFIGURE**'
} | run_hook boot-files)
assert_eq "$out" "hook apt-pre --apt-pid PPID my-pi-kernel:boot-files" "a package with files under /boot counts"

# 4. an unrelated run: no program started
out=$({
	header
	echo 'curl 7.88.1-10+deb12u7 amd64 foreign < 7.88.1-10+deb12u8 amd64 foreign /var/cache/apt/archives/curl_7.88.1-10+deb12u8_amd64.deb'
} | run_hook unrelated)
assert_eq "$out" "" "an unrelated apt run calls nothing"

# 5. protocol 1 input (99netroot not updated): said, never acted on blindly
out=$(echo /var/cache/apt/archives/linux-image-6.1.0-57-amd64_6.1.158-1_amd64.deb | run_hook v1)
assert_eq "$out" "" "protocol 1 input: no call"
assert_file_contains "$T/v1.out" "expected APT's Pre-Install-Pkgs protocol VERSION 3" "protocol 1 input: said on stderr"
