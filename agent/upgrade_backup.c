/* The upgrade's backup step: the current boot saved as a generation (or apt-pre's generation
 * adopted), and the shared firmware backed up under its NAS-wide lock. */
#include "upgrade_step.h"

#include "cluster_lock.h"
#include "fileio.h"
#include "firmware_set.h"
#include "generation.h"
#include "packaging.h"
#include "sha256.h"
#include "tryboot.h"
#include "util.h"

#include <sys/stat.h>
#include <time.h>

/* A lock that was no longer ours when released means whatever was written under it may have
 * overlapped another holder: the admin has to hear of it. */
static void release_reported(const struct report *rep, struct cluster_lock *l)
{
        int r = l->held ? cluster_lock_release(l) : 0;

        if (r < 0)
                report_notef(rep, "warning: releasing the shared firmware lock %s: %s", l->path,
                             r == -ESTALE ? "it was no longer ours (taken over after its TTL)"
                                          : strerror(-r));
}

static int backup_shared(struct run *u, struct gen_record *rec)
{
        const struct upgrade_plan *p = u->p;
        struct cluster_lock lock = {0};
        struct cluster_lock_holder h = {0};
        struct firmware_set set;
        struct timespec t0, locked, released;
        char bdir[4096], why[1024] = "";
        size_t sl = strlen(p->shared_dir);
        int r;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = cluster_lock_acquire(&lock, p->shared_dir, p->view->serial,
                                 u->o->lock_ttl_sec ? u->o->lock_ttl_sec : 600, u->o->lock_wait_sec,
                                 &h);
        if (r == -EBUSY) {
                char until[32];
                struct tm tm;

                gmtime_r(&h.stale_at, &tm); /* the NAS's clock */
                strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
                upgrade_step_fail(u,
                                  "shared firmware locked by %s@%s pid %ld until %s; waited %u s",
                                  h.serial, h.host, h.pid, until, u->o->lock_wait_sec);
                return -EBUSY;
        }
        if (r < 0) {
                upgrade_step_fail(u, "cannot lock the shared firmware: %s/%s: %s", p->shared_dir,
                                  CLUSTER_LOCK_NAME, file_strerror(r));
                return -EBUSY;
        }
        /* Several Pis upgrading at once queue here; the admin should see for how long. */
        clock_gettime(CLOCK_MONOTONIC, &locked);
        report_notef(u->rep, "shared firmware lock taken after %.1f s",
                     (double)(locked.tv_sec - t0.tv_sec) +
                         (double)(locked.tv_nsec - t0.tv_nsec) / 1e9);
        r = firmware_set_backup_locked(p->shared_dir, p->view->serial, &lock, bdir, sizeof(bdir),
                                       &set, why, sizeof(why));
        release_reported(u->rep, &lock);
        clock_gettime(CLOCK_MONOTONIC, &released);
        if (r < 0) {
                upgrade_step_fail(u, "backing up the shared firmware: %s",
                                  why[0] ? why : strerror(-r));
                return -EBUSY; /* nothing of the Pi's changed yet */
        }
        report_notef(u->rep, "shared firmware backed up to %s; lock released after %.2f s", bdir,
                     (double)(released.tv_sec - locked.tv_sec) +
                         (double)(released.tv_nsec - locked.tv_nsec) / 1e9);
        /* Relative to shared_dir: the NAS mounts it somewhere else. */
        snprintf(rec->shared_backup, sizeof(rec->shared_backup), "%s",
                 strncmp(bdir, p->shared_dir, sl) == 0 && bdir[sl] == '/' ? bdir + sl + 1 : bdir);
        snprintf(u->txn.shared_backup, sizeof(u->txn.shared_backup), "%s", rec->shared_backup);
        return 0;
}

static void fill_record(const struct run *u, struct gen_record *rec)
{
        const struct upgrade_plan *p = u->p;

        snprintf(rec->kernel_from, sizeof(rec->kernel_from), "%s", p->kver_from);
        snprintf(rec->kernel_to, sizeof(rec->kernel_to), "%s", p->kver);
        snprintf(rec->initramfs_from, sizeof(rec->initramfs_from), "%s",
                 p->view->fl.initramfs_current[0] == '/' ? p->view->fl.initramfs_current + 1
                                                         : p->view->fl.initramfs_current);
        snprintf(rec->initramfs_to, sizeof(rec->initramfs_to), "%s", p->final);
        rec->status = GEN_PENDING;
        snprintf(rec->reason, sizeof(rec->reason), "upgrade in progress");
        snprintf(rec->packaging, sizeof(rec->packaging), "%s", p->pkg->name);
        snprintf(rec->model, sizeof(rec->model), "%s", p->view->model);
        snprintf(rec->serial, sizeof(rec->serial), "%s", p->view->serial);
        snprintf(rec->cmdline_name, sizeof(rec->cmdline_name), "%s",
                 p->view->res.cmdline[0] == '/' ? p->view->res.cmdline + 1 : p->view->res.cmdline);
        snprintf(rec->final, sizeof(rec->final), "%s", p->final);
        rec->final_existed = p->final_exists;
        if (p->trial)
                snprintf(rec->trial, sizeof(rec->trial), "%s", TRYBOOT_TRIAL);
        (void)gethostname(rec->host, sizeof(rec->host) - 1);
        upgrade_one_line(rec->model);
}

static void start_journal(struct run *u)
{
        const struct upgrade_plan *p = u->p;

        u->txn.gen = u->gen;
        snprintf(u->txn.kernel, sizeof(u->txn.kernel), "%s", p->kver);
        snprintf(u->txn.new_file, sizeof(u->txn.new_file), "%s", p->new_file);
        snprintf(u->txn.final, sizeof(u->txn.final), "%s", p->final);
        snprintf(u->txn.edited, sizeof(u->txn.edited), "%s", upgrade_plan_edited(p));
}

