#include "log_sink.h"
#include "util.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Room for the largest entry log.c builds (a few fields of at most JOURNAL_VALUE_MAX) whatever
 * net.core.wmem_default is: the send buffer is the datagram size limit of a Unix socket. */
#define JOURNAL_SNDBUF (256 * 1024)

static void init(struct log_sink *s, enum log_sink_kind kind)
{
        memset(s, 0, sizeof(*s));
        s->kind = kind;
        s->fd = -1;
}

static int journal_connect(struct log_sink *s)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, size = JOURNAL_SNDBUF;

        if (s->own_fd && s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        s->own_fd = false;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
        /* Connected, so that a full queue on journald's side is EAGAIN for us (the kernel checks
         * the peer's queue) and a journald that went away is ECONNREFUSED, not silence. */
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        s->fd = fd;
        s->own_fd = true;
        return 0;
}

int log_sink_open_journal(struct log_sink *s, const char *path)
{
        init(s, LOG_SINK_DATAGRAM);
        if (strlen(path) >= sizeof(s->path))
                return -ENAMETOOLONG;
        memcpy(s->path, path, strlen(path) + 1);
        (void)journal_connect(s);
        return 0;
}

int log_sink_open_stderr(struct log_sink *s)
{
        struct stat st;
        int fd;

        init(s, LOG_SINK_FILE);
        s->fd = STDERR_FILENO;
        if (fstat(STDERR_FILENO, &st) < 0)
                return -errno;
        if (S_ISSOCK(st.st_mode)) {
                s->kind = LOG_SINK_SOCKET;
                return 0;
        }
        if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
                return 0;
        /* O_NONBLOCK on fd 2 itself would change the open file description we share with
         * whoever gave it to us (a shell's terminal). A new open of the same pipe or terminal
         * is a description of our own. This is the process's own fd table, never a path under
         * --root. */
        fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return 0; /* no /proc: stays a plain write */
        s->kind = LOG_SINK_NONBLOCK;
        s->fd = fd;
        s->own_fd = true;
        return 0;
}

