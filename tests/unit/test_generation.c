/* The generation store on a temp boot folder: records, the transaction journal, the manifests,
 * copies (real copies, checked before they are put back), pending/mark/prune, the layout of
 * older agents, and files planted in the folder (an NFS export others write). */
#include "testutil.h"

#include "beneath.h"
#include "fileio.h"
#include "generation.h"
#include "txn.h"

#include <fcntl.h>

static const char *good_record = "gen=3\ncreated=2024-01-02T03:04:05Z\nkernel_from=6.1.21-v7+\n"
                                 "kernel_to=6.1.25-v7+\ninitramfs_from=initrd.img-6.1.21-v7+\n"
                                 "initramfs_to=initrd.img-6.1.25-v7+\nstatus=good\nreason=ok\n"
                                 "future_key=ignored\nfinal_existed=1\n";

static void test_record_roundtrip(void **state)
{
        struct gen_record r, r2;
        struct error e;
        char *text;
        size_t len;

        (void)state;
        assert_int_equal(gen_record_parse(good_record, strlen(good_record), "rec", &r, &e), 0);
        assert_int_equal(r.gen, 3);
        assert_int_equal(r.status, GEN_GOOD);
        assert_true(r.final_existed);
        assert_string_equal(r.kernel_to, "6.1.25-v7+");
        assert_int_equal(gen_record_format(&r, &text, &len, &e), 0);
        assert_int_equal(gen_record_parse(text, len, "rec", &r2, &e), 0);
        assert_memory_equal(&r, &r2, sizeof(r));
        free(text);
        strcpy(r.reason, "two\nlines");
        assert_int_equal(gen_record_format(&r, &text, &len, &e), -EINVAL);
        /* A name that leaves the boot folder is never written either. */
        strcpy(r.reason, "ok");
        strcpy(r.cmdline_name, "../../victim/important.conf");
        assert_int_equal(gen_record_format(&r, &text, &len, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "cmdline_name"));
}

static void expect_bad(const char *text, const char *msg)
{
        struct gen_record r;
        struct error e;

        assert_int_equal(gen_record_parse(text, strlen(text), "f", &r, &e), -EBADMSG);
        if (!strstr(e.msg, msg))
                fail_msg("'%s' not in '%s'", msg, e.msg);
}

static void test_record_bad(void **state)
{
        (void)state;
        expect_bad("gen=1\nstatus=good\nnonsense\n", "f:3: expected KEY=VALUE");
        expect_bad("gen=1\nstatus=maybe\n", "f:2: status=maybe");
        expect_bad("gen=x\nstatus=good\n", "f:1: gen=x");
        expect_bad("gen=0\nstatus=good\n", "f:1: gen=0: expected a number from 1");
        expect_bad("gen=1\nstatus=good\ngen=2\n", "f:3: duplicate key gen");
        expect_bad("gen=1\nstatus=good\nnew=1\nnew=2\n", "f:4: duplicate key new");
        expect_bad("gen=1\nstatus=good", "f:2: last line has no newline");
        expect_bad("gen=1\n", "no status= line");
        expect_bad("status=good\n", "no gen= line");
        expect_bad("gen=1\nstatus=good\nreason=a\tb\n", "f:3: control character");
        expect_bad("gen=1\nstatus=good\nfinal_existed=yes\n", "f:3: final_existed=yes");
        /* A record written by whoever has root on a Pi must not make a rollback on the NAS
         * write outside the folder. */
        expect_bad("gen=1\nstatus=good\ncmdline_name=../../victim/important.conf\n",
                   "f:3: cmdline_name=../../victim/important.conf: must name a file inside");
        expect_bad("gen=1\nstatus=good\nfinal=/etc/shadow\n", "f:3: final=/etc/shadow");
        expect_bad("gen=1\nstatus=good\nshared_backup=../../x\n", "f:3: shared_backup=");
}

