/* The cluster-wide firmware lock; cluster_lock.h describes the protocol. shared_dir is
 * NFS-mounted with nolock, so neither flock() nor fcntl() locks reach other Pis. What the NFS
 * server does give is an atomic exclusive create, link and rename, and one clock: the mtimes it
 * stamps. Every age here is a difference of two such mtimes, never a Pi's wall clock (a Pi has
 * no RTC and may run on fake-hwclock for a while after boot). */
#include "cluster_lock.h"
#include "fileio.h"
#include "util.h"

#include <dirent.h>
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
/* A takeover lasts milliseconds: a takeover file this old was left by a contender that died in
 * the middle of one. */
#define TAKEOVER_TTL 30

struct lock_seen {
        struct cluster_lock_holder h;
        bool parsed;
        dev_t dev;
        ino_t ino;
        struct timespec mtime;
};

/* The NAS's clock, read once by touching shared_dir and carried forward with our monotonic
 * clock (which a jump of the Pi's wall clock does not move). */
struct nas_clock {
        bool known;
        int64_t base_ns;
        int64_t mono_base;
};

static int64_t mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
 * -ENOENT when there is none, -ELOOP for a symlink, -EINVAL for something not a regular file.
 * FALLBACK_TTL is the TTL of a file that does not say (torn, or not ours). */
static int read_lock_at(int dirfd, const char *name, unsigned fallback_ttl, struct lock_seen *seen)
{
        _cleanup_close_ int fd = -1;
        char buf[LOCK_FILE_MAX + 1];
        size_t used = 0;
        struct stat st;
        long long ttl;

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
        seen->mtime = st.st_mtim;
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
        /* The holder wrote acquired and expires from one reading of its clock: their difference
         * is its TTL whatever that clock said. */
        ttl = seen->parsed ? (long long)seen->h.expires - (long long)seen->h.acquired : 0;
        if (ttl <= 0)
                ttl = fallback_ttl;
        if (ttl > CLUSTER_LOCK_TTL_MAX)
                ttl = CLUSTER_LOCK_TTL_MAX;
        seen->h.ttl = (unsigned)ttl;
        seen->h.refreshed = st.st_mtim.tv_sec;
        seen->h.stale_at = st.st_mtim.tv_sec + (time_t)ttl;
        return 0;
}

/* Touching shared_dir makes the server stamp it with its own time (NFS: SET_TO_SERVER_TIME). */
static int nas_clock_read(int dirfd, struct nas_clock *c)
{
        struct stat st;

        if (futimens(dirfd, NULL) < 0 || fstat(dirfd, &st) < 0)
                return -errno;
        c->base_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        c->mono_base = mono_ns();
        c->known = true;
        return 0;
}

static time_t nas_now(const struct nas_clock *c)
{
        return (time_t)((c->base_ns + mono_ns() - c->mono_base) / 1000000000);
}

/* Whole seconds, and strictly older: a holder gets at least its full TTL. */
static bool lock_is_stale(const struct lock_seen *s, time_t nas)
{
        return nas > s->h.stale_at;
}

static bool same_holder(const struct cluster_lock_holder *a, const struct cluster_lock_holder *b)
{
        return streq(a->serial, b->serial) && streq(a->host, b->host) && a->pid == b->pid &&
               a->acquired == b->acquired;
}

static bool same_file(const struct lock_seen *a, const struct lock_seen *b)
{
        /* The inode alone is not enough: a file system may hand a freed inode number straight
         * to the next new file, which is exactly what a fresh lock after a takeover is. A
         * heartbeat changes the mtime: a lock refreshed since it was judged is not the same. */
        if (a->dev != b->dev || a->ino != b->ino || a->parsed != b->parsed ||
            a->mtime.tv_sec != b->mtime.tv_sec || a->mtime.tv_nsec != b->mtime.tv_nsec)
                return false;
        return !a->parsed || (same_holder(&a->h, &b->h) && a->h.expires == b->h.expires);
}

static void unique_name(char *buf, size_t size, const char *what, const char *serial)
{
        uint64_t rnd;

        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                rnd = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid();
        }
        snprintf(buf, size, "%s.%s.%s.%ld.%016" PRIx64, CLUSTER_LOCK_NAME, what, serial,
                 (long)getpid(), rnd);
}

/* One exclusive create of NAME holding ME's lines. Returns 0 with the new file's identity in
 * DEV/INO, -EEXIST when a file is in the way. */
