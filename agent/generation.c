/* The generation store; see generation.h. */
#include "generation.h"

#include "beneath.h"
#include "fileio.h"
#include "kvfile.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#define RECORD_MAX  (64 * 1024)
#define PENDING_MAX 4096

static const char *const status_names[] = {"pending",     "good",        "bad",
                                           "rolled-back", "unconfirmed", NULL};

const char *gen_status_to_string(enum gen_status s)
{
        return (unsigned)s < ARRAY_SIZE(status_names) - 1 ? status_names[s] : "unknown";
}

int gen_status_from_string(const char *s, enum gen_status *out)
{
        for (size_t i = 0; status_names[i]; i++)
                if (streq(s, status_names[i])) {
                        *out = (enum gen_status)i;
                        return 0;
                }
        return -EINVAL;
}

/* Written in this order. Names a rollback acts on are KV_NAME: inside the boot folder (or, for
 * shared_backup, the shared folder), on read and on write. */
static const struct kv_field record_fields[] = {
    KV_UINT_FIELD(struct gen_record, gen, KV_REQUIRED | KV_NONZERO),
    KV_UINT_FIELD(struct gen_record, layout, 0),
    KV_STR_FIELD(struct gen_record, created, 0),
    KV_STR_FIELD(struct gen_record, kernel_from, 0),
    KV_STR_FIELD(struct gen_record, kernel_to, 0),
    KV_NAME_FIELD(struct gen_record, initramfs_from, 0),
    KV_NAME_FIELD(struct gen_record, initramfs_to, 0),
    KV_ENUM_FIELD(struct gen_record, status, KV_REQUIRED, status_names),
    KV_STR_FIELD(struct gen_record, reason, 0),
    KV_STR_FIELD(struct gen_record, packaging, 0),
    KV_STR_FIELD(struct gen_record, model, 0),
    KV_STR_FIELD(struct gen_record, serial, 0),
    KV_NAME_FIELD(struct gen_record, cmdline_name, 0),
    KV_NAME_FIELD(struct gen_record, final, 0),
    KV_BOOL_FIELD(struct gen_record, final_existed, 0),
    KV_BOOL_FIELD(struct gen_record, tryboot, 0),
    KV_NAME_FIELD(struct gen_record, shared_backup, 0),
    KV_STR_FIELD(struct gen_record, trial, 0),
    KV_STR_FIELD(struct gen_record, host, 0),
};

static const struct kv_field pending_fields[] = {
    KV_UINT_FIELD(struct gen_pending, gen, KV_REQUIRED | KV_NONZERO),
    KV_STR_FIELD(struct gen_pending, kernel, 0),
    KV_STR_FIELD(struct gen_pending, created, 0),
};

int gen_record_parse(const char *text, size_t len, const char *file, struct gen_record *r,
                     struct error *err)
{
        memset(r, 0, sizeof(*r));
        return kv_parse(text, len, file, record_fields, ARRAY_SIZE(record_fields), r, err);
}

int gen_record_format(const struct gen_record *r, char **out, size_t *out_len, struct error *err)
{
        return kv_format(record_fields, ARRAY_SIZE(record_fields), r, out, out_len, err);
}

char *gen_store_path(const char *boot_dir)
{
        char *p;

        return asprintf(&p, "%s/%s", boot_dir, GEN_STORE) < 0 ? NULL : p;
}

char *gen_dir_path(const char *boot_dir, unsigned gen)
{
        char *p;

        return asprintf(&p, "%s/%s/gen-%u", boot_dir, GEN_STORE, gen) < 0 ? NULL : p;
}

/* ".netroot/gen-N[.tmp]/NAME" relative to the boot folder. */
static char *gen_rel(unsigned gen, bool tmp, const char *name)
{
        char *p;

        return asprintf(&p, "%s/gen-%u%s%s%s", GEN_STORE, gen, tmp ? ".tmp" : "", name ? "/" : "",
                        name ? name : "") < 0
                   ? NULL
                   : p;
}

static int open_boot(const char *boot_dir, struct error *err)
{
        int fd = beneath_open_dir(boot_dir);

        return fd < 0 ? error_set(err, fd, "%s: %s", boot_dir, strerror(-fd)) : fd;
}