static void test_txn(void **state)
{
        char *dir = test_tmpdir(), *text;
        struct txn t = {.gen = 7, .final_existed = true, .config_touched = true, .pid = 4711}, r;
        struct error e;
        size_t len;

        (void)state;
        strcpy(t.step, "switch");
        strcpy(t.kernel, "6.1.0-50-amd64");
        strcpy(t.new_file, "initrd.img-6.1.0-50-amd64.netroot-new");
        strcpy(t.final, "initrd.img-6.1.0-50-amd64");
        strcpy(t.edited, "usercfg.txt");
        assert_int_equal(txn_read(dir, &r, &e), -ENOENT);
        assert_int_equal(mkdir(gen_store_path(dir), 0755), 0);
        assert_int_equal(txn_write(dir, &t, &e), 0);
        assert_int_equal(txn_read(dir, &r, &e), 0);
        assert_int_equal(r.gen, 7);
        assert_int_equal(r.pid, 4711);
        assert_string_equal(r.step, "switch");
        assert_string_equal(r.final, t.final);
        assert_string_equal(r.edited, "usercfg.txt");
        assert_true(r.final_existed && r.config_touched && !r.final_touched);
        assert_int_equal(txn_remove(dir), 0);
        assert_int_equal(txn_read(dir, &r, &e), -ENOENT);
        /* A journal must never point a rollback outside the boot folder. */
        text = "gen=1\nstep=build\nnew_file=../../etc/passwd\n";
        len = strlen(text);
        assert_int_equal(txn_parse(text, len, "j", &r, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "j:3: new_file="));
        text = "gen=1\nstep=build\nfinal=/etc/passwd\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, &e), -EBADMSG);
        text = "gen=1\nstep=build\nedited=../x/config.txt\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, &e), -EBADMSG);
        text = "gen=1\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, &e), -EBADMSG);
        text = "gen=1\nstep=x\nconfig_touched=2\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "j:3:"));
        /* A repeated key is refused (a fuzzer find: last-wins hid the first value). */
        text = "gen=1\nstep=x\nstep=y\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, &e), -EBADMSG);
        /* An older agent's journal edited config.txt. */
        text = "gen=1\nstep=switch\nconfig_touched=1\n";
        assert_int_equal(txn_parse(text, strlen(text), "j", &r, &e), 0);
        assert_string_equal(r.edited, "config.txt");
        test_rmtree(dir);
        free(dir);
}

static void make_gen(const char *boot, unsigned gen, const char *status)
{
        struct gen_record r = {.gen = gen};
        char *dir = gen_dir_path(boot, gen), *cmd;
        enum gen_status st;
        struct error e;

        assert_true(asprintf(&cmd, "mkdir -p %s", dir) > 0);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(gen_status_from_string(status, &st), 0);
        r.status = st;
        assert_int_equal(gen_record_save(boot, &r, &e), 0);
        free(cmd);
        free(dir);
}

static void test_store(void **state)
{
        char *boot = test_tmpdir(), *p;
        struct gen_pending pend;
        struct gen_record r;
        struct error e;
        unsigned *gens, next;
        size_t n;

        (void)state;
        assert_int_equal(gen_begin(boot, &next, &e), 0);
        assert_int_equal(next, 1);
        assert_int_equal(gen_abort(boot, 1), 0);
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
        /* Two writers cannot get the same number: the reservation is a mkdir. */
        assert_int_equal(gen_begin(boot, &next, &e), 0);
        assert_int_equal(next, 12);
        assert_int_equal(gen_begin(boot, &next, &e), 0);
        assert_int_equal(next, 13);
        assert_int_equal(gen_clean_partial(boot, 13), 1); /* 12 gone; 11 is a file, 13 kept */
        assert_int_equal(gen_abort(boot, 13), 0);

        /* pending file and mark */
        p = gen_store_path(boot);
        free(test_write(p, "pending", "gen=10\nkernel=6.1.25-v7+\ncreated=x\n"));
        assert_int_equal(gen_pending_read(boot, &pend, &e), 0);
        assert_int_equal(pend.gen, 10);
        assert_string_equal(pend.kernel, "6.1.25-v7+");
        assert_int_equal(gen_mark(boot, 10, GEN_GOOD, "boot confirmed\nafter 120 s", &e), 0);
        assert_int_equal(gen_pending_read(boot, &pend, &e), -ENOENT);
        assert_int_equal(gen_record_load(boot, 10, &r, &e), 0);
        assert_int_equal(r.status, GEN_GOOD);
        assert_string_equal(r.reason, "boot confirmed after 120 s");
        free(test_write(p, "pending", "kernel=x\n"));
        assert_int_equal(gen_pending_read(boot, &pend, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "pending:1: no gen= line"));
        free(p);

        /* prune: keep 2 good besides the newest; bad ones stay */
        assert_int_equal(gen_prune(boot, 2), 2);
        assert_int_equal(gen_list(boot, &gens, &n), 0);
        assert_int_equal(n, 4);
        assert_int_equal(gens[0], 3);
        assert_int_equal(gens[1], 4);
        assert_int_equal(gens[2], 5);
        assert_int_equal(gens[3], 10);
        free(gens);
        assert_int_equal(gen_prune(boot, 0), 2);
        assert_int_equal(gen_prune(boot, 0), 0);
        test_rmtree(boot);
        free(boot);
}

