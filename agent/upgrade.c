/* The guarded kernel upgrade's runner; see upgrade.h. */
#include "upgrade.h"

#include "beneath.h"
#include "bootlock.h"
#include "cluster_lock.h"
#include "fileio.h"
#include "firmware_set.h"
#include "generation.h"
#include "initrd.h"
#include "msgid.h"
#include "packaging.h"
#include "rootpath.h"
#include "sha256.h"
#include "child.h"
#include "testhooks.h"
#include "tftp_fetch.h"
#include "tryboot.h"
#include "txn.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#define MKINITRAMFS      "/usr/sbin/mkinitramfs"
#define EXTEND_EVERY_SEC 10

void report_notef(const struct report *rep, const char *fmt, ...)
{
        char text[1024];
        va_list ap;

        if (!rep || !rep->ops || !rep->ops->note)
                return;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        rep->ops->note(rep->userdata, text);
}

struct run {
        const struct upgrade_options *o;
        struct upgrade_plan *p;
        const struct report *rep;
        unsigned gen;
        struct txn txn;
        char new_sha[SHA256_HEX_SIZE];
        char edited_sha[SHA256_HEX_SIZE]; /* of the config file TFTP must serve */
        char failure[1200];
        char gen_s[32], step_s[48], kern_s[160];
        const char *fields[4];
};

struct step {
        const char *name;
        int (*run)(struct run *u);
        /* Returns true with WHY when the step has nothing to do on this Pi. */
        bool (*skip)(const struct run *u, char *why, size_t size);
        void (*describe)(const struct run *u, char *buf, size_t size);
};

/* ---- small helpers ----------------------------------------------------------------------------
 */

static void one_line(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

static _printf_(2, 3) int step_fail(struct run *u, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(u->failure, sizeof(u->failure), fmt, ap);
        va_end(ap);
        one_line(u->failure);
        return -1;
}

static void set_fields(struct run *u, const char *step)
{
        snprintf(u->gen_s, sizeof(u->gen_s), "NETROOT_GENERATION=%u", u->gen);
        snprintf(u->step_s, sizeof(u->step_s), "NETROOT_STEP=%s", step);
        snprintf(u->kern_s, sizeof(u->kern_s), "NETROOT_KERNEL=%s", u->p ? u->p->kver : "");
        u->fields[0] = u->kern_s;
        u->fields[1] = u->gen_s;
        u->fields[2] = u->step_s;
        u->fields[3] = NULL;
}

/* The crash tests need a real, unannounced death (test builds only). */
static void fault_point(const char *step)
{
        const char *f = testhook_env("NETROOT_FAULT_STEP");

        if (f && streq(f, step)) {
                fprintf(stderr, "netrootctl: NETROOT_FAULT_STEP=%s: killing myself\n", step);
                fflush(stderr);
                raise(SIGKILL);
        }
}

static void read_boot_id(const char *root, char *buf, size_t size)
{
        _cleanup_free_ char *p = root_path(root, "/proc/sys/kernel/random/boot_id");

        if (!p || file_read_value(p, buf, size) < 0)
                buf[0] = '\0';
}

static int journal(struct run *u, const char *step)
{
        struct error e;
        int r;

        snprintf(u->txn.step, sizeof(u->txn.step), "%s", step);
        r = txn_write(u->p->view->boot_dir, &u->txn, &e);
        if (r < 0)
                return step_fail(u, "writing the transaction journal: %s", error_text(&e));
        return 0;
}

static const char *edited_name(const struct run *u)
{
        const char *e = upgrade_plan_edited(u->p);

        return e[0] ? e : "config.txt";
}

/* ---- backup ------------------------------------------------------------------------------------
 */

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
                step_fail(u, "shared firmware locked by %s@%s pid %ld until %s; waited %u s",
                          h.serial, h.host, h.pid, until, u->o->lock_wait_sec);
                return -EBUSY;
        }
        if (r < 0) {
                step_fail(u, "cannot lock the shared firmware: %s/%s: %s", p->shared_dir,
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
                step_fail(u, "backing up the shared firmware: %s", why[0] ? why : strerror(-r));
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
        one_line(rec->model);
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
                step_fail(u, "apt-pre's generation %u: %s", u->o->adopt_gen, error_text(&e));
                return -EBUSY;
        }
        u->gen = u->o->adopt_gen;
        start_journal(u);
        /* What the rollback restores is what the generation kept from before apt. */
        u->txn.final_existed = gen_copies_find(&c, p->final) >= 0;
        gen_copies_free(&c);
        saved = rec;
        if (journal(u, "backup") < 0)
                return -EBUSY;
        fill_record(u, &rec);
        /* What booted before is what apt-pre saw before dpkg ran, not what a kernel hook left
         * in config.txt since (raspi-firmware's rewrites it for the new kernel before ours runs:
         * the plan then reads the NEW kernel as the one booting, and a rollback judged the old
         * initramfs against the new kernel's modules and refused to put it back). */
        if (saved.kernel_from[0])
                snprintf(rec.kernel_from, sizeof(rec.kernel_from), "%s", saved.kernel_from);
        if (saved.initramfs_from[0])
                snprintf(rec.initramfs_from, sizeof(rec.initramfs_from), "%s",
                         saved.initramfs_from);
        rec.gen = saved.gen;
        rec.layout = saved.layout;
        rec.final_existed = u->txn.final_existed;
        rec.tryboot = saved.tryboot;
        snprintf(rec.created, sizeof(rec.created), "%s", saved.created);
        snprintf(rec.shared_backup, sizeof(rec.shared_backup), "%s", saved.shared_backup);
        r = gen_record_save(p->view->boot_dir, &rec, &e);
        if (r < 0)
                return step_fail(u, "updating generation %u: %s", u->gen, error_text(&e));
        report_notef(u->rep,
                     "generation %u, saved by apt before dpkg ran, is this upgrade's backup",
                     u->gen);
        return 0;
}

