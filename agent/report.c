/* The report interface's one shared helper (report.h). */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>

void report_notef(const struct report *rep, const char *fmt, ...)
{
        char text[1024];
        va_list ap;

        if (!rep || !rep->ops || !rep->ops->note)
                return;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        rep->ops->note(rep->userdata, text);
}