/* A generation keeps real copies (an in-place rewrite of the live file must not change them),
 * checks them before putting them back, and lists what the Pi booted. */
static void test_copies(void **state)
{
        char *boot = test_tmpdir(), *live, *copy;
        const char *keep[] = {"config.txt", "usercfg.txt", "initrd.img-old", "absent.txt"};
        const char *hash[] = {"kernel7.img", "config.txt"};
        struct gen_record rec = {.status = GEN_PENDING};
        struct gen_copies c;
        struct strbuf report = {0};
        struct stat a, b;
        struct error e;
        unsigned gen;
        int fd;

        (void)state;
        free(test_write(boot, "config.txt", "include usercfg.txt\n"));
        free(test_write(boot, "usercfg.txt", "initramfs initrd.img-old followkernel\n"));
        live = test_write(boot, "initrd.img-old", "old initrd\n");
        free(test_write(boot, "kernel7.img", "K"));
        assert_int_equal(gen_begin(boot, &gen, &e), 0);
        assert_int_equal(gen_commit(boot, gen, keep, 4, hash, 2, &rec, &e), 0);
        assert_int_equal(rec.layout, GEN_LAYOUT);
        assert_int_equal(gen_copies_load(boot, gen, false, &rec, &c, &e), 0);
        assert_int_equal(c.m.n, 3); /* absent.txt skipped */
        assert_true(gen_copies_find(&c, "usercfg.txt") >= 0);
        assert_int_equal(gen_copies_verify(boot, gen, false, &c, &e), 0);

        /* Not a hard link: rewriting the live file in place leaves the copy as it was. */
        assert_true(asprintf(&copy, "%s/.netroot/gen-%u/boot/initrd.img-old", boot, gen) > 0);
        assert_int_equal(stat(live, &a), 0);
        assert_int_equal(stat(copy, &b), 0);
        assert_true(a.st_ino != b.st_ino);
        fd = open(live, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "rewritten\n", 10), 10);
        close(fd);
        assert_int_equal(gen_copies_verify(boot, gen, false, &c, &e), 0);
        assert_int_equal(gen_compare_boot(boot, gen, &report, &e), 1);
        assert_string_equal(sb_str(&report), "initrd.img-old: changed");
        assert_int_equal(gen_copy_restore(boot, gen, false, &c,
                                          (size_t)gen_copies_find(&c, "initrd.img-old"), &e),
                         1);
        assert_int_equal(gen_compare_boot(boot, gen, &report, &e), 0);

        /* A damaged copy is refused, named, before anything is put back. */
        fd = open(copy, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "old", 3), 3);
        close(fd);
        assert_int_equal(gen_copies_verify(boot, gen, false, &c, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "initrd.img-old is damaged"));
        assert_int_equal(gen_copy_restore(boot, gen, false, &c,
                                          (size_t)gen_copies_find(&c, "initrd.img-old"), &e),
                         -EBADMSG);
        gen_copies_free(&c);
        sb_free(&report);
        free(copy);
        free(live);
        test_rmtree(boot);
        free(boot);
}

/* Generations of agents before COPIES: config.txt, cmdline.txt, final.saved in the folder,
 * checked against SHA256SUMS where it lists the file. */
static void test_legacy_layout(void **state)
{
        char *boot = test_tmpdir(), *gdir;
        struct gen_record rec;
        struct gen_copies c;
        struct error e;
        char line[200];

        (void)state;
        make_gen(boot, 1, "good");
        gdir = gen_dir_path(boot, 1);
        free(test_write(boot, ".netroot/gen-1/record",
                        "gen=1\nstatus=good\ncmdline_name=cmdline.txt\nfinal=initrd.img-a\n"
                        "final_existed=1\n"));
        free(test_write(gdir, "config.txt", "initramfs initrd.img-a followkernel\n"));
        free(test_write(gdir, "final.saved", "A\n"));
        snprintf(line, sizeof(line), "%s  config.txt\n",
                 "0d2b4bd3f5ce3ebe74cd2c5e4f22d6c2a0d1d4a6f6e3f9b0ab8f0e5a48b8c8c9");
        free(test_write(gdir, "SHA256SUMS", line));
        assert_int_equal(gen_record_load(boot, 1, &rec, &e), 0);
        assert_int_equal(rec.layout, 0);
        assert_int_equal(gen_copies_load(boot, 1, false, &rec, &c, &e), 0);
        assert_int_equal(c.m.n, 2);
        /* config.txt's listed hash does not match this copy: refused. final.saved has no hash
         * to compare with and passes unverified. */
        assert_int_equal(gen_copies_verify(boot, 1, false, &c, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "config.txt is damaged"));
        gen_copies_free(&c);
        free(gdir);
        test_rmtree(boot);
        free(boot);
}

