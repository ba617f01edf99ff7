/* initrd.c: the streaming newc reader on hand-made archives, and the whole check on small
 * initramfs files (uncompressed early cpio + compressed main archive) written by the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "initrd.h"
#include "util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

#include "testinitrd.h"

/* ---- a recording consumer ---- */

struct rec {
        char names[64][64];
        unsigned modes[64];
        size_t n;
        char data[256];
        bool want_all;
};

static int rec_entry(void *userdata, const struct cpio_entry *e)
{
        struct rec *r = userdata;

        if (r->n < ARRAY_SIZE(r->names)) {
                snprintf(r->names[r->n], sizeof(r->names[0]), "%s", e->name);
                r->modes[r->n] = e->mode;
                r->n++;
        }
        return r->want_all ? CPIO_WANT_DATA : CPIO_SKIP;
}

static int rec_data(void *userdata, const struct cpio_entry *e, const char *data, size_t len)
{
        struct rec *r = userdata;
        size_t l = strlen(r->data);

        assert_int_equal(len, e->size);
        assert_int_equal(strlen(data), len);
        snprintf(r->data + l, sizeof(r->data) - l, "%s=%s;", e->name, data);
        return 0;
}

static const struct cpio_callbacks rec_cb = {.entry = rec_entry, .data = rec_data};

/* Feeds BUF in pieces of STEP bytes (1 exercises every state at a chunk boundary). */
static ssize_t feed_steps(struct cpio_parser *p, const unsigned char *buf, size_t len, size_t step)
{
        size_t off = 0;

        while (off < len) {
                size_t n = MIN(step, len - off);
                ssize_t r = cpio_parser_feed(p, buf + off, n);

                if (r < 0)
                        return r;
                off += (size_t)r;
                if ((size_t)r < n)
                        return (ssize_t)off;
        }
        return (ssize_t)off;
}

static void test_single_archive(void **state)
{
        static const size_t steps[] = {1, 3, 7, 4096};
        (void)state;

        for (size_t s = 0; s < ARRAY_SIZE(steps); s++) {
                struct cpio_parser p;
                struct rec r = {.want_all = true};
                struct cw w = {0};

                cw_entry(&w, ".", 040755, NULL);
                cw_entry(&w, "init", 0100755, "#!/bin/sh\n");
                cw_entry(&w, "bin", 0120777, "usr/bin");
                cw_trailer(&w);
                cpio_parser_init(&p, false, &rec_cb, &r);
                assert_int_equal(feed_steps(&p, w.buf, w.len, steps[s]), (ssize_t)w.len);
                assert_int_equal(cpio_parser_finish(&p), 0);
                assert_int_equal(p.archives, 1);
                assert_int_equal(p.entries, 3);
                assert_int_equal(r.n, 3);
                assert_string_equal(r.names[1], "init");
                assert_int_equal(r.modes[2], 0120777);
                /* Empty bodies are handed over too. */
                assert_string_equal(r.data, ".=;init=#!/bin/sh\n;bin=usr/bin;");
                cpio_parser_free(&p);
                free(w.buf);
        }
}

/* Names of every length mod 4 and bodies of every length mod 4: the padding of name and body
 * differs for each. */
static void test_odd_name_padding(void **state)
{
        static const char *const names[] = {"a",     "ab",     "abc",     "abcd",
                                            "abcde", "abcdef", "abcdefg", "abcdefgh"};
        static const char *const bodies[] = {"",     "1",     "12",     "123",
                                             "1234", "12345", "123456", "1234567"};
        struct cpio_parser p;
        struct rec r = {.want_all = true};
        struct cw w = {0};
        char expect[256] = "";
        (void)state;

        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                cw_entry(&w, names[i], 0100644, bodies[i][0] ? bodies[i] : NULL);
                snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect), "%s=%s;",
                         names[i], bodies[i]);
        }
        cw_trailer(&w);
        cpio_parser_init(&p, false, &rec_cb, &r);
        assert_int_equal(feed_steps(&p, w.buf, w.len, 1), (ssize_t)w.len);
        assert_int_equal(cpio_parser_finish(&p), 0);
        assert_int_equal(r.n, ARRAY_SIZE(names));
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                assert_string_equal(r.names[i], names[i]);
        assert_string_equal(r.data, expect);
        cpio_parser_free(&p);
        free(w.buf);
}

