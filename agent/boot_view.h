/* What this Pi boots, read once: its identity (model, serial folder name), its boot folder,
 * config.txt with every included file as the firmware reads it, the evaluation for this Pi,
 * the kernel packaging, and the second witness of the serial folder (the NFS export the boot
 * folder is mounted from). The upgrade, the apt and kernel hooks, bootcfg and doctor all start
 * from here, so they cannot disagree on what the Pi boots. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bootcfg.h"
#include "config.h"
#include "flavour.h"
#include "piinfo.h"

#define BOOT_VIEW_ERROR_MAX 1024

struct boot_view_options {
        const char *root; /* --root; NULL for the real machine */
        const struct netroot_config *cfg;
        const char *model;    /* --model; NULL: [agent] model, else the kernel's */
        const char *serial;   /* --serial; NULL: [agent] serial, else the kernel's */
        const char *boot_dir; /* --boot-dir; NULL: [agent] boot_dir (absolute paths go under
                               * root, a relative one is taken as it is: a folder on the NAS) */
        bool tryboot;         /* the firmware's view with the tryboot flag: tryboot.txt */
        bool flavour;         /* also detect the packaging and the kernel version */
};

struct boot_view {
        char model[PIINFO_MODEL_MAX];
        int model_r;
        char serial[PIINFO_SERIAL_MAX]; /* the 8-digit folder name */
        int serial_r;
        char boot_sys[CONFIG_VALUE_MAX]; /* the boot folder as the Pi names it */
        bool boot_dir_auto;              /* found by boot_dir = auto */
        char *boot_dir;                  /* the same with --root applied */
        const char *main_name;           /* "config.txt" or "tryboot.txt" */
        char *config_path;

        struct bootcfg_files files;
        int files_r; /* bootcfg_files_load()'s result */
        struct bootcfg_target pi;
        struct bootcfg_result res;
        struct bootcfg_diag diag;
        int eval_r; /* 0: evaluated (errors may still be in diag), else why not */

        struct flavour fl;
        int flavour_r; /* -ENODATA when not asked for */
        /* The kernel version config.txt's kernel is (explicit vmlinuz-VER, or the newest of the
         * flavour under /lib/modules); "" unknown. */
        char kver[FLAVOUR_VER_MAX];

        /* The boot folder's NFS source and the folder name it ends in ("" when the boot folder
         * is not on NFS): the folder the NAS really serves, whatever the serial says. */
        char nfs_source[CONFIG_VALUE_MAX * 2];
        char nfs_folder[CONFIG_VALUE_MAX];

        char error[BOOT_VIEW_ERROR_MAX]; /* the first reason a part could not be read */
};

/* Loads what it can; every part has its own result. Returns 0 when config.txt (with its
 * includes) was read and evaluated without an error, else the first failure's negative errno
 * with V->error saying what and where (file and line). V must be freed either way. */
int boot_view_load(struct boot_view *v, const struct boot_view_options *o);

void boot_view_free(struct boot_view *v);

/* A boot_view_load() on the heap (the view is large); NULL on allocation failure. */
struct boot_view *boot_view_new(void);

/* The two witnesses of the serial folder: 1 when the boot folder is an NFS mount whose folder
 * is this serial, 0 when there is nothing to compare (not NFS, serial unknown), -EXDEV when they
 * disagree (WHY names both: an edit there never reaches the Pi). */
int boot_view_serial_check(const struct boot_view *v, char *why, size_t size);

/* BOOT_DIR/NAME for a name as config.txt writes it (a leading "/" is the folder's top). */
char *boot_view_path(const struct boot_view *v, const char *name);
