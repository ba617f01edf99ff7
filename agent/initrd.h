/* Reading and judging an initramfs: does it hold what an iSCSI root needs? */
#pragma once

#include <stddef.h>

/* Shared entry point for callers that only need a verdict (bootcfg set-initramfs, upgrade):
 * checks FILE for kernel version KVER (NULL: take it from the archive's lib/modules/).
 * ROOT is the --root prefix (for /etc/iscsi/iscsi.initramfs and the like), may be NULL.
 * Returns 1 when FILE passes, 0 when something is missing (WHY lists the missing items),
 * a negative errno when FILE cannot be read (WHY says why). */
int initrd_passes_check(const char *root, const char *file, const char *kver, char *why,
                        size_t why_size);
