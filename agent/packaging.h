/* How this Pi's kernel and boot files are packaged, one row per packaging, each saying how an
 * upgrade is refused, planned and switched, whether a kernel package's postinst hook concerns
 * this Pi, and which extra files a generation must keep (FACTS, "Kernel packages and hooks"):
 *
 *   raspbian        raspberrypi-kernel (or any kernel*.img / vmlinuz-VER kernel= with an
 *                   `initramfs FILE ADDR` line): the switch edits the deciding initramfs line.
 *   rpios           Raspberry Pi OS bookworm+: auto_initramfs=1, the firmware loads initramfs7/8
 *                   named after the kernel file; the switch renames the new initrd onto it.
 *   raspi-firmware  Debian's raspi-firmware: its hook REWRITES config.txt (and cmdline.txt) on
 *                   every kernel install for the newest /boot/vmlinuz-*, so the agent only makes
 *                   the edit that hook makes itself.
 *   ubuntu          Ubuntu: config.txt boots an unversioned vmlinuz/vmlinux (or u-boot), which
 *                   flash-kernel overwrites on every kernel install. Not guarded: the agent says
 *                   so once and stays out of the way (no generation, no switch, no verdict). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct boot_view;
struct upgrade_plan;

struct packaging {
        const char *name;
        const char *switch_note; /* how the switch works, for the plan */
        bool (*detect)(const struct boot_view *v);
        /* A plan-level refusal (0 = none; WHY says why). */
        int (*refuse)(const struct upgrade_plan *p, char *why, size_t size);
        /* Sets P->final and P->config_name. */
        int (*plan_switch)(struct upgrade_plan *p, char *why, size_t size);
        /* Whether kernel VER, just installed by a package, is one to switch this Pi to. WHY says
         * why not. */
        bool (*postinst_applies)(const struct boot_view *v, const char *ver, char *why,
                                 size_t size);
        /* Extra boot-folder files a generation keeps as copies; returns how many were added. */
        size_t (*files_to_save)(const struct boot_view *v, char names[][256], size_t max);
        /* Non-NULL: kernel installs on this packaging are not guarded; a format for why, given
         * the kernel file config.txt boots. */
        const char *unguarded;
};

/* Whether V's kernel is packaged in place (Raspbian's raspberrypi-kernel, Pi OS bookworm): the
 * kernel file config.txt boots carries no version (kernel7.img, kernel8.img), so a kernel
 * package overwrites it, the DTBs and overlays/ at unpack time (and Raspbian's deletes the old
 * /lib/modules/VER). A generation then keeps them all as copies, and the modules too. */
bool packaging_in_place(const struct boot_view *v);

/* The row for V (its flavour must have been detected). */
const struct packaging *packaging_detect(const struct boot_view *v);

const struct packaging *packaging_by_name(const char *name);

/* Whether V's packaging is one the agent does not guard; WHY (when not NULL) says why. */
bool packaging_unguarded(const struct boot_view *v, char *why, size_t size);
