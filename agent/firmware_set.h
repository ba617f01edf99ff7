/* The firmware files at the TFTP root that every Pi of the cluster shares: bootcode.bin,
 * start*.elf and fixup*.dat. start*.elf and fixup*.dat must always match, so they are backed up
 * and restored only as one set. */
#pragma once

#include <stddef.h>

#include "sha256.h"

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
 * removed first. Call it holding the cluster lock. */
int firmware_set_backup(const char *shared_dir, const char *serial, char *backup_dir,
                        size_t backup_dir_size, struct firmware_set *set);

/* Puts the set from BACKUP_DIR back into SHARED_DIR: each file verified against the manifest,
 * written to a temp name and renamed in place, so every file is at any moment either the old or
 * the new one. Files of the current set that the backup lacks are left alone. */
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
