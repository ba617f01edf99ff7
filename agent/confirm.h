/* The boot confirmation (netrootctl confirm, run once per boot by netroot-confirm.service, the
 * way RAUC's mark-good service works): after a guarded upgrade the first boot of the new kernel
 * is on trial. Running the pending kernel with a healthy iSCSI root (netrootd's status.json says
 * OK) for [upgrade] confirm_after marks its generation good and prunes old ones. Booting another
 * kernel, or no healthy root within [boot] confirm_timeout of the boot, marks it bad and puts the
 * boot folder back to the generation saved before the upgrade; with [boot] on_bad =
 * rollback-and-reboot the Pi then reboots into it.
 *
 * A trial_boot=tryboot generation is judged by the boot mode the firmware reports in
 * /proc/device-tree/chosen/bootloader/tryboot: 1 and confirmed -> tryboot.txt is promoted to
 * config.txt; 0 -> bad (the trial fell back to config.txt); no such property -> unconfirmed,
 * nothing changed.
 *
 * netrootd never writes the boot folder: it only reports health. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "log.h"
#include "report.h"

enum confirm_outcome {
        CONFIRM_NOTHING,     /* nothing pending */
        CONFIRM_GOOD,        /* confirmed */
        CONFIRM_BAD,         /* rejected and rolled back */
        CONFIRM_BAD_FAILED,  /* rejected, and the rollback failed */
        CONFIRM_UNDECIDED,   /* not yet (no --wait): the root has not been healthy long enough */
        CONFIRM_TRIAL_WAIT,  /* a trial waits for its `reboot '0 tryboot'` */
        CONFIRM_UNCONFIRMED, /* a trial whose boot mode the firmware did not reveal */
};

struct confirm_options {
        const char *root;
        const struct netroot_config *cfg;
        bool wait;        /* wait for the decision (the service) */
        unsigned poll_ms; /* how often status.json is read while waiting (0: 1000) */
        bool may_reboot;  /* on_bad = rollback-and-reboot may run systemctl reboot */
        const struct logger *events;
        const struct report *rep; /* progress lines */
};

struct confirm_result {
        enum confirm_outcome outcome;
        unsigned gen;
        char kernel[128];
        char reason[800];
        bool rebooting;
};

/* Takes the boot lock, rolls back an interrupted upgrade, then decides. Returns 0 when it ran
 * (R says what was decided), a negative errno when it could not (R->reason says why). */
int confirm_run(const struct confirm_options *o, struct confirm_result *r);

const char *confirm_outcome_to_string(enum confirm_outcome o);
