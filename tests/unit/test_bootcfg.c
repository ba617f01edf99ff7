/* config.txt evaluation and the initramfs edit, on the shapes config.txt files have in the field
 * (tests/data/configtxt/) and on small inline cases. Every edit test compares the untouched
 * lines byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bootcfg.h"
#include "fileio.h"
#include "piinfo.h"
#include "strbuf.h"
#include "util.h"

#include <libgen.h>
#include <sys/stat.h>

#define PI3B   "Raspberry Pi 3 Model B Rev 1.2"
#define PI3BP  "Raspberry Pi 3 Model B Plus Rev 1.3"
#define PI4B   "Raspberry Pi 4 Model B Rev 1.4"
#define PI2B   "Raspberry Pi 2 Model B Rev 1.1"
#define PI1BP  "Raspberry Pi Model B Plus Rev 1.2"
#define PI02W  "Raspberry Pi Zero 2 W Rev 1.0"
#define SERIAL "511e57f7"

static const struct bootcfg_target pi3 = {.model = PI3B, .serial = SERIAL};

/* ---- helpers -------------------------------------------------------------------------------- */

static char *data_path(const char *name)
{
        char *dir = strdup(__FILE__), *p;

        assert_non_null(dir);
        assert_true(asprintf(&p, "%s/../data/configtxt/%s", dirname(dir), name) > 0);
        free(dir);
        return p;
}

static char *load(const char *name, size_t *len)
{
        _cleanup_free_ char *path = data_path(name);
        char *buf = NULL;

        assert_int_equal(file_read_all(path, 1 << 20, &buf, len), 0);
        return buf;
}

static void eval_text(const char *text, const struct bootcfg_target *pi, struct bootcfg_result *res,
                      struct bootcfg_diag *diag)
{
        bootcfg_diag_init(diag, "config.txt");
        assert_int_equal(bootcfg_evaluate(text, strlen(text), pi, res, diag), 0);
}

static bool diag_has(const struct bootcfg_diag *diag, const char *needle)
{
        for (size_t i = 0; i < diag->n; i++)
                if (strstr(diag->msgs[i].text, needle))
                        return true;
        return false;
}

/* The Nth line (1-based) of TEXT including its line ending; NULL past the end. */
static const char *nth_line(const char *text, size_t len, unsigned n, size_t *llen)
{
        const char *p = text, *end = text + len;

        for (unsigned i = 1; p < end; i++) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                if (i == n) {
                        *llen = l;
                        return p;
                }
                p += l;
        }
        return NULL;
}

static unsigned count_lines(const char *text, size_t len)
{
        unsigned n = 0;
        size_t l;

        while (nth_line(text, len, n + 1, &l))
                n++;
        return n;
}

/* Every line but LINE is byte-identical, the line count is the same, and LINE now reads WANT
 * (compared without its line ending, whose bytes must also be unchanged). */
static void assert_only_line_changed(const char *old, size_t old_len, const char *new_text,
                                     size_t new_len, unsigned line, const char *want)
{
        unsigned n = count_lines(old, old_len);

        assert_int_equal(count_lines(new_text, new_len), n);
        for (unsigned i = 1; i <= n; i++) {
                size_t la = 0, lb = 0;
                const char *a = nth_line(old, old_len, i, &la);
                const char *b = nth_line(new_text, new_len, i, &lb);
                size_t ea = la > 0 && a[la - 1] == '\n' ? (la > 1 && a[la - 2] == '\r' ? 2 : 1) : 0;
                size_t eb = lb > 0 && b[lb - 1] == '\n' ? (lb > 1 && b[lb - 2] == '\r' ? 2 : 1) : 0;

                if (i != line) {
                        assert_int_equal(la, lb);
                        assert_memory_equal(a, b, la);
                        continue;
                }
                assert_int_equal(ea, eb);
                assert_memory_equal(a + la - ea, b + lb - eb, ea);
                assert_int_equal(lb - eb, strlen(want));
                assert_memory_equal(b, want, strlen(want));
        }
}

static int edit(const char *text, size_t len, const struct bootcfg_target *pi, const char *file,
                char **out, size_t *out_len, struct bootcfg_diag *diag)
{
        bootcfg_diag_init(diag, "config.txt");
        return bootcfg_set_initramfs(text, len, pi, file, out, out_len, diag);
}

/* ---- models and defaults -------------------------------------------------------------------- */

