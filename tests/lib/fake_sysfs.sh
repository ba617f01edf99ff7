#!/bin/bash
# FAKE: the host kernel has no iSCSI initiator; this lays out the kernel's real sysfs format
# (see FACTS.md, "Kernel session state") in a sandbox folder, so that code reading
# <root>/sys and <root>/proc can be tested with --root DIR. It is a fixture, not a kernel.
#
# Source it (". tests/lib/fake_sysfs.sh") and call the functions, or run it as
#   bash tests/lib/fake_sysfs.sh FUNCTION ARGS...
#
# The layout is that of software iSCSI (iscsi_tcp), which creates one SCSI host per session:
#   sys/devices/platform/hostH/
#     scsi_host/hostH/proc_name                 iscsi_tcp
#     iscsi_host/hostH/{netdev,ipaddress,...}   netdev "default": not bound to an interface
#     sessionS/iscsi_session/sessionS/{state,targetname,recovery_tmo,initiatorname,tpgt,...}
#     sessionS/connectionS:0/iscsi_connection/connectionS:0/{address,port,persistent_*}
#     sessionS/targetH:0:0/H:0:0:1/{state,...}  the SCSI disk, LUN 1
#     sessionS/targetH:0:0/H:0:0:1/block/sdX/{dev,sdX1/dev}
#   sys/class/{iscsi_session,iscsi_connection,iscsi_host,scsi_host,block}/NAME -> ../../devices/…
#   sys/block/sdX -> ../devices/…   sys/dev/block/MAJ:MIN -> ../../devices/…
#   sys/block/sdX/device -> ../../../H:0:0:1 (relative to the real folder)
# Functions:
#   fake_iscsi_tree DIR                 session1 on host0, disk sda (8:0, sda1 = 8:1), / on 8:0,
#                                       proc/cmdline as in the tutorial, iscsid not running
#   fake_add_session DIR SID HOST DISK MAJ [TARGET] [ADDRESS]   one more session (MIN 0, +1 part)
#   fake_remove_session DIR SID         the session is destroyed: session, disk, links go
#   fake_session_state DIR sessionS STATE        LOGGED_IN | FAILED | FREE
#   fake_disk_state DIR sdX STATE                running | blocked | offline | transport-offline
#   fake_recovery_tmo DIR sessionS SECONDS
#   fake_root_on DIR MAJ:MIN SOURCE [FSTYPE]     proc/self/mountinfo with "/" on that device
#   fake_local_root DIR                 an SD card root: mmcblk0p2 (179:2) under the Pi's mmc host
#   fake_iscsid DIR running|stopped [PID]
#   fake_cmdline DIR TEXT               proc/cmdline
#   fake_initramfs_conf DIR TEXT        etc/iscsi/iscsi.initramfs

FAKE_TARGET_DEFAULT=iqn.2000-01.com.synology:BlackSyno.PiTarget
FAKE_INITIATOR_DEFAULT=iqn.2016-11.org.raspberrypi:superpi
FAKE_PORTAL_DEFAULT=192.168.1.10
# The tutorial's cmdline; its ISCSI_TARGET_IP was lost from our copy, 192.168.1.10 stands in.
FAKE_CMDLINE_DEFAULT="dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 ip=::::superpi:eth0:dhcp root=UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait qmap=fr ISCSI_INITIATOR=$FAKE_INITIATOR_DEFAULT ISCSI_TARGET_NAME=$FAKE_TARGET_DEFAULT ISCSI_TARGET_IP=$FAKE_PORTAL_DEFAULT ISCSI_TARGET_PORT=3260 rw"

_fake_put() { # FILE VALUE: a one-value sysfs file, newline-terminated like the kernel's
	mkdir -p "$(dirname "$1")" && printf '%s\n' "$2" >"$1"
}

_fake_link() { # LINK TARGET (relative, as the kernel makes them)
	mkdir -p "$(dirname "$1")" && ln -sfn "$2" "$1"
}

