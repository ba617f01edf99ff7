#include "strbuf.h"
#include "util.h"

#include <stdarg.h>

void sb_free(struct strbuf *sb)
{
        free(sb->data);
        *sb = (struct strbuf){0};
}

void sb_reset(struct strbuf *sb)
{
        sb->len = 0;
        if (sb->data)
                sb->data[0] = '\0';
        sb->oom = false;
}

static bool sb_reserve(struct strbuf *sb, size_t extra)
{
        size_t want, cap;
        char *grown;

        if (sb->oom)
                return false;
        want = sb->len + extra + 1;
        if (want <= sb->cap)
                return true;
        cap = sb->cap ? sb->cap : 256;
        while (cap < want)
                cap *= 2;
        grown = realloc(sb->data, cap);
        if (!grown) {
                sb->oom = true;
                return false;
        }
        sb->data = grown;
        sb->cap = cap;
        return true;
}

void sb_append(struct strbuf *sb, const char *s, size_t n)
{
        if (!sb_reserve(sb, n))
                return;
        memcpy(sb->data + sb->len, s, n);
        sb->len += n;
        sb->data[sb->len] = '\0';
}

void sb_puts(struct strbuf *sb, const char *s)
{
        sb_append(sb, s, strlen(s));
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0 || !sb_reserve(sb, (size_t)n))
                return;
        va_start(ap, fmt);
        vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        sb->len += (size_t)n;
}

const char *sb_str(const struct strbuf *sb)
{
        return sb->data ? sb->data : "";
}