/* Two archives, the first padded to 512 bytes with NULs, as an early microcode cpio is. */
static void test_concatenated(void **state)
{
        struct cpio_parser p;
        struct rec r = {0};
        struct cw w = {0};
        (void)state;

        cw_entry(&w, "kernel/x86/microcode/GenuineIntel.bin", 0100644, "ucode");
        cw_trailer(&w);
        cw_align(&w, 512);
        cw_entry(&w, "init", 0100755, "x");
        cw_entry(&w, "usr/sbin/iscsistart", 0100755, "ELF");
        cw_trailer(&w);
        cw_align(&w, 512);
        cpio_parser_init(&p, false, &rec_cb, &r);
        assert_int_equal(feed_steps(&p, w.buf, w.len, 5), (ssize_t)w.len);
        assert_int_equal(cpio_parser_finish(&p), 0);
        assert_int_equal(p.archives, 2);
        assert_int_equal(r.n, 3);
        assert_string_equal(r.names[2], "usr/sbin/iscsistart");
        cpio_parser_free(&p);
        free(w.buf);
}

static void test_missing_trailer(void **state)
{
        struct cpio_parser p;
        struct rec r = {0};
        struct cw w = {0};
        (void)state;

        cw_entry(&w, "init", 0100755, "x");
        cw_entry(&w, "conf", 040755, NULL);
        cpio_parser_init(&p, false, &rec_cb, &r);
        assert_int_equal(cpio_parser_feed(&p, w.buf, w.len), (ssize_t)w.len);
        assert_int_equal(cpio_parser_finish(&p), -ENODATA);
        assert_non_null(strstr(p.error, "TRAILER!!!"));
        assert_int_equal(r.n, 2);
        cpio_parser_free(&p);

        /* Cut inside a body, inside a name, inside a header. */
        for (size_t cut = 1; cut < w.len; cut++) {
                cpio_parser_init(&p, false, &rec_cb, &r);
                assert_int_equal(cpio_parser_feed(&p, w.buf, cut), (ssize_t)cut);
                assert_int_equal(cpio_parser_finish(&p), -ENODATA);
                cpio_parser_free(&p);
        }
        free(w.buf);
}

static void test_garbage(void **state)
{
        static const unsigned char zstd[] = {0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00, 0x99};
        struct cpio_parser p;
        struct rec r = {0};
        struct cw w = {0};
        unsigned char bad[CPIO_HEADER_SIZE];
        (void)state;

        /* Not cpio, inner stream: malformed. */
        cpio_parser_init(&p, false, &rec_cb, &r);
        assert_int_equal(cpio_parser_feed(&p, "hello world", 11), -EBADMSG);
        assert_int_equal(cpio_parser_finish(&p), -EBADMSG);
        cpio_parser_free(&p);

        /* The old odc format is named. */
        cpio_parser_init(&p, false, &rec_cb, &r);
        assert_int_equal(cpio_parser_feed(&p, "070707000000", 12), -EBADMSG);
        assert_non_null(strstr(p.error, "odc"));
        cpio_parser_free(&p);

        /* A header with a non-hex field. */
        cw_entry(&w, "init", 0100755, "x");
        memcpy(bad, w.buf, sizeof(bad));
        bad[20] = 'Z';
        cpio_parser_init(&p, false, &rec_cb, &r);
        assert_int_equal(cpio_parser_feed(&p, bad, sizeof(bad)), -EBADMSG);
        cpio_parser_free(&p);

        /* Outer stream: an early archive, NUL padding, then compressed data is handed back. */
        w.len = 0;
        cw_entry(&w, "early", 0100644, "u");
        cw_trailer(&w);
        cw_align(&w, 512);
        size_t early = w.len;
        cw_put(&w, zstd, sizeof(zstd));
        cpio_parser_init(&p, true, &rec_cb, &r);
        assert_int_equal(feed_steps(&p, w.buf, w.len, 3), (ssize_t)(early + 6));
        assert_int_equal(p.state, CPIO_COMPRESSED);
        assert_int_equal(p.compressed_at, early);
        assert_string_equal(initrd_compression(p.hdr, p.hdr_len), "zstd");
        assert_int_equal(cpio_parser_finish(&p), 0);
        cpio_parser_free(&p);
        free(w.buf);
}

