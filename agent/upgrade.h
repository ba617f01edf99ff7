/* The guarded kernel upgrade: one transaction that builds a new initramfs next to the old one,
 * checks it, switches this Pi's boot to it (the deciding line in config.txt or in the file it
 * includes, atomically), proves over TFTP that the server serves what was written, and records
 * the result as a pending generation that the boot confirmation decides after the reboot. Any
 * failure puts the old boot back; a crash leaves a journal the next run rolls back.
 *
 * Invariant at every instant: the config files name an initramfs that exists and passes the
 * initrd check, and the shared firmware set is byte for byte one complete set (the upgrade only
 * backs it up; it never writes it).
 *
 * The run is a table of steps (backup, build, check, switch, tftp, record) after the plan and the
 * preflight (upgrade_plan.h), each reported through report.h and journalled (txn.h) before it
 * changes anything. Test builds (testhooks.h) honour:
 *   NETROOT_FAULT_STEP=NAME        SIGKILL this process right after step NAME
 *   NETROOT_FAULT_FAIL_STEP=NAME   step NAME fails as it returns (the rollback follows)
 *   NETROOT_FAULT_TRUNCATE=1       cut the built initramfs in half after the build step
 *   NETROOT_TEST_INITRD_FROM=FILE  the build step copies FILE instead of running mkinitramfs */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "report.h"
#include "upgrade_plan.h"

/* netrootctl's exit status for each outcome. */
enum upgrade_outcome {
        UPGRADE_DONE = 0,            /* done, or a dry run that would be */
        UPGRADE_REFUSED = 1,         /* plan or preflight said no: nothing was changed */
        UPGRADE_USAGE = 2,           /* bad options or configuration */
        UPGRADE_ROLLED_BACK = 3,     /* a step failed; the old boot is back */
        UPGRADE_ROLLBACK_FAILED = 4, /* a step failed and so did the rollback: journal kept */
};

struct upgrade_result {
        enum upgrade_outcome outcome;
        unsigned gen;         /* the generation made (0: none) */
        char failed_step[32]; /* "" unless a step failed */
        char reason[1200];    /* the refusal, or the failed step's reason */
        char rollback[1200];  /* what the rollback restored, or why it failed */
        bool recovered;       /* an interrupted run's journal was rolled back first */
        char recovered_note[1200];
};

/* Takes the boot lock (unless o->have_boot_lock), rolls back an interrupted run's journal, then
 * plans and runs. Returns 0 when done (or a dry run passed), else a negative errno; R says the
 * outcome and why either way. */
int upgrade_run(const struct upgrade_options *o, const struct report *rep,
                struct upgrade_result *r);

/* For the unit tests: the step names in order ("plan", "preflight", "backup", …). */
unsigned upgrade_step_count(void);
const char *upgrade_step_name(unsigned idx);
