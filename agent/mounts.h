/* The mount table: which file system holds a folder, and for an NFS mount which server and
 * which exported folder. Read from <root>/proc/mounts, or /proc/self/mountinfo where a tree has
 * only that (it also gives the device numbers). One parser for every reader: doctor, the
 * upgrade's TFTP server, the boot folder's serial witness and the root session's disk. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct mount_entry {
        char *source; /* "nas:/tftpboot/0b615590", "/dev/sda1" (octal escapes undone) */
        char *target; /* the mount point */
        char *fstype;
        char *options;
        unsigned major, minor; /* mountinfo only; 0:0 from /proc/mounts */
        bool have_devno;
};

struct mount_table {
        struct mount_entry *e;
        size_t n;
};

/* Parses /proc/mounts text (MOUNTINFO false) or mountinfo text. Malformed lines are skipped:
 * the kernel writes these files. Returns 0 or -ENOMEM. */
int mounts_parse(const char *text, bool mountinfo, struct mount_table *t);

/* <ROOT>/proc/mounts, else <ROOT>/proc/self/mountinfo. Returns 0 or the read error. */
int mounts_load(const char *root, struct mount_table *t);

/* <ROOT>/proc/self/mountinfo only (device numbers needed). */
int mounts_load_mountinfo(const char *root, struct mount_table *t);

void mounts_free(struct mount_table *t);

/* The mount exactly on DIR (trailing "/" ignored); the last one wins: a later mount hides an
 * earlier one on the same folder. NULL when DIR is no mount point. */
const struct mount_entry *mounts_at(const struct mount_table *t, const char *dir);

/* The deepest mount holding PATH ("/" holds everything). NULL when none. */
const struct mount_entry *mounts_covering(const struct mount_table *t, const char *path);

bool mounts_is_nfs(const struct mount_entry *m);

/* For an NFS source "host:/export/path" ("[v6addr]:/path"): the server ("nas", "[fd00::1]").
 * Returns 0, -EINVAL when the source has no "host:" part, -ENAMETOOLONG. */
int mounts_nfs_server(const struct mount_entry *m, char *host, size_t size);

/* The exported path of an NFS source, pointing into M's source; NULL when it has none. */
const char *mounts_nfs_export(const struct mount_entry *m);

/* The last part of the exported path: for the boot folder, the name of the folder the NAS
 * serves to this Pi ("0b615590"). Returns 0, -EINVAL without one, -ENAMETOOLONG. */
int mounts_nfs_folder(const struct mount_entry *m, char *name, size_t size);
