#include "metrics.h"
#include "fileio.h"
#include "util.h"

#include <pthread.h>
#include <unistd.h>
#include <time.h>

struct metrics_writer {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_cond_t done;
        char *path;
        char *pending; /* owned; NULL when nothing to write */
        size_t pending_len;
        bool quit;
        bool finished;
        bool released; /* nobody waits for the thread: it frees everything when it ends */
        uint64_t writes;
        int last_error;
};

static void gauge(struct strbuf *sb, const char *name, const char *help, double value)
{
        sb_printf(sb, "# HELP %s %s\n# TYPE %s gauge\n%s %.9g\n", name, help, name, name, value);
}

static void counter(struct strbuf *sb, const char *name, const char *help, uint64_t value)
{
        sb_printf(sb, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                  (unsigned long long)value);
}

void metrics_render(const struct metrics_sample *m, struct strbuf *sb)
{
        const struct health *h = m->health;
        static const enum health_state states[] = {HEALTH_UNKNOWN, HEALTH_OK, HEALTH_DEGRADED,
                                                   HEALTH_FAILED};

        sb_reset(sb);
        sb_puts(sb, "# HELP netroot_state Health of the iSCSI root (1 for the current state).\n"
                    "# TYPE netroot_state gauge\n");
        for (size_t i = 0; i < ARRAY_SIZE(states); i++)
                sb_printf(sb, "netroot_state{state=\"%s\"} %d\n", health_state_to_string(states[i]),
                          h->published == states[i]);
        gauge(sb, "netroot_probe_rtt_seconds", "Round-trip time of the last good portal probe.",
              (double)h->last_rtt_usec / 1e6);
        gauge(sb, "netroot_probe_up", "1 when the last portal probe succeeded.",
              h->last_probe_ok ? 1 : 0);
        counter(sb, "netroot_probes_total", "Portal probes run.", h->probes_total);
        counter(sb, "netroot_probe_failures_total", "Portal probes that failed.",
                h->probe_failures_total);
        counter(sb, "netroot_state_transitions_total", "Changes of the published state.",
                h->transitions);
        gauge(sb, "netroot_last_change_timestamp_seconds",
              "Unix time of the last change of the published state.",
              (double)h->changed_usec / 1e6);
        if (m->session_logged_in >= 0)
                gauge(sb, "netroot_session_logged_in",
                      "1 when the root's iSCSI session is LOGGED_IN.", m->session_logged_in);
        if (m->link_up >= 0)
                gauge(sb, "netroot_link_up", "1 when the link carrying the session has carrier.",
                      m->link_up);
        gauge(sb, "netroot_start_timestamp_seconds", "Unix time netrootd started.",
              (double)m->started_usec / 1e6);
        counter(sb, "netroot_log_messages_dropped_total",
                "Log messages dropped because the journal (or stderr's reader) was not reading.",
                m->log_dropped);
}

static void writer_free(struct metrics_writer *w)
{
        free(w->pending);
        free(w->path);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->done);
        free(w);
}

static void *writer_main(void *data)
{
        struct metrics_writer *w = data;
        bool released;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                char *text, *path;
                size_t len;
                int r;

                while (!w->pending && !w->quit)
                        pthread_cond_wait(&w->wake, &w->lock);
                if (w->quit)
                        break;
                /* A reload may change the path while this write hangs: write to a copy. */
                path = strdup(w->path);
                text = TAKE_PTR(w->pending);
                len = w->pending_len;
                pthread_mutex_unlock(&w->lock);
                r = path ? file_write_atomic(path, text, len, 0644) : -ENOMEM;
                free(text);
                free(path);
                pthread_mutex_lock(&w->lock);
                w->writes++;
                w->last_error = r < 0 ? r : 0;
        }
        w->finished = true;
        released = w->released;
        pthread_cond_signal(&w->done);
        pthread_mutex_unlock(&w->lock);
        if (released)
                writer_free(w);
        return NULL;
}

/* netrootd locks all its memory, and the default thread stack (8 MiB, RLIMIT_STACK) would be
 * locked whole. writer_main's deepest path is file_write_atomic: a NAME_MAX buffer and a few small
 * frames, then open/write/fsync/rename/malloc in libc — a few KiB. 64 KiB leaves more than 10x
 * headroom (no lazy binding: the programs link with -z now); PTHREAD_STACK_MIN wins where it is
 * larger (128 KiB on arm64). */
#define WRITER_STACK_SIZE (64 * 1024)

static int start_writer_thread(struct metrics_writer *w)
{
        long min = sysconf(_SC_THREAD_STACK_MIN);
        size_t size = min > WRITER_STACK_SIZE ? (size_t)min : WRITER_STACK_SIZE;
        pthread_attr_t attr;
        int r;

        r = pthread_attr_init(&attr);
        if (r != 0)
                return r;
        r = pthread_attr_setstacksize(&attr, size);
        if (r == 0)
                r = pthread_create(&w->thread, &attr, writer_main, w);
        pthread_attr_destroy(&attr);
        return r;
}

int metrics_writer_start(const char *path, struct metrics_writer **out)
{
        struct metrics_writer *w = calloc(1, sizeof(*w));
        int r;

        if (!w || !(w->path = strdup(path))) {
                free(w);
                return -ENOMEM;
        }
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        pthread_cond_init(&w->done, NULL);
        r = start_writer_thread(w);
        if (r != 0) {
                free(w->path);
                free(w);
                return -r;
        }
        *out = w;
        return 0;
}

void metrics_writer_submit(struct metrics_writer *w, const char *text, size_t len)
{
        char *copy = malloc(len + 1);

        if (!copy)
                return;
        memcpy(copy, text, len);
        copy[len] = '\0';
        pthread_mutex_lock(&w->lock);
        free(w->pending);
        w->pending = copy;
        w->pending_len = len;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

int metrics_writer_set_path(struct metrics_writer *w, const char *path)
{
        char *copy = strdup(path);

        if (!copy)
                return -ENOMEM;
        pthread_mutex_lock(&w->lock);
        if (!streq(w->path, path))
                w->last_error = 0; /* a new place: its own errors */
        free(w->path);
        w->path = copy;
        pthread_mutex_unlock(&w->lock);
        return 0;
}

void metrics_writer_release(struct metrics_writer *w)
{
        bool finished;

        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->quit = true;
        w->released = true;
        finished = w->finished;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        if (finished) {
                pthread_join(w->thread, NULL);
                writer_free(w);
                return;
        }
        /* It ends on its own (at once, or when a hung write returns) and frees W then. */
        pthread_detach(w->thread);
}

void metrics_writer_stats(struct metrics_writer *w, uint64_t *writes, int *last_error)
{
        pthread_mutex_lock(&w->lock);
        *writes = w->writes;
        *last_error = w->last_error;
        pthread_mutex_unlock(&w->lock);
}

void metrics_writer_stop(struct metrics_writer *w)
{
        struct timespec deadline;
        bool finished;

        if (!w)
                return;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        pthread_mutex_lock(&w->lock);
        w->quit = true;
        pthread_cond_signal(&w->wake);
        while (!w->finished)
                if (pthread_cond_timedwait(&w->done, &w->lock, &deadline) != 0)
                        break;
        finished = w->finished;
        pthread_mutex_unlock(&w->lock);
        if (!finished)
                return; /* stuck on a dead file system: leave it, the process is ending */
        pthread_join(w->thread, NULL);
        writer_free(w);
}
