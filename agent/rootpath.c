#include "rootpath.h"
#include "util.h"

#include <stdarg.h>

static bool root_is_real(const char *root)
{
        return str_empty(root) || streq(root, "/");
}

char *root_path(const char *root, const char *abs)
{
        char *out;
        size_t rlen;

        if (!abs || abs[0] != '/') {
                errno = EINVAL;
                return NULL;
        }
        if (root_is_real(root))
                return strdup(abs);
        rlen = strlen(root);
        while (rlen > 1 && root[rlen - 1] == '/')
                rlen--;
        if (asprintf(&out, "%.*s%s", (int)rlen, root, abs) < 0)
                return NULL;
        return out;
}

char *root_pathf(const char *root, const char *fmt, ...)
{
        _cleanup_free_ char *abs = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&abs, fmt, ap);
        va_end(ap);
        if (r < 0)
                return NULL;
        return root_path(root, abs);
}

char *root_path_arg(const char *root, const char *dir)
{
        return dir[0] == '/' ? root_path(root, dir) : strdup(dir);
}