static void test_board_names(void **state)
{
        (void)state;
        assert_string_equal(bootcfg_board_name(PI3B), "pi3");
        assert_string_equal(bootcfg_board_name(PI3BP), "pi3+");
        assert_string_equal(bootcfg_board_name("Raspberry Pi 3 Model A Plus Rev 1.0"), "pi3+");
        assert_string_equal(bootcfg_board_name(PI4B), "pi4");
        assert_string_equal(bootcfg_board_name("Raspberry Pi 400 Rev 1.0"), "pi400");
        assert_string_equal(bootcfg_board_name("Raspberry Pi Compute Module 3 Plus Rev 1.0"),
                            "cm3+");
        assert_string_equal(bootcfg_board_name("Raspberry Pi Compute Module 4S Rev 1.0"), "cm4s");
        assert_string_equal(bootcfg_board_name(PI02W), "pi02");
        assert_string_equal(bootcfg_board_name("Raspberry Pi Zero W Rev 1.1"), "pi0w");
        assert_string_equal(bootcfg_board_name(PI2B), "pi2");
        assert_string_equal(bootcfg_board_name(PI1BP), "pi1");
        assert_string_equal(bootcfg_board_name("Raspberry Pi 5 Model B Rev 1.0"), "pi5");
        assert_null(bootcfg_board_name("Banana Pi BPI-M2"));
}

static void test_defaults(void **state)
{
        struct bootcfg_target pi4 = {.model = PI4B}, pi1 = {.model = PI1BP};
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        eval_text("", &pi3, &res, &diag);
        assert_string_equal(res.kernel, "kernel7.img");
        assert_int_equal(res.kernel_line, 0);
        assert_string_equal(res.cmdline, "cmdline.txt");
        assert_false(res.arm_64bit);
        assert_int_equal(res.initramfs_from, BOOTCFG_INITRAMFS_NONE);
        assert_int_equal(res.n_initramfs, 0);
        assert_true(res.end_applies);
        assert_int_equal(diag.n, 0);

        eval_text("arm_64bit=1\n", &pi3, &res, &diag);
        assert_string_equal(res.kernel, "kernel8.img");
        assert_int_equal(res.arm_64bit_line, 1);
        /* Pi 4: arm_64bit defaults to 1 and the default kernel is kernel8.img; kernel7l.img
         * only with arm_64bit=0 (config_txt docs, kernel and arm_64bit). */
        eval_text("", &pi4, &res, &diag);
        assert_string_equal(res.kernel, "kernel8.img");
        assert_true(res.arm_64bit);
        assert_int_equal(res.arm_64bit_line, 0);
        eval_text("arm_64bit=0\n", &pi4, &res, &diag);
        assert_string_equal(res.kernel, "kernel7l.img");
        eval_text("", &pi1, &res, &diag);
        assert_string_equal(res.kernel, "kernel.img");
        /* An explicit kernel= wins over arm_64bit's kernel8.img. */
        eval_text("kernel=zImage-6.1\narm_64bit=1\n", &pi3, &res, &diag);
        assert_string_equal(res.kernel, "zImage-6.1");
        assert_int_equal(res.kernel_line, 1);
        assert_true(res.arm_64bit);
}

static void test_unknown_model_and_no_model(void **state)
{
        struct bootcfg_target odd = {.model = "Banana Pi"}, none = {0};
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        eval_text("[pi3]\ninitramfs a followkernel\n", &odd, &res, &diag);
        assert_int_equal(res.initramfs_from, BOOTCFG_INITRAMFS_NONE);
        assert_true(diag_has(&diag, "unknown model 'Banana Pi'"));
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate("", 0, &none, &res, &diag), -EINVAL);
}

/* ---- the field shapes ----------------------------------------------------------------------- */

static void test_tutorial(void **state)
{
        size_t len;
        _cleanup_free_ char *text = load("raspbian-tutorial.txt", &len);
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, "config.txt");
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        assert_int_equal(res.initramfs_from, BOOTCFG_INITRAMFS_LINE);
        assert_int_equal(res.n_initramfs, 1);
        assert_string_equal(res.initramfs[0], "initrd.img-4.4.27-v7+");
        assert_string_equal(res.initramfs_addr, "followkernel");
        assert_int_equal(res.n_deciding, 1);
        assert_int_equal(res.deciding[0], 30);
        assert_string_equal(res.kernel, "kernel7.img");
        assert_int_equal(diag.n, 0);
}

