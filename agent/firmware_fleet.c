/* Fleet firmware status, promotion by canary and rollback; see firmware_fleet.h. */
#include "firmware_fleet.h"
#include "cluster_lock.h"
#include "fileio.h"
#include "generation.h"
#include "tftp_fetch.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#define LOCK_TTL_DEFAULT 600
#define FETCH_TIMEOUT_MS 10000
#define BACKUP_TOP       ".netroot-backup"

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

bool firmware_fleet_serial_valid(const char *s)
{
        if (strlen(s) != 8)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

static int cmp_fleet_file(const void *a, const void *b)
{
        return strcmp(((const struct fleet_file *)a)->name, ((const struct fleet_file *)b)->name);
}

/* The firmware files in DIR, hashed and with their build strings. WITH_BOOTCODE: bootcode.bin
 * too (a Pi's folder's bootcode.bin is never booted: the ROM loads the root's). */
static int scan_folder(const char *dir, bool with_bootcode, struct fleet_file *files, unsigned *n,
                       char *err, size_t err_size)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;
        int r = 0;

        *n = 0;
        if (dfd < 0)
                return fail(err, err_size, -errno, "%s: %m", dir);
        d = fdopendir(dfd);
        if (!d)
                return fail(err, err_size, -errno, "%s: %m", dir);
        TAKE_FD(dfd);
        while ((de = readdir(d))) {
                _cleanup_close_ int fd = -1;
                struct stat st;

                if (!firmware_set_name_valid(de->d_name) ||
                    (!with_bootcode && streq(de->d_name, "bootcode.bin")))
                        continue;
                if (*n >= FIRMWARE_SET_MAX) {
                        r = fail(err, err_size, -E2BIG, "%s: more than %d firmware files", dir,
                                 FIRMWARE_SET_MAX);
                        break;
                }
                fd = firmware_set_open_at(dirfd(d), de->d_name, &st);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0) {
                        r = fail(err, err_size, fd, "%s/%s: %s", dir, de->d_name,
                                 file_strerror(fd));
                        break;
                }
                snprintf(files[*n].name, sizeof(files[*n].name), "%s", de->d_name);
                r = firmware_version_scan_fd(fd, &files[*n].version, files[*n].sha256);
                if (r < 0) {
                        r = fail(err, err_size, r, "%s/%s: %s", dir, de->d_name, strerror(-r));
                        break;
                }
                r = 0;
                (*n)++;
        }
        closedir(d);
        if (r < 0)
                *n = 0;
        qsort(files, *n, sizeof(files[0]), cmp_fleet_file);
        return r;
}

static const struct fleet_file *find_file(const struct fleet_file *files, unsigned n,
                                          const char *name)
{
        for (unsigned i = 0; i < n; i++)
                if (streq(files[i].name, name))
                        return &files[i];
        return NULL;
}

static void add_version(struct fleet_status *st, const struct fleet_file *start, bool root)
{
        struct fleet_version *v = NULL;

        for (unsigned i = 0; i < st->nversions && !v; i++)
                if (streq(st->versions[i].start_sha256, start->sha256))
                        v = &st->versions[i];
        if (!v) {
                if (st->nversions >= ARRAY_SIZE(st->versions))
                        return;
                v = &st->versions[st->nversions++];
                snprintf(v->start_sha256, sizeof(v->start_sha256), "%s", start->sha256);
                snprintf(v->version, sizeof(v->version), "%s",
                         start->version.build[0] ? start->version.build : "unknown");
                snprintf(v->date, sizeof(v->date), "%s", start->version.date);
        }
        if (root)
                v->root = true;
        else
                v->pis++;
}

/* The newest generation of the Pi in PI_DIR and its status ("" when none or unreadable). */
static void newest_gen(const char *pi_dir, unsigned *gen, char *status, size_t size)
{
        _cleanup_free_ unsigned *gens = NULL;
        struct gen_record rec;
        size_t n = 0;

        *gen = 0;
        status[0] = '\0';
        if (gen_list(pi_dir, &gens, &n) < 0 || n == 0)
                return;
        *gen = gens[n - 1];
        if (gen_record_load(pi_dir, *gen, &rec, NULL) == 0)
                snprintf(status, size, "%s", gen_status_to_string(rec.status));
}

