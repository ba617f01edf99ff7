#!/usr/bin/env python3
"""The VM lab's stand-in for a Raspberry Pi's firmware (start.elf): reads the Pi's boot folder the
way the firmware does and boots QEMU with exactly the kernel, initramfs and command line it names.
Written apart from netroot-agent's own config.txt reader (agent/bootcfg.c) on purpose, from the
Raspberry Pi documentation only: when the agent writes a config.txt the firmware would read
differently, the VM boots the wrong thing.

    firmware.py BOOT_DIR [--model M] [--serial HEX] [--tryboot] [--dry-run|--list] -- QEMU ARGS...

--dry-run prints kernel=, initramfs=, cmdline=, cmdline_file= and os_prefix= (paths relative to
BOOT_DIR) instead of booting; --list does the same without requiring the named files to exist
(to compare with another reader of config.txt). --model takes the device-tree model string
("Raspberry Pi 3 Model B Rev 1.2", the default; "Raspberry Pi 3 Model B Plus Rev 1.3",
"Raspberry Pi 4 Model B Rev 1.4", Pi 400, CM3/CM4, Zero 2 W, Pi 2); --serial the serial in hex,
8 digits (0b615590) or the 16 of /proc/cpuinfo (1000000022bba2d2).

What it follows (raspberrypi/documentation, config_txt/*.adoc):
  - config.txt (tryboot.txt with --tryboot), read top to bottom; "any characters past" the 98th
    of an entry "will be ignored" (a longer comment line is harmless: it stays a comment);
  - "include FILE" inserts FILE's content at that line, as if it were written there: FILE is
    relative to the boot folder (a leading / too), includes nest, an include line in a section
    that does not apply is skipped like any other line (LibreELEC PR 389: "[pi3] ... include
    distroconfig.txt" is only included on a Pi 3), and the filter state flows into and out of
    the included text like inline text. Kernel, initramfs,
    cmdline, os_prefix, arm_64bit, auto_initramfs ... apply from included files; only the
    bootloader's own settings (bootcode_delay, gpu_mem*, total_mem, sdram_freq, start_x,
    start_debug, start_file, fixup_file, uart_2ndstage) are ignored there. A missing include
    file inserts nothing (a note on stderr). An include loop, or nesting deeper than 8, is an
    error (exit 2, naming the file and line);
  - conditional sections: [all] resets every filter; [none] is false; model filters ([pi3],
    [pi3+], [pi4], [pi400], [cm4], [pi0], [pi02], ... and [board-type=0xNN], which the
    documentation lists among them) replace each other; serial filters ([0x<serial>], matched
    against the low 32 bits or the whole serial), tryboot filters likewise; filters of different
    kinds must all hold; a filter this script cannot evaluate ([gpioN=...], [EDID=...]) is false;
  - kernel=, initramfs FILE[,FILE...] [followkernel|ADDRESS], ramfsfile=, cmdline=, os_prefix=,
    upstream_kernel=, device_tree=, arm_64bit=, auto_initramfs=; the last value that applies
    wins. Default kernel: Pi 2/3/Zero 2 W kernel7.img, kernel8.img with arm_64bit=1; Pi 4/400/CM4
    kernel8.img (arm_64bit defaults to 1 there), kernel7l.img with arm_64bit=0;
  - auto_initramfs=1 and no initramfs line: the initramfs named after the kernel file, wherever
    the kernel name came from (kernel7.img -> initramfs7, kernel8.img -> initramfs8,
    kernel7l.img -> initramfs7l; os_prefix and a leading / apply to it as to the kernel); loaded
    only if present, --list names it anyway (a kernel not called kernel*.img gets none);
  - os_prefix=P is prepended to the kernel, initramfs and cmdline file names, "unless the
    expected kernel and .dtb can be found at the new location/name, the prefix is ignored": the
    .dtb is device_tree= if set, else the model's (bcm2710-rpi-3-b.dtb, bcm2710-rpi-3-b-plus.dtb,
    bcm2711-rpi-4-b.dtb, ...; for a model without a known .dtb name only the kernel is checked,
    and a note says so). upstream_kernel=1 makes the prefix "upstream/" unless os_prefix is set,
    and accepts the upstream .dtb name (bcm2837-rpi-3-b.dtb) as well. A name starting with /
    bypasses the prefix. --list tests viability the same way: whether the prefix applies depends
    on the files in BOOT_DIR, as on a Pi;
  - the command line is the first line of the cmdline file;
  - the folder: the bootloader asks the TFTP server for <serial>/start.elf, <serial> being the low
    32 bits of the serial as 8 lowercase hex digits with leading zeros (0b615590). When BOOT_DIR
    is named like a serial and differs from that, a note says so (and booting refuses: exit 3).
Exit codes: 3 when the firmware would not boot (no config.txt, a named file missing, the wrong
serial folder), 2 for usage errors and include loops.
"""
import hashlib
import os
import re
import sys
import tempfile

