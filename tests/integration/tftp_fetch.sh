#!/bin/bash
# tftp_fetch_sha256() against a real tftpd-hpa on 127.0.0.1: the hash of a 3 MB random file
# equals sha256sum's, a missing file is -ENOENT in plain words, a port nobody serves fails within
# the timeout, and a file big enough for the 16-bit block number to wrap at the 8192-byte block
# size (> 512 MB, sparse) still hashes right. A small driver links the library directly.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/tftp.sh"

why=$(tftp_check) || skip "$why"
command -v sha256sum >/dev/null || skip "sha256sum missing (coreutils)"
[ -f "$BUILD/libnetroot.a" ] || fail "$BUILD/libnetroot.a not built (make)"
pkg-config --exists libcurl || skip "libcurl development files missing (make deps)"

cat >"$T/fetch.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tftp_fetch.h"

int main(int argc, char **argv)
{
        struct tftp_fetch_result res;
        int r;

        if (argc != 4)
                return 2;
        r = tftp_fetch_sha256(argv[1], argv[2], (unsigned)atoi(argv[3]), &res);
        printf("rc=%s\nbytes=%llu\nsha256=%s\nseconds=%.3f\nerror=%s\n",
               r == 0 ? "0" : strerrorname_np(-r), (unsigned long long)res.bytes, res.sha256,
               res.seconds, res.error);
        return r == 0 ? 0 : 1;
}
EOF
san=
[ "${SANITIZE:-0}" = 1 ] && san="-fsanitize=address,undefined -fno-omit-frame-pointer"
# shellcheck disable=SC2086,SC2046 # flag lists
cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $san -I"$TOP/agent" -o "$T/fetch" "$T/fetch.c" \
	"$BUILD/libnetroot.a" $(pkg-config --libs libcurl) || fail "driver does not compile"

SRV=$T/tftproot
mkdir -p "$SRV/511e57f7"
head -c 3145728 /dev/urandom >"$SRV/511e57f7/kernel7.img"
printf 'kernel=kernel7.img\n' >"$SRV/511e57f7/config.txt"
chmod -R a+rX "$SRV"
tftp_start "$SRV" >/dev/null || fail "in.tftpd did not start"
echo "in.tftpd pid $TFTP_PID on 127.0.0.1:$TFTP_PORT"

field() { sed -n "s/^$1=//p" "$T/out"; }
fetch() { # SERVER PATH TIMEOUT_MS: runs the driver; sets RC, ELAPSED (wall seconds)
	local t0 t1
	t0=$(date +%s%N)
	"$T/fetch" "$@" >"$T/out" 2>"$T/err"
	t1=$(date +%s%N)
	RC=$(field rc)
	ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	echo "  fetch $*: $(tr '\n' ' ' <"$T/out") wall=${ELAPSED}s"
	[ ! -s "$T/err" ] || { echo "  stderr:"; sed 's/^/    /' "$T/err"; }
}

# --- 3 MB random file: hash and size as sha256sum sees them ---
want=$(sha256sum "$SRV/511e57f7/kernel7.img" | cut -d' ' -f1)
fetch "127.0.0.1:$TFTP_PORT" 511e57f7/kernel7.img 10000
assert_eq "$RC" 0 "3 MB fetch succeeds"
assert_eq "$(field sha256)" "$want" "3 MB fetch: sha256 equals sha256sum's"
assert_eq "$(field bytes)" 3145728 "3 MB fetch: byte count"
echo "  measured: 3 MB over TFTP (blksize 8192, loopback) in $(field seconds) s"
awk -v s="$(field seconds)" 'BEGIN { exit !(s < 2.0) }' || fail "3 MB took $(field seconds) s"
pass "3 MB fetch under 2 s"

# a leading slash is the same file; a tiny file works too
fetch "127.0.0.1:$TFTP_PORT" /511e57f7/config.txt 5000
assert_eq "$(field sha256)" "$(sha256sum "$SRV/511e57f7/config.txt" | cut -d' ' -f1)" \
	"small file with a leading slash"

# an empty file: the hash of nothing
: >"$SRV/empty"
chmod a+r "$SRV/empty"
fetch "127.0.0.1:$TFTP_PORT" empty 5000
assert_eq "$(field sha256)" e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 \
	"empty file hashes to SHA-256 of nothing"

