#include "testutil.h"

#include "json.h"

static struct json_value *parse_ok(const char *text)
{
        struct json_value *v = NULL;
        char err[128] = "";

        if (json_parse(text, strlen(text), &v, err, sizeof(err)) < 0)
                fail_msg("parse of '%s' failed: %s", text, err);
        return v;
}

static void expect_error(const char *text, const char *needle)
{
        struct json_value *v = NULL;
        char err[128] = "";

        assert_int_equal(json_parse(text, strlen(text), &v, err, sizeof(err)), -EINVAL);
        assert_null(v);
        if (!strstr(err, needle))
                fail_msg("error '%s' for '%s' lacks '%s'", err, text, needle);
}

static void test_roundtrip(void **state)
{
        const char *text =
            "{\"state\": \"OK\", \"reasons\": [\"a\\\"b\", \"\\u00e9\\ud83d\\ude00\"],"
            " \"n\": -12.5, \"big\": 1795531217, \"t\": true, \"f\": false,"
            " \"z\": null, \"o\": {}, \"a\": []}";
        struct json_value *v = parse_ok(text), *again;
        struct strbuf sb = {0};

        (void)state;
        assert_string_equal(json_get_string(v, "state", ""), "OK");
        assert_string_equal(json_get(v, "reasons")->child->string, "a\"b");
        assert_string_equal(json_get(v, "reasons")->child->next->string,
                            "\xc3\xa9\xf0\x9f\x98\x80");
        assert_true(json_get_number(v, "n", 0) == -12.5);
        assert_true(json_get_number(v, "big", 0) == 1795531217.0);
        assert_true(json_get_bool(v, "t", false));
        assert_false(json_get_bool(v, "f", true));
        assert_int_equal(json_get(v, "z")->type, JSON_NULL);
        assert_null(json_get(v, "missing"));
        assert_string_equal(json_get_string(v, "n", "fallback"), "fallback");
        json_write(&sb, v, 0);
        again = parse_ok(sb_str(&sb));
        assert_string_equal(json_get(again, "reasons")->child->string, "a\"b");
        assert_non_null(strstr(sb_str(&sb), "\"big\": 1795531217"));
        json_free(v);
        json_free(again);
        sb_free(&sb);
}

static void test_escaping(void **state)
{
        struct strbuf sb = {0};

        (void)state;
        json_put_string(&sb, "tab\there \"q\" back\\slash \x01 caf\xc3\xa9 bad\xff");
        assert_string_equal(
            sb_str(&sb),
            "\"tab\\u0009here \\\"q\\\" back\\\\slash \\u0001 caf\xc3\xa9 bad\\ufffd\"");
        sb_free(&sb);
}

static void test_errors(void **state)
{
        (void)state;
        expect_error("", "line 1: unexpected end of input");
        expect_error("{\"a\": 1,\n\"b\" 2}", "line 2: expected ':'");
        expect_error("{\"a\": tru}", "unexpected character");
        expect_error("[1, 2", "expected ',' or ']'");
        expect_error("\"unterminated", "unterminated string");
        expect_error("\"bad \\x escape\"", "bad escape");
        expect_error("\"\\ud800 lonely\"", "surrogate");
        expect_error("\"\\u0000\"", "NUL");
        expect_error("{} {}", "trailing characters");
        expect_error("\"bad utf8 \xc3\x28\"", "invalid UTF-8");
        expect_error("1e999", "bad number");
}

static void test_depth_limit(void **state)
{
        char deep[200];

        (void)state;
        memset(deep, '[', sizeof(deep) - 1);
        deep[sizeof(deep) - 1] = '\0';
        expect_error(deep, "nested too deeply");
}

/* Fuzzer finds (tests/fuzz/regressions/status/): a NUL byte is no part of a number, and
 * numbers beyond long long's range are written (and read back) without undefined behaviour. */
static void test_fuzz_regressions(void **state)
{
        static const char *const numbers[] = {"1e300", "-1e300", "1e16", "-9.5e18", "1e15"};
        struct json_value *v = NULL;
        char err[128];

        (void)state;
        assert_int_equal(json_parse("\0", 1, &v, err, sizeof(err)), -EINVAL);
        assert_int_equal(json_parse("[1\0\0]", 6, &v, err, sizeof(err)), -EINVAL);
        assert_int_equal(json_parse("1\0", 2, &v, err, sizeof(err)), -EINVAL);
        for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
                struct json_value *back = NULL;
                struct strbuf sb = {0};

                assert_int_equal(json_parse(numbers[i], strlen(numbers[i]), &v, err, sizeof(err)),
                                 0);
                json_write(&sb, v, 0);
                assert_int_equal(json_parse(sb_str(&sb), sb.len, &back, err, sizeof(err)), 0);
                assert_true(back->number == v->number);
                json_free(back);
                json_free(v);
                sb_free(&sb);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_escaping),
            cmocka_unit_test(test_errors),           cmocka_unit_test(test_depth_limit),
            cmocka_unit_test(test_fuzz_regressions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