/* "Before" is what apt-pre saw, never what a hook (raspi-firmware's z50) left since. */
static void keep_before_state(struct gen_record *rec, const struct gen_record *saved)
{
        if (saved->kernel_from[0])
                snprintf(rec->kernel_from, sizeof(rec->kernel_from), "%s", saved->kernel_from);
        if (saved->initramfs_from[0])
                snprintf(rec->initramfs_from, sizeof(rec->initramfs_from), "%s",
                         saved->initramfs_from);
        if (saved->cmdline_name[0])
                snprintf(rec->cmdline_name, sizeof(rec->cmdline_name), "%s", saved->cmdline_name);
}

/* A package's hook (raspi-firmware's z50) may have rewritten the config file since apt-pre kept
 * it: then a rollback must put apt-pre's copy back, not leave the hook's. A missing or unreadable
 * file counts as changed; a copy without a known hash (layout 1) is left alone. */
static bool changed_since_kept(const char *boot_dir, const struct gen_copies *c, const char *name)
{
        _cleanup_free_ char *path = NULL;
        char hex[SHA256_HEX_SIZE];
        int i = gen_copies_find(c, name);

        if (i < 0 || c->unverified[i] || asprintf(&path, "%s/%s", boot_dir, name) < 0)
                return false;
        return sha256_file(path, hex) < 0 || !streq(hex, c->m.e[i].sha256);
}

/* Under apt, apt-pre saved the boot folder before dpkg ran (and before an in-place kernel
 * package overwrote anything): that generation is this upgrade's backup, so a kernel install
 * makes one generation, and a rollback goes back to what booted before apt. */
static int adopt_backup(struct run *u)
{
        struct upgrade_plan *p = u->p;
        struct gen_record rec, saved;
        struct gen_copies c;
        struct error e;
        int r;

        r = gen_record_load(p->view->boot_dir, u->o->adopt_gen, &rec, &e);
        if (r >= 0)
                r = gen_copies_load(p->view->boot_dir, u->o->adopt_gen, false, &rec, &c, &e);
        if (r < 0) {
                upgrade_step_fail(u, "apt-pre's generation %u: %s", u->o->adopt_gen,
                                  error_text(&e));
                return -EBUSY;
        }
        u->gen = u->o->adopt_gen;
        start_journal(u);
        /* What the rollback restores is what the generation kept from before apt. */
        u->txn.final_existed = gen_copies_find(&c, p->final) >= 0;
        if (!p->trial)
                u->txn.config_touched = changed_since_kept(
                    p->view->boot_dir, &c, u->txn.edited[0] ? u->txn.edited : "config.txt");
        gen_copies_free(&c);
        saved = rec;
        if (upgrade_journal(u, "backup") < 0)
                return -EBUSY;
        fill_record(u, &rec);
        keep_before_state(&rec, &saved);
        rec.gen = saved.gen;
        rec.layout = saved.layout;
        rec.final_existed = u->txn.final_existed;
        rec.tryboot = saved.tryboot;
        snprintf(rec.created, sizeof(rec.created), "%s", saved.created);
        snprintf(rec.shared_backup, sizeof(rec.shared_backup), "%s", saved.shared_backup);
        r = gen_record_save(p->view->boot_dir, &rec, &e);
        if (r < 0)
                return upgrade_step_fail(u, "updating generation %u: %s", u->gen, error_text(&e));
        report_notef(u->rep,
                     "generation %u, saved by apt before dpkg ran, is this upgrade's backup",
                     u->gen);
        return 0;
}

int upgrade_step_backup(struct run *u)
{
        struct upgrade_plan *p = u->p;
        struct gen_record rec = {0};
        struct error e;
        int r;

        if (u->o->adopt_gen)
                return adopt_backup(u);
        /* The shared lock first: when another Pi holds it nothing has been changed yet. */
        if (p->shared_dir) {
                r = backup_shared(u, &rec);
                if (r < 0)
                        return r;
        }
        r = gen_begin(p->view->boot_dir, &u->gen, &e);
        if (r < 0) {
                upgrade_step_fail(u, "generation store: %s", error_text(&e));
                return -EBUSY; /* nothing changed yet */
        }
        if (p->trial && u->gen != p->trial_gen) {
                (void)gen_abort(p->view->boot_dir, u->gen);
                upgrade_step_fail(
                    u,
                    "generation %u was taken since the plan (another upgrade of this boot "
                    "folder?); run again",
                    p->trial_gen);
                return -EBUSY;
        }
        start_journal(u);
        u->txn.final_existed = p->final_exists;
        if (upgrade_journal(u, "backup") < 0) {
                (void)gen_abort(p->view->boot_dir, u->gen);
                return -EBUSY;
        }
        fill_record(u, &rec);
        {
                _cleanup_free_ char *tb = boot_view_path(p->view, TRYBOOT_TXT);
                struct stat st;

                rec.tryboot = tb && lstat(tb, &st) == 0 && S_ISREG(st.st_mode);
        }
        r = gen_commit(p->view->boot_dir, u->gen, p->save.copy, p->save.n_copy, p->save.hash,
                       p->save.n_hash, &rec, &e);
        if (r < 0)
                return upgrade_step_fail(u, "saving generation %u: %s", u->gen, error_text(&e));
        report_notef(u->rep, "generation %u saved in %s/%s/gen-%u (%zu files kept, %zu hashed)",
                     u->gen, p->view->boot_dir, GEN_STORE, u->gen, p->save.n_copy, p->save.n_hash);
        return 0;
}

void upgrade_describe_backup(const struct run *u, char *buf, size_t size)
{
        (void)u;
        snprintf(buf, size, "saving the current boot as a generation");
}
