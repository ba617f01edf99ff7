#include "testutil.h"

#include "health.h"

static struct health fresh(void)
{
        struct health h;

        health_init(&h, 2, 3, 500000);
        health_source_set(&h, HEALTH_SRC_LINK, HEALTH_OK, NULL, 0);
        health_source_set(&h, HEALTH_SRC_SESSION, HEALTH_OK, NULL, 0);
        return h;
}

static void test_unknown_until_all_sources(void **state)
{
        struct health h;

        (void)state;
        health_init(&h, 2, 3, 500000);
        health_source_set(&h, HEALTH_SRC_LINK, HEALTH_OK, NULL, 0);
        assert_false(health_evaluate(&h, true, 1));
        assert_int_equal(h.published, HEALTH_UNKNOWN);
        health_source_set(&h, HEALTH_SRC_SESSION, HEALTH_OK, NULL, 0);
        health_probe_result(&h, true, 1300, "portal");
        assert_true(health_evaluate(&h, true, 2));
        assert_int_equal(h.published, HEALTH_OK);
        assert_int_equal(h.n_reasons, 0);
}

static void test_bad_news_before_all_sources(void **state)
{
        struct health h;
        const struct health_reason why[] = {{"link-no-carrier", "eth0: no carrier"}};

        (void)state;
        health_init(&h, 2, 3, 500000);
        health_source_set(&h, HEALTH_SRC_LINK, HEALTH_FAILED, why, 1);
        assert_true(health_evaluate(&h, false, 1));
        assert_int_equal(h.published, HEALTH_FAILED);
        assert_string_equal(h.reasons[0].text, "eth0: no carrier");
        assert_string_equal(h.reasons[0].code, "link-no-carrier");
}

static void test_probe_fail_after(void **state)
{
        struct health h = fresh();

        (void)state;
        health_probe_result(&h, true, 1000, "portal");
        health_evaluate(&h, true, 1);
        health_probe_result(&h, false, 0, "portal 10.0.0.5:3260: connection refused");
        assert_true(health_evaluate(&h, true, 2));
        assert_int_equal(h.published, HEALTH_DEGRADED);
        assert_non_null(strstr(h.reasons[0].text, "1 of 2 failed probes"));
        assert_string_equal(h.reasons[0].code, "probe-failed");
        health_probe_result(&h, false, 0, "portal 10.0.0.5:3260: connection refused");
        assert_true(health_evaluate(&h, true, 3));
        assert_int_equal(h.published, HEALTH_FAILED);
        assert_string_equal(h.reasons[0].text, "portal 10.0.0.5:3260: connection refused");
        assert_string_equal(h.reasons[0].code, "probe-failed");
        assert_int_equal(h.changed_usec, 3);
        assert_int_equal(h.probe_failures_total, 2);
}

static void test_recovery_needs_streak(void **state)
{
        struct health h = fresh();
        const struct health_reason why[] = {{"session-failed", "session1: FAILED"}};

        (void)state;
        health_probe_result(&h, true, 1000, "portal");
        health_evaluate(&h, true, 1);
        health_source_set(&h, HEALTH_SRC_SESSION, HEALTH_FAILED, why, 1);
        health_evaluate(&h, false, 2);
        assert_int_equal(h.published, HEALTH_FAILED);
        health_source_set(&h, HEALTH_SRC_SESSION, HEALTH_OK, NULL, 0);
        /* An event that is not a new measurement does not count towards recovery. */
        health_evaluate(&h, false, 3);
        assert_int_equal(h.published, HEALTH_FAILED);
        assert_non_null(strstr(h.reasons[0].text, "recovering: 0 of 3"));
        assert_string_equal(h.reasons[0].code, "recovering");
        for (int i = 0; i < 2; i++) {
                health_probe_result(&h, true, 1000, "portal");
                health_evaluate(&h, true, 4);
                assert_int_equal(h.published, HEALTH_FAILED);
        }
        /* A relapse resets the streak. */
        health_source_set(&h, HEALTH_SRC_SESSION, HEALTH_FAILED, why, 1);
        health_evaluate(&h, true, 5);
        health_source_set(&h, HEALTH_SRC_SESSION, HEALTH_OK, NULL, 0);
        for (int i = 0; i < 2; i++) {
                health_probe_result(&h, true, 1000, "portal");
                health_evaluate(&h, true, 6);
        }
        assert_int_equal(h.published, HEALTH_FAILED);
        health_probe_result(&h, true, 1000, "portal");
        assert_true(health_evaluate(&h, true, 7));
        assert_int_equal(h.published, HEALTH_OK);
        assert_int_equal(h.n_reasons, 0);
}

static void test_slow_probe_degraded(void **state)
{
        struct health h = fresh();

        (void)state;
        health_probe_result(&h, true, 750000, "portal 10.0.0.5:3260");
        health_evaluate(&h, true, 1);
        assert_int_equal(h.published, HEALTH_DEGRADED);
        assert_string_equal(h.reasons[0].text,
                            "portal 10.0.0.5:3260: slow probe 750.0 ms (over 500.0 ms)");
        assert_string_equal(h.reasons[0].code, "probe-slow");
}

static void test_unused_probe(void **state)
{
        struct health h = fresh();

        (void)state;
        health_source_unused(&h, HEALTH_SRC_PROBE);
        assert_true(health_evaluate(&h, true, 1));
        assert_int_equal(h.published, HEALTH_OK);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_unknown_until_all_sources),
            cmocka_unit_test(test_bad_news_before_all_sources),
            cmocka_unit_test(test_probe_fail_after),
            cmocka_unit_test(test_recovery_needs_streak),
            cmocka_unit_test(test_slow_probe_degraded),
            cmocka_unit_test(test_unused_probe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
