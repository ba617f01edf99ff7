/* netrootctl rollback: a boot folder put back to a saved generation, also offline from the NAS
 * (--boot-dir) when the Pi cannot boot. Every copy the generation kept is checked against the
 * sha256 it had when saved before any file is touched; what the restored config files make the
 * firmware load is judged first (it must exist and pass the initrd check, unless forced); files
 * are restored with the config files last (config.txt very last), so the Pi boots the old or the
 * new set, never a mix. */
#pragma once

#include <stdbool.h>

#include "log.h"
#include "report.h"

struct rollback_options {
        const char *boot_dir;   /* resolved */
        const char *shared_dir; /* resolved, NULL/"": the shared firmware is not restored */
        const char *root;       /* the machine's --root (the lock, /etc of the initrd check) */
        const char *run_dir;    /* [agent] run_dir, where the boot lock is (NULL: /run/netroot) */
        unsigned to;            /* 0: the newest generation that is pending, unconfirmed or good */
        bool firmware;          /* also restore the shared firmware set from the backup */
        bool force;             /* restore even when the restored initramfs fails the check */
        bool dry_run;
        bool have_boot_lock; /* the caller holds it (the hooks) */
        const struct logger *events;
};

enum rollback_outcome {
        ROLLBACK_DONE = 0,
        ROLLBACK_REFUSED = 1, /* nothing was changed */
        ROLLBACK_USAGE = 2,   /* no such generation */
        ROLLBACK_PARTIAL = 4, /* files were restored, then a step failed (REASON says which) */
};

struct rollback_result {
        enum rollback_outcome outcome;
        unsigned target;
        char kernel[128]; /* the kernel the restored boot folder boots (the target's kernel_from) */
        char reason[1200];
};

/* Progress goes to REP's note ("config.txt restored"). Returns 0 when done (or a dry run would
 * be), else a negative errno with R saying why. */
int rollback_run(const struct rollback_options *o, const struct report *rep,
                 struct rollback_result *r);
