#include "log.h"
#include "journal_entry.h"
#include "log_sink.h"
#include "util.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#define MAX_EVENT_FIELDS 16

int log_target_from_string(const char *s, enum log_target *out)
{
        if (streq(s, "auto"))
                *out = LOG_TARGET_AUTO;
        else if (streq(s, "journal"))
                *out = LOG_TARGET_JOURNAL;
        else if (streq(s, "stderr"))
                *out = LOG_TARGET_STDERR;
        else
                return -EINVAL;
        return 0;
}

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected stderr to; if stderr is
 * still that stream we are a service and native journal messages keep their fields. */
static bool stderr_is_journal(void)
{
        const char *env = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void logger_init(struct logger *log, const char *ident, enum log_target target)
{
        memset(log, 0, sizeof(*log));
        snprintf(log->ident, sizeof(log->ident), "%s", ident);
        log->max_priority = LOG_INFO;
        if (target == LOG_TARGET_JOURNAL)
                log->journal = true;
        else if (target == LOG_TARGET_AUTO)
                log->journal = stderr_is_journal();
}

static const char *priority_label(int priority)
{
        static const char *const labels[] = {"emerg",   "alert",  "crit", "error",
                                             "warning", "notice", "info", "debug"};
        return labels[priority & 7];
}

static void log_stderr(const struct logger *log, int priority, const char *const *fields,
                       const char *message)
{
        char line[2048];
        size_t n;

        n = (size_t)snprintf(line, sizeof(line), "%s: %s%s%s", log->ident,
                             priority <= LOG_WARNING ? priority_label(priority) : "",
                             priority <= LOG_WARNING ? ": " : "", message);
        for (size_t i = 0; fields && fields[i] && n < sizeof(line); i++)
                n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i == 0 ? " [" : " ",
                                      fields[i]);
        if (fields && fields[0] && n < sizeof(line))
                n += (size_t)snprintf(line + n, sizeof(line) - n, "]");
        if (n >= sizeof(line) - 1)
                n = sizeof(line) - 2;
        if (log->sink) {
                line[n++] = '\n';
                log_sink_write(log->sink, line, n);
                return;
        }
        fprintf(stderr, "%.*s\n", (int)n, line);
}

/* The same entry as sd_journal_sendv() would send, built here for the sink. */
static void log_journal_sink(const struct logger *log, int priority, const char *msgid,
                             const char *const *fields, const char *message)
{
        struct strbuf entry = {0};
        _cleanup_free_ char *msg = NULL;
        char prio[16], ident[64], id[64];

        snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
        snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log->ident);
        if (asprintf(&msg, "MESSAGE=%s", message) < 0)
                return;
        (void)journal_entry_add(&entry, msg);
        (void)journal_entry_add(&entry, prio);
        (void)journal_entry_add(&entry, ident);
        if (msgid) {
                snprintf(id, sizeof(id), "MESSAGE_ID=%s", msgid);
                (void)journal_entry_add(&entry, id);
        }
        for (size_t i = 0; fields && fields[i] && i < MAX_EVENT_FIELDS; i++)
                (void)journal_entry_add(&entry, fields[i]);
        if (!entry.oom)
                log_sink_write(log->sink, entry.data, entry.len);
        sb_free(&entry);
}

static void log_journal(const struct logger *log, int priority, const char *msgid,
                        const char *const *fields, const char *message)
{
        struct iovec iov[MAX_EVENT_FIELDS + 4];
        char prio[16], ident[64], *msg = NULL, *id = NULL;
        size_t n = 0;

        if (log->sink) {
                log_journal_sink(log, priority, msgid, fields, message);
                return;
        }
        if (asprintf(&msg, "MESSAGE=%s", message) < 0)
                return;
        snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
        snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log->ident);
        iov[n++] = (struct iovec){msg, strlen(msg)};
        iov[n++] = (struct iovec){prio, strlen(prio)};
        iov[n++] = (struct iovec){ident, strlen(ident)};
        if (msgid && asprintf(&id, "MESSAGE_ID=%s", msgid) >= 0)
                iov[n++] = (struct iovec){id, strlen(id)};
        for (size_t i = 0; fields && fields[i] && i < MAX_EVENT_FIELDS; i++)
                iov[n++] = (struct iovec){(void *)fields[i], strlen(fields[i])};
        sd_journal_sendv(iov, (int)n);
        free(msg);
        free(id);
}