static int step_backup(struct run *u)
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
                step_fail(u, "generation store: %s", error_text(&e));
                return -EBUSY; /* nothing changed yet */
        }
        if (p->trial && u->gen != p->trial_gen) {
                (void)gen_abort(p->view->boot_dir, u->gen);
                step_fail(u,
                          "generation %u was taken since the plan (another upgrade of this boot "
                          "folder?); run again",
                          p->trial_gen);
                return -EBUSY;
        }
        start_journal(u);
        u->txn.final_existed = p->final_exists;
        if (journal(u, "backup") < 0) {
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
                return step_fail(u, "saving generation %u: %s", u->gen, error_text(&e));
        report_notef(u->rep, "generation %u saved in %s/%s/gen-%u (%zu files kept, %zu hashed)",
                     u->gen, p->view->boot_dir, GEN_STORE, u->gen, p->save.n_copy, p->save.n_hash);
        return 0;
}

/* ---- build -------------------------------------------------------------------------------------
 */

struct build_tick {
        struct run *u;
        double last;
};

static void build_tick(void *userdata, double elapsed)
{
        struct build_tick *t = userdata;

        if (elapsed - t->last < EXTEND_EVERY_SEC)
                return;
        t->last = elapsed;
        /* systemd's start/stop timeout would kill a service that runs this. */
        if (getenv("NOTIFY_SOCKET"))
                sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%llu",
                           (unsigned long long)(EXTEND_EVERY_SEC * 3) * 1000000ULL);
        report_notef(t->u->rep, "mkinitramfs running, %.0f s", elapsed);
}

/* /proc/config.gz -> /boot/config-VER: mkinitramfs reads the kernel config to pick the
 * compression, and raspberrypi-kernel ships none (FACTS: raspberrypi/linux#5496). */
