/* The ISCSI_* boot parameters the initramfs used to log in to the root disk, as open-iscsi's
 * scripts/local-top/iscsi sees them (FACTS.md, "iSCSI root in the initramfs"). The daemon takes
 * the probe's target, portal and CHAP from here when agent.conf says "auto".
 *
 * Sources, later ones winning, as in the initramfs:
 *  1. upper-case ISCSI_*=… on the kernel command line (the kernel hands them to init as
 *     environment variables),
 *  2. <root>/etc/iscsi/iscsi.initramfs, a shell fragment the script sources (so an assignment
 *     there, even to "", overrides the environment),
 *  3. lower-case iscsi_*=… on the kernel command line,
 *  4. root=iscsi:[user:pass[:inuser:inpass]@]IP:PROTO:PORT:LUN:IQN on the kernel command line.
 *
 * Passwords are kept in memory only; clear the struct with iscsi_boot_clear() when done and
 * show them with iscsi_boot_mask(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define ISCSI_BOOT_VALUE_MAX 256 /* iSCSI names are at most 223 bytes, CHAP secrets far less */
#define ISCSI_BOOT_ERROR_MAX 320

#define ISCSI_BOOT_INITRAMFS_PATH "/etc/iscsi/iscsi.initramfs"
#define ISCSI_BOOT_CMDLINE_PATH   "/proc/cmdline"

enum {
        ISCSI_BOOT_FROM_CMDLINE_ENV = 1 << 0, /* ISCSI_*= on the command line */
        ISCSI_BOOT_FROM_FILE = 1 << 1,        /* iscsi.initramfs */
        ISCSI_BOOT_FROM_CMDLINE_KEY = 1 << 2, /* iscsi_*= on the command line */
        ISCSI_BOOT_FROM_ROOT_ARG = 1 << 3,    /* root=iscsi:… */
};

struct iscsi_boot {
        char initiator[ISCSI_BOOT_VALUE_MAX];
        char target_name[ISCSI_BOOT_VALUE_MAX];
        char target_ip[ISCSI_BOOT_VALUE_MAX]; /* as written: an address or a host name */
        unsigned target_port;                 /* 0 = not given (iSCSI's default is 3260) */
        int target_group;                     /* -1 = not given */
        char lun[16];                         /* from root=iscsi: only, "" when not given */
        char username[ISCSI_BOOT_VALUE_MAX];
        char password[ISCSI_BOOT_VALUE_MAX];
        char in_username[ISCSI_BOOT_VALUE_MAX];
        char in_password[ISCSI_BOOT_VALUE_MAX];
        unsigned sources; /* ISCSI_BOOT_FROM_* that contributed a value */
};

void iscsi_boot_init(struct iscsi_boot *b);

/* Wipes every field, the passwords with explicit_bzero(). */
void iscsi_boot_clear(struct iscsi_boot *b);

/* Parses FILE_TEXT (the iscsi.initramfs fragment, NULL when absent; FILE_NAME names it in
 * errors) and CMDLINE (NULL when absent) into OUT, by the precedence above. On error OUT is
 * left cleared and ERR says "FILE:LINE: what" (or "/proc/cmdline: what"); returns -EINVAL.
 * Returns 1 when a target name was found, 0 when not. */
int iscsi_boot_parse(const char *file_text, const char *file_name, const char *cmdline,
                     struct iscsi_boot *out, char *err, size_t err_size);

/* Reads <root>/etc/iscsi/iscsi.initramfs and <root>/proc/cmdline (either may be missing) and
 * parses them. Same returns as iscsi_boot_parse(), or a negative errno from reading. */
int iscsi_boot_load(const char *root, struct iscsi_boot *out, char *err, size_t err_size);

/* What to show instead of a secret: "(none)" when empty, a fixed "********" otherwise (no
 * hint of its length). */
const char *iscsi_boot_mask(const char *secret);
