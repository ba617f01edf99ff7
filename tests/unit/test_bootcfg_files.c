/* config.txt read with the files it includes, from a real folder: include (nested, missing,
 * skipped by a filter, loops, depth, paths leaving the folder), os_prefix viability, the Pi 4
 * defaults, [board-type=], the entry-only line limit, and the initramfs edit landing in the file
 * where the deciding line lives. Configs of this project's own writing; the field files are in
 * tests/data and ../shared/reference/realworld. */
#include "testutil.h"

#include "bootcfg.h"
#include "fileio.h"
#include "util.h"

#define PI3B  "Raspberry Pi 3 Model B Rev 1.2"
#define PI3BP "Raspberry Pi 3 Model B Plus Rev 1.3"
#define PI4B  "Raspberry Pi 4 Model B Rev 1.4"

static const struct bootcfg_target pi3 = {.model = PI3B, .serial = "511e57f7"};
static const struct bootcfg_target pi4 = {.model = PI4B, .serial = "22bba2d2"};

struct fx {
        char *dir;
        struct bootcfg_files fs;
        struct bootcfg_result res;
        struct bootcfg_diag diag;
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));

        f->dir = test_tmpdir();
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        bootcfg_files_free(&f->fs);
        test_rmtree(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static void put(struct fx *f, const char *name, const char *content)
{
        char *p, *slash;

        assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
        slash = strrchr(p, '/');
        *slash = '\0';
        assert_int_equal(mkdir_parents(p, 0755), 0);
        *slash = '/';
        assert_int_equal(file_write_atomic(p, content, strlen(content), 0644), 0);
        free(p);
}

static bool diag_has(const struct bootcfg_diag *d, const char *needle, bool error)
{
        for (size_t i = 0; i < d->n; i++)
                if (strstr(d->msgs[i].text, needle) && d->msgs[i].error == error)
                        return true;
        return false;
}

/* Loads and evaluates the folder for PI; returns bootcfg_files_load's result. */
static int load(struct fx *f, const struct bootcfg_target *pi)
{
        int r;

        bootcfg_files_free(&f->fs);
        bootcfg_diag_init(&f->diag, "config.txt");
        r = bootcfg_files_load(&f->fs, f->dir, "config.txt", &f->diag);
        if (r == 0)
                assert_int_equal(bootcfg_evaluate_files(&f->fs, pi, &f->res, &f->diag), 0);
        return r;
}

static void test_include_follows(void **state)
{
        struct fx *f = *state;

        /* Ubuntu's shape: defaults in config.txt, the real settings in the included files. */
        put(f, "config.txt",
            "[pi3]\nkernel=uboot_rpi_3.bin\n[all]\ncmdline=cmdline.txt\ninclude syscfg.txt\n"
            "include usercfg.txt\n");
        put(f, "syscfg.txt", "enable_uart=1\ncmdline=cmdline.txt\n");
        put(f, "usercfg.txt",
            "[all]\nkernel=vmlinux\ninitramfs initrd.img followkernel\n"
            "cmdline=iscsi.txt\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_int_equal(f->fs.n, 3);
        assert_string_equal(f->res.kernel, "vmlinux");
        assert_string_equal(f->res.initramfs[0], "initrd.img");
        assert_string_equal(f->res.cmdline, "iscsi.txt");
        assert_int_equal(f->res.n_included, 2);
        /* The deciding line is line 3 of usercfg.txt, and it says so. */
        assert_int_equal(f->res.deciding[0], 3);
        assert_string_equal(f->fs.files[f->res.deciding_src[0]].name, "usercfg.txt");
        assert_string_equal(f->fs.files[f->res.kernel_src].name, "usercfg.txt");
        assert_int_equal(f->res.kernel_line, 2);
}

static void test_include_nested_missing_and_filtered(void **state)
{
        struct fx *f = *state;
        char where[300];

        put(f, "config.txt", "include a.txt\ninclude gone.txt\n[pi4]\ninclude pi4.txt\n[all]\n");
        put(f, "a.txt", "include cfg/b.txt\n");
        put(f, "cfg/b.txt", "initramfs initrd.img-nested followkernel\n");
        put(f, "pi4.txt", "[all]\ninitramfs initrd.img-pi4 followkernel\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_string_equal(f->res.initramfs[0], "initrd.img-nested");
        /* A missing file is skipped, as the firmware does, and said. */
        assert_true(diag_has(&f->diag, "config.txt:2: include gone.txt: no such file", false));
        bootcfg_where(&f->fs, f->res.deciding_src[0], f->res.deciding[0], where, sizeof(where));
        assert_string_equal(where, "cfg/b.txt line 1");
        /* An include in a section that does not apply is not read (LibreELEC PR 389). */
        assert_int_equal(load(f, &pi4), 0);
        assert_string_equal(f->res.initramfs[0], "initrd.img-pi4");
}

static void test_include_errors(void **state)
{
        struct fx *f = *state;

        put(f, "config.txt", "include a.txt\n");
        put(f, "a.txt", "dtparam=audio=on\ninclude config.txt\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_true(diag_has(&f->diag, "a.txt:2: include config.txt makes a loop", true));

        put(f, "config.txt", "dtparam=audio=on\ninclude ../other/config.txt\n");
        assert_int_equal(load(f, &pi3), -EXDEV);
        assert_true(diag_has(&f->diag,
                             "config.txt:2: include ../other/config.txt: not a file "
                             "inside the boot folder",
                             true));

        /* A chain of 18 files: more than the 16 a set holds. */
        put(f, "config.txt", "include d1.txt\n");
        for (int i = 1; i <= 16; i++) {
                char name[16], line[32];

                snprintf(name, sizeof(name), "d%d.txt", i);
                snprintf(line, sizeof(line), "include d%d.txt\n", i + 1);
                put(f, name, line);
        }
        put(f, "d17.txt", "kernel=deep\n");
        assert_int_equal(load(f, &pi3), -E2BIG);
        assert_true(diag_has(&f->diag, "d15.txt:1: include d16.txt: more than 16 files", true));
        /* config.txt and eight files, each including the next: followed. Nine: too deep. */
        put(f, "config.txt", "include d10.txt\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_null(bootcfg_diag_error(&f->diag));
        assert_string_equal(f->res.kernel, "deep");
        put(f, "config.txt", "include d9.txt\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_true(diag_has(&f->diag, "d16.txt:1: include d17.txt nests deeper than 8", true));

        /* A symlink or a FIFO is not read through. */
        put(f, "config.txt", "include link.txt\n");
        {
                char *p;

                assert_true(asprintf(&p, "%s/link.txt", f->dir) > 0);
                assert_int_equal(symlink("/etc/passwd", p), 0);
                free(p);
        }
        assert_int_equal(load(f, &pi3), -ELOOP);
        assert_true(diag_has(&f->diag, "include link.txt", true));
}

static void test_os_prefix_viability(void **state)
{
        struct fx *f = *state;

        put(f, "config.txt",
            "os_prefix=current/\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n");
        put(f, "vmlinuz", "k");
        put(f, "current/vmlinuz", "k");
        /* No .dtb under the prefix: the firmware ignores it. */
        assert_int_equal(load(f, &pi3), 0);
        assert_true(f->res.os_prefix_ignored);
        assert_string_equal(f->res.kernel, "vmlinuz");
        assert_string_equal(f->res.initramfs[0], "initrd.img");
        assert_string_equal(f->res.cmdline, "cmdline.txt");
        assert_true(
            diag_has(&f->diag, "current/bcm2710-rpi-3-b.dtb is not in the boot folder", false));
        /* With the Pi 3's .dtb there, it applies; a 3B+ needs its own .dtb. */
        put(f, "current/bcm2710-rpi-3-b.dtb", "d");
        assert_int_equal(load(f, &pi3), 0);
        assert_false(f->res.os_prefix_ignored);
        assert_string_equal(f->res.kernel, "current/vmlinuz");
        assert_string_equal(f->res.initramfs[0], "current/initrd.img");
        assert_string_equal(f->res.cmdline, "current/cmdline.txt");
        {
                struct bootcfg_target p = {.model = PI3BP};

                assert_int_equal(load(f, &p), 0);
                assert_true(f->res.os_prefix_ignored);
        }
        /* device_tree= names the .dtb to look for. */
        put(f, "config.txt", "os_prefix=current/\nkernel=vmlinuz\ndevice_tree=mine.dtb\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_true(f->res.os_prefix_ignored);
        put(f, "current/mine.dtb", "d");
        assert_int_equal(load(f, &pi3), 0);
        assert_false(f->res.os_prefix_ignored);
        /* upstream_kernel=1: "upstream/" unless set, with the upstream .dtb names. */
        put(f, "config.txt", "upstream_kernel=1\nkernel=vmlinuz\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_string_equal(f->res.kernel, "vmlinuz");
        put(f, "upstream/vmlinuz", "k");
        put(f, "upstream/bcm2837-rpi-3-b.dtb", "d");
        assert_int_equal(load(f, &pi3), 0);
        assert_string_equal(f->res.kernel, "upstream/vmlinuz");
}

static void test_models_and_lines(void **state)
{
        struct fx *f = *state;
        char line[200];

        /* Pi 4: kernel8.img by default (arm_64bit defaults to 1). */
        put(f, "config.txt", "auto_initramfs=1\n");
        assert_int_equal(load(f, &pi4), 0);
        assert_string_equal(f->res.kernel, "kernel8.img");
        assert_string_equal(f->res.initramfs[0], "initramfs8");
        /* [board-type=0x08] is a Pi 3B; it is a model filter (replaces [pi4]). */
        put(f, "config.txt", "[board-type=0x08]\nkernel=k-3b\n[pi4]\nkernel=k-4\n[all]\n");
        assert_int_equal(load(f, &pi3), 0);
        assert_string_equal(f->res.kernel, "k-3b");
        assert_int_equal(load(f, &pi4), 0);
        assert_string_equal(f->res.kernel, "k-4");
        /* The 98-character limit is for entries: a long comment is harmless, a long entry is
         * read as its first 98 characters. */
        memset(line, 'x', sizeof(line));
        memcpy(line, "# ", 2);
        line[120] = '\0';
        {
                char text[512];

                snprintf(text, sizeof(text), "%s\nkernel=%.100s\n", line,
                         "k1234567890123456789012345678901234567890123456789012345678901234567890"
                         "123456789012345678901234567890");
                put(f, "config.txt", text);
        }
        assert_int_equal(load(f, &pi3), 0);
        assert_false(diag_has(&f->diag, "config.txt:1:", false));
        assert_true(diag_has(&f->diag, "config.txt:2: line is 107 characters long", false));
        assert_int_equal(strlen(f->res.kernel), 91); /* 98 minus "kernel=" */

        /* Fuzzer find: the deciding initramfs line is longer than the limit; the edit replaces
         * the whole name as written (not only the part read), so setting it again is a no-op. */
        {
                char text[300], *out = NULL;
                size_t out_len;
                struct bootcfg_diag d;

                memset(line, 'y', 120);
                line[120] = '\0';
                snprintf(text, sizeof(text), "initramfs initrd.img%s followkernel\n", line);
                bootcfg_diag_init(&d, "config.txt");
                assert_int_equal(bootcfg_set_initramfs(text, strlen(text), &pi3, "initrd.img-NEW",
                                                       &out, &out_len, &d),
                                 1);
                assert_string_equal(out, "initramfs initrd.img-NEW followkernel\n");
                free(out);
        }
}

static void test_edit_in_included_file(void **state)
{
        struct fx *f = *state;
        struct bootcfg_edit e;
        struct bootcfg_diag d;

        put(f, "config.txt", "initramfs initrd.img-old followkernel\ninclude usercfg.txt\n");
        put(f, "usercfg.txt", "[all]\nkernel=vmlinux\ninitramfs initrd.img followkernel\n");
        assert_int_equal(load(f, &pi3), 0);
        bootcfg_diag_init(&d, "config.txt");
        assert_int_equal(bootcfg_files_set_initramfs(&f->fs, &pi3, "initrd.img-NEW", &e, &d), 1);
        /* The line that decides is in usercfg.txt: that file changes, line 3 only. */
        assert_string_equal(f->fs.files[e.src].name, "usercfg.txt");
        assert_string_equal(e.text,
                            "[all]\nkernel=vmlinux\ninitramfs initrd.img-NEW followkernel\n");
        assert_int_equal(bootcfg_files_set_text(&f->fs, e.src, e.text, e.len), 0);
        assert_int_equal(bootcfg_evaluate_files(&f->fs, &pi3, &f->res, &d), 0);
        assert_string_equal(f->res.initramfs[0], "initrd.img-NEW");
        free(e.text);

        /* Nothing decides: the line is appended to config.txt, after the include. */
        put(f, "usercfg.txt", "[pi4]\nkernel=vmlinux\n");
        put(f, "config.txt", "include usercfg.txt\n");
        assert_int_equal(load(f, &pi3), 0);
        bootcfg_diag_init(&d, "config.txt");
        assert_int_equal(bootcfg_files_set_initramfs(&f->fs, &pi3, "initrd.img-NEW", &e, &d), 1);
        assert_int_equal(e.src, 0);
        /* usercfg.txt ends in [pi4]: the appended line needs an [all] to apply. */
        assert_string_equal(e.text, "include usercfg.txt\n[all]\ninitramfs initrd.img-NEW "
                                    "followkernel\n");
        free(e.text);

        /* A file included twice: the later inclusion sits under a filter that does not apply,
         * the earlier decides; the edit is checked by evaluating the result. */
        put(f, "config.txt", "include i.txt\n[pi4]\ninclude i.txt\n[all]\n");
        put(f, "i.txt", "initramfs initrd.img followkernel\n");
        assert_int_equal(load(f, &pi3), 0);
        bootcfg_diag_init(&d, "config.txt");
        assert_int_equal(bootcfg_files_set_initramfs(&f->fs, &pi3, "initrd.img-NEW", &e, &d), 1);
        assert_string_equal(e.text, "initramfs initrd.img-NEW followkernel\n");
        free(e.text);

        /* An include loop: what the firmware reads is unknown; nothing is edited. */
        put(f, "config.txt", "include a.txt\n");
        put(f, "a.txt", "include config.txt\n");
        assert_int_equal(load(f, &pi3), 0);
        bootcfg_diag_init(&d, "config.txt");
        assert_int_equal(bootcfg_files_set_initramfs(&f->fs, &pi3, "initrd.img-NEW", &e, &d),
                         -EINVAL);
        assert_null(e.text);
        assert_true(diag_has(&d, "makes a loop", true));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_include_follows, setup, teardown),
            cmocka_unit_test_setup_teardown(test_include_nested_missing_and_filtered, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_include_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_os_prefix_viability, setup, teardown),
            cmocka_unit_test_setup_teardown(test_models_and_lines, setup, teardown),
            cmocka_unit_test_setup_teardown(test_edit_in_included_file, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