int gen_record_load(const char *boot_dir, unsigned gen, struct gen_record *r, struct error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *rel = gen_rel(gen, false, GEN_RECORD), *shown = NULL;
        int k;

        memset(r, 0, sizeof(*r));
        if (!rel || asprintf(&shown, "%s/%s", boot_dir, rel) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        fd = open_boot(boot_dir, err);
        if (fd < 0)
                return fd;
        k = kv_load_at(fd, rel, shown, RECORD_MAX, record_fields, ARRAY_SIZE(record_fields), r,
                       err);
        if (k < 0)
                return k;
        if (r->gen != gen)
                return error_set(err, -EBADMSG, "%s:1: gen=%u in the folder of gen %u", shown,
                                 r->gen, gen);
        return 0;
}

int gen_record_save(const char *boot_dir, const struct gen_record *r, struct error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *rel = gen_rel(r->gen, false, GEN_RECORD);

        if (!rel)
                return error_set(err, -ENOMEM, "out of memory");
        fd = open_boot(boot_dir, err);
        if (fd < 0)
                return fd;
        return kv_save_at(fd, rel, record_fields, ARRAY_SIZE(record_fields), r, 0644, err);
}

/* "gen-N" -> N; with TMP_OK also "gen-N.tmp" (*TMP says which). */
static bool parse_gen_name(const char *name, bool tmp_ok, unsigned *gen, bool *tmp)
{
        char buf[32];
        unsigned long v;
        size_t n;

        *tmp = false;
        if (strncmp(name, "gen-", 4) != 0 || strlen(name) >= sizeof(buf))
                return false;
        snprintf(buf, sizeof(buf), "%s", name + 4);
        n = strlen(buf);
        if (tmp_ok && n > 4 && streq(buf + n - 4, ".tmp")) {
                buf[n - 4] = '\0';
                *tmp = true;
        }
        if (parse_uint(buf, &v) < 0 || v == 0 || v > 1000000000UL || buf[0] == '0')
                return false;
        *gen = (unsigned)v;
        return true;
}

static int cmp_uint(const void *a, const void *b)
{
        unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

        return x < y ? -1 : x > y;
}

/* The store's folder entries; WANT_TMP: only gen-N.tmp, else only gen-N (ALL: both). */
static int scan(const char *boot_dir, int want, unsigned **gens, size_t *n)
{
        _cleanup_close_ int bfd = -1, sfd = -1;
        unsigned *list = NULL;
        size_t count = 0, cap = 0;
        struct dirent *de;
        DIR *d;

        *gens = NULL;
        *n = 0;
        bfd = beneath_open_dir(boot_dir);
        if (bfd < 0)
                return bfd == -ENOENT ? 0 : bfd;
        sfd = openat_beneath(bfd, GEN_STORE, O_RDONLY | O_DIRECTORY, 0);
        if (sfd < 0)
                return sfd == -ENOENT ? 0 : sfd;
        d = fdopendir(TAKE_FD(sfd));
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                unsigned g;
                bool tmp;

                if (!parse_gen_name(de->d_name, want != 0, &g, &tmp))
                        continue;
                if ((want == 1 && !tmp) || (want == 0 && tmp))
                        continue;
                if (count == cap) {
                        unsigned *nl = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*nl));
                        if (!nl) {
                                free(list);
                                closedir(d);
                                return -ENOMEM;
                        }
                        list = nl;
                }
                list[count++] = g;
        }
        closedir(d);
        if (count)
                qsort(list, count, sizeof(*list), cmp_uint);
        *gens = list;
        *n = count;
        return 0;
}

int gen_list(const char *boot_dir, unsigned **gens, size_t *n)
{
        return scan(boot_dir, 0, gens, n);
}

/* ---- making a generation ----------------------------------------------------------------------
 */

