/* iscsi_boot.c: the ISCSI_* boot parameters from iscsi.initramfs and the kernel command line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "fileio.h"
#include "iscsi_boot.h"
#include "util.h"

#define TARGET    "iqn.2000-01.com.synology:BlackSyno.PiTarget"
#define INITIATOR "iqn.2016-11.org.raspberrypi:superpi"

/* The tutorial's cmdline.txt, verbatim: its ISCSI_TARGET_IP was lost from our copy. */
static const char tutorial[] =
    "dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 ip=::::superpi:eth0:dhcp "
    "root=UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d rootfstype=ext4 elevator=deadline "
    "fsck.repair=yes rootwait qmap=fr ISCSI_INITIATOR=" INITIATOR " ISCSI_TARGET_NAME=" TARGET
    " ISCSI_TARGET_IP= ISCSI_TARGET_PORT=3260 rw\n";

static int parse(const char *file, const char *cmdline, struct iscsi_boot *b, char *err)
{
        return iscsi_boot_parse(file, "iscsi.initramfs", cmdline, b, err, ISCSI_BOOT_ERROR_MAX);
}

static void expect_error(const char *file, const char *cmdline, const char *msg,
                         const char *secret);

static void test_tutorial_cmdline(void **state)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        (void)state;
        assert_int_equal(parse(NULL, tutorial, &b, err), 1);
        assert_string_equal(b.initiator, INITIATOR);
        assert_string_equal(b.target_name, TARGET);
        assert_string_equal(b.target_ip, "");
        assert_int_equal(b.target_port, 3260);
        assert_int_equal(b.target_group, -1);
        assert_string_equal(b.username, "");
        assert_int_equal(b.sources, ISCSI_BOOT_FROM_CMDLINE_ENV);
        iscsi_boot_clear(&b);
}

static void test_initramfs_file_quotes(void **state)
{
        static const char file[] = "# written by hand\n"
                                   "ISCSI_INITIATOR=\"" INITIATOR "\"\n"
                                   "  export ISCSI_TARGET_NAME='" TARGET "'\n"
                                   "ISCSI_TARGET_IP=192.168.1.10   # the NAS\n"
                                   "ISCSI_TARGET_PORT=\"3260\";\n"
                                   "ISCSI_TARGET_GROUP=1\n"
                                   "ISCSI_USERNAME=pi\n"
                                   "ISCSI_PASSWORD=\"se cr\\\"et#1\"\n"
                                   "ISCSI_IN_USERNAME='nas'\n"
                                   "ISCSI_IN_PASSWORD=mu'tual'\\ pw\n"
                                   "ISCSI_AUTO=true\n"
                                   "OTHER=$(whatever)\n"
                                   "if [ -n \"$X\" ]; then :; fi\n";
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        (void)state;
        assert_int_equal(parse(file, NULL, &b, err), 1);
        assert_string_equal(err, "");
        assert_string_equal(b.initiator, INITIATOR);
        assert_string_equal(b.target_name, TARGET);
        assert_string_equal(b.target_ip, "192.168.1.10");
        assert_int_equal(b.target_port, 3260);
        assert_int_equal(b.target_group, 1);
        assert_string_equal(b.username, "pi");
        assert_string_equal(b.password, "se cr\"et#1");
        assert_string_equal(b.in_username, "nas");
        assert_string_equal(b.in_password, "mutual pw");
        assert_int_equal(b.sources, ISCSI_BOOT_FROM_FILE);
        iscsi_boot_clear(&b);
        assert_string_equal(b.password, "");
}

static void test_lower_case_keys(void **state)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        (void)state;
        assert_int_equal(parse(NULL,
                               "quiet iscsi_initiator=" INITIATOR " iscsi_target_name=" TARGET
                               " iscsi_target_ip=10.0.0.5 iscsi_target_port=3261"
                               " iscsi_target_group=2 iscsi_username=u iscsi_password=p"
                               " iscsi_in_username=iu iscsi_in_password=\"i p\"",
                               &b, err),
                         1);
        assert_string_equal(b.target_ip, "10.0.0.5");
        assert_int_equal(b.target_port, 3261);
        assert_int_equal(b.target_group, 2);
        assert_string_equal(b.password, "p");
        assert_string_equal(b.in_password, "i p");
        assert_int_equal(b.sources, ISCSI_BOOT_FROM_CMDLINE_KEY);
        iscsi_boot_clear(&b);
}

/* Upper-case env < the file (it is sourced over the environment) < lower-case keys <
 * root=iscsi:. */
