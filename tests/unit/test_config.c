#include "testutil.h"

#include "config.h"
#include "fileio.h"

struct fixture {
        char *dir;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        f->dir = test_tmpdir();
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        test_rmtree(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

/* Loads CONTENT from a file; returns config_load's result. */
static int load(struct fixture *f, const char *content, struct netroot_config *cfg,
                struct config_diag *diag)
{
        char *path = test_write(f->dir, "agent.conf", content);
        int r;

        chmod(path, 0600);
        r = config_load(path, cfg, diag);
        free(path);
        return r;
}

static void test_portal(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;
        char *path;

        assert_int_equal(load(f, "[iscsi]\nportal = 10.0.0.5:3261\n", &cfg, &diag), 0);
        assert_string_equal(cfg.iscsi.portal, "10.0.0.5:3261");
        assert_string_equal(cfg.iscsi.portal_name, "");
        assert_int_equal(load(f, "[iscsi]\nportal = [fd00::1]\n", &cfg, &diag), 0);
        assert_int_equal(load(f, "[iscsi]\n\nportal = 10.0.0.5:99999\n", &cfg, &diag), -EINVAL);
        assert_non_null(
            strstr(diag.error, "agent.conf:3: [iscsi] portal=10.0.0.5:99999: not a portal"));
        assert_int_equal(load(f, "[iscsi]\nportal = [fd00::1\n", &cfg, &diag), -EINVAL);
        /* Without CONFIG_LOAD_RESOLVE (netrootctl) a host name is kept as written. */
        assert_int_equal(load(f, "[iscsi]\nportal = localhost:3262\n", &cfg, &diag), 0);
        assert_string_equal(cfg.iscsi.portal, "localhost:3262");

        path = test_write(f->dir, "agent.conf", "[iscsi]\nportal = localhost:3262\n");
        assert_int_equal(config_load_flags(path, &cfg, &diag, CONFIG_LOAD_RESOLVE), 0);
        assert_string_equal(cfg.iscsi.portal_name, "localhost:3262");
        assert_true(strcmp(cfg.iscsi.portal, "127.0.0.1:3262") == 0 ||
                    strcmp(cfg.iscsi.portal, "[::1]:3262") == 0);
        free(path);
        path = test_write(f->dir, "agent.conf", "# x\n[iscsi]\nportal = nohost.invalid\n");
        assert_int_equal(config_load_flags(path, &cfg, &diag, CONFIG_LOAD_RESOLVE), -EINVAL);
        assert_non_null(strstr(diag.error, "agent.conf:3: [iscsi] portal=nohost.invalid: cannot "
                                           "resolve host name nohost.invalid"));
        free(path);
}

static void test_initiator(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;
        char *line = malloc(300);

        assert_int_equal(load(f, "", &cfg, &diag), 0);
        assert_string_equal(cfg.iscsi.initiator, "auto");
        assert_int_equal(
            load(f, "[iscsi]\ninitiator = iqn.2016-11.org.example:pi1-probe\n", &cfg, &diag), 0);
        assert_string_equal(cfg.iscsi.initiator, "iqn.2016-11.org.example:pi1-probe");
        assert_int_equal(load(f, "[iscsi]\ninitiator = eui.02004567A425678D\n", &cfg, &diag), 0);
        assert_int_equal(load(f, "[iscsi]\ninitiator = pi1\n", &cfg, &diag), -EINVAL);
        assert_non_null(
            strstr(diag.error, "agent.conf:2: [iscsi] initiator=pi1: not an iSCSI name"));
        assert_int_equal(load(f, "[iscsi]\ninitiator = iqn.2016-11.org.example:a b\n", &cfg, &diag),
                         -EINVAL);
        /* 224 characters: one more than iSCSI allows */
        strcpy(line, "[iscsi]\ninitiator = iqn.");
        memset(line + strlen(line), 'a', 220);
        strcpy(line + 24 + 220, "\n");
        assert_int_equal(load(f, line, &cfg, &diag), -EINVAL);
        free(line);
}

static void test_defaults(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;

        assert_int_equal(load(f, "", &cfg, &diag), 0);
        assert_string_equal(cfg.agent.boot_dir, "auto");
        assert_string_equal(cfg.agent.run_dir, "/run/netroot");
        assert_string_equal(cfg.agent.state_dir, "/var/lib/netroot");
        assert_true(cfg.led.enabled);
        assert_string_equal(cfg.led.device, "auto");
        assert_string_equal(cfg.led.trigger_ok, "heartbeat");
        assert_string_equal(cfg.led.trigger_degraded, "timer");
        assert_string_equal(cfg.led.trigger_failed, "default-on");
        assert_int_equal(cfg.ipv6.mode, IPV6_MODE_DISABLE);
        assert_int_equal(cfg.iscsi.probe, PROBE_MODE_DISCOVERY);
        assert_int_equal(cfg.iscsi.probe_interval_usec, 5000000);
        assert_int_equal(cfg.iscsi.probe_timeout_usec, 3000000);
        assert_int_equal(cfg.upgrade.keep, 3);
        assert_int_equal(cfg.upgrade.confirm_after_usec, 120000000);
        assert_int_equal(cfg.upgrade.verify_tftp, VERIFY_TFTP_AUTO);
        assert_int_equal(cfg.upgrade.trial_boot, TRIAL_BOOT_NONE);
}

static void test_missing_file(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;
        char *path;

        assert_true(asprintf(&path, "%s/nope.conf", f->dir) > 0);
        assert_int_equal(config_load(path, &cfg, &diag), -ENOENT);
        assert_string_equal(cfg.agent.boot_dir, "auto");
        free(path);
}

/* boot_dir = auto: the folder the firmware reads, /boot/firmware when it holds config.txt
 * (Debian raspi-firmware, Pi OS bookworm), else /boot; an explicit path is kept. */
static void test_boot_dir_auto(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;
        char *path;

        assert_int_equal(load(f, "", &cfg, &diag), 0);
        assert_int_equal(config_resolve_boot_dir(&cfg, f->dir), 0);
        assert_string_equal(cfg.agent.boot_dir, "/boot");
        assert_true(cfg.agent.boot_dir_auto);

        assert_true(asprintf(&path, "%s/boot/firmware", f->dir) > 0);
        assert_int_equal(mkdir_parents(path, 0755), 0);
        free(path);
        free(test_write(f->dir, "boot/firmware/README", "no config.txt here\n"));
        assert_int_equal(load(f, "", &cfg, &diag), 0);
        assert_int_equal(config_resolve_boot_dir(&cfg, f->dir), 0);
        assert_string_equal(cfg.agent.boot_dir, "/boot");

        free(test_write(f->dir, "boot/firmware/config.txt", "arm_64bit=1\n"));
        assert_int_equal(load(f, "[agent]\nboot_dir = auto\n", &cfg, &diag), 0);
        assert_int_equal(config_resolve_boot_dir(&cfg, f->dir), 0);
        assert_string_equal(cfg.agent.boot_dir, "/boot/firmware");

        assert_int_equal(load(f, "[agent]\nboot_dir = /boot\n", &cfg, &diag), 0);
        assert_int_equal(config_resolve_boot_dir(&cfg, f->dir), 0);
        assert_string_equal(cfg.agent.boot_dir, "/boot");
        assert_false(cfg.agent.boot_dir_auto);

        /* A symlink is not the firmware's folder content. */
        assert_true(asprintf(&path, "%s/boot/firmware/config.txt", f->dir) > 0);
        unlink(path);
        assert_int_equal(symlink("/etc/hostname", path), 0);
        assert_int_equal(load(f, "", &cfg, &diag), 0);
        assert_int_equal(config_resolve_boot_dir(&cfg, f->dir), 0);
        assert_string_equal(cfg.agent.boot_dir, "/boot");
        free(path);
}

static void test_full_file(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;

        assert_int_equal(load(f,
                              "# comment\n"
                              "[agent]\r\nboot_dir=/srv/boot\r\n"
                              "[led]\nenabled = no ; inline comment\ndevice=led0\n"
                              "[ipv6]\nmode=keep\n"
                              "[iscsi]\nprobe=login\nprobe_interval=500ms\nprobe_timeout=2m\n"
                              "username=pi\npassword=s3cret\n"
                              "[upgrade]\nshared_dir=/srv/tftp\nkeep=5\nconfirm_after=1h\n"
                              "verify_tftp=required\ntrial_boot=tryboot\n",
                              &cfg, &diag),
                         0);
        assert_string_equal(cfg.agent.boot_dir, "/srv/boot");
        assert_false(cfg.led.enabled);
        assert_string_equal(cfg.led.device, "led0");
        assert_int_equal(cfg.ipv6.mode, IPV6_MODE_KEEP);
        assert_int_equal(cfg.iscsi.probe, PROBE_MODE_LOGIN);
        assert_int_equal(cfg.iscsi.probe_interval_usec, 500000);
        assert_int_equal(cfg.iscsi.probe_timeout_usec, 120000000);
        assert_string_equal(cfg.iscsi.password, "s3cret");
        assert_string_equal(cfg.upgrade.shared_dir, "/srv/tftp");
        assert_int_equal(cfg.upgrade.keep, 5);
        assert_int_equal(cfg.upgrade.confirm_after_usec, 3600000000ULL);
        assert_int_equal(cfg.upgrade.verify_tftp, VERIFY_TFTP_REQUIRED);
        assert_int_equal(cfg.upgrade.trial_boot, TRIAL_BOOT_TRYBOOT);
        assert_string_equal(diag.warning, "");
}

/* Each bad input must name the file, the line and what is allowed. */
static void expect_error(struct fixture *f, const char *content, const char *line_tag,
                         const char *needle)
{
        struct netroot_config cfg;
        struct config_diag diag;
        char *tag;

        assert_int_equal(load(f, content, &cfg, &diag), -EINVAL);
        assert_true(asprintf(&tag, "/agent.conf:%s: ", line_tag) > 0);
        if (!strstr(diag.error, tag) || !strstr(diag.error, needle))
                fail_msg("error '%s' lacks '%s' or '%s'", diag.error, tag, needle);
        free(tag);
        /* A failed load leaves the defaults, never half of the file. */
        assert_string_equal(cfg.agent.boot_dir, "auto");
}

static void test_errors(void **state)
{
        struct fixture *f = *state;

        expect_error(f, "[agent]\nboot_dir=/x\n[nonsense]\nkey=1\n", "3",
                     "unknown section [nonsense]; allowed: [agent], [led]");
        expect_error(f, "[agent]\n[bogus]\n", "2", "unknown section [bogus]");
        expect_error(f, "[led]\ncolour=red\n", "2",
                     "unknown key 'colour' in [led]; allowed: enabled, device, trigger_ok");
        expect_error(f, "[ipv6]\nmode=off\n", "2",
                     "mode=off: unknown value; allowed: disable, enable, keep");
        expect_error(f, "[iscsi]\n\nprobe_interval=5 parsecs\n", "3", "not a duration");
        expect_error(f, "[iscsi]\nprobe_interval=5ms\n", "2", "out of range; allowed: 10ms to");
        expect_error(f, "[upgrade]\nkeep=0\n", "2", "not a whole number from 1 to 100");
        expect_error(f, "[led]\nenabled=maybe\n", "2", "not a boolean; allowed: yes, no");
        expect_error(f, "[agent]\nboot_dir=boot\n", "2", "must be an absolute path");
        expect_error(f, "[agent]\nthis line has no equals sign\n", "2", "syntax error");
        expect_error(f, "[agent\n", "1", "syntax error");
}

static void test_long_line(void **state)
{
        struct fixture *f = *state;
        char content[600];
        int n;

        n = snprintf(content, sizeof(content), "[agent]\n; fine\nboot_dir=/");
        memset(content + n, 'a', 250);
        strcpy(content + n + 250, "\nrun_dir=/run/x\n");
        expect_error(f, content, "3", "characters long; at most 198 are allowed");
}

static void test_nul_and_utf8(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;
        char *path;
        FILE *out;

        expect_error(f, "[agent]\nboot_dir=/b\xff\xfe\n", "2", "not valid UTF-8");
        assert_true(asprintf(&path, "%s/agent.conf", f->dir) > 0);
        out = fopen(path, "w");
        fwrite("[agent]\nboot_dir=/b\0oot\n", 1, 25, out);
        fclose(out);
        assert_int_equal(config_load(path, &cfg, &diag), -EINVAL);
        assert_non_null(strstr(diag.error, "agent.conf:2: line contains a NUL byte"));
        free(path);
}

static void test_password_permissions(void **state)
{
        struct fixture *f = *state;
        struct netroot_config cfg;
        struct config_diag diag;
        char *path = test_write(f->dir, "agent.conf", "[iscsi]\npassword=hunter2\n");

        chmod(path, 0644);
        assert_int_equal(config_load(path, &cfg, &diag), 0);
        if (getuid() == 0) {
                assert_non_null(strstr(diag.warning, "CHAP password but is readable by non-root"));
                assert_null(strstr(diag.warning, "hunter2"));
                chmod(path, 0600);
                assert_int_equal(config_load(path, &cfg, &diag), 0);
                assert_string_equal(diag.warning, "");
        }
        free(path);
}

static void test_durations(void **state)
{
        uint64_t v;
        bool b;

        (void)state;
        assert_int_equal(config_parse_duration("5s", &v), 0);
        assert_int_equal(v, 5000000);
        assert_int_equal(config_parse_duration("250ms", &v), 0);
        assert_int_equal(v, 250000);
        assert_int_equal(config_parse_duration("2m", &v), 0);
        assert_int_equal(v, 120000000);
        assert_int_equal(config_parse_duration("7", &v), 0);
        assert_int_equal(v, 7000000);
        assert_int_equal(config_parse_duration("1h", &v), 0);
        assert_int_equal(v, 3600000000ULL);
        assert_int_equal(config_parse_duration("-1s", &v), -EINVAL);
        assert_int_equal(config_parse_duration("5 s", &v), -EINVAL);
        assert_int_equal(config_parse_duration("", &v), -EINVAL);
        assert_int_equal(config_parse_duration("99999999999999999999s", &v), -ERANGE);
        assert_int_equal(config_parse_bool("Yes", &b), 0);
        assert_true(b);
        assert_int_equal(config_parse_bool("off", &b), 0);
        assert_false(b);
        assert_int_equal(config_parse_bool("nah", &b), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
            cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
            cmocka_unit_test_setup_teardown(test_portal, setup, teardown),
            cmocka_unit_test_setup_teardown(test_initiator, setup, teardown),
            cmocka_unit_test_setup_teardown(test_boot_dir_auto, setup, teardown),
            cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
            cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
            cmocka_unit_test_setup_teardown(test_nul_and_utf8, setup, teardown),
            cmocka_unit_test_setup_teardown(test_password_permissions, setup, teardown),
            cmocka_unit_test(test_durations),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
