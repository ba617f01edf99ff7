#!/bin/bash
# Two independent readers of config.txt must agree: the agent's (netrootctl bootcfg show) and the
# VM lab's firmware stand-in (tests/vm/firmware.py, which boots QEMU in make test-vm).
#   0. firmware.py's own test (tests/vm/test_firmware.py: documented rules, real-world files);
#   1. every flat sample config.txt in tests/data/configtxt, as seen by a Pi 3 (this serial and
#      another), a Pi 3B+, a Pi 4 and a Pi 3 in tryboot mode;
#   2. every boot folder in tests/data/configtxt-include (included files, os_prefix folders,
#      serial folders; see its README.md): firmware.py must load what the Raspberry Pi
#      documentation says (the folder's CASE file), and the agent what firmware.py loads.
# Compared: the kernel file, the initramfs files and the cmdline file, as paths in the boot folder
# (a leading / -- "bypass all prefixes" -- names the same file as without it).
# Every disagreement is listed before the test fails.
. "$(dirname "$0")/../lib/common.sh"
command -v python3 >/dev/null || skip "python3 missing (make deps)"
command -v jq >/dev/null || skip "jq missing (make deps)"
[ -x "$NETROOTCTL" ] || fail "no $NETROOTCTL (make all)"
FW=$TOP/tests/vm/firmware.py
bad=0
ko() { echo "not ok - $*"; bad=$((bad + 1)); }

# --- 0. firmware.py's self test ------------------------------------------------------------------
if python3 "$TOP/tests/vm/test_firmware.py" >"$T/selftest.log" 2>&1; then
	pass "firmware.py self test: $(tail -n 1 "$T/selftest.log")"
else
	grep -v '^ok ' "$T/selftest.log" | sed 's/^/    | /'
	ko "firmware.py self test: $(tail -n 1 "$T/selftest.log")"
fi

# fw_read DIR MODEL SERIAL TRYBOOT: what firmware.py loads, in FW_K, FW_I, FW_C
fw_read() {
	local args=()
	[ -n "$4" ] && args=(--tryboot)
	python3 "$FW" "$1" --model "$2" --serial "$3" "${args[@]}" --list >"$T/fw.out" 2>"$T/fw.err" </dev/null ||
		return 1
	FW_K=$(sed -n 's/^kernel=//p' "$T/fw.out")
	FW_I=$(sed -n 's/^initramfs=//p' "$T/fw.out")
	FW_C=$(sed -n 's/^cmdline_file=//p' "$T/fw.out")
}
# ctl_read DIR MODEL SERIAL TRYBOOT: what netrootctl bootcfg show says, in CTL_K, CTL_I, CTL_C
ctl_read() {
	local args=()
	[ -n "$4" ] && args=(--tryboot)
	"$NETROOTCTL" --root / bootcfg show --json --model "$2" --serial "$3" --boot-dir "$1" \
		"${args[@]}" >"$T/show.json" 2>"$T/show.err" </dev/null
	[ -s "$T/show.json" ] || return 1
	CTL_K=$(jq -r '.kernel.file | ltrimstr("/")' "$T/show.json")
	CTL_I=$(jq -r '[.initramfs.files[]?.file | ltrimstr("/")] | join(",")' "$T/show.json")
	CTL_C=$(jq -r '.cmdline.file | ltrimstr("/")' "$T/show.json")
}
# disagree: the differences between FW_* and CTL_* ("" when they agree)
disagree() {
	local d=""
	[ "$FW_K" = "$CTL_K" ] || d+=" kernel: firmware '$FW_K', the agent '$CTL_K';"
	[ "$FW_I" = "$CTL_I" ] || d+=" initramfs: firmware '$FW_I', the agent '$CTL_I';"
	[ "$FW_C" = "$CTL_C" ] || d+=" cmdline file: firmware '$FW_C', the agent '$CTL_C';"
	printf '%s' "$d"
}