_fake_host() { # DIR HOST
	local d=$1 h=$2 hd="$1/sys/devices/platform/host$2"
	_fake_put "$hd/scsi_host/host$h/proc_name" iscsi_tcp
	_fake_put "$hd/iscsi_host/host$h/netdev" default
	_fake_put "$hd/iscsi_host/host$h/hwaddress" default
	_fake_put "$hd/iscsi_host/host$h/ipaddress" 192.168.1.50
	_fake_put "$hd/iscsi_host/host$h/initiatorname" "(null)"
	_fake_link "$d/sys/class/scsi_host/host$h" "../../devices/platform/host$h/scsi_host/host$h"
	_fake_link "$d/sys/class/iscsi_host/host$h" "../../devices/platform/host$h/iscsi_host/host$h"
}

_fake_session_attrs() { # SESSIONDIR TARGET
	local s=$1
	_fake_put "$s/state" LOGGED_IN
	_fake_put "$s/targetname" "$2"
	_fake_put "$s/initiatorname" "$FAKE_INITIATOR_DEFAULT"
	_fake_put "$s/tpgt" 1
	_fake_put "$s/recovery_tmo" 120
	_fake_put "$s/abort_tmo" 15
	_fake_put "$s/lu_reset_tmo" 30
	_fake_put "$s/tgt_reset_tmo" 30
	_fake_put "$s/ifacename" default
	_fake_put "$s/target_state" SCANNED
	_fake_put "$s/username" "(null)"
	_fake_put "$s/password" "(null)"
	_fake_put "$s/creator" -1
	_fake_link "$s/device" "../../../$(basename "$s")"
}

_fake_conn_attrs() { # CONNDIR ADDRESS
	local c=$1
	_fake_put "$c/address" "$2"
	_fake_put "$c/port" 3260
	_fake_put "$c/persistent_address" "$2"
	_fake_put "$c/persistent_port" 3260
	_fake_put "$c/state" up
	_fake_link "$c/device" "../../../$(basename "$c")"
}

_fake_disk() { # DIR HOST SID DISK MAJ: LUN 1 with one partition
	local d=$1 h=$2 s=$3 disk=$4 maj=$5
	local rel="devices/platform/host$h/session$s/target$h:0:0/$h:0:0:1"
	local sd="$d/sys/$rel"
	_fake_put "$sd/state" running
	_fake_put "$sd/vendor" SYNOLOGY
	_fake_put "$sd/model" "iSCSI Storage"
	_fake_put "$sd/type" 0
	_fake_put "$sd/block/$disk/dev" "$maj:0"
	_fake_put "$sd/block/$disk/size" 16777216
	_fake_link "$sd/block/$disk/device" "../../../$h:0:0:1"
	_fake_put "$sd/block/$disk/${disk}1/dev" "$maj:1"
	_fake_put "$sd/block/$disk/${disk}1/partition" 1
	_fake_link "$d/sys/block/$disk" "../$rel/block/$disk"
	_fake_link "$d/sys/class/block/$disk" "../../$rel/block/$disk"
	_fake_link "$d/sys/class/block/${disk}1" "../../$rel/block/$disk/${disk}1"
	_fake_link "$d/sys/dev/block/$maj:0" "../../$rel/block/$disk"
	_fake_link "$d/sys/dev/block/$maj:1" "../../$rel/block/$disk/${disk}1"
}

fake_add_session() { # DIR SID HOST DISK MAJ [TARGET] [ADDRESS]
	local d=$1 s=$2 h=$3 disk=$4 maj=$5
	local target=${6:-$FAKE_TARGET_DEFAULT} addr=${7:-$FAKE_PORTAL_DEFAULT}
	local base="devices/platform/host$h/session$s"
	_fake_host "$d" "$h"
	_fake_session_attrs "$d/sys/$base/iscsi_session/session$s" "$target"
	_fake_conn_attrs "$d/sys/$base/connection$s:0/iscsi_connection/connection$s:0" "$addr"
	_fake_link "$d/sys/class/iscsi_session/session$s" "../../$base/iscsi_session/session$s"
	_fake_link "$d/sys/class/iscsi_connection/connection$s:0" \
		"../../$base/connection$s:0/iscsi_connection/connection$s:0"
	[ -n "$disk" ] && _fake_disk "$d" "$h" "$s" "$disk" "$maj"
	return 0
}