static void utc_stamp(char *buf, size_t size)
{
        time_t now = time(NULL);
        struct tm tm;

        gmtime_r(&now, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* .netroot itself: a folder, never a symlink (everything of ours goes in there). */
static int open_store(int bfd, bool create, struct error *err, const char *boot_dir)
{
        int sfd;

        if (create && mkdirat(bfd, GEN_STORE, 0755) < 0 && errno != EEXIST)
                return error_set(err, -errno, "%s/%s: %s", boot_dir, GEN_STORE, strerror(errno));
        if (create)
                (void)fsync_dir(bfd);
        sfd = openat_beneath(bfd, GEN_STORE, O_RDONLY | O_DIRECTORY, 0);
        if (sfd < 0)
                return error_set(err, sfd, "%s/%s: %s", boot_dir, GEN_STORE,
                                 sfd == -ELOOP ? "a symlink (refused, never followed)"
                                               : strerror(-sfd));
        return sfd;
}

int gen_begin(const char *boot_dir, unsigned *gen, struct error *err)
{
        _cleanup_close_ int bfd = -1, sfd = -1;
        _cleanup_free_ unsigned *all = NULL;
        size_t n;
        unsigned next;
        int r;

        bfd = open_boot(boot_dir, err);
        if (bfd < 0)
                return bfd;
        sfd = open_store(bfd, true, err, boot_dir);
        if (sfd < 0)
                return sfd;
        r = scan(boot_dir, 2, &all, &n);
        if (r < 0)
                return error_set(err, r, "%s/%s: %s", boot_dir, GEN_STORE, strerror(-r));
        next = n ? all[n - 1] + 1 : 1;
        /* mkdir is the reservation: a second writer gets EEXIST and takes the next number. */
        for (int attempt = 0; attempt < 100; attempt++, next++) {
                char name[48];

                snprintf(name, sizeof(name), "gen-%u", next);
                if (faccessat(sfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                snprintf(name, sizeof(name), "gen-%u.tmp", next);
                if (mkdirat(sfd, name, 0755) == 0) {
                        *gen = next;
                        return fsync_dir(sfd);
                }
                if (errno != EEXIST)
                        return error_set(err, -errno, "%s/%s/%s: %s", boot_dir, GEN_STORE, name,
                                         strerror(errno));
        }
        return error_set(err, -EEXIST, "%s/%s: no free generation number", boot_dir, GEN_STORE);
}

static int copy_into(int bfd, unsigned gen, const char *name, struct manifest *copies,
                     struct error *err, const char *boot_dir)
{
        _cleanup_free_ char *dst = NULL, *inner = NULL;
        char hex[SHA256_HEX_SIZE];
        int r;

        if (asprintf(&inner, "%s/%s", GEN_COPY_DIR, name) < 0 || !(dst = gen_rel(gen, true, inner)))
                return error_set(err, -ENOMEM, "out of memory");
        r = beneath_is_file(bfd, name);
        if (r == 0)
                return 0; /* not there: nothing to keep */
        if (r < 0)
                return error_set(err, r, "saving %s/%s: %s", boot_dir, name, file_strerror(r));
        r = beneath_copy(bfd, name, bfd, dst, 0);
        if (r < 0)
                return error_set(err, r, "saving %s/%s: %s", boot_dir, name, file_strerror(r));
        /* The copy's own hash, under the name it has in the boot folder: what a rollback checks
         * the copy against. */
        r = beneath_sha256(bfd, dst, hex);
        if (r >= 0)
                r = manifest_add(copies, name, hex);
        return r < 0 ? error_set(err, r, "hashing the copy of %s: %s", name, strerror(-r)) : 1;
}

int gen_commit(const char *boot_dir, unsigned gen, const char *const *copy_names, size_t n_copy,
               const char *const *hash_names, size_t n_hash, struct gen_record *rec,
               struct error *err)
{
        _cleanup_close_ int bfd = -1;
        _cleanup_free_ char *tmp = gen_rel(gen, true, NULL), *fin = gen_rel(gen, false, NULL);
        _cleanup_free_ char *m_copies = gen_rel(gen, true, GEN_COPIES);
        _cleanup_free_ char *m_boot = gen_rel(gen, true, GEN_MANIFEST);
        _cleanup_free_ char *m_rec = gen_rel(gen, true, GEN_RECORD);
        struct manifest copies = {0}, booted = {0};
        int r = 0;

        if (!tmp || !fin || !m_copies || !m_boot || !m_rec)
                return error_set(err, -ENOMEM, "out of memory");
        bfd = open_boot(boot_dir, err);
        if (bfd < 0)
                return bfd;
        for (size_t i = 0; i < n_copy && r >= 0; i++) {
                if (!copy_names[i][0] || manifest_find(&copies, copy_names[i]))
                        continue;
                if (!name_inside(copy_names[i])) {
                        r = error_set(err, -EXDEV, "%s: not a file inside %s: refused",
                                      copy_names[i], boot_dir);
                        break;
                }
                r = copy_into(bfd, gen, copy_names[i], &copies, err, boot_dir);
        }
        for (size_t i = 0; i < n_hash && r >= 0; i++) {
                if (!hash_names[i][0] || manifest_find(&booted, hash_names[i]))
                        continue;
                r = manifest_add_file(&booted, bfd, hash_names[i]);
                if (r < 0)
                        r = error_set(err, r, "hashing %s/%s: %s", boot_dir, hash_names[i],
                                      file_strerror(r));
        }
        /* The copies are booted files too; their hashes are the same. */
        for (size_t i = 0; i < copies.n && r >= 0; i++)
                if (!manifest_find(&booted, copies.e[i].name))
                        r = manifest_add(&booted, copies.e[i].name, copies.e[i].sha256);
        if (r >= 0)
                r = manifest_save_at(bfd, m_copies, &copies, err);
        if (r >= 0)
                r = manifest_save_at(bfd, m_boot, &booted, err);
        manifest_free(&copies);
        manifest_free(&booted);
        if (r < 0)
                return r;
        rec->gen = gen;
        rec->layout = GEN_LAYOUT;
        if (!rec->created[0])
                utc_stamp(rec->created, sizeof(rec->created));
        r = kv_save_at(bfd, m_rec, record_fields, ARRAY_SIZE(record_fields), rec, 0644, err);
        if (r < 0)
                return r;
        r = beneath_rename(bfd, tmp, fin);
        return r < 0 ? error_set(err, r, "%s/%s -> %s: %s", boot_dir, tmp, fin, strerror(-r)) : 0;
}

int gen_remove(const char *boot_dir, unsigned gen, bool tmp)
{
        _cleanup_close_ int bfd = beneath_open_dir(boot_dir);
        _cleanup_free_ char *rel = gen_rel(gen, tmp, NULL);

        if (bfd < 0)
                return bfd;
        if (!rel)
                return -ENOMEM;
        return beneath_remove_tree(bfd, rel);
}

int gen_abort(const char *boot_dir, unsigned gen)
{
        return gen_remove(boot_dir, gen, true);
}

int gen_clean_partial(const char *boot_dir, unsigned keep_gen)
{
        _cleanup_free_ unsigned *tmps = NULL;
        size_t n;
        int r = scan(boot_dir, 1, &tmps, &n), removed = 0;

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (tmps[i] == keep_gen)
                        continue;
                r = gen_remove(boot_dir, tmps[i], true);
                if (r == -ENOTDIR)
                        continue; /* a file of that name is not a folder we left */
                if (r < 0)
                        return r;
                removed++;
        }
        return removed;
}

/* ---- what a generation holds ------------------------------------------------------------------
 */

void gen_copies_free(struct gen_copies *c)
{
        for (size_t i = 0; i < c->m.n && c->paths; i++)
                free(c->paths[i]);
        free(c->paths);
        free(c->unverified);
        manifest_free(&c->m);
        memset(c, 0, sizeof(*c));
}

int gen_copies_find(const struct gen_copies *c, const char *name)
{
        for (size_t i = 0; i < c->m.n; i++)
                if (streq(c->m.e[i].name, name))
                        return (int)i;
        return -1;
}

/* Layout 1: config.txt, cmdline.txt, tryboot.txt and final.saved in the generation folder,
 * checked against SHA256SUMS where it has the file. */
static int legacy_copies(int bfd, unsigned gen, bool tmp, const struct gen_record *rec,
                         struct gen_copies *c, struct error *err, const char *boot_dir)
{
        const struct {
                const char *copy, *name;
        } legacy[] = {
            {"config.txt", "config.txt"},
            {"cmdline.txt", rec->cmdline_name[0] ? rec->cmdline_name : "cmdline.txt"},
            {"tryboot.txt", "tryboot.txt"},
            {GEN_SAVED_FINAL, rec->final_existed ? rec->final : ""},
        };
        _cleanup_free_ char *mrel = gen_rel(gen, tmp, GEN_MANIFEST);
        struct manifest booted = {0};
        struct error e2;
        int r;

        if (!mrel)
                return -ENOMEM;
        r = manifest_load_at(bfd, mrel, mrel, &booted, &e2);
        if (r < 0 && r != -ENOENT)
                return error_set(err, r, "%s/%s", boot_dir, error_text(&e2));
        c->paths = calloc(ARRAY_SIZE(legacy), sizeof(*c->paths));
        c->unverified = calloc(ARRAY_SIZE(legacy), sizeof(*c->unverified));
        if (!c->paths || !c->unverified) {
                manifest_free(&booted);
                return -ENOMEM;
        }
        for (size_t i = 0; i < ARRAY_SIZE(legacy); i++) {
                _cleanup_free_ char *crel = gen_rel(gen, tmp, legacy[i].copy);
                const struct manifest_entry *e;

                if (!legacy[i].name[0] || !crel || beneath_is_file(bfd, crel) != 1)
                        continue;
                e = manifest_find(&booted, legacy[i].name);
                r = manifest_add(&c->m, legacy[i].name, e ? e->sha256 : "");
                if (r < 0) {
                        manifest_free(&booted);
                        return error_set(err, r, "generation %u: %s: %s", gen, legacy[i].name,
                                         r == -EXDEV ? "not a file inside the boot folder"
                                                     : strerror(-r));
                }
                c->paths[c->m.n - 1] = strdup(legacy[i].copy);
                c->unverified[c->m.n - 1] = !e;
        }
        manifest_free(&booted);
        return 0;
}

int gen_copies_load(const char *boot_dir, unsigned gen, bool tmp, const struct gen_record *rec,
                    struct gen_copies *c, struct error *err)
{
        _cleanup_close_ int bfd = -1;
        _cleanup_free_ char *mrel = gen_rel(gen, tmp, GEN_COPIES), *shown = NULL;
        int r;

        memset(c, 0, sizeof(*c));
        if (!mrel || asprintf(&shown, "%s/%s", boot_dir, mrel) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        bfd = open_boot(boot_dir, err);
        if (bfd < 0)
                return bfd;
        if (rec && rec->layout < 2) {
                r = legacy_copies(bfd, gen, tmp, rec, c, err, boot_dir);
                if (r < 0)
                        gen_copies_free(c);
                return r;
        }
        r = manifest_load_at(bfd, mrel, shown, &c->m, err);
        if (r < 0)
                return r;
        c->paths = calloc(c->m.n + 1, sizeof(*c->paths));
        c->unverified = calloc(c->m.n + 1, sizeof(*c->unverified));
        if (!c->paths || !c->unverified) {
                gen_copies_free(c);
                return error_set(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < c->m.n; i++)
                if (asprintf(&c->paths[i], "%s/%s", GEN_COPY_DIR, c->m.e[i].name) < 0) {
                        c->paths[i] = NULL;
                        gen_copies_free(c);
                        return error_set(err, -ENOMEM, "out of memory");
                }
        return 0;
}

static int verify_one(int bfd, unsigned gen, bool tmp, const struct gen_copies *c, size_t i,
                      struct error *err, const char *boot_dir)
{
        _cleanup_free_ char *crel = gen_rel(gen, tmp, c->paths[i]);
        char hex[SHA256_HEX_SIZE];
        int r;

        if (!crel)
                return error_set(err, -ENOMEM, "out of memory");
        r = beneath_sha256(bfd, crel, hex);
        if (r < 0)
                return error_set(err, r, "the saved copy %s/%s of %s: %s", boot_dir, crel,
                                 c->m.e[i].name, file_strerror(r));
        if (!c->unverified[i] && !streq(hex, c->m.e[i].sha256))
                return error_set(err, -EBADMSG,
                                 "the saved copy %s/%s of %s is damaged: sha256 %.16s… is not "
                                 "the %.16s… it had when saved (refused: nothing restored)",
                                 boot_dir, crel, c->m.e[i].name, hex, c->m.e[i].sha256);
        return 0;
}

int gen_copies_verify(const char *boot_dir, unsigned gen, bool tmp, const struct gen_copies *c,
                      struct error *err)
{
        _cleanup_close_ int bfd = open_boot(boot_dir, err);

        if (bfd < 0)
                return bfd;
        for (size_t i = 0; i < c->m.n; i++) {
                int r = verify_one(bfd, gen, tmp, c, i, err, boot_dir);

                if (r < 0)
                        return r;
        }
        return 0;
}

int gen_copy_restore(const char *boot_dir, unsigned gen, bool tmp, const struct gen_copies *c,
                     size_t i, struct error *err)
{
        _cleanup_close_ int bfd = open_boot(boot_dir, err);
        _cleanup_free_ char *crel = NULL;
        char live[SHA256_HEX_SIZE], saved[SHA256_HEX_SIZE];
        int r;

        if (bfd < 0)
                return bfd;
        crel = gen_rel(gen, tmp, c->paths[i]);
        if (!crel)
                return error_set(err, -ENOMEM, "out of memory");
        r = verify_one(bfd, gen, tmp, c, i, err, boot_dir);
        if (r < 0)
                return r;
        if (beneath_sha256(bfd, crel, saved) == 0 &&
            beneath_sha256(bfd, c->m.e[i].name, live) == 0 && streq(live, saved))
                return 0;
        r = beneath_copy(bfd, crel, bfd, c->m.e[i].name, 0);
        if (r < 0)
                return error_set(err, r, "restoring %s/%s from %s: %s", boot_dir, c->m.e[i].name,
                                 crel, file_strerror(r));
        return 1;
}

int gen_compare_boot(const char *boot_dir, unsigned gen, struct strbuf *report, struct error *err)
{
        _cleanup_close_ int bfd = open_boot(boot_dir, err);
        _cleanup_free_ char *mrel = gen_rel(gen, false, GEN_MANIFEST), *shown = NULL;
        struct manifest m;
        int r;

        if (bfd < 0)
                return bfd;
        if (!mrel || asprintf(&shown, "%s/%s", boot_dir, mrel) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        r = manifest_load_at(bfd, mrel, shown, &m, err);
        if (r < 0)
                return r;
        r = manifest_compare_at(&m, bfd, report);
        manifest_free(&m);
        return r;
}

/* ---- pending, status, pruning -----------------------------------------------------------------
 */

int gen_pending_read(const char *boot_dir, struct gen_pending *p, struct error *err)
{
        _cleanup_close_ int bfd = -1;
        _cleanup_free_ char *shown = NULL;

        memset(p, 0, sizeof(*p));
        if (asprintf(&shown, "%s/%s/%s", boot_dir, GEN_STORE, GEN_PENDING_FILE) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        bfd = open_boot(boot_dir, err);
        if (bfd < 0)
                return bfd;
        return kv_load_at(bfd, GEN_STORE "/" GEN_PENDING_FILE, shown, PENDING_MAX, pending_fields,
                          ARRAY_SIZE(pending_fields), p, err);
}

int gen_pending_write(const char *boot_dir, unsigned gen, const char *kernel, struct error *err)
{
        _cleanup_close_ int bfd = -1;
        struct gen_pending p = {.gen = gen};

        snprintf(p.kernel, sizeof(p.kernel), "%s", kernel);
        utc_stamp(p.created, sizeof(p.created));
        bfd = open_boot(boot_dir, err);
        if (bfd < 0)
                return bfd;
        return kv_save_at(bfd, GEN_STORE "/" GEN_PENDING_FILE, pending_fields,
                          ARRAY_SIZE(pending_fields), &p, 0644, err);
}

int gen_pending_clear(const char *boot_dir, unsigned gen)
{
        _cleanup_close_ int bfd = beneath_open_dir(boot_dir);
        struct gen_pending p;
        struct error e;
        int r;

        if (bfd < 0)
                return bfd;
        r = gen_pending_read(boot_dir, &p, &e);
        if (r == -ENOENT)
                return 0;
        /* A damaged pending file cannot be confirmed by anybody: drop it. */
        if (r < 0 || p.gen == gen)
                return beneath_unlink(bfd, GEN_STORE "/" GEN_PENDING_FILE);
        return 0;
}

/* Reasons end up in records and journal fields: one line, no control characters. */
static void one_line(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

int gen_mark(const char *boot_dir, unsigned gen, enum gen_status status, const char *reason,
             struct error *err)
{
        struct gen_record rec;
        int r;

        r = gen_record_load(boot_dir, gen, &rec, err);
        if (r < 0)
                return r;
        rec.status = status;
        snprintf(rec.reason, sizeof(rec.reason), "%s", reason ? reason : "");
        one_line(rec.reason);
        r = gen_record_save(boot_dir, &rec, err);
        if (r < 0)
                return r;
        return status == GEN_PENDING ? 0 : gen_pending_clear(boot_dir, gen);
}

int gen_prune(const char *boot_dir, unsigned keep)
{
        _cleanup_free_ unsigned *gens = NULL;
        unsigned kept = 0;
        size_t n;
        int removed = 0, r;

        r = gen_list(boot_dir, &gens, &n);
        if (r < 0 || n == 0)
                return r;
        /* Newest first; the newest generation is the current one and always stays. */
        for (size_t i = n - 1; i-- > 0;) {
                struct gen_record rec;
                struct error e;

                if (gen_record_load(boot_dir, gens[i], &rec, &e) < 0)
                        continue; /* a bad record is the admin's to look at, not ours to drop */
                if (rec.status != GEN_GOOD)
                        continue;
                if (kept < keep) {
                        kept++;
                        continue;
                }
                r = gen_remove(boot_dir, gens[i], false);
                if (r < 0)
                        return r;
                removed++;
        }
        return removed;
}
