/* The generation store; see generation.h. */
#include "generation.h"

#include "fileio.h"
#include "sha256.h"
#include "strbuf.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <sys/stat.h>

#define RECORD_MAX   (64 * 1024)
#define MANIFEST_MAX (256 * 1024)

static const char *const status_names[] = {"pending", "good", "bad", "rolled-back", "unconfirmed"};

const char *gen_status_to_string(enum gen_status s)
{
        return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "unknown";
}

int gen_status_from_string(const char *s, enum gen_status *out)
{
        for (size_t i = 0; i < ARRAY_SIZE(status_names); i++)
                if (streq(s, status_names[i])) {
                        *out = (enum gen_status)i;
                        return 0;
                }
        return -EINVAL;
}

enum field_type { F_STR, F_UINT, F_BOOL, F_STATUS };

struct field {
        const char *key;
        enum field_type type;
        size_t offset;
        size_t size;
};

#define STR(k)                                                                                     \
        {                                                                                          \
#k, F_STR, offsetof(struct gen_record, k), sizeof(((struct gen_record *)0)->k)     \
        }
#define BOOL(k)                                                                                    \
        {                                                                                          \
#k, F_BOOL, offsetof(struct gen_record, k), 0                                      \
        }

/* Written in this order; gen and status must be present. */
static const struct field fields[] = {
    {"gen", F_UINT, offsetof(struct gen_record, gen), 0},
    STR(created),
    STR(kernel_from),
    STR(kernel_to),
    STR(initramfs_from),
    STR(initramfs_to),
    {"status", F_STATUS, offsetof(struct gen_record, status), 0},
    STR(reason),
    STR(packaging),
    STR(model),
    STR(serial),
    STR(cmdline_name),
    STR(final),
    BOOL(final_existed),
    BOOL(tryboot),
    STR(shared_backup),
    STR(trial), /* absent from records of older agents: "" */
};

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

static bool has_control(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return true;
        return false;
}

int gen_record_parse(const char *text, size_t len, const char *file, struct gen_record *r,
                     char *err, size_t err_size)
{
        bool seen[ARRAY_SIZE(fields)] = {false};
        const char *p = text, *end = text + len;
        unsigned lineno = 0;

        memset(r, 0, sizeof(*r));
        if (err_size)
                err[0] = '\0';
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *le = nl ? nl : end, *eq, *val;
                size_t klen, vlen;
                char key[32];
                size_t i;

                lineno++;
                /* A record ending without its newline was cut short while written by something
                 * other than the agent (the agent renames complete files into place). */
                if (!nl)
                        return fail(err, err_size, -EBADMSG,
                                    "%s:%u: last line has no newline "
                                    "(file truncated?)",
                                    file, lineno);
                if (le > p && le[-1] == '\r')
                        le--;
                if (le == p || *p == '#') {
                        p = nl + 1;
                        continue;
                }
                eq = memchr(p, '=', (size_t)(le - p));
                if (!eq)
                        return fail(err, err_size, -EBADMSG, "%s:%u: expected KEY=VALUE", file,
                                    lineno);
                klen = (size_t)(eq - p);
                val = eq + 1;
                vlen = (size_t)(le - val);
                if (klen == 0 || klen >= sizeof(key))
                        return fail(err, err_size, -EBADMSG, "%s:%u: bad key", file, lineno);
                memcpy(key, p, klen);
                key[klen] = '\0';
                if (has_control(val, vlen) || memchr(p, '\0', (size_t)(le - p)))
                        return fail(err, err_size, -EBADMSG, "%s:%u: control character in value",
                                    file, lineno);
                for (i = 0; i < ARRAY_SIZE(fields) && !streq(fields[i].key, key); i++)
                        ;
                p = nl + 1;
                if (i == ARRAY_SIZE(fields))
                        continue; /* written by a newer agent */
                if (seen[i])
                        return fail(err, err_size, -EBADMSG, "%s:%u: duplicate key %s", file,
                                    lineno, key);
                seen[i] = true;
                char buf[GEN_VALUE_MAX];
                if (vlen >= sizeof(buf))
                        return fail(err, err_size, -EBADMSG, "%s:%u: %s value too long", file,
                                    lineno, key);
                memcpy(buf, val, vlen);
                buf[vlen] = '\0';
                void *dst = (char *)r + fields[i].offset;
                switch (fields[i].type) {
                case F_STR:
                        if (vlen >= fields[i].size)
                                return fail(err, err_size, -EBADMSG, "%s:%u: %s value too long",
                                            file, lineno, key);
                        memcpy(dst, buf, vlen + 1);
                        break;
                case F_UINT: {
                        unsigned long v;
                        if (parse_uint(buf, &v) < 0 || v == 0 || v > 1000000000UL)
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: %s=%s: expected a number from 1", file, lineno,
                                            key, buf);
                        *(unsigned *)dst = (unsigned)v;
                        break;
                }
                case F_BOOL:
                        if (!streq(buf, "0") && !streq(buf, "1"))
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: %s=%s: expected 0 or 1", file, lineno, key,
                                            buf);
                        *(bool *)dst = buf[0] == '1';
                        break;
                case F_STATUS:
                        if (gen_status_from_string(buf, (enum gen_status *)dst) < 0)
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: status=%s: expected pending, good, bad, "
                                            "rolled-back or unconfirmed",
                                            file, lineno, buf);
                        break;
                }
        }
        if (!seen[0])
                return fail(err, err_size, -EBADMSG, "%s:%u: no gen= line", file, lineno);
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
                if (fields[i].type == F_STATUS && !seen[i])
                        return fail(err, err_size, -EBADMSG, "%s:%u: no status= line", file,
                                    lineno);
        return 0;
}

