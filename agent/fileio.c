#include "fileio.h"
#include "util.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>

int fd_write_all(int fd, const void *data, size_t len)
{
        const uint8_t *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int open_parent_dir(const char *path, const char **base)
{
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = NULL;
        int fd;

        if (!slash) {
                *base = path;
                dir = strdup(".");
        } else {
                *base = slash + 1;
                dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        }
        if (!dir)
                return -ENOMEM;
        if (!**base)
                return -EISDIR;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int refuse_symlink_at(int dirfd, const char *base)
{
        struct stat st;

        if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EEXIST;
        return 0;
}

static int create_temp_at(int dirfd, const char *base, mode_t mode, char *tmp, size_t size)
{
        for (int attempt = 0; attempt < 100; attempt++) {
                int fd;

                snprintf(tmp, size, ".%s.%d.%d.tmp", base, (int)getpid(), attempt);
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
                if (fd >= 0)
                        return fd;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        _cleanup_close_ int dirfd = -1;
        _cleanup_close_ int fd = -1;
        const char *base;
        char tmp[NAME_MAX + 1];
        int r;

        dirfd = open_parent_dir(path, &base);
        if (dirfd < 0)
                return dirfd;
        if (strlen(base) > NAME_MAX - 24)
                return -ENAMETOOLONG;
        r = refuse_symlink_at(dirfd, base);
        if (r < 0)
                return r;
        fd = create_temp_at(dirfd, base, mode, tmp, sizeof(tmp));
        if (fd < 0)
                return fd;
        r = fd_write_all(fd, data, len);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, base) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return r;
        }
        return fsync_dir(dirfd);
}

static int read_all_flags(const char *path, int flags, size_t max, char **out, size_t *len)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t used = 0, cap = 4096;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags);
        if (fd < 0)
                return -errno;
        if (flags & O_NOFOLLOW) {
                struct stat st;

                /* A FIFO or device planted at the name would block or never end. */
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISREG(st.st_mode))
                        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        }
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (used == cap) {
                        char *grown;

                        if (cap > max)
                                return -EFBIG;
                        cap *= 2;
                        grown = realloc(buf, cap + 1);
                        if (!grown)
                                return -ENOMEM;
                        buf = grown;
                }
                n = read(fd, buf + used, cap - used);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                used += (size_t)n;
                if (used > max)
                        return -EFBIG;
        }
        buf[used] = '\0';
        if (len)
                *len = used;
        *out = TAKE_PTR(buf);
        return 0;
}

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
        return read_all_flags(path, 0, max, out, len);
}

int file_read_regular(const char *path, size_t max, char **out, size_t *len)
{
        /* O_NONBLOCK: opening a planted FIFO must not hang before fstat() can refuse it. */
        return read_all_flags(path, O_NOFOLLOW | O_NONBLOCK, max, out, len);
}

unsigned text_nul_line(const char *text, size_t len)
{
        const char *nul = memchr(text, '\0', len);
        unsigned line = 1;

        if (!nul)
                return 0;
        for (const char *p = text; p < nul; p++)
                line += *p == '\n';
        return line;
}

const char *file_strerror(int r)
{
        switch (r) {
        case -ELOOP:
                return "a symlink (refused, never followed)";
        case -EISDIR:
                return "a folder, not a file";
        case -EINVAL:
                return "not a regular file";
        case -EFBIG:
                return "too large";
        default:
                return strerror(r < 0 ? -r : r);
        }
}

int file_read_value(const char *path, char *buf, size_t size)
{
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (size == 0)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = read(fd, buf, size - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        str_strip_trailing(buf);
        return 0;
}

int file_write_value(const char *path, const char *value)
{
        _cleanup_close_ int fd = -1;
        size_t len = strlen(value);
        ssize_t n;

        /* O_TRUNC matters only for sandbox trees of plain files; sysfs and procfs ignore it. */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}

int file_remove(const char *path)
{
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int mkdir_parents(const char *dir, mode_t mode)
{
        char buf[PATH_MAX];
        size_t len = strlen(dir);

        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, dir, len + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode ? mode : 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int fsync_dir(int dirfd)
{
        /* Some file systems cannot fsync a directory; their renames are as durable as they get. */
        if (fsync(dirfd) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}
