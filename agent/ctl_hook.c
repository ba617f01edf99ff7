/* netrootctl hook: the package's entry points from dpkg and apt (hooks/zz-netroot,
 * hooks/netroot-apt-pre, hooks/netroot-apt-post). Each one must never make apt fail a kernel
 * install for an upgrade that was refused or rolled back: only a boot folder the Pi may not boot
 * from is an error.
 *
 *   kernel-postinst VER [IMAGE]  /etc/kernel/postinst.d: the guarded upgrade to VER, when VER is
 *                                the flavour this Pi boots
 *   apt-pre [PKG...]             before dpkg runs: the boot folder saved as a generation, and a
 *                                marker naming it for apt-post
 *   apt-post                     after dpkg: the boot folder checked, put back to the marker's
 *                                generation when inconsistent, a summary, the marker removed
 *   check                        the consistency check alone */
#include "bootcfg.h"
#include "cluster_lock.h"
#include "ctl.h"
#include "fileio.h"
#include "firmware_set.h"
#include "flavour.h"
#include "generation.h"
#include "initrd.h"
#include "piinfo.h"
#include "rootpath.h"
#include "tftp_fetch.h"
#include "txn.h"
#include "upgrade.h"
#include "util.h"

#include <dirent.h>
#include <fnmatch.h>
#include <getopt.h>
#include <sys/stat.h>
#include <time.h>

/* Fixed (not [agent] run_dir): the apt hooks test for it without starting any program. */
#define HOOK_MARKER      "/run/netroot/apt-kernel"
#define HOOK_CONFIG_MAX  (1024 * 1024)
#define HOOK_LOCK_WAIT   60
#define HOOK_MANIFEST_NM 256

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl hook kernel-postinst VERSION [IMAGE]\n"
                "       netrootctl hook apt-pre [PACKAGE...]\n"
                "       netrootctl hook apt-post\n"
                "       netrootctl hook check\n\n"
                "Entry points of the package's kernel and apt hooks. kernel-postinst runs the\n"
                "guarded upgrade to VERSION when it is the flavour this Pi boots; apt-pre saves\n"
                "the boot folder as a generation before dpkg runs; apt-post checks the boot\n"
                "folder afterwards and rolls back to that generation when it is inconsistent.\n"
                "Exit 0 unless the boot folder is left in a state the Pi may not boot from.\n");
}

