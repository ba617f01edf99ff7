/* The Pi's identity record, <boot_dir>/.netroot/identity: who boots this folder (serial, model,
 * hostname) and how long it gives a boot to be confirmed, written by the Pi each time netrootctl
 * upgrade, hook and confirm run, so the NAS (netrootctl fleet) knows the Pi behind each folder.
 * KEY=VALUE (kvfile.h), replaced atomically beneath the boot folder. */
#pragma once

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "piinfo.h"

#define IDENTITY_FILE "identity" /* in GEN_STORE */

struct identity {
        char serial[PIINFO_SERIAL_MAX];
        char model[PIINFO_MODEL_MAX];
        char hostname[64];
        char updated[32];         /* UTC, ISO 8601, the Pi's clock: informational */
        char command[16];         /* upgrade, hook, confirm */
        char version[32];         /* the agent's */
        unsigned confirm_timeout; /* seconds: [boot] confirm_timeout */
};

/* Reads the Pi's identity (ROOT applied; MODEL/SERIAL override as --model/--serial do) and writes
 * it into CFG's boot folder. COMMAND names the writer. Returns 0 or a negative errno with ERR. */
int identity_record(const char *root, const struct netroot_config *cfg, const char *model,
                    const char *serial, const char *command, struct error *err);

/* Reads BOOT_DIR/.netroot/identity; -ENOENT when there is none. */
int identity_load(const char *boot_dir, struct identity *id, struct error *err);
