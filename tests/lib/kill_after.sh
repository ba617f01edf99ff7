# kill_after_build DIR: compiles tests/lib/kill_after_shim.c (a test tool) into DIR and sets
# KILL_PRELOAD to what LD_PRELOAD must hold (under SANITIZE=1 the ASan runtime first; calls still
# reach the shim, ASan's interceptors pass them on).
kill_after_build() {
	cc -shared -fPIC -O2 -Wall -Werror -o "$1/kill_after_shim.so" "$TOP/tests/lib/kill_after_shim.c" -ldl ||
		return 1
	KILL_PRELOAD=$1/kill_after_shim.so
	[ "${SANITIZE:-0}" = 1 ] && KILL_PRELOAD="$(cc -print-file-name=libasan.so) $KILL_PRELOAD"
	return 0
}
