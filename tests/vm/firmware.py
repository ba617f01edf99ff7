#!/usr/bin/env python3
"""The VM lab's stand-in for a Raspberry Pi 3's firmware (start.elf): reads the Pi's boot folder
the way the firmware does and boots QEMU with exactly the kernel, initramfs and command line it
names. Written apart from netroot-agent's own config.txt reader (agent/bootcfg.c) on purpose: when
the agent writes a config.txt the firmware would read differently, the VM boots the wrong thing.

    firmware.py BOOT_DIR [--model M] [--serial HEX] [--tryboot] [--dry-run|--list] -- QEMU ARGS...

--dry-run prints kernel=, initramfs= and cmdline= instead of booting; --list does the same
without requiring the files to exist (to compare with another reader of config.txt).

What it follows (the documented config.txt rules, for a Pi 3):
  - config.txt (tryboot.txt with --tryboot), read top to bottom; only the first 98 characters of
    a line count; "include FILE" is not followed (bootcode.bin on a netbooting Pi 3 does not);
  - conditional sections: [all] resets every filter; [none] is false; model filters ([pi3],
    [pi3+], [pi4], [pi0], ...) replace each other, as do serial filters ([0x<serial>]),
    board-type and tryboot filters; filters of different kinds must all hold; a filter this
    script does not know is false (the firmware cannot evaluate it either);
  - kernel=, initramfs FILE[,FILE...] [followkernel|ADDRESS], ramfsfile=, cmdline=, os_prefix=,
    arm_64bit=, auto_initramfs=1 (no initramfs line: the one named after the kernel file,
    kernel7.img -> initramfs7); the last value that applies wins; the default kernel for a Pi 3
    is kernel7.img (kernel8.img with arm_64bit=1);
  - the command line is the first line of the cmdline file.
Exit codes: 3 when the firmware would not boot (a named file is missing), 2 for usage errors.
"""
import os
import sys
import tempfile

PI3_MODELS = ("pi3",)  # Raspberry Pi 3 Model B: [pi3] holds, [pi3+] does not
BOARD_TYPE_PI3B = 0x08
LINE_MAX = 98


