/* Backup of the shared firmware set at the TFTP root, its manifests, and the start/fixup pair
 * check. Putting a set back is a transaction of its own (firmware_txn.c): every Pi boots
 * bootcode.bin from there, and a restore cut short must be finished or undone, never left
 * half done. */
#include "firmware_set.h"
#include "cluster_lock.h"
#include "fileio.h"
#include "firmware_txn.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#define BACKUP_TOP   ".netroot-backup"
#define MANIFEST     "SHA256SUMS"
#define MANIFEST_MAX (64 * 1024)
#define COPY_CHUNK   (64 * 1024)
/* A backup being written; renamed to its final name once complete. */
#define PARTIAL_PREFIX ".partial-"

_printf_(4, 5) static int fail(char *err, size_t err_size, int r, const char *fmt, ...)
{
        if (err && err_size > 0) {
                va_list ap;

                va_start(ap, fmt);
                vsnprintf(err, err_size, fmt, ap);
                va_end(ap);
        }
        return r;
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && streq(s + n - m, suffix);
}

bool firmware_set_name_valid(const char *name)
{
        if (strlen(name) >= sizeof(((struct firmware_file *)0)->name) || strchr(name, '/'))
                return false;
        return streq(name, "bootcode.bin") ||
               (strncmp(name, "start", 5) == 0 && has_suffix(name, ".elf")) ||
               (strncmp(name, "fixup", 5) == 0 && has_suffix(name, ".dat"));
}

static bool serial_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 32)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
                      (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_'))
                        return false;
        return true;
}

static int open_dir(const char *path)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

int firmware_set_open_at(int dirfd, const char *name, struct stat *st)
{
        _cleanup_close_ int fd = -1;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, st) < 0)
                return -errno;
        if (!S_ISREG(st->st_mode))
                return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
        return TAKE_FD(fd);
}

int firmware_set_copy_hash(int src, int dst, char hex[SHA256_HEX_SIZE], unsigned long long *size)
{
        _cleanup_free_ uint8_t *buf = NULL;
        struct sha256_ctx c;
        uint8_t digest[SHA256_DIGEST_SIZE];
        unsigned long long total = 0;

        buf = malloc(COPY_CHUNK);
        if (!buf)
                return -ENOMEM;
        sha256_init(&c);
        for (;;) {
                ssize_t n = read(src, buf, COPY_CHUNK);
                int r;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                sha256_update(&c, buf, (size_t)n);
                r = fd_write_all(dst, buf, (size_t)n);
                if (r < 0)
                        return r;
                total += (unsigned long long)n;
        }
        sha256_final(&c, digest);
        sha256_hex(digest, hex);
        if (size)
                *size = total;
        return 0;
}

static int cmp_file(const void *a, const void *b)
{
        return strcmp(((const struct firmware_file *)a)->name,
                      ((const struct firmware_file *)b)->name);
}

