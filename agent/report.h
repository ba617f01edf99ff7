/* How the upgrade engine reports what it does: one small interface the terminal command
 * (ctl_upgrade.c) and the unit tests implement (RAUC's install progress is the model). The engine
 * never prints; the journal gets its events through the logger it is given. */
#pragma once

#include <stdbool.h>

struct upgrade_plan;
struct upgrade_result;

struct report_ops {
        /* The plan (or its refusal, in p->refusal). */
        void (*plan)(void *userdata, const struct upgrade_plan *p);
        /* The preflight checks and the verdict. */
        void (*preflight)(void *userdata, const struct upgrade_plan *p, bool dry_run);
        /* Step IDX (0-based) of TOTAL begins: NAME and what it does. */
        void (*step)(void *userdata, unsigned idx, unsigned total, const char *name,
                     const char *what);
        /* A line of progress inside a step ("mkinitramfs running, 20 s"). */
        void (*note)(void *userdata, const char *text);
        /* The end: done, refused, rolled back, or the rollback failed. */
        void (*result)(void *userdata, const struct upgrade_plan *p,
                       const struct upgrade_result *r);
};

struct report {
        const struct report_ops *ops;
        void *userdata;
};

/* Calls REP's note with the formatted text (REP or its note may be NULL). */
void report_notef(const struct report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
