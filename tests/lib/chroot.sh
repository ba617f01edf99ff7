# shellcheck shell=bash
# A real Debian system for integration tests: bookworm (minbase) with linux-image-amd64,
# initramfs-tools, open-iscsi and zstd, and the initrd mkinitramfs built for that kernel.
#
# Sourced, never run. The first caller builds it (a few minutes, needs debootstrap and the Debian
# mirror this machine's apt uses) and caches it as one tarball under <repo>/.cache/; every caller
# then gets its own fresh copy in a temp dir (a few seconds), so tests may change it freely.
#
#   chroot_ensure VAR        build the cache if needed, extract a fresh copy, set VAR to its path
#   chroot_kernel DIR        print the kernel version installed in DIR
#   chroot_mount DIR         mount proc, sys, dev, dev/pts in DIR (only when a command needs them)
#   chroot_umount DIR        unmount what chroot_mount mounted, in reverse order
#   chroot_other_kernels DIR print the other linux-image-6.1.0-NN-amd64 packages apt offers, newest
#                            first (for upgrade tests; not installed by default)
#   chroot_initramfs_small DIR [CONFDIR]
#                            initramfs-tools in DIR (or the copy CONFDIR, e.g. /etc/initramfs-tools-x)
#                            build a small initramfs: MODULES=list with what an iSCSI root needs
#   chroot_cleanup           unmount and remove every copy this shell got; call it from your trap
#
# Environment: CHROOT_CACHE_DIR (default <repo>/.cache), CHROOT_SUITE (default bookworm),
# CHROOT_TMPDIR (where copies go, default $TMPDIR or /var/tmp), CHROOT_QUIET=1 hides timings.
# Timings go to stderr as "chroot: ...".

CHROOT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHROOT_CACHE_DIR=${CHROOT_CACHE_DIR:-$CHROOT_TOP/.cache}
CHROOT_SUITE=${CHROOT_SUITE:-bookworm}
CHROOT_ARCH=${CHROOT_ARCH:-$(dpkg --print-architecture 2>/dev/null || echo amd64)}
CHROOT_PACKAGES="linux-image-$CHROOT_ARCH initramfs-tools open-iscsi zstd"
# Bump when the recipe below changes, so old caches are not reused.
CHROOT_RECIPE=1
CHROOT_TARBALL=$CHROOT_CACHE_DIR/chroot-$CHROOT_SUITE-$CHROOT_ARCH-r$CHROOT_RECIPE.tar.zst
CHROOT_COPIES=()

_chroot_log() {
	[ "${CHROOT_QUIET:-0}" = 1 ] || echo "chroot: $*" >&2
}

_chroot_now() {
	date +%s.%N
}

_chroot_since() {
	awk -v a="$1" -v b="$(_chroot_now)" 'BEGIN { printf "%.1f s", b - a }'
}

# Prints "URI SUITE" for each Debian source of SUITE, SUITE-updates and SUITE-security that apt on
# this machine is configured with (one-line and deb822 formats). The first line is the main
# archive, the one debootstrap uses. Nothing is hard-coded: a machine with another mirror uses it.
chroot_mirrors() {
	local suite=${1:-$CHROOT_SUITE} f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		case $f in
		*.sources) _chroot_deb822 "$suite" <"$f" ;;
		*) _chroot_oneline "$suite" <"$f" ;;
		esac
	done | awk '!seen[$0]++' | awk -v suite="$suite" '
		$2 == suite { print; next } { rest[++n] = $0 }
		END { for (i = 1; i <= n; i++) print rest[i] }'
}

# "deb [opts] URI SUITE COMPONENT..." lines.
_chroot_oneline() {
	awk -v suite="$1" '
		$1 != "deb" { next }
		{
			i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) != suite && $(i + 1) != suite "-updates" && $(i + 1) != suite "-security")
				next
			for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i, $(i + 1); next }
		}'
}

# deb822 stanzas (Types:, URIs:, Suites:, Components:, Enabled:), separated by blank lines.
_chroot_deb822() {
	awk -v suite="$1" '
		function has(list, word,   n, a, i) {
			n = split(list, a, /[ \t]+/)
			for (i = 1; i <= n; i++) if (a[i] == word) return 1
			return 0
		}
		function flush(   nu, ns, u, s, i, j) {
			if (has(types, "deb") && has(comps, "main") && enabled != "no") {
				nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
				for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
					if (u[i] != "" && (s[j] == suite || s[j] == suite "-updates" ||
					    s[j] == suite "-security"))
						print u[i], s[j]
			}
			types = uris = suites = comps = enabled = ""
		}
		/^[ \t]*$/ { flush(); next }
		/^[ \t]*#/ { next }
		/^[A-Za-z-]+:/ {
			key = tolower($1); sub(/:$/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "enabled") enabled = tolower(val)
		}
		END { flush() }'
}

