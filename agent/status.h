/* The daemon's status as JSON: the contract between netrootd (writes <run_dir>/status.json)
 * and netrootctl status (reads it). */
#pragma once

#include <stdint.h>

#include "strbuf.h"

struct netrootd;

/* Renders everything but the "updated" timestamp, so a caller can tell a real change. */
void status_render_body(const struct netrootd *d, struct strbuf *out);

/* Writes BODY plus "updated": UPDATED atomically to PATH. */
int status_write(const char *path, const struct strbuf *body, uint64_t updated);

/* The one-line summary for sd_notify STATUS= and logs. */
void status_summary(const struct netrootd *d, char *buf, size_t size);