static int scan_at(int dirfd, const char *shared_dir, struct firmware_set *set, char *err,
                   size_t err_size)
{
        DIR *d;
        struct dirent *de;
        int dfd, r = 0;

        memset(set, 0, sizeof(*set));
        /* readdir on a duplicate: DIRFD stays usable for the caller */
        dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return fail(err, err_size, -errno, "%s: %m", shared_dir);
        d = fdopendir(dfd);
        if (!d) {
                r = -errno;
                close(dfd);
                return fail(err, err_size, r, "%s: %s", shared_dir, strerror(-r));
        }
        while ((errno = 0, de = readdir(d))) {
                struct firmware_file *f;
                struct stat st;
                _cleanup_close_ int fd = -1;

                if (!firmware_set_name_valid(de->d_name))
                        continue;
                if (set->n >= FIRMWARE_SET_MAX) {
                        r = fail(err, err_size, -E2BIG, "%s: more than %d firmware files",
                                 shared_dir, FIRMWARE_SET_MAX);
                        goto out;
                }
                fd = firmware_set_open_at(dirfd, de->d_name, &st);
                if (fd == -ELOOP) {
                        r = fail(err, err_size, fd, "%s/%s is a symlink: refusing it", shared_dir,
                                 de->d_name);
                        goto out;
                }
                if (fd == -ENOENT)
                        continue; /* removed while listing */
                if (fd < 0) {
                        r = fail(err, err_size, fd, "%s/%s: %s", shared_dir, de->d_name,
                                 fd == -EINVAL || fd == -EISDIR ? "not a regular file"
                                                                : strerror(-fd));
                        goto out;
                }
                f = &set->files[set->n];
                strcpy(f->name, de->d_name);
                f->size = (unsigned long long)st.st_size;
                r = sha256_fd(fd, f->sha256);
                if (r < 0) {
                        r = fail(err, err_size, r, "%s/%s: %s", shared_dir, f->name, strerror(-r));
                        goto out;
                }
                set->n++;
        }
        if (errno) {
                r = fail(err, err_size, -errno, "%s: %m", shared_dir);
                goto out;
        }
        qsort(set->files, set->n, sizeof(set->files[0]), cmp_file);
out:
        closedir(d);
        if (r < 0)
                set->n = 0;
        return r;
}

int firmware_set_scan_err(const char *shared_dir, struct firmware_set *set, char *err,
                          size_t err_size)
{
        _cleanup_close_ int dirfd = -1;

        if (err && err_size)
                err[0] = '\0';

        dirfd = open_dir(shared_dir);
        if (dirfd < 0)
                return fail(err, err_size, dirfd, "%s: %s", shared_dir, strerror(-dirfd));
        return scan_at(dirfd, shared_dir, set, err, err_size);
}

int firmware_set_scan(const char *shared_dir, struct firmware_set *set)
{
        return firmware_set_scan_err(shared_dir, set, NULL, 0);
}

/* Picks the name for this backup, <UTC stamp>-<serial> (then -2, -3 … if taken), and creates
 * the folder it is written in, PARTIAL_PREFIX + name. Only a complete backup gets its name: one
 * cut short (a holder killed mid-copy) stays recognisable as partial. */