static void log_emit(const struct logger *log, int priority, const char *msgid,
                     const char *const *fields, const char *fmt, va_list ap)
{
        char message[1024];

        if (priority > log->max_priority)
                return;
        vsnprintf(message, sizeof(message), fmt, ap);
        if (log->journal)
                log_journal(log, priority, msgid, fields, message);
        else
                log_stderr(log, priority, fields, message);
}

void log_msg(const struct logger *log, int priority, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_emit(log, priority, NULL, NULL, fmt, ap);
        va_end(ap);
}

void log_event(const struct logger *log, int priority, const char *msgid, const char *const *fields,
               const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_emit(log, priority, msgid, fields, fmt, ap);
        va_end(ap);
}

/* One conversion of FMT (at *POS, past its '%') with its argument from AP, appended to SB.
 * Returns false for a conversion outside the documented set: AP cannot be advanced past it. */
static bool put_conversion(struct strbuf *sb, const char *fmt, size_t *pos, va_list *ap)
{
        size_t start = *pos - 1, i = *pos;
        char spec[32], len[3] = "";
        int ln = 0;

        i += strspn(fmt + i, "-+ #0");
        i += strspn(fmt + i, "0123456789.");
        while (strchr("hlzjt", fmt[i]) && fmt[i] && ln < 2)
                len[ln++] = fmt[i++];
        if (!fmt[i] || i - start + 1 >= sizeof(spec))
                return false;
        snprintf(spec, sizeof(spec), "%.*s", (int)(i - start + 1), fmt + start);
        *pos = i + 1;
        switch (fmt[i]) {
        case 's':
                sb_printf(sb, spec, va_arg(*ap, const char *));
                return ln == 0;
        case 'c':
                sb_printf(sb, spec, va_arg(*ap, int));
                return ln == 0;
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
                /* size_t and ptrdiff_t are long-sized on Linux (32 and 64 bit); intmax_t is long
                 * long. */
                if (len[0] == 'j' || (len[0] == 'l' && len[1] == 'l'))
                        sb_printf(sb, spec, va_arg(*ap, long long));
                else if (len[0] == 'z' || len[0] == 't' || len[0] == 'l')
                        sb_printf(sb, spec, va_arg(*ap, long));
                else
                        sb_printf(sb, spec, va_arg(*ap, int));
                return true;
        default:
                return false;
        }
}

/* Formats one "KEY=format" item and its arguments into SB. */
static bool put_item(struct strbuf *sb, const char *fmt, va_list *ap)
{
        for (size_t pos = 0; fmt[pos];) {
                size_t lit = strcspn(fmt + pos, "%");

                sb_printf(sb, "%.*s", (int)lit, fmt + pos);
                pos += lit;
                if (!fmt[pos])
                        break;
                if (fmt[pos + 1] == '%') {
                        sb_puts(sb, "%");
                        pos += 2;
                        continue;
                }
                pos++;
                if (!put_conversion(sb, fmt, &pos, ap))
                        return false;
        }
        return true;
}

void log_eventf(const struct logger *log, int priority, const char *msgid, ...)
{
        struct strbuf items[MAX_EVENT_FIELDS] = {{0}}, message = {0};
        const char *fields[MAX_EVENT_FIELDS];
        size_t n = 0;
        const char *fmt;
        va_list ap;

        if (priority > log->max_priority)
                return;
        va_start(ap, msgid);
        while ((fmt = va_arg(ap, const char *))) {
                bool is_msg = strncmp(fmt, "MESSAGE=", 8) == 0;
                struct strbuf *sb = is_msg ? &message : n + 1 < MAX_EVENT_FIELDS ? &items[n] : NULL;
                struct strbuf skip = {0};
                bool ok = put_item(sb ? sb : &skip, is_msg ? fmt + 8 : fmt, &ap);

                sb_free(&skip);
                if (sb && !is_msg)
                        fields[n++] = sb_str(sb);
                if (!ok)
                        break;
        }
        va_end(ap);
        fields[n] = NULL;
        log_event(log, priority, msgid, fields, "%s", sb_str(&message));
        for (size_t i = 0; i < n; i++)
                sb_free(&items[i]);
        sb_free(&message);
}
