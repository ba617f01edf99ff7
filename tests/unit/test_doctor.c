/* The doctor's parsers: vcgencmd otp_dump, ip=, dhcpcd.conf, ifupdown, shell/iscsid.conf values;
 * and a run over an empty tree (every check reports, nothing crashes). */
#include "testutil.h"

#include "config.h"
#include "doctor.h"

static void test_otp(void **state)
{
        char v[32];

        (void)state;
        assert_int_equal(doctor_parse_otp("16:00280000\n17:3020000a\n18:3020000a\n", v, sizeof(v)),
                         1);
        assert_string_equal(v, "3020000a");
        assert_int_equal(doctor_parse_otp("17:1020000A\r\n", v, sizeof(v)), 1);
        assert_string_equal(v, "1020000a");
        assert_int_equal(doctor_parse_otp("08:00000000\n", v, sizeof(v)), 0);
        assert_int_equal(doctor_parse_otp("", v, sizeof(v)), 0);
        /* "117:" is not row 17 */
        assert_int_equal(doctor_parse_otp("117:3020000a\n", v, sizeof(v)), 0);
}

static void test_ip_iface(void **state)
{
        char i[32];

        (void)state;
        doctor_ip_iface("::::superpi:eth0:dhcp", i, sizeof(i));
        assert_string_equal(i, "eth0");
        doctor_ip_iface("192.168.1.50::192.168.1.1:255.255.255.0:pi:enxb827eb1e57f7:off", i,
                        sizeof(i));
        assert_string_equal(i, "enxb827eb1e57f7");
        doctor_ip_iface("::::pi::dhcp", i, sizeof(i));
        assert_string_equal(i, "eth0");
        doctor_ip_iface("dhcp", i, sizeof(i));
        assert_string_equal(i, "eth0");
        doctor_ip_iface(NULL, i, sizeof(i));
        assert_string_equal(i, "eth0");
        doctor_ip_iface("::::pi", i, sizeof(i));
        assert_string_equal(i, "eth0");
}

static void test_dhcpcd(void **state)
{
        (void)state;
        assert_true(doctor_dhcpcd_denies("hostname\ndenyinterfaces eth0\n", "eth0"));
        assert_true(doctor_dhcpcd_denies("denyinterfaces wlan0 eth*\n", "eth0"));
        assert_true(doctor_dhcpcd_denies("  denyinterfaces\twlan0,eth0\n", "eth0"));
        assert_false(doctor_dhcpcd_denies("denyinterfaces wlan0\n", "eth0"));
        assert_false(doctor_dhcpcd_denies("#denyinterfaces eth0\n", "eth0"));
        assert_false(
            doctor_dhcpcd_denies("interface eth0\nstatic ip_address=1.2.3.4/24\n", "eth0"));
        assert_true(doctor_dhcpcd_denies("allowinterfaces wlan0\n", "eth0"));
        assert_false(doctor_dhcpcd_denies("allowinterfaces wlan0 eth0\n", "eth0"));
        assert_false(doctor_dhcpcd_denies("", "eth0"));
}

static void test_ifupdown(void **state)
{
        (void)state;
        assert_int_equal(doctor_ifupdown_dhcp_line("auto lo\niface lo inet loopback\n\n"
                                                   "allow-hotplug eth0\niface eth0 inet dhcp\n",
                                                   "eth0"),
                         5);
        assert_int_equal(doctor_ifupdown_dhcp_line("iface eth0 inet manual\n", "eth0"), 0);
        assert_int_equal(doctor_ifupdown_dhcp_line("# iface eth0 inet dhcp\n", "eth0"), 0);
        assert_int_equal(doctor_ifupdown_dhcp_line("iface eth1 inet dhcp\n", "eth0"), 0);
        assert_int_equal(doctor_ifupdown_dhcp_line("iface eth0 inet6 dhcp\n", "eth0"), 0);
}

static void test_conf_value(void **state)
{
        char v[64];

        (void)state;
        assert_int_equal(doctor_conf_value("INITRD=No\nINITRD=Yes\n", "INITRD", v, sizeof(v)), 1);
        assert_string_equal(v, "Yes");
        assert_int_equal(doctor_conf_value("export INITRD=\"Yes\" # why\n", "INITRD", v, sizeof(v)),
                         1);
        assert_string_equal(v, "Yes");
        assert_int_equal(doctor_conf_value("INITRD=No # not yet\n", "INITRD", v, sizeof(v)), 1);
        assert_string_equal(v, "No");
        assert_int_equal(doctor_conf_value("#INITRD=Yes\nINITRDX=Yes\n", "INITRD", v, sizeof(v)),
                         0);
        assert_int_equal(doctor_conf_value("node.session.timeo.replacement_timeout = 120\n",
                                           "node.session.timeo.replacement_timeout", v, sizeof(v)),
                         1);
        assert_string_equal(v, "120");
        assert_int_equal(doctor_conf_value("# node.session.timeo.replacement_timeout = 120\n",
                                           "node.session.timeo.replacement_timeout", v, sizeof(v)),
                         0);
}

