/* probe: portal parsing, parameter checks, and the engine's failure paths against sockets on
 * 127.0.0.1 that this test owns (refused, silent, closing). The real target is exercised in
 * tests/integration/probe.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "probe.h"
#include "util.h"

struct outcome {
        sd_event *event;
        unsigned results;
        unsigned restarts; /* start again from the callback this many times */
        bool free_in_cb;
        struct probe_result last;
};

static void on_result(struct probe *p, const struct probe_result *r, void *userdata)
{
        struct outcome *o = userdata;

        o->results++;
        o->last = *r;
        if (o->restarts > 0) {
                o->restarts--;
                assert_int_equal(probe_start(p), 0);
                return;
        }
        if (o->free_in_cb)
                probe_free(p);
        sd_event_exit(o->event, 0);
}

static uint64_t mono_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* A TCP socket on 127.0.0.1 with a kernel-chosen port; listening when LISTEN. */
static int local_socket(bool listening, uint16_t *port)
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        assert_true(fd >= 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        if (listening)
                assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        *port = ntohs(sa.sin_port);
        return fd;
}

static void run_probe(struct probe_params *params, struct outcome *o)
{
        struct probe *p = NULL;

        assert_int_equal(sd_event_new(&o->event), 0);
        assert_int_equal(probe_new(o->event, params, on_result, o, &p), 0);
        assert_int_equal(probe_start(p), 0);
        assert_int_equal(probe_start(p), -EBUSY);
        assert_true(probe_running(p));
        assert_int_equal(o->results, 0); /* never delivered from inside probe_start */
        assert_int_equal(sd_event_loop(o->event), 0);
        if (!o->free_in_cb) {
                assert_false(probe_running(p));
                probe_free(p);
        }
        o->event = sd_event_unref(o->event);
}

static void test_parse_portal(void **state _unused_)
{
        char host[64];
        uint16_t port;

        assert_int_equal(probe_parse_portal("10.0.0.1", host, sizeof(host), &port), 0);
        assert_string_equal(host, "10.0.0.1");
        assert_int_equal(port, 3260);
        assert_int_equal(probe_parse_portal("10.0.0.1:3261", host, sizeof(host), &port), 0);
        assert_int_equal(port, 3261);
        assert_int_equal(probe_parse_portal("[fd00::1]:860", host, sizeof(host), &port), 0);
        assert_string_equal(host, "fd00::1");
        assert_int_equal(port, 860);
        assert_int_equal(probe_parse_portal("fd00::1", host, sizeof(host), &port), 0);
        assert_string_equal(host, "fd00::1");
        assert_int_equal(port, 3260);
        assert_int_equal(probe_parse_portal("nas.lan:3260", host, sizeof(host), &port), 0);
        assert_string_equal(host, "nas.lan");
        assert_int_equal(probe_parse_portal("", host, sizeof(host), &port), -EINVAL);
        assert_int_equal(probe_parse_portal("h:0", host, sizeof(host), &port), -EINVAL);
        assert_int_equal(probe_parse_portal("h:65536", host, sizeof(host), &port), -EINVAL);
        assert_int_equal(probe_parse_portal("h:x", host, sizeof(host), &port), -EINVAL);
        assert_int_equal(probe_parse_portal("[fd00::1", host, sizeof(host), &port), -EINVAL);
        assert_int_equal(probe_parse_portal(":3260", host, sizeof(host), &port), -EINVAL);

        probe_format_portal("fd00::1", 3260, host, sizeof(host));
        assert_string_equal(host, "[fd00::1]:3260");
        probe_default_initiator(host, sizeof(host));
        assert_memory_equal(host, PROBE_INITIATOR_BASE, strlen(PROBE_INITIATOR_BASE));
}

static void test_new_rejects(void **state _unused_)
{
        struct probe_params ok = {.host = "127.0.0.1",
                                  .target = "iqn.2016-11.org.example:pi",
                                  .mode = PROBE_MODE_DISCOVERY,
                                  .lun = PROBE_LUN_AUTO};
        struct probe_params bad;
        struct probe *p = NULL;
        sd_event *e = NULL;
        struct outcome o = {0};

        assert_int_equal(sd_event_new(&e), 0);
        bad = ok;
        bad.host = "portal.example"; /* DNS would block: numeric only */
        assert_int_equal(probe_new(e, &bad, on_result, &o, &p), -EINVAL);
        bad = ok;
        bad.mode = PROBE_MODE_OFF;
        assert_int_equal(probe_new(e, &bad, on_result, &o, &p), -EINVAL);
        bad = ok;
        bad.target = "";
        assert_int_equal(probe_new(e, &bad, on_result, &o, &p), -EINVAL);
        bad = ok;
        bad.username = "user"; /* CHAP user without a secret */
        assert_int_equal(probe_new(e, &bad, on_result, &o, &p), -EINVAL);
        assert_null(p);
        assert_int_equal(probe_new(e, &ok, on_result, &o, &p), 0);
        probe_free(p);
        probe_free(NULL);
        sd_event_unref(e);
}