static int write_kconfig_from_proc(struct run *u)
{
        const struct upgrade_plan *p = u->p;
        _cleanup_free_ char *src = root_path(u->o->root, "/proc/config.gz"), *tmp = NULL;
        _cleanup_close_ int in = -1, out = -1;
        char *argv[] = {"gzip", "-dc", NULL};
        struct spawn_options so = {.argv = argv, .err_fd = SPAWN_NULL};
        struct spawn_result res;
        int r;

        if (!src || asprintf(&tmp, "%s.netroot-tmp", p->sys_kconfig) < 0)
                return step_fail(u, "out of memory");
        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return step_fail(u, "%s: %s", src, strerror(errno));
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0)
                return step_fail(u, "%s: %s", tmp, strerror(errno));
        so.in_fd = in;
        so.out_fd = out;
        r = spawn_run(&so, &res);
        if (r < 0 || !spawn_ok(&res) || fsync(out) < 0) {
                unlink(tmp);
                return step_fail(u, "decompressing %s failed", src);
        }
        if (rename(tmp, p->sys_kconfig) < 0) {
                unlink(tmp);
                return step_fail(u, "%s: %s", p->sys_kconfig, strerror(errno));
        }
        {
                _cleanup_free_ char *dir = strdup(p->sys_kconfig);
                _cleanup_close_ int dfd = -1;

                if (dir && strrchr(dir, '/')) {
                        *strrchr(dir, '/') = '\0';
                        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd >= 0)
                                (void)fsync_dir(dfd);
                }
        }
        report_notef(u->rep, "/boot/config-%s written from /proc/config.gz", p->kver);
        return 0;
}

static int build_test_copy(struct run *u, const char *from, const char *out)
{
        _cleanup_close_ int src_dir = -1, bfd = -1;
        _cleanup_free_ char *dir = strdup(from);
        char *slash;
        const char *base;
        int r;

        if (!dir)
                return step_fail(u, "out of memory");
        slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                base = slash + 1;
        } else {
                base = dir;
        }
        src_dir = beneath_open_dir(slash ? (dir[0] ? dir : "/") : ".");
        bfd = beneath_open_dir(u->p->view->boot_dir);
        if (src_dir < 0 || bfd < 0)
                return step_fail(u, "NETROOT_TEST_INITRD_FROM=%s: cannot open", from);
        r = beneath_copy(src_dir, base, bfd, out, 0644);
        if (r < 0)
                return step_fail(u, "NETROOT_TEST_INITRD_FROM=%s: %s", from, file_strerror(r));
        report_notef(u->rep, "NETROOT_TEST_INITRD_FROM: copied %s", from);
        return 0;
}

static int step_build(struct run *u)
{
        struct upgrade_plan *p = u->p;
        const char *from = testhook_env("NETROOT_TEST_INITRD_FROM");
        _cleanup_close_ int bfd = -1;
        _cleanup_free_ char *out_sys = NULL, *logp = NULL, *gdir = NULL;
        struct build_tick tick = {.u = u};
        struct spawn_result res;
        struct stat st;
        char how[64];
        int r;

        if (journal(u, "build") < 0)
                return -1;
        bfd = beneath_open_dir(p->view->boot_dir);
        if (bfd < 0)
                return step_fail(u, "%s: %s", p->view->boot_dir, strerror(-bfd));
        (void)beneath_unlink(bfd, p->new_file);
        if (p->kconfig_from_proc && write_kconfig_from_proc(u) < 0)
                return -1;
        if (from && from[0]) {
                /* Test hook: the crash and failure tests are not about mkinitramfs' 20 s. */
                r = build_test_copy(u, from, p->new_file);
                if (r < 0)
                        return r;
        } else {
                char *argv[] = {MKINITRAMFS, "-o", NULL, p->kver, NULL};
                struct spawn_options so = {.argv = argv,
                                           .chroot = p->chroot_build ? u->o->root : NULL,
                                           .tick_ms = 1000,
                                           .tick = build_tick,
                                           .userdata = &tick};

                gdir = gen_dir_path(p->view->boot_dir, u->gen);
                if (asprintf(&out_sys, "%s/%s", p->view->boot_sys, p->new_file) < 0 || !gdir ||
                    asprintf(&logp, "%s/mkinitramfs.log", gdir) < 0)
                        return step_fail(u, "out of memory");
                argv[2] = out_sys;
                so.log_path = logp;
                r = spawn_run(&so, &res);
                if (r < 0)
                        return step_fail(u, "cannot run %s: %s", MKINITRAMFS, strerror(-r));
                if (!spawn_ok(&res)) {
                        spawn_describe(&res, how, sizeof(how));
                        return step_fail(u, "mkinitramfs %s %s: %s", p->kver, how,
                                         res.tail[0] ? res.tail : "(no output)");
                }
                report_notef(u->rep, "mkinitramfs took %.1f s", res.seconds);
        }
        if (beneath_is_file(bfd, p->new_file) != 1)
                return step_fail(u, "mkinitramfs succeeded but %s/%s is missing", p->view->boot_dir,
                                 p->new_file);
        if (testhook_env("NETROOT_FAULT_TRUNCATE") &&
            streq(testhook_env("NETROOT_FAULT_TRUNCATE"), "1")) {
                _cleanup_close_ int fd = openat_beneath(bfd, p->new_file, O_WRONLY, 0);

                if (fd >= 0 && fstat(fd, &st) == 0 && ftruncate(fd, st.st_size / 2) == 0)
                        report_notef(u->rep, "NETROOT_FAULT_TRUNCATE: %s cut to %lld bytes",
                                     p->new_file, (long long)(st.st_size / 2));
        }
        return 0;
}

