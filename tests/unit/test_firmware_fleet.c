#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>

#include "cluster_lock.h"
#include "firmware_fleet.h"
#include "generation.h"
#include "tftp_fetch.h"

/* ---- FAKE firmware in the real start.elf's format -------------------------------------------
 * A real start*.elf (Debian raspi-firmware 1.20220830) holds NUL-terminated strings padded to 4
 * bytes: "VC_BUILD_ID_USER: dom", "VC_BUILD_ID_TIME: 14:04:36", "VC_BUILD_ID_VARIANT: start",
 * "VC_BUILD_ID_TIME: Aug 26 2022", …, "VC_BUILD_ID_VERSION: <40 hex> (clean)". */

static void put_vc(FILE *f, const char *s)
{
        size_t n = strlen(s);

        fwrite(s, 1, n, f);
        for (size_t i = 0; i < 4 - n % 4; i++)
                fputc(0, f);
}

static void random_bytes(FILE *f, size_t n, unsigned seed)
{
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245 + 12345;
                fputc((int)(seed >> 16) & 0xff, f);
        }
}

/* Writes DIR/NAME; start*.elf files get the build strings of BUILD after PAD bytes. */
static void fake_file(const char *dir, const char *name, const char *build, size_t pad)
{
        char *path, line[128];
        FILE *f;
        unsigned seed = (unsigned)strlen(name) * 7919u;

        for (const char *p = build; *p; p++)
                seed = seed * 31 + (unsigned char)*p;
        for (const char *p = name; *p; p++)
                seed = seed * 131 + (unsigned char)*p;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        random_bytes(f, pad, seed);
        if (strncmp(name, "start", 5) == 0) {
                put_vc(f, "VC_BUILD_ID_USER: dom");
                put_vc(f, "VC_BUILD_ID_TIME: 14:04:36");
                snprintf(line, sizeof(line), "VC_BUILD_ID_VARIANT: %.*s", (int)(strlen(name) - 4),
                         name);
                put_vc(f, line);
                put_vc(f, "VC_BUILD_ID_TIME: Aug 26 2022");
                put_vc(f, "VC_BUILD_ID_BRANCH: bcm2711_2");
                snprintf(line, sizeof(line), "VC_BUILD_ID_VERSION: %s (clean)", build);
                put_vc(f, line);
                random_bytes(f, 3000, seed + 1);
        }
        fclose(f);
        free(path);
}

#define B1 "102f1e848393c2112206fadffaaf86db04e98326"
#define B2 "5a6df720540c20d95d530d3fd6885511223d5d20"

static const char *const set_names[] = {"bootcode.bin", "fixup.dat", "fixup_x.dat", "start.elf",
                                        "start_x.elf"};
#define NSET (sizeof(set_names) / sizeof(set_names[0]))

static void fake_set(const char *dir, const char *build)
{
        mkdir(dir, 0755);
        for (size_t i = 0; i < NSET; i++)
                fake_file(dir, set_names[i], build, 5000 + 100 * i);
}

static char *pi_dir(const char *root, const char *serial)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", root, serial) > 0);
        mkdir(p, 0755);
        return p;
}

/* Generation GEN with STATUS in PI's store, written the way the agent writes records. */
static void make_gen(const char *pi, unsigned gen, const char *status)
{
        struct gen_record rec = {0};
        char *dir, *store = gen_store_path(pi);

        mkdir(store, 0755);
        dir = gen_dir_path(pi, gen);
        mkdir(dir, 0755);
        rec.gen = gen;
        snprintf(rec.created, sizeof(rec.created), "2026-01-01T00:00:00Z");
        enum gen_status st;

        assert_int_equal(gen_status_from_string(status, &st), 0);
        rec.status = (int)st;
        snprintf(rec.serial, sizeof(rec.serial), "%s", strrchr(pi, '/') + 1);
        assert_int_equal(gen_record_save(pi, &rec, NULL), 0);
        free(dir);
        free(store);
}

static void backdate(const char *dir, const char *name, int seconds)
{
        struct timespec t[2];
        char *p;

        clock_gettime(CLOCK_REALTIME, &t[0]);
        t[0].tv_sec -= seconds;
        t[1] = t[0];
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        assert_int_equal(utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW), 0);
        free(p);
}

static void sha_of(const char *dir, const char *name, char hex[SHA256_HEX_SIZE])
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        assert_int_equal(sha256_file(p, hex), 0);
        free(p);
}

static bool same_set(const char *a, const char *b)
{
        for (size_t i = 0; i < NSET; i++) {
                char x[SHA256_HEX_SIZE], y[SHA256_HEX_SIZE];

                sha_of(a, set_names[i], x);
                sha_of(b, set_names[i], y);
                if (strcmp(x, y) != 0)
                        return false;
        }
        return true;
}

/* ---- firmware_version ---------------------------------------------------------------------- */