LINE_MAX = 98
INCLUDE_DEPTH_MAX = 8
# Read by bootcode.bin / the EEPROM bootloader: "will only take effect if they are specified in
# config.txt (rather than any additional included file)".
BOOTLOADER_ONLY = {"bootcode_delay", "gpu_mem", "gpu_mem_256", "gpu_mem_512", "gpu_mem_1024",
                   "total_mem", "sdram_freq", "start_x", "start_debug", "start_file",
                   "fixup_file", "uart_2ndstage"}


class Board:
    def __init__(self, name, filters, board_type, pi4, dtb=None, upstream_dtb=None):
        self.name = name
        self.filters = filters          # the model filters that hold ([pi3+] also sees [pi3])
        self.board_type = board_type    # the revision code's type field
        self.pi4 = pi4                  # arm_64bit defaults to 1; 32-bit kernel is kernel7l.img
        self.dtb = dtb                  # the .dtb the downstream firmware loads (None: not known here)
        self.upstream_dtb = upstream_dtb


# Keyed by the device-tree model without "Raspberry Pi " and " Rev x.y". Filters from the
# conditional filters table, board types from the revision codes page, .dtb names from the
# Raspberry Pi kernel/firmware boot files. A Pi 2's depends on its SoC (bcm2709/bcm2710), a 3A+,
# CM3+ and Zero 2 W's changed names over firmware releases: not known here.
BOARDS = {
    "2 model b": Board("Pi 2B", {"pi2"}, 0x04, False),
    "3 model b": Board("Pi 3B", {"pi3"}, 0x08, False, "bcm2710-rpi-3-b.dtb", "bcm2837-rpi-3-b.dtb"),
    "3 model b plus": Board("Pi 3B+", {"pi3", "pi3+"}, 0x0d, False, "bcm2710-rpi-3-b-plus.dtb",
                            "bcm2837-rpi-3-b-plus.dtb"),
    "3 model a plus": Board("Pi 3A+", {"pi3", "pi3+"}, 0x0e, False),
    "compute module 3": Board("CM3", {"pi3"}, 0x0a, False, "bcm2710-rpi-cm3.dtb"),
    "compute module 3 plus": Board("CM3+", {"pi3"}, 0x10, False),
    "zero 2 w": Board("Zero 2 W", {"pi0", "pi0w", "pi02"}, 0x12, False),
    "4 model b": Board("Pi 4B", {"pi4"}, 0x11, True, "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-4-b.dtb"),
    "400": Board("Pi 400", {"pi4", "pi400"}, 0x13, True, "bcm2711-rpi-400.dtb", "bcm2711-rpi-400.dtb"),
    "compute module 4": Board("CM4", {"pi4", "cm4"}, 0x14, True, "bcm2711-rpi-cm4.dtb"),
    "compute module 4s": Board("CM4S", {"pi4", "cm4s"}, 0x15, True, "bcm2711-rpi-cm4s.dtb"),
}


def board_of(model):
    key = re.sub(r"^raspberry pi ", "", model.strip().lower())
    key = re.sub(r" rev [0-9.]+$", "", key)
    return BOARDS.get(key)


def note(msg):
    print(f"firmware: {msg}", file=sys.stderr, flush=True)


def number(value):
    """An integer setting as the firmware reads one (0x.. hex, else decimal; junk is 0)."""
    m = re.match(r"\s*(0[xX][0-9a-fA-F]+|[0-9]+)", value)
    return int(m.group(1), 0) if m else 0