# Mounts proc, sys, dev and dev/pts in DIR and records each, so chroot_umount undoes exactly
# what was done. /sys is a recursive bind made a slave so unmounting it never touches the host.
chroot_mount() {
	local dir=$1 list=$1/.chroot-mounts
	[ -s "$list" ] && return 0
	: >"$list" || return 1
	if ! { _chroot_mount_one "$list" "$dir/proc" -t proc proc &&
		_chroot_mount_one "$list" "$dir/sys" --rbind /sys &&
		mount --make-rslave "$dir/sys" &&
		_chroot_mount_one "$list" "$dir/dev" --bind /dev &&
		_chroot_mount_one "$list" "$dir/dev/pts" --bind /dev/pts; }; then
		chroot_umount "$dir"
		return 1
	fi
}

# Mounts at TARGET and records it in LIST only once it is mounted.
_chroot_mount_one() {
	local list=$1 target=$2
	shift 2
	mount "$@" "$target" || return 1
	echo "$target" >>"$list"
}

chroot_umount() {
	local dir=$1 list=$1/.chroot-mounts m rc=0
	[ -f "$list" ] || return 0
	# Reverse order: dev/pts before dev.
	while read -r m; do
		[ -n "$m" ] || continue
		umount -R "$m" 2>/dev/null || umount -R -l "$m" || rc=1
	done < <(tac "$list")
	rm -f "$list"
	return $rc
}

# True when something is still mounted at or below DIR.
_chroot_busy() {
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts
}

# Removes DIR after unmounting; refuses while anything is still mounted below it, so a stuck
# bind mount of /dev can never be deleted through.
_chroot_remove() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	chroot_umount "$dir"
	if _chroot_busy "$dir"; then
		echo "chroot: $dir still has mounts, not removing it" >&2
		return 1
	fi
	rm -rf --one-file-system "$dir"
}

