/* File access with the guarantees the agent promises: whole-file atomic replacement (temp file,
 * fsync, rename, fsync of the folder), no symlink following where the agent writes, and bounded
 * reads so a hostile or huge file cannot exhaust memory. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Replaces PATH with DATA atomically. A symlink at PATH is refused (-ELOOP), a folder (-EISDIR)
 * or anything else not a regular file (-EEXIST); the temp name next to it is created with
 * O_EXCL | O_NOFOLLOW, so a planted file or symlink there is skipped, never written through. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole file of at most MAX bytes into a NUL-terminated buffer.
 * Returns -EFBIG when larger. *LEN (optional) gets the byte count. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

/* Like file_read_all() for a file the agent also writes or that an admin's folder holds (boot
 * folder, state): never through a symlink (-ELOOP), and only a regular file (-EISDIR, -EINVAL
 * for a FIFO or device). */
int file_read_regular(const char *path, size_t max, char **out, size_t *len);

/* The line (1-based) of TEXT's first NUL byte, 0 when there is none. A text file the firmware or
 * the kernel reads never holds one; zero-filled blocks are what a write cut short by a crash
 * or a full disk leaves, so a NUL means a damaged file, not a setting. */
unsigned text_nul_line(const char *text, size_t len);

/* strerror() with the refusals above in plain words ("a symlink (refused, never followed)"),
 * for messages "PATH: WHY". Only for results of the functions here: -EINVAL reads "not a
 * regular file". R may be negative. */
const char *file_strerror(int r);

/* Reads a one-value file (sysfs, procfs) into BUF and strips the trailing newline. */
int file_read_value(const char *path, char *buf, size_t size);

/* Writes VALUE to an existing one-value file (sysfs, procfs); never creates it. */
int file_write_value(const char *path, const char *value);

/* Removes PATH if present; a missing file is not an error. */
int file_remove(const char *path);

/* Writes all LEN bytes, retrying short writes and EINTR. */
int fd_write_all(int fd, const void *data, size_t len);

/* Makes a rename or create in the directory DIRFD durable. */
int fsync_dir(int dirfd);

/* Creates DIR and its parents (mode 0755 unless MODE). */
int mkdir_parents(const char *dir, mode_t mode);
