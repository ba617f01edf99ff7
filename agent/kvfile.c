#include "kvfile.h"

#include "beneath.h"
#include "fileio.h"
#include "strbuf.h"
#include "util.h"

#include <limits.h>
#include <stdint.h>

#define KV_LINE_MAX 8192

static bool has_control(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return true;
        return false;
}

static bool key_ok(const char *k, size_t n)
{
        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
                        return false;
        return true;
}

static const struct kv_field *find(const struct kv_field *fields, size_t n, const char *key,
                                   size_t klen, size_t *idx)
{
        for (size_t i = 0; i < n; i++)
                if (strlen(fields[i].key) == klen && memcmp(fields[i].key, key, klen) == 0) {
                        *idx = i;
                        return &fields[i];
                }
        return NULL;
}

static int parse_decimal(const char *v, bool sign, long long min, long long max, long long *out)
{
        const char *p = v;
        long long x = 0;
        bool neg = false;

        if (sign && *p == '-') {
                neg = true;
                p++;
        }
        if (!*p || strlen(p) > 19)
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                x = x * 10 + (*p - '0');
        }
        if (neg)
                x = -x;
        if (x < min || x > max)
                return -ERANGE;
        *out = x;
        return 0;
}

static int store(const struct kv_field *f, const char *v, size_t vlen, void *obj, const char *file,
                 unsigned line, struct error *err)
{
        void *dst = (char *)obj + f->offset;
        long long x;

        switch (f->type) {
        case KV_NAME:
                if (vlen && !name_inside(v))
                        return error_set(err, -EBADMSG,
                                         "%s:%u: %s=%s: must name a file inside its folder", file,
                                         line, f->key, v);
                /* fall through */
        case KV_STR:
                if (vlen >= f->size)
                        return error_set(err, -EBADMSG, "%s:%u: %s value too long (%zu bytes)",
                                         file, line, f->key, vlen);
                memcpy(dst, v, vlen + 1);
                return 0;
        case KV_UINT:
                if (parse_decimal(v, false, (f->flags & KV_NONZERO) ? 1 : 0, UINT_MAX, &x) < 0)
                        return error_set(err, -EBADMSG, "%s:%u: %s=%s: expected a number%s", file,
                                         line, f->key, v, (f->flags & KV_NONZERO) ? " from 1" : "");
                *(unsigned *)dst = (unsigned)x;
                return 0;
        case KV_LONG:
                if (parse_decimal(v, true, LONG_MIN + 1, LONG_MAX, &x) < 0)
                        return error_set(err, -EBADMSG, "%s:%u: %s=%s: expected a number", file,
                                         line, f->key, v);
                *(long *)dst = (long)x;
                return 0;
        case KV_BOOL:
                if (!streq(v, "0") && !streq(v, "1"))
                        return error_set(err, -EBADMSG, "%s:%u: %s=%s: expected 0 or 1", file, line,
                                         f->key, v);
                *(bool *)dst = v[0] == '1';
                return 0;
        case KV_ENUM:
                for (int i = 0; f->choices[i]; i++)
                        if (streq(v, f->choices[i])) {
                                *(int *)dst = i;
                                return 0;
                        }
                return error_set(err, -EBADMSG, "%s:%u: %s=%s: not a known value", file, line,
                                 f->key, v);
        }
        return -EINVAL;
}

int kv_parse(const char *text, size_t len, const char *file, const struct kv_field *fields,
             size_t n_fields, void *obj, struct error *err)
{
        bool seen[64] = {false};
        const char *p = text, *end = text + len;
        unsigned lineno = 0;
        /* Unknown keys are skipped but may not repeat either: remember their hashes. */
        uint32_t unknown[64];
        size_t n_unknown = 0;

        if (n_fields > ARRAY_SIZE(seen))
                return error_set(err, -EINVAL, "%s: field table too large", file);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p)), *le, *eq;
                char val[KV_LINE_MAX];
                size_t klen, vlen, idx;
                const struct kv_field *f;
                int r;

                lineno++;
                if (!nl)
                        return error_set(err, -EBADMSG,
                                         "%s:%u: last line has no newline (file cut short?)", file,
                                         lineno);
                le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
                if (memchr(p, '\0', (size_t)(nl - p)))
                        return error_set(err, -EBADMSG, "%s:%u: NUL byte (file damaged?)", file,
                                         lineno);
                if (le == p || *p == '#') {
                        p = nl + 1;
                        continue;
                }
                if (has_control(p, (size_t)(le - p)))
                        return error_set(err, -EBADMSG, "%s:%u: control character", file, lineno);
                eq = memchr(p, '=', (size_t)(le - p));
                if (!eq)
                        return error_set(err, -EBADMSG, "%s:%u: expected KEY=VALUE", file, lineno);
                klen = (size_t)(eq - p);
                if (!key_ok(p, klen))
                        return error_set(err, -EBADMSG, "%s:%u: bad key", file, lineno);
                vlen = (size_t)(le - eq - 1);
                if (vlen >= sizeof(val))
                        return error_set(err, -EBADMSG, "%s:%u: %.*s value too long", file, lineno,
                                         (int)klen, p);
                memcpy(val, eq + 1, vlen);
                val[vlen] = '\0';
                f = find(fields, n_fields, p, klen, &idx);
                if (!f) {
                        uint32_t h = 2166136261u;

                        for (size_t i = 0; i < klen; i++)
                                h = (h ^ (uint8_t)p[i]) * 16777619u;
                        for (size_t i = 0; i < n_unknown; i++)
                                if (unknown[i] == h)
                                        return error_set(err, -EBADMSG, "%s:%u: duplicate key %.*s",
                                                         file, lineno, (int)klen, p);
                        if (n_unknown < ARRAY_SIZE(unknown))
                                unknown[n_unknown++] = h;
                        p = nl + 1;
                        continue; /* written by a newer agent */
                }
                if (seen[idx])
                        return error_set(err, -EBADMSG, "%s:%u: duplicate key %s", file, lineno,
                                         f->key);
                seen[idx] = true;
                r = store(f, val, vlen, obj, file, lineno, err);
                if (r < 0)
                        return r;
                p = nl + 1;
        }
        for (size_t i = 0; i < n_fields; i++)
                if ((fields[i].flags & KV_REQUIRED) && !seen[i])
                        return error_set(err, -EBADMSG, "%s:%u: no %s= line", file, lineno,
                                         fields[i].key);
        return 0;
}

