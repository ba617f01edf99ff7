#include "bootlock.h"

#include "fileio.h"
#include "kvfile.h"
#include "rootpath.h"
#include "util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>

static const struct kv_field holder_fields[] = {
    KV_LONG_FIELD(struct boot_lock_holder, pid, 0),
    KV_STR_FIELD(struct boot_lock_holder, command, 0),
    KV_STR_FIELD(struct boot_lock_holder, since, 0),
};

static int open_lock(const char *root, int *fd)
{
        _cleanup_free_ char *path = root_path(root, BOOT_LOCK_PATH), *dir = NULL;
        int r;

        if (!path || !(dir = root_path(root, "/run/netroot")))
                return -ENOMEM;
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return r;
        *fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        return *fd < 0 ? -errno : 0;
}

static int read_holder(int fd, struct boot_lock_holder *h)
{
        char buf[512];
        ssize_t n;
        struct error e;

        memset(h, 0, sizeof(*h));
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return n < 0 ? -errno : 0;
        buf[n] = '\0';
        return kv_parse(buf, (size_t)n, BOOT_LOCK_PATH, holder_fields, ARRAY_SIZE(holder_fields), h,
                        &e);
}

static void write_holder(int fd, const char *command)
{
        struct boot_lock_holder h = {.pid = (long)getpid()};
        _cleanup_free_ char *text = NULL;
        time_t now = time(NULL);
        struct tm tm;
        size_t len;
        struct error e;

        snprintf(h.command, sizeof(h.command), "%s", command);
        gmtime_r(&now, &tm);
        strftime(h.since, sizeof(h.since), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (kv_format(holder_fields, ARRAY_SIZE(holder_fields), &h, &text, &len, &e) < 0)
                return;
        /* Only names the holder: a message may be wrong, the lock itself never is. */
        if (ftruncate(fd, 0) == 0)
                (void)!pwrite(fd, text, len, 0);
}

int boot_lock_take(const char *root, const char *command, unsigned wait_sec, struct boot_lock *l,
                   struct error *err)
{
        struct timespec start, now;
        int fd = -1, r;

        l->fd = -1;
        r = open_lock(root, &fd);
        if (r < 0)
                return error_set(err, r, "%s: %s", BOOT_LOCK_PATH, strerror(-r));
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                        break;
                if (errno != EWOULDBLOCK && errno != EINTR) {
                        r = -errno;
                        close(fd);
                        return error_set(err, r, "%s: %s", BOOT_LOCK_PATH, strerror(-r));
                }
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - start.tv_sec >= (time_t)wait_sec) {
                        struct boot_lock_holder h;

                        (void)read_holder(fd, &h);
                        close(fd);
                        return error_set(err, -EBUSY,
                                         "another process is changing the boot folder: %s, pid "
                                         "%ld, since %s%s",
                                         h.command[0] ? h.command : "(unknown)", h.pid,
                                         h.since[0] ? h.since : "(unknown)",
                                         wait_sec ? " (waited for it)" : "");
                }
                usleep(100 * 1000);
        }
        write_holder(fd, command);
        l->fd = fd;
        return 0;
}

void boot_lock_release(struct boot_lock *l)
{
        if (l->fd >= 0) {
                /* Best effort: the holder text only informs; the flock is what counts. (void)
                 * alone does not silence warn_unused_result under _FORTIFY_SOURCE (the package's
                 * build flags). */
                if (ftruncate(l->fd, 0) < 0) {
                }
                close(l->fd); /* drops the flock */
                l->fd = -1;
        }
}

int boot_lock_holder(const char *root, struct boot_lock_holder *h)
{
        _cleanup_free_ char *path = root_path(root, BOOT_LOCK_PATH);
        _cleanup_close_ int fd = -1;

        memset(h, 0, sizeof(*h));
        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        /* A shared lock granted means nobody holds the exclusive one; it is dropped at once. */
        if (flock(fd, LOCK_SH | LOCK_NB) == 0)
                return 0;
        if (errno != EWOULDBLOCK)
                return -errno;
        (void)read_holder(fd, h);
        return 1;
}
