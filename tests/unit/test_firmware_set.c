#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <regex.h>

#include "firmware_set.h"

static const char *const set_names[] = {"bootcode.bin", "fixup.dat", "fixup_x.dat", "start.elf",
                                        "start_x.elf"};
#define NSET (sizeof(set_names) / sizeof(set_names[0]))

static int eq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static void write_random(const char *dir, const char *name, size_t len)
{
        char *cmd;

        assert_true(asprintf(&cmd, "head -c %zu /dev/urandom > '%s/%s'", len, dir, name) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

/* A TFTP root with the firmware set, a Pi's folder and other files that are not part of it. */
static char *make_root(void)
{
        char *dir = test_tmpdir(), *p;

        for (size_t i = 0; i < NSET; i++)
                write_random(dir, set_names[i], 1000 + 70000 * i);
        free(test_write(dir, "config.txt", "not firmware\n"));
        free(test_write(dir, ".start.elf.swp", "editor junk\n"));
        assert_true(asprintf(&p, "%s/511e57f7", dir) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);
        free(test_write(dir, "511e57f7/start.elf", "per-Pi copy, not the shared set\n"));
        return dir;
}

static void hash_of(const char *dir, const char *name, char hex[SHA256_HEX_SIZE])
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        assert_int_equal(sha256_file(p, hex), 0);
        free(p);
}

/* The hashes of the whole set, to compare states. */
static void snapshot(const char *dir, char hex[NSET][SHA256_HEX_SIZE])
{
        for (size_t i = 0; i < NSET; i++)
                hash_of(dir, set_names[i], hex[i]);
}

static int count_matching(const char *dir, const char *suffix)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t a = strlen(de->d_name), b = strlen(suffix);
                if (a >= b && eq(de->d_name + a - b, suffix))
                        n++;
        }
        closedir(d);
        return n;
}

static void test_scan(void **state)
{
        char *dir = make_root(), hex[SHA256_HEX_SIZE], err[256];
        struct firmware_set set;

        (void)state;
        assert_int_equal(firmware_set_scan(dir, &set), 0);
        assert_int_equal(set.n, NSET);
        for (size_t i = 0; i < NSET; i++) {
                /* sorted by name, hashed, sized */
                assert_string_equal(set.files[i].name, set_names[i]);
                hash_of(dir, set_names[i], hex);
                assert_string_equal(set.files[i].sha256, hex);
                assert_int_equal(set.files[i].size, 1000 + 70000 * i);
        }
        assert_int_equal(firmware_set_scan_err("/nonexistent-dir", &set, err, sizeof(err)),
                         -ENOENT);
        assert_non_null(strstr(err, "/nonexistent-dir"));
        test_rmtree(dir);
        free(dir);
}

