/* Files inside one folder, never outside it: the boot folder (an NFS export other hosts write),
 * a generation, the shared firmware folder. Every name comes from a file someone else may have
 * written (config.txt, a record, a journal, a manifest), so every open is resolved beneath the
 * folder's fd with no symlink followed and no ".." leaving it (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS; component by component with O_NOFOLLOW where the kernel lacks it).
 * A name that leaves the folder gives -EXDEV, a symlink on the way -ELOOP. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sha256.h"

/* A relative path inside a folder: not empty, not absolute, no "." or ".." component, no
 * control character, shorter than PATH_MAX. Checked on write as well as on read. */
bool name_inside(const char *name);

/* Opens DIR itself as the anchor of the calls below (the folder may be reached through a
 * symlink: the admin chose it). */
int beneath_open_dir(const char *dir);

int openat_beneath(int dirfd, const char *name, int flags, mode_t mode);

/* The folder holding NAME (opened beneath DIRFD, created with CREATE) and NAME's last part. */
int openat_parent_beneath(int dirfd, const char *name, bool create, const char **base);

/* Whole-file replacement of NAME under DIRFD: temp file, fsync, rename, fsync of the folder.
 * MODE 0 keeps the mode of the file it replaces (0644 when new). */
int beneath_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* Reads NAME (a regular file, at most MAX bytes; a FIFO or device is refused, never opened
 * blocking). */
int beneath_read(int dirfd, const char *name, size_t max, char **out, size_t *len);

/* Copies SRC (under SRC_DIRFD) to DST (under DST_DIRFD, parents created) as a new file: a real
 * copy (reflink where the file system has one, never a hard link: a backup must not change when
 * the live file is rewritten in place), fsynced, renamed into place, the folder fsynced. MODE 0
 * keeps the source's mode. */
int beneath_copy(int src_dirfd, const char *src, int dst_dirfd, const char *dst, mode_t mode);

int beneath_sha256(int dirfd, const char *name, char hex[SHA256_HEX_SIZE]);

/* 1 when NAME is a regular file (not followed through a symlink), 0 when absent, <0 else
 * (-ELOOP for a symlink, -EINVAL for another kind of file). */
int beneath_is_file(int dirfd, const char *name);

/* Removes NAME; a missing one is no error. The folder is fsynced. */
int beneath_unlink(int dirfd, const char *name);

/* Renames FROM to TO, both under DIRFD, and fsyncs the folders. */
int beneath_rename(int dirfd, const char *from, const char *to);

/* Removes folder NAME and what is in it (plain files and folders, never through a symlink). */
int beneath_remove_tree(int dirfd, const char *name);
