/* Replacing the firmware set at the TFTP root (bootcode.bin, start*.elf, fixup*.dat: shared by
 * every Pi) as one journaled transaction, so that a process killed at any point leaves, once the
 * next run has been through, one complete set: all old or all new, never a start*.elf of one
 * version beside a fixup*.dat of another.
 *
 *  1. the previous set is in a backup (an existing one that matches, or a new one);
 *  2. every new file is written to .netroot-staged.<name>, verified and fsynced;
 *  3. the journal SHARED_DIR/.netroot-firmware.txn (key=value, written to a temp name, fsynced,
 *     renamed, folder fsynced) names the backup of the previous set and each file's old and new
 *     sha256: from here on the transaction is decided;
 *  4. the staged files are renamed over the live ones, the folder fsynced, the journal removed.
 *
 * A run that finds a journal (firmware_txn_recover: the next restore or promotion, the next
 * upgrade's backup step, `netrootctl firmware recover`) finishes it from the staged files, or,
 * when one of them is gone or damaged, undoes it from the backup; before the journal exists a
 * crash leaves only staged files, which are removed. Everything here runs under the cluster lock,
 * checked right before the journal is written.
 *
 * Test hook (test builds only, testhooks.h): NETROOT_FAULT_FIRMWARE=POINT SIGKILLs the process at
 * POINT: "staged", "journal", "rename-N" (after the Nth rename), "switched", "undo-journal". */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "firmware_set.h"

#define FIRMWARE_TXN_JOURNAL       ".netroot-firmware.txn"
#define FIRMWARE_TXN_STAGED_PREFIX ".netroot-staged."

struct cluster_lock;

/* firmware_txn_recover's results besides 0 (nothing was pending) and <0. */
enum { FIRMWARE_TXN_FINISHED = 1, FIRMWARE_TXN_UNDONE = 2 };

/* Finishes or undoes a transaction interrupted in SHARED_DIR and removes staged leftovers.
 * LOCK: held by the caller and checked before anything is written (NULL: the caller has the
 * folder to itself). Returns 0, FIRMWARE_TXN_FINISHED, FIRMWARE_TXN_UNDONE, or a negative errno
 * with ERR saying why (the journal is then kept for the next try, or for a human). */
int firmware_txn_recover(const char *shared_dir, struct cluster_lock *lock, char *err,
                         size_t err_size);

struct firmware_txn_request {
        const char *shared_dir;
        const char *source_dir;         /* where the new files are */
        const struct firmware_set *set; /* their names and sha256 (a manifest, a scan) */
        const char *listed_in;          /* where SET comes from, for errors ("SHA256SUMS") */
        const char *op;                 /* "restore", "promote", …: for the journal */
        const char *serial;             /* names a backup of the live set when one must be made */
        const char *undo_dir; /* a backup holding the live set; NULL: a matching or a new one */
        struct cluster_lock *lock; /* held; NULL: the caller has the folder to itself */
        char *undo_used;           /* out (may be NULL): the backup holding the previous set */
        size_t undo_used_size;
};

/* Installs REQ->set into REQ->shared_dir as one transaction (recovering an interrupted one
 * first). Names the set lacks are left alone; the set must not split a start/fixup pair (a
 * start*.elf without its fixup*.dat, or a fixup*.dat whose start*.elf would stay the old one).
 * Every source file is verified against its sha256 before anything live is touched, and a
 * planted symlink or folder at a live name is refused. Returns 0 installed, 1 when the live
 * files already were the set (nothing written), a negative errno with ERR saying why (-ESTALE:
 * the lock was lost; nothing was switched). */
int firmware_txn_install(const struct firmware_txn_request *req, char *err, size_t err_size);

/* Puts BACKUP_DIR (its SHA256SUMS) back with firmware_txn_install. SERIAL names the backup of
 * the live set made for the undo when none matches. Returns 0 restored, 1 when the live set
 * already matched, a negative errno (ERR). */
int firmware_txn_restore(const char *shared_dir, const char *backup_dir, const char *serial,
                         struct cluster_lock *lock, char *err, size_t err_size);

/* The journal as read, for status output. */
struct firmware_txn_info {
        char op[16];
        char state[16]; /* "switch" or "undo" */
        char source[1024];
        char undo[1024];
        unsigned files;
};

/* 1 with INFO filled when a journal is pending in SHARED_DIR, 0 when none, <0 when it cannot be
 * read (ERR: file:line). */
int firmware_txn_pending(const char *shared_dir, struct firmware_txn_info *info, char *err,
                         size_t err_size);