static void test_backup_modify_restore(void **state)
{
        char *dir = make_root(), *top, *p, *cmd, bdir[4096], bdir2[4096], err[256];
        char before[NSET][SHA256_HEX_SIZE], after[NSET][SHA256_HEX_SIZE];
        struct firmware_set set;
        struct stat st;
        regex_t re;

        (void)state;
        snapshot(dir, before);
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), &set), 0);
        assert_int_equal(set.n, NSET);
        /* <shared>/.netroot-backup/YYYYmmddTHHMMSSZ-<serial>, 0755 */
        assert_true(asprintf(&p, "^%s/\\.netroot-backup/[0-9]{8}T[0-9]{6}Z-511e57f7$", dir) > 0);
        assert_int_equal(regcomp(&re, p, REG_EXTENDED | REG_NOSUB), 0);
        assert_int_equal(regexec(&re, bdir, 0, NULL, 0), 0);
        regfree(&re);
        free(p);
        assert_true(asprintf(&top, "%s/.netroot-backup", dir) > 0);
        assert_int_equal(stat(top, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        /* SHA256SUMS is what sha256sum -c reads */
        assert_true(asprintf(&cmd, "cd '%s' && sha256sum --quiet --strict -c SHA256SUMS", bdir) >
                    0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        assert_int_equal(firmware_set_matches(dir, bdir), 1);

        /* A second backup in the same second gets its own folder. */
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir2, sizeof(bdir2), NULL), 0);
        assert_string_not_equal(bdir, bdir2);
        assert_true(strncmp(bdir, bdir2, strlen(bdir)) == 0 || strcmp(bdir, bdir2) < 0);

        /* the upgrade replaces firmware and adds a new start file */
        write_random(dir, "start.elf", 4242);
        write_random(dir, "fixup.dat", 999);
        write_random(dir, "bootcode.bin", 51200);
        free(test_write(dir, "start4.elf", "new\n"));
        assert_int_equal(firmware_set_matches_err(dir, bdir, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "differs"));

        assert_int_equal(firmware_set_restore(dir, bdir), 0);
        snapshot(dir, after);
        for (size_t i = 0; i < NSET; i++)
                assert_string_equal(after[i], before[i]);
        /* what the backup lacks is left alone, and makes the sets unequal */
        assert_true(asprintf(&p, "%s/start4.elf", dir) > 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(firmware_set_matches_err(dir, bdir, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "start4.elf"));
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(firmware_set_matches(dir, bdir), 1);
        assert_int_equal(count_matching(dir, ".tmp"), 0);
        free(top);
        test_rmtree(dir);
        free(dir);
}

static void test_corrupt_backup_refused(void **state)
{
        char *dir = make_root(), *p, bdir[4096], err[512];
        char live[NSET][SHA256_HEX_SIZE], now[NSET][SHA256_HEX_SIZE];
        FILE *f;

        (void)state;
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        write_random(dir, "start.elf", 5000);
        write_random(dir, "bootcode.bin", 5000);
        snapshot(dir, live);
        /* one flipped byte in the backup's fixup_x.dat (sorted after bootcode.bin, fixup.dat:
         * files before it in the manifest verify fine, and still nothing is restored) */
        assert_true(asprintf(&p, "%s/fixup_x.dat", bdir) > 0);
        f = fopen(p, "r+");
        assert_non_null(f);
        fseek(f, 100, SEEK_SET);
        fputc(fgetc(f) ^ 0xff, f);
        fclose(f);
        free(p);
        assert_int_equal(firmware_set_restore_err(dir, bdir, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, "fixup_x.dat"));
        assert_non_null(strstr(err, "SHA256SUMS"));
        snapshot(dir, now);
        for (size_t i = 0; i < NSET; i++)
                assert_string_equal(now[i], live[i]);
        assert_int_equal(count_matching(dir, ".tmp"), 0);

        /* a backup file gone: the same (fixup_x.dat repaired from the untouched live copy) */
        assert_true(asprintf(&p, "cp '%s/fixup_x.dat' '%s/fixup_x.dat'", dir, bdir) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        assert_true(asprintf(&p, "%s/start_x.elf", bdir) > 0);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(firmware_set_restore_err(dir, bdir, err, sizeof(err)), -ENOENT);
        assert_non_null(strstr(err, "start_x.elf"));
        snapshot(dir, now);
        for (size_t i = 0; i < NSET; i++)
                assert_string_equal(now[i], live[i]);
        test_rmtree(dir);
        free(dir);
}

static void test_bad_manifest(void **state)
{
        char *dir = make_root(), *p, *m, bdir[4096], err[512];
        char hex[SHA256_HEX_SIZE];

        (void)state;
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        hash_of(dir, "start.elf", hex);
        assert_true(asprintf(&p, "%s/SHA256SUMS", bdir) > 0);
        /* a path outside the set is never written */
        assert_true(asprintf(&m, "%s  start.elf\n%s  ../../etc/start.elf\n", hex, hex) > 0);
        assert_int_equal(unlink(p), 0);
        free(test_write(bdir, "SHA256SUMS", m));
        free(m);
        assert_int_equal(firmware_set_restore_err(dir, bdir, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, "SHA256SUMS:2:"));
        /* not a sha256sum line */
        assert_int_equal(unlink(p), 0);
        free(test_write(bdir, "SHA256SUMS", "\nxyz  start.elf\n"));
        assert_int_equal(firmware_set_restore_err(dir, bdir, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, "SHA256SUMS:2:"));
        assert_int_equal(firmware_set_matches(dir, bdir), -EBADMSG);
        /* listed twice */
        assert_true(asprintf(&m, "%s  start.elf\n%s *start.elf\n", hex, hex) > 0);
        assert_int_equal(unlink(p), 0);
        free(test_write(bdir, "SHA256SUMS", m));
        free(m);
        assert_int_equal(firmware_set_restore_err(dir, bdir, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, "twice"));
        /* empty */
        assert_int_equal(unlink(p), 0);
        free(test_write(bdir, "SHA256SUMS", ""));
        assert_int_equal(firmware_set_restore(dir, bdir), -EBADMSG);
        free(p);
        test_rmtree(dir);
        free(dir);
}

/* A holder killed mid-copy leaves .partial-<name>; the next backup (under the lock) removes it,
 * and a complete backup never carries the prefix. */
static void test_partial_backup_cleared(void **state)
{
        char *dir = make_root(), *p, bdir[4096];

        (void)state;
        assert_true(asprintf(&p, "%s/.netroot-backup/.partial-20260101T000000Z-0badf00d", dir) > 0);
        {
                char *top;

                assert_true(asprintf(&top, "%s/.netroot-backup", dir) > 0);
                assert_int_equal(mkdir(top, 0755), 0);
                free(top);
        }
        assert_int_equal(mkdir(p, 0755), 0);
        free(test_write(p, "start.elf", "half a copy"));
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        assert_int_equal(access(p, F_OK), -1);
        assert_null(strstr(bdir, ".partial-"));
        assert_int_equal(count_matching(bdir, "SHA256SUMS"), 1);
        free(p);
        test_rmtree(dir);
        free(dir);
}

static void test_symlink_refused(void **state)
{
        char *dir = make_root(), *p, *victim, *top, bdir[4096], err[512];

        (void)state;
        victim = test_write(dir, "511e57f7/victim", "not firmware\n");
        assert_true(asprintf(&p, "%s/start.elf", dir) > 0);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(symlink(victim, p), 0);
        assert_int_equal(firmware_set_scan_err(dir, &(struct firmware_set){0}, err, sizeof(err)),
                         -ELOOP);
        assert_non_null(strstr(err, "start.elf"));
        assert_int_equal(
            firmware_set_backup_err(dir, "511e57f7", bdir, sizeof(bdir), NULL, err, sizeof(err)),
            -ELOOP);
        assert_non_null(strstr(err, "start.elf"));
        /* no backup folder was made */
        assert_true(asprintf(&top, "%s/.netroot-backup", dir) > 0);
        assert_int_equal(access(top, F_OK), -1);

        /* a restore does not write through (or over) a planted symlink either */
        assert_int_equal(unlink(p), 0);
        write_random(dir, "start.elf", 300);
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(symlink(victim, p), 0);
        assert_int_equal(firmware_set_restore_err(dir, bdir, err, sizeof(err)), -ELOOP);
        assert_non_null(strstr(err, "start.elf"));
        {
                FILE *f = fopen(victim, "r");
                char line[64] = "";
                assert_non_null(f);
                assert_non_null(fgets(line, sizeof(line), f));
                fclose(f);
                assert_string_equal(line, "not firmware\n");
        }
        /* .netroot-backup itself as a symlink: refused */
        test_rmtree(top);
        assert_int_equal(symlink(victim, top), 0);
        assert_int_equal(unlink(p), 0);
        write_random(dir, "start.elf", 300);
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), -ELOOP);
        free(top);
        free(p);
        free(victim);
        test_rmtree(dir);
        free(dir);
}