int gen_record_format(const struct gen_record *r, char **out, size_t *out_len)
{
        struct strbuf sb = {0};

        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
                const void *src = (const char *)r + fields[i].offset;

                switch (fields[i].type) {
                case F_STR:
                        if (has_control(src, strlen(src))) {
                                sb_free(&sb);
                                return -EINVAL;
                        }
                        sb_printf(&sb, "%s=%s\n", fields[i].key, (const char *)src);
                        break;
                case F_UINT:
                        sb_printf(&sb, "%s=%u\n", fields[i].key, *(const unsigned *)src);
                        break;
                case F_BOOL:
                        sb_printf(&sb, "%s=%d\n", fields[i].key, *(const bool *)src ? 1 : 0);
                        break;
                case F_STATUS:
                        sb_printf(&sb, "%s=%s\n", fields[i].key,
                                  gen_status_to_string(*(const enum gen_status *)src));
                        break;
                }
        }
        if (sb.oom) {
                sb_free(&sb);
                return -ENOMEM;
        }
        *out = strdup(sb_str(&sb));
        *out_len = sb.len;
        sb_free(&sb);
        return *out ? 0 : -ENOMEM;
}

char *gen_store_path(const char *boot_dir)
{
        char *p;

        return asprintf(&p, "%s/%s", boot_dir, GEN_STORE) < 0 ? NULL : p;
}

char *gen_dir_path(const char *boot_dir, unsigned gen)
{
        char *p;

        return asprintf(&p, "%s/%s/gen-%u", boot_dir, GEN_STORE, gen) < 0 ? NULL : p;
}

int gen_record_load(const char *boot_dir, unsigned gen, struct gen_record *r, char *err,
                    size_t err_size)
{
        _cleanup_free_ char *dir = gen_dir_path(boot_dir, gen), *path = NULL, *text = NULL;
        size_t len;
        int k;

        if (!dir || asprintf(&path, "%s/%s", dir, GEN_RECORD) < 0)
                return -ENOMEM;
        k = file_read_regular(path, RECORD_MAX, &text, &len);
        if (k < 0)
                return fail(err, err_size, k, "%s: %s", path, file_strerror(k));
        k = gen_record_parse(text, len, path, r, err, err_size);
        if (k < 0)
                return k;
        if (r->gen != gen)
                return fail(err, err_size, -EBADMSG, "%s:1: gen=%u in the folder of gen %u", path,
                            r->gen, gen);
        return 0;
}

