/* Whether a Pi can boot what its config files name: the kernel file is there, and every
 * initramfs is there and passes the iSCSI root check for the kernel version it must fit. The
 * hooks, the upgrade's last word and rollback ask this before they say a Pi will boot. */
#pragma once

#include <stddef.h>

#include "boot_view.h"

/* 1 bootable (WHY says what boots), 0 not (WHY says what is wrong), <0 on errors (WHY). */
int boot_check(const char *root, const struct boot_view *v, char *why, size_t size);