/* A restore cut short (the Pi lost power between two renames) leaves each file old or new,
 * never torn; running the restore again finishes the job, also over its own leftovers. */
static void test_interrupted_restore(void **state)
{
        char *dir = make_root(), *src, *dst, *cmd, *p, bdir[4096];
        char old[NSET][SHA256_HEX_SIZE], new[NSET][SHA256_HEX_SIZE], now[NSET][SHA256_HEX_SIZE];

        (void)state;
        snapshot(dir, old);
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        for (size_t i = 0; i < NSET; i++)
                write_random(dir, set_names[i], 3000 + i);
        snapshot(dir, new);
        /* restore one file by hand, the way the restore does it: temp name, then rename */
        assert_true(asprintf(&src, "%s/start.elf", bdir) > 0);
        assert_true(asprintf(&dst, "%s/.start.elf.tmp", dir) > 0);
        assert_true(asprintf(&cmd, "cp '%s' '%s' && mv '%s' '%s/start.elf'", src, dst, dst, dir) >
                    0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        /* and a second file only staged when the power went */
        free(src);
        assert_true(asprintf(&src, "%s/fixup.dat", bdir) > 0);
        free(dst);
        assert_true(asprintf(&dst, "%s/.fixup.dat.tmp", dir) > 0);
        assert_true(asprintf(&cmd, "head -c 100 '%s' > '%s'", src, dst) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        snapshot(dir, now);
        for (size_t i = 0; i < NSET; i++)
                assert_true(eq(now[i], old[i]) || eq(now[i], new[i]));
        assert_string_equal(now[3], old[3]); /* start.elf */
        assert_int_equal(firmware_set_matches(dir, bdir), 0);
        /* a leftover temp name planted as a symlink is replaced, never followed */
        assert_true(asprintf(&p, "%s/.bootcode.bin.tmp", dir) > 0);
        assert_int_equal(symlink("/etc/hostname", p), 0);
        free(p);

        assert_int_equal(firmware_set_restore(dir, bdir), 0);
        snapshot(dir, now);
        for (size_t i = 0; i < NSET; i++)
                assert_string_equal(now[i], old[i]);
        assert_int_equal(firmware_set_matches(dir, bdir), 1);
        assert_int_equal(count_matching(dir, ".tmp"), 0);
        free(src);
        free(dst);
        test_rmtree(dir);
        free(dir);
}

static void test_backup_errors(void **state)
{
        char *dir = test_tmpdir(), bdir[4096], small[16], err[256];

        (void)state;
        assert_int_equal(
            firmware_set_backup_err(dir, "511e57f7", bdir, sizeof(bdir), NULL, err, sizeof(err)),
            -ENOENT);
        assert_non_null(strstr(err, "no firmware files"));
        write_random(dir, "bootcode.bin", 10);
        assert_int_equal(firmware_set_backup(dir, "../x", bdir, sizeof(bdir), NULL), -EINVAL);
        assert_int_equal(firmware_set_backup(dir, "", bdir, sizeof(bdir), NULL), -EINVAL);
        assert_int_equal(firmware_set_backup(dir, "511e57f7", small, sizeof(small), NULL),
                         -ENAMETOOLONG);
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        assert_int_equal(firmware_set_matches(dir, bdir), 1);
        test_rmtree(dir);
        free(dir);
}

static void test_pair_names(void **state)
{
        static const char *const pairs[][2] = {
            {"start.elf", "fixup.dat"},       {"start_x.elf", "fixup_x.dat"},
            {"start_cd.elf", "fixup_cd.dat"}, {"start_db.elf", "fixup_db.dat"},
            {"start4.elf", "fixup4.dat"},     {"start4x.elf", "fixup4x.dat"},
            {"start4cd.elf", "fixup4cd.dat"}, {"start4db.elf", "fixup4db.dat"},
        };
        char other[64];

        (void)state;
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
                assert_int_equal(firmware_set_pair_name(pairs[i][0], other, sizeof(other)), 1);
                assert_string_equal(other, pairs[i][1]);
                assert_int_equal(firmware_set_pair_name(pairs[i][1], other, sizeof(other)), 2);
                assert_string_equal(other, pairs[i][0]);
        }
        assert_int_equal(firmware_set_pair_name("bootcode.bin", other, sizeof(other)), 0);
        assert_int_equal(firmware_set_pair_name("config.txt", other, sizeof(other)), 0);
        assert_int_equal(firmware_set_pair_name("start.txt", other, sizeof(other)), 0);
}

/* Every start*.elf has its fixup*.dat, and a manifest that knows the start*.elf says which
 * fixup*.dat belongs to it. */
static void test_pairs_check(void **state)
{
        char *dir = make_root(), *pi, *p, bdir[4096], why[1024];

        (void)state;
        assert_int_equal(firmware_set_pairs_check(dir, why, sizeof(why)), 1);
        assert_string_equal(why, "");
        /* a start without its fixup */
        assert_true(asprintf(&p, "%s/fixup_x.dat", dir) > 0);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(firmware_set_pairs_check(dir, why, sizeof(why)), 0);
        assert_non_null(strstr(why, "start_x.elf"));
        assert_non_null(strstr(why, "fixup_x.dat"));
        write_random(dir, "fixup_x.dat", 777);
        assert_int_equal(firmware_set_pairs_check(dir, why, sizeof(why)), 1);

        /* with a backup: the fixup replaced alone no longer belongs to the start beside it */
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        assert_int_equal(firmware_set_pairs_check(dir, why, sizeof(why)), 1);
        write_random(dir, "fixup.dat", 7000);
        assert_int_equal(firmware_set_pairs_check(dir, why, sizeof(why)), 0);
        assert_non_null(strstr(why, "start.elf and fixup.dat are not one set"));
        assert_non_null(strstr(why, bdir));
        /* both replaced (a new release): the backup does not know this start, nothing to say */
        write_random(dir, "start.elf", 9000);
        assert_int_equal(firmware_set_pairs_check(dir, why, sizeof(why)), 1);
        /* a later backup with the new pair: fine, even though an older one differs */
        assert_int_equal(firmware_set_backup(dir, "511e57f7", bdir, sizeof(bdir), NULL), 0);
        assert_int_equal(firmware_set_pairs_check(dir, why, sizeof(why)), 1);

        /* a Pi's folder: the root's backups and its own generations are evidence */
        pi = NULL;
        assert_true(asprintf(&pi, "%s/511e57f7", dir) > 0);
        assert_true(asprintf(&p, "cp '%s/start.elf' '%s/fixup.dat' '%s/'", dir, dir, pi) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        assert_int_equal(firmware_set_pairs_check(pi, why, sizeof(why)), 1);
        write_random(pi, "fixup.dat", 7001);
        assert_int_equal(firmware_set_pairs_check(pi, why, sizeof(why)), 0);
        assert_non_null(strstr(why, "/511e57f7/start.elf and fixup.dat are not one set"));
        assert_non_null(strstr(why, "/../.netroot-backup/"));
        /* generation manifests list other files too; only the firmware lines count */
        assert_true(asprintf(&p,
                             "mkdir -p '%s/.netroot/gen-1' && cd '%s' && "
                             "sha256sum config.txt start.elf fixup.dat > .netroot/gen-1/SHA256SUMS",
                             pi, pi) > 0);
        free(test_write(pi, "config.txt", "kernel=kernel7.img\n"));
        assert_int_equal(system(p), 0);
        free(p);
        assert_int_equal(firmware_set_pairs_check(pi, why, sizeof(why)), 1);

        assert_true(firmware_set_pairs_check("/nonexistent-dir", why, sizeof(why)) < 0);
        assert_non_null(strstr(why, "/nonexistent-dir"));
        free(pi);
        test_rmtree(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_scan),
            cmocka_unit_test(test_backup_modify_restore),
            cmocka_unit_test(test_corrupt_backup_refused),
            cmocka_unit_test(test_bad_manifest),
            cmocka_unit_test(test_symlink_refused),
            cmocka_unit_test(test_partial_backup_cleared),
            cmocka_unit_test(test_interrupted_restore),
            cmocka_unit_test(test_backup_errors),
            cmocka_unit_test(test_pair_names),
            cmocka_unit_test(test_pairs_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
