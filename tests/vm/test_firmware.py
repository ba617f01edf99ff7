#!/usr/bin/env python3
"""Self test of tests/vm/firmware.py, the VM lab's stand-in for the Pi firmware (start.elf).

    python3 tests/vm/test_firmware.py        (exit 0 when every check holds; stdlib only)

1. Small boot folders, each checking one documented rule (include, filters, default kernels,
   os_prefix viability, auto_initramfs, the 98-character limit, the serial folder).
2. The real-world boot files in ../shared/reference/realworld (next to the repository; skipped
   with a message when that folder is absent): what a Raspberry Pi 3 Model B (and, where its
   run.sh says so, a Pi 4) loads, as that folder's run.sh expects from the documentation.
Called by tests/integration/firmware_crosscheck.sh.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FW = os.path.join(HERE, "firmware.py")
TOP = os.path.dirname(os.path.dirname(HERE))
REALWORLD = os.path.normpath(os.path.join(TOP, "..", "shared", "reference", "realworld"))

PI3 = "Raspberry Pi 3 Model B Rev 1.2"
PI3P = "Raspberry Pi 3 Model B Plus Rev 1.3"
PI3AP = "Raspberry Pi 3 Model A Plus Rev 1.0"
PI4 = "Raspberry Pi 4 Model B Rev 1.4"
PI400 = "Raspberry Pi 400 Rev 1.0"

WORK = tempfile.mkdtemp(prefix="test-firmware.")
counts = {"pass": 0, "fail": 0, "skip": 0}
_n = [0]


def ok(name):
    counts["pass"] += 1
    print(f"ok - {name}")


def ko(name, detail):
    counts["fail"] += 1
    print(f"not ok - {name}: {detail}")


class Run:
    def __init__(self, rc, out, err):
        self.rc, self.err = rc, err
        self.out = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def loads(self):
        return "|".join(self.out.get(k, "?") for k in ("kernel", "initramfs", "cmdline_file"))


def folder(files, touch=(), name=None):
    """A boot folder: FILES {relative name: text}, TOUCH empty files; NAME its base name."""
    _n[0] += 1
    d = os.path.join(WORK, str(_n[0]), name or "boot")
    os.makedirs(d)
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
        with open(os.path.join(d, rel), "w") as fh:
            fh.write(text)
    for rel in touch:
        os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
        open(os.path.join(d, rel), "w").close()
    return d


def fw(d, model=PI3, serial="511e57f7", mode="--list", tryboot=False):
    args = [sys.executable, FW, d, "--model", model, mode]
    if serial:
        args += ["--serial", serial]
    if tryboot:
        args.append("--tryboot")
    p = subprocess.run(args, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return Run(p.returncode, p.stdout, p.stderr)


def expect(name, run, want):
    """WANT: "KERNEL|INITRAMFS|CMDLINE_FILE" of a successful run."""
    if run.rc != 0:
        ko(name, f"exit {run.rc}: {run.err.strip()}")
    elif run.loads() != want:
        ko(name, f"expected [{want}], got [{run.loads()}]")
    else:
        ok(name)


def expect_rc(name, run, rc, needle):
    if run.rc != rc or needle not in run.err:
        ko(name, f"expected exit {rc} and '{needle}' on stderr, got exit {run.rc}: {run.err.strip()}")
    else:
        ok(name)


def units():
    # --- include ---------------------------------------------------------------------------
    d = folder({"config.txt": "kernel=vmlinuz-a\ninclude x.txt\n", "x.txt": "kernel=vmlinuz-b\n"})
    expect("include: the included kernel= comes after, so it wins", fw(d), "vmlinuz-b||cmdline.txt")
    d = folder({"config.txt": "include x.txt\nkernel=vmlinuz-a\n", "x.txt": "kernel=vmlinuz-b\n"})
    expect("include: a later line overrides the included one", fw(d), "vmlinuz-a||cmdline.txt")
    d = folder({"config.txt": "include sub/a.txt\n", "sub/a.txt": "include sub/b.txt\n",
                "sub/b.txt": "kernel=vmlinuz-b\ninitramfs initrd.img-b followkernel\ncmdline=iscsi.txt\n"})
    expect("include: nested, names relative to the boot folder; cmdline= from an included file",
           fw(d), "vmlinuz-b|initrd.img-b|iscsi.txt")
    d = folder({"config.txt": "initramfs initrd.img-a followkernel\ninclude extraconfig.txt\nkernel=vmlinuz-a\n"})
    r = fw(d)
    expect("include: a missing file inserts nothing", r, "vmlinuz-a|initrd.img-a|cmdline.txt")
    if "extraconfig.txt" not in r.err:
        ko("include: a missing file is noted on stderr", r.err.strip())
    else:
        ok("include: a missing file is noted on stderr")
    d = folder({"config.txt": "kernel=vmlinuz-a\n[pi4]\ninclude pi4.txt\n[all]\n", "pi4.txt": "kernel=vmlinuz-4\n"})
    expect("include in [pi4]: a Pi 3 skips the included lines", fw(d), "vmlinuz-a||cmdline.txt")
    expect("include in [pi4]: a Pi 4 takes them", fw(d, PI4), "vmlinuz-4||cmdline.txt")
    d = folder({"config.txt": "[pi4]\ninclude x.txt\nkernel=vmlinuz-after\n",
                "x.txt": "[all]\ninitramfs initrd.img-all followkernel\n"})
    expect("include in a section that does not apply: not read at all (no [all] from it on a Pi 3)",
           fw(d), "kernel7.img||cmdline.txt")
    expect("include in [pi4] on a Pi 4: its [all] ends the section for the lines after it",
           fw(d, PI4), "vmlinuz-after|initrd.img-all|cmdline.txt")
    d = folder({"config.txt": "include d.txt\ninitramfs initrd.img-4 followkernel\n[all]\nkernel=vmlinuz-a\n",
                "d.txt": "[pi4]\narm_boost=1\n"})
    expect("include: a section the included file ends in goes on after it (Pi 3)", fw(d), "vmlinuz-a||cmdline.txt")
    expect("include: a section the included file ends in goes on after it (Pi 4)", fw(d, PI4),
           "vmlinuz-a|initrd.img-4|cmdline.txt")
    d = folder({"config.txt": "dtparam=audio=on\ninclude config.txt\n"})
    expect_rc("include: a file including itself is an error naming the file and line", fw(d), 2,
              "config.txt line 2")
    d = folder({"config.txt": "include a.txt\n", "a.txt": "\ninclude b.txt\n", "b.txt": "include a.txt\n"})
    expect_rc("include: a loop through two files is an error naming the file and line", fw(d), 2,
              "b.txt line 1")
    chain = {"config.txt": "include n1.txt\n"}
    for i in range(1, 9):
        chain[f"n{i}.txt"] = f"include n{i + 1}.txt\n"
    chain["n9.txt"] = "kernel=vmlinuz-deep\n"
    expect_rc("include: nesting deeper than 8 is an error", fw(folder(chain)), 2, "n8.txt line 1")
    chain["n8.txt"] = "kernel=vmlinuz-8\n"
    expect("include: 8 levels are read", fw(folder(chain)), "vmlinuz-8||cmdline.txt")
    d = folder({"config.txt": "kernel=vmlinuz-a\ninclude x.txt\n", "x.txt": "arm_64bit=1\nauto_initramfs=1\nkernel=kernel8.img\n"})
    expect("include: kernel= and auto_initramfs from an included file (kernel8.img -> initramfs8)",
           fw(d), "kernel8.img|initramfs8|cmdline.txt")

    # --- models, filters, default kernels --------------------------------------------------
    d = folder({"config.txt": "auto_initramfs=1\n"})
    expect("default kernel: Pi 3B kernel7.img", fw(d), "kernel7.img|initramfs7|cmdline.txt")
    expect("default kernel: Pi 4B kernel8.img (arm_64bit defaults to 1)", fw(d, PI4), "kernel8.img|initramfs8|cmdline.txt")
    expect("default kernel: Pi 400 kernel8.img", fw(d, PI400), "kernel8.img|initramfs8|cmdline.txt")
    d = folder({"config.txt": "auto_initramfs=1\narm_64bit=0\n"})
    expect("default kernel: Pi 4B with arm_64bit=0 kernel7l.img", fw(d, PI4), "kernel7l.img|initramfs7l|cmdline.txt")
    d = folder({"config.txt": "arm_64bit=1\n"})
    expect("default kernel: Pi 3B with arm_64bit=1 kernel8.img", fw(d), "kernel8.img||cmdline.txt")
    d = folder({"config.txt": "[pi3]\nkernel=k3\n[pi3+]\nkernel=k3plus\n[pi4]\nkernel=k4\n[pi400]\nkernel=k400\n[all]\n"})
    expect("filters: a 3B sees [pi3], not [pi3+]", fw(d), "k3||cmdline.txt")
    expect("filters: a 3B+ sees [pi3] and [pi3+]", fw(d, PI3P), "k3plus||cmdline.txt")
    expect("filters: a 4B sees [pi4], not [pi400]", fw(d, PI4), "k4||cmdline.txt")
    expect("filters: a 400 sees [pi400]", fw(d, PI400), "k400||cmdline.txt")
    d = folder({"config.txt": "kernel=k\n[board-type=0x08]\nkernel=k08\n[board-type=0x0d]\nkernel=k0d\n"
                "[board-type=0x11]\nkernel=k11\n[all]\n"})
    expect("[board-type=0x08] holds on a 3B", fw(d), "k08||cmdline.txt")
    expect("[board-type=0x0d] holds on a 3B+", fw(d, PI3P), "k0d||cmdline.txt")
    expect("[board-type=0x11] holds on a 4B", fw(d, PI4), "k11||cmdline.txt")
    expect("[board-type=...] matches none on a 400 (0x13)", fw(d, PI400), "k||cmdline.txt")
    d = folder({"config.txt": "[pi4]\n[board-type=0x08]\nkernel=k08\n[all]\n"})
    expect("[board-type=] is a model filter: it replaces [pi4]", fw(d), "k08||cmdline.txt")
    d = folder({"config.txt": "kernel=k\n[0x22bba2d2]\nkernel=k-serial\n[all]\n"})
    expect("serial filter: a Pi 4's 16-digit serial matches by its low 32 bits",
           fw(d, PI4, "1000000022bba2d2"), "k-serial||cmdline.txt")
    expect("serial filter: another serial does not match", fw(d, PI4, "10000000511e57f7"), "k||cmdline.txt")
    d = folder({"config.txt": "kernel=k\n[0x0b615590]\nkernel=k-serial\n[all]\n"}, name="0b615590")
    expect("serial filter: a serial with a leading zero (--serial 0b615590)", fw(d, PI3, "0b615590"), "k-serial||cmdline.txt")
    expect("serial filter: the same serial as cpuinfo prints it", fw(d, PI3, "000000000b615590"), "k-serial||cmdline.txt")
    d = folder({"config.txt": "kernel=k\n[tryboot]\nkernel=k-try\n[all]\n",
                "tryboot.txt": "kernel=k\n[tryboot]\nkernel=k-try\n[all]\n"})
    expect("tryboot: tryboot.txt and [tryboot]", fw(d, tryboot=True), "k-try||cmdline.txt")
    expect("not tryboot: config.txt, [tryboot] false", fw(d), "k||cmdline.txt")

    # --- os_prefix ---------------------------------------------------------------------------
    cfg = {"config.txt": "os_prefix=current/\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n"}
    d = folder(cfg, touch=["current/vmlinuz", "current/initrd.img", "current/bcm2710-rpi-3-b.dtb"])
    expect("os_prefix: kernel and .dtb under the prefix: applied", fw(d), "current/vmlinuz|current/initrd.img|current/cmdline.txt")
    expect("os_prefix: a 3B+ needs bcm2710-rpi-3-b-plus.dtb: ignored", fw(d, PI3P), "vmlinuz|initrd.img|cmdline.txt")
    expect("os_prefix: a 4B needs bcm2711-rpi-4-b.dtb: ignored", fw(d, PI4), "vmlinuz|initrd.img|cmdline.txt")
    r = fw(d, PI3AP)
    expect("os_prefix: a model without a known .dtb name: kernel only", r,
           "current/vmlinuz|current/initrd.img|current/cmdline.txt")
    if "kernel only" not in r.err:
        ko("os_prefix: the kernel-only test is noted", r.err.strip())
    else:
        ok("os_prefix: the kernel-only test is noted")
    d = folder(cfg, touch=["current/bcm2710-rpi-3-b.dtb", "vmlinuz"])
    expect("os_prefix: no kernel under the prefix: ignored", fw(d), "vmlinuz|initrd.img|cmdline.txt")
    d = folder(cfg, touch=["current/vmlinuz"])
    expect("os_prefix: no .dtb under the prefix: ignored", fw(d), "vmlinuz|initrd.img|cmdline.txt")
    d = folder({"config.txt": "os_prefix=current/\nkernel=vmlinuz\ndevice_tree=my.dtb\n"},
               touch=["current/vmlinuz", "current/my.dtb"])
    expect("os_prefix: device_tree= names the .dtb tested", fw(d), "current/vmlinuz||current/cmdline.txt")
    d = folder({"config.txt": "os_prefix=current/\nkernel=vmlinuz\ninitramfs /initrd.img followkernel\ncmdline=/cmdline.txt\n"},
               touch=["current/vmlinuz", "current/bcm2710-rpi-3-b.dtb"])
    expect("os_prefix: a leading / bypasses it", fw(d), "current/vmlinuz|initrd.img|cmdline.txt")
    d = folder({"config.txt": "os_prefix=new/\nauto_initramfs=1\n"},
               touch=["new/kernel7.img", "new/bcm2710-rpi-3-b.dtb", "new/bcm2711-rpi-4-b.dtb"])
    expect("os_prefix + auto_initramfs: the initramfs is named after the kernel, under the prefix",
           fw(d), "new/kernel7.img|new/initramfs7|new/cmdline.txt")
    expect("os_prefix: tested with the model's default kernel (no new/kernel8.img for a Pi 4)",
           fw(d, PI4), "kernel8.img|initramfs8|cmdline.txt")
    d = folder({"config.txt": "upstream_kernel=1\nkernel=vmlinuz\n"},
               touch=["upstream/vmlinuz", "upstream/bcm2837-rpi-3-b.dtb"])
    expect("upstream_kernel=1: prefix upstream/ (upstream .dtb name accepted)", fw(d), "upstream/vmlinuz||upstream/cmdline.txt")
    d = folder({"config.txt": "upstream_kernel=1\nkernel=vmlinuz\n"}, touch=["vmlinuz"])
    expect("upstream_kernel=1 without an upstream/ folder: no prefix", fw(d), "vmlinuz||cmdline.txt")

    # --- lines, files, folder ----------------------------------------------------------------
    d = folder({"config.txt": "# " + "x" * 100 + "kernel=vmlinuz-wrong\nkernel=vmlinuz-a\n"})
    r = fw(d)
    expect("98 characters: a long comment stays a comment", r, "vmlinuz-a||cmdline.txt")
    if "longer than" in r.err:
        ko("98 characters: no note for a long comment", r.err.strip())
    else:
        ok("98 characters: no note for a long comment")
    name = "vmlinuz-" + "x" * 100
    d = folder({"config.txt": f"kernel={name}\n"})
    r = fw(d)
    expect("98 characters: an entry is cut there", r, f"{('kernel=' + name)[:98][7:]}||cmdline.txt")
    if "longer than 98" not in r.err:
        ko("98 characters: a long entry is noted", r.err.strip())
    else:
        ok("98 characters: a long entry is noted")
    d = folder({"config.txt": "kernel=vmlinuz\r\ninitramfs initrd.img followkernel\r\n"})
    expect("CRLF line ends", fw(d), "vmlinuz|initrd.img|cmdline.txt")
    d = folder({"config.txt": "kernel=vmlinuz\ninitramfs initrd.img followkernel\n",
                "cmdline.txt": "console=ttyS0 root=/dev/sda\nsecond line\n"}, touch=["vmlinuz"])
    expect_rc("--dry-run: a missing initramfs means no boot (exit 3)", fw(d, mode="--dry-run"), 3, "initrd.img")
    d = folder({"config.txt": "kernel=kernel8.img\nauto_initramfs=1\n",
                "cmdline.txt": "console=ttyS0 root=/dev/sda\nsecond line\n"}, touch=["kernel8.img"])
    r = fw(d, mode="--dry-run")
    expect("--dry-run: auto_initramfs without the file boots without one", r, "kernel8.img||cmdline.txt")
    if r.out.get("cmdline") != "console=ttyS0 root=/dev/sda":
        ko("the command line is the cmdline file's first line", r.out.get("cmdline"))
    else:
        ok("the command line is the cmdline file's first line")
    d = folder({"config.txt": "kernel=k\n"}, touch=["k"], name="b615590")
    r = fw(d, mode="--no-such-option", serial="0b615590")
    expect_rc("usage: an unknown option is exit 2", r, 2, "unknown argument")
    p = subprocess.run([sys.executable, FW, d, "--serial", "0b615590", "--", "-m", "64", "-display", "none", "-no-reboot"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    expect_rc("serial folder: a folder b615590/ for serial 0b615590 does not boot",
              Run(p.returncode, p.stdout, p.stderr), 3, "asks for 0b615590/start.elf")
    expect_rc("usage: --serial must be hex", fw(d, serial="0b61559z"), 2, "not a serial")
    expect_rc("usage: an unknown model is refused", fw(d, "Banana Pi M5"), 2, "not one this stand-in knows")


def realworld():
    """What run.sh (section 1, and section 3's os_prefix cmdline) of the real-world folder expects."""
    if not os.path.isdir(REALWORLD):
        counts["skip"] += 1
        print(f"SKIP realworld: {REALWORLD} is absent")
        return
    C = REALWORLD

    def mk(cfg, extras=(), touch=()):
        d = folder({}, touch=touch)
        shutil.copy(os.path.join(C, cfg), os.path.join(d, "config.txt"))
        for kv in extras:
            dst, src = kv.split("=", 1)
            os.makedirs(os.path.dirname(os.path.join(d, dst)), exist_ok=True)
            shutil.copy(os.path.join(C, src), os.path.join(d, dst))
        return d

    cases = [
        ("01-pigen-master-config.txt", "kernel7.img|initramfs7|cmdline.txt", ()),
        ("03-pigen-bullseye-config.txt", "kernel7.img||cmdline.txt", ()),
        ("04-pigen-buster-config.txt", "kernel7.img||cmdline.txt", ()),
        ("05-pigen-bullseye-arm64-config.txt", "kernel8.img||cmdline.txt", ()),
        ("07-ubuntu-focal-armhf-config.txt", "uboot_rpi_3_32b.bin||cmdline.txt",
         ("syscfg.txt=07-ubuntu-focal-armhf-include-syscfg.txt", "usercfg.txt=07-ubuntu-focal-armhf-include-usercfg.txt")),
        ("09-ubuntu-jammy-armhf-config.txt", "vmlinuz|initrd.img|cmdline.txt", ()),
        ("12-archlinuxarm-linux-rpi-config.txt", "kernel7.img|initramfs-linux.img|cmdline.txt", ()),
        ("14-debian-raspi-firmware-generated-config.txt", "vmlinuz-6.1.0-18-arm64|initrd.img-6.1.0-18-arm64|cmdline.txt", ()),
        ("16-openwrt-config.txt", "kernel7.img||cmdline.txt", ("distroconfig.txt=16-openwrt-include-distroconfig.txt",)),
        ("18-alpine-armhf-generated-config.txt", "boot/vmlinuz-rpi2|boot/initramfs-rpi2|cmdline.txt", ()),
        ("19-alpine-aarch64-generated-config.txt", "boot/vmlinuz-rpi|boot/initramfs-rpi|cmdline.txt", ()),
        ("20-dietpi-config.txt", "kernel7.img||cmdline.txt", ()),
        ("21-kali-rpi-config.txt", "kernel7.img||cmdline.txt", ()),
        ("24-tjpetz-generated-config.txt", "kernel7.img|initrd.img-5.10.103-v7+|cmdline.txt", ()),
        ("28-rpi4master-generated-config.txt", "kernel7.img||cmdline.txt", ()),
        ("34-rpi-firmware-issue608-config.txt", "kernel7.img|initrd.img-4.4.9-v7+|cmdline.txt", ()),
        ("22-blog-synology-ubuntu-config.txt", "vmlinuz-5.8.0-1010-raspi|initrd.img-5.8.0-1010-raspi|iscsi.txt",
         ("syscfg.txt=22-blog-synology-ubuntu-include-syscfg.txt", "usercfg.txt=22-blog-synology-ubuntu-include-usercfg.txt")),
        ("32-ubuntu-focal-arm64-config.txt", "vmlinux|initrd.img|cmdline.txt",
         ("syscfg.txt=32-ubuntu-focal-arm64-include-syscfg.txt", "usercfg.txt=32-ubuntu-focal-arm64-include-usercfg.txt")),
    ]
    for cfg, want, extras in cases:
        expect(f"realworld {cfg}: Pi 3B loads", fw(mk(cfg, extras), PI3, "511e57f7"), want)
    q = "10-ubuntu-questing-arm64-config.txt"
    d = mk(q, ("current/cmdline.txt=11-ubuntu-questing-arm64-current-cmdline.txt",),
           ("current/vmlinuz", "current/initrd.img", "current/bcm2710-rpi-3-b.dtb"))
    r = fw(d, PI3, "511e57f7")
    expect(f"realworld {q}: os_prefix=current/ applies", r, "current/vmlinuz|current/initrd.img|current/cmdline.txt")
    if "root=LABEL=writable" not in r.out.get("cmdline", ""):
        ko("realworld 11: current/cmdline.txt (no final newline) is the command line", r.out.get("cmdline"))
    else:
        ok("realworld 11: current/cmdline.txt (no final newline) is the command line")
    d = mk(q, ("cmdline.txt=11-ubuntu-questing-arm64-current-cmdline.txt",),
           ("vmlinuz", "initrd.img", "bcm2710-rpi-3-b.dtb"))
    expect(f"realworld {q}: os_prefix ignored when current/ has no kernel and .dtb", fw(d, PI3, "511e57f7"),
           "vmlinuz|initrd.img|cmdline.txt")
    d = mk("28-rpi4master-generated-config.txt")
    expect("realworld 28 on a Pi 4: default kernel, [pi4] initramfs", fw(d, PI4, "1000000022bba2d2"),
           "kernel8.img|initrd.img-4.19.75-v7l+|cmdline.txt")
    r = fw(mk("20-dietpi-config.txt"), PI3, "511e57f7")
    if "longer than" in r.err:
        ko("realworld 20-dietpi: no line-length note for its 99-character comment", r.err.strip())
    else:
        ok("realworld 20-dietpi: no line-length note for its 99-character comment")


def main():
    try:
        units()
        realworld()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