/* Bytes taken, or a negative errno (-EAGAIN: the reader is not reading). */
static ssize_t send_some(struct log_sink *s, const char *data, size_t len)
{
        ssize_t n;

        if (s->fd < 0)
                return -ENOTCONN;
        if (s->kind == LOG_SINK_DATAGRAM || s->kind == LOG_SINK_SOCKET)
                n = send(s->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
                n = write(s->fd, data, len);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        return n;
}

static bool journal_gone(ssize_t r)
{
        return r == -ECONNREFUSED || r == -ENOTCONN || r == -ECONNRESET || r == -ENOENT;
}

/* Sends one record whole (datagram) or as far as it goes (stream); returns the bytes taken or
 * a negative errno. A journald that restarted gets one reconnect. */
static ssize_t send_record(struct log_sink *s, const char *data, size_t len)
{
        ssize_t n = send_some(s, data, len);

        if (n < 0 && s->kind == LOG_SINK_DATAGRAM && journal_gone(n) && journal_connect(s) >= 0)
                n = send_some(s, data, len);
        if (n == -EINTR)
                n = -EAGAIN;
        return n;
}

static void drop(struct log_sink *s)
{
        s->dropped++;
        s->dropped_unreported++;
}

static void pop(struct log_sink *s)
{
        struct log_sink_record *rec = &s->queue[s->head];

        s->queued_bytes -= rec->len;
        free(rec->data);
        *rec = (struct log_sink_record){0};
        s->head = (s->head + 1) % LOG_SINK_QUEUE_MAX;
        s->count--;
}

static void arm_retry(struct log_sink *s)
{
        int enabled = SD_EVENT_OFF;

        if (!s->retry)
                return;
        if (s->count == 0) {
                (void)sd_event_source_set_enabled(s->retry, SD_EVENT_OFF);
                return;
        }
        (void)sd_event_source_get_enabled(s->retry, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void)sd_event_source_set_time_relative(s->retry, LOG_SINK_RETRY_USEC);
        (void)sd_event_source_set_enabled(s->retry, SD_EVENT_ONESHOT);
}

static void report_drops(struct log_sink *s)
{
        uint64_t n = s->dropped_unreported;

        if (s->count || !n || !s->drained)
                return;
        s->dropped_unreported = 0;
        s->drained(s->userdata, n);
}

unsigned log_sink_flush(struct log_sink *s)
{
        unsigned before = s->count;

        while (s->count) {
                struct log_sink_record *rec = &s->queue[s->head];
                ssize_t n = send_record(s, rec->data + rec->done, rec->len - rec->done);

                if (n == -EAGAIN || (n < 0 && s->kind == LOG_SINK_DATAGRAM && journal_gone(n)))
                        break; /* not reading, or not there: later */
                if (n < 0) {
                        /* EMSGSIZE, EPIPE (the reader closed): this record will never go. */
                        drop(s);
                        pop(s);
                        continue;
                }
                rec->done += (size_t)n;
                if (rec->done < rec->len)
                        break; /* a stream took part of it: the rest when there is room */
                s->sent++;
                pop(s);
        }
        arm_retry(s);
        /* Said once the reader took everything again: a word that could not go out either would
         * only add to the count. */
        if (before && !s->count)
                report_drops(s);
        return s->count;
}

static void enqueue(struct log_sink *s, const char *data, size_t len, size_t done)
{
        struct log_sink_record *rec;
        char *copy;

        /* A line a stream already took part of must be finished, or the next line would be
         * glued to its first half; it only happens with an empty queue, so there is room. */
        if (done == 0 &&
            (s->count == LOG_SINK_QUEUE_MAX || s->queued_bytes + len > LOG_SINK_QUEUE_BYTES)) {
                drop(s);
                return;
        }
        copy = malloc(len);
        if (!copy) {
                drop(s);
                return;
        }
        memcpy(copy, data, len);
        rec = &s->queue[(s->head + s->count) % LOG_SINK_QUEUE_MAX];
        *rec = (struct log_sink_record){.data = copy, .len = len, .done = done};
        s->count++;
        s->queued_bytes += len;
        arm_retry(s);
}

void log_sink_write(struct log_sink *s, const void *data, size_t len)
{
        ssize_t n = 0;

        if (len == 0)
                return;
        /* Records keep their order: nothing overtakes what is queued (DRAINED may have queued
         * its word while flushing). */
        log_sink_flush(s);
        if (s->count == 0) {
                n = send_record(s, data, len);
                if (n == (ssize_t)len) {
                        s->sent++;
                        return;
                }
                if (n < 0 && n != -EAGAIN && !(s->kind == LOG_SINK_DATAGRAM && journal_gone(n))) {
                        drop(s);
                        return;
                }
                if (n < 0)
                        n = 0;
        }
        enqueue(s, data, len, (size_t)n);
}

static int on_retry(sd_event_source *src _unused_, uint64_t usec _unused_, void *userdata)
{
        log_sink_flush(userdata);
        return 0;
}

int log_sink_attach_event(struct log_sink *s, sd_event *e)
{
        int r;

        if (s->retry)
                return 0;
        r = sd_event_add_time_relative(e, &s->retry, CLOCK_MONOTONIC, LOG_SINK_RETRY_USEC,
                                       LOG_SINK_RETRY_USEC / 5, on_retry, s);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(s->retry, SD_EVENT_OFF);
        arm_retry(s);
        return 0;
}

void log_sink_close(struct log_sink *s)
{
        s->drained = NULL;
        log_sink_flush(s);
        while (s->count) {
                drop(s);
                pop(s);
        }
        s->retry = sd_event_source_disable_unref(s->retry);
        if (s->own_fd && s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        s->own_fd = false;
}
