/* journald's native protocol entries as netrootd builds them (journal_entry.c). */
#include "testutil.h"

#include "journal_entry.h"

static void test_plain_fields(void **state)
{
        struct strbuf sb = {0};

        (void)state;
        assert_int_equal(journal_entry_add(&sb, "MESSAGE=hello world"), 0);
        assert_int_equal(journal_entry_add(&sb, "PRIORITY=6"), 0);
        assert_int_equal(journal_entry_add(&sb, "NETROOT_STATE="), 0);
        assert_string_equal(sb_str(&sb), "MESSAGE=hello world\nPRIORITY=6\nNETROOT_STATE=\n");
        sb_free(&sb);
}

static void test_newline_uses_binary_form(void **state)
{
        static const char want[] = "MESSAGE\n\x05\0\0\0\0\0\0\0a\nb c\n";
        struct strbuf sb = {0};

        (void)state;
        assert_int_equal(journal_entry_add(&sb, "MESSAGE=a\nb c"), 0);
        assert_int_equal(sb.len, sizeof(want) - 1);
        assert_memory_equal(sb.data, want, sizeof(want) - 1);
        sb_free(&sb);
}

static void test_bad_keys_refused(void **state)
{
        static const char *const bad[] = {"=x",          "_PID=1",    "1ABC=x", "lower=x",
                                          "SPACE KEY=x", "NO_EQUALS", "A-B=x"};
        struct strbuf sb = {0};
        char longkey[80];

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(journal_entry_add(&sb, bad[i]), -EINVAL);
        memset(longkey, 'K', 65);
        strcpy(longkey + 65, "=v");
        assert_int_equal(journal_entry_add(&sb, longkey), -EINVAL);
        longkey[64] = '=';
        longkey[65] = 'v';
        longkey[66] = '\0';
        assert_int_equal(journal_entry_add(&sb, longkey), 0);
        assert_int_equal(sb.len, 64 + 3);
        sb_free(&sb);
}

static void test_long_value_cut(void **state)
{
        struct strbuf sb = {0};
        char *field = malloc(JOURNAL_VALUE_MAX * 2 + 16);

        (void)state;
        strcpy(field, "MESSAGE=");
        memset(field + 8, 'x', JOURNAL_VALUE_MAX * 2);
        field[8 + JOURNAL_VALUE_MAX * 2] = '\0';
        assert_int_equal(journal_entry_add(&sb, field), 0);
        assert_int_equal(sb.len, 8 + JOURNAL_VALUE_MAX + 1);
        assert_int_equal(sb.data[sb.len - 1], '\n');
        free(field);
        sb_free(&sb);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plain_fields),
            cmocka_unit_test(test_newline_uses_binary_form),
            cmocka_unit_test(test_bad_keys_refused),
            cmocka_unit_test(test_long_value_cut),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