static void test_refused(void **state _unused_)
{
        uint16_t port;
        int fd = local_socket(false, &port); /* bound, not listening: the kernel refuses */
        struct probe_params params = {.host = "127.0.0.1",
                                      .port = port,
                                      .target = "iqn.2016-11.org.example:pi",
                                      .mode = PROBE_MODE_LOGIN,
                                      .lun = PROBE_LUN_AUTO,
                                      .timeout_usec = 2000000};
        struct outcome o = {.restarts = 2};
        char want[96];

        run_probe(&params, &o);
        close(fd);
        assert_int_equal(o.results, 3);
        assert_false(o.last.ok);
        snprintf(want, sizeof(want), "portal 127.0.0.1:%u: connection refused", port);
        assert_string_equal(o.last.reason, want);
        assert_true(o.last.rtt_usec < 1000000);
}

static void test_silent_portal_times_out(void **state _unused_)
{
        uint16_t port;
        int fd = local_socket(true, &port); /* the kernel completes the handshake; nobody talks */
        struct probe_params params = {.host = "127.0.0.1",
                                      .port = port,
                                      .target = "iqn.2016-11.org.example:pi",
                                      .username = "pi",
                                      .password = "TopSecret123",
                                      .mode = PROBE_MODE_LOGIN,
                                      .lun = PROBE_LUN_AUTO,
                                      .timeout_usec = 300000};
        struct outcome o = {.free_in_cb = true};
        uint64_t t0 = mono_usec(), took;

        run_probe(&params, &o);
        took = mono_usec() - t0;
        close(fd);
        assert_int_equal(o.results, 1);
        assert_false(o.last.ok);
        assert_non_null(strstr(o.last.reason, "login timed out after 0.3 s"));
        assert_null(strstr(o.last.reason, "TopSecret123"));
        assert_true(took >= 300000 && took < 800000);
}

static int accept_and_close(sd_event_source *s _unused_, int fd, uint32_t revents _unused_,
                            void *userdata _unused_)
{
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

        if (c >= 0)
                close(c);
        return 0;
}

static void test_portal_closes(void **state _unused_)
{
        uint16_t port;
        int fd = local_socket(true, &port);
        struct probe_params params = {.host = "127.0.0.1",
                                      .port = port,
                                      .target = "iqn.2016-11.org.example:pi",
                                      .mode = PROBE_MODE_DISCOVERY,
                                      .timeout_usec = 2000000};
        struct outcome o = {0};
        struct probe *p = NULL;
        sd_event_source *srv = NULL;

        assert_int_equal(sd_event_new(&o.event), 0);
        assert_int_equal(sd_event_add_io(o.event, &srv, fd, EPOLLIN, accept_and_close, NULL), 0);
        assert_int_equal(probe_new(o.event, &params, on_result, &o, &p), 0);
        assert_int_equal(probe_start(p), 0);
        assert_int_equal(sd_event_loop(o.event), 0);
        assert_false(o.last.ok);
        assert_true(strstr(o.last.reason, "connection closed by portal during login") ||
                    strstr(o.last.reason, "connection reset"));
        probe_free(p);
        sd_event_source_unref(srv);
        sd_event_unref(o.event);
        close(fd);
}

static void test_cancel(void **state _unused_)
{
        uint16_t port;
        int fd = local_socket(true, &port);
        struct probe_params params = {.host = "127.0.0.1",
                                      .port = port,
                                      .target = "iqn.2016-11.org.example:pi",
                                      .mode = PROBE_MODE_DISCOVERY,
                                      .timeout_usec = 2000000};
        struct outcome o = {0};
        struct probe *p = NULL;

        assert_int_equal(sd_event_new(&o.event), 0);
        assert_int_equal(probe_new(o.event, &params, on_result, &o, &p), 0);
        assert_int_equal(probe_start(p), 0);
        assert_int_equal(sd_event_run(o.event, 50000), 1);
        probe_cancel(p);
        assert_false(probe_running(p));
        /* nothing is left to fire */
        assert_int_equal(sd_event_run(o.event, 100000), 0);
        assert_int_equal(o.results, 0);
        probe_free(p);
        sd_event_unref(o.event);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_portal),  cmocka_unit_test(test_new_rejects),
            cmocka_unit_test(test_refused),       cmocka_unit_test(test_silent_portal_times_out),
            cmocka_unit_test(test_portal_closes), cmocka_unit_test(test_cancel),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
