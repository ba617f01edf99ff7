/* Generation records, the transaction journal, the manifest, and the daemon-facing
 * pending/mark/prune calls on a temp boot folder. */
#include "testutil.h"

#include "fileio.h"
#include "generation.h"
#include "txn.h"
#include "upgrade.h"

static const char *good_record = "gen=3\ncreated=2024-01-02T03:04:05Z\nkernel_from=6.1.21-v7+\n"
                                 "kernel_to=6.1.25-v7+\ninitramfs_from=initrd.img-6.1.21-v7+\n"
                                 "initramfs_to=initrd.img-6.1.25-v7+\nstatus=good\nreason=ok\n"
                                 "future_key=ignored\nfinal_existed=1\n";

static void test_record_roundtrip(void **state)
{
        struct gen_record r, r2;
        char err[256], *text;
        size_t len;

        (void)state;
        assert_int_equal(
            gen_record_parse(good_record, strlen(good_record), "rec", &r, err, sizeof(err)), 0);
        assert_int_equal(r.gen, 3);
        assert_int_equal(r.status, GEN_GOOD);
        assert_true(r.final_existed);
        assert_string_equal(r.kernel_to, "6.1.25-v7+");
        assert_int_equal(gen_record_format(&r, &text, &len), 0);
        assert_int_equal(gen_record_parse(text, len, "rec", &r2, err, sizeof(err)), 0);
        assert_memory_equal(&r, &r2, sizeof(r));
        free(text);
        strcpy(r.reason, "two\nlines");
        assert_int_equal(gen_record_format(&r, &text, &len), -EINVAL);
}

static void expect_bad(const char *text, const char *msg)
{
        struct gen_record r;
        char err[256];

        assert_int_equal(gen_record_parse(text, strlen(text), "f", &r, err, sizeof(err)), -EBADMSG);
        if (!strstr(err, msg))
                fail_msg("'%s' not in '%s'", msg, err);
}

static void test_record_bad(void **state)
{
        (void)state;
        expect_bad("gen=1\nstatus=good\nnonsense\n", "f:3: expected KEY=VALUE");
        expect_bad("gen=1\nstatus=maybe\n", "f:2: status=maybe");
        expect_bad("gen=x\nstatus=good\n", "f:1: gen=x");
        expect_bad("gen=1\nstatus=good\ngen=2\n", "f:3: duplicate key gen");
        expect_bad("gen=1\nstatus=good", "f:2: last line has no newline");
        expect_bad("gen=1\n", "no status= line");
        expect_bad("status=good\n", "no gen= line");
        expect_bad("gen=1\nstatus=good\nreason=a\tb\n", "f:3: control character");
        expect_bad("gen=1\nstatus=good\nfinal_existed=yes\n", "f:3: final_existed=yes");
}

static void test_txn(void **state)
{
        char *dir = test_tmpdir(), err[256], *text;
        struct txn t = {.gen = 7, .final_existed = true, .config_touched = true}, r;
        size_t len;

        (void)state;
        strcpy(t.step, "switch");
        strcpy(t.kernel, "6.1.0-50-amd64");
        strcpy(t.new_file, "initrd.img-6.1.0-50-amd64.netroot-new");
        strcpy(t.final, "initrd.img-6.1.0-50-amd64");
        assert_int_equal(txn_read(dir, &r, err, sizeof(err)), -ENOENT);
        assert_int_equal(txn_write(dir, &t), 0);
        assert_int_equal(txn_read(dir, &r, err, sizeof(err)), 0);
        assert_int_equal(r.gen, 7);
        assert_string_equal(r.step, "switch");
        assert_string_equal(r.final, t.final);
        assert_true(r.final_existed && r.config_touched && !r.final_touched);
        assert_int_equal(txn_remove(dir), 0);
        assert_int_equal(txn_read(dir, &r, err, sizeof(err)), -ENOENT);
        /* A journal must never point a rollback outside the boot folder. */
        text = "gen=1\nstep=build\nnew_file=../../etc/passwd\n";
        len = strlen(text);
        assert_int_equal(txn_parse(text, len, "j", &r, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, "j:3: new_file="));
        text = "gen=1\nstep=build\nfinal=/etc/passwd\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, err, sizeof(err)), -EBADMSG);
        text = "gen=1\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, err, sizeof(err)), -EBADMSG);
        text = "gen=1\nstep=x\nconfig_touched=2\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, "j:3:"));
        test_rmtree(dir);
        free(dir);
}

