/* cmdline.txt parsing and the masking of iSCSI secrets before anything is printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmdline.h"
#include "util.h"

/* The tutorial's cmdline.txt, with CHAP added. */
static const char tutorial[] =
    "dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 ip=::::superpi:eth0:dhcp "
    "root=UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d rootfstype=ext4 elevator=deadline "
    "fsck.repair=yes rootwait qmap=fr ISCSI_INITIATOR=iqn.2016-11.org.raspberrypi:superpi "
    "ISCSI_TARGET_NAME=iqn.2000-01.com.synology:BlackSyno.PiTarget "
    "ISCSI_TARGET_IP=192.168.1.10 ISCSI_TARGET_PORT=3260 ISCSI_USERNAME=pi "
    "ISCSI_PASSWORD=s3cr3t-chap rw\n";

static char *masked(const char *key, const char *value)
{
        char *m = cmdline_masked_value(key, value);

        assert_non_null(m);
        return m;
}

static void test_parse_tutorial(void **state)
{
        struct cmdline c;

        (void)state;
        assert_int_equal(cmdline_parse(tutorial, strlen(tutorial), &c), 0);
        assert_int_equal(c.lines, 1);
        assert_int_equal(c.n, 17);
        assert_string_equal(cmdline_get(&c, "root"), "UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d");
        assert_string_equal(cmdline_get(&c, "ISCSI_TARGET_IP"), "192.168.1.10");
        assert_string_equal(cmdline_get(&c, "console"), "tty1"); /* the last one wins */
        assert_string_equal(cmdline_get(&c, "rootwait"), "");
        assert_null(c.params[16].value);
        assert_string_equal(c.params[16].key, "rw");
        assert_null(cmdline_get(&c, "iscsi_target_ip")); /* keys are case-sensitive */
        cmdline_free(&c);
}

static void test_quotes_and_lines(void **state)
{
        const char *text = "  a=\"x y\"  b \n\nc=\"unterminated d\n";
        struct cmdline c;

        (void)state;
        assert_int_equal(cmdline_parse(text, strlen(text), &c), 0);
        assert_int_equal(c.lines, 2);
        assert_int_equal(c.n, 3);
        assert_string_equal(cmdline_get(&c, "a"), "x y");
        assert_string_equal(c.params[1].key, "b");
        assert_string_equal(cmdline_get(&c, "c"), "\"unterminated d\n");
        cmdline_free(&c);
        assert_int_equal(cmdline_parse("", 0, &c), 0);
        assert_int_equal(c.n, 0);
        assert_int_equal(c.lines, 0);
        cmdline_free(&c);
}

static void test_key_classes(void **state)
{
        (void)state;
        assert_true(cmdline_is_iscsi_key("ISCSI_TARGET_IP"));
        assert_true(cmdline_is_iscsi_key("iscsi_target_ip"));
        assert_false(cmdline_is_iscsi_key("root"));
        assert_true(cmdline_is_secret_key("ISCSI_PASSWORD"));
        assert_true(cmdline_is_secret_key("iscsi_password"));
        assert_true(cmdline_is_secret_key("ISCSI_IN_PASSWORD"));
        assert_true(cmdline_is_secret_key("iscsi_in_password"));
        assert_false(cmdline_is_secret_key("ISCSI_USERNAME"));
        assert_false(cmdline_is_secret_key("ISCSI_PASSWORD_FILE"));
}

static void test_mask_password_keys(void **state)
{
        char *m;

        (void)state;
        m = masked("ISCSI_PASSWORD", "s3cr3t-chap");
        assert_string_equal(m, CMDLINE_MASK);
        free(m);
        m = masked("iscsi_in_password", "x");
        assert_string_equal(m, CMDLINE_MASK);
        free(m);
        m = masked("ISCSI_USERNAME", "pi");
        assert_string_equal(m, "pi");
        free(m);
        assert_null(cmdline_masked_value("rw", NULL));
}

static void check_root(const char *value, const char *want)
{
        char *m = masked("root", value);

        assert_string_equal(m, want);
        free(m);
}

static void test_mask_root_iscsi(void **state)
{
        (void)state;
        check_root("iscsi:pi:s3cr3t@192.168.1.10:6:3260:1:iqn.2000-01.com.synology:Pi",
                   "iscsi:pi:" CMDLINE_MASK "@192.168.1.10:6:3260:1:iqn.2000-01.com.synology:Pi");
        check_root("iscsi:pi:s3cr3t:target:back@10.0.0.1:6:3260:0:iqn.x:y",
                   "iscsi:pi:" CMDLINE_MASK ":target:" CMDLINE_MASK "@10.0.0.1:6:3260:0:iqn.x:y");
        /* A password holding '@': the last '@' ends the credentials. */
        check_root("iscsi:pi:p@ss@10.0.0.1:6:3260:0:iqn.x:y",
                   "iscsi:pi:" CMDLINE_MASK "@10.0.0.1:6:3260:0:iqn.x:y");
        /* Three fields cannot be split reliably: everything after the user is hidden. */
        check_root("iscsi:pi:pa:ss@10.0.0.1:6:3260:0:iqn.x:y",
                   "iscsi:pi:" CMDLINE_MASK "@10.0.0.1:6:3260:0:iqn.x:y");
        /* No credentials, or not iSCSI: unchanged. */
        check_root("iscsi:10.0.0.1:6:3260:0:iqn.x:y", "iscsi:10.0.0.1:6:3260:0:iqn.x:y");
        check_root("ISCSI:u:p@10.0.0.1::::iqn.x", "ISCSI:u:" CMDLINE_MASK "@10.0.0.1::::iqn.x");
        check_root("/dev/sda2", "/dev/sda2");
}

static void test_masked_output_never_holds_secret(void **state)
{
        struct cmdline c;
        const char *text = "root=iscsi:u:TOPSECRET1:iu:TOPSECRET2@h:6:3260:0:iqn.a:b "
                           "ISCSI_PASSWORD=TOPSECRET3 iscsi_in_password=TOPSECRET4";

        (void)state;
        assert_int_equal(cmdline_parse(text, strlen(text), &c), 0);
        for (size_t i = 0; i < c.n; i++) {
                char *m = masked(c.params[i].key, c.params[i].value);
                assert_null(strstr(m, "TOPSECRET"));
                free(m);
        }
        cmdline_free(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_tutorial),
            cmocka_unit_test(test_quotes_and_lines),
            cmocka_unit_test(test_key_classes),
            cmocka_unit_test(test_mask_password_keys),
            cmocka_unit_test(test_mask_root_iscsi),
            cmocka_unit_test(test_masked_output_never_holds_secret),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
