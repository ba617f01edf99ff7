/* The transaction journal; see txn.h. */
#include "txn.h"

#include "fileio.h"
#include "generation.h"
#include "strbuf.h"
#include "util.h"

#include <stdarg.h>

#define TXN_MAX (16 * 1024)

char *txn_path(const char *boot_dir)
{
        char *p;

        return asprintf(&p, "%s/%s/%s", boot_dir, GEN_STORE, TXN_FILE) < 0 ? NULL : p;
}

static _printf_(4, 5) int fail(char *err, size_t size, int r, const char *fmt, ...)
{
        va_list ap;

        if (size) {
                va_start(ap, fmt);
                vsnprintf(err, size, fmt, ap);
                va_end(ap);
        }
        return r;
}

static int set_str(char *dst, size_t size, const char *v, const char *file, unsigned line,
                   const char *key, char *err, size_t err_size)
{
        if (strlen(v) >= size)
                return fail(err, err_size, -EBADMSG, "%s:%u: %s value too long", file, line, key);
        /* Names of files inside the boot folder only: a journal must never make a rollback
         * delete or overwrite anything outside it. */
        if ((streq(key, "new_file") || streq(key, "final")) &&
            (v[0] == '/' || strstr(v, "..") || strchr(v, '\\')))
                return fail(err, err_size, -EBADMSG,
                            "%s:%u: %s=%s: must name a file inside the boot folder", file, line,
                            key, v);
        snprintf(dst, size, "%s", v);
        return 0;
}

static int set_bool(bool *dst, const char *v, const char *file, unsigned line, const char *key,
                    char *err, size_t err_size)
{
        if (!streq(v, "0") && !streq(v, "1"))
                return fail(err, err_size, -EBADMSG, "%s:%u: %s=%s: expected 0 or 1", file, line,
                            key, v);
        *dst = v[0] == '1';
        return 0;
}

int txn_parse(const char *text, size_t len, const char *file, struct txn *t, char *err,
              size_t err_size)
{
        const char *p = text, *end = text + len;
        unsigned lineno = 0;
        bool have_gen = false, have_step = false;

        memset(t, 0, sizeof(*t));
        if (err_size)
                err[0] = '\0';
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                char line[1024], *eq, *key, *v;
                size_t n;
                int r = 0;

                lineno++;
                if (!nl)
                        return fail(err, err_size, -EBADMSG,
                                    "%s:%u: last line has no newline (file truncated?)", file,
                                    lineno);
                n = (size_t)(nl - p);
                if (n >= sizeof(line))
                        return fail(err, err_size, -EBADMSG, "%s:%u: line too long", file, lineno);
                memcpy(line, p, n);
                line[n] = '\0';
                p = nl + 1;
                if (n && line[n - 1] == '\r')
                        line[--n] = '\0';
                if (!n || line[0] == '#')
                        continue;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
                                return fail(err, err_size, -EBADMSG, "%s:%u: control character",
                                            file, lineno);
                eq = strchr(line, '=');
                if (!eq)
                        return fail(err, err_size, -EBADMSG, "%s:%u: expected KEY=VALUE", file,
                                    lineno);
                *eq = '\0';
                key = line;
                v = eq + 1;
                if (streq(key, "gen")) {
                        unsigned long g;
                        if (parse_uint(v, &g) < 0 || g == 0 || g > 1000000000UL)
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: gen=%s: expected a number from 1", file, lineno,
                                            v);
                        t->gen = (unsigned)g;
                        have_gen = true;
                } else if (streq(key, "step")) {
                        r = set_str(t->step, sizeof(t->step), v, file, lineno, key, err, err_size);
                        have_step = true;
                } else if (streq(key, "kernel"))
                        r = set_str(t->kernel, sizeof(t->kernel), v, file, lineno, key, err,
                                    err_size);
                else if (streq(key, "new_file"))
                        r = set_str(t->new_file, sizeof(t->new_file), v, file, lineno, key, err,
                                    err_size);
                else if (streq(key, "final"))
                        r = set_str(t->final, sizeof(t->final), v, file, lineno, key, err,
                                    err_size);
                else if (streq(key, "shared_backup"))
                        r = set_str(t->shared_backup, sizeof(t->shared_backup), v, file, lineno,
                                    key, err, err_size);
                else if (streq(key, "final_existed"))
                        r = set_bool(&t->final_existed, v, file, lineno, key, err, err_size);
                else if (streq(key, "config_touched"))
                        r = set_bool(&t->config_touched, v, file, lineno, key, err, err_size);
                else if (streq(key, "final_touched"))
                        r = set_bool(&t->final_touched, v, file, lineno, key, err, err_size);
                else if (streq(key, "tryboot_touched"))
                        r = set_bool(&t->tryboot_touched, v, file, lineno, key, err, err_size);
                /* "touched" and unknown keys are informative only. */
                if (r < 0)
                        return r;
        }
        if (!have_gen || !have_step)
                return fail(err, err_size, -EBADMSG, "%s:%u: gen= and step= are required", file,
                            lineno);
        return 0;
}

int txn_format(const struct txn *t, char **out, size_t *out_len)
{
        struct strbuf sb = {0};
        const char *strs[] = {t->step, t->kernel, t->new_file, t->final, t->shared_backup};

        for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
                if (strpbrk(strs[i], "\n\r"))
                        return -EINVAL;
        sb_printf(&sb,
                  "# netrootctl upgrade in progress; the next netrootctl run rolls it back\n"
                  "gen=%u\nstep=%s\nkernel=%s\nnew_file=%s\nfinal=%s\nfinal_existed=%d\n"
                  "config_touched=%d\nfinal_touched=%d\nshared_backup=%s\n",
                  t->gen, t->step, t->kernel, t->new_file, t->final, t->final_existed ? 1 : 0,
                  t->config_touched ? 1 : 0, t->final_touched ? 1 : 0, t->shared_backup);
        if (t->tryboot_touched)
                sb_puts(&sb, "tryboot_touched=1\n");
        sb_printf(&sb, "touched=%s%s%s%s%s%s\n", t->new_file, t->final_touched ? "," : "",
                  t->final_touched ? t->final : "", t->config_touched ? "," : "",
                  t->config_touched ? "config.txt" : "", t->tryboot_touched ? ",tryboot.txt" : "");
        if (sb.oom) {
                sb_free(&sb);
                return -ENOMEM;
        }
        *out = strdup(sb_str(&sb));
        *out_len = sb.len;
        sb_free(&sb);
        return *out ? 0 : -ENOMEM;
}

int txn_write(const char *boot_dir, const struct txn *t)
{
        _cleanup_free_ char *store = gen_store_path(boot_dir), *path = txn_path(boot_dir);
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (!store || !path)
                return -ENOMEM;
        r = mkdir_parents(store, 0755);
        if (r < 0)
                return r;
        r = txn_format(t, &text, &len);
        if (r < 0)
                return r;
        return file_write_atomic(path, text, len, 0644);
}

int txn_read(const char *boot_dir, struct txn *t, char *err, size_t err_size)
{
        _cleanup_free_ char *path = txn_path(boot_dir), *text = NULL;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = file_read_regular(path, TXN_MAX, &text, &len);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return fail(err, err_size, r, "%s: %s", path, file_strerror(r));
        return txn_parse(text, len, path, t, err, err_size);
}

int txn_remove(const char *boot_dir)
{
        _cleanup_free_ char *path = txn_path(boot_dir);

        return path ? file_remove(path) : -ENOMEM;
}
