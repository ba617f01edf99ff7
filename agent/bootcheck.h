/* Whether a Pi boots, checked as a whole (issue 14): every claim that "the Pi boots" (hook
 * check, apt-post, the upgrade's last step, rollback) rests on this.
 *
 *   1. the kernel config.txt names exists in the boot folder;
 *   2. every initramfs config.txt loads exists and passes the iSCSI root check FOR THAT
 *      KERNEL'S VERSION (its modules directory inside it: initrd.h);
 *   3. /lib/modules/<that version> exists on the root (under --root);
 *   4. the cmdline file config.txt names (include followed) carries the iSCSI login the running
 *      root uses (ISCSI_* / iscsi_* / root=iscsi:, with /etc/iscsi/iscsi.initramfs, which the
 *      initramfs carries too), compared to the live one: the running kernel's /proc/cmdline and
 *      the live session's target (sysfs); and a root= that resolves: root=iscsi:, the running
 *      root's own root= value, or a device that exists under /dev. */
#pragma once

#include <stddef.h>

#include "boot_view.h"

struct netroot_config;

/* The kernel version of the file config.txt boots: V->kver, except for an in-place kernel file
 * (kernel7.img & co., packaging_in_place()) whose content a generation kept: the version that
 * generation recorded for it (after a rollback, /lib/modules holds the newer version too, and
 * the newest is not what boots). */
void boot_kernel_version(const char *root, const struct boot_view *v, char *ver, size_t size);

/* 1 bootable (WHY says what boots), 0 not (WHY says what is wrong), <0 on errors (WHY). */
int boot_check(const char *root, const struct boot_view *v, char *why, size_t size);

/* Part 4 alone, for cmdline text CMDLINE (named NAME in WHY): 1 logs into the running root,
 * 0 not (WHY says why), <0 on errors. */
int boot_check_cmdline(const char *root, const char *cmdline, const char *name, char *why,
                       size_t size);

/* Loads the boot view of ROOT (BOOT_DIR as boot_view_options takes it, NULL: CFG's boot_dir)
 * and checks it: boot_check()'s returns. */
int boot_check_root(const char *root, const struct netroot_config *cfg, const char *boot_dir,
                    char *why, size_t size);
