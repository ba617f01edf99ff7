/* The journaled switch of the shared firmware set; firmware_txn.h describes the protocol. The
 * journal is written only once every new file is staged and verified, so a journal can always
 * be finished from what it names; undoing it from the backup is for the case where a staged
 * file was lost or damaged afterwards (a full disk, a human). */
#include "firmware_txn.h"
#include "cluster_lock.h"
#include "fileio.h"
#include "testhooks.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>

#define JOURNAL_TMP  FIRMWARE_TXN_JOURNAL ".new"
#define JOURNAL_MAX  (16 * 1024)
#define BACKUP_TOP   ".netroot-backup"
#define NO_FILE      "-"
#define STATE_SWITCH "switch"
#define STATE_UNDO   "undo"

struct txn_file {
        char name[64];
        char new_sha[SHA256_HEX_SIZE];
        char old_sha[SHA256_HEX_SIZE]; /* "" when the name did not exist before */
};

struct txn {
        char op[16];
        char state[16];
        char source[1024];
        char undo[1024]; /* relative to shared_dir; "" when no file existed before */
        unsigned n;
        struct txn_file files[FIRMWARE_SET_MAX];
};

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

/* The crash tests' kill points: a real, unannounced death (test builds only). */
static void fault_point(const char *point)
{
        const char *f = testhook_env("NETROOT_FAULT_FIRMWARE");

        if (f && streq(f, point))
                raise(SIGKILL);
}

static void staged_name(char *buf, size_t size, const char *name)
{
        snprintf(buf, size, "%s%s", FIRMWARE_TXN_STAGED_PREFIX, name);
}

static bool is_hex64(const char *s)
{
        if (strlen(s) != 64)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

/* Hashes NAME in DIRFD. Returns 1 (HEX filled), 0 when there is no such file, <0 for a symlink
 * (-ELOOP), something not a file, or an I/O error. */
static int hash_at(int dirfd, const char *name, char hex[SHA256_HEX_SIZE])
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = firmware_set_open_at(dirfd, name, &st);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        r = sha256_fd(fd, hex);
        return r < 0 ? r : 1;
}

static const char *rel_to(const char *dir, const char *path)
{
        size_t n = strlen(dir);

        return strncmp(path, dir, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/* ---- the journal ---------------------------------------------------------------------------- */

static int journal_write(int dirfd, const struct txn *t)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f,
                "# netroot-agent: a firmware switch in progress. Do not edit: the next run (or\n"
                "# `netrootctl firmware recover`) finishes it or undoes it.\n"
                "version=1\nop=%s\nstate=%s\nsource=%s\nundo=%s\n",
                t->op, t->state, t->source, t->undo);
        for (unsigned i = 0; i < t->n; i++)
                fprintf(f, "file=%s %s %s\n", t->files[i].name, t->files[i].new_sha,
                        t->files[i].old_sha[0] ? t->files[i].old_sha : NO_FILE);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (unlinkat(dirfd, JOURNAL_TMP, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(dirfd, JOURNAL_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = fd_write_all(fd, text, len);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, JOURNAL_TMP, dirfd, FIRMWARE_TXN_JOURNAL) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, JOURNAL_TMP, 0);
                return r;
        }
        return fsync_dir(dirfd);
}

static bool plain_value(const char *v)
{
        for (; *v; v++)
                if ((unsigned char)*v < 0x20 || *v == 0x7f)
                        return false;
        return true;
}

