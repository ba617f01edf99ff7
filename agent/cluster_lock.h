/* A lock shared by every Pi of a cluster on the NAS's TFTP root (shared_dir over NFS, mounted
 * nolock: no working lockd). It is a file created with O_EXCL (atomic on the NFS server) that
 * names its holder (serial, host, pid) and an expiry; a lock past its expiry is taken over by
 * renaming it aside atomically, so two Pis cannot both take over the same stale lock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CLUSTER_LOCK_NAME ".netroot-firmware.lock"

struct cluster_lock_holder {
        char serial[32];
        char host[64];
        long pid;
        time_t acquired;
        time_t expires;
};

struct cluster_lock {
        char path[4096];
        bool held;
        struct cluster_lock_holder me;
};

/* Tries to take DIR/CLUSTER_LOCK_NAME for TTL_SEC, waiting up to WAIT_SEC (0: no wait).
 * Returns 0 when taken, -EBUSY when another live holder has it (HOLDER filled, may be NULL),
 * other negative errno on I/O errors. A symlink planted at the lock path is refused (-ELOOP). */
int cluster_lock_acquire(struct cluster_lock *l, const char *dir, const char *serial,
                         unsigned ttl_sec, unsigned wait_sec, struct cluster_lock_holder *holder);

/* Releases the lock if (and only if) the file still names us. */
int cluster_lock_release(struct cluster_lock *l);

/* Reads the current holder of DIR's lock; -ENOENT when free. */
int cluster_lock_read(const char *dir, struct cluster_lock_holder *holder);
