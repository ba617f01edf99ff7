/* The cluster-wide firmware lock. shared_dir is NFS-mounted with nolock, so neither flock() nor
 * fcntl() locks reach other Pis; what the NFS server does make atomic is an exclusive create and
 * a rename. The lock is therefore a file created with O_EXCL that names its holder and an expiry,
 * and a stale one is removed only by whoever managed to rename it aside. Expiry compares wall
 * clocks of different hosts: the Pis and the NAS are expected to run NTP, and TTLs are minutes. */
#include "cluster_lock.h"
#include "fileio.h"
#include "util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>

#define LOCK_FILE_MAX      4096
#define POLL_INTERVAL_NSEC (200 * 1000 * 1000L)
/* Takeovers and vanished files retry at once; this bounds such rounds before a sleep so two
 * contenders cannot spin against each other. */
#define FAST_RETRIES 16

struct lock_seen {
        struct cluster_lock_holder h;
        bool parsed;
        dev_t dev;
        ino_t ino;
        time_t mtime;
};

static bool serial_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n >= sizeof(((struct cluster_lock_holder *)0)->serial))
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
                      (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_'))
                        return false;
        return true;
}

static int parse_long(const char *s, long long *out)
{
        char *end;

        if (!*s)
                return -EINVAL;
        errno = 0;
        *out = strtoll(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        return 0;
}

/* Parses the key=value lines; every one of the five keys must be present. */
static int parse_lock(char *text, struct cluster_lock_holder *h)
{
        unsigned seen = 0;
        char *save = NULL;

        memset(h, 0, sizeof(*h));
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');
                const char *val;
                long long v;

                if (!eq)
                        return -EBADMSG;
                *eq = '\0';
                val = eq + 1;
                if (streq(line, "serial")) {
                        if (strlen(val) >= sizeof(h->serial))
                                return -EBADMSG;
                        strcpy(h->serial, val);
                        seen |= 1;
                } else if (streq(line, "host")) {
                        if (strlen(val) >= sizeof(h->host))
                                return -EBADMSG;
                        strcpy(h->host, val);
                        seen |= 2;
                } else if (streq(line, "pid")) {
                        if (parse_long(val, &v) < 0 || v <= 0 || v > LONG_MAX)
                                return -EBADMSG;
                        h->pid = (long)v;
                        seen |= 4;
                } else if (streq(line, "acquired")) {
                        if (parse_long(val, &v) < 0 || v < 0)
                                return -EBADMSG;
                        h->acquired = (time_t)v;
                        seen |= 8;
                } else if (streq(line, "expires")) {
                        if (parse_long(val, &v) < 0 || v < 0)
                                return -EBADMSG;
                        h->expires = (time_t)v;
                        seen |= 16;
                }
                /* Unknown keys are for later versions: ignored. */
        }
        return seen == 31 ? 0 : -EBADMSG;
}

/* Reads the lock file NAME in DIRFD. Returns 0 (SEEN->parsed tells whether it made sense),
 * -ENOENT when there is none, -ELOOP for a symlink, -EINVAL for something not a regular file. */
static int read_lock_at(int dirfd, const char *name, struct lock_seen *seen)
{
        _cleanup_close_ int fd = -1;
        char buf[LOCK_FILE_MAX + 1];
        size_t used = 0;
        struct stat st;

        memset(seen, 0, sizeof(*seen));
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        seen->dev = st.st_dev;
        seen->ino = st.st_ino;
        seen->mtime = st.st_mtime;
        while (used < LOCK_FILE_MAX) {
                ssize_t n = read(fd, buf + used, LOCK_FILE_MAX - used);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                used += (size_t)n;
        }
        buf[used] = '\0';
        seen->parsed =
            used < LOCK_FILE_MAX && strlen(buf) == used && parse_lock(buf, &seen->h) == 0;
        if (!seen->parsed)
                memset(&seen->h, 0, sizeof(seen->h));
        return 0;
}