/* Parses the journal; errors name "FILE:LINE". Unknown keys are a later version's: ignored. */
static int journal_parse(char *text, const char *file, struct txn *t, char *err, size_t err_size)
{
        unsigned lineno = 0, seen = 0;

        memset(t, 0, sizeof(*t));
        for (char *line = text, *next; *line; line = next) {
                char *eq, *val;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                else
                        next = line + strlen(line);
                lineno++;
                if (!*line || *line == '#')
                        continue;
                eq = strchr(line, '=');
                if (!eq)
                        return fail(err, err_size, -EBADMSG, "%s:%u: not KEY=VALUE", file, lineno);
                *eq = '\0';
                val = eq + 1;
                if (!plain_value(val))
                        return fail(err, err_size, -EBADMSG, "%s:%u: control character", file,
                                    lineno);
                if (streq(line, "version")) {
                        if (!streq(val, "1"))
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: version %s is not one this agent knows", file,
                                            lineno, val);
                        seen |= 1;
                } else if (streq(line, "op")) {
                        if (!*val || strlen(val) >= sizeof(t->op))
                                return fail(err, err_size, -EBADMSG, "%s:%u: bad op", file, lineno);
                        strcpy(t->op, val);
                } else if (streq(line, "state")) {
                        if (!streq(val, STATE_SWITCH) && !streq(val, STATE_UNDO))
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: state must be switch or undo", file, lineno);
                        strcpy(t->state, val);
                        seen |= 2;
                } else if (streq(line, "source")) {
                        snprintf(t->source, sizeof(t->source), "%s", val);
                } else if (streq(line, "undo")) {
                        /* Only a backup folder of this TFTP root is ever read back. */
                        if (*val && (strncmp(val, BACKUP_TOP "/", strlen(BACKUP_TOP) + 1) != 0 ||
                                     strstr(val, "..") || strlen(val) >= sizeof(t->undo)))
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: undo must name a folder in %s/", file, lineno,
                                            BACKUP_TOP);
                        strcpy(t->undo, val);
                        seen |= 4;
                } else if (streq(line, "file")) {
                        struct txn_file *f;
                        char name[64], nsha[80], osha[80];

                        if (t->n >= FIRMWARE_SET_MAX)
                                return fail(err, err_size, -E2BIG, "%s:%u: too many files", file,
                                            lineno);
                        if (sscanf(val, "%63s %79s %79s", name, nsha, osha) != 3 ||
                            !firmware_set_name_valid(name) || !is_hex64(nsha) ||
                            (!streq(osha, NO_FILE) && !is_hex64(osha)))
                                return fail(err, err_size, -EBADMSG,
                                            "%s:%u: expected file=NAME NEW-SHA256 OLD-SHA256|-",
                                            file, lineno);
                        for (unsigned i = 0; i < t->n; i++)
                                if (streq(t->files[i].name, name))
                                        return fail(err, err_size, -EBADMSG,
                                                    "%s:%u: %s listed twice", file, lineno, name);
                        f = &t->files[t->n++];
                        strcpy(f->name, name);
                        strcpy(f->new_sha, nsha);
                        strcpy(f->old_sha, streq(osha, NO_FILE) ? "" : osha);
                }
        }
        if (seen != 7 || t->n == 0)
                return fail(err, err_size, -EBADMSG,
                            "%s: incomplete (version, state, undo and a file line are needed)",
                            file);
        return 0;
}

/* Returns 1 with T filled, 0 when there is no journal, <0 (ERR). */
static int journal_read(int dirfd, const char *shared_dir, struct txn *t, char *err,
                        size_t err_size)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL, *file = NULL;
        struct stat st;
        size_t used = 0;
        int r;

        if (asprintf(&file, "%s/%s", shared_dir, FIRMWARE_TXN_JOURNAL) < 0)
                return -ENOMEM;
        fd = firmware_set_open_at(dirfd, FIRMWARE_TXN_JOURNAL, &st);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fail(err, err_size, fd, "%s: %s", file, file_strerror(fd));
        if (st.st_size > JOURNAL_MAX)
                return fail(err, err_size, -EFBIG, "%s: too large", file);
        buf = malloc(JOURNAL_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + used, JOURNAL_MAX - used);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail(err, err_size, -errno, "%s: %m", file);
                if (n == 0)
                        break;
                used += (size_t)n;
                if (used == JOURNAL_MAX)
                        return fail(err, err_size, -EFBIG, "%s: too large", file);
        }
        buf[used] = '\0';
        if (strlen(buf) != used)
                return fail(err, err_size, -EBADMSG, "%s:%u: NUL byte (a damaged file)", file,
                            text_nul_line(buf, used));
        r = journal_parse(buf, file, t, err, err_size);
        return r < 0 ? r : 1;
}

