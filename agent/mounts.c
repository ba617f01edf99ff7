#include "mounts.h"

#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#define MOUNTS_FILE_MAX (4 * 1024 * 1024)

/* The kernel escapes space, tab, newline and backslash as octal (\040). */
static void unescape_octal(char *s)
{
        char *w = s;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        *w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else {
                        *w++ = *s;
                }
        }
        *w = '\0';
}

/* Splits LINE in place at blanks into at most MAX words. */
static size_t split_words(char *line, char **w, size_t max)
{
        size_t n = 0;
        char *save = NULL;

        for (char *tok = strtok_r(line, " \t", &save); tok && n < max;
             tok = strtok_r(NULL, " \t", &save))
                w[n++] = tok;
        return n;
}

static int table_add(struct mount_table *t, const char *src, const char *dir, const char *type,
                     const char *opts, const char *devno)
{
        struct mount_entry *grown, *m;

        grown = realloc(t->e, (t->n + 1) * sizeof(*t->e));
        if (!grown)
                return -ENOMEM;
        t->e = grown;
        m = &t->e[t->n];
        memset(m, 0, sizeof(*m));
        m->source = strdup(src);
        m->target = strdup(dir);
        m->fstype = strdup(type);
        m->options = strdup(opts);
        t->n++;
        if (!m->source || !m->target || !m->fstype || !m->options)
                return -ENOMEM;
        unescape_octal(m->source);
        unescape_octal(m->target);
        if (devno && sscanf(devno, "%u:%u", &m->major, &m->minor) == 2)
                m->have_devno = true;
        return 0;
}

/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS…] - FSTYPE SOURCE SUPEROPTS" */
static int parse_mountinfo_line(struct mount_table *t, char *line)
{
        char *w[64];
        size_t n = split_words(line, w, ARRAY_SIZE(w)), dash = 0;

        for (size_t i = 6; i < n; i++)
                if (streq(w[i], "-")) {
                        dash = i;
                        break;
                }
        if (!dash || dash + 2 >= n)
                return 0;
        return table_add(t, w[dash + 2], w[4], w[dash + 1], w[5], w[2]);
}

int mounts_parse(const char *text, bool mountinfo, struct mount_table *t)
{
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL;
        int r = 0;

        memset(t, 0, sizeof(*t));
        if (!copy)
                return -ENOMEM;
        for (char *line = strtok_r(copy, "\n", &save); line && r >= 0;
             line = strtok_r(NULL, "\n", &save)) {
                char *w[6];

                if (mountinfo) {
                        r = parse_mountinfo_line(t, line);
                        continue;
                }
                if (split_words(line, w, ARRAY_SIZE(w)) >= 4)
                        r = table_add(t, w[0], w[1], w[2], w[3], NULL);
        }
        if (r < 0)
                mounts_free(t);
        return r;
}

static int load_file(const char *root, const char *abs, bool mountinfo, struct mount_table *t)
{
        _cleanup_free_ char *path = root_path(root, abs), *text = NULL;
        int r;

        memset(t, 0, sizeof(*t));
        if (!path)
                return -ENOMEM;
        r = file_read_all(path, MOUNTS_FILE_MAX, &text, NULL);
        return r < 0 ? r : mounts_parse(text, mountinfo, t);
}

int mounts_load(const char *root, struct mount_table *t)
{
        int r = load_file(root, "/proc/mounts", false, t);

        return r == -ENOENT ? load_file(root, "/proc/self/mountinfo", true, t) : r;
}

int mounts_load_mountinfo(const char *root, struct mount_table *t)
{
        return load_file(root, "/proc/self/mountinfo", true, t);
}

void mounts_free(struct mount_table *t)
{
        for (size_t i = 0; i < t->n; i++) {
                free(t->e[i].source);
                free(t->e[i].target);
                free(t->e[i].fstype);
                free(t->e[i].options);
        }
        free(t->e);
        t->e = NULL;
        t->n = 0;
}

/* DIR without trailing slashes ("/" stays "/"): its length. */
static size_t trimmed_len(const char *dir)
{
        size_t n = strlen(dir);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        return n;
}

const struct mount_entry *mounts_at(const struct mount_table *t, const char *dir)
{
        size_t dl = trimmed_len(dir);

        for (size_t i = t->n; i > 0; i--) {
                const char *m = t->e[i - 1].target;

                if (trimmed_len(m) == dl && strncmp(m, dir, dl) == 0)
                        return &t->e[i - 1];
        }
        return NULL;
}

/* True when mount point MNT is PATH or one of its parent folders. */
static bool covers(const char *mnt, const char *path)
{
        size_t n = trimmed_len(mnt);

        if (n == 1 && mnt[0] == '/')
                return path[0] == '/';
        return strncmp(mnt, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const struct mount_entry *mounts_covering(const struct mount_table *t, const char *path)
{
        const struct mount_entry *best = NULL;
        size_t best_len = 0;

        for (size_t i = 0; i < t->n; i++) {
                size_t n = trimmed_len(t->e[i].target);

                /* ">=": a later mount on the same point hides an earlier one. */
                if (covers(t->e[i].target, path) && (!best || n >= best_len)) {
                        best = &t->e[i];
                        best_len = n;
                }
        }
        return best;
}

bool mounts_is_nfs(const struct mount_entry *m)
{
        return m && (streq(m->fstype, "nfs") || streq(m->fstype, "nfs4"));
}

/* The ':' that ends the host part, or NULL. */
static const char *host_end(const char *src)
{
        if (src[0] == '[') {
                const char *close = strchr(src, ']');

                return close && close[1] == ':' ? close + 1 : NULL;
        }
        return strchr(src, ':');
}

int mounts_nfs_server(const struct mount_entry *m, char *host, size_t size)
{
        const char *end = host_end(m->source);
        size_t n;

        if (!end || end == m->source)
                return -EINVAL;
        n = (size_t)(end - m->source);
        if (n >= size)
                return -ENAMETOOLONG;
        memcpy(host, m->source, n);
        host[n] = '\0';
        return 0;
}

const char *mounts_nfs_export(const struct mount_entry *m)
{
        const char *end = host_end(m->source);

        return end ? end + 1 : NULL;
}

int mounts_nfs_folder(const struct mount_entry *m, char *name, size_t size)
{
        const char *path = mounts_nfs_export(m), *last;
        size_t n;

        if (!path)
                return -EINVAL;
        n = trimmed_len(path);
        if (n == 0 || (n == 1 && path[0] == '/'))
                return -EINVAL;
        for (last = path + n; last > path && last[-1] != '/'; last--)
                ;
        n = (size_t)(path + trimmed_len(path) - last);
        if (n >= size)
                return -ENAMETOOLONG;
        memcpy(name, last, n);
        name[n] = '\0';
        return 0;
}
