#!/bin/bash
# Builds the netroot-agent .deb for a Raspberry Pi: tests/cross.sh armhf|arm64 (make deb ARCH=...).
# The package lands in build/deb/; the repository itself is not touched (the build runs in a copy).
#
# Route: a Debian bookworm chroot of the target architecture run through qemu-user (binfmt_misc),
# building natively inside it with dpkg-buildpackage. Multiarch cross-building on the host
# (dpkg --add-architecture, crossbuild-essential-<arch>, dpkg-buildpackage -a<arch>) was tried first
# and is not usable here: the Multi-Arch: same libraries under the build dependencies must have the
# very same version for amd64 and the target, and on this mirror they do not (bookworm-security
# has no usable armhf/arm64 index, and the host's amd64 libssl3, liblzma5 ... differ from every
# armhf/arm64 version). apt could only do it by removing amd64 -dev packages (libssl-dev,
# liblzma-dev, libpq-dev, libxmlsec1-dev) and changing twenty more, so it is not done. See
# docs/PACKAGING.md.
#
# First use per architecture: debootstrap --variant=minbase + build dependencies (about 2-3 min),
# cached as one tarball under <repo>/.cache/ (like tests/lib/chroot.sh); later builds start from a
# fresh copy of it. Needs root (debootstrap, chroot, mount, binfmt_misc). Installs the host tools
# it needs (debootstrap, qemu-user-static, zstd, file, binutils) when they are missing.
#
# binfmt_misc: mounted only if it was not, and the qemu interpreter registered only if it was not
# (with the F flag, so the chroot needs no copy of qemu); both are undone on exit, also on failure.
# Runs are serialised with a lock in the cache dir, so two builds never share that state.
#
# Environment: CROSS_SUITE (default bookworm), CHROOT_CACHE_DIR (default <repo>/.cache),
# CHROOT_TMPDIR (where the working copy goes, default $TMPDIR or /var/tmp), CROSS_VERBOSE=1 shows
# the build log.
set -u -o pipefail

usage() {
	echo "usage: $0 armhf|arm64" >&2
	exit 2
}

ARCH=${1:-}
case $ARCH in
armhf) QEMU=arm ELF_RE='ELF 32-bit LSB .*ARM, EABI5' ;;
arm64) QEMU=aarch64 ELF_RE='ELF 64-bit LSB .*ARM aarch64' ;;
*) usage ;;
esac

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/lib/chroot.sh
. "$TOP/tests/lib/chroot.sh" # chroot_mirrors, chroot_mount, chroot_umount, _chroot_remove
SUITE=${CROSS_SUITE:-bookworm}
# Bump when the recipe below changes, so old caches are not reused.
RECIPE=1
TARBALL=$CHROOT_CACHE_DIR/cross-$SUITE-$ARCH-r$RECIPE.tar.zst
OUT=$TOP/build/deb
BINFMT=/proc/sys/fs/binfmt_misc
PKGDIR=/build/netroot-agent # the source tree inside the chroot

log() { echo "cross($ARCH): $*" >&2; }
die() {
	log "$*"
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount, binfmt_misc)"
T0=$(now)

# ---- host tools -------------------------------------------------------------------------------
need=()
for p in debootstrap qemu-user-static zstd file binutils; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${need[@]}"; } >/dev/null || die "apt-get install ${need[*]} failed"
fi
BINFMT_CONF=/usr/lib/binfmt.d/qemu-$QEMU.conf
[ -s "$BINFMT_CONF" ] || die "$BINFMT_CONF missing (qemu-user-static)"