static int journal_remove(int dirfd)
{
        if (unlinkat(dirfd, FIRMWARE_TXN_JOURNAL, 0) < 0 && errno != ENOENT)
                return -errno;
        return fsync_dir(dirfd);
}

/* ---- staged files --------------------------------------------------------------------------- */

/* The temp names of staged files, of an interrupted journal write, those the restore of
 * earlier versions used (.<name>.tmp), and backups cut short. Only called with no journal
 * pending, under the lock. */
static void remove_leftovers(int dirfd)
{
        _cleanup_close_ int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        bool removed = false;
        DIR *d;

        if (dfd < 0 || !(d = fdopendir(dfd)))
                return;
        TAKE_FD(dfd);
        while ((de = readdir(d))) {
                const char *n = de->d_name;
                size_t len = strlen(n);
                bool legacy = false;

                if (len > 5 && n[0] == '.' && streq(n + len - 4, ".tmp")) {
                        char inner[NAME_MAX + 1];

                        snprintf(inner, sizeof(inner), "%.*s", (int)(len - 5), n + 1);
                        legacy = firmware_set_name_valid(inner);
                }
                if (legacy || streq(n, JOURNAL_TMP) ||
                    strncmp(n, FIRMWARE_TXN_STAGED_PREFIX, strlen(FIRMWARE_TXN_STAGED_PREFIX)) == 0)
                        removed |= unlinkat(dirfd, n, 0) == 0; /* never follows a symlink */
        }
        closedir(d);
        if (removed)
                fsync_dir(dirfd);
        firmware_set_remove_partial_at(dirfd);
}

/* Copies NAME from SRCFD (SRC names it in errors) to the staged name in DIRFD, fsynced, and
 * checks it is SHA. */
static int stage_from(int srcfd, const char *src, const char *name, const char *sha, int dirfd,
                      char *err, size_t err_size)
{
        _cleanup_close_ int in = -1, out = -1;
        char tmp[NAME_MAX + 1], hex[SHA256_HEX_SIZE];
        struct stat st;
        int r;

        staged_name(tmp, sizeof(tmp), name);
        in = firmware_set_open_at(srcfd, name, &st);
        if (in < 0)
                return fail(err, err_size, in, "%s/%s: %s", src, name, file_strerror(in));
        if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
                return fail(err, err_size, -errno, "%s: %m", tmp);
        out = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     st.st_mode & 0777);
        if (out < 0)
                return fail(err, err_size, -errno, "%s: %m", tmp);
        r = firmware_set_copy_hash(in, out, hex, NULL);
        if (r >= 0 && fchmod(out, st.st_mode & 0777) < 0)
                r = -errno;
        if (r >= 0 && fsync(out) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(out)) < 0)
                r = -errno;
        if (r < 0)
                return fail(err, err_size, r, "%s: %s", tmp, strerror(-r));
        if (!streq(hex, sha))
                return fail(err, err_size, -EBADMSG, "%s/%s changed while being copied", src, name);
        return 0;
}

/* Renames the staged file of every name whose live file is not yet NEW_SHA. The live hashes
 * are taken again: this also finishes a switch cut short. */
static int switch_files(int dirfd, const char *shared_dir, const struct txn *t, char *err,
                        size_t err_size)
{
        unsigned done = 0;

        for (unsigned i = 0; i < t->n; i++) {
                char tmp[NAME_MAX + 1], hex[SHA256_HEX_SIZE], label[32];
                int r = hash_at(dirfd, t->files[i].name, hex);

                if (r < 0)
                        return fail(err, err_size, r, "%s/%s: %s", shared_dir, t->files[i].name,
                                    file_strerror(r));
                if (r == 1 && streq(hex, t->files[i].new_sha))
                        continue;
                staged_name(tmp, sizeof(tmp), t->files[i].name);
                if (renameat(dirfd, tmp, dirfd, t->files[i].name) < 0)
                        return fail(err, err_size, -errno, "%s/%s: %m", shared_dir, tmp);
                snprintf(label, sizeof(label), "rename-%u", ++done);
                fault_point(label);
        }
        return fsync_dir(dirfd);
}