static int cmp_serial(const void *a, const void *b)
{
        return strcmp(((const struct fleet_pi *)a)->serial, ((const struct fleet_pi *)b)->serial);
}

void firmware_fleet_status_free(struct fleet_status *st)
{
        free(st->pis);
        st->pis = NULL;
        st->npis = 0;
}

/* One Pi's folder DIR (named SERIAL): its own set or the root's, its pairs, its skew against
 * ROOT_START and its newest generation. */
static void scan_pi(struct fleet_status *st, const struct fleet_file *root_start, const char *dir,
                    const char *start, const char *serial)
{
        struct fleet_pi *pi = &st->pis[st->npis++];
        const struct fleet_file *s;
        struct stat sb;
        int r;

        snprintf(pi->serial, sizeof(pi->serial), "%s", serial);
        /* bootcode.bin tries <serial>/start.elf; found, everything after comes from the Pi's
         * folder (FACTS: "How a Pi 3 boots over the network"). */
        pi->own = lstat(start, &sb) == 0;
        if (pi->own) {
                r = scan_folder(dir, false, pi->files, &pi->n, pi->pairs_why,
                                sizeof(pi->pairs_why));
                pi->pairs =
                    r < 0 ? r : firmware_set_pairs_check(dir, pi->pairs_why, sizeof(pi->pairs_why));
        } else {
                for (unsigned j = 0; j < st->nroot; j++)
                        if (!streq(st->root[j].name, "bootcode.bin"))
                                pi->files[pi->n++] = st->root[j];
                pi->pairs = st->root_pairs;
                snprintf(pi->pairs_why, sizeof(pi->pairs_why), "%s", st->root_pairs_why);
        }
        if (pi->own && pi->pairs == 0)
                st->mismatched++;
        s = find_file(pi->files, pi->n, "start.elf");
        if (s) {
                snprintf(pi->start_sha256, sizeof(pi->start_sha256), "%s", s->sha256);
                snprintf(pi->version, sizeof(pi->version), "%s", s->version.build);
                add_version(st, s, false);
        }
        /* The sets differ: this Pi runs another start.elf than the one the root's bootcode.bin
         * came with. */
        pi->skew = pi->own && (!root_start || !s || !streq(s->sha256, root_start->sha256));
        if (pi->skew)
                st->skewed++;
        newest_gen(dir, &pi->gen, pi->gen_status, sizeof(pi->gen_status));
}

/* The root's own set: its start.elf version, its pairs, a pending transaction. */
static const struct fleet_file *scan_root(const char *tftp_root, struct fleet_status *st, char *err,
                                          size_t err_size, int *r)
{
        const struct fleet_file *root_start;

        *r = scan_folder(tftp_root, true, st->root, &st->nroot, err, err_size);
        if (*r < 0)
                return NULL;
        root_start = find_file(st->root, st->nroot, "start.elf");
        if (root_start) {
                snprintf(st->root_version, sizeof(st->root_version), "%s",
                         root_start->version.build);
                add_version(st, root_start, true);
        }
        st->root_pairs =
            firmware_set_pairs_check(tftp_root, st->root_pairs_why, sizeof(st->root_pairs_why));
        if (st->root_pairs == 0)
                st->mismatched++;
        st->txn = firmware_txn_pending(tftp_root, &st->txn_info, NULL, 0);
        return root_start;
}

int firmware_fleet_status(const char *tftp_root, struct fleet_status *st, char *err,
                          size_t err_size)
{
        const struct fleet_file *root_start;
        struct dirent **list = NULL;
        int n, r;

        memset(st, 0, sizeof(*st));
        if (err && err_size)
                err[0] = '\0';
        root_start = scan_root(tftp_root, st, err, err_size, &r);
        if (r < 0)
                return r;
        n = scandir(tftp_root, &list, NULL, alphasort);
        if (n < 0)
                return fail(err, err_size, -errno, "%s: %m", tftp_root);
        st->pis = calloc((size_t)n + 1, sizeof(*st->pis));
        r = st->pis ? 0 : -ENOMEM;
        for (int i = 0; i < n && r == 0; i++) {
                _cleanup_free_ char *dir = NULL, *start = NULL;
                struct stat sb;

                if (!firmware_fleet_serial_valid(list[i]->d_name) ||
                    asprintf(&dir, "%s/%s", tftp_root, list[i]->d_name) < 0 || stat(dir, &sb) < 0 ||
                    !S_ISDIR(sb.st_mode) || asprintf(&start, "%s/start.elf", dir) < 0)
                        continue;
                scan_pi(st, root_start, dir, start, list[i]->d_name);
        }
        if (r == 0)
                qsort(st->pis, st->npis, sizeof(st->pis[0]), cmp_serial);
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        if (r < 0)
                firmware_fleet_status_free(st);
        return r;
}

