/* One error type for the modules that do several things in a row (the upgrade engine, the
 * generation store, the journal): a negative errno for the program and one message for the
 * admin that names the file and line or the step concerned. Replaces why/err buffer pairs. */
#pragma once

#include <stddef.h>

#define ERROR_MSG_MAX 1536

struct error {
        int code; /* negative errno, 0 when nothing failed */
        char msg[ERROR_MSG_MAX];
};

/* Sets ERR (may be NULL) to CODE and the formatted message; returns CODE, so that
 * `return error_set(err, -EINVAL, "…")` reads as it does. */
int error_set(struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "PREFIX: " in front of the message already in ERR. */
void error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void error_clear(struct error *err);

/* The message, or strerror(-code) when none was set. */
const char *error_text(const struct error *err);
