/* Boot confirmation: after a guarded upgrade, the first boot of the new kernel is on trial.
 * Running the pending kernel with a healthy root for confirm_after marks its generation good
 * (and prunes old ones); booting another kernel marks it bad with the reason.
 *
 * A trial_boot=tryboot generation (its new boot lives in tryboot.txt) is judged by the boot mode
 * the firmware reports in /proc/device-tree/chosen/bootloader/tryboot: 1 and confirmed ->
 * tryboot.txt is promoted to config.txt and removed, then marked good; 0 -> marked bad and
 * tryboot.txt removed (the trial fell back to config.txt); no such property -> marked
 * unconfirmed with a warning, nothing changed (the firmware cannot tell which file it read). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "health.h"
#include "log.h"

struct boot_confirm {
        const char *root;
        const struct netroot_config *cfg;
        const struct logger *log;
        sd_event *event;
        sd_event_source *timer;
        void (*changed)(void *userdata); /* a decision was made */
        void *userdata;

        bool pending; /* a generation waits for confirmation */
        unsigned gen;
        bool trial;             /* a tryboot trial: promote tryboot.txt when confirmed */
        char kernel[128];       /* the pending kernel */
        char running[128];      /* uname -r of this boot */
        char outcome[256];      /* what was decided, for the status ("" while undecided) */
        uint64_t ok_since_usec; /* CLOCK_MONOTONIC since when health is OK, 0 when not */
};

/* Rolls back an interrupted upgrade transaction, then reads what is pending and rejects it at
 * once when another kernel is running. Problems are logged, never fatal. */
void boot_confirm_start(struct boot_confirm *c);

/* Follows the health: the trial clock runs only while the state is OK. */
void boot_confirm_health(struct boot_confirm *c, enum health_state state);

void boot_confirm_stop(struct boot_confirm *c);