static void test_version(void **state)
{
        char *dir = test_tmpdir(), *p, sha[SHA256_HEX_SIZE], want[SHA256_HEX_SIZE];
        struct firmware_version v;

        (void)state;
        fake_file(dir, "start_x.elf", B1, 9000);
        assert_true(asprintf(&p, "%s/start_x.elf", dir) > 0);
        assert_int_equal(firmware_version_read(p, &v, sha), 1);
        assert_string_equal(v.build, B1);
        assert_true(v.clean);
        assert_string_equal(v.variant, "start_x");
        assert_string_equal(v.date, "Aug 26 2022"); /* not the other TIME, 14:04:36 */
        assert_int_equal(sha256_file(p, want), 0);
        assert_string_equal(sha, want);
        free(p);
        /* the strings across a 64 KiB read boundary, at every offset around it */
        for (size_t pad = 65536 - 200; pad < 65536 + 8; pad += 13) {
                fake_file(dir, "start.elf", B2, pad);
                assert_true(asprintf(&p, "%s/start.elf", dir) > 0);
                assert_int_equal(firmware_version_read(p, &v, NULL), 1);
                assert_string_equal(v.build, B2);
                assert_string_equal(v.date, "Aug 26 2022");
                free(p);
        }
        /* bootcode.bin and fixup*.dat carry none */
        fake_file(dir, "fixup.dat", B1, 7000);
        assert_true(asprintf(&p, "%s/fixup.dat", dir) > 0);
        assert_int_equal(firmware_version_read(p, &v, sha), 0);
        assert_string_equal(v.build, "");
        free(p);
        /* a truncated string at the very end: no version, no over-read */
        p = test_write(dir, "start_cd.elf", "junk VC_BUILD_ID_VERSION: 1234");
        assert_int_equal(firmware_version_read(p, &v, NULL), 0);
        free(p);
        assert_int_equal(firmware_version_read("/nonexistent", &v, NULL), -ENOENT);
        test_rmtree(dir);
        free(dir);
}

/* ---- status -------------------------------------------------------------------------------- */

static const struct fleet_pi *find_pi(const struct fleet_status *st, const char *serial)
{
        for (size_t i = 0; i < st->npis; i++)
                if (strcmp(st->pis[i].serial, serial) == 0)
                        return &st->pis[i];
        return NULL;
}