static int create_named(int dirfd, const char *name, struct cluster_lock_holder *me,
                        unsigned ttl_sec, dev_t *dev, ino_t *ino)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        char text[256];
        int len, r;

        me->acquired = time(NULL);
        me->expires = me->acquired + (time_t)ttl_sec;
        me->ttl = ttl_sec;
        fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                    0644);
        if (fd < 0)
                return -errno;
        len =
            snprintf(text, sizeof(text),
                     "serial=%s\nhost=%s\npid=%ld\nacquired=%" PRIdMAX "\nexpires=%" PRIdMAX "\n",
                     me->serial, me->host, me->pid, (intmax_t)me->acquired, (intmax_t)me->expires);
        r = fd_write_all(fd, text, (size_t)len);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, name, 0);
                return r;
        }
        *dev = st.st_dev;
        *ino = st.st_ino;
        return fsync_dir(dirfd);
}

static bool is_at_name(int dirfd, const char *name, dev_t dev, ino_t ino)
{
        struct stat st;

        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev &&
               st.st_ino == ino;
}

/* Moves NAME, judged to be the file JUDGED, out of the way: renamed aside first, then checked
 * to be the file judged (between judging and renaming it may have been replaced), and a wrong
 * one is put back under its name without replacing anything, same inode, so its holder still
 * finds it its own. Returns 0 when JUDGED is gone, -EAGAIN when the file was another. */
