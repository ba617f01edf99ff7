/* Logging to the journal (with a MESSAGE_ID per event kind and structured fields) when running
 * under systemd, and to stderr otherwise. The choice is made once at start-up and lives in the
 * caller's struct logger: there is no global logging state. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "msgid.h"

struct log_sink;

enum log_target {
        LOG_TARGET_AUTO,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
};

struct logger {
        bool journal;
        int max_priority; /* LOG_DEBUG shows everything */
        char ident[32];
        /* NULL: blocking writes (netrootctl, a command that may wait). netrootd sets one, so that
         * logging never waits for a reader (log_sink.h). Owned by the caller. */
        struct log_sink *sink;
};

/* Parses "auto", "journal" or "stderr". */
int log_target_from_string(const char *s, enum log_target *out);

void logger_init(struct logger *log, const char *ident, enum log_target target);

/* A plain message, no MESSAGE_ID. */
void log_msg(const struct logger *log, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An event: MSGID is one of msgid.h; FIELDS is NULL or a NULL-terminated list of "KEY=value"
 * strings that are sent as journal fields and appended to the stderr line. */
void log_event(const struct logger *log, int priority, const char *msgid, const char *const *fields,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* An event with its fields inline, no field buffers at the call site:
 *   log_eventf(log, LOG_ERR, MSGID_X, "MESSAGE=upgrade to %s failed: %s", kver, why,
 *              "NETROOT_KERNEL=%s", kver, "NETROOT_GENERATION=%u", gen, NULL);
 * Each "KEY=format" is followed by the arguments of its conversions (d i u x o c s, with
 * h hh l ll z j t; flags, width and precision as numbers), and the list ends with NULL. The
 * MESSAGE= item is the message; the others are the event's journal fields (at most 15). An item
 * with a conversion outside that set is cut at it (and the rest of the list is dropped). */
void log_eventf(const struct logger *log, int priority, const char *msgid, ...);