/* ---- changing the root's set ---------------------------------------------------------------- */

static int lock_take(const struct fleet_options *o, const char *who, struct cluster_lock *lock,
                     struct fleet_result *res, char *err, size_t err_size)
{
        struct cluster_lock_holder h = {0};
        int r;

        r = cluster_lock_acquire(lock, o->tftp_root, who,
                                 o->lock_ttl_sec ? o->lock_ttl_sec : LOCK_TTL_DEFAULT,
                                 o->lock_wait_sec, &h);
        if (r == -EBUSY) {
                char until[32] = "?";
                struct tm tm;

                if (gmtime_r(&h.stale_at, &tm))
                        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
                snprintf(res->holder, sizeof(res->holder), "%s@%s pid %ld until %s (NAS clock)",
                         h.serial, h.host, h.pid, until);
                return fail(err, err_size, r, "the shared firmware is locked by %s; waited %u s",
                            res->holder, o->lock_wait_sec);
        }
        if (r < 0)
                return fail(err, err_size, r, "cannot lock %s/%s: %s", o->tftp_root,
                            CLUSTER_LOCK_NAME, file_strerror(r));
        return 0;
}

static void lock_drop(struct cluster_lock *lock, struct fleet_result *res)
{
        if (lock->held)
                res->release = cluster_lock_release(lock);
}

/* Fetches every file of SET from the TFTP root over TFTP and compares it with SET. 1 all equal,
 * 0 skipped (RES->verify_note says why), <0 a difference or (when required) no answer. */
static int verify_tftp(const struct fleet_options *o, const struct firmware_set *set,
                       struct fleet_result *res)
{
        if (!o->tftp_server || !o->tftp_server[0] || !o->fetch) {
                snprintf(res->verify_note, sizeof(res->verify_note),
                         "TFTP check skipped: no TFTP server given (--tftp SERVER[:PORT])");
                return o->verify_required ? -ENOTCONN : 0;
        }
        for (unsigned i = 0; i < set->n; i++) {
                struct tftp_fetch_result fr = {0};
                int r = o->fetch(o->tftp_server, set->files[i].name, FETCH_TIMEOUT_MS, &fr);

                if (r < 0 && r != -ENOENT && !o->verify_required) {
                        snprintf(res->verify_note, sizeof(res->verify_note),
                                 "TFTP check skipped: %s", fr.error[0] ? fr.error : strerror(-r));
                        return 0;
                }
                if (r < 0) {
                        snprintf(res->verify_note, sizeof(res->verify_note),
                                 "fetching %s from TFTP server %s: %s", set->files[i].name,
                                 o->tftp_server, fr.error[0] ? fr.error : strerror(-r));
                        return r;
                }
                if (!streq(fr.sha256, set->files[i].sha256)) {
                        snprintf(res->verify_note, sizeof(res->verify_note),
                                 "TFTP server %s serves %s with sha256 %.12s, not the %.12s "
                                 "written (is --tftp-root the folder it serves?)",
                                 o->tftp_server, set->files[i].name, fr.sha256,
                                 set->files[i].sha256);
                        return -EIO;
                }
        }
        snprintf(res->verify_note, sizeof(res->verify_note),
                 "%u files fetched back from TFTP server %s: sha256 matches", set->n,
                 o->tftp_server);
        return 1;
}

