#include "testutil.h"

#include <fcntl.h>
#include <time.h>

#include "ctl.h"
#include "fleet.h"
#include "json.h"
#include "generation.h"
#include "identity.h"
#include "fileio.h"
#include "kvfile.h"

/* A generated TFTP root: good, pending (overdue and not), bad, rolled back, skewed firmware,
 * a start/fixup mismatch, misnamed folders, another folder that is no Pi's. */

static void put_vc(FILE *f, const char *s)
{
        size_t n = strlen(s);

        fwrite(s, 1, n, f);
        for (size_t i = 0; i < 4 - n % 4; i++)
                fputc(0, f);
}

/* DIR/NAME: start*.elf files carry BUILD's strings (the shape of a real start.elf). */
static void fake_file(const char *dir, const char *name, const char *build)
{
        char *path, line[128];
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%s %s padding\n", name, build);
        if (strncmp(name, "start", 5) == 0) {
                put_vc(f, "VC_BUILD_ID_VARIANT: start");
                put_vc(f, "VC_BUILD_ID_TIME: Aug 26 2022");
                snprintf(line, sizeof(line), "VC_BUILD_ID_VERSION: %s (clean)", build);
                put_vc(f, line);
        }
        fclose(f);
        free(path);
}

#define B1  "102f1e848393c2112206fadffaaf86db04e98326"
#define B2  "5a6df720540c20d95d530d3fd6885511223d5d20"
#define PI3 "Raspberry Pi 3 Model B Rev 1.2"
#define PI4 "Raspberry Pi 4 Model B Rev 1.4"

static void fake_set(const char *dir, const char *build, bool bootcode)
{
        if (bootcode)
                fake_file(dir, "bootcode.bin", build);
        fake_file(dir, "start.elf", build);
        fake_file(dir, "fixup.dat", build);
}

static char *pi_dir(const char *root, const char *name)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", root, name) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        return p;
}

static void make_gen(const char *pi, unsigned gen, enum gen_status st, const char *kernel, int age)
{
        struct gen_record rec = {0};
        char *store = gen_store_path(pi), *dir = gen_dir_path(pi, gen), *rel;
        struct timespec t[2];

        mkdir(store, 0755);
        mkdir(dir, 0755);
        rec.gen = gen;
        rec.status = (int)st;
        snprintf(rec.created, sizeof(rec.created), "2026-01-01T00:00:00Z");
        snprintf(rec.kernel_to, sizeof(rec.kernel_to), "%s", kernel);
        snprintf(rec.serial, sizeof(rec.serial), "%s", strrchr(pi, '/') + 1);
        assert_int_equal(gen_record_save(pi, &rec, NULL), 0);
        free(test_write(dir, "copy", "0123456789"));
        clock_gettime(CLOCK_REALTIME, &t[0]);
        t[0].tv_sec -= age;
        t[1] = t[0];
        assert_true(asprintf(&rel, "%s/%s", dir, GEN_RECORD) > 0);
        assert_int_equal(utimensat(AT_FDCWD, rel, t, AT_SYMLINK_NOFOLLOW), 0);
        free(rel);
        free(dir);
        free(store);
}

/* The identity record as the agent writes it (identity_record on a sandbox tree). */
static void make_identity(const char *tmp, const char *pi, const char *serial, const char *model,
                          const char *host, unsigned confirm_timeout)
{
        struct netroot_config cfg;
        char *root, *etc, *line, *srv, *parent = strdup(pi);

        /* The Pi's tree: /srv/tftp is the TFTP root (a symlink to it), its boot folder in it. */
        config_set_defaults(&cfg);
        *strrchr(parent, '/') = '\0';
        snprintf(cfg.agent.boot_dir, sizeof(cfg.agent.boot_dir), "/srv/tftp/%s",
                 strrchr(pi, '/') + 1);
        cfg.boot.confirm_timeout_usec = (uint64_t)confirm_timeout * 1000000u;
        assert_true(asprintf(&root, "%s/sys-%s", tmp, host) > 0);
        assert_true(asprintf(&etc, "%s/etc", root) > 0);
        assert_true(asprintf(&srv, "%s/srv", root) > 0);
        mkdir(root, 0755);
        mkdir(etc, 0755);
        mkdir(srv, 0755);
        free(srv);
        assert_true(asprintf(&srv, "%s/srv/tftp", root) > 0);
        assert_int_equal(symlink(parent, srv), 0);
        free(srv);
        free(parent);
        assert_true(asprintf(&line, "%s\n", host) > 0);
        free(test_write(etc, "hostname", line));
        assert_int_equal(identity_record(root, &cfg, model, serial, "upgrade", NULL), 0);
        free(line);
        free(etc);
        free(root);
}