/* ---- check -------------------------------------------------------------------------------------
 */

static int step_check(struct run *u)
{
        struct upgrade_plan *p = u->p;
        _cleanup_free_ char *out = boot_view_path(p->view, p->new_file);
        _cleanup_close_ int bfd = -1;
        char why[2048];
        int r;

        if (!out)
                return step_fail(u, "out of memory");
        r = initrd_passes_check(u->o->root, out, p->kver, why, sizeof(why));
        if (r < 0)
                return step_fail(u, "the new initramfs %s cannot be read: %s", out,
                                 why[0] ? why : strerror(-r));
        if (r == 0)
                return step_fail(u, "the new initramfs %s fails the check: %s", out, why);
        bfd = beneath_open_dir(p->view->boot_dir);
        r = bfd < 0 ? bfd : beneath_sha256(bfd, p->new_file, u->new_sha);
        if (r < 0)
                return step_fail(u, "hashing %s: %s", out, strerror(-r));
        return 0;
}

/* ---- switch ------------------------------------------------------------------------------------
 */

static void hash_text(const char *text, size_t len, char hex[SHA256_HEX_SIZE])
{
        struct sha256_ctx c;
        uint8_t dg[SHA256_DIGEST_SIZE];

        sha256_init(&c);
        sha256_update(&c, text, len);
        sha256_final(&c, dg);
        sha256_hex(dg, hex);
}

/* The new initramfs onto its final name: fsync first, then the rename, then the folder. */
static int switch_initramfs(struct run *u, int bfd)
{
        struct upgrade_plan *p = u->p;
        _cleanup_close_ int fd = openat_beneath(bfd, p->new_file, O_RDONLY, 0);
        int r;

        if (fd < 0 || fsync(fd) < 0)
                return step_fail(u, "fsync %s: %s", p->new_file, strerror(fd < 0 ? -fd : errno));
        r = beneath_rename(bfd, p->new_file, p->final);
        if (r < 0)
                return step_fail(u, "rename %s -> %s: %s", p->new_file, p->final, strerror(-r));
        report_notef(u->rep, "%s%s is now the new initramfs", p->final,
                     p->final_exists ? " (the old one is in the generation)" : "");
        return 0;
}

/* trial_boot=tryboot: the new initramfs under its own name, then tryboot.txt naming it. The
 * config files and every file they name stay as they are. */