static void make_gen(const char *boot, unsigned gen, const char *status)
{
        struct gen_record r = {.gen = gen};
        char *dir = gen_dir_path(boot, gen), *cmd;

        assert_true(asprintf(&cmd, "mkdir -p %s", dir) > 0);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(gen_status_from_string(status, &r.status), 0);
        assert_int_equal(gen_record_save(boot, NULL, &r), 0);
        free(cmd);
        free(dir);
}

static void test_store(void **state)
{
        char *boot = test_tmpdir(), *p, err[256], report[512];
        struct upgrade_pending pend;
        struct gen_record r;
        unsigned *gens, next;
        size_t n;

        (void)state;
        assert_int_equal(gen_next_number(boot, &next), 0);
        assert_int_equal(next, 1);
        make_gen(boot, 1, "good");
        make_gen(boot, 2, "good");
        make_gen(boot, 3, "bad");
        make_gen(boot, 4, "good");
        make_gen(boot, 5, "good");
        make_gen(boot, 10, "pending");
        p = gen_store_path(boot);
        free(test_write(p, "gen-11.tmp", "")); /* a file, not a dir: still counts as used */
        free(test_write(p, "gen-x", ""));
        free(p);
        assert_int_equal(gen_list(boot, &gens, &n), 0);
        assert_int_equal(n, 6);
        assert_int_equal(gens[0], 1);
        assert_int_equal(gens[5], 10);
        free(gens);
        assert_int_equal(gen_next_number(boot, &next), 0);
        assert_int_equal(next, 12);

        /* pending file and mark */
        p = gen_store_path(boot);
        free(test_write(p, "pending", "gen=10\nkernel=6.1.25-v7+\ncreated=x\n"));
        assert_int_equal(upgrade_pending_read(boot, &pend), 0);
        assert_int_equal(pend.gen, 10);
        assert_string_equal(pend.kernel, "6.1.25-v7+");
        assert_int_equal(upgrade_mark(boot, 10, "maybe", "x"), -EINVAL);
        assert_int_equal(upgrade_mark(boot, 10, "good", "boot confirmed\nafter 120 s"), 0);
        assert_int_equal(upgrade_pending_read(boot, &pend), -ENOENT);
        assert_int_equal(gen_record_load(boot, 10, &r, err, sizeof(err)), 0);
        assert_int_equal(r.status, GEN_GOOD);
        assert_string_equal(r.reason, "boot confirmed after 120 s");
        free(test_write(p, "pending", "kernel=x\n"));
        assert_int_equal(upgrade_pending_read(boot, &pend), -EBADMSG);
        free(p);

        /* prune: keep 2 good besides the newest; bad ones stay */
        assert_int_equal(upgrade_prune(boot, 2), 2);
        assert_int_equal(gen_list(boot, &gens, &n), 0);
        assert_int_equal(n, 4);
        assert_int_equal(gens[0], 3);
        assert_int_equal(gens[1], 4);
        assert_int_equal(gens[2], 5);
        assert_int_equal(gens[3], 10);
        free(gens);
        assert_int_equal(upgrade_prune(boot, 0), 2);
        assert_int_equal(upgrade_prune(boot, 0), 0);

        /* manifest */
        free(test_write(boot, "config.txt", "kernel=kernel7.img\n"));
        free(test_write(boot, "kernel7.img", "K"));
        {
                const char *names[] = {"config.txt", "kernel7.img", "missing.dtb", "config.txt"};
                assert_int_equal(gen_manifest_write(boot, boot, names, 4), 2);
        }
        assert_int_equal(gen_manifest_check(boot, boot, report, sizeof(report), err, sizeof(err)),
                         0);
        free(test_write(boot, "kernel7.img", "K2"));
        assert_int_equal(gen_manifest_check(boot, boot, report, sizeof(report), err, sizeof(err)),
                         1);
        assert_string_equal(report, "kernel7.img: changed");
        free(test_write(boot, GEN_MANIFEST, "abc  x\n"));
        assert_int_equal(gen_manifest_check(boot, boot, report, sizeof(report), err, sizeof(err)),
                         -EBADMSG);
        assert_non_null(strstr(err, "SHA256SUMS:1:"));
        test_rmtree(boot);
        free(boot);
}