static void boot_files(const char *pi, const char *config)
{
        free(test_write(pi, "config.txt", config));
        free(test_write(pi, "kernel8.img", "k"));
        free(test_write(pi, "initrd.img-6.1.0-rpi7", "i"));
        free(test_write(pi, "initrd.img-6.1.0-rpi8", "i"));
}

static const struct fleet_row *row_of(const struct fleet_view *v, const char *name)
{
        for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->rows[i].name, name) == 0)
                        return &v->rows[i];
        fail_msg("no row %s", name);
        return NULL;
}

static void test_names(void **state)
{
        char why[256], exp[16];

        (void)state;
        assert_int_equal(fleet_name_check("511e57f7", why, sizeof(why), exp), 0);
        assert_int_equal(fleet_name_check("overlays", why, sizeof(why), exp), 0);
        assert_int_equal(fleet_name_check(".netroot-backup", why, sizeof(why), exp), 0);
        assert_int_equal(fleet_name_check("511E57F7", why, sizeof(why), exp), 1);
        assert_string_equal(exp, "511e57f7");
        assert_non_null(strstr(why, "upper case"));
        assert_int_equal(fleet_name_check("b615590", why, sizeof(why), exp), 1);
        assert_string_equal(exp, "0b615590");
        assert_non_null(strstr(why, "7 digits"));
        assert_int_equal(fleet_name_check("00000000511e57f7", why, sizeof(why), exp), 1);
        assert_string_equal(exp, "511e57f7");
        assert_non_null(strstr(why, "low 32 bits"));
        assert_int_equal(fleet_name_check("0x511e57f7", why, sizeof(why), exp), 1);
        assert_string_equal(exp, "511e57f7");
        assert_non_null(strstr(why, "0x"));
}