/* Verifies the switch just made; on a failure puts UNDO back (still under LOCK). */
static int verify_or_undo(const struct fleet_options *o, const struct firmware_set *set,
                          const char *undo, struct cluster_lock *lock, struct fleet_result *res,
                          char *err, size_t err_size)
{
        char why[512];
        int r;

        res->verified = verify_tftp(o, set, res);
        if (res->verified >= 0)
                return 0;
        if (!undo[0])
                return fail(err, err_size, res->verified, "%s; no backup to put back",
                            res->verify_note);
        r = firmware_txn_restore(o->tftp_root, undo, "undo", lock, why, sizeof(why));
        if (r < 0)
                return fail(err, err_size, r, "%s; putting back %s failed too: %s",
                            res->verify_note, undo, why);
        res->undone = true;
        return fail(err, err_size, -EIO, "%s; the previous set %s was put back", res->verify_note,
                    undo);
}

static bool set_equal_live(const struct firmware_set *set, const struct firmware_set *live)
{
        for (unsigned i = 0; i < set->n; i++) {
                bool same = false;

                for (unsigned j = 0; j < live->n && !same; j++)
                        same = streq(set->files[i].name, live->files[j].name) &&
                               streq(set->files[i].sha256, live->files[j].sha256);
                if (!same)
                        return false;
        }
        return true;
}

/* The checks of a promotion, made under the lock. */
/* The newest generation of the canary says good. Sets RES->gen. */
static int canary_confirmed(const struct fleet_options *o, const char *pi_dir,
                            struct fleet_result *res, char *err, size_t err_size)
{
        _cleanup_free_ unsigned *gens = NULL;
        struct gen_record rec;
        struct error why = {0};
        size_t n = 0;
        int r;

        r = gen_list(pi_dir, &gens, &n);
        if (r < 0 || n == 0)
                return fail(err, err_size, -EPERM,
                            "%s: no generation in %s/: the Pi's boot with this firmware was never "
                            "confirmed",
                            o->serial, GEN_STORE);
        res->gen = gens[n - 1];
        r = gen_record_load(pi_dir, res->gen, &rec, &why);
        if (r < 0)
                return fail(err, err_size, -EPERM, "%s: generation %u: %s", o->serial, res->gen,
                            why.msg[0] ? why.msg : strerror(-r));
        if (rec.status != GEN_GOOD)
                return fail(err, err_size, -EPERM,
                            "%s: the newest generation %u is %s, not good: the Pi's boot with "
                            "this firmware is not confirmed",
                            o->serial, res->gen, gen_status_to_string(rec.status));
        return 0;
}

/* True when A is strictly later than B. */
static bool ts_after(const struct timespec *a, const struct timespec *b)
{
        return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* ...and confirmed after the firmware was there: the record was last written (marked good) no
 * earlier than every file of the set was last changed. ctime too: cp -p and touch can set an
 * mtime, nothing but the file system sets a ctime. */
static int confirmed_after_set(const char *pi_dir, const struct firmware_set *set, unsigned gen,
                               char *err, size_t err_size)
{
        _cleanup_free_ char *record = NULL;
        struct stat rs;

        if (asprintf(&record, "%s/%s/gen-%u/%s", pi_dir, GEN_STORE, gen, GEN_RECORD) < 0)
                return -ENOMEM;
        if (lstat(record, &rs) < 0)
                return fail(err, err_size, -errno, "%s: %m", record);
        for (unsigned i = 0; i < set->n; i++) {
                _cleanup_free_ char *path = NULL;
                const struct timespec *late;
                struct stat fs;

                if (asprintf(&path, "%s/%s", pi_dir, set->files[i].name) < 0)
                        return -ENOMEM;
                if (lstat(path, &fs) < 0)
                        return fail(err, err_size, -errno, "%s: %m", path);
                late = ts_after(&fs.st_ctim, &fs.st_mtim) ? &fs.st_ctim : &fs.st_mtim;
                if (ts_after(late, &rs.st_mtim))
                        return fail(err, err_size, -EPERM,
                                    "%s changed after generation %u was confirmed good (%s): "
                                    "the Pi has not been seen booting it; boot it and confirm "
                                    "again",
                                    path, gen, record);
        }
        return 0;
}

/* No mismatched start/fixup pair anywhere: not in the canary's set, not at the root, not in any
 * other Pi's folder. */
static int no_mismatch(const struct fleet_options *o, char *err, size_t err_size)
{
        struct fleet_status st;
        int r = firmware_fleet_status(o->tftp_root, &st, err, err_size);

        if (r < 0)
                return r;
        if (st.mismatched) {
                const char *where = st.root_pairs == 0 ? st.root_pairs_why : "";

                for (size_t i = 0; i < st.npis && !where[0]; i++)
                        if (st.pis[i].own && st.pis[i].pairs == 0)
                                where = st.pis[i].pairs_why;
                r = fail(err, err_size, -EPERM, "mismatched start/fixup pair: %s", where);
        }
        for (size_t i = 0; i < st.npis && r >= 0; i++)
                if (st.pis[i].own && st.pis[i].pairs < 0 && streq(st.pis[i].serial, o->serial))
                        r = fail(err, err_size, st.pis[i].pairs, "%s", st.pis[i].pairs_why);
        firmware_fleet_status_free(&st);
        return r;
}

static int promote_checks(const struct fleet_options *o, const char *pi_dir,
                          struct firmware_set *set, struct fleet_result *res, char *err,
                          size_t err_size)
{
        bool has_start = false;
        int r;

        r = firmware_set_scan_err(pi_dir, set, err, err_size);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < set->n; i++)
                has_start |= streq(set->files[i].name, "start.elf");
        if (!has_start)
                return fail(err, err_size, -EPERM,
                            "%s has no start.elf: that Pi boots the root's set, there is nothing "
                            "to promote",
                            pi_dir);
        r = canary_confirmed(o, pi_dir, res, err, err_size);
        if (r >= 0)
                r = confirmed_after_set(pi_dir, set, res->gen, err, err_size);
        return r < 0 ? r : no_mismatch(o, err, err_size);
}