static int remove_judged(int dirfd, const char *name, const char *serial,
                         const struct lock_seen *judged)
{
        char aside[NAME_MAX + 1];
        struct lock_seen moved;
        int r;

        unique_name(aside, sizeof(aside), "stale", serial);
        if (renameat(dirfd, name, dirfd, aside) < 0)
                return errno == ENOENT ? -EAGAIN : -errno;
        r = read_lock_at(dirfd, aside, judged->h.ttl, &moved);
        if (r == 0 && same_file(&moved, judged)) {
                if (unlinkat(dirfd, aside, 0) < 0 && errno != ENOENT)
                        return -errno;
                return fsync_dir(dirfd);
        }
        /* link() and RENAME_NOREPLACE never replace a file. Should the name have been taken in
         * between anyway, the file moved aside has lost its holder the lock, and that holder's
         * next cluster_lock_check() finds another inode at the name and fails. */
        if (linkat(dirfd, aside, dirfd, name, 0) < 0 && errno != EEXIST &&
            renameat2(dirfd, aside, dirfd, name, RENAME_NOREPLACE) < 0 && errno != EEXIST &&
            fstatat(dirfd, name, &(struct stat){0}, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                (void)renameat(dirfd, aside, dirfd, name); /* NFS: neither primitive exists */
        unlinkat(dirfd, aside, 0);
        fsync_dir(dirfd);
        return r < 0 && r != -ENOENT ? r : -EAGAIN;
}

/* Takes the takeover file: only its holder may remove a stale lock. Returns 0 when taken
 * (its identity in DEV/INO), -EAGAIN while another contender holds it. */
static int takeover_begin(int dirfd, const struct cluster_lock *l, const struct nas_clock *clk,
                          dev_t *dev, ino_t *ino)
{
        struct cluster_lock_holder me = l->me;

        for (int tries = 0; tries < 2; tries++) {
                struct lock_seen seen;
                int r;

                r = create_named(dirfd, CLUSTER_LOCK_TAKEOVER_NAME, &me, TAKEOVER_TTL, dev, ino);
                if (r != -EEXIST)
                        return r;
                r = read_lock_at(dirfd, CLUSTER_LOCK_TAKEOVER_NAME, TAKEOVER_TTL, &seen);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                if (!lock_is_stale(&seen, nas_now(clk)))
                        return -EAGAIN;
                r = remove_judged(dirfd, CLUSTER_LOCK_TAKEOVER_NAME, l->me.serial, &seen);
                if (r < 0 && r != -EAGAIN)
                        return r;
        }
        return -EAGAIN;
}

static void takeover_end(int dirfd, dev_t dev, ino_t ino)
{
        /* Only our own: had we been so slow that ours was judged stale, it is another's now. */
        if (is_at_name(dirfd, CLUSTER_LOCK_TAKEOVER_NAME, dev, ino)) {
                unlinkat(dirfd, CLUSTER_LOCK_TAKEOVER_NAME, 0);
                fsync_dir(dirfd);
        }
}

/* Removes the lock JUDGED stale, holding the takeover file, and only if the file at the lock
 * path is still the very one judged: a contender that judged the same file and comes second
 * finds it gone or replaced by the winner's fresh lock, which it leaves alone. Returns 0 when
 * the lock path is free (for anyone to create), -EAGAIN when not. */
static int take_over(int dirfd, const struct cluster_lock *l, const struct lock_seen *judged,
                     const struct nas_clock *clk)
{
        struct lock_seen now;
        dev_t dev;
        ino_t ino;
        int r;

        r = takeover_begin(dirfd, l, clk, &dev, &ino);
        if (r < 0)
                return r;
        r = read_lock_at(dirfd, CLUSTER_LOCK_NAME, judged->h.ttl, &now);
        if (r == -ENOENT)
                r = 0;
        else if (r == 0)
                r = same_file(&now, judged)
                        ? remove_judged(dirfd, CLUSTER_LOCK_NAME, l->me.serial, judged)
                        : -EAGAIN;
        takeover_end(dirfd, dev, ino);
        return r;
}

/* Files renamed aside by a takeover or a release whose process died before removing them.
 * Holding the lock, nobody else can be in the middle of one on a live lock: at worst a holder
 * that lost its lock long ago is releasing it, and finds its file gone. */
static void remove_asides(int dirfd)
{
        _cleanup_close_ int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const char *prefix = CLUSTER_LOCK_NAME ".stale.";
        struct dirent *de;
        DIR *d;

        if (dfd < 0 || !(d = fdopendir(dfd)))
                return;
        TAKE_FD(dfd);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        unlinkat(dirfd, de->d_name, 0);
        closedir(d);
}

/* L's path and who we are, as the lock file will say. */
static int lock_init(struct cluster_lock *l, const char *dir, const char *serial)
{
        int n = snprintf(l->path, sizeof(l->path), "%s/%s", dir, CLUSTER_LOCK_NAME);

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
        return 0;
}

/* Creates the lock file. 0: the lock is ours; -EEXIST or -EAGAIN: another's. */
static int try_create(int dirfd, struct cluster_lock *l, unsigned ttl_sec)
{
        int r = create_named(dirfd, CLUSTER_LOCK_NAME, &l->me, ttl_sec, &l->dev, &l->ino);

        if (r < 0)
                return r;
        /* Ours only if what the lock path names now is the file we created. */
        if (!is_at_name(dirfd, CLUSTER_LOCK_NAME, l->dev, l->ino))
                return -EAGAIN;
        l->me.refreshed = time(NULL);
        l->held = true;
        remove_asides(dirfd);
        return 0;
}

/* What a waiter keeps between its looks at the lock. */
struct lock_wait {
        struct nas_clock clk;
        struct lock_seen watched;
        int64_t watched_since;
};

/* SEEN holds the lock: stale ones are taken over. Returns 1 when the lock path may be free now,
 * 0 when SEEN holds it, or a negative errno. */
static int judge_holder(int dirfd, const struct cluster_lock *l, struct lock_wait *w,
                        const struct lock_seen *seen)
{
        bool stale;
        int r;

        if (!w->clk.known) {
                r = nas_clock_read(dirfd, &w->clk);
                if (r < 0)
                        return r;
        }
        /* A file that has not changed at all for its whole TTL (plus the second the mtime
         * comparison rounds away), watched on our own monotonic clock, is stale too, whatever
         * its mtime claims (a NAS whose clock was set back). */
        if (w->watched_since == 0 || !same_file(seen, &w->watched)) {
                w->watched = *seen;
                w->watched_since = mono_ns();
        }
        stale = lock_is_stale(seen, nas_now(&w->clk)) ||
                mono_ns() - w->watched_since > ((int64_t)seen->h.ttl + 1) * 1000000000;
        if (!stale)
                return 0;
        r = take_over(dirfd, l, seen, &w->clk);
        return r < 0 && r != -EAGAIN ? r : 1;
}

int cluster_lock_acquire(struct cluster_lock *l, const char *dir, const char *serial,
                         unsigned ttl_sec, unsigned wait_sec, struct cluster_lock_holder *holder)
{
        _cleanup_close_ int dirfd = -1;
        struct lock_wait w = {0};
        int64_t deadline;
        unsigned fast = 0;
        int r;

        if (!l || !dir || !serial || !serial_valid(serial) || ttl_sec == 0)
                return -EINVAL;
        if (l->held)
                return -EALREADY;
        if (ttl_sec > CLUSTER_LOCK_TTL_MAX)
                ttl_sec = CLUSTER_LOCK_TTL_MAX;
        r = lock_init(l, dir, serial);
        if (r < 0)
                return r;
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        deadline = mono_ns() + (int64_t)wait_sec * 1000000000;
        for (;;) {
                struct lock_seen seen;
                int64_t left;

                r = try_create(dirfd, l, ttl_sec);
                if (r != -EEXIST && r != -EAGAIN)
                        return r;
                r = read_lock_at(dirfd, CLUSTER_LOCK_NAME, ttl_sec, &seen);
                if (r == -ENOENT && ++fast < FAST_RETRIES)
                        continue; /* released in between: try again at once */
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r == 0) {
                        r = judge_holder(dirfd, l, &w, &seen);
                        if (r < 0)
                                return r;
                        if (r > 0 && ++fast < FAST_RETRIES)
                                continue;
                        if (holder)
                                *holder = seen.h;
                }
                left = deadline - mono_ns();
                if (left <= 0)
                        return -EBUSY;
                nanosleep(
                    &(struct timespec){0, left < POLL_INTERVAL_NSEC ? left : POLL_INTERVAL_NSEC},
                    NULL);
                fast = 0;
        }
}

static int open_parent(const struct cluster_lock *l)
{
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(l->path, '/');
        int fd;

        if (!slash)
                return -EINVAL;
        dir = slash == l->path ? strdup("/") : strndup(l->path, (size_t)(slash - l->path));
        if (!dir)
                return -ENOMEM;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int cluster_lock_check(struct cluster_lock *l)
{
        _cleanup_close_ int dirfd = -1, fd = -1;
        char buf[LOCK_FILE_MAX + 1];
        struct cluster_lock_holder h;
        struct stat before, after;
        ssize_t len;

        if (!l || !l->held)
                return -EINVAL;
        dirfd = open_parent(l);
        if (dirfd < 0)
                return dirfd;
        fd = openat(dirfd, CLUSTER_LOCK_NAME,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT || errno == ELOOP ? -ESTALE : -errno;
        if (fstat(fd, &before) < 0)
                return -errno;
        if (before.st_dev != l->dev || before.st_ino != l->ino)
                return -ESTALE;
        len = read(fd, buf, LOCK_FILE_MAX);
        if (len < 0)
                return -errno;
        buf[len] = '\0';
        if (parse_lock(buf, &h) < 0 || !same_holder(&h, &l->me))
                return -ESTALE;
        /* The heartbeat: the server stamps the file with its time, which is also the NAS's
         * "now" to judge how long we went without one. */
        if (futimens(fd, NULL) < 0 || fstat(fd, &after) < 0)
                return -errno;
        l->me.refreshed = after.st_mtim.tv_sec;
        /* Older than the TTL before this heartbeat: someone may be taking it over right now,
         * and what we would write next could overlap their writes. */
        if (after.st_mtim.tv_sec - before.st_mtim.tv_sec > (time_t)l->me.ttl)
                return -ESTALE;
        if (!is_at_name(dirfd, CLUSTER_LOCK_NAME, l->dev, l->ino))
                return -ESTALE;
        return 0;
}

int cluster_lock_release(struct cluster_lock *l)
{
        _cleanup_close_ int dirfd = -1;
        struct lock_seen seen;
        int r;

        if (!l || !l->held)
                return -EINVAL;
        l->held = false;
        dirfd = open_parent(l);
        if (dirfd < 0)
                return dirfd;
        r = read_lock_at(dirfd, CLUSTER_LOCK_NAME, l->me.ttl, &seen);
        if (r == -ENOENT)
                return -ESTALE;
        if (r < 0)
                return r;
        if (seen.dev != l->dev || seen.ino != l->ino || !seen.parsed ||
            !same_holder(&seen.h, &l->me))
                return -ESTALE; /* taken over: not ours to remove */
        /* Removed the way a takeover removes it: should it be taken over between the read and
         * the removal, the file moved aside is then not ours and goes back. */
        r = remove_judged(dirfd, CLUSTER_LOCK_NAME, l->me.serial, &seen);
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
        r = read_lock_at(dirfd, CLUSTER_LOCK_NAME, 0, &seen);
        if (r < 0)
                return r;
        if (!seen.parsed)
                return -EBADMSG;
        if (holder)
                *holder = seen.h;
        return 0;
}