int gen_record_save(const char *boot_dir, const char *dir, const struct gen_record *r)
{
        _cleanup_free_ char *gdir = NULL, *path = NULL, *text = NULL;
        size_t len;
        int k;

        if (!dir) {
                gdir = gen_dir_path(boot_dir, r->gen);
                if (!gdir)
                        return -ENOMEM;
                dir = gdir;
        }
        if (asprintf(&path, "%s/%s", dir, GEN_RECORD) < 0)
                return -ENOMEM;
        k = gen_record_format(r, &text, &len);
        if (k < 0)
                return k;
        return file_write_atomic(path, text, len, 0644);
}

/* "gen-N" -> N; with TMP_OK also "gen-N.tmp". */
static bool parse_gen_name(const char *name, bool tmp_ok, unsigned *gen)
{
        char buf[32];
        unsigned long v;
        size_t n;

        if (strncmp(name, "gen-", 4) != 0 || strlen(name) >= sizeof(buf))
                return false;
        snprintf(buf, sizeof(buf), "%s", name + 4);
        n = strlen(buf);
        if (tmp_ok && n > 4 && streq(buf + n - 4, ".tmp"))
                buf[n - 4] = '\0';
        if (parse_uint(buf, &v) < 0 || v == 0 || v > 1000000000UL || buf[0] == '0')
                return false;
        *gen = (unsigned)v;
        return true;
}

static int cmp_uint(const void *a, const void *b)
{
        unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

        return x < y ? -1 : x > y;
}

static int scan(const char *boot_dir, bool tmp_ok, unsigned **gens, size_t *n)
{
        _cleanup_free_ char *store = gen_store_path(boot_dir);
        unsigned *list = NULL;
        size_t count = 0, cap = 0;
        struct dirent *de;
        DIR *d;

        *gens = NULL;
        *n = 0;
        if (!store)
                return -ENOMEM;
        d = opendir(store);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                unsigned g;

                if (!parse_gen_name(de->d_name, tmp_ok, &g))
                        continue;
                if (count == cap) {
                        unsigned *nl = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*nl));
                        if (!nl) {
                                free(list);
                                closedir(d);
                                return -ENOMEM;
                        }
                        list = nl;
                }
                list[count++] = g;
        }
        closedir(d);
        if (count)
                qsort(list, count, sizeof(*list), cmp_uint);
        *gens = list;
        *n = count;
        return 0;
}

int gen_list(const char *boot_dir, unsigned **gens, size_t *n)
{
        return scan(boot_dir, false, gens, n);
}

int gen_next_number(const char *boot_dir, unsigned *next)
{
        _cleanup_free_ unsigned *g = NULL;
        size_t n;
        int r = scan(boot_dir, true, &g, &n);

        if (r < 0)
                return r;
        *next = n ? g[n - 1] + 1 : 1;
        return 0;
}

