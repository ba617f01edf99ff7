#!/bin/bash
# make test-fresh: the README's two developer commands, `make demo` then `make check`, on a fresh
# Debian 12 machine: a minbase debootstrap chroot holding only what a developer has before reading
# the README, with a clone of this repository at HEAD. It catches a dependency that `make deps`
# forgets (the build machine happening to have it) and a test that assumes something of its host.
#
#   tests/fresh/run.sh              build or reuse the base, clone, run, clean up; exit status of
#                                   the run (0 only when both commands passed)
#   tests/fresh/run.sh --enter DIR  a root shell in a kept chroot (FRESH_KEEP=1), mounted as for the
#                                   run; unmounted again when the shell exits
#
# The fresh machine (the cached base) is `debootstrap --variant=minbase` of bookworm (the packages
# every Debian system has: Priority required, and apt) plus exactly:
#   git              to get the tree (README: clone, then make)
#   make             to type the README's commands
#   ca-certificates  what git needs to clone over https, as a developer does
# and no sudo: the README says "as root". It holds nothing `make deps` installs (checked when the
# base is built: see _fresh_check_base). Two things that are not packages are added, each because the
# machine is a chroot and not a booted system: /etc/hosts (the installer writes it) and a
# policy-rc.d that refuses to start services, because a package's daemon (tgtd, tftpd-hpa) started
# by apt inside a chroot would run on this machine's network, not under the fresh machine's systemd.
#
# The tree is `git clone`d at its HEAD commit: uncommitted changes are NOT tested (a warning says
# so). The nested Debian chroot the tests use (tests/lib/chroot.sh) is built again from scratch
# inside, as on any fresh machine, unless FRESH_CHROOT_CACHE hands in a CI's cache of it (CI does).
#
# Mounts, as a booted machine has them: / (the chroot bound onto itself, so that `unshare -m
# --propagation private` and `ip netns exec`, which change the propagation of /, find a mount
# point), /proc, /sys (recursive, slave: nothing unmounted inside reaches the host), /dev, /dev/pts,
# a tmpfs /dev/shm and a tmpfs /run (ip netns keeps /run/netns there, tgtd its control sockets).
# The run fails when make demo or make check fails, when make demo did not show what it shows on a
# working machine (check_demo), when make check skipped any test (check_no_skip) and when anything
# they started still runs after them (check_no_leftovers).
# Cleanup runs on every exit, Ctrl-C and SIGTERM included: every process whose root is inside the
# chroot is stopped by PID (TERM, then KILL), everything mounted below the chroot is unmounted,
# deepest first (lazily as the last resort), and the folder is removed unless something is still
# mounted there.
#
# Environment:
#   FRESH_KEEP=1        keep the chroot (unmounted) and print how to enter it
#   FRESH_TMPDIR        where the chroot goes (default /var/tmp)
#   FRESH_CACHE_DIR     where the base tarball is cached (default <repo>/.cache)
#   FRESH_LOG           the run's full output (default <repo>/build/test-fresh.log); on failure the
#                       per-test logs are copied next to it (test-fresh-logs/)
#   FRESH_COMMANDS      run this inside instead of make demo and make check (debugging)
#   FRESH_CHROOT_CACHE  a folder of this machine holding the test chroot's cache (tests/lib/chroot.sh):
#                       bound into the fresh machine and named to the tests there as
#                       CHROOT_CACHE_DIR, as a CI keeps its caches between runs (.ci/run sets it).
#                       The machine still has to be able to build it: chroot.sh checks for
#                       debootstrap whether the cache is there or not, so a make deps that forgets
#                       it still fails here.
set -u -o pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# chroot_mirrors: the Debian mirror this machine's apt uses (nothing hard-coded)
# shellcheck source=../lib/chroot.sh
. "$TOP/tests/lib/chroot.sh"

FRESH_SUITE=bookworm
FRESH_ARCH=$(dpkg --print-architecture)
FRESH_BASE_PACKAGES="git make ca-certificates"
# Bump when the recipe of the base changes, so an old cache is not reused.
FRESH_RECIPE=1
FRESH_CACHE_DIR=${FRESH_CACHE_DIR:-$TOP/.cache}
FRESH_TARBALL=$FRESH_CACHE_DIR/fresh-$FRESH_SUITE-$FRESH_ARCH-r$FRESH_RECIPE.tar.zst
FRESH_LOG=${FRESH_LOG:-$TOP/build/test-fresh.log}
SRC_IN_CHROOT=/root/netroot-agent
CHROOT_CACHE_IN_CHROOT=/var/cache/netroot-test-chroot