static void test_precedence(void **state)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        (void)state;
        assert_int_equal(parse("ISCSI_TARGET_IP=10.0.0.2\nISCSI_TARGET_PORT=\n"
                               "ISCSI_USERNAME=fileuser\n",
                               "ISCSI_TARGET_IP=10.0.0.1 ISCSI_TARGET_PORT=3260 "
                               "ISCSI_TARGET_NAME=" TARGET " iscsi_username=keyuser",
                               &b, err),
                         1);
        assert_string_equal(b.target_ip, "10.0.0.2");
        assert_int_equal(b.target_port, 0); /* emptied by the file, like the shell would */
        assert_string_equal(b.username, "keyuser");
        assert_int_equal(b.sources, ISCSI_BOOT_FROM_CMDLINE_ENV | ISCSI_BOOT_FROM_FILE |
                                        ISCSI_BOOT_FROM_CMDLINE_KEY);

        assert_int_equal(parse("ISCSI_TARGET_IP=10.0.0.2\n",
                               "iscsi_target_ip=10.0.0.3 root=iscsi:10.0.0.4::3262:1:" TARGET, &b,
                               err),
                         1);
        assert_string_equal(b.target_ip, "10.0.0.4");
        assert_int_equal(b.target_port, 3262);
        /* An uppercase key after "--" is init's argument, not its environment. */
        assert_int_equal(parse(NULL, "quiet -- ISCSI_TARGET_NAME=" TARGET, &b, err), 0);
        iscsi_boot_clear(&b);
}

static void test_root_arg(void **state)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        (void)state;
        /* Without credentials. */
        assert_int_equal(parse(NULL, "root=iscsi:192.168.1.10:6:3260:1:" TARGET " rw", &b, err), 1);
        assert_string_equal(b.target_ip, "192.168.1.10");
        assert_int_equal(b.target_port, 3260);
        assert_string_equal(b.lun, "1");
        assert_string_equal(b.target_name, TARGET);
        assert_string_equal(b.username, "");
        assert_int_equal(b.sources, ISCSI_BOOT_FROM_ROOT_ARG);

        /* user:pass and the later root= winning. */
        assert_int_equal(
            parse(NULL, "root=/dev/mmcblk0p2 root=iscsi:pi:pass@192.168.1.10:6:3260:0:" TARGET, &b,
                  err),
            1);
        assert_string_equal(b.username, "pi");
        assert_string_equal(b.password, "pass");
        assert_string_equal(b.in_username, "");
        assert_string_equal(b.lun, "0");
        /* A password with '@': open-iscsi's initramfs splits at the FIRST '@' and would take
         * "ss@192.168.1.10" as the portal. Refused, and no part of the secret is shown. */
        expect_error(NULL, "root=iscsi:pi:p@ss@192.168.1.10:6:3260:0:" TARGET,
                     "ends them at the first '@'", "p@ss");

        /* Mutual CHAP, IPv6 portal, empty protocol and port. */
        assert_int_equal(parse(NULL, "root=iscsi:u:p:iu:ip@[fd00::10]:::1:" TARGET, &b, err), 1);
        assert_string_equal(b.username, "u");
        assert_string_equal(b.password, "p");
        assert_string_equal(b.in_username, "iu");
        assert_string_equal(b.in_password, "ip");
        assert_string_equal(b.target_ip, "fd00::10");
        assert_int_equal(b.target_port, 0);

        /* root= that is not iSCSI contributes nothing. */
        assert_int_equal(parse(NULL, "root=UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d", &b, err), 0);
        assert_int_equal(b.sources, 0);
        iscsi_boot_clear(&b);
}

static void expect_error(const char *file, const char *cmdline, const char *msg, const char *secret)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        memset(&b, 'x', sizeof(b));
        assert_int_equal(parse(file, cmdline, &b, err), -EINVAL);
        printf("    %s\n", err);
        assert_non_null(strstr(err, msg));
        assert_string_equal(b.target_name, ""); /* nothing half-written */
        assert_string_equal(b.password, "");
        if (secret)
                assert_null(strstr(err, secret));
}