/* Files planted in the boot folder (an NFS export): a symlinked source is never copied (link()
 * would copy the link itself), a hard link planted at the temp name is never truncated, and a
 * symlinked record or journal is refused with its path named. */
static void test_hostile_files(void **state)
{
        char *boot = test_tmpdir(), *victim, *src, *dst, *tmp, *lnk, *buf, *store, err[512];
        struct gen_record r;
        struct txn t;

        (void)state;
        victim = test_write(boot, "victim", "precious\n");
        src = test_write(boot, "initrd.img", "initrd bytes\n");
        assert_true(asprintf(&dst, "%s/final.saved", boot) > 0);
        assert_true(asprintf(&lnk, "%s/lnk.img", boot) > 0);
        assert_int_equal(symlink(victim, lnk), 0);
        assert_int_equal(gen_copy_file(lnk, dst, true), -ELOOP);
        assert_int_equal(gen_copy_file(lnk, dst, false), -ELOOP);
        assert_int_equal(access(dst, F_OK), -1);
        assert_true(asprintf(&tmp, "%s.tmp-%d", dst, (int)getpid()) > 0);
        assert_int_equal(link(victim, tmp), 0);
        assert_int_equal(gen_copy_file(src, dst, false), 0);
        assert_int_equal(file_read_all(victim, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "precious\n");
        free(buf);
        assert_int_equal(file_read_all(dst, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "initrd bytes\n");
        free(buf);
        assert_int_equal(access(tmp, F_OK), -1);

        make_gen(boot, 1, "good");
        store = gen_store_path(boot);
        free(lnk);
        assert_true(asprintf(&lnk, "%s/gen-1/record", store) > 0);
        assert_int_equal(unlink(lnk), 0);
        assert_int_equal(symlink(victim, lnk), 0);
        assert_int_equal(gen_record_load(boot, 1, &r, err, sizeof(err)), -ELOOP);
        assert_non_null(strstr(err, "gen-1/record: a symlink"));
        free(lnk);
        assert_true(asprintf(&lnk, "%s/%s", store, TXN_FILE) > 0);
        assert_int_equal(symlink(victim, lnk), 0);
        assert_int_equal(txn_read(boot, &t, err, sizeof(err)), -ELOOP);
        assert_non_null(strstr(err, "transaction: a symlink"));
        assert_int_equal(file_read_all(victim, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "precious\n");
        free(buf);
        free(lnk);
        free(store);
        free(tmp);
        free(dst);
        free(src);
        free(victim);
        test_rmtree(boot);
        free(boot);
}

/* Fuzzer finds (tests/fuzz/regressions/generation/): a manifest names files inside the boot
 * folder only (../../dev/zero would be hashed forever), and a NUL byte does not hide the lines
 * after it. */
static void test_manifest_hostile(void **state)
{
        char *boot = test_tmpdir(), report[256], err[512];
        static const char zeros[] =
            "0000000000000000000000000000000000000000000000000000000000000000";
        const char *bad[] = {"../../../../../../dev/zero", "/etc/shadow", "a/../../b", ".."};

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *text;

                assert_true(asprintf(&text, "%s  %s\n", zeros, bad[i]) > 0);
                free(test_write(boot, GEN_MANIFEST, text));
                free(text);
                assert_int_equal(
                    gen_manifest_check(boot, boot, report, sizeof(report), err, sizeof(err)),
                    -EBADMSG);
                assert_non_null(strstr(err, "SHA256SUMS:1: "));
                assert_non_null(strstr(err, "inside the boot folder"));
        }
        {
                char *path;
                FILE *f;

                assert_true(asprintf(&path, "%s/%s", boot, GEN_MANIFEST) > 0);
                f = fopen(path, "w");
                assert_non_null(f);
                fprintf(f, "%s  x\n", zeros);
                fputc('\0', f);
                fprintf(f, "%s  ../y\n", zeros);
                fclose(f);
                free(path);
        }
        assert_int_equal(gen_manifest_check(boot, boot, report, sizeof(report), err, sizeof(err)),
                         -EBADMSG);
        assert_non_null(strstr(err, "NUL byte"));
        test_rmtree(boot);
        free(boot);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_record_roundtrip),
            cmocka_unit_test(test_record_bad),
            cmocka_unit_test(test_txn),
            cmocka_unit_test(test_store),
            cmocka_unit_test(test_hostile_files),
            cmocka_unit_test(test_manifest_hostile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
