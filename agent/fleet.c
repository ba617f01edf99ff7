/* The fleet as the NAS sees it; see fleet.h. */
#include "fleet.h"
#include "beneath.h"
#include "bootcfg.h"
#include "generation.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

_printf_(2, 3) static void add_reason(struct fleet_row *row, const char *fmt, ...)
{
        size_t len = strlen(row->reason);
        va_list ap;

        row->attention = true;
        if (len && len + 2 < sizeof(row->reason)) {
                memcpy(row->reason + len, "; ", 3);
                len += 2;
        }
        if (len + 1 >= sizeof(row->reason))
                return;
        va_start(ap, fmt);
        vsnprintf(row->reason + len, sizeof(row->reason) - len, fmt, ap);
        va_end(ap);
}

int fleet_name_check(const char *name, char *why, size_t why_size, char expected[16])
{
        const char *hex = name;
        bool upper = false, prefix = false;
        size_t len;

        why[0] = '\0';
        expected[0] = '\0';
        if (name[0] == '.')
                return 0;
        if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
                prefix = true;
                hex += 2;
        }
        len = strlen(hex);
        if (len == 0 || len > 16)
                return 0;
        for (const char *p = hex; *p; p++) {
                if (!isxdigit((unsigned char)*p))
                        return 0;
                if (isupper((unsigned char)*p))
                        upper = true;
        }
        if (!prefix && !upper && len == 8)
                return 0;
        /* The name the bootloader asks for: the low 32 bits, 8 lower-case digits. */
        snprintf(expected, 16, "%0*d%s", len < 8 ? (int)(8 - len) : 0, 0,
                 len > 8 ? hex + len - 8 : hex);
        if (len >= 8)
                snprintf(expected, 16, "%s", hex + len - 8);
        for (char *p = expected; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        if (prefix)
                snprintf(why, why_size, "\"0x\" prefix: the bootloader asks for %s/", expected);
        else if (upper)
                snprintf(why, why_size, "upper case: the bootloader asks for %s/ (lower case)",
                         expected);
        else if (len < 8)
                snprintf(why, why_size,
                         "%zu digits: leading zeros dropped, the bootloader asks for %s/", len,
                         expected);
        else
                snprintf(why, why_size, "%zu digits: the bootloader asks for the low 32 bits, %s/",
                         len, expected);
        return 1;
}

/* Disk space under DFD's entry NAME (a folder or file, never followed through a symlink). */
static uint64_t space_at(int dfd, const char *name, unsigned depth)
{
        _cleanup_close_ int fd = -1;
        struct dirent *de;
        struct stat st;
        uint64_t sum;
        DIR *d;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        sum = (uint64_t)st.st_blocks * 512u;
        if (!S_ISDIR(st.st_mode) || depth > 16)
                return sum;
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sum;
        d = fdopendir(fd);
        if (!d)
                return sum;
        TAKE_FD(fd);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        sum += space_at(dirfd(d), de->d_name, depth + 1);
        closedir(d);
        return sum;
}

static uint64_t gen_space(int bfd)
{
        _cleanup_close_ int sfd = openat_beneath(bfd, GEN_STORE, O_RDONLY | O_DIRECTORY, 0);
        struct dirent *de;
        uint64_t sum = 0;
        DIR *d;

        if (sfd < 0)
                return 0;
        d = fdopendir(sfd);
        if (!d)
                return 0;
        TAKE_FD(sfd);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "gen-", 4) == 0)
                        sum += space_at(dirfd(d), de->d_name, 0);
        closedir(d);
        return sum;
}