/* Files planted in the boot folder (an NFS export): a symlinked source is never copied, a file
 * planted at a temp name is never written through, and a symlinked record or journal is refused
 * with its path named. */
static void test_hostile_files(void **state)
{
        char *boot = test_tmpdir(), *victim, *lnk, *buf, *store;
        const char *keep[] = {"lnk.img"};
        struct gen_record r = {0};
        struct error e;
        struct txn t;
        unsigned gen;

        (void)state;
        victim = test_write(boot, "victim", "precious\n");
        assert_true(asprintf(&lnk, "%s/lnk.img", boot) > 0);
        assert_int_equal(symlink(victim, lnk), 0);
        assert_int_equal(gen_begin(boot, &gen, &e), 0);
        assert_int_equal(gen_commit(boot, gen, keep, 1, NULL, 0, &r, &e), -ELOOP);
        assert_non_null(strstr(e.msg, "lnk.img: a symlink"));
        assert_int_equal(gen_abort(boot, gen), 0);

        make_gen(boot, 1, "good");
        store = gen_store_path(boot);
        free(lnk);
        assert_true(asprintf(&lnk, "%s/gen-1/record", store) > 0);
        assert_int_equal(unlink(lnk), 0);
        assert_int_equal(symlink(victim, lnk), 0);
        assert_int_equal(gen_record_load(boot, 1, &r, &e), -ELOOP);
        assert_non_null(strstr(e.msg, "gen-1/record: a symlink"));
        free(lnk);
        assert_true(asprintf(&lnk, "%s/%s", store, TXN_FILE) > 0);
        assert_int_equal(symlink(victim, lnk), 0);
        assert_int_equal(txn_read(boot, &t, &e), -ELOOP);
        assert_non_null(strstr(e.msg, "transaction: a symlink"));
        assert_int_equal(file_read_all(victim, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "precious\n");
        free(buf);
        free(lnk);
        free(store);
        free(victim);
        test_rmtree(boot);
        free(boot);
}

/* Fuzzer finds (tests/fuzz/regressions/generation/): a manifest names files inside its folder
 * only (../../dev/zero would be hashed forever), and a NUL byte does not hide the lines after
 * it. */
static void test_manifest_hostile(void **state)
{
        static const char zeros[] =
            "0000000000000000000000000000000000000000000000000000000000000000";
        const char *bad[] = {"../../../../../../dev/zero", "/etc/shadow", "a/../../b", ".."};
        struct manifest m;
        struct error e;

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *text;

                assert_true(asprintf(&text, "%s  %s\n", zeros, bad[i]) > 0);
                assert_int_equal(manifest_parse(text, strlen(text), "SHA256SUMS", &m, &e),
                                 -EBADMSG);
                free(text);
                assert_non_null(strstr(e.msg, "SHA256SUMS:1: "));
                assert_non_null(strstr(e.msg, "inside its folder"));
        }
        {
                char text[300];
                size_t n = (size_t)snprintf(text, sizeof(text), "%s  x\n", zeros);

                text[n++] = '\0';
                n += (size_t)snprintf(text + n, sizeof(text) - n, "%s  ../y\n", zeros);
                assert_int_equal(manifest_parse(text, n, "SHA256SUMS", &m, &e), -EBADMSG);
                assert_non_null(strstr(e.msg, "SHA256SUMS:2:"));
        }
        assert_int_equal(manifest_parse("abc  x\n", 7, "SHA256SUMS", &m, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "SHA256SUMS:1: expected"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_record_roundtrip),
            cmocka_unit_test(test_record_bad),
            cmocka_unit_test(test_txn),
            cmocka_unit_test(test_store),
            cmocka_unit_test(test_copies),
            cmocka_unit_test(test_legacy_layout),
            cmocka_unit_test(test_hostile_files),
            cmocka_unit_test(test_manifest_hostile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