int kv_format(const struct kv_field *fields, size_t n_fields, const void *obj, char **out,
              size_t *out_len, struct error *err)
{
        struct strbuf sb = {0};

        for (size_t i = 0; i < n_fields; i++) {
                const struct kv_field *f = &fields[i];
                const void *src = (const char *)obj + f->offset;

                switch (f->type) {
                case KV_STR:
                case KV_NAME: {
                        const char *s = src;
                        size_t n = strnlen(s, f->size);

                        if (n == f->size || has_control(s, n) ||
                            (f->type == KV_NAME && n && !name_inside(s))) {
                                sb_free(&sb);
                                return error_set(err, -EINVAL,
                                                 "%s: value refused (control character, too long, "
                                                 "or a name leaving its folder)",
                                                 f->key);
                        }
                        sb_printf(&sb, "%s=%s\n", f->key, s);
                        break;
                }
                case KV_UINT:
                        /* An optional number that cannot be 0 is written only when set: a 0
                         * would not read back. */
                        if ((f->flags & KV_NONZERO) && *(const unsigned *)src == 0) {
                                if (f->flags & KV_REQUIRED) {
                                        sb_free(&sb);
                                        return error_set(err, -EINVAL, "%s: 0 is not a value",
                                                         f->key);
                                }
                                break;
                        }
                        sb_printf(&sb, "%s=%u\n", f->key, *(const unsigned *)src);
                        break;
                case KV_LONG:
                        sb_printf(&sb, "%s=%ld\n", f->key, *(const long *)src);
                        break;
                case KV_BOOL:
                        sb_printf(&sb, "%s=%d\n", f->key, *(const bool *)src ? 1 : 0);
                        break;
                case KV_ENUM: {
                        int v = *(const int *)src, k = 0;

                        while (f->choices[k] && k < v)
                                k++;
                        if (v < 0 || !f->choices[k]) {
                                sb_free(&sb);
                                return error_set(err, -EINVAL, "%s: value %d out of range", f->key,
                                                 v);
                        }
                        sb_printf(&sb, "%s=%s\n", f->key, f->choices[v]);
                        break;
                }
                }
        }
        if (sb.oom) {
                sb_free(&sb);
                return error_set(err, -ENOMEM, "out of memory");
        }
        *out_len = sb.len;
        *out = sb.data ? sb.data : strdup("");
        return *out ? 0 : -ENOMEM;
}

int kv_load_at(int dirfd, const char *name, const char *display, size_t max,
               const struct kv_field *fields, size_t n_fields, void *obj, struct error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = beneath_read(dirfd, name, max, &text, &len);
        if (r < 0)
                return error_set(err, r, "%s: %s", display, file_strerror(r));
        return kv_parse(text, len, display, fields, n_fields, obj, err);
}

int kv_save_at(int dirfd, const char *name, const struct kv_field *fields, size_t n_fields,
               const void *obj, mode_t mode, struct error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = kv_format(fields, n_fields, obj, &text, &len, err);
        if (r < 0)
                return r;
        r = beneath_write_atomic(dirfd, name, text, len, mode);
        return r < 0 ? error_set(err, r, "writing %s: %s", name, file_strerror(r)) : 0;
}

int kv_load(const char *path, size_t max, const struct kv_field *fields, size_t n_fields, void *obj,
            struct error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = file_read_regular(path, max, &text, &len);
        if (r < 0)
                return error_set(err, r, "%s: %s", path, file_strerror(r));
        return kv_parse(text, len, path, fields, n_fields, obj, err);
}

int kv_save(const char *path, const struct kv_field *fields, size_t n_fields, const void *obj,
            mode_t mode, struct error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = kv_format(fields, n_fields, obj, &text, &len, err);
        if (r < 0)
                return r;
        r = file_write_atomic(path, text, len, mode);
        return r < 0 ? error_set(err, r, "writing %s: %s", path, file_strerror(r)) : 0;
}
