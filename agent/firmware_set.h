/* The firmware files at the TFTP root that every Pi of the cluster shares: bootcode.bin,
 * start*.elf and fixup*.dat. start*.elf and fixup*.dat must always match, so they are backed up
 * and restored only as one set. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "sha256.h"

struct cluster_lock;

#define FIRMWARE_SET_MAX 32

struct firmware_file {
        char name[64];
        char sha256[SHA256_HEX_SIZE];
        unsigned long long size;
};

struct firmware_set {
        unsigned n;
        struct firmware_file files[FIRMWARE_SET_MAX];
};

/* Lists and hashes the set in SHARED_DIR (regular files only; symlinks refused). */
int firmware_set_scan(const char *shared_dir, struct firmware_set *set);

/* Copies the set into SHARED_DIR/.netroot-backup/<UTC stamp>-<serial>/ with a manifest
 * (SHA256SUMS), each file fsynced; BACKUP_DIR gets the folder's path. The folder is written as
 * .partial-<name> and renamed when complete; partial folders of holders that died mid-copy are
 * removed first, and so is an interrupted firmware transaction (firmware_txn_recover: finished
 * or undone, so the backup is never of a mixed set). Call it holding the cluster lock. */
int firmware_set_backup(const char *shared_dir, const char *serial, char *backup_dir,
                        size_t backup_dir_size, struct firmware_set *set);

/* The same, with LOCK (held) checked right before the complete backup gets its name: a holder
 * that lost the lock (taken over after its TTL) discards its backup (-ESTALE). NULL: no check. */
int firmware_set_backup_locked(const char *shared_dir, const char *serial,
                               struct cluster_lock *lock, char *backup_dir, size_t backup_dir_size,
                               struct firmware_set *set, char *err, size_t err_size);

/* Puts the set from BACKUP_DIR back into SHARED_DIR as one transaction (firmware_txn_restore
 * without a lock: the caller has the folder to itself). Files of the current set that the
 * backup lacks are left alone. */
int firmware_set_restore(const char *shared_dir, const char *backup_dir);

/* 1 when SHARED_DIR's set equals the manifest in BACKUP_DIR, 0 when not, <0 on errors. */
int firmware_set_matches(const char *shared_dir, const char *backup_dir);

/* The same, with a message naming the file concerned (or, for _matches returning 0, the first
 * difference) in ERR (may be NULL). */
int firmware_set_scan_err(const char *shared_dir, struct firmware_set *set, char *err,
                          size_t err_size);
int firmware_set_backup_err(const char *shared_dir, const char *serial, char *backup_dir,
                            size_t backup_dir_size, struct firmware_set *set, char *err,
                            size_t err_size);
int firmware_set_restore_err(const char *shared_dir, const char *backup_dir, char *err,
                             size_t err_size);
int firmware_set_matches_err(const char *shared_dir, const char *backup_dir, char *err,
                             size_t err_size);

/* BACKUP_DIR's SHA256SUMS (sha256sum format, firmware names only); ERR names file:line. */
int firmware_set_read_manifest(const char *backup_dir, struct firmware_set *set, char *err,
                               size_t err_size);

/* bootcode.bin, start*.elf or fixup*.dat, and no path. */
bool firmware_set_name_valid(const char *name);

/* The other half of a start/fixup pair: start<X>.elf <-> fixup<X>.dat (start.elf/fixup.dat,
 * start_x/fixup_x, start_cd, start_db, start4, start4x, start4cd, start4db). Returns 1 for a
 * start*.elf (OTHER = its fixup), 2 for a fixup*.dat (OTHER = its start), 0 for anything else. */
int firmware_set_pair_name(const char *name, char *other, size_t size);

/* Checks the start/fixup pairs in DIR (the TFTP root or a Pi's folder): every start*.elf has its
 * fixup*.dat, and where a manifest knows that start*.elf (SHA256SUMS of DIR/.netroot-backup/,
 * of DIR/.netroot/gen-*, and for a Pi's folder <8 hex digits> of ../.netroot-backup/), the
 * fixup*.dat beside it is the one it was saved with. Returns 1 ok, 0 mismatch (WHY names the
 * files and the manifest), <0 on errors (WHY says which file). */
int firmware_set_pairs_check(const char *dir, char *why, size_t size);

/* Removes the .netroot-backup/.partial-* folders holders that died mid-copy left (under the
 * lock only: a live holder's backup in progress looks the same). */
void firmware_set_remove_partial_at(int shared_dirfd);

/* Building blocks shared with firmware_txn.c. Opens NAME in DIRFD for reading: never through a
 * symlink (-ELOOP), nothing but a regular file (-EISDIR, -EINVAL). */
int firmware_set_open_at(int dirfd, const char *name, struct stat *st);
/* Copies the open SRC to DST, hashing what passes through; SIZE may be NULL. */
int firmware_set_copy_hash(int src, int dst, char hex[SHA256_HEX_SIZE], unsigned long long *size);