static bool lock_is_stale(const struct lock_seen *s, time_t now, unsigned ttl_sec)
{
        if (s->parsed)
                return s->h.expires < now;
        /* A holder that died between create and write leaves an empty or torn file; its age is
         * all there is to go by. */
        return s->mtime + (time_t)ttl_sec < now;
}

static bool same_holder(const struct cluster_lock_holder *a, const struct cluster_lock_holder *b)
{
        return streq(a->serial, b->serial) && streq(a->host, b->host) && a->pid == b->pid &&
               a->acquired == b->acquired;
}

/* One exclusive create. Returns 0 when the lock is ours, -EEXIST when a file is in the way. */
static int try_create(int dirfd, struct cluster_lock_holder *me, unsigned ttl_sec)
{
        _cleanup_close_ int fd = -1;
        char text[256];
        int len, r;

        me->acquired = time(NULL);
        me->expires = me->acquired + (time_t)ttl_sec;
        fd = openat(dirfd, CLUSTER_LOCK_NAME,
                    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        len =
            snprintf(text, sizeof(text),
                     "serial=%s\nhost=%s\npid=%ld\nacquired=%" PRIdMAX "\nexpires=%" PRIdMAX "\n",
                     me->serial, me->host, me->pid, (intmax_t)me->acquired, (intmax_t)me->expires);
        r = fd_write_all(fd, text, (size_t)len);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, CLUSTER_LOCK_NAME, 0);
                return r;
        }
        return fsync_dir(dirfd);
}

static void stale_name(char *buf, size_t size, const char *serial)
{
        uint64_t rnd;

        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                rnd = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid();
        }
        snprintf(buf, size, "%s.stale.%s.%ld.%016" PRIx64, CLUSTER_LOCK_NAME, serial,
                 (long)getpid(), rnd);
}

static bool same_file(const struct lock_seen *a, const struct lock_seen *b)
{
        /* The inode alone is not enough: a file system may hand a freed inode number straight
         * to the next new file, which is exactly what a fresh lock after a takeover is. */
        if (a->dev != b->dev || a->ino != b->ino || a->parsed != b->parsed)
                return false;
        if (a->parsed)
                return same_holder(&a->h, &b->h) && a->h.expires == b->h.expires;
        return a->mtime == b->mtime;
}

/* Moves the lock file SEEN was read from out of the way. Between reading it and renaming it,
 * another contender may have done the same and created a fresh lock: the file renamed is then
 * checked to be the one judged, and a wrong one is put back without replacing anything.
 * Returns 0 when the stale lock is gone, -EAGAIN when someone else got there first. */
static int take_over(int dirfd, const char *serial, const struct lock_seen *seen)
{
        char aside[NAME_MAX + 1];
        struct lock_seen moved;
        int r;

        stale_name(aside, sizeof(aside), serial);
        if (renameat(dirfd, CLUSTER_LOCK_NAME, dirfd, aside) < 0)
                return errno == ENOENT ? -EAGAIN : -errno;
        r = read_lock_at(dirfd, aside, &moved);
        if (r < 0 || !same_file(&moved, seen)) {
                /* Somebody's fresh lock: back under its name. link() and RENAME_NOREPLACE never
                 * replace a file; should the name be taken meanwhile, that holder has lost its
                 * lock, and its release finds a file that does not name it. */
                if (linkat(dirfd, aside, dirfd, CLUSTER_LOCK_NAME, 0) == 0 ||
                    (errno != EEXIST &&
                     renameat2(dirfd, aside, dirfd, CLUSTER_LOCK_NAME, RENAME_NOREPLACE) == 0))
                        unlinkat(dirfd, aside, 0);
                return r < 0 ? r : -EAGAIN;
        }
        if (unlinkat(dirfd, aside, 0) < 0 && errno != ENOENT)
                return -errno;
        return fsync_dir(dirfd);
}