class Firmware:
    def __init__(self, boot_dir, model, serial, tryboot):
        self.boot_dir = boot_dir
        self.model = model
        self.serial = int(serial, 16) if serial else None
        self.tryboot = tryboot
        self.settings = {}
        self.initramfs = None
        self.filters = {}

    def holds(self):
        return all(self.filters.values())

    def model_matches(self, name):
        if "3 Model B Plus" in self.model or "3 Model A Plus" in self.model:
            return name in ("pi3", "pi3+")
        if "Pi 3" in self.model:
            return name in PI3_MODELS
        if "Pi 4" in self.model:
            return name == "pi4"
        return False

    def section(self, text):
        f = text.strip()
        low = f.lower()
        if low == "all":
            self.filters = {}
        elif low == "none":
            self.filters["none"] = False
        elif low.startswith("pi") or low.startswith("cm"):
            self.filters["model"] = self.model_matches(low)
        elif low.startswith("0x"):
            try:
                self.filters["serial"] = self.serial is not None and int(low, 16) == self.serial
            except ValueError:
                self.filters["serial"] = False
        elif low.startswith("board-type="):
            try:
                self.filters["board"] = int(low.split("=", 1)[1], 0) == BOARD_TYPE_PI3B
            except ValueError:
                self.filters["board"] = False
        elif low == "tryboot":
            self.filters["tryboot"] = self.tryboot
        else:
            print(f"firmware: unknown filter [{f}]: treated as false", file=sys.stderr)
            self.filters["unknown:" + low] = False

    def read(self, name):
        path = os.path.join(self.boot_dir, name)
        try:
            with open(path, "rb") as fh:
                data = fh.read().decode("latin-1")
        except FileNotFoundError:
            raise SystemExit(f"firmware: no {name} in {self.boot_dir}")
        for raw in data.splitlines():
            line = raw[:LINE_MAX].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                self.section(line[1:-1])
                continue
            if not self.holds():
                continue
            if line.startswith("include ") or line.startswith("include\t"):
                print(f"firmware: {line}: not followed", file=sys.stderr)
            elif line.startswith("initramfs ") or line.startswith("initramfs\t"):
                parts = line.split()
                self.initramfs = parts[1].split(",") if len(parts) > 1 else None
            elif "=" in line:
                key, value = line.split("=", 1)
                key, value = key.strip(), value.strip()
                if key == "ramfsfile":
                    self.initramfs = value.split(",")
                else:
                    self.settings[key] = value

    def boot_files(self, require=True):
        prefix = self.settings.get("os_prefix", "")
        kernel = self.settings.get("kernel")
        if not kernel:
            if self.settings.get("arm_64bit") == "1":
                kernel = "kernel8.img"
            else:  # 32-bit: the Pi 4's default is the LPAE kernel
                kernel = "kernel7l.img" if "Pi 4" in self.model else "kernel7.img"
        cmdline_name = self.settings.get("cmdline", "cmdline.txt")
        kpath = os.path.join(self.boot_dir, prefix + kernel)
        if require and not os.path.isfile(kpath):
            print(f"firmware: kernel {prefix + kernel} not found: no boot", file=sys.stderr)
            raise SystemExit(3)
        names = self.initramfs
        if names is None and self.settings.get("auto_initramfs") == "1":
            base = os.path.basename(kernel)
            if base.startswith("kernel") and base.endswith(".img"):
                names = ["initramfs" + base[len("kernel"):-len(".img")]]
        initrds = []
        for name in names or []:
            ipath = os.path.join(self.boot_dir, prefix + name)
            if require and not os.path.isfile(ipath):
                print(f"firmware: initramfs {prefix + name} not found: no boot", file=sys.stderr)
                raise SystemExit(3)
            initrds.append(ipath)
        cmdline = ""
        cpath = os.path.join(self.boot_dir, prefix + cmdline_name)
        if os.path.isfile(cpath):
            with open(cpath, "rb") as fh:
                lines = fh.read().decode("latin-1").splitlines()
                cmdline = lines[0].strip() if lines else ""
        return kpath, initrds, cmdline


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
            serial = next(it, "")
        elif a == "--tryboot":
            tryboot = True
        elif a == "--dry-run":
            dry_run = True
        elif a == "--list":
            dry_run = "list"
        elif boot_dir is None and not a.startswith("-"):
            boot_dir = a
        else:
            print(f"firmware: unknown argument {a}", file=sys.stderr)
            return 2
    if not boot_dir:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    fw = Firmware(boot_dir, model, serial, tryboot)
    fw.read("tryboot.txt" if tryboot else "config.txt")
    kernel, initrds, cmdline = fw.boot_files(require=dry_run != "list")
    initrd = initrds[0] if len(initrds) == 1 else None
    if len(initrds) > 1:
        # The firmware loads them back to back; QEMU takes one file: the same bytes, concatenated.
        fd, initrd = tempfile.mkstemp(prefix="firmware-initrd.")
        with os.fdopen(fd, "wb") as out:
            for name in initrds:
                with open(name, "rb") as fh:
                    out.write(fh.read())
    print(f"firmware: kernel={os.path.basename(kernel)} "
          f"initramfs={','.join(os.path.basename(i) for i in initrds) or '-'} cmdline={cmdline}",
          file=sys.stderr, flush=True)
    if dry_run:
        print(f"kernel={os.path.relpath(kernel, boot_dir)}")
        print(f"initramfs={','.join(os.path.relpath(i, boot_dir) for i in initrds)}")
        print(f"cmdline={cmdline}")
        return 0
    args = ["qemu-system-x86_64"] + qemu + ["-kernel", kernel, "-append", cmdline]
    if initrd:
        args += ["-initrd", initrd]
    os.execvp(args[0], args)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