static void test_errors(void **state)
{
        (void)state;
        expect_error("# c\nISCSI_PASSWORD=\"hunter2\n", NULL,
                     "iscsi.initramfs:2: ISCSI_PASSWORD has an unterminated quote", "hunter2");
        expect_error("ISCSI_TARGET_NAME=$TARGET\n", NULL,
                     "iscsi.initramfs:1: ISCSI_TARGET_NAME uses a shell expansion", NULL);
        expect_error("ISCSI_PASSWORD=\"`cat /secret`\"\n", NULL, "shell expansion", NULL);
        expect_error("ISCSI_USERNAME=a b\n", NULL, "iscsi.initramfs:1: unexpected text", NULL);
        expect_error(NULL, "ISCSI_TARGET_PORT=32x60", "/proc/cmdline: ISCSI_TARGET_PORT=32x60",
                     NULL);
        expect_error(NULL, "iscsi_target_port=70000", "not a port number", NULL);
        expect_error(NULL, "iscsi_target_group=-1", "not a portal group tag", NULL);
        expect_error(NULL, "root=iscsi:u:hunter2:x@10.0.0.1:6:3260:1:" TARGET,
                     "credentials must be", "hunter2");
        expect_error(NULL, "root=iscsi:10.0.0.1:6:3260", "expected [user:pass@]IP:6:PORT", NULL);
        expect_error(NULL, "root=iscsi:10.0.0.1:17:3260:1:" TARGET, "protocol 17 is not TCP", NULL);
}

/* Fuzzer find (tests/fuzz/regressions/iscsi_boot/): a CR (cmdline.txt saved with DOS line
 * endings) or another white space character the parameter splitter ends on hung the parse. */
static void test_carriage_return(void **state)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        (void)state;
        assert_int_equal(parse(NULL, "console=tty1\r\nISCSI_TARGET_NAME=" TARGET "\r\n", &b, err),
                         1);
        assert_string_equal(b.target_name, TARGET);
        assert_int_equal(parse(NULL, "\v\f\rroot=iscsi:10.0.0.1:6:3260:1:" TARGET "\r", &b, err),
                         1);
        assert_string_equal(b.target_name, TARGET);
        iscsi_boot_clear(&b);
}

static void test_too_long(void **state)
{
        char file[600];

        (void)state;
        snprintf(file, sizeof(file), "ISCSI_TARGET_NAME=iqn.%0300d\n", 0);
        expect_error(file, NULL, "ISCSI_TARGET_NAME is too long", NULL);
}

static void test_mask(void **state)
{
        (void)state;
        assert_string_equal(iscsi_boot_mask(""), "(none)");
        assert_string_equal(iscsi_boot_mask(NULL), "(none)");
        assert_string_equal(iscsi_boot_mask("x"), "********");
        assert_string_equal(iscsi_boot_mask("a much longer secret"), "********");
}

static void test_load_sandbox(void **state)
{
        char dir[] = "/tmp/netroot-iscsi-boot.XXXXXX", path[256], err[ISCSI_BOOT_ERROR_MAX];
        static const char conf[] = "ISCSI_USERNAME=\"pi\"\nISCSI_PASSWORD='s3cret'\n";
        struct iscsi_boot b;

        (void)state;
        assert_non_null(mkdtemp(dir));
        /* Neither file: nothing, no error. */
        assert_int_equal(iscsi_boot_load(dir, &b, err, sizeof(err)), 0);

        snprintf(path, sizeof(path), "%s/proc", dir);
        assert_int_equal(mkdir_parents(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/proc/cmdline", dir);
        assert_int_equal(file_write_atomic(path, tutorial, strlen(tutorial), 0444), 0);
        snprintf(path, sizeof(path), "%s/etc/iscsi", dir);
        assert_int_equal(mkdir_parents(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/etc/iscsi/iscsi.initramfs", dir);
        assert_int_equal(file_write_atomic(path, conf, strlen(conf), 0600), 0);

        assert_int_equal(iscsi_boot_load(dir, &b, err, sizeof(err)), 1);
        assert_string_equal(b.target_name, TARGET);
        assert_string_equal(b.username, "pi");
        assert_string_equal(b.password, "s3cret");
        assert_int_equal(b.sources, ISCSI_BOOT_FROM_CMDLINE_ENV | ISCSI_BOOT_FROM_FILE);
        iscsi_boot_clear(&b);

        /* A broken file: the error names it and the line. */
        assert_int_equal(file_write_atomic(path, "\nISCSI_INITIATOR='x\n", 20, 0600), 0);
        assert_int_equal(iscsi_boot_load(dir, &b, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "/etc/iscsi/iscsi.initramfs:2:"));

        unlink(path);
        snprintf(path, sizeof(path), "%s/etc/iscsi", dir);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/etc", dir);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/proc/cmdline", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/proc", dir);
        rmdir(path);
        assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tutorial_cmdline), cmocka_unit_test(test_initramfs_file_quotes),
            cmocka_unit_test(test_lower_case_keys),  cmocka_unit_test(test_precedence),
            cmocka_unit_test(test_root_arg),         cmocka_unit_test(test_errors),
            cmocka_unit_test(test_too_long),         cmocka_unit_test(test_mask),
            cmocka_unit_test(test_load_sandbox),     cmocka_unit_test(test_carriage_return),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
