#include "manifest.h"

#include "beneath.h"
#include "util.h"

void manifest_free(struct manifest *m)
{
        for (size_t i = 0; i < m->n; i++)
                free(m->e[i].name);
        free(m->e);
        m->e = NULL;
        m->n = 0;
}

static bool hex64(const char *s)
{
        for (int i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

int manifest_add(struct manifest *m, const char *name, const char *sha)
{
        struct manifest_entry *grown;
        char *copy;

        if (!name_inside(name))
                return -EXDEV;
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->e[i].name, name)) {
                        snprintf(m->e[i].sha256, sizeof(m->e[i].sha256), "%s", sha);
                        return 0;
                }
        copy = strdup(name);
        grown = copy ? realloc(m->e, (m->n + 1) * sizeof(*m->e)) : NULL;
        if (!grown) {
                free(copy);
                return -ENOMEM;
        }
        m->e = grown;
        m->e[m->n].name = copy;
        snprintf(m->e[m->n].sha256, sizeof(m->e[m->n].sha256), "%s", sha);
        m->n++;
        return 0;
}

int manifest_parse(const char *text, size_t len, const char *file, struct manifest *m,
                   struct error *err)
{
        const char *p = text, *end = text + len;
        unsigned lineno = 0;

        memset(m, 0, sizeof(*m));
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                char name[4096];
                size_t n;
                int r;

                lineno++;
                if (!nl) {
                        manifest_free(m);
                        return error_set(err, -EBADMSG,
                                         "%s:%u: last line has no newline (file cut short?)", file,
                                         lineno);
                }
                n = (size_t)(nl - p);
                if (n < 67 || n - 66 >= sizeof(name) || !hex64(p) || p[64] != ' ' || p[65] != ' ' ||
                    memchr(p, '\0', n)) {
                        manifest_free(m);
                        return error_set(err, -EBADMSG, "%s:%u: expected '<64 hex digits>  <file>'",
                                         file, lineno);
                }
                memcpy(name, p + 66, n - 66);
                name[n - 66] = '\0';
                {
                        char sha[SHA256_HEX_SIZE];

                        memcpy(sha, p, 64);
                        sha[64] = '\0';
                        r = manifest_add(m, name, sha);
                }
                if (r == -EXDEV) {
                        manifest_free(m);
                        return error_set(err, -EBADMSG,
                                         "%s:%u: %s: must name a file inside its folder", file,
                                         lineno, name);
                }
                if (r < 0) {
                        manifest_free(m);
                        return error_set(err, r, "%s: out of memory", file);
                }
                p = nl + 1;
        }
        return 0;
}

int manifest_format(const struct manifest *m, char **out, size_t *len)
{
        struct strbuf sb = {0};

        for (size_t i = 0; i < m->n; i++) {
                if (!name_inside(m->e[i].name) || !hex64(m->e[i].sha256)) {
                        sb_free(&sb);
                        return -EINVAL;
                }
                sb_printf(&sb, "%s  %s\n", m->e[i].sha256, m->e[i].name);
        }
        if (sb.oom) {
                sb_free(&sb);
                return -ENOMEM;
        }
        *len = sb.len;
        *out = sb.data ? sb.data : strdup("");
        return *out ? 0 : -ENOMEM;
}

int manifest_load_at(int dirfd, const char *name, const char *display, struct manifest *m,
                     struct error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        memset(m, 0, sizeof(*m));
        r = beneath_read(dirfd, name, MANIFEST_MAX, &text, &len);
        if (r < 0)
                return error_set(err, r, "%s: %s", display, strerror(-r));
        return manifest_parse(text, len, display, m, err);
}

int manifest_save_at(int dirfd, const char *name, const struct manifest *m, struct error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = manifest_format(m, &text, &len);
        if (r < 0)
                return error_set(err, r, "%s: cannot format the manifest", name);
        r = beneath_write_atomic(dirfd, name, text, len, 0644);
        return r < 0 ? error_set(err, r, "writing %s: %s", name, strerror(-r)) : 0;
}

int manifest_add_file(struct manifest *m, int dirfd, const char *name)
{
        char hex[SHA256_HEX_SIZE];
        int r;

        r = beneath_sha256(dirfd, name, hex);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = manifest_add(m, name, hex);
        return r < 0 ? r : 1;
}

const struct manifest_entry *manifest_find(const struct manifest *m, const char *name)
{
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->e[i].name, name))
                        return &m->e[i];
        return NULL;
}

int manifest_compare_at(const struct manifest *m, int dirfd, struct strbuf *report)
{
        int bad = 0;

        for (size_t i = 0; i < m->n; i++) {
                char hex[SHA256_HEX_SIZE];
                const char *what = NULL;
                int r = beneath_sha256(dirfd, m->e[i].name, hex);

                if (r == -ENOENT)
                        what = "missing";
                else if (r < 0)
                        what = "unreadable";
                else if (!streq(hex, m->e[i].sha256))
                        what = "changed";
                if (!what)
                        continue;
                bad++;
                if (report)
                        sb_printf(report, "%s%s: %s", report->len ? "\n" : "", m->e[i].name, what);
        }
        return bad;
}
