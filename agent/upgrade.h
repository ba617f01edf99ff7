/* The guarded kernel upgrade: one transaction that builds a new initramfs next to the old one,
 * checks it, switches this Pi's boot to it, proves over TFTP that the server serves what was
 * written, and records the result as a pending generation that netrootd confirms after boot.
 * Any failure puts the old boot back; a crash leaves a journal the next run rolls back.
 *
 * Invariant at every instant: config.txt points at an initramfs that exists and passes the
 * initrd check, and the shared firmware set is byte for byte one complete set (the upgrade only
 * backs it up; it never writes it).
 *
 * Steps (names for NETROOT_FAULT_STEP): plan, preflight, backup, build, check, switch, tftp,
 * record. Test hooks, read from the environment, harmless when unset:
 *   NETROOT_FAULT_STEP=NAME        SIGKILL this process right after step NAME
 *   NETROOT_FAULT_TRUNCATE=1       cut the built initramfs in half after the build step
 *   NETROOT_TEST_INITRD_FROM=FILE  the build step copies FILE instead of running mkinitramfs */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "log.h"

#define UPGRADE_PENDING_FILE "pending"

/* Result of upgrade_run (also netrootctl's exit status). */
enum {
        UPGRADE_DONE = 0,
        UPGRADE_REFUSED = 1,     /* plan or preflight said no: nothing was changed */
        UPGRADE_USAGE = 2,       /* bad options or configuration */
        UPGRADE_ROLLED_BACK = 3, /* a step failed; the old boot is back */
};

struct tftp_fetch_result;

/* tftp_fetch_sha256's signature. Passed in rather than called: netrootd links this module for
 * the boot confirmation and must not carry libcurl (only netrootctl does). */
typedef int (*upgrade_fetch_fn)(const char *server, const char *path, unsigned timeout_ms,
                                struct tftp_fetch_result *result);

struct upgrade_options {
        const char *root; /* --root, NULL for the real machine */
        const struct netroot_config *cfg;
        const char *kernel; /* NULL: the newest this Pi's flavour can boot */
        const char *model;  /* NULL: /proc/device-tree/model */
        const char *serial; /* NULL: /proc/cpuinfo */
        bool dry_run;
        unsigned lock_wait_sec;      /* for the shared firmware lock */
        unsigned lock_ttl_sec;       /* 0: 600 */
        const struct logger *events; /* MSGID_UPGRADE_* events (the journal); NULL: none */
        upgrade_fetch_fn fetch;      /* NULL: no TFTP verification possible */
};

int upgrade_run(const struct upgrade_options *o);

/* ---- For netrootd's boot confirmation ---- */

struct upgrade_pending {
        unsigned gen;
        char kernel[128];
        char created[32];
        unsigned bad_line; /* with -EBADMSG: the line at fault (0: the gen= line is missing) */
};

/* Reads <boot_dir>/.netroot/pending. 0, -ENOENT when nothing is pending, -EBADMSG when the file
 * is malformed. BOOT_DIR_RESOLVED is the folder path with any --root prefix already applied. */
int upgrade_pending_read(const char *boot_dir_resolved, struct upgrade_pending *p);

/* Sets generation GEN's status ("pending", "good", "bad", "rolled-back", "unconfirmed") and
 * reason in its
 * record. Marking it anything but pending ends the pending state when GEN is the pending one. */
int upgrade_mark(const char *boot_dir_resolved, unsigned gen, const char *status,
                 const char *reason);

/* Removes good generations beyond the newest KEEP good ones; never the newest generation,
 * never a pending one. Returns the number removed. */
int upgrade_prune(const char *boot_dir_resolved, unsigned keep);

/* Rolls back an interrupted transaction (a journal left by a process that died), logging
 * MSGID_TRANSACTION_RECOVERED. Returns 1 when one was rolled back, 0 when there was none,
 * a negative errno when the rollback failed (the journal is kept for the next try). */
int upgrade_recover(const char *root, const struct netroot_config *cfg, struct logger *log);

/* Same for a boot folder given directly (netrootctl --boot-dir on the NAS). */
int upgrade_recover_dir(const char *boot_dir_resolved, const struct logger *log);

/* ---- netrootctl rollback ---- */

struct rollback_options {
        const char *boot_dir;   /* resolved */
        const char *shared_dir; /* resolved, NULL/"": the shared firmware is not restored */
        const char *root;       /* for the initrd check's /etc files; NULL */
        unsigned to;            /* 0: the newest generation that is pending, unconfirmed or good */
        bool firmware;          /* also restore the shared firmware set from the backup */
        bool force;             /* restore even when the restored initramfs fails the check */
        bool dry_run;
        const struct logger *events;
};

/* Returns UPGRADE_DONE, UPGRADE_REFUSED (nothing changed) or UPGRADE_USAGE. */
int upgrade_rollback(const struct rollback_options *o);
