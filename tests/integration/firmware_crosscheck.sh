#!/bin/bash
# Two independent readers of config.txt must agree: the agent's (netrootctl bootcfg show) and the
# VM lab's firmware stand-in (tests/vm/firmware.py, which boots QEMU in make test-vm). For every
# sample config.txt in tests/data/configtxt, as seen by a Pi 3 (this serial and another), a Pi 3B+,
# a Pi 4 and a Pi 3 in tryboot mode: the same kernel file and the same initramfs files.
. "$(dirname "$0")/../lib/common.sh"
command -v python3 >/dev/null || skip "python3 missing (make deps)"
command -v jq >/dev/null || skip "jq missing (make deps)"
FW=$TOP/tests/vm/firmware.py
pis=(
	"Raspberry Pi 3 Model B Rev 1.2|511e57f7|"
	"Raspberry Pi 3 Model B Rev 1.2|deadbeef|"
	"Raspberry Pi 3 Model B Plus Rev 1.3|511e57f7|"
	"Raspberry Pi 4 Model B Rev 1.4|511e57f7|"
	"Raspberry Pi 3 Model B Rev 1.2|511e57f7|tryboot"
)
n=0
for f in "$TOP"/tests/data/configtxt/*.txt; do
	for pi in "${pis[@]}"; do
		IFS='|' read -r model serial tryboot <<<"$pi"
		d=$T/boot
		rm -rf "$d" && mkdir -p "$d"
		cp "$f" "$d/config.txt"
		cp "$f" "$d/tryboot.txt"
		echo "console=ttyS0 root=/dev/sda" >"$d/cmdline.txt"
		fw_args=() ctl_args=()
		[ -n "$tryboot" ] && fw_args=(--tryboot) ctl_args=(--tryboot)
		fw=$(python3 "$FW" "$d" --model "$model" --serial "$serial" "${fw_args[@]}" --list 2>/dev/null) ||
			fail "firmware.py failed on $(basename "$f")"
		fw_kernel=$(sed -n 's/^kernel=//p' <<<"$fw")
		fw_initrd=$(sed -n 's/^initramfs=//p' <<<"$fw")
		"$NETROOTCTL" --root / bootcfg show --json --model "$model" --serial "$serial" --boot-dir "$d" \
			"${ctl_args[@]}" >"$T/show.json" 2>"$T/show.err"
		[ -s "$T/show.json" ] || fail "bootcfg show printed nothing for $(basename "$f"): $(cat "$T/show.err")"
		ctl_kernel=$(jq -r '.kernel.file' "$T/show.json")
		ctl_initrd=$(jq -r '[.initramfs.files[]?.file] | join(",")' "$T/show.json")
		what="$(basename "$f") on '$model' serial $serial${tryboot:+ (tryboot)}"
		[ "$fw_kernel" = "$ctl_kernel" ] || fail "$what: firmware loads kernel '$fw_kernel', the agent says '$ctl_kernel'"
		[ "$fw_initrd" = "$ctl_initrd" ] || fail "$what: firmware loads initramfs '$fw_initrd', the agent says '$ctl_initrd'"
		n=$((n + 1))
	done
done
pass "the agent and the firmware stand-in agree on $n (config.txt, Pi) pairs"