static void test_compression_magic(void **state)
{
        (void)state;
        assert_string_equal(initrd_compression((const unsigned char *)"\x1f\x8b\x08", 3), "gzip");
        assert_string_equal(
            initrd_compression((const unsigned char *)"\xfd\x37\x7a\x58\x5a\x00", 6), "xz");
        assert_string_equal(initrd_compression((const unsigned char *)"\x02\x21\x4c\x18", 4),
                            "lz4");
        assert_string_equal(initrd_compression((const unsigned char *)"BZh9", 4), "bzip2");
        assert_string_equal(initrd_compression((const unsigned char *)"\x5d\x00\x00\x80", 4),
                            "lzma");
        assert_string_equal(initrd_compression((const unsigned char *)"\x28\xb5\x2f\xfd", 4),
                            "zstd");
        assert_null(initrd_compression((const unsigned char *)"\xfd\x37\x7a", 3));
        assert_null(initrd_compression((const unsigned char *)"070701", 6));
}

/* ---- whole files ---- */

static char tmpdir[64];

static int setup_dir(void **state)
{
        (void)state;
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_initrd.XXXXXX");
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
        char *argv[] = {"rm", "-rf", "--one-file-system", tmpdir, NULL};
        pid_t pid;
        int status;
        (void)state;

        if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) != 0)
                return -1;
        waitpid(pid, &status, 0);
        return 0;
}

#define KV "6.1.0-99-test"

static void make_initrd(const char *path, const char *tool, unsigned flags)
{
        testinitrd_make(tmpdir, path, tool, KV, flags);
}

static const struct initrd_item *item_named(const struct initrd_report *rep, const char *name)
{
        for (unsigned i = 0; i < rep->n_items; i++)
                if (streq(rep->items[i].name, name))
                        return &rep->items[i];
        fail_msg("no item %s", name);
        return NULL;
}

static void test_check_ok(void **state)
{
        static const char *const tools[] = {"gzip", "zstd", "xz"};
        char path[128], why[512];
        struct initrd_report rep;
        (void)state;

        for (size_t t = 0; t < ARRAY_SIZE(tools); t++) {
                snprintf(path, sizeof(path), "%s/ok-%s.img", tmpdir, tools[t]);
                make_initrd(path, tools[t], WITH_SD_MOD);
                assert_int_equal(initrd_check(path, NULL, &rep), 0);
                for (unsigned i = 0; i < rep.n_items; i++)
                        if (!rep.items[i].ok)
                                fail_msg("%s: %s: %s", tools[t], rep.items[i].name,
                                         rep.items[i].detail);
                assert_true(rep.ok);
                assert_string_equal(rep.kernel, KV);
                assert_string_equal(rep.compression, tools[t]);
                assert_non_null(strstr(item_named(&rep, "ext4")->detail, "built into"));
                assert_non_null(strstr(item_named(&rep, "crc32c")->detail, "crc32c-intel"));
                assert_int_equal(initrd_passes_check(NULL, path, NULL, why, sizeof(why)), 1);
                assert_int_equal(initrd_passes_check(NULL, path, KV, why, sizeof(why)), 1);
        }
}

static void test_check_missing(void **state)
{
        char path[128], why[1024];
        struct initrd_report rep;
        struct initrd_check_options opt = {.nic = "lan78xx"};
        (void)state;

        snprintf(path, sizeof(path), "%s/nosd.img", tmpdir);
        make_initrd(path, "gzip", NO_ISCSISTART);
        assert_int_equal(initrd_check(path, &opt, &rep), 0);
        assert_false(rep.ok);
        assert_false(item_named(&rep, "sd_mod")->ok);
        assert_false(item_named(&rep, "iscsistart")->ok);
        assert_false(item_named(&rep, "lan78xx")->ok);
        assert_true(item_named(&rep, "iscsi_tcp")->ok);
        assert_true(item_named(&rep, "archive complete")->ok);
        assert_int_equal(initrd_passes_check(NULL, path, NULL, why, sizeof(why)), 0);
        assert_non_null(strstr(why, "sd_mod"));
        assert_non_null(strstr(why, "iscsistart"));

        /* sd_mod built into the kernel counts. */
        make_initrd(path, "gzip", SD_MOD_BUILTIN);
        assert_int_equal(initrd_check(path, NULL, &rep), 0);
        assert_true(rep.ok);

        /* A kernel version the archive does not have. */
        opt = (struct initrd_check_options){.kver = "6.1.0-1-other", .nic = "none"};
        assert_int_equal(initrd_check(path, &opt, &rep), 0);
        assert_false(rep.ok);
        assert_false(item_named(&rep, "lib/modules/6.1.0-1-other")->ok);
        assert_true(item_named(&rep, "nic")->ok);

        /* Bad options are refused, not checked. */
        opt = (struct initrd_check_options){.nic = "smsc95xx;rm"};
        assert_int_equal(initrd_check(path, &opt, &rep), -EINVAL);
        opt = (struct initrd_check_options){.kver = "../x"};
        assert_int_equal(initrd_check(path, &opt, &rep), -EINVAL);
}

