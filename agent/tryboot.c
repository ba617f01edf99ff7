/* trial_boot=tryboot; see tryboot.h. */
#include "tryboot.h"

#include "fileio.h"
#include "strbuf.h"
#include "rootpath.h"
#include "util.h"

#include <stdint.h>
#include <sys/stat.h>

#define CONFIG_TXT_MAX (1024 * 1024)

int tryboot_initrd_name(const char *kver, unsigned gen, char *out, size_t size)
{
        int n = snprintf(out, size, "initrd.img-%s.netroot-g%u", kver, gen);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

void tryboot_kver_from_initrd_name(const char *name, char *out, size_t size)
{
        const char *b = strrchr(name, '/'), *mark;
        size_t n;

        b = b ? b + 1 : name;
        out[0] = '\0';
        if (strncmp(b, "initrd.img-", 11) != 0 || !b[11])
                return;
        b += 11;
        n = strlen(b);
        mark = strstr(b, ".netroot-g");
        if (mark && mark > b && mark[10] && strspn(mark + 10, "0123456789") == strlen(mark + 10))
                n = (size_t)(mark - b);
        snprintf(out, size, "%.*s", (int)n, b);
}

static const char *skip_slash(const char *s)
{
        while (*s == '/')
                s++;
        return s;
}

/* What the firmware loads from the set FS with MAIN_TEXT as its main file, for PI with the
 * tryboot flag FLAG. */
static int judge(const struct bootcfg_files *fs, const char *main_text, size_t len,
                 const struct bootcfg_target *pi, bool flag, struct bootcfg_result *res)
{
        struct bootcfg_files *copy = malloc(sizeof(*copy));
        struct bootcfg_target t = *pi;
        struct bootcfg_diag *diag = malloc(sizeof(*diag));
        int r = -ENOMEM;

        if (copy && diag) {
                *copy = *fs;
                copy->files[0].text = (char *)main_text;
                copy->files[0].len = len;
                t.tryboot = flag;
                bootcfg_diag_init(diag, TRYBOOT_TXT);
                r = bootcfg_evaluate_files(copy, &t, res, diag);
        }
        free(copy);
        free(diag);
        return r;
}

/* tryboot.txt is config.txt's text with the initramfs switched. When the deciding line lives in
 * an included file (shared with config.txt), the switch is a line appended to tryboot.txt: the
 * last setting wins, and config.txt's files stay as they are. */
static int make_text(const struct bootcfg_files *fs, const struct bootcfg_target *t,
                     const char *file, char **out, size_t *out_len, struct bootcfg_diag *diag)
{
        struct bootcfg_edit e;
        int r;

        r = bootcfg_files_set_initramfs(fs, t, file, &e, diag);
        if (r < 0)
                return r;
        if (e.src == 0) {
                *out = e.text;
                *out_len = e.len;
                return 0;
        }
        free(e.text);
        {
                struct strbuf sb = {0};
                const struct bootcfg_file *m = &fs->files[0];

                sb_append(&sb, m->text, m->len);
                if (m->len && m->text[m->len - 1] != '\n')
                        sb_puts(&sb, "\n");
                sb_printf(&sb, "[all]\ninitramfs %s followkernel\n", file);
                if (sb.oom) {
                        sb_free(&sb);
                        return -ENOMEM;
                }
                *out_len = sb.len;
                *out = sb.data;
        }
        return 0;
}

int tryboot_make_text(const struct bootcfg_files *fs, const struct bootcfg_target *pi,
                      const char *file, const char *final, char **out, size_t *out_len, char *why,
                      size_t why_size)
{
        _cleanup_free_ char *text = NULL;
        struct bootcfg_target t = *pi;
        struct bootcfg_result *res = NULL;
        struct bootcfg_diag *diag = NULL;
        size_t text_len = 0;
        int r;

        why[0] = '\0';
        /* Both are large; the daemon's stack is not the place. */
        res = calloc(3, sizeof(*res));
        diag = calloc(1, sizeof(*diag));
        if (!res || !diag) {
                r = -ENOMEM;
                goto out;
        }
        t.tryboot = true;
        bootcfg_diag_init(diag, "config.txt");
        r = make_text(fs, &t, file, &text, &text_len, diag);
        if (r < 0) {
                snprintf(why, why_size, "%s",
                         bootcfg_diag_error(diag) ? bootcfg_diag_error(diag) : strerror(-r));
                goto out;
        }
        r = judge(fs, fs->files[0].text, fs->files[0].len, pi, false, &res[0]);
        if (r >= 0)
                r = judge(fs, text, text_len, pi, true, &res[1]);
        if (r >= 0)
                r = judge(fs, text, text_len, pi, false, &res[2]);
        if (r < 0) {
                snprintf(why, why_size, "config.txt cannot be evaluated: %s", strerror(-r));
                goto out;
        }
        for (int i = 1; i <= 2; i++) {
                const struct bootcfg_result *x = &res[i];

                if (x->n_initramfs != 1 || !streq(skip_slash(x->initramfs[0]), skip_slash(final)) ||
                    !streq(x->kernel, res[0].kernel) || !streq(x->cmdline, res[0].cmdline)) {
                        snprintf(why, why_size,
                                 "config.txt has a [tryboot] section that changes what the Pi "
                                 "boots: tryboot.txt read %s the tryboot flag would load kernel "
                                 "%s with initramfs %s, not kernel %s with %s. Fix: remove the "
                                 "[tryboot] section, or set trial_boot=none",
                                 i == 1 ? "with" : "without", x->kernel,
                                 x->n_initramfs ? x->initramfs[0] : "(none)", res[0].kernel, final);
                        r = -EINVAL;
                        goto out;
                }
        }
        *out = TAKE_PTR(text);
        *out_len = text_len;
        r = 0;
out:
        free(res);
        free(diag);
        return r;
}

int tryboot_flag_read(const char *root)
{
        _cleanup_free_ char *path = root_path(root, TRYBOOT_FLAG_PATH), *data = NULL;
        const unsigned char *b;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = file_read_all(path, 64, &data, &len);
        if (r < 0)
                return r;
        if (len != 4)
                return -EBADMSG;
        b = (const unsigned char *)data;
        return ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) ? 1 : 0;
}