static char *path_join(const char *dir, const char *name)
{
        char *p;

        while (*name == '/')
                name++;
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static bool is_file(const char *path)
{
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* What this Pi boots, as its firmware reads config.txt now. */
struct boot_view {
        char model[PIINFO_MODEL_MAX];
        char serial[PIINFO_SERIAL_MAX];
        char *boot_dir; /* with the --root prefix */
        char *config_text;
        size_t config_len;
        struct bootcfg_result res;
        struct flavour fl;
        char kver[FLAVOUR_VER_MAX]; /* the kernel version the initramfs must fit; "" unknown */
};

static void boot_view_free(struct boot_view *v)
{
        free(v->boot_dir);
        free(v->config_text);
}

/* Returns 0, or a negative errno with WHY filled. */
static int boot_view_read(struct ctl_context *ctx, struct boot_view *v, char *why, size_t size)
{
        _cleanup_free_ char *cfg = NULL;
        struct bootcfg_target pi = {0};
        struct bootcfg_diag diag;
        const char *ev;
        int r;

        memset(v, 0, sizeof(*v));
        r = piinfo_model(ctx->root, ctx->cfg.agent.model, v->model, sizeof(v->model));
        if (r < 0) {
                snprintf(why, size, "cannot read the Pi model from /proc/device-tree/model: %s",
                         strerror(-r));
                return r;
        }
        r = piinfo_serial(ctx->root, ctx->cfg.agent.serial, v->serial, sizeof(v->serial));
        if (r < 0) {
                snprintf(why, size, "cannot read the Pi serial from /proc/cpuinfo: %s",
                         r == -ENODATA ? "no Serial line" : strerror(-r));
                return r;
        }
        v->boot_dir = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        cfg = v->boot_dir ? path_join(v->boot_dir, "config.txt") : NULL;
        if (!cfg)
                return -ENOMEM;
        r = file_read_all(cfg, HOOK_CONFIG_MAX, &v->config_text, &v->config_len);
        if (r < 0) {
                snprintf(why, size, "cannot read %s: %s", cfg, strerror(-r));
                return r;
        }
        pi.model = v->model;
        pi.serial = v->serial;
        bootcfg_diag_init(&diag, cfg);
        r = bootcfg_evaluate(v->config_text, v->config_len, &pi, &v->res, &diag);
        if (r < 0 || bootcfg_diag_error(&diag)) {
                snprintf(why, size, "%s",
                         bootcfg_diag_error(&diag) ? bootcfg_diag_error(&diag)
                                                   : "config.txt cannot be evaluated");
                return r < 0 ? r : -EINVAL;
        }
        r = flavour_detect(ctx->root, &v->res, &v->fl, why, size);
        if (r < 0)
                return r;
        ev = flavour_explicit_version(v->res.kernel);
        if (ev)
                snprintf(v->kver, sizeof(v->kver), "%s", ev);
        else if (v->fl.kind)
                (void)flavour_newest_version(ctx->root, &v->fl, v->kver, sizeof(v->kver));
        return 0;
}

/* 1 when the Pi can boot what config.txt names (kernel file present, every initramfs present
 * and passing the iSCSI root check), 0 when not (WHY says what is wrong), <0 on errors (WHY). */
static int boot_consistent(struct ctl_context *ctx, struct boot_view *v, char *why, size_t size)
{
        _cleanup_free_ char *kernel = NULL;
        int r;

        r = boot_view_read(ctx, v, why, size);
        if (r < 0)
                return r;
        kernel = path_join(v->boot_dir, v->res.kernel);
        if (!kernel)
                return -ENOMEM;
        if (!is_file(kernel)) {
                snprintf(why, size, "config.txt boots kernel %s, which is missing", v->res.kernel);
                return 0;
        }
        if (v->res.n_initramfs == 0) {
                snprintf(why, size,
                         "config.txt loads no initramfs: the iSCSI root cannot be "
                         "mounted");
                return 0;
        }
        for (size_t i = 0; i < v->res.n_initramfs; i++) {
                _cleanup_free_ char *f = path_join(v->boot_dir, v->res.initramfs[i]);
                char w[2048];

                if (!f)
                        return -ENOMEM;
                if (!is_file(f)) {
                        snprintf(why, size, "config.txt loads initramfs %s, which is missing",
                                 v->res.initramfs[i]);
                        return 0;
                }
                r = initrd_passes_check(ctx->root, f, v->kver[0] ? v->kver : NULL, w, sizeof(w));
                if (r != 1) {
                        snprintf(why, size, "initramfs %s %s: %s", v->res.initramfs[i],
                                 r == 0 ? "fails the iSCSI root check" : "cannot be read", w);
                        return 0;
                }
        }
        snprintf(why, size, "config.txt boots %s with initramfs %s (passes the iSCSI root check)",
                 v->res.kernel, v->res.initramfs[0]);
        return 1;
}

/* ---- the marker of an apt run ---------------------------------------------------------------- */

static int marker_read(struct ctl_context *ctx, unsigned *gen)
{
        _cleanup_free_ char *p = root_path(ctx->root, HOOK_MARKER), *text = NULL;
        unsigned long v;
        const char *s;
        int r;

        *gen = 0;
        if (!p)
                return -ENOMEM;
        r = file_read_all(p, 64 * 1024, &text, NULL);
        if (r < 0)
                return r;
        s = strstr(text, "gen=");
        if (s && (s == text || s[-1] == '\n')) {
                char num[16];
                size_t n = strcspn(s + 4, "\n");

                snprintf(num, sizeof(num), "%.*s", (int)(n < 15 ? n : 15), s + 4);
                if (parse_uint(num, &v) == 0 && v <= 1000000000UL)
                        *gen = (unsigned)v;
        }
        return 0;
}

static int marker_write(struct ctl_context *ctx, unsigned gen, int argc, char **argv)
{
        _cleanup_free_ char *p = root_path(ctx->root, HOOK_MARKER), *dir = NULL, *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        if (!p || !(dir = root_path(ctx->root, "/run/netroot")))
                return -ENOMEM;
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return r;
        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "gen=%u\npackages=", gen);
        for (int i = 0; i < argc; i++)
                fprintf(f, "%s%s", i ? " " : "", argv[i]);
        fprintf(f, "\n");
        if (fclose(f) != 0)
                return -ENOMEM;
        return file_write_atomic(p, text, len, 0644);
}

static int marker_remove(struct ctl_context *ctx)
{
        _cleanup_free_ char *p = root_path(ctx->root, HOOK_MARKER);

        if (!p)
                return -ENOMEM;
        return unlink(p) < 0 && errno != ENOENT ? -errno : 0;
}

/* ---- apt-pre: the boot folder saved as a generation ------------------------------------------ */

static void utc_now(char *buf, size_t size)
{
        time_t t = time(NULL);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The files the Pi boots, for the manifest (the same set the upgrade hashes). */
static size_t manifest_names(const struct boot_view *v, const char **names, size_t max,
                             char storage[][HOOK_MANIFEST_NM])
{
        static const char *const patterns[] = {"*.dtb", "bootcode.bin", "start*.elf", "fixup*.dat"};
        const char *fixed[2 + BOOTCFG_INITRAMFS_FILES_MAX + 2];
        size_t n = 0, nf = 0;
        struct dirent *de;
        DIR *d;

        fixed[nf++] = "config.txt";
        fixed[nf++] = v->res.cmdline;
        fixed[nf++] = "tryboot.txt";
        fixed[nf++] = v->res.kernel;
        for (size_t i = 0; i < v->res.n_initramfs; i++)
                fixed[nf++] = v->res.initramfs[i];
        for (size_t i = 0; i < nf && n < max; i++) {
                const char *s = fixed[i];
                while (*s == '/')
                        s++;
                snprintf(storage[n], HOOK_MANIFEST_NM, "%s", s);
                names[n] = storage[n];
                n++;
        }
        d = opendir(v->boot_dir);
        if (!d)
                return n;
        while ((de = readdir(d)) && n < max)
                for (size_t i = 0; i < ARRAY_SIZE(patterns); i++)
                        if (fnmatch(patterns[i], de->d_name, 0) == 0) {
                                snprintf(storage[n], HOOK_MANIFEST_NM, "%s", de->d_name);
                                names[n] = storage[n];
                                n++;
                                break;
                        }
        closedir(d);
        return n;
}

static int backup_shared(struct ctl_context *ctx, const struct boot_view *v, struct gen_record *rec,
                         char *why, size_t size)
{
        _cleanup_free_ char *shared = root_path(ctx->root, ctx->cfg.upgrade.shared_dir);
        struct cluster_lock lock = {0};
        struct cluster_lock_holder h = {0};
        struct firmware_set set;
        char bdir[4096], err[512] = "";
        size_t sl;
        int r, rr;

        if (!shared)
                return -ENOMEM;
        r = cluster_lock_acquire(&lock, shared, v->serial, 600, HOOK_LOCK_WAIT, &h);
        if (r == -EBUSY) {
                snprintf(why, size, "shared firmware locked by %s@%s pid %ld", h.serial, h.host,
                         h.pid);
                return r;
        }
        if (r < 0) {
                snprintf(why, size, "cannot lock the shared firmware in %s: %s", shared,
                         strerror(-r));
                return r;
        }
        r = firmware_set_backup_locked(shared, v->serial, &lock, bdir, sizeof(bdir), &set, err,
                                       sizeof(err));
        rr = cluster_lock_release(&lock);
        if (r >= 0 && rr < 0) {
                /* Checked right before the backup got its name, lost afterwards: the backup is
                 * complete, but say so. */
                printf("netroot: WARNING: releasing the shared firmware lock in %s: %s\n", shared,
                       rr == -ESTALE ? "it was no longer ours (taken over after its TTL)"
                                     : strerror(-rr));
        }
        if (r < 0) {
                snprintf(why, size, "backing up the shared firmware in %s: %s", shared,
                         err[0] ? err : strerror(-r));
                return r;
        }
        sl = strlen(shared);
        snprintf(rec->shared_backup, sizeof(rec->shared_backup), "%s",
                 strncmp(bdir, shared, sl) == 0 && bdir[sl] == '/' ? bdir + sl + 1 : bdir);
        return 0;
}

/* Saves the boot folder as generation *GEN (status good: it is what the Pi booted to run apt).
 * The initramfs config.txt loads is kept as a hard link, so a package that rewrites it in place
 * (update-initramfs -u) cannot take the old one away. */
static int backup_generation(struct ctl_context *ctx, const struct boot_view *v, const char *reason,
                             unsigned *gen, char *why, size_t size)
{
        static char storage[GEN_MANIFEST_FILES][HOOK_MANIFEST_NM];
        const char *names[GEN_MANIFEST_FILES];
        _cleanup_free_ char *store = NULL, *gdir = NULL, *tmpdir = NULL;
        struct gen_record rec = {0};
        const char *cur = v->res.n_initramfs ? v->res.initramfs[0] : "";
        const char *copies[] = {"config.txt", v->res.cmdline, "tryboot.txt"};
        const char *as[] = {"config.txt", "cmdline.txt", "tryboot.txt"};
        int r;

        while (*cur == '/')
                cur++;
        store = gen_store_path(v->boot_dir);
        if (!store)
                return -ENOMEM;
        r = mkdir_parents(store, 0755);
        if (r >= 0)
                r = gen_next_number(v->boot_dir, gen);
        if (r < 0) {
                snprintf(why, size, "generation store %s: %s", store, strerror(-r));
                return r;
        }
        gdir = gen_dir_path(v->boot_dir, *gen);
        if (!gdir || asprintf(&tmpdir, "%s.tmp", gdir) < 0)
                return -ENOMEM;
        if (mkdir(tmpdir, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                snprintf(why, size, "mkdir %s: %s", tmpdir, strerror(-r));
                return r;
        }
        if (ctx->cfg.upgrade.shared_dir[0]) {
                r = backup_shared(ctx, v, &rec, why, size);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < ARRAY_SIZE(copies); i++) {
                _cleanup_free_ char *src = path_join(v->boot_dir, copies[i]);
                _cleanup_free_ char *dst = path_join(tmpdir, as[i]);

                if (!src || !dst) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (i > 0 && !is_file(src))
                        continue; /* no cmdline.txt or tryboot.txt: nothing to save */
                r = gen_copy_file(src, dst, false);
                if (r < 0) {
                        snprintf(why, size, "saving %s: %s", src, strerror(-r));
                        goto fail;
                }
                if (i == 2)
                        rec.tryboot = true;
        }
        if (cur[0]) {
                _cleanup_free_ char *src = path_join(v->boot_dir, cur);
                _cleanup_free_ char *dst = path_join(tmpdir, GEN_SAVED_FINAL);

                if (!src || !dst) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (is_file(src)) {
                        r = gen_copy_file(src, dst, true);
                        if (r < 0) {
                                snprintf(why, size, "saving %s: %s", src, strerror(-r));
                                goto fail;
                        }
                        snprintf(rec.final, sizeof(rec.final), "%s", cur);
                        rec.final_existed = true;
                }
        }
        r = gen_manifest_write(tmpdir, v->boot_dir, names,
                               manifest_names(v, names, ARRAY_SIZE(names), storage));
        if (r < 0) {
                snprintf(why, size, "writing the manifest in %s: %s", tmpdir, strerror(-r));
                goto fail;
        }
        rec.gen = *gen;
        utc_now(rec.created, sizeof(rec.created));
        snprintf(rec.kernel_from, sizeof(rec.kernel_from), "%s", v->kver);
        snprintf(rec.kernel_to, sizeof(rec.kernel_to), "%s", v->kver);
        snprintf(rec.initramfs_from, sizeof(rec.initramfs_from), "%s", cur);
        snprintf(rec.initramfs_to, sizeof(rec.initramfs_to), "%s", cur);
        rec.status = GEN_GOOD;
        snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
        snprintf(rec.packaging, sizeof(rec.packaging), "%s", packaging_to_string(v->fl.packaging));
        snprintf(rec.model, sizeof(rec.model), "%s", v->model);
        snprintf(rec.serial, sizeof(rec.serial), "%s", v->serial);
        snprintf(rec.cmdline_name, sizeof(rec.cmdline_name), "%s", v->res.cmdline);
        r = gen_record_save(NULL, tmpdir, &rec);
        if (r < 0) {
                snprintf(why, size, "writing the generation record: %s", strerror(-r));
                goto fail;
        }
        if (rename(tmpdir, gdir) < 0) {
                r = -errno;
                snprintf(why, size, "rename %s -> %s: %s", tmpdir, gdir, strerror(-r));
                goto fail;
        }
        return 0;
fail:
        (void)gen_remove_dir(tmpdir);
        return r;
}

static int hook_apt_pre(struct ctl_context *ctx, int argc, char **argv)
{
        _cleanup_free_ char *pkgs = NULL;
        struct boot_view v;
        char why[1024], reason[GEN_VALUE_MAX];
        unsigned gen = 0;
        size_t len = 0;
        FILE *f;
        int r;

        /* Several dpkg runs in one apt run: the first one's backup is the one to go back to. */
        if (marker_read(ctx, &gen) == 0)
                return CTL_EXIT_OK;
        f = open_memstream(&pkgs, &len);
        if (!f)
                return CTL_EXIT_FAILED;
        for (int i = 0; i < argc; i++)
                fprintf(f, "%s%s", i ? " " : "", argv[i]);
        fclose(f);
        if (upgrade_recover(ctx->root, &ctx->cfg, &ctx->log) < 0)
                printf("netroot: WARNING: an interrupted upgrade could not be rolled back; "
                       "see netrootctl history\n");
        r = boot_view_read(ctx, &v, why, sizeof(why));
        if (r == 0) {
                snprintf(reason, sizeof(reason), "boot folder before apt installed %.400s",
                         pkgs && pkgs[0] ? pkgs : "kernel packages");
                r = backup_generation(ctx, &v, reason, &gen, why, sizeof(why));
        }
        if (r < 0) {
                gen = 0;
                printf("netroot: WARNING: no backup of the boot folder before this apt run: %s\n",
                       why);
        } else {
                printf("netroot: %s in this run: boot folder %s saved as generation %u\n",
                       pkgs && pkgs[0] ? pkgs : "kernel packages", v.boot_dir, gen);
        }
        boot_view_free(&v);
        r = marker_write(ctx, gen, argc, argv);
        if (r < 0)
                printf("netroot: WARNING: cannot write %s: %s\n", HOOK_MARKER, strerror(-r));
        fflush(stdout);
        return CTL_EXIT_OK; /* never stop apt for a backup */
}

/* ---- apt-post and the kernel hook: check, roll back when needed ----------------------------- */

static int rollback_to(struct ctl_context *ctx, const char *boot_dir, unsigned gen)
{
        _cleanup_free_ char *shared = NULL;
        struct rollback_options o = {.boot_dir = boot_dir, .root = ctx->root, .to = gen};

        if (ctx->cfg.upgrade.shared_dir[0]) {
                shared = root_path(ctx->root, ctx->cfg.upgrade.shared_dir);
                o.shared_dir = shared;
        }
        return upgrade_rollback(&o);
}

/* The boot folder is checked; when inconsistent and GEN (the apt run's backup) exists, put back.
 * Returns 1 consistent (as found or after the rollback), 0 the Pi may not boot. */
static int ensure_bootable(struct ctl_context *ctx, unsigned gen, bool *rolled, char *state,
                           size_t size)
{
        _cleanup_free_ char *boot = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        struct boot_view v;
        char why[2048];
        int r;

        *rolled = false;
        if (!boot)
                return 0;
        r = boot_consistent(ctx, &v, why, sizeof(why));
        boot_view_free(&v);
        if (r == 1) {
                snprintf(state, size, "%s", why);
                return 1;
        }
        printf("netroot: the boot folder %s is inconsistent: %s\n", boot, why);
        if (!gen) {
                snprintf(state, size, "%s (no backup of this apt run to go back to)", why);
                return 0;
        }
        printf("netroot: putting back generation %u, saved before this apt run\n", gen);
        fflush(stdout);
        r = rollback_to(ctx, boot, gen);
        fflush(stdout);
        if (r != UPGRADE_DONE) {
                snprintf(state, size, "%s; the rollback to generation %u failed", why, gen);
                return 0;
        }
        *rolled = true;
        r = boot_consistent(ctx, &v, why, sizeof(why));
        boot_view_free(&v);
        snprintf(state, size, "%s", why);
        return r == 1;
}

static void print_block(const char *title, const char *const *lines, size_t n)
{
        printf("\n"
               "**********************************************************************\n"
               "netroot: %s\n",
               title);
        for (size_t i = 0; i < n; i++)
                if (lines[i] && lines[i][0])
                        printf("netroot:   %s\n", lines[i]);
        printf("**********************************************************************\n\n");
        fflush(stdout);
}

static int hook_apt_post(struct ctl_context *ctx)
{
        _cleanup_free_ char *boot = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        struct upgrade_pending pend;
        char state[2200], line[2400], pend_line[512] = "", back_line[256] = "";
        unsigned gen = 0;
        bool rolled;
        int r;

        if (marker_read(ctx, &gen) < 0)
                return CTL_EXIT_OK; /* not a run that touched kernel packages */
        if (!boot)
                return CTL_EXIT_FAILED;
        if (upgrade_recover(ctx->root, &ctx->cfg, &ctx->log) < 0)
                printf("netroot: WARNING: an interrupted upgrade could not be rolled back\n");
        r = ensure_bootable(ctx, gen, &rolled, state, sizeof(state));
        if (gen)
                snprintf(back_line, sizeof(back_line),
                         "backup before this apt run: generation %u (netrootctl rollback --to %u)",
                         gen, gen);
        if (!r) {
                const char *lines[] = {state, back_line,
                                       "the Pi may NOT boot: fix the boot folder, then run "
                                       "netrootctl doctor; netrootctl history lists generations"};
                print_block("CRITICAL: the boot folder is not bootable after this apt run", lines,
                            ARRAY_SIZE(lines));
                return CTL_EXIT_FAILED; /* the marker stays: the next apt run checks again */
        }
        if (!rolled && upgrade_pending_read(boot, &pend) == 0)
                snprintf(pend_line, sizeof(pend_line),
                         "generation %u (kernel %s) pending until netrootd confirms the boot "
                         "after the reboot",
                         pend.gen, pend.kernel);
        snprintf(line, sizeof(line), "%s", state);
        if (rolled) {
                const char *lines[] = {line, back_line, "see netrootctl history"};
                print_block("WARNING: boot folder put back to its state before this apt run", lines,
                            ARRAY_SIZE(lines));
        } else {
                printf("netroot: boot folder checked after this apt run: %s\n", line);
                if (pend_line[0])
                        printf("netroot: %s\n", pend_line);
                if (back_line[0])
                        printf("netroot: %s\n", back_line);
        }
        r = marker_remove(ctx);
        if (r < 0)
                printf("netroot: cannot remove %s: %s\n", HOOK_MARKER, strerror(-r));
        fflush(stdout);
        return CTL_EXIT_OK;
}

static const struct logger *events_logger(struct logger *log)
{
        if (access("/run/systemd/journal/socket", F_OK) < 0)
                return NULL;
        logger_init(log, "netrootctl", LOG_TARGET_JOURNAL);
        return log;
}

/* The reason recorded in the newest generation (the one the failed upgrade made). */
static void newest_reason(const char *boot, char *out, size_t size)
{
        _cleanup_free_ unsigned *gens = NULL;
        struct gen_record rec;
        char err[256];
        size_t n;

        out[0] = '\0';
        if (gen_list(boot, &gens, &n) < 0 || n == 0)
                return;
        if (gen_record_load(boot, gens[n - 1], &rec, err, sizeof(err)) == 0 &&
            rec.status == GEN_ROLLED_BACK)
                snprintf(out, size, "generation %u: %.300s%s", rec.gen, rec.reason,
                         strlen(rec.reason) > 300 ? "…" : "");
}

static int hook_kernel_postinst(struct ctl_context *ctx, const char *ver)
{
        struct upgrade_options o = {
            .root = ctx->root,
            .cfg = &ctx->cfg,
            .kernel = ver,
            .lock_wait_sec = HOOK_LOCK_WAIT,
            .fetch = tftp_fetch_sha256,
        };
        struct boot_view v;
        struct logger events;
        struct txn t;
        char why[1024], state[2200], failed[1200], title[300], err[256];
        unsigned gen = 0;
        bool rolled;
        int r, rc;

        r = boot_view_read(ctx, &v, why, sizeof(why));
        if (r < 0) {
                printf("netroot: kernel %s: not switched to: %s\n", ver, why);
                boot_view_free(&v);
                return CTL_EXIT_OK;
        }
        if (!flavour_version_matches(&v.fl, ver)) {
                printf("netroot: kernel %s is not for this Pi's kernel file %s; skipped\n", ver,
                       v.fl.kernel_file);
                boot_view_free(&v);
                return CTL_EXIT_OK;
        }
        if (!v.fl.kind && v.fl.packaging != PACKAGING_RASPI_FIRMWARE &&
            !streq(ver, v.fl.explicit_version)) {
                printf("netroot: kernel %s installed; config.txt boots %s explicitly, so the Pi "
                       "stays on it (to move: point kernel= at vmlinuz-%s, then netrootctl "
                       "upgrade)\n",
                       ver, v.fl.kernel_file, ver);
                boot_view_free(&v);
                return CTL_EXIT_OK;
        }
        printf("netroot: kernel %s installed: guarded upgrade of %s\n", ver, v.boot_dir);
        fflush(stdout);
        o.events = events_logger(&events);
        if (upgrade_recover(ctx->root, &ctx->cfg, &ctx->log) < 0) {
                snprintf(state, sizeof(state), "journal %s/%s/%s", v.boot_dir, GEN_STORE, TXN_FILE);
                const char *lines[] = {"an interrupted upgrade could not be rolled back", state,
                                       "the Pi may NOT boot; see netrootctl history"};
                print_block("CRITICAL: kernel upgrade not possible", lines, ARRAY_SIZE(lines));
                boot_view_free(&v);
                return CTL_EXIT_FAILED;
        }
        rc = upgrade_run(&o);
        fflush(stdout);
        if (rc == UPGRADE_DONE) {
                printf("netroot: the Pi boots kernel %s after the next reboot\n", ver);
                boot_view_free(&v);
                return CTL_EXIT_OK;
        }
        /* upgrade_run says "refused" also when its own rollback failed: the journal tells. */
        if (txn_read(v.boot_dir, &t, err, sizeof(err)) != -ENOENT) {
                snprintf(state, sizeof(state), "the journal %s/%s/%s is kept", v.boot_dir,
                         GEN_STORE, TXN_FILE);
                const char *lines[] = {"the upgrade failed and its ROLLBACK FAILED (see above)",
                                       state,
                                       "the Pi may NOT boot: run netrootctl history and "
                                       "netrootctl rollback before rebooting"};
                print_block("CRITICAL: boot folder in an unknown state", lines, ARRAY_SIZE(lines));
                boot_view_free(&v);
                return CTL_EXIT_FAILED;
        }
        if (rc == UPGRADE_ROLLED_BACK)
                newest_reason(v.boot_dir, failed, sizeof(failed));
        else
                snprintf(failed, sizeof(failed),
                         "refused before anything was changed (the FAIL "
                         "lines above say why)");
        if (!failed[0])
                snprintf(failed, sizeof(failed), "see the step that failed above");
        (void)marker_read(ctx, &gen);
        r = ensure_bootable(ctx, gen, &rolled, state, sizeof(state));
        boot_view_free(&v);
        if (!r) {
                const char *lines[] = {failed, state,
                                       "the Pi may NOT boot: run netrootctl history and "
                                       "netrootctl rollback before rebooting"};
                snprintf(title, sizeof(title), "CRITICAL: kernel %s not set up, boot folder broken",
                         ver);
                print_block(title, lines, ARRAY_SIZE(lines));
                return CTL_EXIT_FAILED;
        }
        snprintf(title, sizeof(title),
                 "WARNING: kernel %s is installed but the Pi will NOT boot it", ver);
        {
                char still[2300];
                snprintf(still, sizeof(still), "the Pi still boots its old kernel: %s", state);
                const char *lines[] = {failed, still,
                                       "details: netrootctl history; after fixing: netrootctl "
                                       "upgrade --kernel VERSION"};
                print_block(title, lines, ARRAY_SIZE(lines));
        }
        return CTL_EXIT_OK;
}

int ctl_hook(struct ctl_context *ctx, int argc, char **argv)
{
        struct boot_view v;
        char why[2048];
        int r;

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
        }
        if (streq(argv[1], "kernel-postinst")) {
                if (argc < 3 || argc > 4 || !argv[2][0]) {
                        usage(stderr);
                        return CTL_EXIT_USAGE;
                }
                return hook_kernel_postinst(ctx, argv[2]);
        }
        if (streq(argv[1], "apt-pre"))
                return hook_apt_pre(ctx, argc - 2, argv + 2);
        if (streq(argv[1], "apt-post") && argc == 2)
                return hook_apt_post(ctx);
        if (streq(argv[1], "check") && argc == 2) {
                r = boot_consistent(ctx, &v, why, sizeof(why));
                boot_view_free(&v);
                printf("%s: %s\n", r == 1 ? "consistent" : "NOT bootable", why);
                return r == 1 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
        }
        usage(stderr);
        return CTL_EXIT_USAGE;
}