static int64_t mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cluster_lock_acquire(struct cluster_lock *l, const char *dir, const char *serial,
                         unsigned ttl_sec, unsigned wait_sec, struct cluster_lock_holder *holder)
{
        _cleanup_close_ int dirfd = -1;
        int64_t deadline;
        unsigned fast = 0;
        int n;

        if (!l || !dir || !serial || !serial_valid(serial) || ttl_sec == 0)
                return -EINVAL;
        if (l->held)
                return -EALREADY;
        n = snprintf(l->path, sizeof(l->path), "%s/%s", dir, CLUSTER_LOCK_NAME);
        if (n < 0 || (size_t)n >= sizeof(l->path))
                return -ENAMETOOLONG;
        memset(&l->me, 0, sizeof(l->me));
        strcpy(l->me.serial, serial);
        if (gethostname(l->me.host, sizeof(l->me.host) - 1) < 0)
                strcpy(l->me.host, "unknown");
        /* A host name with a newline or '=' would corrupt the file's format. */
        for (char *p = l->me.host; *p; p++)
                if (*p == '\n' || *p == '=')
                        *p = '_';
        l->me.pid = (long)getpid();
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        deadline = mono_ns() + (int64_t)wait_sec * 1000000000;

        for (;;) {
                struct lock_seen seen;
                int r;

                r = try_create(dirfd, &l->me, ttl_sec);
                if (r == 0) {
                        l->held = true;
                        return 0;
                }
                if (r != -EEXIST)
                        return r;

                r = read_lock_at(dirfd, CLUSTER_LOCK_NAME, &seen);
                if (r == -ENOENT && ++fast < FAST_RETRIES)
                        continue; /* released in between: try again at once */
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r == 0 && lock_is_stale(&seen, time(NULL), ttl_sec)) {
                        r = take_over(dirfd, serial, &seen);
                        if (r < 0 && r != -EAGAIN)
                                return r;
                        if (++fast < FAST_RETRIES)
                                continue;
                }
                if (r == 0 && holder)
                        *holder = seen.h;

                int64_t left = deadline - mono_ns();
                if (left <= 0)
                        return -EBUSY;
                struct timespec ts = {0, left < POLL_INTERVAL_NSEC ? left : POLL_INTERVAL_NSEC};
                nanosleep(&ts, NULL);
                fast = 0;
        }
}

int cluster_lock_release(struct cluster_lock *l)
{
        _cleanup_close_ int dirfd = -1;
        _cleanup_free_ char *dir = NULL;
        struct lock_seen seen;
        char *slash;
        int r;

        if (!l || !l->held)
                return -EINVAL;
        l->held = false;
        slash = strrchr(l->path, '/');
        if (!slash)
                return -EINVAL;
        dir = slash == l->path ? strdup("/") : strndup(l->path, (size_t)(slash - l->path));
        if (!dir)
                return -ENOMEM;
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        r = read_lock_at(dirfd, CLUSTER_LOCK_NAME, &seen);
        if (r == -ENOENT)
                return -ESTALE;
        if (r < 0)
                return r;
        if (!seen.parsed || !same_holder(&seen.h, &l->me))
                return -ESTALE; /* taken over after our expiry: not ours to remove */
        if (seen.h.expires >= time(NULL)) {
                /* Unexpired: nobody else may touch it, so a plain unlink cannot hit theirs. */
                if (unlinkat(dirfd, CLUSTER_LOCK_NAME, 0) < 0)
                        return -errno;
                return fsync_dir(dirfd);
        }
        /* Expired: someone may be taking it over right now; remove it the way they would. */
        r = take_over(dirfd, l->me.serial, &seen);
        return r == -EAGAIN ? -ESTALE : r;
}

int cluster_lock_read(const char *dir, struct cluster_lock_holder *holder)
{
        _cleanup_close_ int dirfd = -1;
        struct lock_seen seen;
        int r;

        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        r = read_lock_at(dirfd, CLUSTER_LOCK_NAME, &seen);
        if (r < 0)
                return r;
        if (!seen.parsed)
                return -EBADMSG;
        if (holder)
                *holder = seen.h;
        return 0;
}
