/* Reading the daemon's <run_dir>/status.json: the one reader of the schema status.c writes, for
 * netrootctl status, doctor and the boot confirmation. Keys: state, reasons [{code, text}],
 * session{…}, link{…}, probe{…}, since, transitions, led{…}, ipv6{…}, memory_locked, version,
 * pid, updated (unix seconds). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

#define STATUS_FILE     "status.json"
#define STATUS_FILE_MAX (1024 * 1024)

struct status_doc {
        struct json_value *json; /* the whole document, for what the fields below do not cover */
        char state[16];          /* "OK", "DEGRADED", "FAILED", "STARTING" */
        long pid;
        bool running; /* the pid that wrote it is alive */
        double updated;
        double since;
};

/* Loads <ROOT><RUN_DIR>/status.json. -ENOENT when there is none, -EBADMSG (ERR says where) when
 * it does not parse. */
int status_doc_load(const char *root, const char *run_dir, struct status_doc *d, char *err,
                    size_t err_size);

void status_doc_free(struct status_doc *d);

/* Reason I of the document: its text (and code, "" for a writer that gives none). NULL past
 * the end. */
const char *status_doc_reason(const struct status_doc *d, size_t i, const char **code);
