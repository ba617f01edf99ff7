/* trial_boot=tryboot's text and file work: the trial initramfs name, tryboot.txt made from
 * config.txt (one line changed; [tryboot] sections that would make the promotion boot something
 * else refused), the firmware's boot-mode cell, the promotion and the version in trial names. */
#include "testutil.h"

#include "fileio.h"
#include "tryboot.h"
#include "util.h"

static const struct bootcfg_target pi3 = {.model = "Raspberry Pi 3 Model B Rev 1.2",
                                          .serial = "511e57f7"};

/* tryboot.txt from CFG as config.txt alone (no boot folder: includes not followed). */
static int make(const char *cfg, const char *file, char **out, size_t *len, char *why,
                size_t why_size)
{
        struct bootcfg_files fs;
        int r;

        assert_int_equal(bootcfg_files_from_text(&fs, "config.txt", cfg, strlen(cfg)), 0);
        r = tryboot_make_text(&fs, &pi3, file, file, out, len, why, why_size);
        bootcfg_files_free(&fs);
        return r;
}

static void test_name(void **state)
{
        char name[64], v[64];

        (void)state;
        assert_int_equal(tryboot_initrd_name("6.1.21-v7+", 7, name, sizeof(name)), 0);
        assert_string_equal(name, "initrd.img-6.1.21-v7+.netroot-g7");
        tryboot_kver_from_initrd_name(name, v, sizeof(v));
        assert_string_equal(v, "6.1.21-v7+");
        assert_int_equal(tryboot_initrd_name("6.1.21-v7+", 7, name, 10), -ENAMETOOLONG);
        tryboot_kver_from_initrd_name("/x/initrd.img-6.1.0-13-arm64", v, sizeof(v));
        assert_string_equal(v, "6.1.0-13-arm64");
        tryboot_kver_from_initrd_name("initrd.img-6.1.netroot-gx", v, sizeof(v));
        assert_string_equal(v, "6.1.netroot-gx");
        tryboot_kver_from_initrd_name("initramfs7", v, sizeof(v));
        assert_string_equal(v, "");
}

static void test_text(void **state)
{
        const char *cfg = "# c\nkernel=vmlinuz-6.1\r\ninitramfs initrd.img-6.1 followkernel\n"
                          "[all]\ndtparam=x\n";
        const char *want = "# c\nkernel=vmlinuz-6.1\r\ninitramfs initrd.img-6.1.netroot-g2 "
                           "followkernel\n[all]\ndtparam=x\n";
        char *out = NULL, why[1024];
        size_t len = 0;

        (void)state;
        assert_int_equal(make(cfg, "initrd.img-6.1.netroot-g2", &out, &len, why, sizeof(why)), 0);
        assert_int_equal(len, strlen(want));
        assert_string_equal(out, want);
        free(out);
}

static void test_text_tryboot_section(void **state)
{
        /* After the promotion config.txt is read without the flag: [tryboot] must not decide. */
        const char *cfg = "initramfs initrd.img-6.1 followkernel\n[tryboot]\n"
                          "initramfs other.img followkernel\n[all]\n";
        char *out = NULL, why[1024];
        size_t len = 0;

        (void)state;
        assert_int_equal(make(cfg, "initrd.img-6.1.netroot-g1", &out, &len, why, sizeof(why)),
                         -EINVAL);
        assert_null(out);
        assert_non_null(strstr(why, "[tryboot]"));
        assert_non_null(strstr(why, "without the tryboot flag"));
}

static void test_text_auto(void **state)
{
        const char *cfg = "auto_initramfs=1\n";
        char *out = NULL, why[1024];
        size_t len = 0;

        (void)state;
        assert_int_equal(make(cfg, "initrd.img-6.1.netroot-g1", &out, &len, why, sizeof(why)),
                         -EOPNOTSUPP);
        assert_null(out);
        assert_true(why[0] != '\0');
}

static void write_bytes(const char *path, const void *data, size_t n)
{
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        fclose(f);
}

static void test_flag(void **state)
{
        char *root = test_tmpdir(), *dir, *path;

        (void)state;
        assert_int_equal(tryboot_flag_read(root), -ENOENT);
        assert_true(asprintf(&dir, "%s/proc/device-tree/chosen/bootloader", root) > 0);
        assert_int_equal(mkdir_parents(dir, 0755), 0);
        assert_true(asprintf(&path, "%s/tryboot", dir) > 0);
        write_bytes(path, "\0\0\0\1", 4);
        assert_int_equal(tryboot_flag_read(root), 1);
        write_bytes(path, "\0\0\0\0", 4);
        assert_int_equal(tryboot_flag_read(root), 0);
        write_bytes(path, "\1", 1);
        assert_int_equal(tryboot_flag_read(root), -EBADMSG);
        free(path);
        free(dir);
        test_rmtree(root);
        free(root);
}

static void test_promote(void **state)
{
        char *dir = test_tmpdir(), *cfg, *tb, *text = NULL, err[512];
        struct stat st;

        (void)state;
        assert_int_equal(tryboot_promote(dir, err, sizeof(err)), -ENOENT);
        cfg = test_write(dir, "config.txt", "initramfs a followkernel\n");
        assert_int_equal(chmod(cfg, 0640), 0);
        tb = test_write(dir, "tryboot.txt", "initramfs b followkernel\n");
        assert_int_equal(tryboot_promote(dir, err, sizeof(err)), 0);
        assert_int_equal(file_read_all(cfg, 4096, &text, NULL), 0);
        assert_string_equal(text, "initramfs b followkernel\n");
        assert_int_equal(stat(cfg, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(access(tb, F_OK), -1);
        assert_int_equal(tryboot_remove(dir), 0);
        free(text);
        free(cfg);
        free(tb);
        test_rmtree(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_name),
            cmocka_unit_test(test_text),
            cmocka_unit_test(test_text_tryboot_section),
            cmocka_unit_test(test_text_auto),
            cmocka_unit_test(test_flag),
            cmocka_unit_test(test_promote),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
