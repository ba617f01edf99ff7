#include "beneath.h"

#include "fileio.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

bool name_inside(const char *name)
{
        const char *p;

        if (str_empty(name) || name[0] == '/' || strlen(name) >= PATH_MAX)
                return false;
        for (p = name; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        return false;
        for (p = name; *p;) {
                size_t n = strcspn(p, "/");

                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n;
                if (*p == '/' && !*++p)
                        return false; /* "a/" names a folder */
        }
        return true;
}

int beneath_open_dir(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

/* Without openat2 (kernels before 5.6): each folder on the way opened with O_NOFOLLOW. */
static int open_walk(int dirfd, const char *name, int flags, mode_t mode)
{
        _cleanup_free_ char *copy = strdup(name);
        _cleanup_close_ int cur = -1;
        char *part, *next;
        int fd;

        if (!copy)
                return -ENOMEM;
        cur = dup(dirfd);
        if (cur < 0)
                return -errno;
        for (part = copy; (next = strchr(part, '/')); part = next + 1) {
                *next = '\0';
                fd = openat(cur, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return errno == ENOTDIR ? -ELOOP : -errno;
                close(cur);
                cur = fd;
        }
        fd = openat(cur, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        return fd < 0 ? -errno : fd;
}

int openat_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd;

        if (!name_inside(name))
                return -EXDEV;
        fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
        if (fd >= 0)
                return (int)fd;
        if (errno == ENOSYS || errno == EPERM) /* no openat2, or a seccomp filter without it */
                return open_walk(dirfd, name, flags, mode);
        /* O_NOFOLLOW semantics for the last part: a symlink there is -ELOOP either way. */
        return -errno;
}

int openat_parent_beneath(int dirfd, const char *name, bool create, const char **base)
{
        _cleanup_free_ char *dir = NULL;
        const char *slash;
        int r;

        if (!name_inside(name))
                return -EXDEV;
        slash = strrchr(name, '/');
        *base = slash ? slash + 1 : name;
        if (!slash) {
                r = dup(dirfd);
                return r < 0 ? -errno : r;
        }
        dir = strndup(name, (size_t)(slash - name));
        if (!dir)
                return -ENOMEM;
        if (create) {
                /* Each missing folder on the way; one that exists must be a folder, not a link. */
                for (char *p = dir;; p++) {
                        if (*p != '/' && *p != '\0')
                                continue;
                        char c = *p;
                        _cleanup_close_ int pfd = -1;
                        const char *leaf;

                        *p = '\0';
                        pfd = openat_parent_beneath(dirfd, dir, false, &leaf);
                        if (pfd < 0)
                                return pfd;
                        if (mkdirat(pfd, leaf, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = c;
                        if (!c)
                                break;
                }
        }
        return openat_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY, 0);
}

static int create_temp(int pfd, const char *base, mode_t mode, char *tmp, size_t size)
{
        for (int attempt = 0; attempt < 100; attempt++) {
                int fd;

                snprintf(tmp, size, ".%s.%d.%d.tmp", base, (int)getpid(), attempt);
                fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
                if (fd >= 0)
                        return fd;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

/* The mode of what NAME replaces: the TFTP server must still be able to read it. */
static mode_t mode_of(int pfd, const char *base, mode_t fallback)
{
        struct stat st;

        return fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)
                   ? st.st_mode & 07777
                   : fallback;
}

static int refuse_non_file(int pfd, const char *base)
{
        struct stat st;

        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        return S_ISREG(st.st_mode) ? 0 : S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
}

/* Writes DATA or copies from IN_FD into a temp file next to BASE and renames it over BASE. */
static int replace_in(int pfd, const char *base, const void *data, size_t len, int in_fd,
                      mode_t mode)
{
        _cleanup_close_ int fd = -1;
        char tmp[NAME_MAX + 1];
        int r;

        if (strlen(base) > NAME_MAX - 24)
                return -ENAMETOOLONG;
        r = refuse_non_file(pfd, base);
        if (r < 0)
                return r;
        if (!mode)
                mode = mode_of(pfd, base, 0644);
        fd = create_temp(pfd, base, mode, tmp, sizeof(tmp));
        if (fd < 0)
                return fd;
        if (in_fd >= 0) {
                /* A reflink shares no bytes a later in-place write could change; else a copy. */
                if (ioctl(fd, FICLONE, in_fd) < 0) {
                        char buf[65536];
                        ssize_t n;

                        while ((n = read(in_fd, buf, sizeof(buf))) != 0) {
                                if (n < 0 && errno == EINTR)
                                        continue;
                                if (n < 0) {
                                        r = -errno;
                                        break;
                                }
                                r = fd_write_all(fd, buf, (size_t)n);
                                if (r < 0)
                                        break;
                        }
                }
        } else {
                r = fd_write_all(fd, data, len);
        }
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(pfd, tmp, pfd, base) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(pfd, tmp, 0);
                return r;
        }
        return fsync_dir(pfd);
}

int beneath_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
        _cleanup_close_ int pfd = -1;
        const char *base;

        pfd = openat_parent_beneath(dirfd, name, true, &base);
        if (pfd < 0)
                return pfd;
        return replace_in(pfd, base, data, len, -1, mode);
}

static int open_regular(int dirfd, const char *name)
{
        struct stat st;
        int fd;

        /* O_NONBLOCK: opening a planted FIFO must not hang before fstat() can refuse it. */
        fd = openat_beneath(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                int r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;

                close(fd);
                return r;
        }
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
}

int beneath_read(int dirfd, const char *name, size_t max, char **out, size_t *len)
{
        _cleanup_close_ int fd = open_regular(dirfd, name);
        _cleanup_free_ char *buf = NULL;
        size_t used = 0, cap = 4096;

        if (fd < 0)
                return fd;
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
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
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

int beneath_copy(int src_dirfd, const char *src, int dst_dirfd, const char *dst, mode_t mode)
{
        _cleanup_close_ int in = open_regular(src_dirfd, src);
        _cleanup_close_ int pfd = -1;
        const char *base;
        struct stat st;

        if (in < 0)
                return in;
        if (!mode) {
                if (fstat(in, &st) < 0)
                        return -errno;
                mode = st.st_mode & 07777;
        }
        pfd = openat_parent_beneath(dst_dirfd, dst, true, &base);
        if (pfd < 0)
                return pfd;
        return replace_in(pfd, base, NULL, 0, in, mode);
}

int beneath_sha256(int dirfd, const char *name, char hex[SHA256_HEX_SIZE])
{
        _cleanup_close_ int fd = open_regular(dirfd, name);

        return fd < 0 ? fd : sha256_fd(fd, hex);
}

int beneath_is_file(int dirfd, const char *name)
{
        _cleanup_close_ int pfd = -1;
        const char *base;
        struct stat st;

        pfd = openat_parent_beneath(dirfd, name, false, &base);
        if (pfd == -ENOENT)
                return 0;
        if (pfd < 0)
                return pfd;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        return S_ISREG(st.st_mode) ? 1 : -EINVAL;
}

int beneath_unlink(int dirfd, const char *name)
{
        _cleanup_close_ int pfd = -1;
        const char *base;

        pfd = openat_parent_beneath(dirfd, name, false, &base);
        if (pfd == -ENOENT)
                return 0;
        if (pfd < 0)
                return pfd;
        if (unlinkat(pfd, base, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        return fsync_dir(pfd);
}

int beneath_rename(int dirfd, const char *from, const char *to)
{
        _cleanup_close_ int pf = -1, pt = -1;
        const char *bf, *bt;
        int r;

        pf = openat_parent_beneath(dirfd, from, false, &bf);
        if (pf < 0)
                return pf;
        pt = openat_parent_beneath(dirfd, to, true, &bt);
        if (pt < 0)
                return pt;
        if (renameat(pf, bf, pt, bt) < 0)
                return -errno;
        r = fsync_dir(pt);
        return r < 0 ? r : fsync_dir(pf);
}

static int remove_tree_at(int pfd, const char *base, unsigned depth)
{
        _cleanup_close_ int fd = -1;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (depth > 16)
                return -ELOOP;
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -1; /* owned by D now */
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode))
                        r = remove_tree_at(dirfd(d), de->d_name, depth + 1);
                else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        r = -errno;
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        return unlinkat(pfd, base, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int beneath_remove_tree(int dirfd, const char *name)
{
        _cleanup_close_ int pfd = -1;
        const char *base;
        int r;

        pfd = openat_parent_beneath(dirfd, name, false, &base);
        if (pfd == -ENOENT)
                return 0;
        if (pfd < 0)
                return pfd;
        r = remove_tree_at(pfd, base, 0);
        return r < 0 ? r : fsync_dir(pfd);
}
