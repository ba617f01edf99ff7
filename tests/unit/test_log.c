/* log_eventf: the message and the fields of an event given inline, each item formatted with its
 * own arguments; checked on the stderr line (the journal gets the same fields). */
#include "testutil.h"

#include "log.h"

#include <fcntl.h>

/* Runs log_eventf's output to stderr into a file and returns the line. */
static char *stderr_of(void (*fn)(const struct logger *log))
{
        char path[] = "/tmp/netroot-log.XXXXXX", *text;
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        struct logger log;
        FILE *f;
        long n;

        assert_true(fd >= 0 && saved >= 0);
        fflush(stderr);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        logger_init(&log, "t", LOG_TARGET_STDERR);
        fn(&log);
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        f = fdopen(fd, "r");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        text = calloc(1, (size_t)n + 1);
        assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        unlink(path);
        return text;
}

static void event_types(const struct logger *log)
{
        log_eventf(log, LOG_ERR, MSGID_UPGRADE_ROLLED_BACK,
                   "MESSAGE=upgrade to %s failed at %u/%d: %s (100%%)", "6.1.21", 3u, 8, "no space",
                   "NETROOT_KERNEL=%s", "6.1.21", "NETROOT_GENERATION=%u", 7u, "NETROOT_SIZE=%zu",
                   (size_t)4096, "NETROOT_BIG=%llu", 12345678901ULL, "NETROOT_LONG=%ld", -5L,
                   "NETROOT_PAD=%-3s|%03d", "a", 7, "NETROOT_PLAIN=x", NULL);
}

static void test_types(void **state)
{
        char *line = stderr_of(event_types);

        (void)state;
        assert_string_equal(line, "t: error: upgrade to 6.1.21 failed at 3/8: no space (100%) "
                                  "[NETROOT_KERNEL=6.1.21 NETROOT_GENERATION=7 NETROOT_SIZE=4096 "
                                  "NETROOT_BIG=12345678901 NETROOT_LONG=-5 NETROOT_PAD=a  |007 "
                                  "NETROOT_PLAIN=x]\n");
        free(line);
}

static void event_unsupported(const struct logger *log)
{
        /* '*' widths are not taken: the item is cut there and the list ends. */
        log_eventf(log, LOG_NOTICE, MSGID_UPGRADE_DONE, "MESSAGE=done", "A=%s", "1", "B=%*d", 3, 4,
                   "C=%s", "never", NULL);
}

static void test_unsupported_stops(void **state)
{
        char *line = stderr_of(event_unsupported);

        (void)state;
        assert_string_equal(line, "t: done [A=1 B=]\n");
        free(line);
}

static void event_quiet(const struct logger *log)
{
        struct logger l = *log;

        l.max_priority = LOG_WARNING;
        log_eventf(&l, LOG_INFO, MSGID_UPGRADE_STEP, "MESSAGE=hidden", NULL);
}

static void test_below_priority(void **state)
{
        char *line = stderr_of(event_quiet);

        (void)state;
        assert_string_equal(line, "");
        free(line);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_types),
            cmocka_unit_test(test_unsupported_stops),
            cmocka_unit_test(test_below_priority),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