static long age_of(int bfd, unsigned gen, time_t now)
{
        char rel[64];
        struct stat st;

        snprintf(rel, sizeof(rel), "%s/gen-%u/%s", GEN_STORE, gen, GEN_RECORD);
        if (fstatat(bfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -1;
        return now >= st.st_mtime ? (long)(now - st.st_mtime) : 0;
}

static void load_generations(const struct fleet_view_options *o, const char *dir, int bfd,
                             time_t now, struct fleet_row *row)
{
        _cleanup_free_ unsigned *gens = NULL;
        size_t n = 0;

        row->newest_status = -1;
        if (gen_list(dir, &gens, &n) < 0)
                n = 0;
        row->gens = (unsigned)n;
        for (size_t i = 0; i < n; i++) {
                struct gen_record rec;
                bool newest = i + 1 == n;

                if (gen_record_load(dir, gens[i], &rec, NULL) < 0) {
                        if (newest) {
                                row->newest = gens[i];
                                add_reason(row, "generation %u: record unreadable", gens[i]);
                        }
                        continue;
                }
                switch (rec.status) {
                case GEN_PENDING:
                        row->pending++;
                        row->pending_gen = gens[i];
                        row->pending_age = age_of(bfd, gens[i], now);
                        break;
                case GEN_GOOD:
                        row->good++;
                        break;
                case GEN_BAD:
                        row->bad++;
                        break;
                case GEN_ROLLED_BACK:
                        row->rolled_back++;
                        break;
                default:
                        row->unconfirmed++;
                        break;
                }
                if (newest) {
                        row->newest = gens[i];
                        row->newest_status = rec.status;
                        row->newest_age = age_of(bfd, gens[i], now);
                        snprintf(row->newest_kernel, sizeof(row->newest_kernel), "%s",
                                 rec.kernel_to);
                        if (!row->board[0] && rec.model[0]) {
                                const char *b = bootcfg_board_name(rec.model);

                                snprintf(row->board, sizeof(row->board), "%s", b ? b : "");
                        }
                }
        }
        row->confirm_timeout = row->identity_r == 0 && row->id.confirm_timeout
                                   ? row->id.confirm_timeout
                                   : o->confirm_timeout;
        if (row->pending_gen && row->pending_age >= 0 &&
            (unsigned long)row->pending_age >
                (unsigned long)row->confirm_timeout + o->reboot_grace) {
                row->pending_overdue = true;
                add_reason(row, "generation %u pending for %lds (confirm timeout %us + %us reboot)",
                           row->pending_gen, row->pending_age, row->confirm_timeout,
                           o->reboot_grace);
        }
        if (row->newest && row->newest_status == GEN_BAD)
                add_reason(row, "generation %u is bad", row->newest);
        else if (row->newest && row->newest_status == GEN_ROLLED_BACK)
                add_reason(row, "generation %u was rolled back", row->newest);
        else if (row->newest && row->newest_status == GEN_UNCONFIRMED)
                add_reason(row, "generation %u is unconfirmed", row->newest);
}

static int present(int bfd, const char *name)
{
        while (*name == '/')
                name++;
        if (!bootcfg_name_inside(name))
                return -EXDEV;
        return beneath_is_file(bfd, name);
}

/* What config.txt makes this Pi boot, evaluated for its model and serial. */
static void load_boot(const char *dir, int bfd, const char *model, struct fleet_row *row)
{
        struct bootcfg_files *fs = calloc(1, sizeof(*fs));
        struct bootcfg_result *res = calloc(1, sizeof(*res));
        struct bootcfg_diag *diag = calloc(1, sizeof(*diag));
        const struct bootcfg_target pi = {.model = model, .serial = row->name};
        const char *e;
        int r;

        if (!fs || !res || !diag) {
                row->boot_r = -ENOMEM;
                goto out;
        }
        bootcfg_diag_init(diag, "config.txt");
        r = bootcfg_files_load(fs, dir, "config.txt", diag);
        if (r >= 0)
                r = bootcfg_evaluate_files(fs, &pi, res, diag);
        e = bootcfg_diag_error(diag);
        row->boot_r = r < 0 ? r : e ? -EINVAL : 0;
        if (row->boot_r < 0) {
                snprintf(row->boot_error, sizeof(row->boot_error), "%s",
                         e ? e : strerror(-row->boot_r));
                add_reason(row, "%s", row->boot_error);
                goto out;
        }
        snprintf(row->kernel, sizeof(row->kernel), "%s", res->kernel);
        row->kernel_present = present(bfd, res->kernel) == 1;
        if (!row->kernel_present)
                add_reason(row, "kernel %s is not in the folder", res->kernel);
        if (res->n_initramfs > 0) {
                snprintf(row->initramfs, sizeof(row->initramfs), "%s", res->initramfs[0]);
                row->initramfs_present = true;
                for (size_t i = 0; i < res->n_initramfs; i++) {
                        char name[2 * BOOTCFG_NAME_MAX + 2];

                        /* Relative to os_prefix unless it starts with "/". */
                        snprintf(name, sizeof(name), "%s%s",
                                 res->initramfs[i][0] == '/' ? "" : res->os_prefix,
                                 res->initramfs[i]);
                        if (present(bfd, name) != 1) {
                                row->initramfs_present = false;
                                add_reason(row, "initramfs %s is not in the folder", name);
                        }
                }
        }
out:
        if (fs)
                bootcfg_files_free(fs);
        free(fs);
        free(res);
        free(diag);
}

static const struct fleet_pi *find_pi(const struct fleet_status *st, const char *serial)
{
        size_t lo = 0, hi = st->npis;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(st->pis[mid].serial, serial);

                if (c == 0)
                        return &st->pis[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static void load_row(const struct fleet_view_options *o, struct fleet_view *v,
                     struct fleet_row *row)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int bfd = -1;
        char why[256];

        if (asprintf(&dir, "%s/%s", v->tftp_root, row->name) < 0) {
                add_reason(row, "out of memory");
                return;
        }
        bfd = beneath_open_dir(dir);
        if (bfd < 0) {
                add_reason(row, "%s: %s", dir, strerror(-bfd));
                return;
        }
        if (fleet_name_check(row->name, why, sizeof(why), row->expected)) {
                row->misnamed = true;
                add_reason(row, "misnamed: %s", why);
        } else if (!firmware_fleet_serial_valid(row->name)) {
                row->misnamed = true;
                add_reason(row, "misnamed: a Pi's folder (.netroot/ inside) that is no serial: "
                                "the bootloader asks for 8 lower-case hex digits");
        }
        row->identity_r = identity_load(dir, &row->id, NULL);
        if (row->identity_r == 0) {
                const char *b = bootcfg_board_name(row->id.model);

                snprintf(row->board, sizeof(row->board), "%s", b ? b : "");
                if (!row->misnamed && !streq(row->id.serial, row->name))
                        add_reason(row, "identity record is of serial %s", row->id.serial);
        }
        load_generations(o, dir, bfd, v->now, row);
        row->gen_bytes = gen_space(bfd);
        if (row->identity_r == 0 && row->id.model[0])
                load_boot(dir, bfd, row->id.model, row);
        else
                row->boot_r = -ENODATA; /* model unknown: the Pi never ran the agent */
        if (row->misnamed)
                return;
        row->fw = v->fw_r == 0 ? find_pi(&v->fw, row->name) : NULL;
        if (row->fw && row->fw->skew)
                add_reason(row,
                           "firmware skew: boots its own start.elf %s%.12s, the root's "
                           "bootcode.bin came with %.12s",
                           row->fw->version[0] ? "" : "sha256 ",
                           row->fw->version[0] ? row->fw->version : row->fw->start_sha256,
                           v->fw.root_version[0] ? v->fw.root_version : "an unknown set");
        if (row->fw && row->fw->own && row->fw->pairs != 1)
                add_reason(row, "start/fixup mismatch: %s", row->fw->pairs_why);
}

static int cmp_row(const void *a, const void *b)
{
        return strcmp(((const struct fleet_row *)a)->name, ((const struct fleet_row *)b)->name);
}

void fleet_view_free(struct fleet_view *v)
{
        free(v->rows);
        v->rows = NULL;
        v->n = 0;
        firmware_fleet_status_free(&v->fw);
}

/* The Pi folders at the TFTP root (and misnamed ones that look like Pi folders), sorted. */
static int list_folders(const struct fleet_view_options *o, struct fleet_view *v, char *err,
                        size_t err_size)
{
        struct dirent *de;
        DIR *d = opendir(o->tftp_root);
        int r = 0;

        if (!d) {
                r = -errno;
                snprintf(err, err_size, "%s: %s", o->tftp_root, strerror(-r));
                return r;
        }
        while ((de = readdir(d))) {
                char why[256], expected[16], rel[FLEET_NAME_MAX + 16];
                struct stat st;

                if (de->d_name[0] == '.' || strlen(de->d_name) >= FLEET_NAME_MAX ||
                    fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                snprintf(rel, sizeof(rel), "%s/%s", de->d_name, GEN_STORE);
                if (!firmware_fleet_serial_valid(de->d_name) &&
                    !fleet_name_check(de->d_name, why, sizeof(why), expected) &&
                    faccessat(dirfd(d), rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* another folder (overlays/, a backup): not a Pi's */
                if (v->n % 64 == 0) {
                        struct fleet_row *rows = realloc(v->rows, (v->n + 64) * sizeof(*rows));

                        if (!rows) {
                                r = -ENOMEM;
                                snprintf(err, err_size, "out of memory");
                                break;
                        }
                        v->rows = rows;
                }
                memset(&v->rows[v->n], 0, sizeof(v->rows[0]));
                snprintf(v->rows[v->n].name, sizeof(v->rows[0].name), "%s", de->d_name);
                v->n++;
        }
        closedir(d);
        if (r == 0 && v->n)
                qsort(v->rows, v->n, sizeof(v->rows[0]), cmp_row);
        return r;
}

/* What concerns the whole TFTP root (firmware at the root, the cluster lock), into FAKE. */
static void load_root(const struct fleet_view_options *o, struct fleet_view *v,
                      struct fleet_row *fake)
{
        v->fw_r = firmware_fleet_status(o->tftp_root, &v->fw, v->fw_error, sizeof(v->fw_error));
        if (v->fw_r < 0)
                add_reason(fake, "firmware: %s", v->fw_error);
        else {
                for (unsigned i = 0; i < v->fw.nroot; i++)
                        if (streq(v->fw.root[i].name, "bootcode.bin"))
                                v->bootcode = &v->fw.root[i];
                if (!v->bootcode)
                        add_reason(fake, "no bootcode.bin at the TFTP root");
                if (v->fw.root_pairs == 0)
                        add_reason(fake, "the root's start/fixup pairs mismatch: %s",
                                   v->fw.root_pairs_why);
                if (v->fw.txn == 1)
                        add_reason(fake, "a firmware switch is pending (netrootctl firmware "
                                         "recover)");
        }
        v->lock_r = cluster_lock_read(o->tftp_root, &v->lock);
        if (v->lock_r == 0 && v->lock.stale_at && v->now > v->lock.stale_at) {
                v->lock_stale = true;
                add_reason(fake, "the cluster lock of %s@%s is stale", v->lock.serial,
                           v->lock.host);
        }
}

int fleet_view_load(const struct fleet_view_options *o, struct fleet_view *v, char *err,
                    size_t err_size)
{
        struct fleet_row fake = {0};
        int r;

        memset(v, 0, sizeof(*v));
        snprintf(v->tftp_root, sizeof(v->tftp_root), "%s", o->tftp_root);
        v->now = o->now ? o->now : time(NULL);
        r = list_folders(o, v, err, err_size);
        if (r < 0) {
                fleet_view_free(v);
                return r;
        }
        load_root(o, v, &fake);
        for (size_t i = 0; i < v->n; i++) {
                load_row(o, v, &v->rows[i]);
                if (v->rows[i].misnamed)
                        v->misnamed++;
                else
                        v->pis++;
                if (v->rows[i].attention)
                        v->attention_rows++;
        }
        v->attention = fake.attention || v->attention_rows > 0;
        snprintf(v->reason, sizeof(v->reason), "%s", fake.reason);
        return 0;
}