static int fsync_parent(const char *path)
{
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -1;
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        fd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

int gen_copy_file(const char *src, const char *dst, bool link_first)
{
        _cleanup_close_ int in = -1, out = -1;
        _cleanup_free_ char *tmp = NULL;
        char buf[65536];
        struct stat st;
        int r = 0;

        /* link() does not follow a symlink: it would copy the link itself, so SRC is checked to
         * be a plain file first, exactly as the copy below does. */
        if (lstat(src, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (link_first && link(src, dst) == 0)
                return fsync_parent(dst);
        in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (in < 0)
                return -errno;
        if (fstat(in, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (asprintf(&tmp, "%s.tmp-%d", dst, (int)getpid()) < 0)
                return -ENOMEM;
        /* A leftover of ours (same PID after a reboot) goes; O_EXCL then guarantees that a file
         * planted in between is never truncated or written through. */
        (void)unlink(tmp);
        out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777);
        if (out < 0)
                return -errno;
        for (;;) {
                ssize_t k = read(in, buf, sizeof(buf)), w = 0;

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        break;
                }
                if (k == 0)
                        break;
                while (w < k) {
                        ssize_t m = write(out, buf + w, (size_t)(k - w));
                        if (m < 0 && errno == EINTR)
                                continue;
                        if (m < 0) {
                                r = -errno;
                                break;
                        }
                        w += m;
                }
                if (r < 0)
                        break;
        }
        if (r == 0 && fsync(out) < 0)
                r = -errno;
        if (r == 0 && close(TAKE_FD(out)) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, dst) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        return fsync_parent(dst);
}

int gen_manifest_write(const char *dir, const char *boot_dir, const char *const *names, size_t n)
{
        _cleanup_free_ char *path = NULL;
        struct strbuf sb = {0};
        int count = 0, r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                char hex[SHA256_HEX_SIZE];
                bool dup = false;

                for (size_t j = 0; j < i; j++)
                        dup |= streq(names[i], names[j]);
                if (dup || !names[i][0] || strchr(names[i], '\n'))
                        continue;
                if (asprintf(&p, "%s/%s", boot_dir, names[i]) < 0) {
                        sb_free(&sb);
                        return -ENOMEM;
                }
                r = sha256_file(p, hex);
                if (r == -ENOENT)
                        continue;
                if (r < 0) {
                        sb_free(&sb);
                        return r;
                }
                sb_printf(&sb, "%s  %s\n", hex, names[i]);
                count++;
        }
        if (sb.oom || asprintf(&path, "%s/%s", dir, GEN_MANIFEST) < 0) {
                sb_free(&sb);
                return -ENOMEM;
        }
        r = file_write_atomic(path, sb_str(&sb), sb.len, 0644);
        sb_free(&sb);
        return r < 0 ? r : count;
}

/* The manifest lies in the boot folder, which the NAS side can write: a name must not make the
 * check hash something outside it (a "../../dev/zero" would never end). */
static bool manifest_name_inside(const char *name)
{
        if (name[0] == '/')
                return false;
        for (const char *p = name; *p; p += strcspn(p, "/"), p += *p == '/') {
                size_t n = strcspn(p, "/");

                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return false;
        }
        return true;
}

int gen_manifest_check(const char *dir, const char *boot_dir, char *report, size_t report_size,
                       char *err, size_t err_size)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len, used = 0;
        unsigned lineno = 0;
        int bad = 0, r;
        char *save = NULL;

        if (report_size)
                report[0] = '\0';
        if (asprintf(&path, "%s/%s", dir, GEN_MANIFEST) < 0)
                return -ENOMEM;
        r = file_read_regular(path, MANIFEST_MAX, &text, &len);
        if (r < 0)
                return fail(err, err_size, r, "%s: %s", path, file_strerror(r));
        /* strtok_r() would stop at a NUL byte and leave the rest of the file unchecked. */
        if (memchr(text, '\0', len))
                return fail(err, err_size, -EBADMSG, "%s: NUL byte in the manifest", path);
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                _cleanup_free_ char *file = NULL;
                char hex[SHA256_HEX_SIZE];
                const char *what = NULL;

                lineno++;
                if (strlen(line) < 67 || line[64] != ' ' || line[65] != ' ' ||
                    strspn(line, "0123456789abcdef") != 64)
                        return fail(err, err_size, -EBADMSG,
                                    "%s:%u: expected '<64 hex digits>  <file>'", path, lineno);
                if (!manifest_name_inside(line + 66))
                        return fail(err, err_size, -EBADMSG,
                                    "%s:%u: %s: must name a file inside the boot folder", path,
                                    lineno, line + 66);
                if (asprintf(&file, "%s/%s", boot_dir, line + 66) < 0)
                        return -ENOMEM;
                r = sha256_file(file, hex);
                if (r == -ENOENT)
                        what = "missing";
                else if (r < 0)
                        what = "unreadable";
                else if (strncmp(hex, line, 64) != 0)
                        what = "changed";
                if (!what)
                        continue;
                bad++;
                if (used < report_size) {
                        int k = snprintf(report + used, report_size - used, "%s%s: %s",
                                         used ? "\n" : "", line + 66, what);
                        if (k > 0)
                                used += (size_t)k;
                }
        }
        return bad;
}

int gen_remove_dir(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                /* Generations hold plain files only; anything else is not ours to delete. */
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        r = -errno;
        }
        closedir(d);
        if (r < 0)
                return r;
        return rmdir(dir) < 0 && errno != ENOENT ? -errno : 0;
}