static void test_tutorial_edit(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("raspbian-tutorial.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_diag diag;

        (void)state;
        assert_int_equal(edit(text, len, &pi3, "initrd.img-4.9.35-v7+", &out, &out_len, &diag), 1);
        assert_only_line_changed(text, len, out, out_len, 30,
                                 "initramfs initrd.img-4.9.35-v7+ followkernel");
}

static void check_multi(const char *model, unsigned line, const char *file)
{
        size_t len;
        _cleanup_free_ char *text = load("multi-model.txt", &len);
        struct bootcfg_target pi = {.model = model, .serial = SERIAL};
        struct bootcfg_result res;
        struct bootcfg_diag diag;
        _cleanup_free_ char *out = NULL, *want = NULL;
        size_t out_len;

        bootcfg_diag_init(&diag, "config.txt");
        assert_int_equal(bootcfg_evaluate(text, len, &pi, &res, &diag), 0);
        assert_int_equal(res.deciding[0], line);
        assert_string_equal(res.initramfs[0], file);
        assert_int_equal(edit(text, len, &pi, "initrd.img-NEW", &out, &out_len, &diag), 1);
        assert_true(asprintf(&want, "initramfs initrd.img-NEW followkernel") > 0);
        assert_only_line_changed(text, len, out, out_len, line, want);
}

/* A 3B+ reads [pi3+] and [pi3]; the later section wins, so the [pi3] line decides for it too. */
static void test_multi_model(void **state)
{
        (void)state;
        check_multi(PI3B, 12, "initrd.img-4.19.75-v7+");
        check_multi(PI3BP, 12, "initrd.img-4.19.75-v7+");
        check_multi(PI2B, 5, "initrd.img-4.19.66-v7+");
        check_multi(PI4B, 15, "initrd.img-4.19.75-v7l+");
}

static void test_pi3plus_only_section(void **state)
{
        const char *text = "[pi3]\ninitramfs three followkernel\n[pi3+]\ninitramfs plus "
                           "followkernel\n[all]\n";
        struct bootcfg_target plus = {.model = PI3BP};
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        eval_text(text, &pi3, &res, &diag);
        assert_string_equal(res.initramfs[0], "three");
        eval_text(text, &plus, &res, &diag);
        assert_string_equal(res.initramfs[0], "plus");
        assert_int_equal(res.deciding[0], 4);
}

static void test_serial_sections(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("serial-sections.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_target padded = {.model = PI3B, .serial = "00000000511e57f7"};
        struct bootcfg_target other = {.model = PI3B, .serial = "deadbeef"};
        struct bootcfg_target third = {.model = PI3B, .serial = "12345678"};
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &padded, &res, &diag), 0);
        assert_int_equal(res.deciding[0], 7);
        assert_int_equal(bootcfg_evaluate(text, len, &other, &res, &diag), 0);
        assert_int_equal(res.deciding[0], 10);
        assert_string_equal(res.initramfs[0], "initrd.img-5.4.83-v7+");
        assert_int_equal(bootcfg_evaluate(text, len, &third, &res, &diag), 0);
        assert_int_equal(res.deciding[0], 3);

        /* The Pi in the [0x511e57f7] section changes its own line, not the shared one. */
        assert_int_equal(edit(text, len, &pi3, "initrd.img-5.15.0-v7+", &out, &out_len, &diag), 1);
        assert_only_line_changed(text, len, out, out_len, 7,
                                 "initramfs initrd.img-5.15.0-v7+ followkernel");
}

static void test_serial_unknown(void **state)
{
        struct bootcfg_target noserial = {.model = PI3B};
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        eval_text("initramfs a followkernel\n[0x511e57f7]\ninitramfs b followkernel\n", &noserial,
                  &res, &diag);
        assert_string_equal(res.initramfs[0], "a");
        assert_true(diag_has(&diag, "config.txt:2: serial filter"));
}

static void test_filters_combine(void **state)
{
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        /* Different types AND: [pi3] then a foreign serial does not apply. */
        eval_text("initramfs a followkernel\n[pi3]\n[0xdeadbeef]\ninitramfs b followkernel\n", &pi3,
                  &res, &diag);
        assert_string_equal(res.initramfs[0], "a");
        assert_false(res.end_applies);
        eval_text("[pi3]\n[0x511E57F7]\ninitramfs b followkernel\n", &pi3, &res, &diag);
        assert_string_equal(res.initramfs[0], "b");
        /* Same type replaces: [pi4] then [pi3] is just [pi3]. */
        eval_text("[pi4]\n[pi3]\ninitramfs c followkernel\n", &pi3, &res, &diag);
        assert_string_equal(res.initramfs[0], "c");
        /* [none] hides everything until [all], even a matching model filter. */
        eval_text("initramfs a followkernel\n[none]\n[pi3]\ninitramfs d followkernel\n[all]\n",
                  &pi3, &res, &diag);
        assert_string_equal(res.initramfs[0], "a");
        assert_true(res.end_applies);
}

static void test_tryboot_gpio_edid(void **state)
{
        size_t len;
        _cleanup_free_ char *text = load("tryboot-gpio-edid.txt", &len);
        struct bootcfg_target trying = {.model = PI3B, .serial = SERIAL, .tryboot = true};
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, "tryboot-gpio-edid.txt");
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        assert_int_equal(res.deciding[0], 1);
        assert_string_equal(res.cmdline, "cmdline.txt");
        assert_true(diag_has(&diag, "tryboot-gpio-edid.txt:6: [gpio4=1] depends on a GPIO"));
        assert_true(diag_has(&diag, "tryboot-gpio-edid.txt:9: [EDID=DEL-DELL_U2422H]"));

        /* With the flag, [tryboot] applies; [gpio4=1] is ANDed onto it and still does not. */
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &trying, &res, &diag), 0);
        assert_int_equal(res.deciding[0], 4);
        assert_string_equal(res.initramfs[0], "initrd.img-6.1.58-v7+");
}