static int step_switch_trial(struct run *u, int bfd)
{
        struct upgrade_plan *p = u->p;
        _cleanup_free_ char *text = NULL;
        char why[1024];
        size_t len = 0;
        mode_t mode;
        struct stat st;
        int r;

        r = tryboot_make_text(&p->view->files, &p->view->pi, p->config_name, p->final, &text, &len,
                              why, sizeof(why));
        if (r < 0)
                return step_fail(u, "tryboot.txt cannot be made from config.txt: %s", why);
        u->txn.final_touched = true;
        u->txn.tryboot_touched = true;
        u->txn.config_touched = false;
        if (journal(u, "switch") < 0 || switch_initramfs(u, bfd) < 0)
                return -1;
        /* The TFTP server must be able to read it like config.txt. */
        mode =
            fstatat(bfd, "config.txt", &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode & 07777 : 0644;
        r = beneath_write_atomic(bfd, TRYBOOT_TXT, text, len, mode);
        if (r < 0)
                return step_fail(u, "writing %s/%s: %s", p->view->boot_dir, TRYBOOT_TXT,
                                 file_strerror(r));
        report_notef(u->rep, "tryboot.txt boots initramfs %s; config.txt unchanged",
                     p->config_name);
        hash_text(text, len, u->edited_sha);
        return 0;
}

/* The file to edit must still be what the plan read: a change meanwhile (another tool, apt) makes
 * the planned edit wrong. */
static int reread_edited(struct run *u, int bfd, const struct bootcfg_file *f)
{
        _cleanup_free_ char *now = NULL;
        size_t len;
        int r = beneath_read(bfd, f->name, 1024 * 1024, &now, &len);

        if (r < 0)
                return step_fail(u, "re-reading %s: %s", f->name, file_strerror(r));
        if (len != f->len || memcmp(now, f->text, len) != 0)
                return step_fail(u,
                                 "%s changed since the plan was made (another program wrote "
                                 "it); nothing of it was changed by the upgrade",
                                 f->name);
        return 0;
}

static int step_switch(struct run *u)
{
        struct upgrade_plan *p = u->p;
        _cleanup_close_ int bfd = beneath_open_dir(p->view->boot_dir);
        struct bootcfg_diag *diag = NULL;
        struct bootcfg_edit e = {0};
        int r;

        if (bfd < 0)
                return step_fail(u, "%s: %s", p->view->boot_dir, strerror(-bfd));
        if (p->trial)
                return step_switch_trial(u, bfd);
        /* The edit is computed again before anything is touched: a refusal changes nothing. */
        if (p->config_name[0]) {
                const struct bootcfg_file *f = &p->view->files.files[p->edit_src];

                if (reread_edited(u, bfd, f) < 0)
                        return -1;
                diag = malloc(sizeof(*diag));
                if (!diag)
                        return step_fail(u, "out of memory");
                bootcfg_diag_init(diag, p->view->config_path);
                r = bootcfg_files_set_initramfs(&p->view->files, &p->view->pi, p->config_name, &e,
                                                diag);
                if (r < 0 || e.src != p->edit_src) {
                        step_fail(u, "%s cannot be edited: %s", f->name,
                                  bootcfg_diag_error(diag) ? bootcfg_diag_error(diag)
                                                           : "the deciding line moved");
                        free(diag);
                        free(e.text);
                        return -1;
                }
                free(diag);
        }
        u->txn.final_touched = true;
        u->txn.config_touched = p->config_name[0] != '\0';
        if (journal(u, "switch") < 0 || switch_initramfs(u, bfd) < 0) {
                free(e.text);
                return -1;
        }
        if (p->config_name[0]) {
                const char *name = p->view->files.files[p->edit_src].name;

                r = beneath_write_atomic(bfd, name, e.text, e.len, 0);
                if (r < 0) {
                        free(e.text);
                        return step_fail(u, "writing %s/%s: %s", p->view->boot_dir, name,
                                         file_strerror(r));
                }
                report_notef(u->rep, "%s now boots initramfs %s", name, p->config_name);
                hash_text(e.text, e.len, u->edited_sha);
                free(e.text);
        } else {
                r = beneath_sha256(bfd, "config.txt", u->edited_sha);
                if (r < 0)
                        return step_fail(u, "hashing config.txt: %s", strerror(-r));
        }
        return 0;
}

/* ---- tftp --------------------------------------------------------------------------------------
 */

static bool skip_tftp(const struct run *u, char *why, size_t size)
{
        if (u->p->tftp_server[0])
                return false;
        snprintf(why, size, "%s", u->p->tftp_note);
        return true;
}

static int step_tftp(struct run *u)
{
        struct upgrade_plan *p = u->p;
        struct {
                const char *name;
                const char *sha;
                unsigned timeout_ms;
        } files[] = {
            {edited_name(u), u->edited_sha, 10000},
            {p->final, u->new_sha, 120000},
        };

        if (journal(u, "tftp") < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                struct tftp_fetch_result res = {0};
                char path[600];
                int r;

                snprintf(path, sizeof(path), "%s/%s", p->view->serial, files[i].name);
                r = u->o->fetch(p->tftp_server, path, files[i].timeout_ms, &res);
                if (r < 0)
                        return step_fail(u, "TFTP %s from %s: %s", path, p->tftp_server,
                                         res.error[0] ? res.error : strerror(-r));
                if (!streq(res.sha256, files[i].sha))
                        return step_fail(u,
                                         "the TFTP server %s serves a different %s (sha256 %.16s…, "
                                         "%llu bytes) than was written (sha256 %.16s…): is it "
                                         "serving another folder?",
                                         p->tftp_server, path, res.sha256,
                                         (unsigned long long)res.bytes, files[i].sha);
                report_notef(u->rep, "tftp://%s/%s: %llu bytes, sha256 matches (%.2f s)",
                             p->tftp_server, path, (unsigned long long)res.bytes, res.seconds);
        }
        return 0;
}

/* ---- record ------------------------------------------------------------------------------------
 */

static int step_record(struct run *u)
{
        struct upgrade_plan *p = u->p;
        struct error e;
        int r;

        if (journal(u, "record") < 0)
                return -1;
        r = gen_mark(p->view->boot_dir, u->gen, GEN_PENDING,
                     p->trial ? "waiting for the trial boot (reboot '0 tryboot') and its "
                                "confirmation"
                              : "waiting for the boot confirmation",
                     &e);
        if (r < 0)
                return step_fail(u, "updating the generation record: %s", error_text(&e));
        r = gen_pending_write(p->view->boot_dir, u->gen, p->kver, &e);
        if (r < 0)
                return step_fail(u, "writing the pending file: %s", error_text(&e));
        r = txn_remove(p->view->boot_dir);
        if (r < 0)
                return step_fail(u, "removing the transaction journal: %s", strerror(-r));
        return 0;
}

/* ---- the table --------------------------------------------------------------------------------
 */

static void describe_backup(const struct run *u, char *buf, size_t size)
{
        (void)u;
        snprintf(buf, size, "saving the current boot as a generation");
}

static void describe_build(const struct run *u, char *buf, size_t size)
{
        snprintf(buf, size, "mkinitramfs -o %s/%s %s", u->p->view->boot_sys, u->p->new_file,
                 u->p->kver);
}

static void describe_check(const struct run *u, char *buf, size_t size)
{
        snprintf(buf, size, "checking %s for the iSCSI root", u->p->new_file);
}

static void describe_switch(const struct run *u, char *buf, size_t size)
{
        const struct upgrade_plan *p = u->p;

        if (p->trial)
                snprintf(buf, size, "%s and tryboot.txt (config.txt untouched)", p->final);
        else if (p->config_name[0])
                snprintf(buf, size, "%s and %s", p->final, upgrade_plan_edited(p));
        else
                snprintf(buf, size, "%s (atomic rename)", p->final);
}

static void describe_tftp(const struct run *u, char *buf, size_t size)
{
        snprintf(buf, size, "fetching %s and %s from %s", edited_name(u), u->p->final,
                 u->p->tftp_server);
}

static void describe_record(const struct run *u, char *buf, size_t size)
{
        snprintf(buf, size, "kernel %s pending as generation %u", u->p->kver, u->gen);
}

static const struct step steps[] = {
    {"backup", step_backup, NULL, describe_backup}, {"build", step_build, NULL, describe_build},
    {"check", step_check, NULL, describe_check},    {"switch", step_switch, NULL, describe_switch},
    {"tftp", step_tftp, skip_tftp, describe_tftp},  {"record", step_record, NULL, describe_record},
};

#define N_PRE   2 /* plan, preflight */
#define N_STEPS (N_PRE + ARRAY_SIZE(steps))

unsigned upgrade_step_count(void)
{
        return N_STEPS;
}

const char *upgrade_step_name(unsigned idx)
{
        static const char *const pre[N_PRE] = {"plan", "preflight"};

        if (idx < N_PRE)
                return pre[idx];
        return idx < N_STEPS ? steps[idx - N_PRE].name : NULL;
}

/* ---- running ----------------------------------------------------------------------------------
 */

static void begin(struct run *u, unsigned idx, const char *what)
{
        const char *name = upgrade_step_name(idx);

        if (u->rep && u->rep->ops && u->rep->ops->step)
                u->rep->ops->step(u->rep->userdata, idx, N_STEPS, name, what);
        set_fields(u, name);
        if (u->o->events)
                log_event(u->o->events, LOG_INFO, MSGID_UPGRADE_STEP, u->fields,
                          "upgrade to %s, step %u/%u %s: %s", u->p ? u->p->kver : "?", idx + 1,
                          (unsigned)N_STEPS, name, what);
}

static void rollback_now(struct run *u, const char *failed, struct upgrade_result *r)
{
        struct strbuf done = {0};
        struct error e;
        char reason[1300];
        int k;

        snprintf(r->failed_step, sizeof(r->failed_step), "%s", failed);
        snprintf(r->reason, sizeof(r->reason), "%s", u->failure);
        snprintf(reason, sizeof(reason), "step %s failed: %s", failed, u->failure);
        one_line(reason);
        k = txn_rollback(u->p->view->boot_dir, &u->txn, reason, &done, &e);
        set_fields(u, failed);
        if (k < 0) {
                r->outcome = UPGRADE_ROLLBACK_FAILED;
                snprintf(r->rollback, sizeof(r->rollback), "%s", error_text(&e));
                if (u->o->events)
                        log_event(u->o->events, LOG_CRIT, MSGID_UPGRADE_ROLLBACK_FAILED, u->fields,
                                  "upgrade to %s failed at step %s (%s) and the rollback failed: "
                                  "%s",
                                  u->p->kver, failed, u->failure, error_text(&e));
        } else {
                r->outcome = UPGRADE_ROLLED_BACK;
                snprintf(r->rollback, sizeof(r->rollback), "%s", sb_str(&done));
                if (u->o->events)
                        log_event(u->o->events, LOG_ERR, MSGID_UPGRADE_ROLLED_BACK, u->fields,
                                  "upgrade to %s failed at step %s: %s; rolled back: %s",
                                  u->p->kver, failed, u->failure, sb_str(&done));
        }
        sb_free(&done);
}

static void done_event(struct run *u)
{
        const struct upgrade_plan *p = u->p;

        set_fields(u, "record");
        if (!u->o->events)
                return;
        if (p->trial)
                log_event(u->o->events, LOG_NOTICE, MSGID_UPGRADE_DONE, u->fields,
                          "upgrade to %s staged for a trial boot: tryboot.txt boots initramfs %s, "
                          "generation %u pending; config.txt unchanged",
                          p->kver, p->final, u->gen);
        else
                log_event(u->o->events, LOG_NOTICE, MSGID_UPGRADE_DONE, u->fields,
                          "upgrade to %s done: initramfs %s, generation %u pending until the boot "
                          "is confirmed",
                          p->kver, p->final, u->gen);
}

static int run_steps(struct run *u, struct upgrade_result *r)
{
        for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
                const struct step *s = &steps[i];
                char what[700], why[300];
                int k;

                if (s->skip && s->skip(u, why, sizeof(why))) {
                        snprintf(what, sizeof(what), "skipped: %s", why);
                        begin(u, (unsigned)(N_PRE + i), what);
                        fault_point(s->name);
                        continue;
                }
                s->describe(u, what, sizeof(what));
                begin(u, (unsigned)(N_PRE + i), what);
                k = s->run(u);
                if (k == -EBUSY && i == 0) {
                        /* The backup failed before it changed anything. */
                        r->outcome = UPGRADE_REFUSED;
                        snprintf(r->reason, sizeof(r->reason), "%s; nothing was changed",
                                 u->failure);
                        snprintf(r->failed_step, sizeof(r->failed_step), "%s", s->name);
                        return -EBUSY;
                }
                if (k < 0) {
                        rollback_now(u, s->name, r);
                        return -EIO;
                }
                fault_point(s->name);
        }
        r->outcome = UPGRADE_DONE;
        r->gen = u->gen;
        done_event(u);
        return 0;
}

