/* File access with the guarantees the agent promises: whole-file atomic replacement (temp file,
 * fsync, rename, fsync of the folder), no symlink following where the agent writes, and bounded
 * reads so a hostile or huge file cannot exhaust memory. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Replaces PATH with DATA atomically. A symlink at PATH is refused (-ELOOP). */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole file of at most MAX bytes into a NUL-terminated buffer.
 * Returns -EFBIG when larger. *LEN (optional) gets the byte count. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

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