/* 1 when every name is either live as its new file or staged as it: the journal can be
 * finished. 0 names in MISSING the first one that is neither. */
static int can_finish(int dirfd, const struct txn *t, char *missing, size_t size)
{
        for (unsigned i = 0; i < t->n; i++) {
                char tmp[NAME_MAX + 1], hex[SHA256_HEX_SIZE];
                int r = hash_at(dirfd, t->files[i].name, hex);

                if (r < 0)
                        return r;
                if (r == 1 && streq(hex, t->files[i].new_sha))
                        continue;
                staged_name(tmp, sizeof(tmp), t->files[i].name);
                r = hash_at(dirfd, tmp, hex);
                if (r < 0 && r != -ELOOP && r != -EINVAL && r != -EISDIR)
                        return r;
                if (r == 1 && streq(hex, t->files[i].new_sha))
                        continue;
                snprintf(missing, size, "%s", t->files[i].name);
                return 0;
        }
        return 1;
}

/* Puts every name back to its old file: from the undo backup (verified against the journal's
 * old sha256), or removed when it did not exist before. Idempotent: a crash in the middle is
 * resumed by the next run (the journal says state=undo). */
static int undo_files(int dirfd, const char *shared_dir, const struct txn *t, char *err,
                      size_t err_size)
{
        _cleanup_close_ int ufd = -1;
        _cleanup_free_ char *udir = NULL;

        if (t->undo[0]) {
                if (asprintf(&udir, "%s/%s", shared_dir, t->undo) < 0)
                        return -ENOMEM;
                ufd = open(udir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (ufd < 0)
                        return fail(err, err_size, -errno, "%s (the previous set): %m", udir);
        }
        for (unsigned i = 0; i < t->n; i++) {
                const struct txn_file *f = &t->files[i];
                char tmp[NAME_MAX + 1], hex[SHA256_HEX_SIZE];
                int r = hash_at(dirfd, f->name, hex);

                if (r < 0)
                        return fail(err, err_size, r, "%s/%s: %s", shared_dir, f->name,
                                    file_strerror(r));
                if (!f->old_sha[0]) {
                        if (r == 1 && unlinkat(dirfd, f->name, 0) < 0 && errno != ENOENT)
                                return fail(err, err_size, -errno, "%s/%s: %m", shared_dir,
                                            f->name);
                        continue;
                }
                if (r == 1 && streq(hex, f->old_sha))
                        continue;
                if (ufd < 0)
                        return fail(err, err_size, -ENOENT,
                                    "%s: no backup of the previous %s is named", shared_dir,
                                    f->name);
                r = stage_from(ufd, udir, f->name, f->old_sha, dirfd, err, err_size);
                if (r < 0)
                        return r;
                staged_name(tmp, sizeof(tmp), f->name);
                if (renameat(dirfd, tmp, dirfd, f->name) < 0)
                        return fail(err, err_size, -errno, "%s/%s: %m", shared_dir, f->name);
        }
        return fsync_dir(dirfd);
}

static int recover_at(int dirfd, const char *shared_dir, struct cluster_lock *lock, char *err,
                      size_t err_size)
{
        struct txn t;
        char missing[64] = "";
        int r;

        r = journal_read(dirfd, shared_dir, &t, err, err_size);
        if (r < 0)
                return r;
        if (r == 0) {
                remove_leftovers(dirfd);
                return 0;
        }
        if (lock && cluster_lock_check(lock) < 0)
                return fail(err, err_size, -ESTALE,
                            "%s: lost the cluster lock before finishing the interrupted "
                            "firmware switch",
                            shared_dir);
        if (streq(t.state, STATE_SWITCH)) {
                r = can_finish(dirfd, &t, missing, sizeof(missing));
                if (r < 0)
                        return fail(err, err_size, r, "%s: %s", shared_dir, strerror(-r));
                if (r == 1) {
                        r = switch_files(dirfd, shared_dir, &t, err, err_size);
                        if (r < 0)
                                return r;
                        fault_point("switched");
                        r = journal_remove(dirfd);
                        if (r < 0)
                                return fail(err, err_size, r, "%s/%s: %s", shared_dir,
                                            FIRMWARE_TXN_JOURNAL, strerror(-r));
                        remove_leftovers(dirfd);
                        return FIRMWARE_TXN_FINISHED;
                }
                /* Undoing is decided once and for all before the first file is put back. */
                snprintf(t.state, sizeof(t.state), STATE_UNDO);
                r = journal_write(dirfd, &t);
                if (r < 0)
                        return fail(err, err_size, r, "%s/%s: %s", shared_dir, FIRMWARE_TXN_JOURNAL,
                                    strerror(-r));
                fault_point("undo-journal");
        }
        r = undo_files(dirfd, shared_dir, &t, err, err_size);
        if (r < 0) {
                if (err && err_size) {
                        char why[512], staged[128] = "";

                        snprintf(why, sizeof(why), "%s", err);
                        if (missing[0])
                                snprintf(staged, sizeof(staged), " (staged %s is gone or damaged)",
                                         missing);
                        fail(err, err_size, r,
                             "the interrupted firmware switch can be neither finished%s nor "
                             "undone: %s; %s/%s is kept for a human",
                             staged, why, shared_dir, FIRMWARE_TXN_JOURNAL);
                }
                return r;
        }
        r = journal_remove(dirfd);
        if (r < 0)
                return fail(err, err_size, r, "%s/%s: %s", shared_dir, FIRMWARE_TXN_JOURNAL,
                            strerror(-r));
        remove_leftovers(dirfd);
        return FIRMWARE_TXN_UNDONE;
}

int firmware_txn_recover(const char *shared_dir, struct cluster_lock *lock, char *err,
                         size_t err_size)
{
        _cleanup_close_ int dirfd = -1;

        if (err && err_size)
                err[0] = '\0';
        dirfd = open(shared_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return fail(err, err_size, -errno, "%s: %m", shared_dir);
        return recover_at(dirfd, shared_dir, lock, err, err_size);
}

int firmware_txn_pending(const char *shared_dir, struct firmware_txn_info *info, char *err,
                         size_t err_size)
{
        _cleanup_close_ int dirfd = -1;
        struct txn t;
        int r;

        if (err && err_size)
                err[0] = '\0';
        dirfd = open(shared_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return fail(err, err_size, -errno, "%s: %m", shared_dir);
        r = journal_read(dirfd, shared_dir, &t, err, err_size);
        if (r <= 0)
                return r;
        if (info) {
                memset(info, 0, sizeof(*info));
                snprintf(info->op, sizeof(info->op), "%s", t.op);
                snprintf(info->state, sizeof(info->state), "%s", t.state);
                snprintf(info->source, sizeof(info->source), "%s", t.source);
                snprintf(info->undo, sizeof(info->undo), "%s", t.undo);
                info->files = t.n;
        }
        return 1;
}

/* ---- installing ----------------------------------------------------------------------------- */

/* Renames go pair by pair (a start*.elf right after its fixup*.dat) and bootcode.bin last: a Pi
 * that boots during the switch has the shortest window for a mismatched pair. */
static void order_key(const char *name, char *key, size_t size)
{
        char other[64];
        int kind = firmware_set_pair_name(name, other, sizeof(other));

        if (kind == 0)
                snprintf(key, size, "~%s", name);
        else
                snprintf(key, size, "%.*s%d", (int)(strlen(name) - 9), name + 5, kind == 1);
}

static int cmp_order(const void *a, const void *b)
{
        char ka[80], kb[80];

        order_key(((const struct txn_file *)a)->name, ka, sizeof(ka));
        order_key(((const struct txn_file *)b)->name, kb, sizeof(kb));
        return strcmp(ka, kb);
}

/* The set installed must not split a pair: the firmware refuses a mismatched start/fixup. */
static int check_pairs(int dirfd, const char *shared_dir, const struct firmware_set *set, char *err,
                       size_t err_size)
{
        for (unsigned i = 0; i < set->n; i++) {
                char other[64];
                int kind = firmware_set_pair_name(set->files[i].name, other, sizeof(other));
                bool listed = false;
                struct stat st;

                if (kind == 0)
                        continue;
                for (unsigned j = 0; j < set->n && !listed; j++)
                        listed = streq(set->files[j].name, other);
                if (listed)
                        continue;
                if (kind == 1)
                        return fail(err, err_size, -EINVAL,
                                    "%s has no %s: refusing to install a start*.elf without its "
                                    "fixup*.dat",
                                    set->files[i].name, other);
                if (fstatat(dirfd, other, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return fail(err, err_size, -EINVAL,
                                    "the set has %s but not %s: %s/%s would stay the old one, a "
                                    "mismatched pair",
                                    set->files[i].name, other, shared_dir, other);
        }
        return 0;
}

/* A backup in SHARED_DIR/.netroot-backup whose manifest is exactly LIVE, newest name first. */
static int find_matching_backup(const char *shared_dir, const struct firmware_set *live, char *out,
                                size_t size)
{
        _cleanup_free_ char *top = NULL;
        struct dirent **list = NULL;
        int n, found = 0;

        if (asprintf(&top, "%s/%s", shared_dir, BACKUP_TOP) < 0)
                return -ENOMEM;
        n = scandir(top, &list, NULL, alphasort);
        if (n < 0)
                return 0;
        for (int i = n; i-- > 0;) {
                _cleanup_free_ char *dir = NULL;
                struct firmware_set m;
                bool same;

                if (found || list[i]->d_name[0] == '.' ||
                    asprintf(&dir, "%s/%s", top, list[i]->d_name) < 0)
                        continue;
                if (firmware_set_read_manifest(dir, &m, NULL, 0) < 0 || m.n != live->n)
                        continue;
                same = true;
                for (unsigned j = 0; j < m.n && same; j++) {
                        same = false;
                        for (unsigned k = 0; k < live->n && !same; k++)
                                same = streq(m.files[j].name, live->files[k].name) &&
                                       streq(m.files[j].sha256, live->files[k].sha256);
                }
                if (same) {
                        snprintf(out, size, "%s", dir);
                        found = 1;
                }
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return found;
}

/* Checks that backup UNDO holds the old version of every name T replaces. */
static int undo_covers(const char *undo, const struct txn *t, char *err, size_t err_size)
{
        struct firmware_set m;
        int r = firmware_set_read_manifest(undo, &m, err, err_size);

        if (r < 0)
                return r;
        for (unsigned i = 0; i < t->n; i++) {
                bool ok = !t->files[i].old_sha[0];

                for (unsigned j = 0; j < m.n && !ok; j++)
                        ok = streq(m.files[j].name, t->files[i].name) &&
                             streq(m.files[j].sha256, t->files[i].old_sha);
                if (!ok)
                        return fail(err, err_size, -EINVAL,
                                    "%s does not hold the live %s: it cannot serve to undo", undo,
                                    t->files[i].name);
        }
        return 0;
}

/* 1. Everything checked before anything is written: the source verified against its sha256,
 *    the live names plain files (a planted symlink or folder wants a human). Fills T; returns 1
 *    when the live set already is the new one. */
static int txn_plan(const struct firmware_txn_request *req, int dirfd, int srcfd, struct txn *t,
                    char *err, size_t err_size)
{
        const struct firmware_set *set = req->set;
        bool differs = false;
        int r;

        snprintf(t->op, sizeof(t->op), "%s", req->op ? req->op : "install");
        snprintf(t->state, sizeof(t->state), STATE_SWITCH);
        snprintf(t->source, sizeof(t->source), "%s", rel_to(req->shared_dir, req->source_dir));
        for (unsigned i = 0; i < set->n; i++) {
                struct txn_file *f = &t->files[t->n++];
                char hex[SHA256_HEX_SIZE];

                if (!firmware_set_name_valid(set->files[i].name) || !is_hex64(set->files[i].sha256))
                        return fail(err, err_size, -EINVAL, "bad entry '%s' in the set",
                                    set->files[i].name);
                snprintf(f->name, sizeof(f->name), "%s", set->files[i].name);
                snprintf(f->new_sha, sizeof(f->new_sha), "%s", set->files[i].sha256);
                r = hash_at(srcfd, f->name, hex);
                if (r == 0)
                        r = -ENOENT;
                if (r < 0)
                        return fail(err, err_size, r, "%s/%s: %s", req->source_dir, f->name,
                                    file_strerror(r));
                if (!streq(hex, f->new_sha))
                        return fail(err, err_size, -EBADMSG,
                                    "%s/%s does not match %s (sha256 %.12s): refusing to install "
                                    "anything",
                                    req->source_dir, f->name,
                                    req->listed_in ? req->listed_in : "its sha256", f->new_sha);
                r = hash_at(dirfd, f->name, hex);
                if (r < 0)
                        return fail(err, err_size, r, "%s/%s is %s: refusing to install anything",
                                    req->shared_dir, f->name,
                                    r == -ELOOP ? "a symlink" : "not a regular file");
                if (r == 1)
                        snprintf(f->old_sha, sizeof(f->old_sha), "%s", hex);
                differs |= r == 0 || !streq(hex, f->new_sha);
        }
        if (!differs)
                return 1;
        qsort(t->files, t->n, sizeof(t->files[0]), cmp_order);
        return 0;
}

/* 2. The previous set in a backup, to undo from: the caller's, one that matches the live set,
 *    or a new one. UNDO stays "" when there is no live set. */
static int txn_find_undo(const struct firmware_txn_request *req, char *undo, size_t size, char *err,
                         size_t err_size)
{
        struct firmware_set live;
        int r;

        if (req->undo_dir) {
                snprintf(undo, size, "%s", req->undo_dir);
                return 0;
        }
        r = firmware_set_scan_err(req->shared_dir, &live, err, err_size);
        if (r < 0)
                return r;
        r = live.n ? find_matching_backup(req->shared_dir, &live, undo, size) : 0;
        if (r < 0)
                return fail(err, err_size, r, "%s/%s: %s", req->shared_dir, BACKUP_TOP,
                            strerror(-r));
        if (r == 0 && live.n)
                return firmware_set_backup_locked(req->shared_dir,
                                                  req->serial ? req->serial : "undo", req->lock,
                                                  undo, size, NULL, err, err_size);
        return 0;
}

/* UNDO must hold every live file T replaces, and the journal must be able to name it. */
static int txn_set_undo(const struct firmware_txn_request *req, const char *undo, struct txn *t,
                        char *err, size_t err_size)
{
        int r;

        if (!undo[0]) {
                for (unsigned i = 0; i < t->n; i++)
                        if (t->files[i].old_sha[0])
                                return fail(err, err_size, -EINVAL, "no backup holds the live %s",
                                            t->files[i].name);
                return 0;
        }
        r = undo_covers(undo, t, err, err_size);
        if (r < 0)
                return r;
        snprintf(t->undo, sizeof(t->undo), "%s", rel_to(req->shared_dir, undo));
        if (strncmp(t->undo, BACKUP_TOP "/", strlen(BACKUP_TOP) + 1) != 0)
                return fail(err, err_size, -EINVAL,
                            "%s is not a backup folder of %s: the journal could not name it", undo,
                            req->shared_dir);
        return 0;
}

/* 3. Stage every file; a failure leaves the live set untouched. */
static int txn_stage(const struct firmware_txn_request *req, int dirfd, int srcfd,
                     const struct txn *t, char *err, size_t err_size)
{
        char stage_err[512];
        int r;

        for (unsigned i = 0; i < t->n; i++) {
                r = stage_from(srcfd, req->source_dir, t->files[i].name, t->files[i].new_sha, dirfd,
                               err, err_size);
                if (r < 0) {
                        snprintf(stage_err, sizeof(stage_err), "%s", err ? err : "");
                        remove_leftovers(dirfd);
                        return fail(err, err_size, r, "%s", stage_err);
                }
        }
        r = fsync_dir(dirfd);
        if (r < 0) {
                remove_leftovers(dirfd);
                return fail(err, err_size, r, "%s: %s", req->shared_dir, strerror(-r));
        }
        fault_point("staged");
        return 0;
}

/* 4. The commit point: the journal, only while the lock is still ours. 5. The switch: once begun
 *    it is not stopped half way, the journal decides. */
static int txn_commit(const struct firmware_txn_request *req, int dirfd, struct txn *t, char *err,
                      size_t err_size)
{
        int r;

        if (req->lock && cluster_lock_check(req->lock) < 0) {
                remove_leftovers(dirfd);
                return fail(err, err_size, -ESTALE,
                            "lost the cluster lock %s/%s before the switch (taken over after its "
                            "TTL): nothing was switched",
                            req->shared_dir, CLUSTER_LOCK_NAME);
        }
        r = journal_write(dirfd, t);
        if (r < 0) {
                remove_leftovers(dirfd);
                return fail(err, err_size, r, "%s/%s: %s", req->shared_dir, FIRMWARE_TXN_JOURNAL,
                            strerror(-r));
        }
        fault_point("journal");
        r = switch_files(dirfd, req->shared_dir, t, err, err_size);
        if (r < 0)
                return r; /* the journal stays: the next run finishes or undoes it */
        fault_point("switched");
        r = journal_remove(dirfd);
        if (r < 0)
                return fail(err, err_size, r, "%s/%s: %s", req->shared_dir, FIRMWARE_TXN_JOURNAL,
                            strerror(-r));
        return 0;
}

int firmware_txn_install(const struct firmware_txn_request *req, char *err, size_t err_size)
{
        _cleanup_close_ int dirfd = -1, srcfd = -1;
        const struct firmware_set *set = req->set;
        char undo[4096] = "";
        struct txn t = {0};
        int r;

        if (err && err_size)
                err[0] = '\0';
        if (req->undo_used && req->undo_used_size)
                req->undo_used[0] = '\0';
        if (!req->shared_dir || !req->source_dir || !set || set->n == 0 ||
            set->n > FIRMWARE_SET_MAX)
                return fail(err, err_size, -EINVAL, "nothing to install");
        dirfd = open(req->shared_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return fail(err, err_size, -errno, "%s: %m", req->shared_dir);
        srcfd = open(req->source_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (srcfd < 0)
                return fail(err, err_size, -errno, "%s: %m", req->source_dir);
        r = recover_at(dirfd, req->shared_dir, req->lock, err, err_size);
        if (r >= 0)
                r = check_pairs(dirfd, req->shared_dir, set, err, err_size);
        if (r >= 0)
                r = txn_plan(req, dirfd, srcfd, &t, err, err_size);
        if (r != 0)
                return r; /* an error, or 1: nothing differs */
        r = txn_find_undo(req, undo, sizeof(undo), err, err_size);
        if (r >= 0)
                r = txn_set_undo(req, undo, &t, err, err_size);
        if (r < 0)
                return r;
        if (req->undo_used)
                snprintf(req->undo_used, req->undo_used_size, "%s", undo);
        r = txn_stage(req, dirfd, srcfd, &t, err, err_size);
        return r < 0 ? r : txn_commit(req, dirfd, &t, err, err_size);
}

int firmware_txn_restore(const char *shared_dir, const char *backup_dir, const char *serial,
                         struct cluster_lock *lock, char *err, size_t err_size)
{
        struct firmware_set m;
        int r;

        r = firmware_set_read_manifest(backup_dir, &m, err, err_size);
        if (r < 0)
                return r;
        return firmware_txn_install(&(struct firmware_txn_request){.shared_dir = shared_dir,
                                                                   .source_dir = backup_dir,
                                                                   .set = &m,
                                                                   .listed_in = "SHA256SUMS",
                                                                   .op = "restore",
                                                                   .serial = serial,
                                                                   .lock = lock},
                                    err, err_size);
}