static void test_view(void **state)
{
        char *tmp = test_tmpdir(), *root, *p, err[256];
        struct fleet_view_options o = {.confirm_timeout = 900, .reboot_grace = 300};
        struct fleet_view v;
        const struct fleet_row *r;

        (void)state;
        assert_true(asprintf(&root, "%s/tftp", tmp) > 0);
        mkdir(root, 0755);
        fake_set(root, B1, true);

        /* good: config.txt with an include and a [pi4] section that must not apply to a Pi 3 */
        p = pi_dir(root, "00000001");
        boot_files(p, "kernel=kernel8.img\ninclude extra.txt\n[pi4]\ninitramfs nothere "
                      "followkernel\n[all]\n");
        free(test_write(p, "extra.txt", "initramfs initrd.img-6.1.0-rpi8 followkernel\n"));
        make_identity(tmp, p, "00000001", PI3, "redpi", 600);
        make_gen(p, 1, GEN_GOOD, "6.1.0-rpi7", 86400);
        make_gen(p, 2, GEN_GOOD, "6.1.0-rpi8", 3600);
        free(p);

        /* pending for two hours: overdue (600 + 300) */
        p = pi_dir(root, "00000002");
        boot_files(p, "kernel=kernel8.img\ninitramfs initrd.img-6.1.0-rpi8 followkernel\n");
        make_identity(tmp, p, "00000002", PI3, "bluepi", 600);
        make_gen(p, 1, GEN_PENDING, "6.1.0-rpi8", 7200);
        free(p);

        /* pending for a minute: not overdue */
        p = pi_dir(root, "00000003");
        boot_files(p, "kernel=kernel8.img\ninitramfs initrd.img-6.1.0-rpi8 followkernel\n");
        make_identity(tmp, p, "00000003", PI4, "greenpi", 600);
        make_gen(p, 1, GEN_PENDING, "6.1.0-rpi8", 60);
        free(p);

        /* bad, and its initramfs missing */
        p = pi_dir(root, "00000004");
        boot_files(p, "kernel=kernel8.img\ninitramfs initrd.img-6.1.0-rpi9 followkernel\n");
        make_identity(tmp, p, "00000004", PI3, "whitepi", 600);
        make_gen(p, 1, GEN_GOOD, "6.1.0-rpi7", 9000);
        make_gen(p, 2, GEN_BAD, "6.1.0-rpi8", 600);
        free(p);

        /* skewed firmware: its own start.elf of another build */
        p = pi_dir(root, "0000000a");
        boot_files(p, "kernel=kernel8.img\ninitramfs initrd.img-6.1.0-rpi8 followkernel\n");
        fake_set(p, B2, false);
        make_identity(tmp, p, "0000000a", PI3, "canary", 600);
        make_gen(p, 1, GEN_ROLLED_BACK, "6.1.0-rpi8", 100);
        free(p);

        /* a Pi that never ran the agent: no identity, nothing to flag */
        free(pi_dir(root, "0000000b"));

        /* misnamed, and folders that are no Pi's */
        free(pi_dir(root, "0000000C"));
        free(pi_dir(root, "b615590"));
        p = pi_dir(root, "redpi");
        free(pi_dir(p, ".netroot"));
        free(p);
        free(pi_dir(root, "overlays"));

        o.tftp_root = root;
        assert_int_equal(fleet_view_load(&o, &v, err, sizeof(err)), 0);
        assert_int_equal(v.n, 9);
        assert_int_equal(v.pis, 6);
        assert_int_equal(v.misnamed, 3);
        assert_true(v.attention);
        assert_non_null(v.bootcode);
        assert_string_equal(v.fw.root_version, B1);
        assert_int_equal(v.lock_r, -ENOENT);
        assert_string_equal(v.reason, "");

        r = row_of(&v, "00000001");
        assert_false(r->attention);
        assert_string_equal(r->reason, "");
        assert_string_equal(r->id.hostname, "redpi");
        assert_string_equal(r->id.model, PI3);
        assert_string_equal(r->board, "pi3");
        assert_int_equal(r->boot_r, 0);
        assert_string_equal(r->kernel, "kernel8.img");
        assert_true(r->kernel_present);
        assert_string_equal(r->initramfs, "initrd.img-6.1.0-rpi8");
        assert_true(r->initramfs_present);
        assert_int_equal(r->gens, 2);
        assert_int_equal(r->good, 2);
        assert_int_equal(r->newest, 2);
        assert_int_equal(r->newest_status, GEN_GOOD);
        assert_string_equal(r->newest_kernel, "6.1.0-rpi8");
        assert_in_range(r->newest_age, 3595, 3700);
        assert_true(r->gen_bytes > 0);
        assert_non_null(r->fw);
        assert_false(r->fw->own);
        assert_false(r->fw->skew);
        assert_string_equal(r->fw->version, B1);

        r = row_of(&v, "00000002");
        assert_true(r->attention);
        assert_true(r->pending_overdue);
        assert_int_equal(r->pending_gen, 1);
        assert_in_range(r->pending_age, 7195, 7300);
        assert_int_equal(r->confirm_timeout, 600);
        assert_non_null(strstr(r->reason, "generation 1 pending for"));

        r = row_of(&v, "00000003");
        assert_false(r->attention);
        assert_false(r->pending_overdue);
        assert_int_equal(r->pending, 1);
        assert_string_equal(r->board, "pi4");

        r = row_of(&v, "00000004");
        assert_true(r->attention);
        assert_int_equal(r->bad, 1);
        assert_int_equal(r->good, 1);
        assert_int_equal(r->newest_status, GEN_BAD);
        assert_false(r->initramfs_present);
        assert_non_null(strstr(r->reason, "generation 2 is bad"));
        assert_non_null(strstr(r->reason, "initramfs initrd.img-6.1.0-rpi9 is not in the folder"));

        r = row_of(&v, "0000000a");
        assert_true(r->attention);
        assert_non_null(r->fw);
        assert_true(r->fw->own);
        assert_true(r->fw->skew);
        assert_string_equal(r->fw->version, B2);
        assert_int_equal(r->rolled_back, 1);
        assert_non_null(strstr(r->reason, "firmware skew"));
        assert_non_null(strstr(r->reason, "generation 1 was rolled back"));

        r = row_of(&v, "0000000b");
        assert_false(r->attention);
        assert_int_equal(r->identity_r, -ENOENT);
        assert_int_equal(r->boot_r, -ENODATA);
        assert_int_equal(r->newest, 0);
        assert_int_equal(r->confirm_timeout, 900);

        r = row_of(&v, "0000000C");
        assert_true(r->misnamed);
        assert_string_equal(r->expected, "0000000c");
        assert_null(r->fw);
        assert_non_null(strstr(r->reason, "upper case"));
        r = row_of(&v, "b615590");
        assert_true(r->misnamed);
        assert_string_equal(r->expected, "0b615590");
        r = row_of(&v, "redpi");
        assert_true(r->misnamed);
        assert_non_null(strstr(r->reason, "no serial"));
        fleet_view_free(&v);

        /* The root without bootcode.bin: the root needs attention. */
        assert_true(asprintf(&p, "%s/bootcode.bin", root) > 0);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(fleet_view_load(&o, &v, err, sizeof(err)), 0);
        assert_null(v.bootcode);
        assert_non_null(strstr(v.reason, "no bootcode.bin"));
        fleet_view_free(&v);

        test_rmtree(tmp);
        free(root);
        free(tmp);
}

