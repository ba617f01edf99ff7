/* The guarded upgrade's plan and preflight, as data: what this Pi boots (boot_view.h), the kernel
 * it moves to, where the new initramfs goes and which file the switch edits, and the checks that
 * must pass before anything changes. Nothing here writes or prints; upgrade.c runs the plan and
 * the report interface (report.h) shows it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "boot_view.h"
#include "config.h"
#include "log.h"

struct packaging;
struct tftp_fetch_result;

/* tftp_fetch_sha256's signature. Passed in: the library must not pull libcurl into programs
 * that do not fetch. */
typedef int (*upgrade_fetch_fn)(const char *server, const char *path, unsigned timeout_ms,
                                struct tftp_fetch_result *result);

struct upgrade_options {
        const char *root; /* --root, NULL for the real machine */
        const struct netroot_config *cfg;
        const char *kernel; /* NULL: the newest this Pi's flavour can boot */
        const char *model;  /* NULL: /proc/device-tree/model */
        const char *serial; /* NULL: /proc/cpuinfo */
        bool dry_run;
        unsigned lock_wait_sec; /* for the shared firmware lock */
        unsigned lock_ttl_sec;  /* 0: 600 */
        bool have_boot_lock;    /* the caller holds the boot lock (the hooks) */
        /* The generation apt-pre saved before dpkg ran: the upgrade takes it as its backup (one
         * generation per kernel install), 0: the upgrade saves its own. */
        unsigned adopt_gen;
        /* When that apt run began (apt-pre's marker), zero outside apt: an initrd.img-VER the
         * kernel package's own hook built since then is taken instead of building it twice. */
        struct timespec apt_started;
        unsigned boot_lock_wait_sec; /* otherwise how long to wait for it */
        const char *command;         /* who runs it, for the lock and the journal */
        const struct logger *events; /* MSGID_UPGRADE_* events (the journal); NULL: none */
        upgrade_fetch_fn fetch;      /* NULL: no TFTP verification possible */
};

#define UPGRADE_CHECKS_MAX 20
/* In-place kernel packagings keep every overlay as a copy (Raspbian ships ~250). */
#define UPGRADE_SAVE_MAX 1024

/* What a generation keeps of this Pi: copies (config.txt and every file it includes, cmdline,
 * tryboot.txt, the initramfs a switch replaces, the packaging's own files) and hashes (all the
 * Pi boots, the per-Pi firmware and device trees included). Names point into STORAGE. */
struct save_lists {
        size_t n_copy, n_hash, n_storage;
        const char *copy[UPGRADE_SAVE_MAX];
        const char *hash[UPGRADE_SAVE_MAX];
        char storage[UPGRADE_SAVE_MAX][FLAVOUR_NAME_MAX];
};

/* FINAL (may be ""): a boot-folder file a switch will replace, kept when it exists. */
void save_lists_make(const struct boot_view *v, const struct packaging *pkg, const char *final,
                     struct save_lists *s);

struct upgrade_check {
        bool ok;
        char name[96];
        char detail[512];
};

struct upgrade_plan {
        const struct upgrade_options *o;
        struct boot_view *view; /* owned */
        const struct packaging *pkg;

        char kver_from[FLAVOUR_VER_MAX];
        char kver[FLAVOUR_VER_MAX];
        char newer_note[256];
        char final[FLAVOUR_NAME_MAX];       /* boot-folder file the new initrd ends up as */
        char config_name[FLAVOUR_NAME_MAX]; /* the name written into a config file; "": none */
        unsigned edit_src;  /* the file of view->files the switch edits (config_name set) */
        bool trial;         /* trial_boot=tryboot: config_name goes to tryboot.txt */
        unsigned trial_gen; /* the generation number the trial name carries */
        bool final_exists;
        char new_file[FLAVOUR_NAME_MAX + 16];
        bool chroot_build;
        char tftp_server[256];
        char tftp_note[256];
        char *shared_dir;
        char *sys_kconfig; /* ROOT/boot/config-VER */
        bool kconfig_from_proc;
        unsigned long long current_size;

        struct save_lists save;

        size_t n_checks;
        struct upgrade_check checks[UPGRADE_CHECKS_MAX];
        char refusal[1024]; /* a plan-level refusal */
};

/* Reads the Pi and decides. Returns 0, or a negative errno with P->refusal saying why (P must be
 * freed either way). */
int upgrade_plan_make(const struct upgrade_options *o, struct upgrade_plan *p);

/* The checks before anything changes (modules, open-iscsi, kernel file and config, mkinitramfs,
 * free space, writable folders, symlinks, TFTP). */
void upgrade_preflight(struct upgrade_plan *p);

/* True when the plan was made and every check passed. */
bool upgrade_plan_ok(const struct upgrade_plan *p);

void upgrade_plan_free(struct upgrade_plan *p);

/* The journal and messages name the switch's config file: config.txt, or the included file that
 * holds the deciding initramfs line, or tryboot.txt for a trial. */
const char *upgrade_plan_edited(const struct upgrade_plan *p);
