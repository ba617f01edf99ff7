/* The admin rollback; see rollback.h. */
#include "rollback.h"

#include "modules_copy.h"

#include "beneath.h"
#include "bootcfg.h"
#include "bootlock.h"
#include "cluster_lock.h"
#include "fileio.h"
#include "firmware_set.h"
#include "firmware_txn.h"
#include "flavour.h"
#include "generation.h"
#include "initrd.h"
#include "msgid.h"
#include "tryboot.h"
#include "txn.h"
#include "util.h"

#include <stdarg.h>

struct rb {
        const struct rollback_options *o;
        const struct report *rep;
        struct rollback_result *r;
        struct gen_record rec;
        struct gen_copies copies;
        unsigned *gens;
        size_t n;
};

static _printf_(3, 4) int fail(struct rb *b, enum rollback_outcome outcome, const char *fmt, ...)
{
        va_list ap;

        b->r->outcome = outcome;
        va_start(ap, fmt);
        vsnprintf(b->r->reason, sizeof(b->r->reason), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool in_force(enum gen_status s)
{
        return s == GEN_PENDING || s == GEN_GOOD || s == GEN_UNCONFIRMED;
}

/* The newest generation still in force; a record that cannot be read is skipped with a
 * warning (it is the admin's to look at, and must not block going back to an older one). */
static int choose_target(struct rb *b)
{
        for (size_t i = b->n; i-- > 0;) {
                struct gen_record rec;
                struct error e;

                if (gen_record_load(b->o->boot_dir, b->gens[i], &rec, &e) < 0) {
                        report_notef(b->rep, "warning: generation %u skipped: %s", b->gens[i],
                                     error_text(&e));
                        continue;
                }
                if (in_force((enum gen_status)rec.status))
                        return (int)b->gens[i];
        }
        return fail(b, ROLLBACK_REFUSED,
                    "no generation to roll back in %s/%s (none pending, unconfirmed or good)",
                    b->o->boot_dir, GEN_STORE);
}

/* The config files as the generation saved them (its copies; an include it did not keep is read
 * from the folder), evaluated for the Pi the generation was made on. */
static int judge_saved(struct rb *b, unsigned target, struct bootcfg_result *res)
{
        struct bootcfg_files *fs = calloc(1, sizeof(*fs));
        struct bootcfg_diag *diag = calloc(1, sizeof(*diag));
        struct bootcfg_target pi = {.model = b->rec.model, .serial = b->rec.serial};
        _cleanup_close_ int bfd = beneath_open_dir(b->o->boot_dir);
        _cleanup_free_ char *gdir = gen_dir_path(b->o->boot_dir, target);
        int r = -ENOMEM;

        if (!fs || !diag || !gdir || bfd < 0)
                goto out;
        bootcfg_diag_init(diag, "config.txt");
        r = bootcfg_files_load(fs, b->o->boot_dir, "config.txt", diag);
        if (r == -ENOENT) {
                /* The live config.txt is gone: the saved one is all there is. */
                bootcfg_files_free(fs);
                bootcfg_diag_init(diag, "config.txt");
                r = bootcfg_files_from_text(fs, "config.txt", "", 0);
                if (r >= 0) {
                        free(fs->boot_dir);
                        fs->boot_dir = strdup(b->o->boot_dir);
                }
        }
        for (size_t i = 0; r >= 0 && i < b->copies.m.n; i++) {
                _cleanup_free_ char *copy = NULL, *text = NULL;
                size_t len;
                int idx = -1;

                for (size_t k = 0; k < fs->n; k++)
                        if (streq(fs->files[k].name, b->copies.m.e[i].name))
                                idx = (int)k;
                if (idx < 0 ||
                    asprintf(&copy, "%s/gen-%u/%s", GEN_STORE, target, b->copies.paths[i]) < 0)
                        continue;
                if (beneath_read(bfd, copy, 1024 * 1024, &text, &len) == 0)
                        r = bootcfg_files_set_text(fs, (unsigned)idx, text, len);
        }
        if (r >= 0)
                r = bootcfg_evaluate_files(fs, &pi, res, diag);
        if (r < 0)
                fail(b, ROLLBACK_REFUSED,
                     "generation %u's config.txt cannot be evaluated for model '%s': %s", target,
                     b->rec.model, strerror(-r));
out:
        if (fs)
                bootcfg_files_free(fs);
        free(fs);
        free(diag);
        return r;
}

/* Every initramfs the restored config files load must exist (now, or from a copy) and pass the
 * initrd check for the generation's kernel. */
static int check_initramfs(struct rb *b, unsigned target, const struct bootcfg_result *res)
{
        /* The kernel the restored config.txt boots, when its name says (vmlinuz-VER); else the
         * one the record says booted before the upgrade. */
        const char *kver = flavour_explicit_version(res->kernel);

        if (!kver)
                kver = b->rec.kernel_from[0] ? b->rec.kernel_from : NULL;
        for (size_t i = 0; i < res->n_initramfs; i++) {
                const char *name = res->initramfs[i];
                _cleanup_free_ char *file = NULL;
                char why[1024];
                int k, idx;

                while (*name == '/')
                        name++;
                idx = gen_copies_find(&b->copies, name);
                if (idx >= 0)
                        k = asprintf(&file, "%s/%s/gen-%u/%s", b->o->boot_dir, GEN_STORE, target,
                                     b->copies.paths[idx]);
                else
                        k = asprintf(&file, "%s/%s", b->o->boot_dir, name);
                if (k < 0)
                        return -ENOMEM;
                k = initrd_passes_check(b->o->root, file, kver, why, sizeof(why));
                if (k == -ENOENT)
                        snprintf(why, sizeof(why), "missing");
                if (k != 1 && !b->o->force)
                        return fail(b, ROLLBACK_REFUSED,
                                    "refused: generation %u boots initramfs %s, and %s %s: %s "
                                    "(--force overrides)",
                                    target, name, file, k == 0 ? "fails the check" : "is unusable",
                                    why);
        }
        return 0;
}

static bool is_config_file(const char *name, const struct bootcfg_result *res)
{
        (void)res;
        return streq(name, "config.txt") || strstr(name, ".txt") != NULL;
}

/* Non-config copies first (the initramfs, the packaging's files), then the text files, then
 * config.txt: it makes the Pi use everything restored before it. */
static int restore_all(struct rb *b, unsigned target, const struct bootcfg_result *res)
{
        for (int pass = 0; pass < 3; pass++)
                for (size_t i = 0; i < b->copies.m.n; i++) {
                        const char *name = b->copies.m.e[i].name;
                        bool cfg = streq(name, "config.txt"), text = is_config_file(name, res);
                        struct error e;
                        int k;

                        if ((pass == 0 && text) || (pass == 1 && (!text || cfg)) ||
                            (pass == 2 && !cfg))
                                continue;
                        k = gen_copy_restore(b->o->boot_dir, target, false, &b->copies, i, &e);
                        if (k < 0)
                                return fail(b, ROLLBACK_PARTIAL, "%s", error_text(&e));
                        if (k > 0)
                                report_notef(b->rep, "  %s restored", name);
                }
        return 0;
}

/* Whether generation TARGET or a later one still in force was a tryboot trial. */
static bool trial_since(const struct rb *b, unsigned target)
{
        for (size_t i = 0; i < b->n; i++) {
                struct gen_record rec;
                struct error e;

                if (b->gens[i] < target ||
                    gen_record_load(b->o->boot_dir, b->gens[i], &rec, &e) < 0)
                        continue;
                if (!streq(rec.trial, TRYBOOT_TRIAL))
                        continue;
                if (b->gens[i] == target || in_force((enum gen_status)rec.status))
                        return true;
        }
        return false;
}

static int restore_firmware(struct rb *b, unsigned target)
{
        _cleanup_free_ char *bdir = NULL;
        struct cluster_lock lock = {0};
        struct cluster_lock_holder h = {0};
        char why[1024] = "";
        int r, rr = 0;

        if (!b->rec.shared_backup[0] || !b->o->shared_dir || !b->o->shared_dir[0]) {
                report_notef(b->rep,
                             "warning: generation %u has no shared firmware backup or no shared "
                             "folder was given (--shared-dir)",
                             target);
                return 0;
        }
        if (asprintf(&bdir, "%s/%s", b->o->shared_dir, b->rec.shared_backup) < 0)
                return -ENOMEM;
        r = cluster_lock_acquire(&lock, b->o->shared_dir, b->rec.serial, 600, 10, &h);
        if (r == -EBUSY)
                return fail(b, ROLLBACK_PARTIAL,
                            "shared firmware locked by %s@%s pid %ld; not restored", h.serial,
                            h.host, h.pid);
        /* Journaled (firmware_txn.h): an interrupted switch is finished or undone first. */
        if (r >= 0) {
                r = firmware_txn_restore(b->o->shared_dir, bdir,
                                         b->rec.serial[0] ? b->rec.serial : "rollback", &lock, why,
                                         sizeof(why));
                rr = lock.held ? cluster_lock_release(&lock) : 0;
        }
        if (r < 0)
                return fail(b, ROLLBACK_PARTIAL, "restoring the shared firmware from %s: %s", bdir,
                            why[0] ? why : strerror(-r));
        if (rr == -ESTALE)
                report_notef(b->rep, "warning: the shared firmware lock was no longer ours "
                                     "(taken over after its TTL)");
        report_notef(b->rep, "  shared firmware %s",
                     r == 1 ? "already matches the backup" : "restored");
        return 0;
}

static void mark_all(struct rb *b, unsigned target)
{
        struct error e;
        char why[128];

        /* Everything after TARGET is undone too. */
        for (size_t i = 0; i < b->n; i++) {
                struct gen_record other;

                if (b->gens[i] <= target ||
                    gen_record_load(b->o->boot_dir, b->gens[i], &other, &e) < 0 ||
                    !in_force((enum gen_status)other.status))
                        continue;
                snprintf(why, sizeof(why), "undone by netrootctl rollback to generation %u",
                         target);
                (void)gen_mark(b->o->boot_dir, b->gens[i], GEN_ROLLED_BACK, why, &e);
        }
        /* A boot already judged bad keeps that verdict and its reason (which kernel came up,
         * what netrootd said): restoring it again adds nothing an admin needs more. */
        if (b->rec.status == GEN_BAD)
                return;
        if (gen_mark(b->o->boot_dir, target, GEN_ROLLED_BACK, "rolled back by netrootctl rollback",
                     &e) < 0)
                report_notef(b->rep, "warning: marking generation %u: %s", target, error_text(&e));
}

static void rolled_back_event(struct rb *b, unsigned target)
{
        if (!b->o->events)
                return;
        log_eventf(b->o->events, LOG_NOTICE, MSGID_UPGRADE_ROLLED_BACK,
                   "MESSAGE=boot folder %s rolled back to generation %u (kernel %s)",
                   b->o->boot_dir, target, b->rec.kernel_from, "NETROOT_KERNEL=%s",
                   b->rec.kernel_from, "NETROOT_GENERATION=%u", target, "NETROOT_STEP=rollback",
                   NULL);
}

/* The generation to go back to, its record, and every copy it keeps checked before anything
 * is touched. Returns the generation, or a negative errno (B->r says why). */
static int load_target(struct rb *b, struct bootcfg_result *res)
{
        unsigned target = b->o->to;
        struct error e;
        int r;

        r = gen_list(b->o->boot_dir, &b->gens, &b->n);
        if (r < 0)
                return fail(b, ROLLBACK_REFUSED, "%s/%s: %s", b->o->boot_dir, GEN_STORE,
                            strerror(-r));
        if (!target) {
                r = choose_target(b);
                if (r < 0)
                        return r;
                target = (unsigned)r;
        }
        b->r->target = target;
        r = gen_record_load(b->o->boot_dir, target, &b->rec, &e);
        if (r < 0)
                return fail(b, r == -ENOENT ? ROLLBACK_USAGE : ROLLBACK_REFUSED,
                            "generation %u: %s", target, error_text(&e));
        snprintf(b->r->kernel, sizeof(b->r->kernel), "%s", b->rec.kernel_from);
        r = gen_copies_load(b->o->boot_dir, target, false, &b->rec, &b->copies, &e);
        if (r >= 0)
                r = gen_copies_verify(b->o->boot_dir, target, false, &b->copies, &e);
        if (r < 0)
                return fail(b, ROLLBACK_REFUSED, "generation %u: %s", target, error_text(&e));
        r = judge_saved(b, target, res);
        if (r >= 0)
                r = check_initramfs(b, target, res);
        return r < 0 ? r : (int)target;
}

/* What restore_all does not: a trial's tryboot.txt, the shared firmware, the records. */
static int finish_restore(struct rb *b, unsigned target)
{
        struct strbuf report = {0};
        struct error e;
        char ver[256];
        int r;

        /* An in-place kernel's modules directory, kept by apt-pre (modules_copy.h). */
        r = modules_restore(b->o->root, b->o->boot_dir, target, ver, sizeof(ver), &e);
        if (r < 0)
                return fail(b, ROLLBACK_PARTIAL, "%s", error_text(&e));
        if (r > 0)
                report_notef(b->rep, "  /lib/modules/%s restored", ver);
        if (!b->rec.tryboot && trial_since(b, target)) {
                /* The generation had no tryboot.txt: the one there now is a trial's. */
                r = tryboot_remove(b->o->boot_dir);
                if (r < 0)
                        return fail(b, ROLLBACK_PARTIAL, "removing %s/%s: %s", b->o->boot_dir,
                                    TRYBOOT_TXT, strerror(-r));
                if (r > 0)
                        report_notef(b->rep, "  tryboot.txt removed (written by a trial boot "
                                             "upgrade)");
        }
        if (b->o->firmware) {
                r = restore_firmware(b, target);
                if (r < 0)
                        return r;
        }
        mark_all(b, target);
        if (gen_compare_boot(b->o->boot_dir, target, &report, &e) > 0)
                report_notef(b->rep,
                             "note: boot files that differ from generation %u's manifest (a "
                             "package replaced them since; not restored):\n%s",
                             target, sb_str(&report));
        sb_free(&report);
        return 0;
}

static int run_locked(struct rb *b)
{
        _cleanup_free_ struct bootcfg_result *res = malloc(sizeof(*res));
        unsigned target;
        int r;

        if (!res)
                return -ENOMEM;
        r = load_target(b, res);
        if (r < 0)
                return r;
        target = (unsigned)r;
        report_notef(b->rep, "rollback to generation %u (%s): kernel %s, initramfs %s", target,
                     b->rec.created, b->rec.kernel_from[0] ? b->rec.kernel_from : "?",
                     b->rec.initramfs_from);
        if (b->o->dry_run) {
                report_notef(b->rep, "dry run: nothing was changed");
                return 0;
        }
        r = restore_all(b, target, res);
        if (r >= 0)
                r = finish_restore(b, target);
        if (r < 0)
                return r;
        rolled_back_event(b, target);
        report_notef(b->rep, "rolled back to generation %u", target);
        return 0;
}

int rollback_run(const struct rollback_options *o, const struct report *rep,
                 struct rollback_result *r)
{
        struct rb b = {.o = o, .rep = rep, .r = r};
        struct boot_lock lock = BOOT_LOCK_INIT;
        struct strbuf done = {0};
        struct error e = {0};
        struct txn t;
        int k;

        memset(r, 0, sizeof(*r));
        r->outcome = ROLLBACK_DONE;
        if (!o->dry_run && !o->have_boot_lock) {
                k = boot_lock_take(o->root, o->run_dir, "netrootctl rollback", 30, &lock, &e);
                if (k < 0)
                        return fail(&b, ROLLBACK_REFUSED, "%s; nothing was changed",
                                    error_text(&e));
        }
        if (!o->dry_run) {
                k = txn_recover(o->boot_dir, &t, &done, &e);
                if (k > 0)
                        report_notef(rep,
                                     "an interrupted upgrade to %s (generation %u) was rolled "
                                     "back first: %s",
                                     t.kernel, t.gen, sb_str(&done));
                sb_free(&done);
                if (k < 0) {
                        boot_lock_release(&lock);
                        return fail(&b, ROLLBACK_REFUSED,
                                    "an interrupted upgrade in %s could not be rolled back: %s",
                                    o->boot_dir, error_text(&e));
                }
        }
        k = run_locked(&b);
        gen_copies_free(&b.copies);
        free(b.gens);
        boot_lock_release(&lock);
        return k;
}