chroot_kernel() {
	local d
	for d in "$1"/lib/modules/*/; do
		[ -d "$d" ] || continue
		basename "$d"
	done | sort -V | tail -n 1
}

# Only kernels OLDER than the chroot's own, newest first: the tests boot the Pi on one, install
# another as the good upgrade and the chroot's own as the newest (the guarded failure). The
# archive moves on after the chroot was cached (bookworm-security published 6.1.0-57 when the
# cache held 56): a newer one would turn that order around.
chroot_other_kernels() {
	local dir=$1 cur v
	cur=$(chroot_kernel "$dir")
	chroot "$dir" apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-'"$CHROOT_ARCH"'$' |
		awk '{ print $1 }' | sed 's/^linux-image-//' | while read -r v; do
		if [ "$v" != "$cur" ] && [ "$(printf '%s\n%s\n' "$v" "$cur" | sort -V | head -n 1)" = "$v" ]; then
			echo "linux-image-$v"
		fi
	done | sort -V -r
}

# Builds the cache tarball in a subshell (its own EXIT trap, so the caller's trap stays intact).
_chroot_build() {
	(
		# Every step checks its own status: set -e would be ignored when the caller tests us.
		set -o pipefail
		local t0 t mirror work root kver
		t0=$(_chroot_now)
		work=$(mktemp -d "$CHROOT_CACHE_DIR/build.XXXXXX") || exit 1
		root=$work/root
		# shellcheck disable=SC2064
		trap "chroot_umount '$root'; _chroot_remove '$work' || true" EXIT
		trap 'exit 1' INT TERM HUP
		command -v debootstrap >/dev/null || {
			echo "chroot: debootstrap is not installed (make deps)" >&2
			exit 1
		}
		mirror=$(chroot_mirrors "$CHROOT_SUITE" | awk -v s="$CHROOT_SUITE" '$2 == s { print $1; exit }')
		[ -n "$mirror" ] || {
			echo "chroot: no '$CHROOT_SUITE main' source in /etc/apt/sources.list*" >&2
			exit 1
		}
		_chroot_log "building $CHROOT_SUITE/$CHROOT_ARCH from $mirror (first use; cached afterwards)"
		t=$(_chroot_now)
		debootstrap --variant=minbase --arch="$CHROOT_ARCH" "$CHROOT_SUITE" "$root" "$mirror" \
			>"$work/debootstrap.log" 2>&1 || {
			tail -n 30 "$work/debootstrap.log" >&2
			exit 1
		}
		_chroot_log "debootstrap: $(_chroot_since "$t")"
		# apt must never start a service of the chroot on this machine.
		printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" &&
			chmod 0755 "$root/usr/sbin/policy-rc.d" || exit 1
		# -updates and -security too: they carry the newer kernel ABIs upgrade tests want.
		chroot_mirrors "$CHROOT_SUITE" | awk '{ print "deb " $1 " " $2 " main" }' >"$root/etc/apt/sources.list" ||
			exit 1
		chroot_mount "$root" || exit 1
		t=$(_chroot_now)
		export DEBIAN_FRONTEND=noninteractive LC_ALL=C
		local pkgs
		read -r -a pkgs <<<"$CHROOT_PACKAGES"
		{
			chroot "$root" apt-get update -q &&
				chroot "$root" apt-get install -y -q --no-install-recommends "${pkgs[@]}"
		} >"$work/apt.log" 2>&1 || {
			tail -n 30 "$work/apt.log" >&2
			exit 1
		}
		chroot "$root" apt-get clean || exit 1
		_chroot_log "apt-get install: $(_chroot_since "$t")"
		kver=$(chroot_kernel "$root")
		[ -n "$kver" ] || {
			echo "chroot: no kernel in lib/modules after install" >&2
			exit 1
		}
		# The kernel postinst may already have built it; build it here so the cache surely has one.
		if [ ! -s "$root/boot/initrd.img-$kver" ]; then
			t=$(_chroot_now)
			chroot "$root" update-initramfs -c -k "$kver" >"$work/initramfs.log" 2>&1 || {
				tail -n 30 "$work/initramfs.log" >&2
				exit 1
			}
			_chroot_log "update-initramfs: $(_chroot_since "$t")"
		fi
		chroot_umount "$root" || exit 1
		t=$(_chroot_now)
		tar --numeric-owner --xattrs -C "$root" -cf - . |
			zstd -q -T0 -3 -o "$work/cache.tar.zst" || exit 1
		mv -f "$work/cache.tar.zst" "$CHROOT_TARBALL" || exit 1
		_chroot_log "cache tarball: $(_chroot_since "$t"), $(du -h "$CHROOT_TARBALL" | cut -f1)"
		_chroot_log "built in $(_chroot_since "$t0") (kernel $kver)"
	)
}

chroot_ensure() {
	local var=$1 t lockfd dir tmp
	[ "$(id -u)" = 0 ] || {
		echo "chroot: needs root (debootstrap, chroot, mount)" >&2
		return 1
	}
	# Checked with a cache too: a machine that could not build it must not pass because a CI
	# cache happened to hold it (tests/fresh binds one in).
	command -v debootstrap >/dev/null || {
		echo "chroot: debootstrap not installed (make deps); it builds $CHROOT_TARBALL" >&2
		return 1
	}
	mkdir -p "$CHROOT_CACHE_DIR" || return 1
	if [ ! -s "$CHROOT_TARBALL" ]; then
		# One builder at a time; the others wait and then use its result.
		exec {lockfd}>"$CHROOT_CACHE_DIR/chroot.lock"
		t=$(_chroot_now)
		flock "$lockfd"
		[ "$(_chroot_since "$t")" = "0.0 s" ] || _chroot_log "waited $(_chroot_since "$t") for another builder"
		if [ ! -s "$CHROOT_TARBALL" ]; then
			_chroot_build || {
				exec {lockfd}>&-
				return 1
			}
		fi
		exec {lockfd}>&-
	fi
	tmp=${CHROOT_TMPDIR:-${TMPDIR:-/var/tmp}}
	dir=$(mktemp -d "$tmp/netroot-chroot.XXXXXX") || return 1
	CHROOT_COPIES+=("$dir")
	t=$(_chroot_now)
	zstd -q -dc -T0 "$CHROOT_TARBALL" | tar --numeric-owner --xattrs -C "$dir" -xf - || {
		echo "chroot: extracting $CHROOT_TARBALL failed" >&2
		return 1
	}
	_chroot_log "fresh copy in $dir: $(_chroot_since "$t")"
	printf -v "$var" '%s' "$dir"
}

# A small initramfs, as a netbooting Pi's admin may choose (it travels over TFTP): MODULES=list,
# open-iscsi's hook adds the iSCSI modules, the modules file names the SCSI disk driver, ext4 and
# its checksum, and the Pi 3 and 3B+ NICs, which is all netrootctl check-initrd asks for. For
# tests about the agent, not about Debian's default module set: MODULES=most spawns processes per
# module, 3 minutes per mkinitramfs on a 2-core runner against 15 s for this one.
# tests/integration/check_initrd.sh judges the image Debian built with MODULES=most.
chroot_initramfs_small() {
	local conf=$1${2:-/etc/initramfs-tools}
	[ -f "$conf/initramfs.conf" ] || {
		echo "chroot: no $conf/initramfs.conf" >&2
		return 1
	}
	sed -i 's/^MODULES=.*/MODULES=list/' "$conf/initramfs.conf" &&
		printf '%s\n' sd_mod ext4 crc32c_generic smsc95xx lan78xx >>"$conf/modules"
}

chroot_cleanup() {
	local d rc=0
	for d in "${CHROOT_COPIES[@]}"; do
		_chroot_remove "$d" || rc=1
	done
	CHROOT_COPIES=()
	return $rc
}