/* `netrootctl fleet --json` as the command prints it (ctl_fleet), stdout caught in OUT. */
static int run_json(const char *root, const char *out)
{
        struct ctl_context ctx = {0};
        char *argv[] = {"fleet", "--tftp-root", (char *)root, "--json", NULL};
        int saved, fd, rc;

        config_set_defaults(&ctx.cfg);
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(saved >= 0 && fd >= 0);
        dup2(fd, STDOUT_FILENO);
        close(fd);
        rc = ctl_fleet(&ctx, 4, argv);
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        return rc;
}

static const struct json_value *json_row(const struct json_value *doc, const char *folder)
{
        for (const struct json_value *r = json_get(doc, "rows")->child; r; r = r->next)
                if (strcmp(json_get_string(r, "folder", ""), folder) == 0)
                        return r;
        fail_msg("no JSON row %s", folder);
        return NULL;
}

/* The JSON, field by field, on a root with a good, a pending (overdue), a bad, a skewed and a
 * misnamed folder. */
static void test_json(void **state)
{
        char *tmp = test_tmpdir(), *root, *p, *out, *text, err[128];
        const struct json_value *r, *g, *fw;
        struct json_value *doc = NULL;
        size_t len;

        (void)state;
        assert_true(asprintf(&root, "%s/tftp", tmp) > 0);
        assert_true(asprintf(&out, "%s/out.json", tmp) > 0);
        mkdir(root, 0755);
        fake_set(root, B1, true);
        p = pi_dir(root, "00000001");
        boot_files(p, "kernel=kernel8.img\ninitramfs initrd.img-6.1.0-rpi8 followkernel\n");
        make_identity(tmp, p, "00000001", PI3, "redpi", 600);
        make_gen(p, 1, GEN_GOOD, "6.1.0-rpi8", 3600);
        free(p);
        p = pi_dir(root, "00000002");
        boot_files(p, "kernel=kernel8.img\ninitramfs initrd.img-6.1.0-rpi8 followkernel\n");
        make_identity(tmp, p, "00000002", PI4, "bluepi", 600);
        make_gen(p, 1, GEN_PENDING, "6.1.0-rpi8", 7200);
        free(p);
        p = pi_dir(root, "00000003");
        boot_files(p, "kernel=kernel8.img\ninitramfs initrd.img-6.1.0-rpi8 followkernel\n");
        make_identity(tmp, p, "00000003", PI3, "whitepi", 600);
        make_gen(p, 1, GEN_BAD, "6.1.0-rpi8", 60);
        free(p);
        p = pi_dir(root, "0000000a");
        fake_set(p, B2, false);
        free(p);
        free(pi_dir(root, "0000000B"));

        assert_int_equal(run_json(root, out), CTL_EXIT_FAILED);
        assert_int_equal(file_read_all(out, 1 << 20, &text, &len), 0);
        assert_int_equal(json_parse(text, len, &doc, err, sizeof(err)), 0);
        assert_string_equal(json_get_string(doc, "tftp_root", ""), root);
        assert_int_equal((int)json_get_number(doc, "pis", -1), 4);
        assert_int_equal((int)json_get_number(doc, "misnamed", -1), 1);
        assert_true(json_get_bool(doc, "attention", false));
        assert_string_equal(json_get_string(doc, "root_firmware_version", ""), B1);
        assert_string_equal(json_get_string(json_get(doc, "bootcode"), "came_with_version", ""),
                            B1);
        assert_int_equal(json_get(doc, "lock")->type, JSON_NULL);

        r = json_row(doc, "00000001");
        assert_false(json_get_bool(r, "misnamed", true));
        assert_string_equal(json_get_string(r, "serial", ""), "00000001");
        assert_string_equal(json_get_string(r, "hostname", ""), "redpi");
        assert_string_equal(json_get_string(r, "model", ""), PI3);
        assert_string_equal(json_get_string(r, "board", ""), "pi3");
        assert_string_equal(json_get_string(r, "kernel", ""), "kernel8.img");
        assert_true(json_get_bool(r, "kernel_present", false));
        assert_string_equal(json_get_string(r, "initramfs", ""), "initrd.img-6.1.0-rpi8");
        assert_true(json_get_bool(r, "initramfs_present", false));
        assert_string_equal(json_get_string(r, "boot_error", "x"), "");
        g = json_get(r, "generations");
        assert_int_equal((int)json_get_number(g, "total", -1), 1);
        assert_int_equal((int)json_get_number(g, "good", -1), 1);
        assert_int_equal((int)json_get_number(g, "pending", -1), 0);
        assert_int_equal((int)json_get_number(g, "newest", -1), 1);
        assert_string_equal(json_get_string(g, "newest_status", ""), "good");
        assert_string_equal(json_get_string(g, "newest_kernel", ""), "6.1.0-rpi8");
        assert_in_range((long)json_get_number(g, "newest_age_seconds", -1), 3595, 3700);
        assert_int_equal((int)json_get_number(g, "pending_generation", -1), 0);
        assert_int_equal((int)json_get_number(g, "pending_age_seconds", 0), -1);
        assert_int_equal((int)json_get_number(g, "confirm_timeout_seconds", -1), 600);
        assert_false(json_get_bool(g, "pending_overdue", true));
        assert_true(json_get_number(g, "bytes", 0) > 0);
        fw = json_get(r, "firmware");
        assert_string_equal(json_get_string(fw, "boots_from", ""), "root");
        assert_string_equal(json_get_string(fw, "version", ""), B1);
        assert_false(json_get_bool(fw, "skew", true));
        assert_true(json_get_bool(fw, "pairs_ok", false));
        assert_false(json_get_bool(r, "attention", true));
        assert_string_equal(json_get_string(r, "reason", "x"), "");

        r = json_row(doc, "00000002");
        g = json_get(r, "generations");
        assert_string_equal(json_get_string(r, "board", ""), "pi4");
        assert_int_equal((int)json_get_number(g, "pending", -1), 1);
        assert_int_equal((int)json_get_number(g, "pending_generation", -1), 1);
        assert_in_range((long)json_get_number(g, "pending_age_seconds", -1), 7195, 7300);
        assert_true(json_get_bool(g, "pending_overdue", false));
        assert_true(json_get_bool(r, "attention", false));
        assert_non_null(strstr(json_get_string(r, "reason", ""), "generation 1 pending for"));

        r = json_row(doc, "00000003");
        g = json_get(r, "generations");
        assert_int_equal((int)json_get_number(g, "bad", -1), 1);
        assert_string_equal(json_get_string(g, "newest_status", ""), "bad");
        assert_string_equal(json_get_string(r, "reason", ""), "generation 1 is bad");

        r = json_row(doc, "0000000a");
        fw = json_get(r, "firmware");
        assert_string_equal(json_get_string(fw, "boots_from", ""), "own");
        assert_string_equal(json_get_string(fw, "version", ""), B2);
        assert_true(json_get_bool(fw, "skew", false));
        assert_string_equal(json_get_string(r, "hostname", "x"), "");
        assert_non_null(strstr(json_get_string(r, "reason", ""), "firmware skew"));

        r = json_row(doc, "0000000B");
        assert_true(json_get_bool(r, "misnamed", false));
        assert_string_equal(json_get_string(r, "expected", ""), "0000000b");
        assert_int_equal(json_get(r, "firmware")->type, JSON_NULL);
        assert_non_null(strstr(json_get_string(r, "reason", ""), "upper case"));

        json_free(doc);
        free(text);
        test_rmtree(tmp);
        free(out);
        free(root);
        free(tmp);
}

/* The identity record is strict KEY=VALUE, read back as written. */
static void test_identity(void **state)
{
        char *tmp = test_tmpdir(), *pi;
        struct identity id;

        (void)state;
        pi = pi_dir(tmp, "511e57f7");
        make_identity(tmp, pi, "511e57f7", PI3, "redpi", 1200);
        assert_int_equal(identity_load(pi, &id, NULL), 0);
        assert_string_equal(id.serial, "511e57f7");
        assert_string_equal(id.model, PI3);
        assert_string_equal(id.hostname, "redpi");
        assert_string_equal(id.command, "upgrade");
        assert_int_equal(id.confirm_timeout, 1200);
        free(test_write(pi, ".netroot/identity", "serial=511e57f7\nserial=00000001\n"));
        assert_true(identity_load(pi, &id, NULL) < 0);
        test_rmtree(tmp);
        free(pi);
        free(tmp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_view),
            cmocka_unit_test(test_json),
            cmocka_unit_test(test_identity),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
