# shellcheck shell=bash
# FAKE Raspberry Pi firmware sets for tests: small files in the real format's shape. A real
# start*.elf (Debian raspi-firmware 1.20220830, /usr/lib/raspi-firmware/) carries its build
# identity as NUL-terminated strings padded to 4 bytes, "VC_BUILD_ID_USER: dom",
# "VC_BUILD_ID_TIME: 14:04:36", "VC_BUILD_ID_VARIANT: start", "VC_BUILD_ID_TIME: Aug 26 2022",
# "VC_BUILD_ID_BRANCH: bcm2711_2", "VC_BUILD_ID_HOSTNAME: buildbot",
# "VC_BUILD_ID_PLATFORM: raspberrypi_linux", "VC_BUILD_ID_VERSION: <40 hex> (clean)", amid
# binary code; bootcode.bin and fixup*.dat carry no version. These fakes are random bytes with
# those strings inside. Sourced, never run.
#
#   fake_firmware DIR BUILD [DATE] [NAMES...]   writes the set into DIR (default names:
#       bootcode.bin start.elf start_x.elf fixup.dat fixup_x.dat); BUILD: 40 hex digits
#   fake_build N                                 prints a 40-hex build id made from N

fake_build() {
	printf '%s' "$1" | sha1sum | cut -c1-40
}

_fake_vc_strings() { # VARIANT BUILD DATE: the build strings, NUL-padded to 4 bytes each
	local s
	for s in "VC_BUILD_ID_USER: dom" "VC_BUILD_ID_TIME: 14:04:36" "VC_BUILD_ID_VARIANT: $1" \
		"VC_BUILD_ID_TIME: $3" "VC_BUILD_ID_BRANCH: bcm2711_2" "VC_BUILD_ID_HOSTNAME: buildbot" \
		"VC_BUILD_ID_PLATFORM: raspberrypi_linux" "VC_BUILD_ID_VERSION: $2 (clean)"; do
		printf '%s' "$s"
		head -c $((4 - ${#s} % 4)) /dev/zero
	done
}

fake_firmware() {
	local dir=$1 build=$2 date=${3:-Aug 26 2022} f variant
	shift 3 2>/dev/null || shift $#
	local names=("$@")
	[ ${#names[@]} -gt 0 ] || names=(bootcode.bin start.elf start_x.elf fixup.dat fixup_x.dat)
	mkdir -p "$dir"
	for f in "${names[@]}"; do
		case $f in
		start*.elf)
			# start4x.elf says "start_x", as start_x.elf does; start4.elf says "start"
			variant=${f%.elf}
			variant=${variant#start}
			variant=${variant#4}
			variant=start${variant:+_${variant#_}}
			{ head -c 6000 /dev/urandom; _fake_vc_strings "$variant" "$build" "$date"
			  head -c 3000 /dev/urandom; } >"$dir/$f"
			;;
		*) head -c 2500 /dev/urandom >"$dir/$f" ;;
		esac
		chmod 0644 "$dir/$f"
	done
}