int firmware_fleet_promote(const struct fleet_options *o, struct fleet_result *res, char *err,
                           size_t err_size)
{
        _cleanup_free_ char *pi_dir = NULL;
        struct cluster_lock lock = {0};
        struct firmware_set live;
        char who[32], backup_serial[32];
        int r;

        memset(res, 0, sizeof(*res));
        if (err && err_size)
                err[0] = '\0';
        if (!o->serial || !firmware_fleet_serial_valid(o->serial))
                return fail(err, err_size, -EINVAL,
                            "--from %s: a serial folder name is exactly 8 lowercase hex digits",
                            o->serial ? o->serial : "");
        if (o->verify_required && (!o->tftp_server || !o->tftp_server[0]))
                return fail(err, err_size, -EINVAL,
                            "the TFTP check is required but no server was given");
        if (asprintf(&pi_dir, "%s/%s", o->tftp_root, o->serial) < 0)
                return -ENOMEM;
        if (access(pi_dir, F_OK) < 0)
                return fail(err, err_size, -ENOENT, "%s: %m", pi_dir);
        snprintf(who, sizeof(who), "promote-%s", o->serial);
        snprintf(backup_serial, sizeof(backup_serial), "before-promote-%s", o->serial);
        r = lock_take(o, who, &lock, res, err, err_size);
        if (r < 0)
                return r;
        res->recovered = firmware_txn_recover(o->tftp_root, &lock, err, err_size);
        if (res->recovered < 0) {
                r = res->recovered;
                goto out;
        }
        r = promote_checks(o, pi_dir, &res->installed, res, err, err_size);
        if (r < 0)
                goto out;
        r = firmware_set_scan_err(o->tftp_root, &live, err, err_size);
        if (r < 0)
                goto out;
        if (set_equal_live(&res->installed, &live)) {
                res->unchanged = true;
                res->verified = verify_tftp(o, &res->installed, res);
                if (res->verified < 0)
                        r = fail(err, err_size, res->verified, "%s", res->verify_note);
                goto out;
        }
        /* The old root set first: it is what `firmware rollback` puts back. */
        if (live.n) {
                r = firmware_set_backup_locked(o->tftp_root, backup_serial, &lock, res->backup,
                                               sizeof(res->backup), NULL, err, err_size);
                if (r < 0)
                        goto out;
        }
        r = firmware_txn_install(
            &(struct firmware_txn_request){.shared_dir = o->tftp_root,
                                           .source_dir = pi_dir,
                                           .set = &res->installed,
                                           .listed_in = "its hash",
                                           .op = "promote",
                                           .serial = backup_serial,
                                           .undo_dir = res->backup[0] ? res->backup : NULL,
                                           .lock = &lock},
            err, err_size);
        if (r < 0)
                goto out;
        r = verify_or_undo(o, &res->installed, res->backup, &lock, res, err, err_size);
out:
        lock_drop(&lock, res);
        return r < 0 ? r : 0;
}