# ---- state undone on exit ---------------------------------------------------------------------
mkdir -p "$CHROOT_CACHE_DIR" "$OUT" || exit 1
WORK=""
MOUNTED_BINFMT=0
REGISTERED=0
ENABLED=0
cleanup() {
	local rc=$?
	if [ -n "$WORK" ]; then
		_chroot_remove "$WORK/root" || rc=1
		rm -rf --one-file-system "$WORK" 2>/dev/null
	fi
	if [ "$REGISTERED" = 1 ]; then
		echo -1 >"$BINFMT/qemu-$QEMU" 2>/dev/null || { log "could not unregister qemu-$QEMU"; rc=1; }
	elif [ "$ENABLED" = 1 ]; then
		echo 0 >"$BINFMT/qemu-$QEMU" 2>/dev/null || rc=1
	fi
	if [ "$MOUNTED_BINFMT" = 1 ]; then
		umount "$BINFMT" 2>/dev/null || { log "could not unmount $BINFMT"; rc=1; }
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

exec {LOCKFD}>"$CHROOT_CACHE_DIR/cross.lock"
t=$(now)
flock "$LOCKFD"
[ "$(since "$t")" = "0.0 s" ] || log "waited $(since "$t") for another cross build"

# ---- binfmt_misc: run $ARCH binaries through qemu ----------------------------------------------
if [ ! -e "$BINFMT/register" ]; then
	mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc"
	MOUNTED_BINFMT=1
fi
if [ ! -e "$BINFMT/qemu-$QEMU" ]; then
	cat "$BINFMT_CONF" >"$BINFMT/register" || die "cannot register qemu-$QEMU in binfmt_misc"
	REGISTERED=1
elif [ "$(head -n 1 "$BINFMT/qemu-$QEMU")" != enabled ]; then
	echo 1 >"$BINFMT/qemu-$QEMU" || die "cannot enable binfmt_misc qemu-$QEMU"
	ENABLED=1
fi
# Someone else's registration without F needs its interpreter inside the chroot.
INTERP=$(awk '$1 == "interpreter" { print $2 }' "$BINFMT/qemu-$QEMU")
if grep -q '^flags:.*F' "$BINFMT/qemu-$QEMU"; then INTERP=""; fi
put_interp() { # ROOT
	[ -n "$INTERP" ] || return 0
	mkdir -p "$1$(dirname "$INTERP")" && cp -f "$INTERP" "$1$INTERP"
}

# Runs a command in the chroot ROOT with a clean environment.
in_root() { # ROOT CMD...
	local root=$1
	shift
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

# apt-get update; an index the mirror serves broken (seen: bookworm-security armhf) is only a
# warning as long as the main archive came through.
apt_update() { # ROOT LOG
	if ! in_root "$1" apt-get update -q >>"$2" 2>&1; then
		log "warning: apt-get update in the chroot had errors (using what was fetched):"
		grep -E '^(E|Err):' "$2" | sed 's/^/    /' | head -n 4 >&2
		ls "$1"/var/lib/apt/lists/*_dists_"${SUITE}"_main_binary-"$ARCH"_Packages* >/dev/null 2>&1 ||
			return 1
	fi
}

# Installs the Build-Depends of the source tree at SRC (a path inside ROOT).
install_build_deps() { # ROOT SRC LOG
	apt_update "$1" "$3" || return 1
	in_root "$1" apt-get install -y -q --no-install-recommends build-essential debhelper \
		>>"$3" 2>&1 || return 1
	in_root "$1" apt-get build-dep -y -q --no-install-recommends -Pnocheck "$2" >>"$3" 2>&1
}

# ---- the cached chroot ------------------------------------------------------------------------
build_cache() (
	local mirror root t
	root=$WORK/root
	mirror=$(chroot_mirrors "$SUITE" | awk -v s="$SUITE" '$2 == s { print $1; exit }')
	[ -n "$mirror" ] || die "no '$SUITE main' source in /etc/apt/sources.list*"
	log "building the $SUITE/$ARCH chroot from $mirror (first use; cached afterwards)"
	t=$(now)
	mkdir -p "$root" && put_interp "$root" || exit 1
	debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$root" "$mirror" \
		>"$WORK/debootstrap.log" 2>&1 || {
		tail -n 30 "$WORK/debootstrap.log" >&2
		die "debootstrap failed"
	}
	log "debootstrap: $(since "$t")"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" &&
		chmod 0755 "$root/usr/sbin/policy-rc.d" || exit 1
	chroot_mirrors "$SUITE" | awk '{ print "deb " $1 " " $2 " main" }' >"$root/etc/apt/sources.list" ||
		exit 1
	# Build dependencies from debian/control as it is now; a later change is caught per build.
	mkdir -p "$root/tmp/deps/debian" && cp "$TOP/debian/control" "$root/tmp/deps/debian/" || exit 1
	chroot_mount "$root" || exit 1
	t=$(now)
	install_build_deps "$root" /tmp/deps "$WORK/apt.log" || {
		tail -n 30 "$WORK/apt.log" >&2
		die "installing the build dependencies in the chroot failed"
	}
	in_root "$root" apt-get clean || exit 1
	chroot_umount "$root" || exit 1
	rm -rf "$root/tmp/deps"
	[ -z "$INTERP" ] || rm -f "$root$INTERP"
	log "build dependencies: $(since "$t")"
	t=$(now)
	tar --numeric-owner --xattrs -C "$root" -cf - . | zstd -q -T0 -3 -o "$WORK/cache.tar.zst" &&
		mv -f "$WORK/cache.tar.zst" "$TARBALL" || die "writing $TARBALL failed"
	rm -rf --one-file-system "$root"
	log "cache $TARBALL: $(since "$t"), $(du -h "$TARBALL" | cut -f1)"
)

WORK=$(mktemp -d "${CHROOT_TMPDIR:-${TMPDIR:-/var/tmp}}/netroot-cross.XXXXXX") || exit 1
if [ ! -s "$TARBALL" ]; then
	build_cache || exit 1
fi
ROOT=$WORK/root
t=$(now)
mkdir -p "$ROOT" &&
	zstd -q -dc -T0 "$TARBALL" | tar --numeric-owner --xattrs -C "$ROOT" -xf - &&
	put_interp "$ROOT" || die "extracting $TARBALL failed"

# ---- the source tree: tracked and not-ignored files as they are in the work tree ---------------
mkdir -p "$ROOT$PKGDIR" || exit 1
if git -c safe.directory="$TOP" -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	git -c safe.directory="$TOP" -C "$TOP" ls-files -z -c -o --exclude-standard |
		tar -C "$TOP" --null --ignore-failed-read -T - -cf - 2>/dev/null
else
	tar -C "$TOP" --exclude=./.git --exclude=./.cache --exclude=./build --exclude=./build-asan -cf - .
fi | tar -C "$ROOT$PKGDIR" -xf - || die "copying the source tree failed"
log "fresh chroot and source copy: $(since "$t")"

# ---- build ------------------------------------------------------------------------------------
chroot_mount "$ROOT" || die "mounting proc/sys/dev in the chroot failed"
if ! in_root "$ROOT" sh -c "cd $PKGDIR && dpkg-checkbuilddeps -Pnocheck" >/dev/null 2>&1; then
	log "debian/control needs more than the cached chroot has: installing"
	t=$(now)
	install_build_deps "$ROOT" "$PKGDIR" "$WORK/apt.log" || {
		tail -n 30 "$WORK/apt.log" >&2
		die "installing the build dependencies failed"
	}
	log "build dependencies: $(since "$t") (rm $TARBALL to cache them)"
fi
t=$(now)
JOBS=$(nproc 2>/dev/null || echo 1)
BUILDLOG=$WORK/build.log
if [ "${CROSS_VERBOSE:-0}" = 1 ]; then
	in_root "$ROOT" DEB_BUILD_OPTIONS="nocheck parallel=$JOBS" \
		sh -c "cd $PKGDIR && dpkg-buildpackage -us -uc -b -Pnocheck" 2>&1 | tee "$BUILDLOG" >&2
else
	in_root "$ROOT" DEB_BUILD_OPTIONS="nocheck parallel=$JOBS" \
		sh -c "cd $PKGDIR && dpkg-buildpackage -us -uc -b -Pnocheck" >"$BUILDLOG" 2>&1
fi || {
	tail -n 40 "$BUILDLOG" >&2
	die "dpkg-buildpackage failed"
}
log "dpkg-buildpackage (emulated $ARCH): $(since "$t")"

# ---- collect and verify -----------------------------------------------------------------------
shopt -s nullglob
debs=("$ROOT$(dirname "$PKGDIR")"/netroot-agent_*_"$ARCH".deb)
shopt -u nullglob
[ ${#debs[@]} = 1 ] || die "expected one netroot-agent_*_$ARCH.deb, found ${#debs[@]}"
DEB=$OUT/$(basename "${debs[0]}")
cp -f "${debs[0]}" "$DEB" || exit 1

got=$(dpkg-deb -f "$DEB" Architecture)
[ "$got" = "$ARCH" ] || die "$DEB: Architecture is '$got', not $ARCH"
X=$WORK/x
dpkg-deb -x "$DEB" "$X" || die "dpkg-deb -x $DEB failed"
for b in netrootd netrootctl; do
	[ -f "$X/usr/sbin/$b" ] || die "$DEB has no usr/sbin/$b"
	f=$(file -b "$X/usr/sbin/$b")
	echo "$f" | grep -Eq "$ELF_RE" || die "usr/sbin/$b is not an $ARCH binary: $f"
done
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '; }
D_NEEDED=$(needed "$X/usr/sbin/netrootd")
C_NEEDED=$(needed "$X/usr/sbin/netrootctl")
case " $D_NEEDED" in *" libcurl"*) die "netrootd NEEDs libcurl: $D_NEEDED" ;; esac
case " $C_NEEDED" in *" libcurl"*) ;; *) die "netrootctl does not NEED libcurl: $C_NEEDED" ;; esac
# The binary runs on the target architecture (through qemu, with the chroot's libraries).
V=$(in_root "$ROOT" "$PKGDIR/debian/netroot-agent/usr/sbin/netrootctl" --version 2>&1) ||
	die "netrootctl --version failed under qemu-$QEMU: $V"

echo "$DEB"
echo "  $(dpkg-deb -f "$DEB" Package Version Architecture Installed-Size | tr '\n' ' ')"
echo "  Depends: $(dpkg-deb -f "$DEB" Depends)"
echo "  netrootd:   $(file -b "$X/usr/sbin/netrootd" | cut -d, -f1-6)"
echo "  netrootd NEEDED:   $D_NEEDED"
echo "  netrootctl NEEDED: $C_NEEDED"
echo "  runs under qemu-$QEMU: $V"
log "done in $(since "$T0")"
