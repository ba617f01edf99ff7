/* bootcheck.c: cmdline.txt against the running root (the iSCSI login and root=), and the
 * lasting fix for raspi-firmware (cmdline_repair.c) built from a live cmdline. */
#include "testutil.h"

#include "bootcheck.h"
#include "cmdline_repair.h"
#include "fileio.h"
#include "util.h"

#define LOGIN                                                                                      \
        "ISCSI_INITIATOR=iqn.2016-11.org.raspberrypi:superpi "                                     \
        "ISCSI_TARGET_NAME=iqn.2000-01.com.synology:BlackSyno.PiTarget "                           \
        "ISCSI_TARGET_IP=192.168.1.10 ISCSI_TARGET_PORT=3260"
#define LIVE "console=tty1 ip=::::superpi:eth0:dhcp root=UUID=3598ef8e rootwait " LOGIN " rw\n"
/* What Debian's raspi-firmware hook writes without the lasting fix (FACTS). */
#define RASPI "console=tty0 root=/dev/sda rw fsck.repair=yes net.ifnames=0 cma=64M rootwait\n"

static char *root;

static int setup(void **state)
{
        (void)state;
        _cleanup_free_ char *proc = NULL, *def = NULL;

        root = test_tmpdir();
        assert_true(asprintf(&proc, "%s/proc", root) > 0);
        assert_true(asprintf(&def, "%s/etc/default", root) > 0);
        assert_int_equal(mkdir_parents(proc, 0755), 0);
        assert_int_equal(mkdir_parents(def, 0755), 0);
        free(test_write(root, "proc/cmdline", LIVE));
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        test_rmtree(root);
        free(root);
        return 0;
}

static int check(const char *text, char *why)
{
        return boot_check_cmdline(root, text, "cmdline.txt", why, 1024);
}

static void test_live_cmdline_passes(void **state)
{
        char why[1024];

        (void)state;
        assert_int_equal(check(LIVE, why), 1);
        assert_non_null(strstr(why, "root=UUID=3598ef8e"));
}

/* The case: raspi-firmware's hook dropped ISCSI_*, and `hook check` said consistent. */
static void test_raspi_firmware_cmdline_fails(void **state)
{
        char why[1024];

        (void)state;
        assert_int_equal(check(RASPI, why), 0);
        assert_non_null(strstr(why, "no iSCSI login"));
}

static void test_other_target_fails(void **state)
{
        char why[1024];

        (void)state;
        assert_int_equal(check("root=UUID=3598ef8e ISCSI_INITIATOR=iqn.x:y "
                               "ISCSI_TARGET_NAME=iqn.2000-01.com.synology:Other "
                               "ISCSI_TARGET_IP=192.168.1.10\n",
                               why),
                         0);
        assert_non_null(strstr(why, "the running root is on"));
        assert_int_equal(check("root=UUID=3598ef8e " LOGIN " ISCSI_TARGET_IP=192.168.1.11\n", why),
                         0);
        assert_non_null(strstr(why, "192.168.1.11"));
}

static void test_root_must_resolve(void **state)
{
        char why[1024];

        (void)state;
        assert_int_equal(check(LOGIN "\n", why), 0);
        assert_non_null(strstr(why, "no root="));
        assert_int_equal(check("root=UUID=deadbeef " LOGIN "\n", why), 0);
        assert_non_null(strstr(why, "does not resolve"));
        assert_int_equal(check("root=iscsi:192.168.1.10::3260:1:iqn.2000-01.com.synology:"
                               "BlackSyno.PiTarget " LOGIN "\n",
                               why),
                         1);
}

/* doctor --fix: the hook's own cmdline.txt logs in afterwards; other extra parameters stay. */
static void test_lasting_fix(void **state)
{
        _cleanup_free_ char *would = NULL, *extra = NULL, *defaults = NULL;
        char what[2048], why[1024];

        (void)state;
        free(test_write(root, "etc/default/raspi-firmware", "CMA=64M\n#ROOTPART=/dev/mmcblk0p2\n"));
        free(test_write(root, "etc/default/raspi-extra-cmdline",
                        "quiet ISCSI_TARGET_IP=10.0.0.1\n"));
        would = cmdline_raspi_firmware_would_write(root);
        assert_non_null(would);
        assert_int_equal(boot_check_cmdline(root, would, "x", why, sizeof(why)), 0);
        free(would);
        assert_int_equal(cmdline_lasting_fix_write(root, LIVE, what, sizeof(what)), 0);
        would = cmdline_raspi_firmware_would_write(root);
        assert_non_null(would);
        assert_int_equal(boot_check_cmdline(root, would, "x", why, sizeof(why)), 1);
        {
                _cleanup_free_ char *p = NULL, *q = NULL;

                assert_true(asprintf(&p, "%s/etc/default/raspi-extra-cmdline", root) > 0);
                assert_true(asprintf(&q, "%s/etc/default/raspi-firmware", root) > 0);
                assert_int_equal(file_read_all(p, 4096, &extra, NULL), 0);
                assert_int_equal(file_read_all(q, 4096, &defaults, NULL), 0);
        }
        assert_non_null(strstr(extra, "quiet"));
        assert_non_null(strstr(extra, "ISCSI_TARGET_IP=192.168.1.10"));
        assert_null(strstr(extra, "10.0.0.1"));
        assert_non_null(strstr(extra, "ip=::::superpi:eth0:dhcp"));
        assert_non_null(strstr(defaults, "CMA=64M"));
        assert_non_null(strstr(defaults, "ROOTPART='UUID=3598ef8e'"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_live_cmdline_passes),
            cmocka_unit_test(test_raspi_firmware_cmdline_fails),
            cmocka_unit_test(test_other_target_fails),
            cmocka_unit_test(test_root_must_resolve),
            cmocka_unit_test(test_lasting_fix),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
