/* Inside the upgrade runner (upgrade.c): the state of one run and the helpers its steps share.
 * The steps live by concern: the backup (upgrade_backup.c), the build and the check of the new
 * initramfs (upgrade_build.c), the switch, TFTP and the record (upgrade.c). */
#pragma once

#include "sha256.h"
#include "txn.h"
#include "upgrade.h"
#include "util.h"

struct run {
        const struct upgrade_options *o;
        struct upgrade_plan *p;
        const struct report *rep;
        unsigned gen;
        struct txn txn;
        char new_sha[SHA256_HEX_SIZE];
        char edited_sha[SHA256_HEX_SIZE]; /* of the config file TFTP must serve */
        char failure[1200];
        char gen_s[32], step_s[48], kern_s[160];
        const char *fields[4];
};

/* Fills U->failure (one line) and returns -1. */
int upgrade_step_fail(struct run *u, const char *fmt, ...) _printf_(2, 3);
/* Control characters to spaces: a journal field and a record value stay one line. */
void upgrade_one_line(char *s);
/* Writes the transaction journal with STEP before the step changes anything. */
int upgrade_journal(struct run *u, const char *step);
/* The config file the switch edits and TFTP must serve: config.txt unless the plan says. */
const char *upgrade_edited_name(const struct run *u);

/* backup (upgrade_backup.c): -EBUSY when it failed before it changed anything. */
int upgrade_step_backup(struct run *u);
void upgrade_describe_backup(const struct run *u, char *buf, size_t size);

/* build and check (upgrade_build.c) */
int upgrade_step_build(struct run *u);
void upgrade_describe_build(const struct run *u, char *buf, size_t size);
int upgrade_step_check(struct run *u);
void upgrade_describe_check(const struct run *u, char *buf, size_t size);
