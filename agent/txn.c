/* The transaction journal; see txn.h. */
#include "txn.h"

#include "beneath.h"
#include "fileio.h"
#include "generation.h"
#include "kvfile.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#define TXN_MAX (16 * 1024)

static const struct kv_field fields[] = {
    KV_UINT_FIELD(struct txn, gen, KV_REQUIRED | KV_NONZERO),
    KV_STR_FIELD(struct txn, step, KV_REQUIRED),
    KV_STR_FIELD(struct txn, kernel, 0),
    KV_NAME_FIELD(struct txn, new_file, 0),
    KV_NAME_FIELD(struct txn, final, 0),
    KV_BOOL_FIELD(struct txn, final_existed, 0),
    KV_BOOL_FIELD(struct txn, final_touched, 0),
    KV_NAME_FIELD(struct txn, edited, 0),
    KV_BOOL_FIELD(struct txn, config_touched, 0),
    KV_BOOL_FIELD(struct txn, tryboot_touched, 0),
    KV_NAME_FIELD(struct txn, shared_backup, 0),
    KV_LONG_FIELD(struct txn, pid, 0),
    KV_STR_FIELD(struct txn, boot_id, 0),
    KV_STR_FIELD(struct txn, started, 0),
    KV_STR_FIELD(struct txn, command, 0),
};

char *txn_path(const char *boot_dir)
{
        char *p;

        return asprintf(&p, "%s/%s/%s", boot_dir, GEN_STORE, TXN_FILE) < 0 ? NULL : p;
}

int txn_parse(const char *text, size_t len, const char *file, struct txn *t, struct error *err)
{
        int r;

        memset(t, 0, sizeof(*t));
        r = kv_parse(text, len, file, fields, ARRAY_SIZE(fields), t, err);
        /* A journal of an agent before includes were followed edited config.txt only. */
        if (r == 0 && t->config_touched && !t->edited[0])
                snprintf(t->edited, sizeof(t->edited), "config.txt");
        return r;
}

int txn_format(const struct txn *t, char **out, size_t *out_len, struct error *err)
{
        return kv_format(fields, ARRAY_SIZE(fields), t, out, out_len, err);
}

int txn_write(const char *boot_dir, const struct txn *t, struct error *err)
{
        _cleanup_close_ int bfd = beneath_open_dir(boot_dir);

        if (bfd < 0)
                return error_set(err, bfd, "%s: %s", boot_dir, strerror(-bfd));
        return kv_save_at(bfd, GEN_STORE "/" TXN_FILE, fields, ARRAY_SIZE(fields), t, 0644, err);
}

int txn_read(const char *boot_dir, struct txn *t, struct error *err)
{
        _cleanup_close_ int bfd = beneath_open_dir(boot_dir);
        _cleanup_free_ char *shown = txn_path(boot_dir), *text = NULL;
        size_t len;
        int r;

        memset(t, 0, sizeof(*t));
        if (bfd < 0)
                return error_set(err, bfd, "%s: %s", boot_dir, strerror(-bfd));
        if (!shown)
                return error_set(err, -ENOMEM, "out of memory");
        r = beneath_read(bfd, GEN_STORE "/" TXN_FILE, TXN_MAX, &text, &len);
        if (r < 0)
                return error_set(err, r, "%s: %s", shown, file_strerror(r));
        return txn_parse(text, len, shown, t, err);
}

int txn_remove(const char *boot_dir)
{
        _cleanup_close_ int bfd = beneath_open_dir(boot_dir);

        return bfd < 0 ? bfd : beneath_unlink(bfd, GEN_STORE "/" TXN_FILE);
}

/* ---- rollback ---------------------------------------------------------------------------------
 */

static void noted(struct strbuf *done, const char *fmt, const char *name)
{
        if (!done)
                return;
        if (done->len)
                sb_puts(done, "; ");
        sb_printf(done, fmt, name);
}

/* Puts NAME back from the generation's copy; MISSING_OK: no copy means nothing to do. */
static int restore_name(const char *boot_dir, unsigned gen, bool tmp, const struct gen_copies *c,
                        const char *name, struct strbuf *done, struct error *err)
{
        int i = gen_copies_find(c, name), r;

        if (i < 0)
                return error_set(err, -ENOENT, "generation %u has no saved copy of %s to put back",
                                 gen, name);
        r = gen_copy_restore(boot_dir, gen, tmp, c, (size_t)i, err);
        if (r > 0)
                noted(done, "%s restored", name);
        return r < 0 ? r : 0;
}

