# shellcheck shell=bash
# The package as a user gets it: dpkg-buildpackage in a copy of the working tree (without git data
# and build output, also not of an earlier in-tree `make deb`), so a tree with uncommitted files
# packages as it is. Sourced, never run.
#
#   deb_build DIR [DEB_BUILD_OPTIONS]   builds into DIR (DIR/src is the copy, DIR/build.log the
#                                       log), sets DEB to the one netroot-agent_*.deb; returns 1
#                                       with the log's tail on stderr when anything fails

DEB=

deb_build() {
	local dir=$1 opts=${2:-nocheck} top debs
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	mkdir -p "$dir/src" || return 1
	tar -C "$top" --exclude=./.git --exclude=./build --exclude=./build-asan --exclude=./build-fuzz \
		--exclude=./.cache --exclude=./debian/.debhelper --exclude=./debian/netroot-agent \
		--exclude=./debian/tmp --exclude=./debian/files --exclude=./debian/debhelper-build-stamp \
		--exclude='./debian/*.substvars' --exclude='./debian/*.debhelper' -cf - . |
		tar -C "$dir/src" -xf - || {
		echo "deb_build: cannot copy the tree" >&2
		return 1
	}
	# The package is the plain build whatever the caller's make was given: `make SANITIZE=1 check`
	# hands SANITIZE=1 to every make below it through MAKEFLAGS, debian/rules' own make included.
	(cd "$dir/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u BUILD \
		DEB_BUILD_OPTIONS="parallel=$(nproc) $opts" dpkg-buildpackage -us -uc -b) \
		>"$dir/build.log" 2>&1 || {
		echo "deb_build: dpkg-buildpackage failed: $(tail -n 40 "$dir/build.log")" >&2
		return 1
	}
	debs=("$dir"/netroot-agent_*.deb)
	if [ "${#debs[@]}" != 1 ] || [ ! -f "${debs[0]}" ]; then
		echo "deb_build: expected one .deb, got: ${debs[*]}" >&2
		return 1
	fi
	DEB=${debs[0]}
}
