/* The non-blocking log sink (log_sink.c) against real Unix sockets whose reader stops reading:
 * a datagram socket standing in for journald's native socket, and a stream socket pair standing
 * in for journald's stream (StandardError=journal). Nothing here may block. */
#include "testutil.h"

#include "log_sink.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#define N_RECORDS 2000

struct drained {
        unsigned calls;
        uint64_t dropped;
};

static void on_drained(void *userdata, uint64_t dropped)
{
        struct drained *d = userdata;

        d->calls++;
        d->dropped += dropped;
}

static int bind_dgram(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        strcpy(sa.sun_path, path);
        unlink(path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* Reads what is waiting; checks the records come in the order they were written. */
static unsigned read_records(int fd, int *last)
{
        char buf[256];
        unsigned n = 0;
        ssize_t len;

        while ((len = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
                int seq;

                buf[len] = '\0';
                if (sscanf(buf, "MESSAGE=record %d\n", &seq) == 1) {
                        assert_true(seq > *last);
                        *last = seq;
                }
                n++;
        }
        return n;
}

static void test_datagram_reader_stopped(void **state)
{
        char *dir = test_tmpdir(), path[108];
        struct log_sink s;
        struct drained dr = {0};
        unsigned got = 0, rounds = 0;
        int reader, last = -1;

        (void)state;
        snprintf(path, sizeof(path), "%s/journal.sock", dir);
        reader = bind_dgram(path);
        assert_int_equal(log_sink_open_journal(&s, path), 0);
        s.drained = on_drained;
        s.userdata = &dr;
        for (int i = 0; i < N_RECORDS; i++) {
                char rec[64];
                int n = snprintf(rec, sizeof(rec), "MESSAGE=record %d\n", i);

                log_sink_write(&s, rec, (size_t)n);
        }
        /* The reader never read: the kernel took what it queues, the sink holds its maximum and
         * the rest is dropped, every record accounted for. */
        assert_int_equal(s.count, LOG_SINK_QUEUE_MAX);
        assert_true(s.dropped > 0);
        assert_int_equal(s.sent + s.count + s.dropped, N_RECORDS);
        assert_int_equal(dr.calls, 0);
        /* The reader reads again: the queue drains in order, then the count is handed over. */
        while (s.count && rounds++ < 1000) {
                got += read_records(reader, &last);
                log_sink_flush(&s);
        }
        got += read_records(reader, &last);
        assert_int_equal(s.count, 0);
        assert_int_equal(got, s.sent);
        assert_int_equal(dr.calls, 1);
        assert_int_equal(dr.dropped, s.dropped);

        /* journald restarted: a new socket at the same path; the sink reconnects. */
        close(reader);
        reader = bind_dgram(path);
        log_sink_write(&s, "MESSAGE=record 99999\n", 21);
        assert_int_equal(read_records(reader, &last), 1);
        assert_int_equal(last, 99999);

        log_sink_close(&s);
        close(reader);
        test_rmtree(dir);
        free(dir);
}

static void test_no_journal_yet(void **state)
{
        char *dir = test_tmpdir(), path[108];
        struct log_sink s;
        int reader, last = -1;

        (void)state;
        snprintf(path, sizeof(path), "%s/absent.sock", dir);
        assert_int_equal(log_sink_open_journal(&s, path), 0);
        log_sink_write(&s, "MESSAGE=record 1\n", 17);
        assert_int_equal(s.count, 1);
        reader = bind_dgram(path);
        assert_int_equal(log_sink_flush(&s), 0);
        assert_int_equal(read_records(reader, &last), 1);
        log_sink_close(&s);
        close(reader);
        test_rmtree(dir);
        free(dir);
}

static void test_stream_lines_stay_whole(void **state)
{
        struct log_sink s;
        int sv[2], saved, one = 1, last = -1;
        char buf[65536];
        size_t have = 0;
        unsigned lines = 0, rounds = 0;

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)), 0);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_int_equal(dup2(sv[0], STDERR_FILENO), STDERR_FILENO);
        assert_int_equal(log_sink_open_stderr(&s), 0);
        assert_int_equal(s.kind, LOG_SINK_SOCKET);
        for (int i = 0; i < 400; i++) {
                char line[128];
                int n = snprintf(line, sizeof(line), "netrootd: line %04d %s\n", i,
                                 "padding padding padding padding padding padding padding");

                log_sink_write(&s, line, (size_t)n);
        }
        assert_true(s.dropped > 0);
        /* Read everything back: every line whole and in order, none glued to another. */
        for (;;) {
                ssize_t n = recv(sv[1], buf + have, sizeof(buf) - have - 1, MSG_DONTWAIT);

                if (n > 0)
                        have += (size_t)n;
                if (log_sink_flush(&s) == 0 && n <= 0)
                        break;
                assert_true(rounds++ < 100000);
        }
        buf[have] = '\0';
        for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
                int seq;

                *nl = '\0';
                assert_int_equal(sscanf(p, "netrootd: line %d padding", &seq), 1);
                assert_true(seq > last);
                assert_int_equal(strlen(p), strlen("netrootd: line 0000 ") + 55);
                last = seq;
                lines++;
        }
        assert_int_equal(lines + s.dropped, 400);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        log_sink_close(&s);
        close(sv[0]);
        close(sv[1]);
}

static void test_pipe_gets_own_description(void **state)
{
        struct log_sink s;
        int p[2], saved;

        (void)state;
        assert_int_equal(pipe(p), 0);
        saved = dup(STDERR_FILENO);
        assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
        assert_int_equal(log_sink_open_stderr(&s), 0);
        assert_int_equal(s.kind, LOG_SINK_NONBLOCK);
        /* fd 2's own description stays blocking: a shell sharing it is not disturbed. */
        assert_int_equal(fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK, 0);
        for (int i = 0; i < 10000; i++)
                log_sink_write(&s, "a line of a log that nobody reads\n", 34);
        assert_true(s.dropped > 0);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        log_sink_close(&s);
        close(p[0]);
        close(p[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_datagram_reader_stopped),
            cmocka_unit_test(test_no_journal_yet),
            cmocka_unit_test(test_stream_lines_stay_whole),
            cmocka_unit_test(test_pipe_gets_own_description),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
