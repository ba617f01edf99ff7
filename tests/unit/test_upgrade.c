/* The upgrade engine as data and as a step table: the plan and the preflight on a sandbox Pi
 * (files only: a Pi 3 that boots vmlinuz-KV and initrd.img-KV, Debian-style), a whole run, and a
 * failure injected at each step in turn (NETROOT_FAULT_FAIL_STEP, a test-build hook): the old
 * boot comes back byte for byte, and the report interface hears the steps up to the failing one
 * and a "rolled back" result. The build step copies a prepared initramfs
 * (NETROOT_TEST_INITRD_FROM); TFTP is a fake fetch that hashes the boot folder's file. */
#include "testutil.h"

#include "testinitrd.h"

#include "config.h"
#include "generation.h"
#include "sha256.h"
#include "tftp_fetch.h"
#include "txn.h"
#include "upgrade.h"

#define UKV     "6.1.0-99-test"
#define USERIAL "511e57f7"
#define PI_CMDLINE                                                                                 \
        "console=tty1 root=UUID=3598ef8e-09be-47ef-9d01-f24cf61dff1d rootwait "                    \
        "ISCSI_INITIATOR=iqn.2016-11.org.raspberrypi:t ISCSI_TARGET_NAME=iqn.2000-01.x:t "         \
        "ISCSI_TARGET_IP=127.0.0.1 ISCSI_TARGET_PORT=3260 rw"

/* ---- the sandbox Pi ---- */

static char *mkpath(const char *root, const char *rel)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", root, rel) > 0);
        return p;
}