# --- missing file: -ENOENT with plain words, not curl's misleading text ---
fetch "127.0.0.1:$TFTP_PORT" 511e57f7/start.elf 5000
assert_eq "$RC" ENOENT "missing file is -ENOENT"
assert_eq "$(field error)" "file 511e57f7/start.elf not found on TFTP server 127.0.0.1:$TFTP_PORT" \
	"missing file: message names file and server"
awk -v s="$ELAPSED" 'BEGIN { exit !(s < 1.0) }' || fail "not-found took ${ELAPSED}s"
pass "missing file answered at once"

# --- nobody on the port: an error within the timeout, not later ---
closed=
for _ in $(seq 20); do
	p=$((20000 + RANDOM % 40000))
	_tftp_port_used "$p" || { closed=$p; break; }
done
[ -n "$closed" ] || fail "no unused port found"
fetch "127.0.0.1:$closed" 511e57f7/kernel7.img 2000
case $RC in ETIMEDOUT | ECONNREFUSED) pass "closed port: $RC" ;; *) fail "closed port gave rc=$RC" ;; esac
awk -v s="$ELAPSED" 'BEGIN { exit !(s < 3.0) }' || fail "closed port took ${ELAPSED}s, timeout 2 s"
pass "closed port: failed after ${ELAPSED}s (timeout 2 s)"
echo "  measured: closed port, 2 s timeout: $RC after ${ELAPSED}s"
if [ "$RC" = ETIMEDOUT ]; then
	assert_eq "$(field error)" "no answer from TFTP server 127.0.0.1:$closed within 2 s" \
		"timeout message in plain words"
fi

# --- server stopped mid-life: same bounded failure ---
tftp_stop
fetch "127.0.0.1:$closed" config.txt 1000
awk -v s="$ELAPSED" 'BEGIN { exit !(s < 2.0) }' || fail "1 s timeout took ${ELAPSED}s"
pass "1 s timeout honoured (${ELAPSED}s)"

# --- bad arguments never reach libcurl ---
fetch "127.0.0.1:1/../x" config.txt 1000
assert_eq "$RC" EINVAL "server with a slash refused"
fetch "127.0.0.1:$closed" "$(printf 'a\nb')" 1000
assert_eq "$RC" EINVAL "path with a newline refused"

tftp_start "$SRV" >/dev/null || fail "in.tftpd did not restart"

# --- block number wrap: 65536 blocks of 8192 bytes = 512 MiB; a sparse file costs no disk ---
if [ "${TFTP_SKIP_WRAP:-0}" != 1 ]; then
	truncate -s $((512 * 1024 * 1024 + 12345)) "$SRV/big.img"
	printf 'tail' | dd of="$SRV/big.img" bs=1 seek=$((512 * 1024 * 1024 + 100)) conv=notrunc \
		status=none
	chmod a+r "$SRV/big.img"
	want=$(sha256sum "$SRV/big.img" | cut -d' ' -f1)
	fetch "127.0.0.1:$TFTP_PORT" big.img 120000
	assert_eq "$RC" 0 "512 MiB fetch succeeds"
	assert_eq "$(field bytes)" $((512 * 1024 * 1024 + 12345)) "512 MiB fetch: byte count"
	assert_eq "$(field sha256)" "$want" "block number wrap (65536+ blocks): sha256 matches"
	echo "  measured: 512 MiB (65538 blocks of 8192) in $(field seconds) s"
	rm -f "$SRV/big.img"
fi

# --- valgrind: one fetch and one failure, no leak or error in our code or libcurl use ---
if command -v valgrind >/dev/null && [ "${SANITIZE:-0}" != 1 ]; then
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		"$T/fetch" "127.0.0.1:$TFTP_PORT" 511e57f7/kernel7.img 20000 >"$T/out" 2>"$T/vg" ||
		fail "valgrind: $(cat "$T/vg")"
	assert_eq "$(field rc)" 0 "valgrind: fetch ok"
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		"$T/fetch" "127.0.0.1:$TFTP_PORT" nope 20000 >"$T/out" 2>"$T/vg"
	[ $? = 1 ] || fail "valgrind (not found): $(cat "$T/vg")"
	pass "valgrind clean"
fi
exit 0
