#include "dpkg.h"

#include "fileio.h"
#include "rootpath.h"
#include "util.h"

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