static void put(const char *root, const char *rel, const char *text)
{
        char *p = mkpath(root, rel), *cmd;

        assert_true(asprintf(&cmd, "mkdir -p \"$(dirname '%s')\"", p) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(test_write(root, rel, text));
        free(p);
}

static void mkdirs(const char *root, const char *rel)
{
        char *cmd;

        assert_true(asprintf(&cmd, "mkdir -p '%s/%s'", root, rel) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static char *make_pi(void)
{
        char *root = test_tmpdir(), *p;

        put(root, "proc/device-tree/model", "Raspberry Pi 3 Model B Rev 1.2");
        put(root, "proc/cpuinfo",
            "processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: 00000000" USERIAL "\n");
        put(root, "proc/sys/kernel/osrelease", UKV "\n");
        put(root, "boot/config.txt",
            "# test Pi\n[pi3]\nkernel=vmlinuz-" UKV "\ninitramfs initrd.img-" UKV
            " followkernel\n[all]\n");
        put(root, "boot/cmdline.txt", PI_CMDLINE "\n");
        /* The running kernel booted that line: the whole-boot check compares against it. */
        put(root, "proc/cmdline", PI_CMDLINE "\n");
        put(root, "boot/vmlinuz-" UKV, "kernel image");
        put(root, "boot/config-" UKV, "CONFIG_RD_GZIP=y\n");
        put(root, "boot/bcm2710-rpi-3-b.dtb", "dtb");
        put(root, "usr/sbin/iscsistart", "ELF");
        put(root, "usr/sbin/mkinitramfs", "#!/bin/sh\nexit 1\n");
        mkdirs(root, "lib/modules/" UKV);
        mkdirs(root, "run");
        /* The initramfs the Pi boots now (gzip) and the one the build step "makes" (zstd). */
        p = mkpath(root, "boot/initrd.img-" UKV);
        testinitrd_make(root, p, "gzip", UKV, WITH_SD_MOD);
        free(p);
        p = mkpath(root, "new-initrd.img");
        testinitrd_make(root, p, "zstd", UKV, WITH_SD_MOD);
        free(p);
        return root;
}

static void sha_of(const char *root, const char *rel, char hex[SHA256_HEX_SIZE])
{
        char *p = mkpath(root, rel);

        assert_int_equal(sha256_file(p, hex), 0);
        free(p);
}

static bool exists(const char *root, const char *rel)
{
        char *p = mkpath(root, rel);
        bool e = access(p, F_OK) == 0;

        free(p);
        return e;
}

/* ---- a TFTP server that serves the boot folder as <serial>/ ---- */

static const char *fetch_root;

static int fake_fetch(const char *server, const char *path, unsigned timeout_ms,
                      struct tftp_fetch_result *res)
{
        char *p;
        int r;

        (void)server;
        (void)timeout_ms;
        memset(res, 0, sizeof(*res));
        assert_int_equal(strncmp(path, USERIAL "/", strlen(USERIAL) + 1), 0);
        assert_true(asprintf(&p, "%s/boot/%s", fetch_root, path + strlen(USERIAL) + 1) > 0);
        r = sha256_file(p, res->sha256);
        free(p);
        if (r < 0)
                snprintf(res->error, sizeof(res->error), "file not found on server");
        return r;
}

/* ---- a report that records ---- */

struct heard {
        bool plan, preflight, result;
        unsigned n_steps;
        char steps[16][32];
        unsigned idx[16];
        enum upgrade_outcome outcome;
        char failed[32];
};

static void on_plan(void *userdata, const struct upgrade_plan *p)
{
        (void)p;
        ((struct heard *)userdata)->plan = true;
}

static void on_preflight(void *userdata, const struct upgrade_plan *p, bool dry_run)
{
        (void)p;
        (void)dry_run;
        ((struct heard *)userdata)->preflight = true;
}

static void on_step(void *userdata, unsigned idx, unsigned total, const char *name,
                    const char *what)
{
        struct heard *h = userdata;

        (void)what;
        assert_int_equal(total, upgrade_step_count());
        assert_true(h->n_steps < 16);
        h->idx[h->n_steps] = idx;
        snprintf(h->steps[h->n_steps++], sizeof(h->steps[0]), "%s", name);
}

static void on_note(void *userdata, const char *text)
{
        (void)userdata;
        (void)text;
}

static void on_result(void *userdata, const struct upgrade_plan *p, const struct upgrade_result *r)
{
        struct heard *h = userdata;

        (void)p;
        h->result = true;
        h->outcome = r->outcome;
        snprintf(h->failed, sizeof(h->failed), "%s", r->failed_step);
}

static const struct report_ops recorder = {
    .plan = on_plan,
    .preflight = on_preflight,
    .step = on_step,
    .note = on_note,
    .result = on_result,
};

static void options(const char *root, struct netroot_config *cfg, struct upgrade_options *o)
{
        config_set_defaults(cfg);
        snprintf(cfg->agent.boot_dir, sizeof(cfg->agent.boot_dir), "/boot");
        snprintf(cfg->upgrade.tftp, sizeof(cfg->upgrade.tftp), "127.0.0.1:69");
        cfg->upgrade.verify_tftp = VERIFY_TFTP_REQUIRED;
        memset(o, 0, sizeof(*o));
        o->root = root;
        o->cfg = cfg;
        o->command = "test_upgrade";
        o->fetch = fake_fetch;
        fetch_root = root;
}

/* ---- plan and preflight ---- */

static bool saves(const struct upgrade_plan *p, const char *name)
{
        for (size_t i = 0; i < p->save.n_copy; i++)
                if (streq(p->save.copy[i], name))
                        return true;
        return false;
}

static const struct upgrade_check *check_named(const struct upgrade_plan *p, const char *name)
{
        for (size_t i = 0; i < p->n_checks; i++)
                if (streq(p->checks[i].name, name))
                        return &p->checks[i];
        return NULL;
}

static void test_plan_and_preflight(void **state)
{
        char *root = make_pi();
        struct netroot_config cfg;
        struct upgrade_options o;
        struct upgrade_plan p;

        (void)state;
        options(root, &cfg, &o);
        assert_int_equal(upgrade_plan_make(&o, &p), 0);
        assert_string_equal(p.refusal, "");
        assert_string_equal(p.kver, UKV);
        assert_string_equal(p.kver_from, UKV);
        assert_string_equal(p.final, "initrd.img-" UKV);
        assert_string_equal(p.new_file, "initrd.img-" UKV ".netroot-new");
        assert_true(p.final_exists);
        assert_true(p.chroot_build);
        assert_false(p.trial);
        assert_string_equal(p.tftp_server, "127.0.0.1:69");
        assert_true(saves(&p, "config.txt"));
        assert_true(saves(&p, "cmdline.txt"));
        assert_true(saves(&p, "initrd.img-" UKV));
        upgrade_preflight(&p);
        for (size_t i = 0; i < p.n_checks; i++)
                if (!p.checks[i].ok)
                        fail_msg("preflight %s: %s", p.checks[i].name, p.checks[i].detail);
        assert_non_null(check_named(&p, "modules"));
        assert_non_null(check_named(&p, "kernel config"));
        assert_non_null(check_named(&p, "writable"));
        assert_true(upgrade_plan_ok(&p));
        upgrade_plan_free(&p);
        test_rmtree(root);
        free(root);
}

static void test_plan_refusals(void **state)
{
        char *root = make_pi(), *cmd;
        struct netroot_config cfg;
        struct upgrade_options o;
        struct upgrade_plan p;
        const struct upgrade_check *c;

        (void)state;
        options(root, &cfg, &o);
        /* config.txt boots vmlinuz-UKV by name: another kernel would not match it. */
        o.kernel = "6.9.9-other";
        assert_true(upgrade_plan_make(&o, &p) < 0);
        assert_non_null(strstr(p.refusal, "6.9.9-other"));
        assert_false(upgrade_plan_ok(&p));
        upgrade_plan_free(&p);
        o.kernel = NULL;

        /* The kernel's modules gone: the preflight says so, the plan itself stands. */
        assert_true(asprintf(&cmd, "rm -r '%s/lib/modules/" UKV "'", root) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        assert_int_equal(upgrade_plan_make(&o, &p), 0);
        upgrade_preflight(&p);
        c = check_named(&p, "modules");
        assert_non_null(c);
        assert_false(c->ok);
        assert_non_null(strstr(c->detail, "missing"));
        assert_false(upgrade_plan_ok(&p));
        upgrade_plan_free(&p);
        test_rmtree(root);
        free(root);
}

/* ---- the step runner ---- */

static int run_upgrade(const char *root, const char *fail_at, struct heard *h,
                       struct upgrade_result *res)
{
        struct netroot_config cfg;
        struct upgrade_options o;
        struct report rep = {.ops = &recorder, .userdata = h};
        char *from = mkpath(root, "new-initrd.img");
        int r;

        options(root, &cfg, &o);
        memset(h, 0, sizeof(*h));
        setenv("NETROOT_TEST_INITRD_FROM", from, 1);
        if (fail_at)
                setenv("NETROOT_FAULT_FAIL_STEP", fail_at, 1);
        else
                unsetenv("NETROOT_FAULT_FAIL_STEP");
        r = upgrade_run(&o, &rep, res);
        unsetenv("NETROOT_FAULT_FAIL_STEP");
        unsetenv("NETROOT_TEST_INITRD_FROM");
        free(from);
        return r;
}

static void test_run_done(void **state)
{
        char *root = make_pi();
        char before[SHA256_HEX_SIZE], after[SHA256_HEX_SIZE], made[SHA256_HEX_SIZE];
        struct upgrade_result *res = calloc(1, sizeof(*res));
        struct heard h;

        (void)state;
        sha_of(root, "boot/initrd.img-" UKV, before);
        sha_of(root, "new-initrd.img", made);
        assert_int_equal(run_upgrade(root, NULL, &h, res), 0);
        assert_int_equal(res->outcome, UPGRADE_DONE);
        assert_int_equal(res->gen, 1);
        assert_true(h.plan && h.preflight && h.result);
        assert_int_equal(h.outcome, UPGRADE_DONE);
        /* Every step, in the table's order, with its index. */
        assert_int_equal(h.n_steps, upgrade_step_count());
        for (unsigned i = 0; i < h.n_steps; i++) {
                assert_string_equal(h.steps[i], upgrade_step_name(i));
                assert_int_equal(h.idx[i], i);
        }
        sha_of(root, "boot/initrd.img-" UKV, after);
        assert_string_not_equal(after, before);
        assert_string_equal(after, made);
        assert_false(exists(root, "boot/" GEN_STORE "/" TXN_FILE));
        assert_true(exists(root, "boot/" GEN_STORE "/gen-1"));
        test_rmtree(root);
        free(root);
        free(res);
}

/* Step IDX (from upgrade_step_name) fails as it returns: the old boot is back, nothing is left
 * behind, and the report heard the steps up to it and the rollback. */
static void fail_at(unsigned idx)
{
        const char *name = upgrade_step_name(idx);
        char *root = make_pi();
        char cfg_before[SHA256_HEX_SIZE], rd_before[SHA256_HEX_SIZE], sha[SHA256_HEX_SIZE];
        struct upgrade_result *res = calloc(1, sizeof(*res));
        struct heard h;
        int r;

        sha_of(root, "boot/config.txt", cfg_before);
        sha_of(root, "boot/initrd.img-" UKV, rd_before);
        r = run_upgrade(root, name, &h, res);
        if (res->outcome != UPGRADE_ROLLED_BACK)
                fail_msg("step %s: outcome %d, reason %s, rollback %s", name, res->outcome,
                         res->reason, res->rollback);
        assert_int_equal(r, -EIO);
        assert_string_equal(res->failed_step, name);
        assert_non_null(strstr(res->reason, "injected failure"));
        assert_true(res->rollback[0]); /* what the rollback restored */
        assert_true(h.plan && h.preflight && h.result);
        assert_int_equal(h.outcome, UPGRADE_ROLLED_BACK);
        assert_string_equal(h.failed, name);
        /* The steps up to the failing one, none after it. */
        assert_int_equal(h.n_steps, idx + 1);
        assert_string_equal(h.steps[h.n_steps - 1], name);
        sha_of(root, "boot/config.txt", sha);
        assert_string_equal(sha, cfg_before);
        sha_of(root, "boot/initrd.img-" UKV, sha);
        assert_string_equal(sha, rd_before);
        assert_false(exists(root, "boot/initrd.img-" UKV ".netroot-new"));
        assert_false(exists(root, "boot/" GEN_STORE "/" TXN_FILE));
        test_rmtree(root);
        free(root);
        free(res);
}

static void test_fail_each_step(void **state)
{
        unsigned first = 0;

        (void)state;
        while (!streq(upgrade_step_name(first), "backup"))
                first++;
        for (unsigned i = first; i < upgrade_step_count(); i++)
                fail_at(i);
        /* backup, build, check, switch, tftp, record */
        assert_int_equal(upgrade_step_count() - first, 6);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plan_and_preflight),
            cmocka_unit_test(test_plan_refusals),
            cmocka_unit_test(test_run_done),
            cmocka_unit_test(test_fail_each_step),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