WORK=
ROOT=
MOUNTS=
CHILD=
_cleaned=0

log() { echo "fresh: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }'; }

# --- processes and mounts --------------------------------------------------------------------------

# PIDs of every process whose root directory is DIR or below it (a test's nested chroot, in.tftpd's
# --secure chroot), whatever its mount namespace. One find, not a readlink per process: it is
# called in a loop while hundreds of processes run.
procs_in() {
	find /proc -mindepth 2 -maxdepth 2 -name root \( -lname "$1" -o -lname "$1/*" \) \
		-printf '%h\n' 2>/dev/null | sed -n 's|^/proc/\([0-9][0-9]*\)$|\1|p' | grep -vx -- "$$"
}

# Stops every process inside DIR by PID: SIGTERM (the tests' traps clean up their namespaces and
# servers), up to 15 s, then SIGKILL (tgtd ignores SIGTERM).
stop_procs() {
	local dir=$1 pids deadline
	pids=$(procs_in "$dir")
	[ -n "$pids" ] || return 0
	log "stopping $(echo "$pids" | wc -w) process(es) left in the chroot:"
	# shellcheck disable=SC2086
	ps -o pid=,ppid=,stat=,etimes=,args= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null |
		cut -c1-200 | sed 's/^/fresh:   /' >&2
	# shellcheck disable=SC2086 # a PID list
	kill -TERM $pids 2>/dev/null
	deadline=$((SECONDS + 15))
	while [ $SECONDS -lt $deadline ]; do
		pids=$(procs_in "$dir")
		[ -n "$pids" ] || return 0
		sleep 0.2
	done
	log "SIGKILL to: $(tr "\n" " " <<<"$pids")"
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	deadline=$((SECONDS + 5))
	while [ $SECONDS -lt $deadline ]; do
		[ -n "$(procs_in "$dir")" ] || return 0
		sleep 0.2
	done
	log "processes still in $dir: $(procs_in "$dir" | tr '\n' ' ')"
	return 1
}

# Mount points at or below DIR, deepest first (the octal escapes of /proc/self/mounts decoded).
mounts_below() {
	awk -v d="$1" '{ m = $2; gsub(/\\040/, " ", m); gsub(/\\011/, "\t", m)
		if (m == d || index(m, d "/") == 1) print length(m) "\t" m }' /proc/self/mounts |
		sort -n -r -s -k1,1 | cut -f2-
}

# mount_one TARGET MOUNT-ARGS...: mounts and records TARGET in $MOUNTS once it is mounted.
mount_one() {
	local target=$1
	shift
	mount "$@" "$target" || {
		log "mount $* $target failed"
		return 1
	}
	echo "$target" >>"$MOUNTS"
}

mount_all() {
	local r=$1
	: >"$MOUNTS" || return 1
	mount_one "$r" --bind "$r" &&
		mount_one "$r/proc" -t proc proc &&
		mount_one "$r/sys" --rbind /sys &&
		mount --make-rslave "$r/sys" &&
		mount_one "$r/dev" --bind /dev &&
		mount_one "$r/dev/pts" --bind /dev/pts &&
		mount_one "$r/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev tmpfs &&
		mount_one "$r/run" -t tmpfs -o mode=0755,nosuid,nodev,size=20% tmpfs &&
		mkdir -m 1777 "$r/run/lock" && chmod 1777 "$r/run/lock"
}

# Unmounts what the tests left below the chroot (deepest first), then ours in reverse order;
# a lazy unmount only when a plain one fails.
umount_all() {
	local r=$1 m rc=0
	while read -r m; do
		[ -n "$m" ] || continue
		grep -qxF -- "$m" "$MOUNTS" 2>/dev/null && continue
		case $m in "$r/sys/"*) continue ;; esac # ours: the recursive bind of /sys
		log "unmounting $m (left by the run)"
		umount "$m" 2>/dev/null || umount -l "$m" || rc=1
	done < <(mounts_below "$r")
	if [ -f "$MOUNTS" ]; then
		while read -r m; do
			[ -n "$m" ] || continue
			umount -R "$m" 2>/dev/null || umount -R -l "$m" || rc=1
		done < <(tac "$MOUNTS")
		: >"$MOUNTS"
	fi
	if [ -n "$(mounts_below "$r")" ]; then
		log "still mounted below $r: $(mounts_below "$r" | tr '\n' ' ')"
		rc=1
	fi
	return $rc
}

