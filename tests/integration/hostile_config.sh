#!/bin/bash
# A FIFO or a symlink planted at config.txt (the Pi's TFTP folder is writable over NFS): apt-pre,
# hook check, hook apt-post, doctor and bootcfg show refuse it promptly, naming the file, and
# change nothing (issue "Trust", item 9; before: apt-pre, hook check and doctor blocked forever
# in open() of the FIFO, and with it the apt run).
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/chroot.sh"
. "$TOP/tests/lib/pi_sandbox.sh"

[ "$(id -u)" = 0 ] || skip "needs root for the chroot"
on_cleanup chroot_cleanup
on_cleanup pi_sandbox_cleanup
chroot_ensure CH || fail "could not build or copy the Debian chroot"
pi_sandbox_make "$CH" || fail "sandbox"
B=$CH/boot
mv "$B/config.txt" "$T/config.txt"
echo "secret" >"$T/victim"
snap() { (cd "$B" && find . -printf '%y %p\n' | sort; find . -type f -print0 | sort -z | xargs -0 sha256sum); }

for kind in fifo symlink; do
	rm -f "$B/config.txt"
	case $kind in
	fifo) mkfifo "$B/config.txt" ;;
	symlink) ln -s "$T/victim" "$B/config.txt" ;;
	esac
	before=$(snap)
	for cmd in "hook apt-pre --apt-pid $$ linux-image-x:install" "hook check" "doctor" "bootcfg show"; do
		# shellcheck disable=SC2086 # the command's words
		timeout 10 "$NETROOTCTL" --root "$CH" $cmd >"$T/out" 2>&1
		rc=$?
		[ "$rc" != 124 ] || fail "$kind at config.txt: netrootctl $cmd hung (killed after 10 s)"
		[ "$rc" != 0 ] || [ "$cmd" = "hook apt-pre --apt-pid $$ linux-image-x:install" ] ||
			fail "$kind at config.txt: netrootctl $cmd exited 0: $(cat "$T/out")"
		assert_contains "$(cat "$T/out")" "$B/config.txt" "$kind at config.txt: netrootctl $cmd names the file"
	done
	[ "$(snap)" = "$before" ] || fail "$kind at config.txt: the boot folder changed: $(diff <(echo "$before") <(snap))"
	[ "$(cat "$T/victim")" = secret ] || fail "the symlink's target was written"
	pass "$kind at config.txt: every command returned within 10 s, named it, changed nothing"
	# The next kind is another apt run (same test PID as apt's): its marker goes.
	rm -f "$CH/run/netroot/apt-kernel"
	rm -rf "$B/.netroot"
done
echo "all hostile config.txt checks passed"
