#include "dpkg.h"

#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <dirent.h>

#define DPKG_STATUS_MAX (64 * 1024 * 1024)

/* The value of FIELD ("Status", "Version") in the stanza starting at S, or NULL. */
static const char *field_in(const char *s, const char *end, const char *field, size_t *len)
{
        char needle[64];
        const char *v;

        snprintf(needle, sizeof(needle), "\n%s: ", field);
        v = strstr(s, needle);
        if (!v || (end && v > end))
                return NULL;
        v += strlen(needle);
        *len = strcspn(v, "\n");
        return v;
}

int dpkg_installed(const char *root, const char *pkg, char *ver, size_t size)
{
        _cleanup_free_ char *path = root_path(root, "/var/lib/dpkg/status"), *text = NULL;
        _cleanup_free_ char *needle = NULL;

        if (ver && size)
                ver[0] = '\0';
        if (!path || asprintf(&needle, "Package: %s\n", pkg) < 0)
                return -ENOMEM;
        if (file_read_all(path, DPKG_STATUS_MAX, &text, NULL) < 0)
                return 0;
        for (const char *s = text; (s = strstr(s, needle)); s += strlen(needle)) {
                const char *end, *st, *v;
                size_t n;

                if (s != text && s[-1] != '\n')
                        continue;
                end = strstr(s, "\n\n");
                st = field_in(s, end, "Status", &n);
                if (!st || n != strlen("install ok installed") ||
                    strncmp(st, "install ok installed", n) != 0)
                        return 0;
                v = field_in(s, end, "Version", &n);
                if (v && ver && size)
                        snprintf(ver, size, "%.*s", (int)n, v);
                return 1;
        }
        return 0;
}

#define DPKG_LIST_MAX (16 * 1024 * 1024)

static int list_has(const char *file, const char *path)
{
        _cleanup_free_ char *text = NULL;
        size_t n = strlen(path);

        if (file_read_all(file, DPKG_LIST_MAX, &text, NULL) < 0)
                return 0;
        for (const char *s = text; (s = strstr(s, path)); s += n)
                if ((s == text || s[-1] == '\n') && (s[n] == '\n' || s[n] == '\0'))
                        return 1;
        return 0;
}

int dpkg_lists_path(const char *root, const char *pkg, const char *path)
{
        _cleanup_free_ char *dir = root_path(root, "/var/lib/dpkg/info");
        size_t plen = strlen(pkg);
        struct dirent *de;
        DIR *d;
        int found = 0;

        if (!dir)
                return -ENOMEM;
        if (!plen || strchr(pkg, '/'))
                return 0;
        d = opendir(dir);
        if (!d)
                return 0;
        while (!found && (de = readdir(d))) {
                const char *rest = de->d_name + plen;
                _cleanup_free_ char *file = NULL;

                if (strncmp(de->d_name, pkg, plen) != 0 ||
                    !(streq(rest, ".list") || (rest[0] == ':' && strlen(rest) > 5 &&
                                               streq(rest + strlen(rest) - 5, ".list"))))
                        continue;
                if (asprintf(&file, "%s/%s", dir, de->d_name) < 0) {
                        found = -ENOMEM;
                        break;
                }
                found = list_has(file, path);
        }
        closedir(d);
        return found;
}
