/* The LED module against a sandbox sysfs tree. FAKE: the host has no Pi activity LED; the tree
 * uses the kernel's real format (trigger lists every trigger, the active one in brackets). */
#include "testutil.h"

#include "led.h"

static const char *const kernel_list =
    "none rc-feedback kbd-scrolllock timer oneshot heartbeat backlight gpio cpu cpu0 "
    "default-on input panic mmc1 [mmc0] rfkill-any\n";

struct fixture {
        char *root;
        char *trigger;
        struct led_config cfg;
};

static char *read_file(const char *path)
{
        static char buf[512];
        FILE *f = fopen(path, "r");
        size_t n;

        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        return buf;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char *dir, *cmd;

        f->root = test_tmpdir();
        assert_true(asprintf(&dir, "%s/sys/class/leds/ACT", f->root) > 0);
        assert_true(asprintf(&cmd, "mkdir -p '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        f->trigger = test_write(dir, "trigger", kernel_list);
        free(test_write(dir, "delay_on", "500\n"));
        free(test_write(dir, "delay_off", "500\n"));
        free(dir);
        f->cfg = (struct led_config){.enabled = true};
        strcpy(f->cfg.device, "auto");
        strcpy(f->cfg.trigger_ok, "heartbeat");
        strcpy(f->cfg.trigger_degraded, "timer");
        strcpy(f->cfg.trigger_failed, "default-on");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        test_rmtree(f->root);
        free(f->root);
        free(f->trigger);
        free(f);
        return 0;
}

static void test_parse_triggers(void **state)
{
        char active[64], offered[1024];

        (void)state;
        assert_int_equal(
            led_parse_triggers(kernel_list, active, sizeof(active), offered, sizeof(offered)), 0);
        assert_string_equal(active, "mmc0");
        assert_non_null(strstr(offered, "timer oneshot heartbeat"));
        assert_null(strchr(offered, '['));
        assert_int_equal(
            led_parse_triggers("none timer\n", active, sizeof(active), offered, sizeof(offered)),
            -ENODATA);
        assert_int_equal(
            led_parse_triggers("[none]", active, sizeof(active), offered, sizeof(offered)), 0);
        assert_string_equal(active, "none");
        assert_int_equal(led_parse_triggers(kernel_list, active, sizeof(active), offered, 10),
                         -ENOBUFS);
        /* Fuzzer find (tests/fuzz/regressions/sysfs/): "[]" is no active trigger, and the
         * offered list gets no empty name. */
        assert_int_equal(
            led_parse_triggers("none [] timer\n", active, sizeof(active), offered, sizeof(offered)),
            -ENODATA);
        assert_int_equal(
            led_parse_triggers("[] [mmc0] x", active, sizeof(active), offered, sizeof(offered)), 0);
        assert_string_equal(active, "mmc0");
        assert_string_equal(offered, "[] mmc0 x");
}

static void test_open_show_restore(void **state)
{
        struct fixture *f = *state;
        struct led led;
        char err[512], delay_path[512];

        assert_int_equal(led_open(&led, f->root, &f->cfg), 0);
        assert_true(led.present);
        assert_string_equal(led.name, "ACT");
        assert_string_equal(led.original, "mmc0");
        assert_int_equal(led_validate(&led, &f->cfg, "agent.conf", err, sizeof(err)), 0);

        assert_int_equal(led_show(&led, &f->cfg, HEALTH_UNKNOWN), 0);
        assert_string_equal(read_file(f->trigger), kernel_list);
        assert_int_equal(led_show(&led, &f->cfg, HEALTH_OK), 1);
        assert_string_equal(read_file(f->trigger), "heartbeat");
        assert_int_equal(led_show(&led, &f->cfg, HEALTH_OK), 0);
        assert_int_equal(led_show(&led, &f->cfg, HEALTH_DEGRADED), 1);
        assert_string_equal(read_file(f->trigger), "timer");
        snprintf(delay_path, sizeof(delay_path), "%s/sys/class/leds/ACT/delay_on", f->root);
        assert_string_equal(read_file(delay_path), "500");
        /* The same timer trigger for FAILED blinks faster: it must be rewritten. */
        strcpy(f->cfg.trigger_failed, "timer");
        assert_int_equal(led_show(&led, &f->cfg, HEALTH_FAILED), 1);
        assert_string_equal(read_file(delay_path), "100");
        assert_int_equal(led_restore(&led), 0);
        assert_string_equal(read_file(f->trigger), "mmc0");
}

static void test_validate_names_offered(void **state)
{
        struct fixture *f = *state;
        struct led led;
        char err[1024];

        strcpy(f->cfg.trigger_degraded, "disco");
        assert_int_equal(led_open(&led, f->root, &f->cfg), 0);
        assert_int_equal(led_validate(&led, &f->cfg, "/etc/netroot/agent.conf", err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "/etc/netroot/agent.conf: [led] trigger_degraded=disco"));
        assert_non_null(strstr(err, "offered: none rc-feedback"));
        /* A prefix of an offered trigger is not offered ("heart" vs "heartbeat"). */
        strcpy(f->cfg.trigger_degraded, "heart");
        assert_int_equal(led_validate(&led, &f->cfg, "x", err, sizeof(err)), -EINVAL);
}

static void test_absent_and_disabled(void **state)
{
        struct fixture *f = *state;
        struct led led;
        char err[64];

        strcpy(f->cfg.device, "green");
        assert_int_equal(led_open(&led, f->root, &f->cfg), 0);
        assert_false(led.present);
        strcpy(f->cfg.trigger_ok, "nonsense");
        assert_int_equal(led_validate(&led, &f->cfg, "x", err, sizeof(err)), 0);
        assert_int_equal(led_show(&led, &f->cfg, HEALTH_FAILED), 0);
        strcpy(f->cfg.device, "../../../etc");
        assert_int_equal(led_open(&led, f->root, &f->cfg), -EINVAL);
        f->cfg.enabled = false;
        strcpy(f->cfg.device, "auto");
        assert_int_equal(led_open(&led, f->root, &f->cfg), 0);
        assert_false(led.present);
        assert_string_equal(read_file(f->trigger), kernel_list);
}

/* The original trigger across a crash: kept in a file, taken back by the next start. */
static void test_keep_original(void **state)
{
        struct fixture *f = *state;
        struct led led;
        char *saved, *link;
        FILE *t;

        assert_true(asprintf(&saved, "%s/led-original", f->root) > 0);
        assert_int_equal(led_open(&led, f->root, &f->cfg), 0);
        assert_int_equal(led_keep_original(&led, saved), 0);
        assert_string_equal(read_file(saved), "ACT mmc0\n");
        /* netrootd killed after setting heartbeat; the kernel now shows [heartbeat] */
        t = fopen(f->trigger, "w");
        fputs("none timer [heartbeat] default-on mmc0\n", t);
        fclose(t);
        assert_int_equal(led_open(&led, f->root, &f->cfg), 0);
        assert_string_equal(led.original, "heartbeat");
        assert_int_equal(led_keep_original(&led, saved), 1);
        assert_string_equal(led.original, "mmc0");
        assert_int_equal(led_restore(&led), 0);
        assert_string_equal(read_file(f->trigger), "mmc0");
        assert_int_equal(led_forget_original(saved), 0);
        assert_int_equal(access(saved, F_OK), -1);
        assert_int_equal(led_forget_original(saved), 0);

        /* another LED's name, or a trigger this LED does not offer: not taken */
        free(test_write(f->root, "led-original", "led0 mmc0\n"));
        t = fopen(f->trigger, "w");
        fputs("none timer [heartbeat] default-on mmc0\n", t);
        fclose(t);
        assert_int_equal(led_open(&led, f->root, &f->cfg), 0);
        assert_int_equal(led_keep_original(&led, saved), 0);
        assert_string_equal(led.original, "heartbeat");
        assert_string_equal(read_file(saved), "ACT heartbeat\n");
        free(test_write(f->root, "led-original", "ACT no-such-trigger\n"));
        assert_int_equal(led_keep_original(&led, saved), 0);
        assert_string_equal(led.original, "heartbeat");

        /* a symlink planted at the name is neither followed nor written through */
        unlink(saved);
        assert_true(asprintf(&link, "%s/elsewhere", f->root) > 0);
        free(test_write(f->root, "elsewhere", "ACT mmc0\n"));
        assert_int_equal(symlink(link, saved), 0);
        assert_true(led_keep_original(&led, saved) < 0);
        assert_string_equal(led.original, "heartbeat");
        assert_string_equal(read_file(link), "ACT mmc0\n");
        free(link);
        free(saved);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_triggers),
            cmocka_unit_test_setup_teardown(test_open_show_restore, setup, teardown),
            cmocka_unit_test_setup_teardown(test_validate_names_offered, setup, teardown),
            cmocka_unit_test_setup_teardown(test_absent_and_disabled, setup, teardown),
            cmocka_unit_test_setup_teardown(test_keep_original, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