static int remove_name(int bfd, const char *boot_dir, const char *name, struct strbuf *done,
                       struct error *err)
{
        int r = beneath_is_file(bfd, name);

        if (r <= 0)
                return r == 0 || r == -ENOENT
                           ? 0
                           : error_set(err, r, "%s/%s: %s", boot_dir, name, file_strerror(r));
        r = beneath_unlink(bfd, name);
        if (r < 0)
                return error_set(err, r, "removing %s/%s: %s", boot_dir, name, strerror(-r));
        noted(done, "%s removed", name);
        return 0;
}

static bool gen_complete(int bfd, unsigned gen)
{
        char rel[64];
        struct stat st;

        snprintf(rel, sizeof(rel), "%s/gen-%u", GEN_STORE, gen);
        return fstatat(bfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int rollback_files(int bfd, const char *boot_dir, const struct txn *t, bool tmp,
                          const struct gen_copies *c, struct strbuf *done, struct error *err)
{
        int r;

        /* The old initramfs first: config.txt may still name it. */
        if (t->final[0] && t->final_touched && t->final_existed) {
                r = restore_name(boot_dir, t->gen, tmp, c, t->final, done, err);
                if (r < 0)
                        return r;
        }
        if (t->config_touched) {
                r = restore_name(boot_dir, t->gen, tmp, c, t->edited[0] ? t->edited : "config.txt",
                                 done, err);
                if (r < 0)
                        return r;
        }
        if (t->tryboot_touched) {
                if (gen_copies_find(c, "tryboot.txt") >= 0)
                        r = restore_name(boot_dir, t->gen, tmp, c, "tryboot.txt", done, err);
                else
                        r = remove_name(bfd, boot_dir, "tryboot.txt", done, err);
                if (r < 0)
                        return r;
        }
        /* The config files name the old initramfs again: the new one can go. */
        if (t->final[0] && t->final_touched && !t->final_existed) {
                r = remove_name(bfd, boot_dir, t->final, done, err);
                if (r < 0)
                        return r;
        }
        if (t->new_file[0])
                return remove_name(bfd, boot_dir, t->new_file, done, err);
        return 0;
}

int txn_rollback(const char *boot_dir, const struct txn *t, const char *reason, struct strbuf *done,
                 struct error *err)
{
        _cleanup_close_ int bfd = beneath_open_dir(boot_dir);
        struct gen_copies c = {0};
        struct gen_record rec = {0}, *recp = NULL;
        bool complete, touched;
        int r;

        if (bfd < 0)
                return error_set(err, bfd, "%s: %s", boot_dir, strerror(-bfd));
        complete = gen_complete(bfd, t->gen);
        touched = t->final_touched || t->config_touched || t->tryboot_touched;
        if (complete) {
                r = gen_record_load(boot_dir, t->gen, &rec, err);
                if (r < 0)
                        return r;
                recp = &rec;
        }
        if (touched) {
                r = gen_copies_load(boot_dir, t->gen, !complete, recp, &c, err);
                if (r < 0)
                        return r;
                /* Every copy checked before anything is touched. */
                r = gen_copies_verify(boot_dir, t->gen, !complete, &c, err);
                if (r >= 0)
                        r = rollback_files(bfd, boot_dir, t, !complete, &c, done, err);
                gen_copies_free(&c);
                if (r < 0)
                        return r;
        } else if (t->new_file[0]) {
                r = remove_name(bfd, boot_dir, t->new_file, done, err);
                if (r < 0)
                        return r;
        }
        if (complete) {
                r = gen_mark(boot_dir, t->gen, GEN_ROLLED_BACK, reason, err);
                if (r < 0 && r != -ENOENT)
                        return r;
        } else {
                r = gen_abort(boot_dir, t->gen);
                if (r < 0)
                        return error_set(err, r, "removing generation %u's unfinished folder: %s",
                                         t->gen, strerror(-r));
                (void)gen_pending_clear(boot_dir, t->gen);
        }
        if (done && !done->len)
                sb_puts(done, "nothing had changed");
        r = txn_remove(boot_dir);
        return r < 0 ? error_set(err, r, "removing the transaction journal: %s", strerror(-r)) : 0;
}

static bool all_digits(const char *s, size_t n)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a > b && streq(s + a - b, suffix);
}

/* The temp names the agent writes and a crash can leave: ".NAME.PID.N.tmp" (atomic writes),
 * "NAME.tmp-PID" (copies of older agents), "NAME.netroot-restore", "NAME.netroot-new" (the
 * build's output). Only the boot lock's holder calls this: nobody else is writing them. */
static bool leftover_name(const char *n)
{
        size_t len = strlen(n);
        const char *dash = strrchr(n, '-');

        if (ends_with(n, ".netroot-new") || ends_with(n, ".netroot-restore"))
                return true;
        if (dash && dash - n > 4 && strncmp(dash - 4, ".tmp-", 5) == 0 &&
            all_digits(dash + 1, strlen(dash + 1)))
                return true;
        if (n[0] == '.' && ends_with(n, ".tmp")) {
                /* ".NAME.PID.N.tmp": the two parts before ".tmp" are numbers. */
                const char *end = n + len - 4, *p = end, *q;

                while (p > n && p[-1] != '.')
                        p--;
                if (p <= n + 1 || !all_digits(p, (size_t)(end - p)))
                        return false;
                q = p - 1;
                while (q > n && q[-1] != '.')
                        q--;
                return q > n + 1 && all_digits(q, (size_t)(p - 1 - q));
        }
        return false;
}

static int clean_folder(int dfd)
{
        _cleanup_close_ int fd = dup(dfd);
        struct dirent *de;
        DIR *d;
        int removed = 0;

        if (fd < 0)
                return -errno;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return -errno;
        rewinddir(d);
        while ((de = readdir(d))) {
                struct stat st;

                /* A link at one of our temp names is removed, never followed (unlinkat does not).
                 */
                if (!leftover_name(de->d_name) ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                        removed++;
        }
        closedir(d);
        return removed;
}

static void clean_leftovers(const char *boot_dir, unsigned keep_gen)
{
        _cleanup_close_ int bfd = beneath_open_dir(boot_dir), sfd = -1;

        if (bfd < 0)
                return;
        (void)clean_folder(bfd);
        sfd = openat_beneath(bfd, GEN_STORE, O_RDONLY | O_DIRECTORY, 0);
        if (sfd >= 0)
                (void)clean_folder(sfd);
        (void)gen_clean_partial(boot_dir, keep_gen);
}

/* The journal and the copies live in the store: a link planted in its place would have the
 * recovery read a journal from, and restore copies out of, wherever it points. */
int txn_store_usable(const char *boot_dir, struct error *err)
{
        struct stat st;
        char store[4096];

        snprintf(store, sizeof(store), "%s/%s", boot_dir, GEN_STORE);
        if (lstat(store, &st) < 0)
                return errno == ENOENT ? 0
                                       : error_set(err, -errno, "%s: %s", store, strerror(errno));
        if (S_ISLNK(st.st_mode))
                return error_set(err, -ELOOP,
                                 "%s is a symlink: refusing to use it as the generation store",
                                 store);
        if (!S_ISDIR(st.st_mode))
                return error_set(err, -ENOTDIR,
                                 "%s is not a folder: refusing to use it as the generation store",
                                 store);
        return 0;
}

int txn_recover(const char *boot_dir, struct txn *t, struct strbuf *done, struct error *err)
{
        char reason[256];
        int r;

        r = txn_store_usable(boot_dir, err);
        if (r < 0)
                return r;
        r = txn_read(boot_dir, t, err);
        if (r == -ENOENT) {
                clean_leftovers(boot_dir, 0);
                error_clear(err);
                return 0;
        }
        if (r < 0)
                return r;
        snprintf(reason, sizeof(reason),
                 "interrupted at step %s (pid %ld); rolled back by the next run", t->step, t->pid);
        r = txn_rollback(boot_dir, t, reason, done, err);
        if (r < 0)
                return r;
        clean_leftovers(boot_dir, 0);
        return 1;
}