# --- 1. flat samples -----------------------------------------------------------------------------
pis=(
	"Raspberry Pi 3 Model B Rev 1.2|511e57f7|"
	"Raspberry Pi 3 Model B Rev 1.2|deadbeef|"
	"Raspberry Pi 3 Model B Plus Rev 1.3|511e57f7|"
	"Raspberry Pi 4 Model B Rev 1.4|511e57f7|"
	"Raspberry Pi 3 Model B Rev 1.2|511e57f7|tryboot"
)
n=0 bad1=$bad
for f in "$TOP"/tests/data/configtxt/*.txt; do
	for pi in "${pis[@]}"; do
		IFS='|' read -r model serial tryboot <<<"$pi"
		d=$T/boot
		rm -rf "$d" && mkdir -p "$d"
		cp "$f" "$d/config.txt"
		cp "$f" "$d/tryboot.txt"
		echo "console=ttyS0 root=/dev/sda" >"$d/cmdline.txt"
		what="$(basename "$f") on '$model' serial $serial${tryboot:+ (tryboot)}"
		n=$((n + 1))
		fw_read "$d" "$model" "$serial" "$tryboot" || { ko "$what: firmware.py failed: $(cat "$T/fw.err")"; continue; }
		ctl_read "$d" "$model" "$serial" "$tryboot" || { ko "$what: bootcfg show printed nothing: $(cat "$T/show.err")"; continue; }
		diff=$(disagree)
		[ -z "$diff" ] || ko "$what:$diff"
	done
done
[ "$bad" = "$bad1" ] && pass "the agent and the firmware stand-in agree on $n (flat config.txt, Pi) pairs"

# --- 2. boot folders with included files, os_prefix folders, serial folders ----------------------
cases=0
for c in "$TOP"/tests/data/configtxt-include/*/; do
	c=${c%/}
	name=$(basename "$c")
	spec=$c/CASE
	[ -f "$spec" ] || { ko "$name: no CASE file"; continue; }
	folder=$(sed -n 's/^folder //p' "$spec")
	d=$T/cases/$name/${folder:-boot}
	mkdir -p "$d"
	cp -r "$c/." "$d/" || fail "cannot copy $c"
	rm -f "$d/CASE"
	while read -r p; do
		mkdir -p "$(dirname "$d/$p")" || fail "$name: cannot create $p"
		: >"$d/$p" || fail "$name: cannot create $p"
	done < <(sed -n 's/^touch //p' "$spec")
	lines=0
	while IFS='|' read -r -u 3 model serial tryboot want_k want_i want_c; do
		lines=$((lines + 1)) cases=$((cases + 1))
		what="$name on '$model' serial $serial${tryboot:+ (tryboot)}"
		if ! fw_read "$d" "$model" "$serial" "$tryboot"; then
			ko "$what: firmware.py failed: $(cat "$T/fw.err")"
			continue
		fi
		if [ "$FW_K|$FW_I|$FW_C" != "$want_k|$want_i|$want_c" ]; then
			ko "$what: firmware.py loads [$FW_K|$FW_I|$FW_C], the documentation says [$want_k|$want_i|$want_c]: $(tr '\n' ' ' <"$T/fw.err")"
			continue
		fi
		if ! ctl_read "$d" "$model" "$serial" "$tryboot"; then
			ko "$what: bootcfg show printed nothing: $(cat "$T/show.err")"
			continue
		fi
		diff=$(disagree)
		if [ -n "$diff" ]; then
			ko "$what:$diff"
		else
			pass "$what: both load [$want_k|$want_i|$want_c]"
		fi
	done 3< <(sed -n 's/^pi //p' "$spec")
	[ "$lines" -gt 0 ] || ko "$name: CASE names no Pi"
done
[ "$cases" -gt 0 ] || ko "no cases in tests/data/configtxt-include"

[ "$bad" = 0 ] || fail "$bad disagreement(s) (listed above as 'not ok')"
pass "the agent and the firmware stand-in agree on $n flat pairs and $cases boot-folder cases"