# The kernel removes the session's SCSI devices, then the session and its class links. The
# SCSI host of a software iSCSI session goes with it.
fake_remove_session() { # DIR SID
	local d=$1 s=$2 link real hostdir
	real=$(readlink -f "$d/sys/class/iscsi_session/session$s/device") || return 1
	for link in "$d"/sys/block/* "$d"/sys/class/block/* "$d"/sys/dev/block/*; do
		[ -L "$link" ] || continue
		case $(readlink -f "$link") in "$real"/*) rm -f "$link" ;; esac
	done
	rm -f "$d/sys/class/iscsi_session/session$s" "$d"/sys/class/iscsi_connection/connection"$s":*
	hostdir=$(dirname "$real")
	rm -rf "$real"
	# hostH folder: remove it with its class links when no session is left in it
	if ! compgen -G "$hostdir/session*" >/dev/null; then
		local h
		h=$(basename "$hostdir")
		rm -f "$d/sys/class/scsi_host/$h" "$d/sys/class/iscsi_host/$h"
		rm -rf "$hostdir"
	fi
}

fake_session_state() { # DIR sessionS STATE
	_fake_put "$1/sys/class/iscsi_session/$2/state" "$3"
}

fake_recovery_tmo() { # DIR sessionS SECONDS
	_fake_put "$1/sys/class/iscsi_session/$2/recovery_tmo" "$3"
}

fake_disk_state() { # DIR sdX STATE
	_fake_put "$1/sys/block/$2/device/state" "$3"
}

fake_root_on() { # DIR MAJ:MIN SOURCE [FSTYPE]
	local d=$1
	mkdir -p "$d/proc/self"
	cat >"$d/proc/self/mountinfo" <<-EOF
		22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
		23 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
		24 27 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=443216k,nr_inodes=110804,mode=755
		26 27 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=94784k,mode=755
		27 1 $2 / / rw,relatime shared:1 - ${4:-ext4} $3 rw
		31 27 0:42 / /boot rw,relatime shared:17 - nfs 192.168.1.10:/tftpboot/1a2b3c4d rw,vers=3,nolock,proto=tcp,addr=192.168.1.10
	EOF
}

fake_local_root() { # DIR: root on the SD card, nothing iSCSI about it
	local d=$1
	local rel="devices/platform/soc/3f202000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0"
	_fake_put "$d/sys/$rel/dev" 179:0
	_fake_put "$d/sys/$rel/mmcblk0p2/dev" 179:2
	_fake_link "$d/sys/dev/block/179:0" "../../$rel"
	_fake_link "$d/sys/dev/block/179:2" "../../$rel/mmcblk0p2"
	_fake_link "$d/sys/block/mmcblk0" "../$rel"
	fake_root_on "$d" 179:2 /dev/mmcblk0p2
}

fake_iscsid() { # DIR running|stopped [PID]
	local d=$1 pid=${3:-612}
	if [ "$2" = running ]; then
		_fake_put "$d/proc/$pid/comm" iscsid
	else
		local f
		for f in "$d"/proc/[0-9]*/comm; do
			[ -f "$f" ] && [ "$(cat "$f")" = iscsid ] && rm -rf "$(dirname "$f")"
		done
		rm -f "$d/run/iscsid.pid"
	fi
	return 0
}

fake_cmdline() { # DIR TEXT
	_fake_put "$1/proc/cmdline" "$2"
}

fake_initramfs_conf() { # DIR TEXT
	mkdir -p "$1/etc/iscsi" && printf '%s\n' "$2" >"$1/etc/iscsi/iscsi.initramfs"
}

fake_iscsi_tree() { # DIR
	local d=$1
	mkdir -p "$d" || return 1
	fake_add_session "$d" 1 0 sda 8
	fake_root_on "$d" 8:0 /dev/sda
	fake_cmdline "$d" "$FAKE_CMDLINE_DEFAULT"
	_fake_put "$d/proc/1/comm" systemd
	_fake_put "$d/proc/415/comm" systemd-udevd
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -e
	fn=${1:?usage: fake_sysfs.sh FUNCTION ARGS...}
	shift
	case $fn in fake_*) "$fn" "$@" ;; *) echo "fake_sysfs.sh: unknown function $fn" >&2; exit 2 ;; esac
fi