/* The newest backup whose manifest is not the live set. */
static int previous_backup(const char *root, const struct firmware_set *live, char *out,
                           size_t size)
{
        _cleanup_free_ char *top = NULL;
        struct dirent **list = NULL;
        int n, found = 0;

        if (asprintf(&top, "%s/%s", root, BACKUP_TOP) < 0)
                return -ENOMEM;
        n = scandir(top, &list, NULL, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : -errno;
        for (int i = n; i-- > 0;) {
                _cleanup_free_ char *dir = NULL;
                struct firmware_set m;

                if (found || list[i]->d_name[0] == '.' ||
                    asprintf(&dir, "%s/%s", top, list[i]->d_name) < 0)
                        continue;
                if (firmware_set_read_manifest(dir, &m, NULL, 0) < 0)
                        continue;
                if (m.n == live->n && set_equal_live(&m, live))
                        continue;
                snprintf(out, size, "%s", dir);
                found = 1;
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return found;
}

int firmware_fleet_rollback(const struct fleet_options *o, struct fleet_result *res, char *err,
                            size_t err_size)
{
        struct cluster_lock lock = {0};
        struct firmware_set live;
        int r;

        memset(res, 0, sizeof(*res));
        if (err && err_size)
                err[0] = '\0';
        if (o->verify_required && (!o->tftp_server || !o->tftp_server[0]))
                return fail(err, err_size, -EINVAL,
                            "the TFTP check is required but no server was given");
        r = lock_take(o, "rollback", &lock, res, err, err_size);
        if (r < 0)
                return r;
        res->recovered = firmware_txn_recover(o->tftp_root, &lock, err, err_size);
        if (res->recovered < 0) {
                r = res->recovered;
                goto out;
        }
        r = firmware_set_scan_err(o->tftp_root, &live, err, err_size);
        if (r < 0)
                goto out;
        r = previous_backup(o->tftp_root, &live, res->restored, sizeof(res->restored));
        if (r <= 0) {
                r = r < 0 ? fail(err, err_size, r, "%s/%s: %s", o->tftp_root, BACKUP_TOP,
                                 strerror(-r))
                          : fail(err, err_size, -ENOENT,
                                 "%s/%s: no backup differs from the live set: nothing to go back "
                                 "to",
                                 o->tftp_root, BACKUP_TOP);
                goto out;
        }
        r = firmware_set_read_manifest(res->restored, &res->installed, err, err_size);
        if (r < 0)
                goto out;
        r = firmware_txn_install(
            &(struct firmware_txn_request){.shared_dir = o->tftp_root,
                                           .source_dir = res->restored,
                                           .set = &res->installed,
                                           .listed_in = "SHA256SUMS",
                                           .op = "rollback",
                                           .serial = "before-rollback",
                                           .lock = &lock,
                                           .undo_used = res->backup,
                                           .undo_used_size = sizeof(res->backup)},
            err, err_size);
        if (r < 0)
                goto out;
        res->unchanged = r == 1;
        r = verify_or_undo(o, &res->installed, res->backup, &lock, res, err, err_size);
out:
        lock_drop(&lock, res);
        return r < 0 ? r : 0;
}

int firmware_fleet_recover(const struct fleet_options *o, struct fleet_result *res, char *err,
                           size_t err_size)
{
        struct cluster_lock lock = {0};
        int r;

        memset(res, 0, sizeof(*res));
        if (err && err_size)
                err[0] = '\0';
        r = lock_take(o, "recover", &lock, res, err, err_size);
        if (r < 0)
                return r;
        res->recovered = firmware_txn_recover(o->tftp_root, &lock, err, err_size);
        lock_drop(&lock, res);
        return res->recovered < 0 ? res->recovered : 0;
}