static void test_check_iscsi_conf(void **state)
{
        char path[128], conf[160];
        struct initrd_report rep;
        struct initrd_check_options opt = {.root = tmpdir};
        (void)state;

        snprintf(path, sizeof(path), "%s/conf.img", tmpdir);
        make_initrd(path, "gzip", WITH_SD_MOD);
        /* The Pi does not use the file: not required. */
        assert_int_equal(initrd_check(path, &opt, &rep), 0);
        assert_true(item_named(&rep, "etc/iscsi.initramfs")->ok);

        snprintf(conf, sizeof(conf), "%s/etc", tmpdir);
        mkdir(conf, 0755);
        snprintf(conf, sizeof(conf), "%s/etc/iscsi", tmpdir);
        mkdir(conf, 0755);
        snprintf(conf, sizeof(conf), "%s/etc/iscsi/iscsi.initramfs", tmpdir);
        write_file(conf, "ISCSI_TARGET_NAME=iqn.x\n", 24);
        assert_int_equal(initrd_check(path, &opt, &rep), 0);
        assert_false(item_named(&rep, "etc/iscsi.initramfs")->ok);
        assert_false(rep.ok);

        make_initrd(path, "gzip", WITH_SD_MOD | WITH_CONF);
        assert_int_equal(initrd_check(path, &opt, &rep), 0);
        assert_true(rep.ok);
        unlink(conf);
}

static void test_check_truncated_and_garbage(void **state)
{
        char path[128], cut[128], why[512];
        struct initrd_report rep;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        int fd;
        (void)state;

        snprintf(path, sizeof(path), "%s/full.img", tmpdir);
        snprintf(cut, sizeof(cut), "%s/cut.img", tmpdir);
        make_initrd(path, "zstd", WITH_SD_MOD);
        assert_int_equal(stat(path, &st), 0);
        buf = malloc((size_t)st.st_size);
        fd = open(path, O_RDONLY);
        assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
        close(fd);

        /* The compressed main archive cut short: read, but "archive complete" fails. */
        write_file(cut, buf, (size_t)st.st_size - 10);
        assert_int_equal(initrd_check(cut, NULL, &rep), 0);
        assert_false(rep.ok);
        assert_false(item_named(&rep, "archive complete")->ok);
        assert_non_null(strstr(item_named(&rep, "archive complete")->detail, "incomplete"));
        assert_int_equal(initrd_passes_check(NULL, cut, NULL, why, sizeof(why)), 0);

        /* Cut inside the early cpio: still an initramfs, still incomplete. */
        write_file(cut, buf, 200);
        assert_int_equal(initrd_check(cut, NULL, &rep), 0);
        assert_false(item_named(&rep, "archive complete")->ok);

        /* Not an initramfs at all. */
        write_file(cut, "this is not an initramfs\n", 25);
        assert_int_equal(initrd_check(cut, NULL, &rep), -EBADMSG);
        assert_non_null(strstr(rep.error, "not an initramfs"));
        assert_true(initrd_passes_check(NULL, cut, NULL, why, sizeof(why)) < 0);
        assert_non_null(strstr(why, "not an initramfs"));

        /* Empty file, missing file. */
        write_file(cut, "", 0);
        assert_int_equal(initrd_check(cut, NULL, &rep), -EBADMSG);
        snprintf(cut, sizeof(cut), "%s/absent.img", tmpdir);
        assert_int_equal(initrd_check(cut, NULL, &rep), -ENOENT);

        /* A gzip header followed by nonsense: not an initramfs. */
        snprintf(cut, sizeof(cut), "%s/badgz.img", tmpdir);
        write_file(cut, "\x1f\x8b\x08\x00garbagegarbage", 18);
        assert_int_equal(initrd_check(cut, NULL, &rep), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_single_archive),
            cmocka_unit_test(test_odd_name_padding),
            cmocka_unit_test(test_concatenated),
            cmocka_unit_test(test_missing_trailer),
            cmocka_unit_test(test_garbage),
            cmocka_unit_test(test_compression_magic),
            cmocka_unit_test(test_check_ok),
            cmocka_unit_test(test_check_missing),
            cmocka_unit_test(test_check_iscsi_conf),
            cmocka_unit_test(test_check_truncated_and_garbage),
        };

        return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