class Firmware:
    def __init__(self, boot_dir, board, serial, tryboot):
        self.boot_dir = boot_dir
        self.board = board
        self.serial = serial
        self.tryboot = tryboot
        self.settings = {}      # key -> (value, where)
        self.initramfs = None   # (names, where)
        self.filters = {}
        self.stack = []         # files being read: (name, realpath)

    def holds(self):
        return all(self.filters.values())

    def section(self, text):
        low = text.strip().lower()
        if low == "all":
            self.filters = {}
        elif low == "none":
            self.filters["none"] = False
        elif low.startswith("board-type="):
            try:
                self.filters["model"] = int(low.split("=", 1)[1], 16) == self.board.board_type
            except ValueError:
                self.filters["model"] = False
        elif re.fullmatch(r"(pi|cm)[0-9a-z+]*", low):
            self.filters["model"] = low in self.board.filters
        elif low.startswith("0x"):
            try:
                want = int(low, 16)
                self.filters["serial"] = self.serial is not None and want in (self.serial, self.serial & 0xffffffff)
            except ValueError:
                self.filters["serial"] = False
        elif low == "tryboot":
            self.filters["tryboot"] = self.tryboot
        else:
            note(f"unknown filter [{text.strip()}]: treated as false")
            self.filters["unknown:" + low] = False

    def read(self, name, where=None):
        """Reads NAME (relative to the boot folder) in place; WHERE is the include line."""
        rel = os.path.normpath(name.lstrip("/"))
        path = os.path.join(self.boot_dir, rel)
        if rel == ".." or rel.startswith("../"):
            note(f"{where}: include {name}: outside the boot folder, skipped")
            return
        try:
            with open(path, "rb") as fh:
                data = fh.read().decode("latin-1")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            if where is None:
                note(f"no {name} in {self.boot_dir}: no boot")
                raise SystemExit(3)
            note(f"{where}: include {name}: no such file, nothing inserted")
            return
        real = os.path.realpath(path)
        if any(real == r for _, r in self.stack):
            chain = " -> ".join([n for n, _ in self.stack] + [rel])
            note(f"{where}: include {name}: include loop ({chain})")
            raise SystemExit(2)
        if len(self.stack) > INCLUDE_DEPTH_MAX:
            note(f"{where}: include {name}: includes nested deeper than {INCLUDE_DEPTH_MAX}")
            raise SystemExit(2)
        self.stack.append((rel, real))
        included = len(self.stack) > 1
        for lineno, raw in enumerate(data.split("\n"), 1):
            raw = raw.rstrip("\r")
            line = raw[:LINE_MAX].strip()
            if not line or line.startswith("#"):
                continue
            here = f"{rel} line {lineno}"
            if len(raw) > LINE_MAX:
                note(f"{here}: entry longer than {LINE_MAX} characters, the rest is ignored")
            if line.startswith("[") and line.endswith("]"):
                self.section(line[1:-1])
                continue
            words = line.split(None, 1)
            if words[0] == "include":
                # A conditional section governs an include like any other line: "your
                # distroconfig.txt file will only be included when the SD card is in a Pi3"
                # (LibreELEC PR 389, on [pi3] ... include). Included lines then flow on under the
                # filters in force here.
                if not self.holds():
                    continue
                if len(words) < 2:
                    note(f"{here}: include without a file name")
                else:
                    self.read(words[1].strip(), here)
                continue
            if not self.holds():
                continue
            if words[0] == "initramfs":
                names = [n for n in words[1].split()[0].split(",") if n] if len(words) > 1 else []
                self.initramfs = (names, here) if names else None
            elif "=" in line:
                key, value = line.split("=", 1)
                key, value = key.strip(), value.strip()
                if included and key in BOOTLOADER_ONLY:
                    note(f"{here}: {key} in an included file: the bootloader ignores it")
                elif key == "ramfsfile":
                    names = [n for n in value.split(",") if n]
                    self.initramfs = (names, here) if names else None
                else:
                    self.settings[key] = (value, here)
        self.stack.pop()

    def setting(self, key, default=None):
        return self.settings[key][0] if key in self.settings else default

    @staticmethod
    def resolve(prefix, name):
        """The path inside the boot folder: a leading / bypasses the prefix."""
        if name.startswith("/"):
            return os.path.normpath(name.lstrip("/"))
        return os.path.normpath((prefix + name).lstrip("/"))

    def exists(self, rel):
        return os.path.isfile(os.path.join(self.boot_dir, rel))

    def kernel_name(self):
        kernel = self.setting("kernel")
        if kernel:
            return kernel
        bits = self.setting("arm_64bit")
        arm64 = number(bits) != 0 if bits is not None else self.board.pi4
        if arm64:
            return "kernel8.img"
        return "kernel7l.img" if self.board.pi4 else "kernel7.img"

    def prefix(self, kernel):
        explicit = "os_prefix" in self.settings
        upstream = number(self.setting("upstream_kernel", "0")) != 0
        prefix = self.setting("os_prefix") if explicit else ("upstream/" if upstream else "")
        if not prefix:
            return ""
        if "device_tree" in self.settings:
            dtbs = [self.setting("device_tree")] if self.setting("device_tree") else []
        else:
            dtbs = [d for d in ((self.board.upstream_dtb if upstream else None), self.board.dtb) if d]
            if not dtbs:
                note(f"no .dtb name known for a {self.board.name}: os_prefix={prefix} is tested "
                     "with the kernel only")
        kpath = self.resolve(prefix, kernel)
        missing = [] if self.exists(kpath) else [kpath]
        if dtbs and not any(self.exists(self.resolve(prefix, d)) for d in dtbs):
            missing.append(" or ".join(self.resolve(prefix, d) for d in dtbs))
        if missing:
            note(f"os_prefix={prefix} ignored: no {' and no '.join(missing)} in the boot folder")
            return ""
        return prefix

    def boot_files(self, require=True):
        kernel = self.kernel_name()
        prefix = self.prefix(kernel)
        krel = self.resolve(prefix, kernel)
        if require and not self.exists(krel):
            note(f"kernel {krel} not found: no boot")
            raise SystemExit(3)
        if self.initramfs is not None:
            names, auto = self.initramfs[0], False
        else:
            names, auto = [], False
            if number(self.setting("auto_initramfs", "0")) != 0:
                head, base = kernel[:len(kernel) - len(os.path.basename(kernel))], os.path.basename(kernel)
                if base.startswith("kernel") and base.endswith(".img"):
                    names, auto = [head + "initramfs" + base[len("kernel"):-len(".img")]], True
        initrds = []
        for name in names:
            irel = self.resolve(prefix, name)
            if require and not self.exists(irel):
                if auto:
                    note(f"auto_initramfs: no {irel}, the kernel boots without an initramfs")
                    continue
                note(f"initramfs {irel} not found: no boot")
                raise SystemExit(3)
            initrds.append(irel)
        crel = self.resolve(prefix, self.setting("cmdline") or "cmdline.txt")
        cmdline = ""
        if self.exists(crel):
            with open(os.path.join(self.boot_dir, crel), "rb") as fh:
                lines = fh.read().decode("latin-1").split("\n")
                cmdline = lines[0].strip() if lines else ""
        elif require:
            note(f"no {crel}: the kernel gets an empty command line")
        return krel, initrds, crel, cmdline, prefix