static void test_status(void **state)
{
        char *root = test_tmpdir(), *a, *b, *c, *d, *p, err[512];
        struct fleet_status st;
        const struct fleet_pi *pi;

        (void)state;
        fake_set(root, B1);
        a = pi_dir(root, "0b615590"); /* boots the root's set */
        b = pi_dir(root, "511e57f7"); /* the canary: its own set, another version */
        fake_set(b, B2);
        make_gen(b, 1, "good");
        c = pi_dir(root, "22bba2d2"); /* its own copy of the root's set: no skew */
        assert_true(asprintf(&p, "cp '%s'/start.elf '%s'/fixup.dat '%s/'", root, root, c) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        d = pi_dir(root, "1a2b3c04"); /* its own start.elf without fixup.dat */
        fake_file(d, "start.elf", B2, 100);
        /* not serial folders: ignored */
        free(pi_dir(root, "511E57F7"));
        free(pi_dir(root, "511e57f70"));
        free(pi_dir(root, "overlays"));

        assert_int_equal(firmware_fleet_status(root, &st, err, sizeof(err)), 0);
        assert_int_equal(st.npis, 4);
        assert_int_equal(st.nroot, NSET);
        assert_string_equal(st.root_version, B1);
        assert_int_equal(st.root_pairs, 1);
        pi = find_pi(&st, "0b615590");
        assert_false(pi->own);
        assert_false(pi->skew);
        assert_string_equal(pi->version, B1);
        assert_int_equal(pi->n, NSET - 1); /* not bootcode.bin */
        assert_int_equal(pi->gen, 0);
        pi = find_pi(&st, "511e57f7");
        assert_true(pi->own);
        assert_true(pi->skew);
        assert_string_equal(pi->version, B2);
        assert_int_equal(pi->pairs, 1);
        assert_int_equal(pi->gen, 1);
        assert_string_equal(pi->gen_status, "good");
        pi = find_pi(&st, "22bba2d2");
        assert_true(pi->own);
        assert_false(pi->skew);
        pi = find_pi(&st, "1a2b3c04");
        assert_true(pi->skew);
        assert_int_equal(pi->pairs, 0);
        assert_non_null(strstr(pi->pairs_why, "fixup.dat"));
        assert_int_equal(st.skewed, 2);
        assert_int_equal(st.mismatched, 1);
        /* two versions: B1 (root, 2 Pis), B2 (2 Pis, two different start.elf: 1a2b3c04's is its
         * own build of B2, same version string, other bytes) */
        assert_int_equal(st.nversions, 3);
        assert_string_equal(st.versions[0].version, B1);
        assert_true(st.versions[0].root);
        assert_int_equal(st.versions[0].pis, 2);
        assert_int_equal(st.txn, 0);
        firmware_fleet_status_free(&st);
        assert_true(firmware_fleet_status("/nonexistent", &st, err, sizeof(err)) < 0);
        free(a);
        free(b);
        free(c);
        free(d);
        test_rmtree(root);
        free(root);
}

/* ---- promote, rollback --------------------------------------------------------------------- */

/* A TFTP server stand-in for the unit test: serves the files of fetch_root (or wrong bytes). */
static const char *fetch_root;
static bool fetch_lies;

static int fake_fetch(const char *server, const char *path, unsigned timeout_ms,
                      struct tftp_fetch_result *res)
{
        (void)server;
        (void)timeout_ms;
        memset(res, 0, sizeof(*res));
        sha_of(fetch_root, path, res->sha256);
        if (fetch_lies)
                res->sha256[0] = res->sha256[0] == '0' ? '1' : '0';
        return 0;
}

static void test_promote(void **state)
{
        char *root = test_tmpdir(), *pi, *saved, *p, err[1024];
        struct fleet_options o = {.lock_wait_sec = 0};
        struct fleet_result res;

        (void)state;
        fake_set(root, B1);
        saved = pi_dir(root, "saved-v1");
        assert_true(asprintf(&p, "cp -p '%s'/*.* '%s/'", root, saved) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        pi = pi_dir(root, "511e57f7");
        fake_set(pi, B2);
        o.tftp_root = root;
        o.serial = "511e57f7";

        /* never confirmed */
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "no generation"));
        /* confirmation pending */
        make_gen(pi, 1, "pending");
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "generation 1 is pending"));
        /* good, but confirmed before the firmware was put there */
        make_gen(pi, 2, "good");
        {
                char *gdir = gen_dir_path(pi, 2);

                backdate(gdir, GEN_RECORD, 3600);
                free(gdir);
        }
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "changed after generation 2 was confirmed good"));
        /* an mtime set back (cp -p) does not help: the ctime is the file system's */
        for (size_t i = 0; i < NSET; i++)
                backdate(pi, set_names[i], 7200);
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "changed after generation 2"));
        /* confirmed after: now a mismatched pair elsewhere refuses it */
        make_gen(pi, 3, "good");
        {
                char *other = pi_dir(root, "0b615590");

                fake_file(other, "start.elf", B1, 10);
                free(other);
        }
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "mismatched start/fixup pair"));
        assert_non_null(strstr(err, "0b615590/start.elf has no fixup.dat"));
        assert_true(asprintf(&p, "rm -rf '%s/0b615590'", root) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        assert_true(same_set(root, saved)); /* nothing changed by the refusals */

        /* promoted, fetched back over "TFTP": root = canary's set, the old set in a backup */
        fetch_root = root;
        o.tftp_server = "127.0.0.1:69";
        o.fetch = fake_fetch;
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), 0);
        assert_int_equal(res.gen, 3);
        assert_int_equal(res.installed.n, NSET);
        assert_int_equal(res.verified, 1);
        assert_int_equal(res.release, 0);
        assert_true(same_set(root, pi));
        assert_non_null(strstr(res.backup, "-before-promote-511e57f7"));
        assert_true(same_set(res.backup, saved));
        assert_int_equal(cluster_lock_read(root, NULL), -ENOENT);
        /* again: unchanged */
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), 0);
        assert_true(res.unchanged);

        /* rollback: the previous set back */
        assert_int_equal(firmware_fleet_rollback(&o, &res, err, sizeof(err)), 0);
        assert_true(same_set(root, saved));
        assert_int_equal(res.verified, 1);

        /* the server serves something else: the promotion is undone */
        fetch_lies = true;
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EIO);
        assert_true(res.undone);
        assert_non_null(strstr(err, "put back"));
        assert_true(same_set(root, saved));
        fetch_lies = false;

        /* no server: promoted, the check skipped with a note; required: refused up front */
        o.tftp_server = NULL;
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), 0);
        assert_int_equal(res.verified, 0);
        assert_non_null(strstr(res.verify_note, "skipped"));
        o.verify_required = true;
        assert_int_equal(firmware_fleet_rollback(&o, &res, err, sizeof(err)), -EINVAL);
        o.verify_required = false;

        /* a bad serial, a Pi that boots the root's set */
        o.serial = "../etc";
        assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EINVAL);
        o.serial = "22bba2d2";
        {
                char *q = pi_dir(root, "22bba2d2");

                make_gen(q, 1, "good");
                fake_file(q, "fixup.dat", B1, 10);
                assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EPERM);
                assert_non_null(strstr(err, "no start.elf"));
                free(q);
        }
        /* held by someone else */
        {
                struct cluster_lock l = {0};

                assert_int_equal(cluster_lock_acquire(&l, root, "0badc0de", 600, 0, NULL), 0);
                o.serial = "511e57f7";
                assert_int_equal(firmware_fleet_promote(&o, &res, err, sizeof(err)), -EBUSY);
                assert_non_null(strstr(res.holder, "0badc0de@"));
                assert_non_null(strstr(res.holder, "NAS clock"));
                assert_int_equal(cluster_lock_release(&l), 0);
        }
        assert_int_equal(firmware_fleet_recover(&o, &res, err, sizeof(err)), 0);
        assert_int_equal(res.recovered, 0);
        free(pi);
        free(saved);
        test_rmtree(root);
        free(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_version),
            cmocka_unit_test(test_status),
            cmocka_unit_test(test_promote),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
