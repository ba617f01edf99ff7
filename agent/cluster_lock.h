/* A lock shared by every Pi of a cluster on the NAS's TFTP root (shared_dir over NFS, mounted
 * nolock: no working lockd). It is a file created with O_EXCL (atomic on the NFS server) that
 * names its holder (serial, host, pid).
 *
 * Its age is judged by the NAS's clock alone: the lock file's mtime (set by the server when the
 * holder wrote it, and again at every cluster_lock_check(), the heartbeat) against the mtime the
 * server gives a probe file written just now. A Pi has no RTC (fake-hwclock until NTP), so the
 * holder's own `acquired=`/`expires=` times are informational only. A lock older than its TTL
 * is taken over only by the contender that holds the takeover file (a second O_EXCL file), and
 * only if the lock file is still the very file judged stale: so with any number of contenders
 * exactly one wins, and a fresh lock is never removed. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CLUSTER_LOCK_NAME ".netroot-firmware.lock"
/* Held for the few milliseconds of a takeover; serialises contenders that judge a lock stale. */
#define CLUSTER_LOCK_TAKEOVER_NAME ".netroot-firmware.lock.takeover"
/* A holder's TTL above this (a planted or damaged file) counts as this. */
#define CLUSTER_LOCK_TTL_MAX (24 * 3600)

struct cluster_lock_holder {
        char serial[32];
        char host[64];
        long pid;
        time_t acquired;  /* the holder's wall clock: informational */
        time_t expires;   /* the holder's wall clock: informational (older agents judged by it) */
        unsigned ttl;     /* seconds without a heartbeat after which the lock may be taken */
        time_t refreshed; /* NAS clock: the lock file's mtime, the holder's last write or check */
        time_t stale_at;  /* NAS clock: refreshed + ttl, when it may be taken over */
};

struct cluster_lock {
        char path[4096];
        bool held;
        struct cluster_lock_holder me;
        dev_t dev; /* the lock file we created: ownership is this inode at the lock path */
        ino_t ino;
};

/* Tries to take DIR/CLUSTER_LOCK_NAME for TTL_SEC, waiting up to WAIT_SEC (0: no wait).
 * Returns 0 when taken, -EBUSY when another live holder has it (HOLDER filled, may be NULL),
 * other negative errno on I/O errors. A symlink planted at the lock path is refused (-ELOOP). */
int cluster_lock_acquire(struct cluster_lock *l, const char *dir, const char *serial,
                         unsigned ttl_sec, unsigned wait_sec, struct cluster_lock_holder *holder);

/* Re-verifies that L still holds its lock (the file at the lock path is the inode L created and
 * still names L) and refreshes its mtime, the heartbeat that keeps others from judging it
 * stale. Call it right before every write that commits something in the shared folder.
 * Returns 0 when held, -ESTALE when lost (removed, taken over, or older than its TTL by the
 * NAS's clock, when a takeover may be under way), -EINVAL when L holds nothing, other negative
 * errno on I/O errors. */
int cluster_lock_check(struct cluster_lock *l);

/* Releases the lock if (and only if) the file still is ours. Returns 0, or -ESTALE when it was
 * no longer ours (taken over: whatever was done under it may have overlapped another holder),
 * or another negative errno. L holds nothing afterwards either way. */
int cluster_lock_release(struct cluster_lock *l);

/* Reads the current holder of DIR's lock; -ENOENT when free. */
int cluster_lock_read(const char *dir, struct cluster_lock_holder *holder);