def parse_serial(text):
    s = text.lower()
    s = s[2:] if s.startswith("0x") else s
    if not re.fullmatch(r"[0-9a-f]{1,16}", s):
        return None
    return int(s, 16)


def file_sha256(path):
    if not os.path.isfile(path):
        return "missing"
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv):
    if "--" in argv:
        split = argv.index("--")
        ours, qemu = argv[:split], argv[split + 1:]
    else:
        ours, qemu = argv, []
    model, serial, tryboot, dry_run, boot_dir = "Raspberry Pi 3 Model B Rev 1.2", None, False, False, None
    it = iter(ours)
    for a in it:
        if a == "--model":
            model = next(it, "")
        elif a == "--serial":
            arg = next(it, "")
            serial = parse_serial(arg)
            if serial is None:
                note(f"--serial {arg!r}: not a serial in hex")
                return 2
        elif a == "--tryboot":
            tryboot = True
        elif a == "--dry-run":
            dry_run = True
        elif a == "--list":
            dry_run = "list"
        elif boot_dir is None and not a.startswith("-"):
            boot_dir = a
        else:
            note(f"unknown argument {a}")
            return 2
    if not boot_dir:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    board = board_of(model)
    if board is None:
        note(f"model {model!r} is not one this stand-in knows ({', '.join(b.name for b in BOARDS.values())})")
        return 2
    if serial is not None:
        folder = f"{serial & 0xffffffff:08x}"
        here = os.path.basename(os.path.normpath(boot_dir))
        if re.fullmatch(r"[0-9a-fA-F]{1,16}", here) and here != folder:
            shown = f"{serial:016x}" if serial >> 32 else folder
            note(f"the bootloader of serial {shown} asks for {folder}/start.elf; this folder is {here}/")
            if not dry_run:
                return 3
    fw = Firmware(boot_dir, board, serial, tryboot)
    fw.read("tryboot.txt" if tryboot else "config.txt")
    kernel, initrds, cmdline_file, cmdline, prefix = fw.boot_files(require=dry_run != "list")
    note(f"kernel={kernel} initramfs={','.join(initrds) or '-'} cmdline={cmdline}")
    if dry_run:
        print(f"kernel={kernel}")
        print(f"initramfs={','.join(initrds)}")
        print(f"cmdline={cmdline}")
        print(f"cmdline_file={cmdline_file}")
        print(f"os_prefix={prefix}")
        # What a boot would load, byte for byte: a test compares it without booting.
        print(f"kernel_sha256={file_sha256(os.path.join(boot_dir, kernel))}")
        print(f"initramfs_sha256={','.join(file_sha256(os.path.join(boot_dir, i)) for i in initrds)}")
        return 0
    paths = [os.path.join(boot_dir, i) for i in initrds]
    initrd = paths[0] if len(paths) == 1 else None
    if len(paths) > 1:
        # The firmware loads them back to back; QEMU takes one file: the same bytes, concatenated.
        fd, initrd = tempfile.mkstemp(prefix="firmware-initrd.")
        with os.fdopen(fd, "wb") as out:
            for name in paths:
                with open(name, "rb") as fh:
                    out.write(fh.read())
    args = ["qemu-system-x86_64"] + qemu + ["-kernel", os.path.join(boot_dir, kernel), "-append", cmdline]
    if initrd:
        args += ["-initrd", initrd]
    os.execvp(args[0], args)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