cleanup() {
	local rc=$?
	[ "$_cleaned" = 0 ] || return
	_cleaned=1
	trap '' INT TERM HUP
	[ -z "$CHILD" ] || kill -TERM "$CHILD" 2>/dev/null
	if [ -n "$ROOT" ] && [ -d "$ROOT" ]; then
		stop_procs "$ROOT" || rc=1
		umount_all "$ROOT" || rc=1
	fi
	[ -z "$CHILD" ] || wait "$CHILD" 2>/dev/null
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ -n "$(mounts_below "$WORK")" ]; then
			log "NOT removing $WORK: still mounted there"
			rc=1
		elif [ "${FRESH_KEEP:-0}" = 1 ]; then
			log "kept $ROOT (FRESH_KEEP=1); enter it with: tests/fresh/run.sh --enter $ROOT"
		else
			rm -rf --one-file-system "$WORK" || rc=1
		fi
	fi
	exit "$rc"
}

on_signal() {
	log "$1: stopping the run and cleaning up"
	exit 130
}

# --- the base (the fresh machine) --------------------------------------------------------------

# The base must be a machine before `make deps`: of the packages make deps and vm-deps install,
# only those that every minbase has (Priority required) or that git, make and ca-certificates
# depend on may be present. Names the ones present and fails on any other.
_fresh_check_base() {
	local r=$1 deps p prio pulled bad=() had=()
	deps=$(make -s -C "$TOP" --no-print-directory print-deps) || {
		log "make print-deps failed"
		return 1
	}
	# The Depends/Pre-Depends closure of the base packages over what is installed in the base.
	pulled=$(dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Package} ${Pre-Depends}, ${Depends}\n' |
		awk -v want="$FRESH_BASE_PACKAGES" '
			{ pkg = $1; $1 = ""; d = $0; gsub(/\([^)]*\)|:any/, "", d); gsub(/[|,]/, " ", d)
			  deps[pkg] = d }
			END {
				n = split(want, q, " "); for (i = 1; i <= n; i++) seen[q[i]] = 1
				while (n > 0) {
					p = q[n--]; m = split(deps[p], a, " ")
					for (j = 1; j <= m; j++) if (!(a[j] in seen)) { seen[a[j]] = 1; q[++n] = a[j] }
				}
				for (p in seen) print p
			}')
	for p in $deps; do
		dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed' || continue
		prio=$(dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Priority}' "$p")
		if [ "$prio" = required ]; then
			had+=("$p")
		elif grep -qxF -- "$p" <<<"$pulled"; then
			had+=("$p (a dependency of $FRESH_BASE_PACKAGES)")
		else
			bad+=("$p")
		fi
	done
	[ ${#had[@]} -eq 0 ] || log "the base already has, as any such machine: ${had[*]}"
	if [ ${#bad[@]} -gt 0 ]; then
		log "the base holds what make deps should install: ${bad[*]}"
		return 1
	fi
}

build_base() (
	local work root mirror t
	work=$(mktemp -d "$FRESH_CACHE_DIR/fresh-build.XXXXXX") || exit 1
	root=$work/root
	# shellcheck disable=SC2064
	trap "umount_all_build '$root'; rm -rf --one-file-system '$work'" EXIT
	trap 'exit 1' INT TERM HUP
	mirror=$(chroot_mirrors "$FRESH_SUITE" | awk -v s="$FRESH_SUITE" '$2 == s { print $1; exit }')
	[ -n "$mirror" ] || {
		log "no '$FRESH_SUITE main' source in /etc/apt/sources.list*"
		exit 1
	}
	log "building the fresh machine: debootstrap --variant=minbase $FRESH_SUITE + $FRESH_BASE_PACKAGES from $mirror"
	t=$(now)
	debootstrap --variant=minbase --arch="$FRESH_ARCH" --include="${FRESH_BASE_PACKAGES// /,}" \
		"$FRESH_SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		exit 1
	}
	log "debootstrap: $(since "$t")"
	# What the installer sets up: the machine's apt sources (main, -updates, -security) and hosts.
	chroot_mirrors "$FRESH_SUITE" | awk '{ print "deb " $1 " " $2 " main" }' \
		>"$root/etc/apt/sources.list" || exit 1
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	echo fresh >"$root/etc/hostname"
	# A chroot has no init of its own: apt must not start a package's daemon on this machine.
	printf '#!/bin/sh\n# tests/fresh/run.sh: a chroot, not a booted system\nexit 101\n' \
		>"$root/usr/sbin/policy-rc.d" && chmod 0755 "$root/usr/sbin/policy-rc.d" || exit 1
	chroot "$root" apt-get clean || exit 1
	_fresh_check_base "$root" || exit 1
	t=$(now)
	tar --numeric-owner --xattrs -C "$root" -cf - . | zstd -q -T0 -3 -o "$work/base.tar.zst" || exit 1
	mv -f "$work/base.tar.zst" "$FRESH_TARBALL" || exit 1
	log "cached as $FRESH_TARBALL ($(du -h "$FRESH_TARBALL" | cut -f1), $(since "$t"))"
)

# debootstrap unmounts what it mounted; this only catches what an interrupted one left.
umount_all_build() {
	local m
	while read -r m; do
		[ -n "$m" ] && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done < <(mounts_below "$1")
}

ensure_base() {
	local lockfd t
	mkdir -p "$FRESH_CACHE_DIR" || return 1
	[ -s "$FRESH_TARBALL" ] && return 0
	exec {lockfd}>"$FRESH_CACHE_DIR/fresh.lock"
	t=$(now)
	flock "$lockfd"
	[ "$(since "$t")" = "0 s" ] || log "waited $(since "$t") for another builder"
	if [ ! -s "$FRESH_TARBALL" ]; then
		build_base || {
			exec {lockfd}>&-
			return 1
		}
	fi
	exec {lockfd}>&-
}

# --- the run ----------------------------------------------------------------------------------

clone_tree() {
	local dest=$1 head
	head=$(git -C "$TOP" rev-parse HEAD) || return 1
	if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no)" ]; then
		log "WARNING: uncommitted changes in $TOP are NOT tested (the clone is of HEAD $head)"
	fi
	git clone -q --no-checkout --no-hardlinks "$TOP" "$dest" || return 1
	# HEAD of this work tree may be on no branch: fetch it by name from the tree itself.
	git -C "$dest" fetch -q "$TOP" HEAD && git -C "$dest" checkout -q --detach "$head" || return 1
	[ "$(git -C "$dest" rev-parse HEAD)" = "$head" ] || return 1
	log "cloned $TOP at $(git -C "$TOP" log -1 --format='%h %s' "$head")"
}

# Runs COMMAND in the chroot as a root login would: an empty environment but for HOME, PATH,
# TERM and LANG, the shell in the clone.
in_chroot() {
	local cache=()
	[ -z "${FRESH_CHROOT_CACHE:-}" ] || cache=(CHROOT_CACHE_DIR="$CHROOT_CACHE_IN_CHROOT")
	chroot "$ROOT" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 "${cache[@]}" \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "cd $SRC_IN_CHROOT && $1"
}

enter() {
	ROOT=$(cd "$1" && pwd) || exit 2
	[ -d "$ROOT$SRC_IN_CHROOT" ] || { log "$ROOT is no fresh chroot"; exit 2; }
	MOUNTS=$(mktemp /tmp/netroot-fresh-mounts.XXXXXX) || exit 1
	# shellcheck disable=SC2064
	trap "stop_procs '$ROOT'; umount_all '$ROOT'; rm -f '$MOUNTS'" EXIT
	[ -z "$(mounts_below "$ROOT")" ] || { log "$ROOT is in use (mounted)"; exit 1; }
	mount_all "$ROOT" || exit 1
	cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
	log "a shell in $ROOT (exit to unmount)"
	chroot "$ROOT" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "cd $SRC_IN_CHROOT && exec bash -i"
}

main() {
	local t0 t rc summary c
	[ "$(id -u)" = 0 ] || { log "needs root (debootstrap, chroot, mount)"; exit 1; }
	for c in debootstrap zstd git chroot flock; do
		command -v "$c" >/dev/null || { log "$c missing (make test-fresh installs it)"; exit 1; }
	done
	t0=$(now)
	trap cleanup EXIT
	trap 'on_signal SIGINT' INT
	trap 'on_signal SIGTERM' TERM
	trap 'on_signal SIGHUP' HUP

	ensure_base || { log "could not build the fresh machine"; exit 1; }
	WORK=$(mktemp -d "${FRESH_TMPDIR:-/var/tmp}/netroot-fresh.XXXXXX") || exit 1
	ROOT=$WORK/root
	MOUNTS=$WORK/mounts
	mkdir "$ROOT" || exit 1
	t=$(now)
	zstd -q -dc -T0 "$FRESH_TARBALL" | tar --numeric-owner --xattrs -C "$ROOT" -xf - || {
		log "extracting $FRESH_TARBALL failed"
		exit 1
	}
	# The machine's network configuration (DNS), as the installer leaves it.
	rm -f "$ROOT/etc/resolv.conf"
	cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" || exit 1
	log "fresh machine in $ROOT: $(since "$t")"
	clone_tree "$ROOT$SRC_IN_CHROOT" || { log "git clone failed"; exit 1; }
	mount_all "$ROOT" || exit 1
	# The reference boot files sit beside the clone on a developer's machine (../shared): the
	# same place, read-only, so integration/realworld runs there as here.
	for rw in "${NETROOT_REALWORLD:-}" "$TOP/../shared/reference/realworld" /work/shared/reference/realworld; do
		[ -n "$rw" ] && [ -x "$rw/run.sh" ] || continue
		mkdir -p "$ROOT/root/shared/reference/realworld" &&
			mount_one "$ROOT/root/shared/reference/realworld" --bind "$rw" &&
			mount -o remount,bind,ro "$ROOT/root/shared/reference/realworld" || exit 1
		break
	done
	if [ -n "${FRESH_CHROOT_CACHE:-}" ]; then
		mkdir -p "$FRESH_CHROOT_CACHE" "$ROOT$CHROOT_CACHE_IN_CHROOT" &&
			mount_one "$ROOT$CHROOT_CACHE_IN_CHROOT" --bind "$FRESH_CHROOT_CACHE" || exit 1
		log "the test chroot's cache: $FRESH_CHROOT_CACHE, bound at $CHROOT_CACHE_IN_CHROOT (FRESH_CHROOT_CACHE)"
	fi
	df -h "$ROOT" | tail -n 1 | awk '{ print "fresh: disk: " $4 " free on " $6 }' >&2

	mkdir -p "$(dirname "$FRESH_LOG")" || exit 1
	: >"$FRESH_LOG" || exit 1
	log "full output also in $FRESH_LOG"
	rc=0
	if [ -n "${FRESH_COMMANDS:-}" ]; then
		step "$FRESH_COMMANDS" || rc=1
	else
		step "make demo" && check_demo && step "make check" && check_no_skip || rc=1
		check_no_leftovers || rc=1
	fi
	df -h "$ROOT" | tail -n 1 | awk '{ print "fresh: disk after the run: " $4 " free" }' >&2
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$FRESH_LOG" | tail -n 1)
	if [ "$rc" != 0 ]; then
		rm -rf "${FRESH_LOG%.log}-logs"
		mkdir -p "${FRESH_LOG%.log}-logs"
		cp -r "$ROOT"/tmp/netroot-tests.* "${FRESH_LOG%.log}-logs/" 2>/dev/null &&
			log "per-test logs copied to ${FRESH_LOG%.log}-logs/"
	fi
	[ -n "${FRESH_COMMANDS:-}" ] ||
		log "make check in the fresh machine: ${summary:-no summary line (make check did not run or finish)}"
	log "total $(since "$t0"): $([ "$rc" = 0 ] && echo PASSED || echo FAILED)"
	exit "$rc"
}

# step COMMAND: runs COMMAND in the fresh machine, its output on stdout and appended to FRESH_LOG.
# In the background so that a signal reaches our trap at once (wait returns), not after the run.
step() {
	local t rc
	log "in the fresh machine: $1"
	t=$(now)
	{ in_chroot "$1" 2>&1 | tee -a "$FRESH_LOG"; } &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=
	log "$1: exit status $rc after $(since "$t")"
	return $rc
}

# A test skips when a tool is missing ("jq not installed (make deps)"), and make check passes with
# skips: on the fresh machine, where make deps installed everything, any skip fails the run.
check_no_skip() {
	local skips
	skips=$(grep -E '^SKIP  ' "$FRESH_LOG")
	[ -z "$skips" ] && return 0
	log "tests skipped on the fresh machine (a dependency make deps forgot?):"
	printf '%s\n' "$skips" >&2
	return 1
}

# Nothing make demo or make check started may still run once they are done: on a developer's
# machine it would run on until the next reboot.
check_no_leftovers() {
	local pids
	pids=$(procs_in "$ROOT")
	[ -z "$pids" ] && return 0
	log "make demo and make check left $(wc -w <<<"$pids") process(es) running (stopped below)"
	return 1
}

# make demo exits 0 even when a scene goes wrong (it is a show, not a test): the lines that only a
# working demo prints. Keep in step with tests/demo.sh.
check_demo() {
	local want missing=()
	for want in "state: OK" "netrootd exit status 0" "   exit status 0" \
		"exit status 3 (3 = rolled back)" "config.txt is byte for byte what it was" \
		"): good: kernel"; do
		grep -qF -- "$want" "$FRESH_LOG" || missing+=("'$want'")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "make demo did not show: ${missing[*]}"
	return 1
}

if [ "${1:-}" = --enter ]; then
	[ $# = 2 ] || { echo "usage: $0 --enter DIR" >&2; exit 2; }
	enter "$2"
else
	[ $# = 0 ] || { echo "usage: $0 [--enter DIR]" >&2; exit 2; }
	main
fi