int tryboot_promote(const char *boot_dir, char *err, size_t err_size)
{
        _cleanup_free_ char *tb = NULL, *cfg = NULL, *text = NULL;
        struct stat st;
        size_t len;
        int r;

        if (asprintf(&tb, "%s/%s", boot_dir, TRYBOOT_TXT) < 0 ||
            asprintf(&cfg, "%s/config.txt", boot_dir) < 0) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = file_read_regular(tb, CONFIG_TXT_MAX, &text, &len);
        if (r < 0) {
                snprintf(err, err_size, "reading %s: %s", tb, file_strerror(r));
                return r;
        }
        /* Written and synced before tryboot.txt goes: a crash in between leaves both naming
         * the new initramfs, never neither. */
        r = file_write_atomic(cfg, text, len, stat(cfg, &st) == 0 ? st.st_mode & 07777 : 0644);
        if (r < 0) {
                snprintf(err, err_size, "writing %s: %s", cfg, strerror(-r));
                return r;
        }
        r = file_remove(tb);
        if (r < 0) {
                snprintf(err, err_size, "config.txt promoted, but removing %s failed: %s", tb,
                         strerror(-r));
                return 1;
        }
        return 0;
}

int tryboot_remove(const char *boot_dir)
{
        _cleanup_free_ char *tb = NULL;
        struct stat st;
        int r;

        if (asprintf(&tb, "%s/%s", boot_dir, TRYBOOT_TXT) < 0)
                return -ENOMEM;
        if (lstat(tb, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        r = file_remove(tb);
        return r < 0 ? r : 1;
}
