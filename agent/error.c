#include "error.h"

#include "util.h"

#include <stdarg.h>

int error_set(struct error *err, int code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return code;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        return code;
}

void error_prefix(struct error *err, const char *fmt, ...)
{
        char prefix[512], old[ERROR_MSG_MAX];
        va_list ap;

        if (!err)
                return;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        snprintf(old, sizeof(old), "%s", error_text(err));
        snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}

void error_clear(struct error *err)
{
        if (err) {
                err->code = 0;
                err->msg[0] = '\0';
        }
}

const char *error_text(const struct error *err)
{
        if (!err)
                return "";
        if (err->msg[0])
                return err->msg;
        return err->code ? strerror(-err->code) : "";
}