/* An earlier run that died mid-way is rolled back before anything else is planned. */
static int recover_first(const struct upgrade_options *o, struct upgrade_result *r)
{
        _cleanup_free_ char *dir = root_path(o->root, o->cfg->agent.boot_dir);
        struct strbuf done = {0};
        struct error e = {0};
        struct txn t;
        int k;

        if (!dir)
                return -ENOMEM;
        k = txn_recover(dir, &t, &done, &e);
        if (k > 0) {
                r->recovered = true;
                snprintf(
                    r->recovered_note, sizeof(r->recovered_note),
                    "an interrupted upgrade to %s (generation %u, step %s, pid %ld) was rolled "
                    "back: %s",
                    t.kernel, t.gen, t.step, t.pid, sb_str(&done));
        } else if (k < 0) {
                snprintf(r->reason, sizeof(r->reason),
                         "an interrupted upgrade could not be rolled back (%s); not starting "
                         "another",
                         error_text(&e));
        }
        sb_free(&done);
        return k;
}

int upgrade_run(const struct upgrade_options *o, const struct report *rep, struct upgrade_result *r)
{
        struct upgrade_plan *p = calloc(1, sizeof(*p));
        struct boot_lock lock = BOOT_LOCK_INIT;
        struct run u = {.o = o, .rep = rep, .p = p};
        struct error e;
        int k = 0;

        memset(r, 0, sizeof(*r));
        r->outcome = UPGRADE_REFUSED;
        if (!p)
                return -ENOMEM;
        u.txn.pid = (long)getpid();
        read_boot_id(o->root, u.txn.boot_id, sizeof(u.txn.boot_id));
        snprintf(u.txn.command, sizeof(u.txn.command), "%s",
                 o->command ? o->command : "netrootctl upgrade");
        {
                time_t now = time(NULL);
                struct tm tm;

                gmtime_r(&now, &tm);
                strftime(u.txn.started, sizeof(u.txn.started), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        if (!o->dry_run && !o->have_boot_lock) {
                k = boot_lock_take(o->root, u.txn.command, o->boot_lock_wait_sec, &lock, &e);
                if (k < 0) {
                        snprintf(r->reason, sizeof(r->reason), "%s; nothing was changed",
                                 error_text(&e));
                        goto out;
                }
        }
        if (!o->dry_run) {
                k = recover_first(o, r);
                if (k < 0) {
                        r->outcome = UPGRADE_ROLLBACK_FAILED;
                        goto out;
                }
        }
        k = upgrade_plan_make(o, p);
        if (k < 0 && !p->refusal[0])
                snprintf(p->refusal, sizeof(p->refusal), "%s", strerror(-k));
        begin(&u, 0, "reading config.txt and the installed kernels");
        if (rep && rep->ops && rep->ops->plan)
                rep->ops->plan(rep->userdata, p);
        fault_point("plan");
        if (!p->refusal[0]) {
                begin(&u, 1, "checking before anything changes");
                upgrade_preflight(p);
        }
        if (rep && rep->ops && rep->ops->preflight)
                rep->ops->preflight(rep->userdata, p, o->dry_run);
        if (!upgrade_plan_ok(p)) {
                snprintf(r->reason, sizeof(r->reason), "%s",
                         p->refusal[0] ? p->refusal : "the preflight failed");
                set_fields(&u, "preflight");
                if (o->events)
                        log_event(o->events, LOG_ERR, MSGID_UPGRADE_ROLLED_BACK, u.fields,
                                  "upgrade to %s refused by the preflight; nothing was changed",
                                  p->kver[0] ? p->kver : "?");
                k = -ECANCELED;
                goto out;
        }
        if (o->dry_run) {
                r->outcome = UPGRADE_DONE;
                k = 0;
                goto out;
        }
        fault_point("preflight");
        k = run_steps(&u, r);
out:
        if (rep && rep->ops && rep->ops->result)
                rep->ops->result(rep->userdata, p, r);
        boot_lock_release(&lock);
        upgrade_plan_free(p);
        free(p);
        return k;
}