static void test_unknown_filter(void **state)
{
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        eval_text("initramfs a followkernel\n[pi7]\ninitramfs b followkernel\n[HDMI:0]\n", &pi3,
                  &res, &diag);
        assert_string_equal(res.initramfs[0], "a");
        assert_true(diag_has(&diag, "config.txt:2: unknown filter [pi7]"));
        assert_true(diag_has(&diag, "config.txt:4: unknown filter [HDMI:0]"));
}

static void test_comments_blank_indent(void **state)
{
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        eval_text("\n  initramfs a followkernel\n#initramfs b followkernel\n   # [pi4]\n\n", &pi3,
                  &res, &diag);
        assert_string_equal(res.initramfs[0], "a");
        assert_int_equal(res.deciding[0], 2);
        assert_true(res.end_applies);
        assert_int_equal(diag.n, 0);
}

static void test_crlf_no_final_newline(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("crlf-no-final-newline.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        assert_int_not_equal(text[len - 1], '\n');
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        /* No "\r" leaks into the values. */
        assert_string_equal(res.initramfs[0], "initrd.img-5.15.32-v7+");
        assert_string_equal(res.initramfs_addr, "followkernel");
        assert_int_equal(edit(text, len, &pi3, "initrd.img-5.15.84-v7+", &out, &out_len, &diag), 1);
        assert_only_line_changed(text, len, out, out_len, 5,
                                 "initramfs initrd.img-5.15.84-v7+ followkernel");
        assert_int_equal(out[out_len - 1], '6'); /* still no final newline */
}

/* The 98-character limit counts the characters of the line, not its "\r\n". */
static void test_crlf_line_limit(void **state)
{
        char text[256], file[80];
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;
        size_t out_len;

        (void)state;
        memset(file, 'x', 75);
        file[75] = '\0';
        snprintf(text, sizeof(text), "a=1\r\ninitramfs %s followkernel\r\nb=2\r\n", file);
        eval_text(text, &pi3, &res, &diag);
        assert_int_equal(diag.n, 0);
        file[74] = 'y';
        assert_int_equal(edit(text, strlen(text), &pi3, file, &out, &out_len, &diag), 1);
        file[75] = 'z';
        file[76] = '\0';
        free(out);
        out = NULL;
        assert_int_equal(edit(text, strlen(text), &pi3, file, &out, &out_len, &diag), -E2BIG);
}

static void test_last_line_no_newline_edit(void **state)
{
        const char *text = "dtparam=audio=on\ninitramfs initrd.img-old followkernel";
        _cleanup_free_ char *out = NULL;
        struct bootcfg_diag diag;
        size_t out_len;

        (void)state;
        assert_int_equal(edit(text, strlen(text), &pi3, "initrd.img-new", &out, &out_len, &diag),
                         1);
        assert_string_equal(out, "dtparam=audio=on\ninitramfs initrd.img-new followkernel");
        assert_int_equal(out_len, strlen(out));
}

static void test_include_and_long_lines(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("include-and-long-lines.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, "/boot/config.txt");
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        /* Text alone: the include cannot be followed, and the message says why. */
        assert_true(diag_has(&diag, "/boot/config.txt:2: include extraconfig.txt not followed: "
                                    "evaluated without its boot folder"));
        assert_true(diag_has(&diag, "/boot/config.txt:3: line is 115 characters long"));
        assert_false(diag_has(&diag, "config.txt:1:")); /* 95 characters: fine */
        assert_int_equal(res.deciding[0], 4);
        assert_int_equal(edit(text, len, &pi3, "initrd.img-5.10.110-v7+", &out, &out_len, &diag),
                         1);
        assert_only_line_changed(text, len, out, out_len, 4,
                                 "initramfs initrd.img-5.10.110-v7+ followkernel");
}

static void test_line_limit_refused(void **state)
{
        const char *text = "initramfs initrd.img-old followkernel\n";
        char file[80], line[128];
        _cleanup_free_ char *out = NULL;
        struct bootcfg_diag diag;
        size_t out_len;

        (void)state;
        /* "initramfs " + FILE + " followkernel" = 23 + strlen(FILE): 75 fits exactly, 76 not. */
        memset(file, 'x', 76);
        file[76] = '\0';
        assert_int_equal(edit(text, strlen(text), &pi3, file, &out, &out_len, &diag), -E2BIG);
        assert_null(out);
        assert_true(diag_has(&diag, "config.txt:1: the changed line would be 99 characters"));
        assert_non_null(bootcfg_diag_error(&diag));

        file[75] = '\0';
        assert_int_equal(edit(text, strlen(text), &pi3, file, &out, &out_len, &diag), 1);
        snprintf(line, sizeof(line), "initramfs %s followkernel\n", file);
        assert_int_equal(strlen(line), BOOTCFG_LINE_MAX + 1);
        assert_string_equal(out, line);

        /* The same limit holds for an appended line. */
        free(out);
        out = NULL;
        file[75] = 'y';
        assert_int_equal(edit("", 0, &pi3, file, &out, &out_len, &diag), -E2BIG);
        assert_null(out);
}

static void test_os_prefix(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("os-prefix.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        assert_string_equal(res.os_prefix, "current/");
        assert_string_equal(res.kernel, "current/kernel7.img");
        assert_string_equal(res.initramfs[0], "current/initrd.img-6.1.21-v7+");
        assert_string_equal(res.cmdline, "current/cmdline-iscsi.txt");
        /* The line keeps the unprefixed name: the firmware adds the prefix. */
        assert_int_equal(edit(text, len, &pi3, "initrd.img-6.1.63-v7+", &out, &out_len, &diag), 1);
        assert_only_line_changed(text, len, out, out_len, 3,
                                 "initramfs initrd.img-6.1.63-v7+ followkernel");

        /* A later os_prefix applies to earlier settings; "/" bypasses it. */
        eval_text("initramfs /shared/initrd.img followkernel\nkernel=k.img\nos_prefix=next-\n",
                  &pi3, &res, &diag);
        assert_string_equal(res.initramfs[0], "/shared/initrd.img");
        assert_string_equal(res.kernel, "next-k.img");
        assert_string_equal(res.cmdline, "next-cmdline.txt");
}

static void test_auto_initramfs(void **state)
{
        struct bootcfg_target pi4 = {.model = PI4B}, pi1 = {.model = PI1BP};
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        eval_text("auto_initramfs=1\n", &pi3, &res, &diag);
        assert_int_equal(res.initramfs_from, BOOTCFG_INITRAMFS_AUTO);
        assert_string_equal(res.initramfs[0], "initramfs7");
        assert_int_equal(res.n_deciding, 1);
        assert_int_equal(res.deciding[0], 1);
        eval_text("auto_initramfs=1\n", &pi4, &res, &diag);
        assert_string_equal(res.initramfs[0], "initramfs8");
        eval_text("auto_initramfs=1\narm_64bit=0\n", &pi4, &res, &diag);
        assert_string_equal(res.initramfs[0], "initramfs7l");
        eval_text("auto_initramfs=1\n", &pi1, &res, &diag);
        assert_string_equal(res.initramfs[0], "initramfs");
        eval_text("auto_initramfs=1\nos_prefix=b/\nkernel=k/kernel8.img\n", &pi3, &res, &diag);
        assert_string_equal(res.initramfs[0], "b/k/initramfs8");
        assert_int_equal(res.n_deciding, 2);
        assert_int_equal(res.deciding[1], 3);
        /* A kernel not named kernel*.img gives nothing to derive from. */
        eval_text("auto_initramfs=1\nkernel=vmlinuz-6.1\n", &pi3, &res, &diag);
        assert_int_equal(res.initramfs_from, BOOTCFG_INITRAMFS_NONE);
        assert_true(diag_has(&diag, "config.txt:1: auto_initramfs=1 but the kernel 'vmlinuz-6.1'"));
        /* An explicit initramfs line wins over auto_initramfs. */
        eval_text("auto_initramfs=1\ninitramfs mine followkernel\n", &pi3, &res, &diag);
        assert_int_equal(res.initramfs_from, BOOTCFG_INITRAMFS_LINE);
        assert_string_equal(res.initramfs[0], "mine");
}

static void test_bookworm_auto_refused(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("bookworm-auto-initramfs.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        assert_string_equal(res.kernel, "kernel8.img");
        assert_string_equal(res.initramfs[0], "initramfs8");
        assert_int_equal(res.n_deciding, 2);
        assert_int_equal(res.deciding[0], 20);
        assert_int_equal(res.deciding[1], 31);
        assert_int_equal(diag.n, 0);

        assert_int_equal(
            edit(text, len, &pi3, "initrd.img-6.6.20+rpt-rpi-v8", &out, &out_len, &diag),
            -EOPNOTSUPP);
        assert_null(out);
        assert_non_null(bootcfg_diag_error(&diag));
        assert_non_null(strstr(bootcfg_diag_error(&diag), "renaming the new initrd onto "
                                                          "initramfs8"));
}

static void test_debian_raspi_firmware(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("debian-raspi-firmware.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        assert_string_equal(res.kernel, "vmlinuz-6.1.0-18-arm64");
        assert_true(res.arm_64bit);
        assert_int_equal(res.deciding[0], 22);
        assert_int_equal(edit(text, len, &pi3, "initrd.img-6.1.0-21-arm64", &out, &out_len, &diag),
                         1);
        assert_only_line_changed(text, len, out, out_len, 22,
                                 "initramfs initrd.img-6.1.0-21-arm64 followkernel");
}

static void test_legacy_ramfsfile(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("legacy-ramfsfile.txt", &len);
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        assert_int_equal(res.initramfs_from, BOOTCFG_INITRAMFS_RAMFSFILE);
        assert_string_equal(res.initramfs[0], "initrd.img-3.18.7-v7+");
        assert_int_equal(edit(text, len, &pi3, "initrd.img-3.18.9-v7+", &out, &out_len, &diag), 1);
        assert_only_line_changed(text, len, out, out_len, 2, "ramfsfile=initrd.img-3.18.9-v7+");
}

/* ---- edits on inline shapes ----------------------------------------------------------------- */

static void test_only_last_effective_line_changes(void **state)
{
        const char *text = "initramfs first followkernel\n[pi4]\ninitramfs four followkernel\n"
                           "[all]\ninitramfs\tsecond\t0x00800000   \n#initramfs x followkernel\n";
        _cleanup_free_ char *out = NULL;
        struct bootcfg_diag diag;
        size_t out_len;

        (void)state;
        assert_int_equal(edit(text, strlen(text), &pi3, "third", &out, &out_len, &diag), 1);
        /* Tabs, address and trailing blanks of the deciding line are kept. */
        assert_only_line_changed(text, strlen(text), out, out_len, 5,
                                 "initramfs\tthird\t0x00800000   ");
}

static void test_comma_list(void **state)
{
        const char *text = "initramfs ucode.cpio,initrd.img-old followkernel\n";
        _cleanup_free_ char *out = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;
        size_t out_len;

        (void)state;
        eval_text(text, &pi3, &res, &diag);
        assert_int_equal(res.n_initramfs, 2);
        assert_string_equal(res.initramfs[0], "ucode.cpio");
        assert_string_equal(res.initramfs[1], "initrd.img-old");
        assert_int_equal(edit(text, strlen(text), &pi3, "initrd.img-new", &out, &out_len, &diag),
                         1);
        assert_string_equal(out, "initramfs initrd.img-new followkernel\n");
        assert_true(diag_has(&diag, "config.txt:1: the line listed several files"));
}

static void test_append_when_missing(void **state)
{
        const char *text = "dtparam=audio=on\n";
        _cleanup_free_ char *out = NULL;
        struct bootcfg_diag diag;
        size_t out_len;

        (void)state;
        assert_int_equal(edit(text, strlen(text), &pi3, "initrd.img-x", &out, &out_len, &diag), 1);
        assert_string_equal(out, "dtparam=audio=on\ninitramfs initrd.img-x followkernel\n");
        free(out);
        assert_int_equal(edit("", 0, &pi3, "initrd.img-x", &out, &out_len, &diag), 1);
        assert_string_equal(out, "initramfs initrd.img-x followkernel\n");
        free(out);
        /* CRLF file without a final newline: CRLF separator, still no final newline. */
        assert_int_equal(edit("a=1\r\nb=2", 8, &pi3, "i", &out, &out_len, &diag), 1);
        assert_string_equal(out, "a=1\r\nb=2\r\ninitramfs i followkernel");
        free(out);
        out = NULL;
        /* A misspelt "initramfs=" is not what the firmware reads: a real line is added. */
        assert_int_equal(edit("initramfs=old followkernel\n", 27, &pi3, "i", &out, &out_len, &diag),
                         1);
        assert_true(diag_has(&diag, "config.txt:1: 'initramfs=' is not understood"));
        assert_string_equal(out, "initramfs=old followkernel\ninitramfs i followkernel\n");
}

static void test_append_ends_in_filter(void **state)
{
        size_t len, out_len;
        _cleanup_free_ char *text = load("ends-in-filter.txt", &len);
        _cleanup_free_ char *out = NULL, *want = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;

        (void)state;
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(text, len, &pi3, &res, &diag), 0);
        assert_false(res.end_applies);
        assert_int_equal(edit(text, len, &pi3, "initrd.img-6.1.0-v8+", &out, &out_len, &diag), 1);
        assert_true(
            asprintf(&want, "%s[all]\ninitramfs initrd.img-6.1.0-v8+ followkernel\n", text) > 0);
        assert_string_equal(out, want);
        /* And the result does what was asked. */
        bootcfg_diag_init(&diag, NULL);
        assert_int_equal(bootcfg_evaluate(out, out_len, &pi3, &res, &diag), 0);
        assert_string_equal(res.initramfs[0], "initrd.img-6.1.0-v8+");
}

static void test_already_set_and_bad_names(void **state)
{
        const char *text = "initramfs same followkernel\n";
        _cleanup_free_ char *out = NULL;
        struct bootcfg_diag diag;
        size_t out_len;

        (void)state;
        assert_int_equal(edit(text, strlen(text), &pi3, "same", &out, &out_len, &diag), 0);
        assert_string_equal(out, text);
        free(out);
        out = NULL;
        assert_int_equal(edit(text, strlen(text), &pi3, "", &out, &out_len, &diag), -EINVAL);
        assert_int_equal(edit(text, strlen(text), &pi3, "a b", &out, &out_len, &diag), -EINVAL);
        assert_int_equal(edit(text, strlen(text), &pi3, "a,b", &out, &out_len, &diag), -EINVAL);
        assert_int_equal(edit(text, strlen(text), &pi3, "a\nb", &out, &out_len, &diag), -EINVAL);
        assert_null(out);
}

static void test_diff(void **state)
{
        const char *a = "x=1\ninitramfs old followkernel\ny=2";
        const char *b = "x=1\ninitramfs new followkernel\ny=2\n[all]\ninitramfs z followkernel";
        struct strbuf sb = {0};

        (void)state;
        assert_int_equal(bootcfg_diff(a, strlen(a), b, strlen(b), &sb), 3);
        assert_string_equal(sb_str(&sb), "-2: initramfs old followkernel\n"
                                         "+2: initramfs new followkernel\n"
                                         "+4: [all]\n"
                                         "+5: initramfs z followkernel\n");
        sb_free(&sb);
}

/* Every data file: the edit changes at most the deciding line, or only appends. */
static void test_all_shapes_keep_other_bytes(void **state)
{
        static const char *files[] = {
            "raspbian-tutorial.txt",      "multi-model.txt",
            "serial-sections.txt",        "crlf-no-final-newline.txt",
            "include-and-long-lines.txt", "os-prefix.txt",
            "ends-in-filter.txt",         "debian-raspi-firmware.txt",
            "tryboot-gpio-edid.txt",      "legacy-ramfsfile.txt",
        };

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                size_t len, out_len;
                _cleanup_free_ char *text = load(files[i], &len);
                _cleanup_free_ char *out = NULL;
                struct bootcfg_result before, after;
                struct bootcfg_diag diag;
                int r = edit(text, len, &pi3, "initrd.img-T", &out, &out_len, &diag);

                assert_int_equal(r, 1);
                bootcfg_diag_init(&diag, NULL);
                assert_int_equal(bootcfg_evaluate(text, len, &pi3, &before, &diag), 0);
                assert_int_equal(bootcfg_evaluate(out, out_len, &pi3, &after, &diag), 0);
                assert_string_equal(after.initramfs[0],
                                    after.os_prefix[0] ? "current/initrd.img-T" : "initrd.img-T");
                if (before.n_deciding) {
                        assert_int_equal(count_lines(out, out_len), count_lines(text, len));
                        assert_int_equal(after.deciding[0], before.deciding[0]);
                        assert_memory_equal(out, text, before.initramfs_span_start);
                } else {
                        assert_memory_equal(out, text, len);
                }
        }
}

/* ---- piinfo --------------------------------------------------------------------------------- */

static void test_piinfo(void **state)
{
        char root[] = "/tmp/test-piinfo.XXXXXX", path[256], buf[PIINFO_MODEL_MAX];
        static const char model[] = PI3B; /* the kernel's file ends in NUL */
        FILE *f;

        (void)state;
        assert_non_null(mkdtemp(root));
        assert_int_equal(piinfo_read_model(root, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(piinfo_read_serial(root, buf, sizeof(buf)), -ENOENT);
        snprintf(path, sizeof(path), "%s/proc/device-tree", root);
        assert_int_equal(mkdir_parents(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/proc/device-tree/model", root);
        assert_int_equal(file_write_atomic(path, model, sizeof(model), 0644), 0);
        snprintf(path, sizeof(path), "%s/proc/cpuinfo", root);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("processor\t: 3\nHardware\t: BCM2835\nRevision\t: a02082\n"
              "Serial\t\t: 00000000511E57F7\nModel\t\t: " PI3B "\n",
              f);
        fclose(f);

        assert_int_equal(piinfo_read_model(root, buf, sizeof(buf)), 0);
        assert_string_equal(buf, PI3B);
        assert_int_equal(piinfo_read_serial(root, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "511e57f7");
        /* The folder the bootloader asks for: low 32 bits, 8 digits, leading zeros kept. */
        assert_int_equal(piinfo_parse_serial("Serial : 0000000000000000\n", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "00000000");
        assert_int_equal(piinfo_parse_serial("Serial\t\t: 000000000b615590\n", buf, sizeof(buf)),
                         0);
        assert_string_equal(buf, "0b615590");
        assert_int_equal(piinfo_parse_serial("Serial\t\t: 1000000022bba2d2\n", buf, sizeof(buf)),
                         0);
        assert_string_equal(buf, "22bba2d2");
        assert_int_equal(piinfo_parse_serial("Serial : 0000000005a07819\n", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "05a07819");
        assert_int_equal(piinfo_parse_serial("Serial : 11111111000000000\n", buf, sizeof(buf)),
                         -ENODATA); /* 17 digits: no serial */
        assert_int_equal(piinfo_parse_serial("SerialNumber : 12\n", buf, sizeof(buf)), -ENODATA);
        assert_int_equal(piinfo_parse_serial("Serial : xyz\n", buf, sizeof(buf)), -ENODATA);
        assert_int_equal(piinfo_parse_serial("processor : 0\n", buf, sizeof(buf)), -ENODATA);

        /* agent.conf's [agent] model=/serial= win over the kernel's; "auto" reads the kernel's. */
        assert_int_equal(
            piinfo_model(root, "Raspberry Pi 3 Model B Plus Rev 1.3", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "Raspberry Pi 3 Model B Plus Rev 1.3");
        assert_int_equal(piinfo_model(root, "auto", buf, sizeof(buf)), 0);
        assert_string_equal(buf, PI3B);
        assert_int_equal(piinfo_serial(root, "000000000A1B2C3D", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0a1b2c3d");
        /* A hand-written serial without its leading zero names the padded folder. */
        assert_int_equal(piinfo_serial(root, "b615590", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0b615590");
        assert_int_equal(piinfo_serial(root, "not-hex", buf, sizeof(buf)), -ENODATA);
        assert_int_equal(piinfo_serial(root, "", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "511e57f7");

        unlink(path);
        snprintf(path, sizeof(path), "%s/proc/device-tree/model", root);
        unlink(path);
        snprintf(path, sizeof(path), "%s/proc/device-tree", root);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/proc", root);
        rmdir(path);
        rmdir(root);
}

/* Fuzzer finds (tests/fuzz/regressions/bootcfg/): a NUL byte in the file must not shorten the
 * copy of an already-right file, and a refusal keeps its reason when warnings fill DIAG. */
static void test_fuzz_regressions(void **state)
{
        static const char text[] = "initramfs a followkernel\n\0x\n";
        struct bootcfg_diag diag;
        struct strbuf sb = {0};
        char *out = NULL;
        size_t out_len = 0;

        (void)state;
        bootcfg_diag_init(&diag, "config.txt");
        assert_int_equal(
            bootcfg_set_initramfs(text, sizeof(text) - 1, &pi3, "a", &out, &out_len, &diag), 0);
        assert_int_equal(out_len, sizeof(text) - 1);
        assert_memory_equal(out, text, out_len);
        free(out);

        for (int i = 0; i < BOOTCFG_MSG_MAX + 10; i++)
                sb_puts(&sb, "include extra.txt\n");
        sb_puts(&sb, "auto_initramfs=1\n");
        bootcfg_diag_init(&diag, "config.txt");
        assert_int_equal(
            bootcfg_set_initramfs(sb_str(&sb), sb.len, &pi3, "a", &out, &out_len, &diag),
            -EOPNOTSUPP);
        assert_true(diag.dropped > 0);
        assert_non_null(bootcfg_diag_error(&diag));
        assert_non_null(strstr(bootcfg_diag_error(&diag), "auto_initramfs=1"));
        sb_free(&sb);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_board_names),
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_unknown_model_and_no_model),
            cmocka_unit_test(test_tutorial),
            cmocka_unit_test(test_tutorial_edit),
            cmocka_unit_test(test_multi_model),
            cmocka_unit_test(test_pi3plus_only_section),
            cmocka_unit_test(test_serial_sections),
            cmocka_unit_test(test_serial_unknown),
            cmocka_unit_test(test_filters_combine),
            cmocka_unit_test(test_tryboot_gpio_edid),
            cmocka_unit_test(test_unknown_filter),
            cmocka_unit_test(test_comments_blank_indent),
            cmocka_unit_test(test_crlf_no_final_newline),
            cmocka_unit_test(test_crlf_line_limit),
            cmocka_unit_test(test_last_line_no_newline_edit),
            cmocka_unit_test(test_include_and_long_lines),
            cmocka_unit_test(test_line_limit_refused),
            cmocka_unit_test(test_os_prefix),
            cmocka_unit_test(test_auto_initramfs),
            cmocka_unit_test(test_bookworm_auto_refused),
            cmocka_unit_test(test_debian_raspi_firmware),
            cmocka_unit_test(test_legacy_ramfsfile),
            cmocka_unit_test(test_only_last_effective_line_changes),
            cmocka_unit_test(test_comma_list),
            cmocka_unit_test(test_append_when_missing),
            cmocka_unit_test(test_append_ends_in_filter),
            cmocka_unit_test(test_already_set_and_bad_names),
            cmocka_unit_test(test_diff),
            cmocka_unit_test(test_all_shapes_keep_other_bytes),
            cmocka_unit_test(test_piinfo),
            cmocka_unit_test(test_fuzz_regressions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
