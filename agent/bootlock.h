/* The boot lock: one local exclusive lock held by every command that changes a boot folder
 * (upgrade, rollback, the apt and kernel hooks, boot confirmation) for its whole run. It is an
 * flock(2) on <root><run_dir>/boot.lock ([agent] run_dir, /run/netroot): the boot folder itself is
 * an NFS mount without working locks (nolock), and /run is local. The kernel drops an flock when
 * its holder dies, so a lock is never stale; the file only says who holds it (pid, command, since).
 * Read-only commands never take it; they only ask whether someone holds it, to tell an upgrade in
 * progress from an interrupted one. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

#define BOOT_LOCK_RUN_DIR "/run/netroot" /* when no [agent] run_dir is given */
#define BOOT_LOCK_NAME    "boot.lock"

struct boot_lock {
        int fd;
};

struct boot_lock_holder {
        long pid;
        char command[64];
        char since[32];
};

#define BOOT_LOCK_INIT                                                                             \
        {                                                                                          \
                .fd = -1                                                                           \
        }

/* Takes the lock for COMMAND ("netrootctl upgrade"), waiting up to WAIT_SEC (0: not at all).
 * -EBUSY when another process holds it: ERR names it ("… is changing the boot folder: netrootctl
 * upgrade, pid 4711, since …"). */
int boot_lock_take(const char *root, const char *run_dir, const char *command, unsigned wait_sec,
                   struct boot_lock *l, struct error *err);

void boot_lock_release(struct boot_lock *l);

/* 1 when a live process holds the lock (H filled from the file), 0 when nobody does, <0 on
 * errors. Never takes the lock. */
int boot_lock_holder(const char *root, const char *run_dir, struct boot_lock_holder *h);
