/* A growable string for building JSON, metrics and status lines. Allocation failure is sticky
 * (sb->oom) so callers check once at the end instead of after every append. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
        char *data;
        size_t len;
        size_t cap;
        bool oom;
};

void sb_free(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
void sb_append(struct strbuf *sb, const char *s, size_t n);
void sb_puts(struct strbuf *sb, const char *s);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The NUL-terminated contents, "" when empty. */
const char *sb_str(const struct strbuf *sb);