static int make_backup_folder(int topfd, const char *serial, char *name, size_t size, char *partial,
                              size_t partial_size)
{
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        struct stat st;

        if (!gmtime_r(&now, &tm))
                return -EINVAL;
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        for (unsigned i = 1; i < 1000; i++) {
                if (i == 1)
                        snprintf(name, size, "%s-%s", stamp, serial);
                else
                        snprintf(name, size, "%s-%s-%u", stamp, serial, i);
                if (fstatat(topfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                snprintf(partial, partial_size, "%s%s", PARTIAL_PREFIX, name);
                if (mkdirat(topfd, partial, 0755) == 0)
                        return 0;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

/* Removes the partial backups a holder that died mid-copy left behind. Called under the cluster
 * lock, so no live backup is in the way; only plain files inside are removed (never through a
 * symlink), anything else stays for a human. */
static void remove_partial_backups(int topfd)
{
        _cleanup_close_ int dfd = openat(topfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;

        if (dfd < 0 || !(d = fdopendir(dfd)))
                return;
        TAKE_FD(dfd);
        while ((de = readdir(d))) {
                _cleanup_close_ int fd = -1;
                struct dirent *fe;
                DIR *fd_dir;

                if (strncmp(de->d_name, PARTIAL_PREFIX, strlen(PARTIAL_PREFIX)) != 0)
                        continue;
                fd = openat(topfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || !(fd_dir = fdopendir(fd)))
                        continue;
                TAKE_FD(fd);
                while ((fe = readdir(fd_dir)))
                        if (!streq(fe->d_name, ".") && !streq(fe->d_name, ".."))
                                unlinkat(dirfd(fd_dir), fe->d_name, 0);
                closedir(fd_dir);
                unlinkat(topfd, de->d_name, AT_REMOVEDIR);
        }
        closedir(d);
}

void firmware_set_remove_partial_at(int shared_dirfd)
{
        _cleanup_close_ int topfd =
            openat(shared_dirfd, BACKUP_TOP, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (topfd >= 0)
                remove_partial_backups(topfd);
}

static void remove_folder(int topfd, const char *name, const struct firmware_set *set)
{
        _cleanup_close_ int fd =
            openat(topfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd >= 0) {
                for (unsigned i = 0; i < set->n; i++)
                        unlinkat(fd, set->files[i].name, 0);
                unlinkat(fd, MANIFEST, 0);
        }
        unlinkat(topfd, name, AT_REMOVEDIR);
}

/* RENAME_NOREPLACE for a folder. NFS and 9p (the TFTP root is NFS-mounted on a Pi) refuse the
 * flag with EINVAL; there a plain rename after a check is what is left: the name carries a
 * stamp and this Pi's serial, and a Pi's upgrades are serialised by the cluster lock. */
static int rename_noreplace_dir(int topfd, const char *from, const char *to)
{
        struct stat st;

        if (renameat2(topfd, from, topfd, to, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -1;
        if (fstatat(topfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                errno = EEXIST;
                return -1;
        }
        if (errno != ENOENT)
                return -1;
        return renameat(topfd, from, topfd, to);
}

static int backup_files(int dirfd, int bfd, const char *shared_dir, const struct firmware_set *set,
                        char *err, size_t err_size)
{
        _cleanup_free_ char *manifest = NULL;
        size_t mlen = 0;
        int r;

        manifest = malloc((size_t)set->n * (SHA256_HEX_SIZE + 2 + 64 + 1) + 1);
        if (!manifest)
                return -ENOMEM;
        manifest[0] = '\0';
        for (unsigned i = 0; i < set->n; i++) {
                const struct firmware_file *f = &set->files[i];
                _cleanup_close_ int src = -1, dst = -1;
                char hex[SHA256_HEX_SIZE];
                struct stat st;

                src = firmware_set_open_at(dirfd, f->name, &st);
                if (src < 0)
                        return fail(err, err_size, src, "%s/%s: %s", shared_dir, f->name,
                                    src == -ELOOP ? "is a symlink" : strerror(-src));
                dst = openat(bfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             st.st_mode & 0777);
                if (dst < 0)
                        return fail(err, err_size, -errno, "backup of %s: %m", f->name);
                r = firmware_set_copy_hash(src, dst, hex, NULL);
                if (r >= 0 && fsync(dst) < 0)
                        r = -errno;
                if (r >= 0 && close(TAKE_FD(dst)) < 0)
                        r = -errno;
                if (r < 0)
                        return fail(err, err_size, r, "backup of %s: %s", f->name, strerror(-r));
                /* Changed between scan and copy (someone is writing it): the copy may be a
                 * mix of both versions. */
                if (!streq(hex, f->sha256))
                        return fail(err, err_size, -EAGAIN, "%s/%s changed while being backed up",
                                    shared_dir, f->name);
                mlen += (size_t)sprintf(manifest + mlen, "%s  %s\n", f->sha256, f->name);
        }
        {
                _cleanup_close_ int mfd = -1;

                mfd = openat(bfd, MANIFEST, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             0644);
                if (mfd < 0)
                        return fail(err, err_size, -errno, "backup manifest: %m");
                r = fd_write_all(mfd, manifest, mlen);
                if (r >= 0 && fsync(mfd) < 0)
                        r = -errno;
                if (r >= 0 && close(TAKE_FD(mfd)) < 0)
                        r = -errno;
                if (r < 0)
                        return fail(err, err_size, r, "backup manifest: %s", strerror(-r));
        }
        r = fsync_dir(bfd);
        if (r < 0)
                return fail(err, err_size, r, "backup folder: %s", strerror(-r));
        return 0;
}

int firmware_set_backup_locked(const char *shared_dir, const char *serial,
                               struct cluster_lock *lock, char *backup_dir, size_t backup_dir_size,
                               struct firmware_set *set, char *err, size_t err_size)
{
        _cleanup_close_ int dirfd = -1, topfd = -1, bfd = -1;
        struct firmware_set local;
        char name[NAME_MAX + 1], partial[NAME_MAX + 1];
        bool renamed = false;
        int r, n;

        if (err && err_size)
                err[0] = '\0';

        if (!set)
                set = &local;
        if (!shared_dir || !serial || !serial_valid(serial))
                return fail(err, err_size, -EINVAL, "invalid serial");
        /* "<shared_dir>/.netroot-backup/<16-char stamp>-<serial>-NNN" */
        if (!backup_dir ||
            strlen(shared_dir) + strlen(BACKUP_TOP) + strlen(serial) + 26 >= backup_dir_size)
                return fail(err, err_size, -ENAMETOOLONG, "backup path buffer too small");
        dirfd = open_dir(shared_dir);
        if (dirfd < 0)
                return fail(err, err_size, dirfd, "%s: %s", shared_dir, strerror(-dirfd));
        /* A set half switched by a holder that died would be backed up as a mix: that
         * transaction is finished (or undone) first. */
        r = firmware_txn_recover(shared_dir, lock, err, err_size);
        if (r < 0)
                return r;
        r = scan_at(dirfd, shared_dir, set, err, err_size);
        if (r < 0)
                return r;
        if (set->n == 0)
                return fail(err, err_size, -ENOENT, "%s: no firmware files to back up", shared_dir);

        if (mkdirat(dirfd, BACKUP_TOP, 0755) < 0 && errno != EEXIST)
                return fail(err, err_size, -errno, "%s/%s: %m", shared_dir, BACKUP_TOP);
        topfd = openat(dirfd, BACKUP_TOP, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (topfd < 0)
                return fail(err, err_size, errno == ENOTDIR ? -ELOOP : -errno,
                            "%s/%s: not a folder (a symlink?)", shared_dir, BACKUP_TOP);
        remove_partial_backups(topfd);
        r = make_backup_folder(topfd, serial, name, sizeof(name), partial, sizeof(partial));
        if (r < 0)
                return fail(err, err_size, r, "%s/%s: cannot create a backup folder: %s",
                            shared_dir, BACKUP_TOP, strerror(-r));
        bfd = openat(topfd, partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0)
                r = -errno;
        else
                r = backup_files(dirfd, bfd, shared_dir, set, err, err_size);
        /* The backup becomes visible under its name only while we still hold the lock. */
        if (r >= 0 && lock && cluster_lock_check(lock) < 0)
                r = fail(err, err_size, -ESTALE,
                         "%s/%s: lost the cluster lock %s while backing up (taken over after its "
                         "TTL); the backup was discarded",
                         shared_dir, BACKUP_TOP, CLUSTER_LOCK_NAME);
        if (r >= 0) {
                if (rename_noreplace_dir(topfd, partial, name) < 0)
                        r = fail(err, err_size, -errno, "%s/%s/%s: %m", shared_dir, BACKUP_TOP,
                                 name);
                else
                        renamed = true;
        }
        if (r >= 0)
                r = fsync_dir(topfd);
        if (r >= 0)
                r = fsync_dir(dirfd);
        if (r < 0) {
                remove_folder(topfd, renamed ? name : partial, set);
                if (err && !err[0])
                        fail(err, err_size, r, "backup: %s", strerror(-r));
                return r;
        }
        n = snprintf(backup_dir, backup_dir_size, "%s/%s/%s", shared_dir, BACKUP_TOP, name);
        if (n < 0 || (size_t)n >= backup_dir_size)
                return fail(err, err_size, -ENAMETOOLONG, "backup path buffer too small");
        return 0;
}

int firmware_set_backup_err(const char *shared_dir, const char *serial, char *backup_dir,
                            size_t backup_dir_size, struct firmware_set *set, char *err,
                            size_t err_size)
{
        return firmware_set_backup_locked(shared_dir, serial, NULL, backup_dir, backup_dir_size,
                                          set, err, err_size);
}

int firmware_set_backup(const char *shared_dir, const char *serial, char *backup_dir,
                        size_t backup_dir_size, struct firmware_set *set)
{
        return firmware_set_backup_err(shared_dir, serial, backup_dir, backup_dir_size, set, NULL,
                                       0);
}

static bool is_hex64(const char *s)
{
        for (int i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* Reads BFD's SHA256SUMS (sha256sum's format: 64 lower-case hex, two spaces or " *", name). */
static int read_manifest(int bfd, const char *backup_dir, struct firmware_set *set, char *err,
                         size_t err_size)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t used = 0;
        unsigned lineno = 0;

        memset(set, 0, sizeof(*set));
        fd = firmware_set_open_at(bfd, MANIFEST, &st);
        if (fd < 0)
                return fail(err, err_size, fd, "%s/%s: %s", backup_dir, MANIFEST,
                            fd == -ELOOP ? "is a symlink" : strerror(-fd));
        if (st.st_size > MANIFEST_MAX)
                return fail(err, err_size, -EFBIG, "%s/%s: too large", backup_dir, MANIFEST);
        buf = malloc(MANIFEST_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + used, MANIFEST_MAX - used);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(err, err_size, -errno, "%s/%s: %m", backup_dir, MANIFEST);
                }
                if (n == 0)
                        break;
                used += (size_t)n;
                if (used == MANIFEST_MAX)
                        return fail(err, err_size, -EFBIG, "%s/%s: too large", backup_dir,
                                    MANIFEST);
        }
        buf[used] = '\0';
        if (strlen(buf) != used)
                return fail(err, err_size, -EBADMSG, "%s/%s: contains a NUL byte", backup_dir,
                            MANIFEST);
        /* strtok_r would skip empty lines and so miscount: split by hand */
        for (char *line = buf, *next; *line; line = next) {
                struct firmware_file *f;
                const char *name;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                else
                        next = line + strlen(line);
                lineno++;
                if (!*line)
                        continue;
                if (strlen(line) < 67 || !is_hex64(line) || line[64] != ' ' ||
                    (line[65] != ' ' && line[65] != '*'))
                        return fail(err, err_size, -EBADMSG, "%s/%s:%u: not a sha256sum line",
                                    backup_dir, MANIFEST, lineno);
                name = line + 66;
                if (!firmware_set_name_valid(name))
                        return fail(err, err_size, -EBADMSG,
                                    "%s/%s:%u: '%s' is not a firmware file name", backup_dir,
                                    MANIFEST, lineno, name);
                for (unsigned i = 0; i < set->n; i++)
                        if (streq(set->files[i].name, name))
                                return fail(err, err_size, -EBADMSG, "%s/%s:%u: %s listed twice",
                                            backup_dir, MANIFEST, lineno, name);
                if (set->n >= FIRMWARE_SET_MAX)
                        return fail(err, err_size, -E2BIG, "%s/%s:%u: more than %d files",
                                    backup_dir, MANIFEST, lineno, FIRMWARE_SET_MAX);
                f = &set->files[set->n++];
                memcpy(f->sha256, line, 64);
                f->sha256[64] = '\0';
                strcpy(f->name, name);
        }
        if (set->n == 0)
                return fail(err, err_size, -EBADMSG, "%s/%s: lists no files", backup_dir, MANIFEST);
        return 0;
}

int firmware_set_read_manifest(const char *backup_dir, struct firmware_set *set, char *err,
                               size_t err_size)
{
        _cleanup_close_ int bfd = -1;

        if (err && err_size)
                err[0] = '\0';
        bfd = open_dir(backup_dir);
        if (bfd < 0)
                return fail(err, err_size, bfd, "%s: %s", backup_dir, strerror(-bfd));
        return read_manifest(bfd, backup_dir, set, err, err_size);
}

int firmware_set_restore_err(const char *shared_dir, const char *backup_dir, char *err,
                             size_t err_size)
{
        int r = firmware_txn_restore(shared_dir, backup_dir, "restore", NULL, err, err_size);

        return r < 0 ? r : 0;
}

int firmware_set_restore(const char *shared_dir, const char *backup_dir)
{
        return firmware_set_restore_err(shared_dir, backup_dir, NULL, 0);
}

int firmware_set_matches_err(const char *shared_dir, const char *backup_dir, char *err,
                             size_t err_size)
{
        _cleanup_close_ int bfd = -1;
        struct firmware_set m, live;
        int r;

        if (err && err_size)
                err[0] = '\0';

        bfd = open_dir(backup_dir);
        if (bfd < 0)
                return fail(err, err_size, bfd, "%s: %s", backup_dir, strerror(-bfd));
        r = read_manifest(bfd, backup_dir, &m, err, err_size);
        if (r < 0)
                return r;
        r = firmware_set_scan_err(shared_dir, &live, err, err_size);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < m.n; i++) {
                const struct firmware_file *f = NULL;

                for (unsigned j = 0; j < live.n && !f; j++)
                        if (streq(live.files[j].name, m.files[i].name))
                                f = &live.files[j];
                if (!f)
                        return fail(err, err_size, 0, "%s/%s is missing", shared_dir,
                                    m.files[i].name);
                if (!streq(f->sha256, m.files[i].sha256))
                        return fail(err, err_size, 0, "%s/%s differs from the backup", shared_dir,
                                    f->name);
        }
        if (live.n != m.n) {
                for (unsigned j = 0; j < live.n; j++) {
                        bool listed = false;

                        for (unsigned i = 0; i < m.n && !listed; i++)
                                listed = streq(live.files[j].name, m.files[i].name);
                        if (!listed)
                                return fail(err, err_size, 0, "%s/%s is not in the backup",
                                            shared_dir, live.files[j].name);
                }
        }
        if (err && err_size)
                err[0] = '\0';
        return 1;
}

int firmware_set_matches(const char *shared_dir, const char *backup_dir)
{
        return firmware_set_matches_err(shared_dir, backup_dir, NULL, 0);
}

int firmware_set_pair_name(const char *name, char *other, size_t size)
{
        size_t n = strlen(name);

        /* start<X>.elf <-> fixup<X>.dat: start.elf/fixup.dat, start_x/fixup_x, start4cd/fixup4cd…
         */
        if (n >= 9 && strncmp(name, "start", 5) == 0 && has_suffix(name, ".elf")) {
                snprintf(other, size, "fixup%.*s.dat", (int)(n - 9), name + 5);
                return 1;
        }
        if (n >= 9 && strncmp(name, "fixup", 5) == 0 && has_suffix(name, ".dat")) {
                snprintf(other, size, "start%.*s.elf", (int)(n - 9), name + 5);
                return 2;
        }
        return 0;
}

/* The set files a manifest lists: backups' SHA256SUMS and the generation store's (which also
 * lists config.txt and the like: only firmware names are kept, and a malformed line is no
 * evidence rather than an error). */
static void evidence_read(const char *path, struct firmware_set *m)
{
        _cleanup_free_ char *buf = NULL;

        memset(m, 0, sizeof(*m));
        if (file_read_regular(path, 256 * 1024, &buf, NULL) < 0)
                return;
        for (char *line = buf, *next; *line; line = next) {
                const char *name;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                else
                        next = line + strlen(line);
                if (strlen(line) < 67 || !is_hex64(line) || line[64] != ' ' ||
                    (line[65] != ' ' && line[65] != '*'))
                        continue;
                name = line + 66;
                if (!firmware_set_name_valid(name) || m->n >= FIRMWARE_SET_MAX)
                        continue;
                memcpy(m->files[m->n].sha256, line, 64);
                m->files[m->n].sha256[64] = '\0';
                strcpy(m->files[m->n].name, name);
                m->n++;
        }
}

static const struct firmware_file *set_find(const struct firmware_set *set, const char *name)
{
        for (unsigned i = 0; i < set->n; i++)
                if (streq(set->files[i].name, name))
                        return &set->files[i];
        return NULL;
}

static bool is_serial_folder_name(const char *s)
{
        if (strlen(s) != 8)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

/* What the manifests say about one start*.elf of a folder. Only a manifest that knows this very
 * start*.elf (same hash) can say which fixup*.dat belongs to it; a fixup*.dat alone proves
 * nothing, as releases often ship an unchanged one. */
struct pair_evidence {
        bool paired;  /* some manifest lists this very start and fixup together */
        bool against; /* some manifest lists this start with another fixup */
        char where[4096];
        char other[SHA256_HEX_SIZE];
};

/* Reads TOP/<entry>/SHA256SUMS for every entry starting with PREFIX. */
static void evidence_scan(const char *top, const char *prefix, const struct firmware_file *start,
                          const struct firmware_file *fixup, struct pair_evidence *ev)
{
        DIR *d = opendir(top);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                struct firmware_set m;
                const struct firmware_file *s, *f;

                if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
                    has_suffix(de->d_name, ".tmp"))
                        continue;
                if (asprintf(&path, "%s/%s/%s", top, de->d_name, MANIFEST) < 0)
                        break;
                evidence_read(path, &m);
                s = set_find(&m, start->name);
                f = set_find(&m, fixup->name);
                if (!s || !streq(s->sha256, start->sha256) || !f)
                        continue;
                if (streq(f->sha256, fixup->sha256)) {
                        ev->paired = true;
                } else if (!ev->against) {
                        ev->against = true;
                        snprintf(ev->where, sizeof(ev->where), "%s/%s", top, de->d_name);
                        snprintf(ev->other, sizeof(ev->other), "%s", f->sha256);
                }
        }
        closedir(d);
}

int firmware_set_pairs_check(const char *dir, char *why, size_t size)
{
        _cleanup_free_ char *backups = NULL, *gens = NULL, *parent_backups = NULL;
        const char *base = strrchr(dir, '/');
        struct firmware_set set;
        int r;

        if (why && size)
                why[0] = '\0';
        r = firmware_set_scan_err(dir, &set, why, size);
        if (r < 0)
                return r;
        if (asprintf(&backups, "%s/%s", dir, BACKUP_TOP) < 0 ||
            asprintf(&gens, "%s/.netroot", dir) < 0)
                return -ENOMEM;
        base = base ? base + 1 : dir;
        /* A Pi's folder inside the TFTP root: the root's backups are evidence too. */
        if (is_serial_folder_name(base) &&
            asprintf(&parent_backups, "%s/../%s", dir, BACKUP_TOP) < 0)
                return -ENOMEM;
        for (unsigned i = 0; i < set.n; i++) {
                const struct firmware_file *start = &set.files[i], *fixup;
                struct pair_evidence ev = {0};
                char fname[64];

                if (firmware_set_pair_name(start->name, fname, sizeof(fname)) != 1)
                        continue;
                fixup = set_find(&set, fname);
                if (!fixup)
                        return fail(why, size, 0,
                                    "%s/%s has no %s beside it (the firmware refuses a start*.elf "
                                    "without its fixup*.dat)",
                                    dir, start->name, fname);
                evidence_scan(backups, "", start, fixup, &ev);
                evidence_scan(gens, "gen-", start, fixup, &ev);
                if (parent_backups)
                        evidence_scan(parent_backups, "", start, fixup, &ev);
                if (ev.against && !ev.paired)
                        return fail(why, size, 0,
                                    "%s/%s and %s are not one set: %s pairs this %s (sha256 "
                                    "%.12s) with a %s of sha256 %.12s, here it is %.12s",
                                    dir, start->name, fixup->name, ev.where, start->name,
                                    start->sha256, fixup->name, ev.other, fixup->sha256);
        }
        return 1;
}