static void test_empty_tree(void **state)
{
        struct netroot_config cfg;
        struct doctor_options opt = {0};
        struct doctor_report *rep = malloc(sizeof(*rep));
        char *root = test_tmpdir();

        (void)state;
        assert_non_null(rep);
        config_set_defaults(&cfg);
        opt.root = root;
        opt.cfg = &cfg;
        assert_int_equal(doctor_run(&opt, rep), 0);
        assert_true(rep->n >= 18);
        assert_false(doctor_report_ok(rep)); /* no /boot mount, no config.txt, … */
        for (size_t i = 0; i < rep->n; i++) {
                assert_true(rep->checks[i].name[0]);
                assert_true(rep->checks[i].detail[0]);
                if (rep->checks[i].result == DOCTOR_FAIL || rep->checks[i].result == DOCTOR_WARN)
                        assert_true(rep->checks[i].fix[0]);
        }
        assert_string_equal(rep->checks[0].name, "otp-boot-bit");
        assert_int_equal(rep->checks[0].result, DOCTOR_SKIP); /* never run from a sandbox */
        test_rmtree(root);
        free(root);
        free(rep);
}

/* The OTP check runs the program it is given (no shell) and judges row 17. */
static enum doctor_result otp_with(const char *dir, const char *script)
{
        struct netroot_config cfg;
        struct doctor_options opt = {0};
        struct doctor_report *rep = malloc(sizeof(*rep));
        char *prog = NULL;
        enum doctor_result r;

        assert_non_null(rep);
        config_set_defaults(&cfg);
        if (script) {
                prog = test_write(dir, "vcgencmd", script);
                assert_int_equal(chmod(prog, 0755), 0);
        } else
                assert_true(asprintf(&prog, "%s/no-such-vcgencmd", dir) > 0);
        opt.root = dir;
        opt.cfg = &cfg;
        opt.vcgencmd = prog;
        assert_int_equal(doctor_run(&opt, rep), 0);
        assert_string_equal(rep->checks[0].name, "otp-boot-bit");
        r = rep->checks[0].result;
        if (r == DOCTOR_FAIL || r == DOCTOR_WARN)
                assert_true(rep->checks[0].fix[0]);
        free(prog);
        free(rep);
        return r;
}

static void test_otp_run(void **state)
{
        char *dir = test_tmpdir();

        (void)state;
        assert_int_equal(otp_with(dir, "#!/bin/sh\n[ \"$1\" = otp_dump ] || exit 3\n"
                                       "echo 16:00280000; echo 17:3020000a\n"),
                         DOCTOR_OK);
        assert_int_equal(otp_with(dir, "#!/bin/sh\necho 17:1020000a\n"), DOCTOR_FAIL);
        assert_int_equal(otp_with(dir, "#!/bin/sh\necho 16:00280000\n"), DOCTOR_WARN);
        assert_int_equal(otp_with(dir, "#!/bin/sh\nexit 1\n"), DOCTOR_WARN);
        assert_int_equal(otp_with(dir, NULL), DOCTOR_SKIP);
        test_rmtree(dir);
        free(dir);
}

/* The table: every row named and grouped, names unique; --only picks a check or a group. */
static void test_table_and_only(void **state)
{
        struct netroot_config cfg;
        struct doctor_options opt = {0};
        struct doctor_report *rep = malloc(sizeof(*rep));
        char *root = test_tmpdir();
        const struct doctor_check_def *d;

        (void)state;
        assert_non_null(rep);
        assert_true(doctor_check_count() >= 18);
        for (size_t i = 0; (d = doctor_check_def(i)); i++) {
                assert_true(d->name[0] && d->group[0] && d->fn);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(doctor_check_def(j)->name, d->name);
        }
        assert_null(doctor_check_def(doctor_check_count()));
        config_set_defaults(&cfg);
        opt.root = root;
        opt.cfg = &cfg;
        opt.only = "fstab-root";
        assert_int_equal(doctor_run(&opt, rep), 0);
        assert_int_equal(rep->n, 1);
        assert_string_equal(rep->checks[0].name, "fstab-root");
        assert_string_equal(rep->checks[0].group, "boot");
        opt.only = "iscsi";
        assert_int_equal(doctor_run(&opt, rep), 0);
        assert_true(rep->n >= 2);
        for (size_t i = 0; i < rep->n; i++)
                assert_string_equal(rep->checks[i].group, "iscsi");
        opt.only = "no-such-check";
        assert_false(doctor_known(opt.only));
        assert_int_equal(doctor_run(&opt, rep), -ENOENT);
        assert_int_equal(rep->n, 0);
        test_rmtree(root);
        free(root);
        free(rep);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_otp),        cmocka_unit_test(test_ip_iface),
            cmocka_unit_test(test_dhcpcd),     cmocka_unit_test(test_ifupdown),
            cmocka_unit_test(test_conf_value), cmocka_unit_test(test_empty_tree),
            cmocka_unit_test(test_otp_run),    cmocka_unit_test(test_table_and_only),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
