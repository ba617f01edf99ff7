/* The guarded kernel upgrade; see upgrade.h. */
#include "upgrade.h"

#include "bootcfg.h"
#include "cluster_lock.h"
#include "fileio.h"
#include "firmware_set.h"
#include "firmware_txn.h"
#include "flavour.h"
#include "generation.h"
#include "initrd.h"
#include "piinfo.h"
#include "rootpath.h"
#include "sha256.h"
#include "tftp_fetch.h"
#include "tryboot.h"
#include "txn.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#define CONFIG_TXT_MAX   (1024 * 1024)
#define PROC_FILE_MAX    (1024 * 1024)
#define PENDING_MAX      4096
#define MIB              (1024ULL * 1024ULL)
#define N_STEPS          8
#define NEW_SUFFIX       ".netroot-new"
#define RESTORE_SUFFIX   ".netroot-restore"
#define MKINITRAMFS      "/usr/sbin/mkinitramfs"
#define EXTEND_EVERY_SEC 10

static const char *const step_names[N_STEPS] = {"plan",  "preflight", "backup", "build",
                                                "check", "switch",    "tftp",   "record"};

/* ---- small helpers ------------------------------------------------------------------------ */

static char *path_join(const char *dir, const char *name)
{
        char *p;

        while (*name == '/')
                name++;
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static bool file_exists(const char *path)
{
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void utc_now(char *buf, size_t size)
{
        time_t now = time(NULL);
        struct tm tm;

        gmtime_r(&now, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Reasons end up in key=value records and journal fields: one line, no control characters. */
static void one_line(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

static int same_content(const char *a, const char *b)
{
        char ha[SHA256_HEX_SIZE], hb[SHA256_HEX_SIZE];
        int r = sha256_file(a, ha);

        if (r < 0)
                return r;
        r = sha256_file(b, hb);
        if (r < 0)
                return r;
        return streq(ha, hb);
}

/* Puts SRC's content at DST atomically (copy to a temp name next to DST, rename), keeping
 * DST's mode when it exists: the TFTP server must still be able to read it. */
static int restore_file(const char *src, const char *dst)
{
        _cleanup_free_ char *tmp = NULL;
        struct stat st;
        int r;

        if (asprintf(&tmp, "%s%s", dst, RESTORE_SUFFIX) < 0)
                return -ENOMEM;
        unlink(tmp);
        r = gen_copy_file(src, tmp, true);
        if (r < 0)
                return r;
        if (stat(dst, &st) == 0)
                (void)chmod(tmp, st.st_mode & 07777);
        if (rename(tmp, dst) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
}

/* The fault hook (see upgrade.h): the crash tests need a real, unannounced death. */
static void fault_point(const char *step)
{
        const char *f = getenv("NETROOT_FAULT_STEP");

        if (f && streq(f, step)) {
                fprintf(stderr, "netrootctl: NETROOT_FAULT_STEP=%s: killing myself\n", step);
                fflush(stderr);
                raise(SIGKILL);
        }
}

/* ---- pending ------------------------------------------------------------------------------- */

static char *pending_path(const char *boot_dir)
{
        char *p;

        return asprintf(&p, "%s/%s/%s", boot_dir, GEN_STORE, UPGRADE_PENDING_FILE) < 0 ? NULL : p;
}

int upgrade_pending_read(const char *boot_dir_resolved, struct upgrade_pending *p)
{
        _cleanup_free_ char *path = pending_path(boot_dir_resolved), *text = NULL;
        bool have_gen = false;
        unsigned no = 0;
        size_t len;
        char *line, *next;
        int r;

        memset(p, 0, sizeof(*p));
        if (!path)
                return -ENOMEM;
        r = file_read_regular(path, PENDING_MAX, &text, &len);
        if (r < 0)
                return r;
        /* A NUL would hide what follows it from the parser below: the file is damaged. */
        p->bad_line = text_nul_line(text, len);
        if (p->bad_line)
                return -EBADMSG;
        for (line = text; line && *line; line = next) {
                char *v;
                unsigned long g;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                no++;
                if (line[0] == '#' || line[0] == '\0')
                        continue;
                p->bad_line = no;
                v = strchr(line, '=');
                if (!v)
                        return -EBADMSG;
                *v++ = '\0';
                if (streq(line, "gen")) {
                        if (parse_uint(v, &g) < 0 || g == 0 || g > 1000000000UL)
                                return -EBADMSG;
                        p->gen = (unsigned)g;
                        have_gen = true;
                } else if (streq(line, "kernel")) {
                        snprintf(p->kernel, sizeof(p->kernel), "%s", v);
                } else if (streq(line, "created")) {
                        snprintf(p->created, sizeof(p->created), "%s", v);
                }
        }
        p->bad_line = 0;
        return have_gen ? 0 : -EBADMSG;
}

static int pending_write(const char *boot_dir, unsigned gen, const char *kernel)
{
        _cleanup_free_ char *path = pending_path(boot_dir), *text = NULL;
        char now[32];
        int n;

        if (!path)
                return -ENOMEM;
        utc_now(now, sizeof(now));
        n = asprintf(&text, "gen=%u\nkernel=%s\ncreated=%s\n", gen, kernel, now);
        if (n < 0)
                return -ENOMEM;
        return file_write_atomic(path, text, (size_t)n, 0644);
}

/* Removes the pending file when it names GEN. */
static int pending_clear(const char *boot_dir, unsigned gen)
{
        _cleanup_free_ char *path = pending_path(boot_dir);
        struct upgrade_pending p;
        int r = upgrade_pending_read(boot_dir, &p);

        if (!path)
                return -ENOMEM;
        if (r == -ENOENT)
                return 0;
        /* A malformed pending file cannot be confirmed by anybody: drop it. */
        if (r < 0 || p.gen == gen)
                return file_remove(path);
        return 0;
}

int upgrade_mark(const char *boot_dir_resolved, unsigned gen, const char *status,
                 const char *reason)
{
        struct gen_record rec;
        enum gen_status st;
        char err[512];
        int r;

        if (gen_status_from_string(status, &st) < 0)
                return -EINVAL;
        r = gen_record_load(boot_dir_resolved, gen, &rec, err, sizeof(err));
        if (r < 0)
                return r;
        rec.status = st;
        snprintf(rec.reason, sizeof(rec.reason), "%s", reason ? reason : "");
        one_line(rec.reason);
        r = gen_record_save(boot_dir_resolved, NULL, &rec);
        if (r < 0)
                return r;
        return st == GEN_PENDING ? 0 : pending_clear(boot_dir_resolved, gen);
}

int upgrade_prune(const char *boot_dir_resolved, unsigned keep)
{
        _cleanup_free_ unsigned *gens = NULL;
        unsigned kept = 0;
        size_t n;
        int removed = 0, r;

        r = gen_list(boot_dir_resolved, &gens, &n);
        if (r < 0 || n == 0)
                return r;
        /* Newest first; the newest generation is the current one and always stays. */
        for (size_t i = n - 1; i-- > 0;) {
                _cleanup_free_ char *dir = NULL;
                struct gen_record rec;
                char err[512];

                if (gen_record_load(boot_dir_resolved, gens[i], &rec, err, sizeof(err)) < 0)
                        continue; /* a bad record is the admin's to look at, not ours to drop */
                if (rec.status != GEN_GOOD)
                        continue;
                if (kept < keep) {
                        kept++;
                        continue;
                }
                dir = gen_dir_path(boot_dir_resolved, gens[i]);
                if (!dir)
                        return -ENOMEM;
                r = gen_remove_dir(dir);
                if (r < 0)
                        return r;
                removed++;
        }
        return removed;
}

/* ---- rollback of a transaction -------------------------------------------------------------- */

/* tryboot.txt back as generation folder GDIR saved it, or gone when it had none. Before the
 * trial initramfs goes: tryboot.txt must never name a missing file. Returns 1 restored,
 * 2 removed, 0 nothing to do. */
static int rollback_tryboot(const char *boot_dir, const char *gdir, char *err, size_t err_size)
{
        _cleanup_free_ char *tb = path_join(boot_dir, TRYBOOT_TXT);
        _cleanup_free_ char *saved = path_join(gdir, TRYBOOT_TXT);
        int r;

        if (!tb || !saved)
                return -ENOMEM;
        if (!file_exists(saved)) {
                r = tryboot_remove(boot_dir);
                if (r < 0)
                        snprintf(err, err_size, "removing %s: %s", tb, strerror(-r));
                return r < 0 ? r : r ? 2 : 0;
        }
        r = file_exists(tb) ? same_content(tb, saved) : 0;
        if (r == 0) {
                r = restore_file(saved, tb);
                if (r < 0) {
                        snprintf(err, err_size, "restoring %s from %s: %s", tb, saved,
                                 strerror(-r));
                        return r;
                }
                return 1;
        }
        if (r < 0)
                snprintf(err, err_size, "comparing %s with %s: %s", tb, saved, strerror(-r));
        return r < 0 ? r : 0;
}

/* Undoes what journal T says may have been done, step by step so that config.txt always names
 * an initramfs that exists and passes: the old initramfs back first, then config.txt, then the
 * files config.txt no longer names. Idempotent: a crash inside it is rolled back again.
 * DONE gets a human list of what was restored. */
static int rollback_txn(const char *boot_dir, const struct txn *t, const char *reason, char *done,
                        size_t done_size, char *err, size_t err_size)
{
        _cleanup_free_ char *gdir = gen_dir_path(boot_dir, t->gen), *tmpdir = NULL;
        _cleanup_free_ char *final = NULL, *saved = NULL, *newf = NULL;
        _cleanup_free_ char *cfg = NULL, *cfg_saved = NULL;
        size_t used = 0;
        struct stat st;
        bool complete;
        int r;

#define DONE(...)                                                                                  \
        do {                                                                                       \
                if (used < done_size) {                                                            \
                        int _k = snprintf(done + used, done_size - used, __VA_ARGS__);             \
                        if (_k > 0)                                                                \
                                used += (size_t)_k;                                                \
                }                                                                                  \
        } while (0)

        if (done_size)
                done[0] = '\0';
        if (err_size)
                err[0] = '\0';
        if (!gdir || asprintf(&tmpdir, "%s.tmp", gdir) < 0)
                return -ENOMEM;
        complete = stat(gdir, &st) == 0 && S_ISDIR(st.st_mode);

        if (t->final[0] && t->final_touched) {
                final = path_join(boot_dir, t->final);
                saved = path_join(complete ? gdir : tmpdir, GEN_SAVED_FINAL);
                if (!final || !saved)
                        return -ENOMEM;
                if (t->final_existed) {
                        r = file_exists(final) ? same_content(final, saved) : 0;
                        if (r == 0) {
                                r = restore_file(saved, final);
                                if (r < 0) {
                                        snprintf(err, err_size, "restoring %s from %s: %s", final,
                                                 saved, strerror(-r));
                                        return r;
                                }
                                DONE("%s restored; ", t->final);
                        } else if (r < 0) {
                                snprintf(err, err_size, "comparing %s with %s: %s", final, saved,
                                         strerror(-r));
                                return r;
                        }
                }
        }
        if (t->config_touched) {
                cfg = path_join(boot_dir, "config.txt");
                cfg_saved = path_join(complete ? gdir : tmpdir, "config.txt");
                if (!cfg || !cfg_saved)
                        return -ENOMEM;
                r = same_content(cfg, cfg_saved);
                if (r == 0 || r == -ENOENT) {
                        r = restore_file(cfg_saved, cfg);
                        if (r < 0) {
                                snprintf(err, err_size, "restoring %s from %s: %s", cfg, cfg_saved,
                                         strerror(-r));
                                return r;
                        }
                        DONE("config.txt restored; ");
                } else if (r < 0) {
                        snprintf(err, err_size, "comparing %s with %s: %s", cfg, cfg_saved,
                                 strerror(-r));
                        return r;
                }
        }
        if (t->tryboot_touched) {
                r = rollback_tryboot(boot_dir, complete ? gdir : tmpdir, err, err_size);
                if (r < 0)
                        return r;
                if (r > 0)
                        DONE("tryboot.txt %s; ", r == 1 ? "restored" : "removed");
        }
        /* config.txt names the old file again: the new one can go. */
        if (final && !t->final_existed && file_exists(final)) {
                r = file_remove(final);
                if (r < 0) {
                        snprintf(err, err_size, "removing %s: %s", final, strerror(-r));
                        return r;
                }
                DONE("%s removed; ", t->final);
        }
        if (t->new_file[0]) {
                newf = path_join(boot_dir, t->new_file);
                if (!newf)
                        return -ENOMEM;
                if (file_exists(newf)) {
                        r = file_remove(newf);
                        if (r < 0) {
                                snprintf(err, err_size, "removing %s: %s", newf, strerror(-r));
                                return r;
                        }
                        DONE("%s removed; ", t->new_file);
                }
        }
        if (complete) {
                r = upgrade_mark(boot_dir, t->gen, "rolled-back", reason);
                if (r < 0 && r != -ENOENT) {
                        snprintf(err, err_size, "marking generation %u rolled back: %s", t->gen,
                                 strerror(-r));
                        return r;
                }
        } else {
                (void)gen_remove_dir(tmpdir);
                (void)pending_clear(boot_dir, t->gen);
        }
        if (used >= 2 && done[used - 2] == ';')
                done[used - 2] = '\0';
        if (!done[0] && done_size)
                snprintf(done, done_size, "nothing had changed");
        r = txn_remove(boot_dir);
        if (r < 0)
                snprintf(err, err_size, "removing the transaction journal: %s", strerror(-r));
        return r;
#undef DONE
}

int upgrade_recover_dir(const char *boot_dir_resolved, const struct logger *log)
{
        char err[1024], done[1024], reason[256], gen_s[32], step_s[64], kern_s[160];
        struct txn t;
        int r;

        r = txn_read(boot_dir_resolved, &t, err, sizeof(err));
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                if (log)
                        log_msg(log, LOG_ERR, "interrupted upgrade transaction cannot be read: %s",
                                err);
                return r;
        }
        snprintf(reason, sizeof(reason), "interrupted at step %s; rolled back by the next run",
                 t.step);
        r = rollback_txn(boot_dir_resolved, &t, reason, done, sizeof(done), err, sizeof(err));
        snprintf(gen_s, sizeof(gen_s), "NETROOT_GENERATION=%u", t.gen);
        snprintf(step_s, sizeof(step_s), "NETROOT_STEP=%s", t.step);
        snprintf(kern_s, sizeof(kern_s), "NETROOT_KERNEL=%s", t.kernel);
        const char *fields[] = {kern_s, gen_s, step_s, NULL};
        if (r < 0) {
                if (log)
                        log_event(log, LOG_ERR, MSGID_UPGRADE_ROLLBACK_FAILED, fields,
                                  "interrupted upgrade to %s (generation %u, step %s) could not "
                                  "be rolled back: %s",
                                  t.kernel, t.gen, t.step, err);
                return r;
        }
        if (log)
                log_event(log, LOG_WARNING, MSGID_TRANSACTION_RECOVERED, fields,
                          "interrupted upgrade to %s (generation %u, step %s) rolled back: %s",
                          t.kernel, t.gen, t.step, done);
        return 1;
}

int upgrade_recover(const char *root, const struct netroot_config *cfg, struct logger *log)
{
        _cleanup_free_ char *dir = root_path(root, cfg->agent.boot_dir);

        if (!dir)
                return -ENOMEM;
        return upgrade_recover_dir(dir, log);
}

/* ---- plan ---------------------------------------------------------------------------------- */

struct check_item {
        bool ok;
        char name[96];
        char detail[512];
};

#define MAX_CHECKS 16

struct plan {
        const struct upgrade_options *o;
        char model[PIINFO_MODEL_MAX];
        char serial[PIINFO_SERIAL_MAX];
        const char *boot_sys; /* boot folder as the system sees it */
        char *boot_dir;       /* with the --root prefix */
        char *config_path;
        char *config_text;
        size_t config_len;
        struct bootcfg_target pi;
        struct bootcfg_result res;
        struct flavour fl;
        char kver_from[FLAVOUR_VER_MAX];
        char kver[FLAVOUR_VER_MAX];
        char newer_note[256];
        char final[FLAVOUR_NAME_MAX];       /* boot-folder file the new initrd ends up as */
        char config_name[FLAVOUR_NAME_MAX]; /* the name written into config.txt; "": no edit */
        bool trial;         /* trial_boot=tryboot: config_name goes into tryboot.txt instead */
        unsigned trial_gen; /* the generation number the trial initramfs name carries */
        char *tryboot_path; /* <boot_dir>/tryboot.txt */
        bool final_exists;
        char new_file[FLAVOUR_NAME_MAX + 16];
        bool chroot_build;
        char tftp_server[256];
        char tftp_note[256];
        char *shared_dir;
        char *sys_kconfig; /* ROOT/boot/config-VER */
        bool kconfig_from_proc;
        unsigned long long current_size;
        size_t n_checks;
        struct check_item checks[MAX_CHECKS];
        char refusal[1024]; /* a plan-level refusal */
};

static void plan_free(struct plan *p)
{
        free(p->boot_dir);
        free(p->config_path);
        free(p->config_text);
        free(p->shared_dir);
        free(p->sys_kconfig);
        free(p->tryboot_path);
}

static _printf_(4, 5) void check_add(struct plan *p, bool ok, const char *name, const char *fmt,
                                     ...)
{
        struct check_item *c;
        va_list ap;

        if (p->n_checks >= MAX_CHECKS)
                return;
        c = &p->checks[p->n_checks++];
        c->ok = ok;
        snprintf(c->name, sizeof(c->name), "%s", name);
        va_start(ap, fmt);
        vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
        va_end(ap);
}

static bool checks_ok(const struct plan *p)
{
        for (size_t i = 0; i < p->n_checks; i++)
                if (!p->checks[i].ok)
                        return false;
        return !p->refusal[0];
}

static int plan_identity(struct plan *p)
{
        const struct upgrade_options *o = p->o;
        int r;

        r = piinfo_model(o->root, o->model ?: o->cfg->agent.model, p->model, sizeof(p->model));
        if (r < 0) {
                snprintf(p->refusal, sizeof(p->refusal),
                         "cannot read the Pi model from /proc/device-tree/model: %s; "
                         "pass --model or set [agent] model=",
                         strerror(-r));
                return r;
        }
        r = piinfo_serial(o->root, o->serial ?: o->cfg->agent.serial, p->serial, sizeof(p->serial));
        if (r < 0) {
                snprintf(p->refusal, sizeof(p->refusal),
                         "cannot read the Pi serial from the Serial line of /proc/cpuinfo: %s; "
                         "pass --serial or set [agent] serial=",
                         r == -ENODATA ? "no Serial line" : strerror(-r));
                return r;
        }
        p->pi.model = p->model;
        p->pi.serial = p->serial;
        return 0;
}

static int plan_tftp(struct plan *p)
{
        const struct upgrade_config *u = &p->o->cfg->upgrade;
        _cleanup_free_ char *mounts_path = NULL, *mounts = NULL;
        char host[256];
        int r;

        if (!p->o->fetch) {
                snprintf(p->tftp_note, sizeof(p->tftp_note), "off (no TFTP client)");
                return 0;
        }
        if (u->verify_tftp == VERIFY_TFTP_OFF) {
                snprintf(p->tftp_note, sizeof(p->tftp_note), "off (verify_tftp=off)");
                return 0;
        }
        if (!streq(u->tftp, "auto")) {
                snprintf(p->tftp_server, sizeof(p->tftp_server), "%s", u->tftp);
                return 0;
        }
        mounts_path = root_path(p->o->root, "/proc/mounts");
        if (!mounts_path)
                return -ENOMEM;
        r = file_read_all(mounts_path, PROC_FILE_MAX, &mounts, NULL);
        if (r >= 0)
                r = flavour_nfs_server(mounts, p->boot_sys, host, sizeof(host));
        if (r >= 0) {
                snprintf(p->tftp_server, sizeof(p->tftp_server), "%s", host);
                return 0;
        }
        snprintf(p->tftp_note, sizeof(p->tftp_note),
                 "no server known (tftp=auto and %s is not an NFS mount in /proc/mounts)",
                 p->boot_sys);
        return 0;
}

/* trial_boot=tryboot: the new initramfs gets a name of its own, named only by tryboot.txt, so
 * nothing config.txt loads is ever replaced. */
static int plan_trial(struct plan *p)
{
        char name[FLAVOUR_NAME_MAX];
        int r;

        r = gen_next_number(p->boot_dir, &p->trial_gen);
        if (r >= 0)
                r = tryboot_initrd_name(p->kver, p->trial_gen, name, sizeof(name));
        if (r < 0) {
                snprintf(p->refusal, sizeof(p->refusal), "trial initramfs name: %s", strerror(-r));
                return r;
        }
        snprintf(p->config_name, sizeof(p->config_name), "%s", name);
        snprintf(p->final, sizeof(p->final), "%s%s", p->res.os_prefix, name);
        for (size_t i = 0; i < p->res.n_initramfs; i++)
                if (streq(p->res.initramfs[i], p->final)) {
                        snprintf(p->refusal, sizeof(p->refusal),
                                 "config.txt already boots %s, the trial initramfs name; run "
                                 "netrootctl history and retry",
                                 p->final);
                        return -EEXIST;
                }
        p->tryboot_path = path_join(p->boot_dir, TRYBOOT_TXT);
        return p->tryboot_path ? 0 : -ENOMEM;
}

static int plan_make(struct plan *p)
{
        const struct upgrade_options *o = p->o;
        const char *prefix;
        char why[512], choice[FLAVOUR_VER_MAX];
        _cleanup_free_ char *cur = NULL;
        struct bootcfg_diag diag;
        struct stat st;
        int r;

        r = plan_identity(p);
        if (r < 0)
                return r;
        p->trial = o->cfg->upgrade.trial_boot == TRIAL_BOOT_TRYBOOT;
        p->boot_sys = o->cfg->agent.boot_dir;
        p->boot_dir = root_path(o->root, p->boot_sys);
        if (!p->boot_dir)
                return -ENOMEM;
        p->config_path = path_join(p->boot_dir, "config.txt");
        if (!p->config_path)
                return -ENOMEM;
        r = file_read_regular(p->config_path, CONFIG_TXT_MAX, &p->config_text, &p->config_len);
        if (r < 0) {
                snprintf(p->refusal, sizeof(p->refusal), "cannot read %s: %s", p->config_path,
                         file_strerror(r));
                return r;
        }
        if (text_nul_line(p->config_text, p->config_len)) {
                snprintf(p->refusal, sizeof(p->refusal),
                         "%s:%u: NUL byte: the file is damaged (a write cut short?); restore it "
                         "(netrootctl rollback) or fix it before upgrading",
                         p->config_path, text_nul_line(p->config_text, p->config_len));
                return -EBADMSG;
        }
        bootcfg_diag_init(&diag, p->config_path);
        r = bootcfg_evaluate(p->config_text, p->config_len, &p->pi, &p->res, &diag);
        if (r < 0 || bootcfg_diag_error(&diag)) {
                snprintf(p->refusal, sizeof(p->refusal), "%s",
                         bootcfg_diag_error(&diag) ? bootcfg_diag_error(&diag)
                                                   : "config.txt cannot be evaluated");
                return r < 0 ? r : -EINVAL;
        }
        r = flavour_detect(o->root, &p->res, &p->fl, why, sizeof(why));
        if (r < 0) {
                snprintf(p->refusal, sizeof(p->refusal), "%s", why);
                return r;
        }
        /* Before the kernel choice: its refusals would hide this one's fix. */
        if (p->trial && (p->fl.rename_switch || p->res.initramfs_from == BOOTCFG_INITRAMFS_AUTO)) {
                snprintf(p->refusal, sizeof(p->refusal),
                         "trial_boot=tryboot needs an initramfs line to switch in tryboot.txt, "
                         "but config.txt line %u sets auto_initramfs=1: the firmware derives the "
                         "initramfs name from the kernel file (%s), so a trial initramfs cannot "
                         "be named. Fix: set trial_boot = none in [upgrade] of agent.conf, or "
                         "replace auto_initramfs=1 by `initramfs initrd.img-VERSION followkernel`",
                         p->res.auto_initramfs_line, p->fl.kernel_file);
                return -EOPNOTSUPP;
        }

        /* Target version. */
        if (o->kernel)
                snprintf(p->kver, sizeof(p->kver), "%s", o->kernel);
        else if (!p->fl.kind)
                snprintf(p->kver, sizeof(p->kver), "%s", p->fl.explicit_version);
        else if (flavour_newest_version(o->root, &p->fl, p->kver, sizeof(p->kver)) < 0) {
                snprintf(p->refusal, sizeof(p->refusal),
                         "no kernel for %s under /lib/modules (versions ending in %s or %s); "
                         "pass --kernel",
                         p->fl.kind->image, p->fl.kind->suffix_raspbian, p->fl.kind->suffix_rpios);
                return -ENOENT;
        }
        if (strchr(p->kver, '/') || p->kver[0] == '.' || strpbrk(p->kver, " \t\n,")) {
                snprintf(p->refusal, sizeof(p->refusal), "bad kernel version '%s'", p->kver);
                return -EINVAL;
        }
        if (!flavour_version_matches(&p->fl, p->kver)) {
                snprintf(p->refusal, sizeof(p->refusal),
                         "kernel %s does not fit this Pi's kernel file %s (%s)", p->kver,
                         p->fl.kernel_file, p->fl.description);
                return -EINVAL;
        }
        if (!p->fl.kind && !streq(p->kver, p->fl.explicit_version)) {
                snprintf(p->refusal, sizeof(p->refusal),
                         "config.txt line %u boots %s explicitly; an initramfs for %s would not "
                         "match it. Point kernel= at vmlinuz-%s first",
                         p->res.kernel_line, p->fl.kernel_file, p->kver, p->kver);
                return -EINVAL;
        }
        if (!p->fl.kind) {
                char newest[FLAVOUR_VER_MAX];
                if (flavour_newest_version(o->root, &p->fl, newest, sizeof(newest)) == 0 &&
                    strverscmp(newest, p->kver) > 0)
                        snprintf(p->newer_note, sizeof(p->newer_note),
                                 "kernel %s is installed too; config.txt names %s explicitly",
                                 newest, p->fl.kernel_file);
        }
        if (p->fl.packaging == PACKAGING_RASPI_FIRMWARE) {
                r = flavour_raspi_firmware_choice(o->root, choice, sizeof(choice));
                if (r < 0 || !streq(choice, p->kver)) {
                        snprintf(p->refusal, sizeof(p->refusal),
                                 "Debian's raspi-firmware is installed (%s): its kernel hook "
                                 "rewrites config.txt on every kernel install for the newest "
                                 "/boot/vmlinuz-* (%s), so an initramfs switch to %s would be "
                                 "undone. Fix: upgrade to %s (--kernel %s), or remove the newer "
                                 "kernel package; settings belong in /etc/default/raspi-firmware",
                                 p->fl.raspi_firmware_evidence, r < 0 ? "none" : choice, p->kver,
                                 r < 0 ? "it" : choice, r < 0 ? "VER" : choice);
                        return -EPERM;
                }
        }
        tryboot_kver_from_initrd_name(p->fl.initramfs_current, p->kver_from, sizeof(p->kver_from));
        if (!p->kver_from[0] && !p->fl.kind)
                snprintf(p->kver_from, sizeof(p->kver_from), "%s", p->fl.explicit_version);

        /* Where the new initrd goes and how the Pi is switched to it. */
        prefix = p->res.os_prefix;
        if (p->trial) {
                r = plan_trial(p);
                if (r < 0)
                        return r;
        } else if (p->fl.rename_switch) {
                snprintf(p->final, sizeof(p->final), "%s", p->fl.initramfs_current);
                p->config_name[0] = '\0';
        } else {
                snprintf(p->final, sizeof(p->final), "%sinitrd.img-%s", prefix, p->kver);
                if (!streq(p->final, p->fl.initramfs_current) || p->res.n_initramfs != 1)
                        snprintf(p->config_name, sizeof(p->config_name), "initrd.img-%s", p->kver);
        }
        {
                const char *f = p->final;
                while (*f == '/')
                        f++;
                memmove(p->final, f, strlen(f) + 1);
        }
        snprintf(p->new_file, sizeof(p->new_file), "%s%s", p->final, NEW_SUFFIX);
        {
                _cleanup_free_ char *fp = path_join(p->boot_dir, p->final);
                p->final_exists = file_exists(fp);
        }
        cur = p->fl.initramfs_current[0] ? path_join(p->boot_dir, p->fl.initramfs_current) : NULL;
        if (cur && stat(cur, &st) == 0)
                p->current_size = (unsigned long long)st.st_size;

        if (o->root) {
                _cleanup_free_ char *mk = root_path(o->root, MKINITRAMFS);
                p->chroot_build = file_exists(mk);
        }
        p->sys_kconfig = root_pathf(o->root, "/boot/config-%s", p->kver);
        if (!p->sys_kconfig)
                return -ENOMEM;
        if (o->cfg->upgrade.shared_dir[0]) {
                p->shared_dir = root_path(o->root, o->cfg->upgrade.shared_dir);
                if (!p->shared_dir)
                        return -ENOMEM;
        }
        return plan_tftp(p);
}

static void plan_print(const struct plan *p, FILE *out)
{
        const struct upgrade_options *o = p->o;

        fprintf(out, "plan:\n");
        fprintf(out, "  pi:              %s, serial %s\n", p->model, p->serial);
        fprintf(out, "  boot folder:     %s\n", p->boot_dir);
        fprintf(out, "  packaging:       %s%s\n", packaging_to_string(p->fl.packaging),
                p->fl.packaging == PACKAGING_RPIOS
                    ? " (auto_initramfs: the switch renames onto the initramfs file)"
                : p->fl.packaging == PACKAGING_RASPI_FIRMWARE
                    ? " (Debian raspi-firmware: only the edit its hook makes itself)"
                    : " (initramfs line in config.txt)");
        fprintf(out, "  kernel file:     %s (%s)\n", p->fl.kernel_file, p->fl.description);
        fprintf(out, "  kernel:          %s -> %s\n", p->kver_from[0] ? p->kver_from : "?",
                p->kver);
        if (p->newer_note[0])
                fprintf(out, "  note:            %s\n", p->newer_note);
        fprintf(out, "  initramfs:       %s -> %s",
                p->fl.initramfs_current[0] ? p->fl.initramfs_current : "(none)", p->final);
        if (p->trial)
                fprintf(out, " (named in tryboot.txt; config.txt unchanged until netrootd "
                             "confirms the trial boot)\n");
        else if (p->config_name[0])
                fprintf(out, " (config.txt edited)\n");
        else
                fprintf(out, " (replaced by rename; the old one kept in the generation)\n");
        fprintf(out, "  build:           mkinitramfs -o %s/%s %s", p->boot_sys, p->new_file,
                p->kver);
        if (p->chroot_build)
                fprintf(out, " (in chroot %s)", o->root);
        fprintf(out, "\n");
        if (p->tftp_server[0])
                fprintf(out, "  tftp verify:     %s (%s/%s, %s/%s)\n", p->tftp_server, p->serial,
                        p->trial ? TRYBOOT_TXT : "config.txt", p->serial, p->final);
        else
                fprintf(out, "  tftp verify:     %s\n", p->tftp_note);
        fprintf(out, "  shared firmware: %s\n",
                p->shared_dir ? p->shared_dir : "not managed (no shared_dir)");
}

/* ---- preflight ------------------------------------------------------------------------------- */

static bool dpkg_installed(const char *root, const char *pkg)
{
        _cleanup_free_ char *path = root_path(root, "/var/lib/dpkg/status"), *text = NULL;
        char needle[128];
        const char *s;

        if (!path || file_read_all(path, 64 * 1024 * 1024, &text, NULL) < 0)
                return false;
        snprintf(needle, sizeof(needle), "Package: %s\n", pkg);
        for (s = text; (s = strstr(s, needle)); s += strlen(needle)) {
                const char *end = strstr(s, "\n\n");
                const char *st = strstr(s, "\nStatus: install ok installed\n");

                if (s != text && s[-1] != '\n')
                        continue;
                if (st && (!end || st < end))
                        return true;
        }
        return false;
}

static int running_kernel(const char *root, char *buf, size_t size)
{
        struct utsname u;

        if (root && !streq(root, "/") && root[0]) {
                _cleanup_free_ char *p = root_path(root, "/proc/sys/kernel/osrelease");
                return p ? file_read_value(p, buf, size) : -ENOMEM;
        }
        if (uname(&u) < 0)
                return -errno;
        snprintf(buf, size, "%s", u.release);
        return 0;
}

/* Probes by creating a file: access(2) says yes on NFS with root squash and on some
 * read-only binds where a write still fails. */
static int probe_writable(const char *dir)
{
        _cleanup_free_ char *p = NULL;
        int fd;

        if (asprintf(&p, "%s/.netroot-write-test.%d", dir, (int)getpid()) < 0)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        unlink(p);
        return 0;
}

/* Every name the upgrade writes, replaces or copies into a generation must be the thing itself:
 * a symlink planted in the boot folder (an NFS export other hosts can write) would make the
 * agent write through it, or copy what it points at into the exported generation. Returns the
 * first offender's name, NULL when all are plain. */
static const char *boot_symlink(const struct plan *p, char *what, size_t what_size)
{
        const char *names[] = {"config.txt", p->res.cmdline, TRYBOOT_TXT, p->fl.kernel_file,
                               p->final,     GEN_STORE,      NULL};
        struct stat st;

        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = NULL;

                if (!names[i][0])
                        continue;
                path = path_join(p->boot_dir, names[i]);
                if (path && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
                        snprintf(what, what_size, "%s", path);
                        return what;
                }
        }
        return NULL;
}

static void preflight(struct plan *p)
{
        const struct upgrade_options *o = p->o;
        _cleanup_free_ char *mods = root_pathf(o->root, "/lib/modules/%s", p->kver);
        _cleanup_free_ char *iscsistart = root_path(o->root, "/usr/sbin/iscsistart");
        _cleanup_free_ char *procconf = root_path(o->root, "/proc/config.gz");
        _cleanup_free_ char *kernel = path_join(p->boot_dir, p->fl.kernel_file);
        unsigned long long need, avail;
        char running[128] = "", link[4096];
        struct statvfs sv;
        struct stat st;
        int r;

        if (boot_symlink(p, link, sizeof(link)))
                check_add(p, false, "boot files",
                          "%s is a symlink: refusing to write through it or to copy what it "
                          "points at (put the file itself there)",
                          link);
        if (mods && stat(mods, &st) == 0 && S_ISDIR(st.st_mode))
                check_add(p, true, "modules", "/lib/modules/%s present", p->kver);
        else
                check_add(p, false, "modules", "/lib/modules/%s missing: kernel %s not installed",
                          p->kver, p->kver);

        if (file_exists(iscsistart))
                check_add(p, true, "open-iscsi", "/usr/sbin/iscsistart present");
        else if (dpkg_installed(o->root, "open-iscsi"))
                check_add(p, true, "open-iscsi", "package open-iscsi installed");
        else
                check_add(p, false, "open-iscsi",
                          "not installed: the initramfs could not log in to the iSCSI root "
                          "(apt-get install open-iscsi)");

        if (file_exists(kernel))
                check_add(p, true, "kernel file", "%s present", p->fl.kernel_file);
        else
                check_add(p, false, "kernel file", "%s missing from %s", p->fl.kernel_file,
                          p->boot_dir);

        running_kernel(o->root, running, sizeof(running));
        if (file_exists(p->sys_kconfig))
                check_add(p, true, "kernel config", "/boot/config-%s present", p->kver);
        else if (streq(running, p->kver) && file_exists(procconf)) {
                p->kconfig_from_proc = true;
                check_add(p, true, "kernel config",
                          "/boot/config-%s missing; will be written from /proc/config.gz "
                          "(%s is the running kernel)",
                          p->kver, p->kver);
        } else
                check_add(p, false, "kernel config",
                          "/boot/config-%s missing and %s is not the running kernel with "
                          "/proc/config.gz (running: %s): mkinitramfs would fail with \"E: gzip "
                          "compression (CONFIG_RD_GZIP) not supported by kernel\". Fix: boot %s "
                          "once and rerun, or install the kernel's config file",
                          p->kver, p->kver, running[0] ? running : "unknown", p->kver);

        if (o->root && !p->chroot_build)
                check_add(p, false, "mkinitramfs", "%s%s missing: --root is no full system",
                          o->root, MKINITRAMFS);
        else if (!o->root && !file_exists(MKINITRAMFS))
                check_add(p, false, "mkinitramfs", "%s missing (apt-get install initramfs-tools)",
                          MKINITRAMFS);

        /* The new initrd is built next to the old one, which stays until the switch. */
        need = 2 * (p->current_size ? p->current_size : 32 * MIB) + 16 * MIB;
        if (statvfs(p->boot_dir, &sv) < 0)
                check_add(p, false, "free space", "statvfs %s: %s", p->boot_dir, strerror(errno));
        else {
                avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
                check_add(p, avail >= need, "free space", "%llu MiB free in %s, %llu MiB needed",
                          avail / MIB, p->boot_dir, (need + MIB - 1) / MIB);
        }
        r = probe_writable(p->boot_dir);
        if (r < 0)
                check_add(p, false, "writable", "cannot create files in %s: %s", p->boot_dir,
                          strerror(-r));
        else
                check_add(p, true, "writable", "%s", p->boot_dir);

        if (p->shared_dir) {
                if (stat(p->shared_dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        check_add(p, false, "shared firmware", "shared_dir %s: %s", p->shared_dir,
                                  errno ? strerror(errno) : "not a folder");
                else if ((r = probe_writable(p->shared_dir)) < 0)
                        check_add(p, false, "shared firmware",
                                  "shared_dir %s not writable (the lock and the backup go "
                                  "there): %s",
                                  p->shared_dir, strerror(-r));
                else
                        check_add(p, true, "shared firmware", "%s writable", p->shared_dir);
        }
        if (o->cfg->upgrade.verify_tftp == VERIFY_TFTP_REQUIRED && !p->tftp_server[0])
                check_add(p, false, "tftp", "verify_tftp=required but %s", p->tftp_note);
}

static void preflight_print(const struct plan *p, FILE *out)
{
        fprintf(out, "preflight:\n");
        if (p->refusal[0])
                fprintf(out, "  FAIL  plan: %s\n", p->refusal);
        for (size_t i = 0; i < p->n_checks; i++)
                fprintf(out, "  %-4s  %s: %s\n", p->checks[i].ok ? "ok" : "FAIL", p->checks[i].name,
                        p->checks[i].detail);
}

/* /proc/config.gz -> /boot/config-VER: mkinitramfs reads the kernel config to pick the
 * compression, and raspberrypi-kernel ships none (FACTS: raspberrypi/linux#5496). */
static int write_kconfig_from_proc(const struct plan *p, char *why, size_t why_size)
{
        _cleanup_free_ char *src = root_path(p->o->root, "/proc/config.gz"), *tmp = NULL;
        int status, fd_in, fd_out;
        pid_t pid;

        if (!src || asprintf(&tmp, "%s.netroot-tmp", p->sys_kconfig) < 0)
                return -ENOMEM;
        fd_in = open(src, O_RDONLY | O_CLOEXEC);
        if (fd_in < 0) {
                snprintf(why, why_size, "%s: %s", src, strerror(errno));
                return -errno;
        }
        fd_out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd_out < 0) {
                int e = errno;
                close(fd_in);
                snprintf(why, why_size, "%s: %s", tmp, strerror(e));
                return -e;
        }
        pid = fork();
        if (pid == 0) {
                char *argv[] = {"gzip", "-dc", NULL};
                char *envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};

                if (dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0)
                        _exit(127);
                execve("/bin/gzip", argv, envp);
                execve("/usr/bin/gzip", argv, envp);
                _exit(127);
        }
        close(fd_in);
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0 || fsync(fd_out) < 0) {
                close(fd_out);
                unlink(tmp);
                snprintf(why, why_size, "decompressing %s failed", src);
                return -EIO;
        }
        close(fd_out);
        if (rename(tmp, p->sys_kconfig) < 0) {
                int e = errno;
                unlink(tmp);
                snprintf(why, why_size, "%s: %s", p->sys_kconfig, strerror(e));
                return -e;
        }
        return 0;
}

/* ---- the transaction ------------------------------------------------------------------------ */

struct run {
        struct plan *p;
        unsigned gen;
        struct txn txn;
        char gen_s[32], step_s[48], kern_s[160];
        const char *fields[4];
        char new_sha[SHA256_HEX_SIZE];
        char config_sha[SHA256_HEX_SIZE];
        char failure[1024];
        char shared_backup_abs[4096];
};

static void run_fields(struct run *u, const char *step)
{
        snprintf(u->gen_s, sizeof(u->gen_s), "NETROOT_GENERATION=%u", u->gen);
        snprintf(u->step_s, sizeof(u->step_s), "NETROOT_STEP=%s", step);
        snprintf(u->kern_s, sizeof(u->kern_s), "NETROOT_KERNEL=%s", u->p->kver);
        u->fields[0] = u->kern_s;
        u->fields[1] = u->gen_s;
        u->fields[2] = u->step_s;
        u->fields[3] = NULL;
}

static _printf_(3, 4) void step_begin(struct run *u, unsigned idx, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "step %u/%u: %s: %s\n", idx + 1, N_STEPS, step_names[idx], msg);
        run_fields(u, step_names[idx]);
        if (u->p->o->events)
                log_event(u->p->o->events, LOG_INFO, MSGID_UPGRADE_STEP, u->fields,
                          "upgrade to %s, step %u/%u %s: %s", u->p->kver, idx + 1, N_STEPS,
                          step_names[idx], msg);
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

static int journal(struct run *u, const char *step)
{
        int r;

        snprintf(u->txn.step, sizeof(u->txn.step), "%s", step);
        r = txn_write(u->p->boot_dir, &u->txn);
        if (r < 0)
                return step_fail(u, "writing the transaction journal in %s/%s: %s", u->p->boot_dir,
                                 GEN_STORE, strerror(-r));
        return 0;
}

/* The files this Pi boots, for the manifest: what config.txt names plus the firmware and
 * device trees found in the folder (the per-Pi copies bootcode.bin loads from <serial>/). */
static size_t boot_file_names(const struct plan *p, const char **names, size_t max,
                              char storage[][FLAVOUR_NAME_MAX])
{
        static const char *const patterns[] = {"*.dtb", "bootcode.bin", "start*.elf", "fixup*.dat"};
        size_t n = 0, s = 0;
        struct dirent *de;
        DIR *d;

#define ADD(x)                                                                                     \
        do {                                                                                       \
                if (n < max && s < max) {                                                          \
                        const char *_x = (x);                                                      \
                        while (*_x == '/')                                                         \
                                _x++;                                                              \
                        snprintf(storage[s], FLAVOUR_NAME_MAX, "%s", _x);                          \
                        names[n++] = storage[s++];                                                 \
                }                                                                                  \
        } while (0)

        ADD("config.txt");
        ADD(p->res.cmdline);
        ADD("tryboot.txt");
        ADD(p->res.kernel);
        for (size_t i = 0; i < p->res.n_initramfs; i++)
                ADD(p->res.initramfs[i]);
        d = opendir(p->boot_dir);
        if (d) {
                while ((de = readdir(d)))
                        for (size_t i = 0; i < ARRAY_SIZE(patterns); i++)
                                if (fnmatch(patterns[i], de->d_name, 0) == 0)
                                        ADD(de->d_name);
                closedir(d);
        }
        return n;
#undef ADD
}

/* [cluster lock] Releases the shared firmware lock and reports a failure: a lock that was no
 * longer ours means whatever was written under it may have overlapped another holder. */
static int lock_release_report(struct cluster_lock *l)
{
        int r;

        if (!l->held)
                return 0;
        r = cluster_lock_release(l);
        if (r < 0)
                fprintf(stderr, "netrootctl: warning: releasing the shared firmware lock %s: %s\n",
                        l->path,
                        r == -ESTALE ? "it was no longer ours (taken over after its TTL)"
                                     : strerror(-r));
        return r;
}

static int step_backup(struct run *u)
{
        struct plan *p = u->p;
        const struct upgrade_options *o = p->o;
        _cleanup_free_ char *gdir = NULL, *tmpdir = NULL, *store = NULL;
        static char storage[GEN_MANIFEST_FILES][FLAVOUR_NAME_MAX];
        const char *names[GEN_MANIFEST_FILES];
        struct cluster_lock lock = {0};
        struct gen_record rec = {0};
        struct firmware_set set;
        struct timespec wait_from, locked_at, released_at;
        size_t n;
        int r;

        /* The shared lock first: when another Pi holds it nothing has been changed yet. */
        if (p->shared_dir) {
                struct cluster_lock_holder h = {0};
                time_t t0 = time(NULL);

                clock_gettime(CLOCK_MONOTONIC, &wait_from);
                r = cluster_lock_acquire(&lock, p->shared_dir, p->serial,
                                         o->lock_ttl_sec ? o->lock_ttl_sec : 600, o->lock_wait_sec,
                                         &h);
                if (r == -EBUSY) {
                        char until[32];
                        struct tm tm;

                        gmtime_r(&h.stale_at, &tm); /* the NAS's clock */
                        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
                        step_fail(u,
                                  "shared firmware locked by %s@%s pid %ld until %s; waited %ld s",
                                  h.serial, h.host, h.pid, until, (long)(time(NULL) - t0));
                        return -EBUSY;
                }
                if (r < 0) {
                        step_fail(u, "cannot lock the shared firmware: %s/%s: %s", p->shared_dir,
                                  CLUSTER_LOCK_NAME, r == -ELOOP ? file_strerror(r) : strerror(-r));
                        return -EBUSY;
                }
                /* Several Pis upgrading at once queue here; the admin should see for how long. */
                clock_gettime(CLOCK_MONOTONIC, &locked_at);
                fprintf(stderr, "  shared firmware lock taken after %.1f s\n",
                        (double)(locked_at.tv_sec - wait_from.tv_sec) +
                            (double)(locked_at.tv_nsec - wait_from.tv_nsec) / 1e9);
        }

        store = gen_store_path(p->boot_dir);
        r = store ? mkdir_parents(store, 0755) : -ENOMEM;
        if (r >= 0) {
                struct stat st;

                /* The journal and every generation go in here: never through a symlink. */
                if (lstat(store, &st) < 0)
                        r = -errno;
                else if (S_ISLNK(st.st_mode))
                        r = -ELOOP;
                else if (!S_ISDIR(st.st_mode))
                        r = -ENOTDIR;
        }
        if (r >= 0)
                r = gen_next_number(p->boot_dir, &u->gen);
        if (r < 0) {
                lock_release_report(&lock);
                step_fail(u, "generation store %s: %s", store ? store : p->boot_dir,
                          file_strerror(r));
                return -EBUSY; /* nothing changed yet */
        }
        if (p->trial && u->gen != p->trial_gen) {
                lock_release_report(&lock);
                step_fail(u,
                          "generation %u was taken since the plan (another upgrade of this boot "
                          "folder?); run again",
                          p->trial_gen);
                return -EBUSY; /* nothing changed yet */
        }
        u->txn.gen = u->gen;
        snprintf(u->txn.kernel, sizeof(u->txn.kernel), "%s", p->kver);
        snprintf(u->txn.new_file, sizeof(u->txn.new_file), "%s", p->new_file);
        snprintf(u->txn.final, sizeof(u->txn.final), "%s", p->final);
        u->txn.final_existed = p->final_exists;
        if (journal(u, "backup") < 0) {
                lock_release_report(&lock);
                return -EBUSY;
        }

        gdir = gen_dir_path(p->boot_dir, u->gen);
        if (!gdir || asprintf(&tmpdir, "%s.tmp", gdir) < 0) {
                lock_release_report(&lock);
                return step_fail(u, "out of memory");
        }
        if (mkdir(tmpdir, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                lock_release_report(&lock);
                return step_fail(u, "mkdir %s: %s", tmpdir, strerror(-r));
        }
        {
                struct stat st;

                /* A leftover of a crash is reused; anything planted there is not written into. */
                if (lstat(tmpdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        lock_release_report(&lock);
                        return step_fail(u, "%s is %s: refusing to write a generation into it",
                                         tmpdir,
                                         S_ISLNK(st.st_mode) ? "a symlink" : "not a folder");
                }
        }

        if (p->shared_dir) {
                char bdir[4096];
                size_t sl = strlen(p->shared_dir);

                char why[1024];

                r = firmware_set_backup_locked(p->shared_dir, p->serial, &lock, bdir, sizeof(bdir),
                                               &set, why, sizeof(why));
                lock_release_report(&lock);
                clock_gettime(CLOCK_MONOTONIC, &released_at);
                /* The module's message names the offending file (a planted symlink, say). */
                if (r < 0)
                        return step_fail(u, "backing up the shared firmware: %s",
                                         why[0] ? why : strerror(-r));
                fprintf(stderr, "  shared firmware backed up to %s; lock released after %.2f s\n",
                        bdir,
                        (double)(released_at.tv_sec - locked_at.tv_sec) +
                            (double)(released_at.tv_nsec - locked_at.tv_nsec) / 1e9);
                snprintf(u->shared_backup_abs, sizeof(u->shared_backup_abs), "%s", bdir);
                /* Relative to shared_dir: the NAS mounts it somewhere else. */
                snprintf(rec.shared_backup, sizeof(rec.shared_backup), "%s",
                         strncmp(bdir, p->shared_dir, sl) == 0 && bdir[sl] == '/' ? bdir + sl + 1
                                                                                  : bdir);
                snprintf(u->txn.shared_backup, sizeof(u->txn.shared_backup), "%s",
                         rec.shared_backup);
        }

        {
                const char *copies[] = {"config.txt", p->res.cmdline, "tryboot.txt"};
                const char *as[] = {"config.txt", "cmdline.txt", "tryboot.txt"};

                for (size_t i = 0; i < ARRAY_SIZE(copies); i++) {
                        _cleanup_free_ char *src = path_join(p->boot_dir, copies[i]);
                        _cleanup_free_ char *dst = path_join(tmpdir, as[i]);

                        if (!src || !dst)
                                return step_fail(u, "out of memory");
                        if (!file_exists(src)) {
                                if (i == 2)
                                        continue;
                                if (i == 1)
                                        continue; /* a Pi may boot without cmdline.txt */
                        }
                        r = gen_copy_file(src, dst, false);
                        if (r < 0)
                                return step_fail(u, "saving %s: %s", src, strerror(-r));
                        if (i == 2)
                                rec.tryboot = true;
                }
        }
        if (p->final_exists) {
                _cleanup_free_ char *src = path_join(p->boot_dir, p->final);
                _cleanup_free_ char *dst = path_join(tmpdir, GEN_SAVED_FINAL);

                if (!src || !dst)
                        return step_fail(u, "out of memory");
                unlink(dst);
                r = gen_copy_file(src, dst, true);
                if (r < 0)
                        return step_fail(u, "saving %s: %s", src, strerror(-r));
        }
        n = boot_file_names(p, names, ARRAY_SIZE(names), storage);
        r = gen_manifest_write(tmpdir, p->boot_dir, names, n);
        if (r < 0)
                return step_fail(u, "writing the manifest in %s: %s", tmpdir, strerror(-r));

        rec.gen = u->gen;
        utc_now(rec.created, sizeof(rec.created));
        snprintf(rec.kernel_from, sizeof(rec.kernel_from), "%s", p->kver_from);
        snprintf(rec.kernel_to, sizeof(rec.kernel_to), "%s", p->kver);
        snprintf(rec.initramfs_from, sizeof(rec.initramfs_from), "%s", p->fl.initramfs_current);
        snprintf(rec.initramfs_to, sizeof(rec.initramfs_to), "%s", p->final);
        rec.status = GEN_PENDING;
        snprintf(rec.reason, sizeof(rec.reason), "upgrade in progress");
        snprintf(rec.packaging, sizeof(rec.packaging), "%s", packaging_to_string(p->fl.packaging));
        snprintf(rec.model, sizeof(rec.model), "%s", p->model);
        snprintf(rec.serial, sizeof(rec.serial), "%s", p->serial);
        snprintf(rec.cmdline_name, sizeof(rec.cmdline_name), "%s", p->res.cmdline);
        snprintf(rec.final, sizeof(rec.final), "%s", p->final);
        rec.final_existed = p->final_exists;
        if (p->trial)
                snprintf(rec.trial, sizeof(rec.trial), "%s", TRYBOOT_TRIAL);
        one_line(rec.model);
        r = gen_record_save(NULL, tmpdir, &rec);
        if (r < 0)
                return step_fail(u, "writing the generation record: %s", strerror(-r));
        if (rename(tmpdir, gdir) < 0)
                return step_fail(u, "rename %s -> %s: %s", tmpdir, gdir, strerror(errno));
        fprintf(stderr, "  generation %u saved in %s (%zu boot files hashed)\n", u->gen, gdir, n);
        return 0;
}

static void notify_extend(void)
{
        if (getenv("NOTIFY_SOCKET"))
                sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%llu",
                           (unsigned long long)(EXTEND_EVERY_SEC * 3) * 1000000ULL);
}

static int step_build(struct run *u)
{
        struct plan *p = u->p;
        const char *from = getenv("NETROOT_TEST_INITRD_FROM");
        _cleanup_free_ char *out = path_join(p->boot_dir, p->new_file);
        _cleanup_free_ char *out_sys = path_join(p->boot_sys, p->new_file);
        _cleanup_free_ char *logp = NULL, *logtext = NULL;
        struct timespec t0, now;
        time_t last_extend;
        int status, r;
        pid_t pid;

        if (!out || !out_sys)
                return step_fail(u, "out of memory");
        if (journal(u, "build") < 0)
                return -1;
        unlink(out);
        if (p->kconfig_from_proc) {
                char why[512];
                r = write_kconfig_from_proc(p, why, sizeof(why));
                if (r < 0)
                        return step_fail(u, "writing /boot/config-%s: %s", p->kver, why);
                fprintf(stderr, "  /boot/config-%s written from /proc/config.gz\n", p->kver);
        }
        if (from && from[0]) {
                /* Test hook: the crash and failure tests are not about mkinitramfs' 20 s. */
                r = gen_copy_file(from, out, false);
                if (r < 0)
                        return step_fail(u, "NETROOT_TEST_INITRD_FROM=%s: %s", from, strerror(-r));
                fprintf(stderr, "  NETROOT_TEST_INITRD_FROM: copied %s\n", from);
                goto built;
        }
        logp = gen_dir_path(p->boot_dir, u->gen);
        if (!logp)
                return step_fail(u, "out of memory");
        {
                char *l;
                if (asprintf(&l, "%s/mkinitramfs.log", logp) < 0)
                        return step_fail(u, "out of memory");
                free(logp);
                logp = l;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        last_extend = t0.tv_sec;
        notify_extend();
        pid = fork();
        if (pid < 0)
                return step_fail(u, "fork: %s", strerror(errno));
        if (pid == 0) {
                /* No shell, nothing secret in argv: the kernel version and a path. */
                char *argv[] = {"mkinitramfs", "-o", out_sys, p->kver, NULL};
                char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root",
                                NULL};
                int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
                int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || (nul >= 0 && dup2(nul, 0) < 0))
                        _exit(126);
                if (p->chroot_build && (chroot(p->o->root) < 0 || chdir("/") < 0)) {
                        fprintf(stderr, "chroot %s: %s\n", p->o->root, strerror(errno));
                        _exit(126);
                }
                execve(MKINITRAMFS, argv, envp);
                fprintf(stderr, "exec %s: %s\n", MKINITRAMFS, strerror(errno));
                _exit(127);
        }
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                struct timespec ts = {0, 50 * 1000 * 1000};

                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR)
                        return step_fail(u, "waitpid: %s", strerror(errno));
                clock_gettime(CLOCK_MONOTONIC, &now);
                /* systemd's start/stop timeout would kill a service that runs this. */
                if (now.tv_sec - last_extend >= EXTEND_EVERY_SEC) {
                        last_extend = now.tv_sec;
                        notify_extend();
                        fprintf(stderr, "  mkinitramfs running, %ld s\n",
                                (long)(now.tv_sec - t0.tv_sec));
                }
                nanosleep(&ts, NULL);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                char tail[600] = "";
                size_t len = 0;

                if (file_read_all(logp, 1024 * 1024, &logtext, &len) >= 0 && len) {
                        /* The last lines say why (e.g. "E: gzip compression … not supported"). */
                        size_t start = len > 400 ? len - 400 : 0;
                        snprintf(tail, sizeof(tail), "%s", logtext + start);
                        one_line(tail);
                }
                return step_fail(u, "mkinitramfs %s %s %d: %s", p->kver,
                                 WIFEXITED(status) ? "exited with" : "killed by signal",
                                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                                 tail[0] ? tail : "(no output)");
        }
        fprintf(stderr, "  mkinitramfs took %.1f s\n",
                (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9);
built:
        if (!file_exists(out))
                return step_fail(u, "mkinitramfs succeeded but %s is missing", out);
        if (getenv("NETROOT_FAULT_TRUNCATE") && streq(getenv("NETROOT_FAULT_TRUNCATE"), "1")) {
                struct stat st;
                if (stat(out, &st) == 0 && truncate(out, st.st_size / 2) == 0)
                        fprintf(stderr, "  NETROOT_FAULT_TRUNCATE: %s cut to %lld bytes\n", out,
                                (long long)(st.st_size / 2));
        }
        return 0;
}

static int step_check(struct run *u)
{
        struct plan *p = u->p;
        _cleanup_free_ char *out = path_join(p->boot_dir, p->new_file);
        char why[2048];
        int r;

        if (!out)
                return step_fail(u, "out of memory");
        r = initrd_passes_check(p->o->root, out, p->kver, why, sizeof(why));
        if (r < 0)
                return step_fail(u, "the new initramfs %s cannot be read: %s", out,
                                 why[0] ? why : strerror(-r));
        if (r == 0)
                return step_fail(u, "the new initramfs %s fails the check: %s", out, why);
        r = sha256_file(out, u->new_sha);
        if (r < 0)
                return step_fail(u, "hashing %s: %s", out, strerror(-r));
        return 0;
}

static int fsync_path(const char *path, bool dir)
{
        _cleanup_close_ int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

static void hash_text(const char *text, size_t len, char hex[SHA256_HEX_SIZE])
{
        struct sha256_ctx c;
        uint8_t dg[SHA256_DIGEST_SIZE];

        sha256_init(&c);
        sha256_update(&c, text, len);
        sha256_final(&c, dg);
        sha256_hex(dg, hex);
}

/* trial_boot=tryboot: the new initramfs under its own name, then tryboot.txt naming it.
 * config.txt and every file it names stay as they are. */
static int step_switch_trial(struct run *u)
{
        struct plan *p = u->p;
        _cleanup_free_ char *out = path_join(p->boot_dir, p->new_file);
        _cleanup_free_ char *final = path_join(p->boot_dir, p->final);
        _cleanup_free_ char *text = NULL;
        char why[1024];
        size_t len = 0;
        struct stat st;
        mode_t mode;
        int r;

        if (!out || !final)
                return step_fail(u, "out of memory");
        r = tryboot_make_text(p->config_text, p->config_len, &p->pi, p->config_name, p->final,
                              &text, &len, why, sizeof(why));
        if (r < 0)
                return step_fail(u, "tryboot.txt cannot be made from config.txt: %s", why);
        u->txn.final_touched = true;
        u->txn.tryboot_touched = true;
        u->txn.config_touched = false;
        if (journal(u, "switch") < 0)
                return -1;
        r = fsync_path(out, false);
        if (r < 0)
                return step_fail(u, "fsync %s: %s", out, strerror(-r));
        if (rename(out, final) < 0)
                return step_fail(u, "rename %s -> %s: %s", out, final, strerror(errno));
        (void)fsync_path(p->boot_dir, true);
        fprintf(stderr, "  %s is the trial initramfs\n", p->final);
        /* The TFTP server must be able to read it like config.txt. */
        mode = stat(p->config_path, &st) == 0 ? st.st_mode & 07777 : 0644;
        r = file_write_atomic(p->tryboot_path, text, len, mode);
        if (r < 0)
                return step_fail(u, "writing %s: %s", p->tryboot_path, strerror(-r));
        fprintf(stderr, "  tryboot.txt boots initramfs %s; config.txt unchanged\n", p->config_name);
        hash_text(text, len, u->config_sha);
        return 0;
}

static int step_switch(struct run *u)
{
        struct plan *p = u->p;
        _cleanup_free_ char *out = path_join(p->boot_dir, p->new_file);
        _cleanup_free_ char *final = path_join(p->boot_dir, p->final);
        _cleanup_free_ char *final_dir = NULL, *newtext = NULL;
        struct bootcfg_diag diag;
        struct sha256_ctx c;
        uint8_t dg[SHA256_DIGEST_SIZE];
        size_t newlen = 0;
        struct stat st;
        int r;

        if (p->trial)
                return step_switch_trial(u);
        if (!out || !final)
                return step_fail(u, "out of memory");
        /* Compute the config.txt edit before touching anything: a refusal changes nothing. */
        if (p->config_name[0]) {
                bootcfg_diag_init(&diag, p->config_path);
                r = bootcfg_set_initramfs(p->config_text, p->config_len, &p->pi, p->config_name,
                                          &newtext, &newlen, &diag);
                if (r < 0)
                        return step_fail(u, "config.txt cannot be edited: %s",
                                         bootcfg_diag_error(&diag) ? bootcfg_diag_error(&diag)
                                                                   : strerror(-r));
        }
        u->txn.final_touched = true;
        u->txn.config_touched = p->config_name[0] != '\0';
        if (journal(u, "switch") < 0)
                return -1;
        r = fsync_path(out, false);
        if (r < 0)
                return step_fail(u, "fsync %s: %s", out, strerror(-r));
        if (rename(out, final) < 0)
                return step_fail(u, "rename %s -> %s: %s", out, final, strerror(errno));
        final_dir = strdup(final);
        if (final_dir && strrchr(final_dir, '/')) {
                *strrchr(final_dir, '/') = '\0';
                (void)fsync_path(final_dir, true);
        }
        fprintf(stderr, "  %s%s is now the new initramfs\n", p->final,
                p->final_exists ? " (the old one is in the generation)" : "");
        if (p->config_name[0]) {
                mode_t mode = stat(p->config_path, &st) == 0 ? st.st_mode & 07777 : 0644;
                r = file_write_atomic(p->config_path, newtext, newlen, mode);
                if (r < 0)
                        return step_fail(u, "writing %s: %s", p->config_path, strerror(-r));
                fprintf(stderr, "  config.txt now boots initramfs %s\n", p->config_name);
        }
        sha256_init(&c);
        if (p->config_name[0])
                sha256_update(&c, newtext, newlen);
        else
                sha256_update(&c, p->config_text, p->config_len);
        sha256_final(&c, dg);
        sha256_hex(dg, u->config_sha);
        return 0;
}

static int step_tftp(struct run *u)
{
        struct plan *p = u->p;
        struct {
                const char *name;
                const char *sha;
                unsigned timeout_ms;
        } files[] = {
            {p->trial ? TRYBOOT_TXT : "config.txt", u->config_sha, 10000},
            {p->final, u->new_sha, 120000},
        };

        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                struct tftp_fetch_result res = {0};
                char path[512];
                int r;

                snprintf(path, sizeof(path), "%s/%s", p->serial, files[i].name);
                r = p->o->fetch(p->tftp_server, path, files[i].timeout_ms, &res);
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
                fprintf(stderr, "  tftp://%s/%s: %llu bytes, sha256 matches (%.2f s)\n",
                        p->tftp_server, path, (unsigned long long)res.bytes, res.seconds);
        }
        return 0;
}

static int step_record(struct run *u)
{
        struct plan *p = u->p;
        int r;

        if (journal(u, "record") < 0)
                return -1;
        r = upgrade_mark(p->boot_dir, u->gen, "pending",
                         p->trial ? "waiting for the trial boot (reboot '0 tryboot') and its "
                                    "confirmation"
                                  : "waiting for the boot confirmation");
        if (r < 0)
                return step_fail(u, "updating the generation record: %s", strerror(-r));
        r = pending_write(p->boot_dir, u->gen, p->kver);
        if (r < 0)
                return step_fail(u, "writing %s/%s/pending: %s", p->boot_dir, GEN_STORE,
                                 strerror(-r));
        r = txn_remove(p->boot_dir);
        if (r < 0)
                return step_fail(u, "removing the transaction journal: %s", strerror(-r));
        return 0;
}

static int rollback_now(struct run *u, const char *failed_step)
{
        const struct logger *ev = u->p->o->events;
        char done[1024], err[1024], reason[1200];
        int r;

        snprintf(reason, sizeof(reason), "step %s failed: %s", failed_step, u->failure);
        one_line(reason);
        fprintf(stderr, "netrootctl: step %s failed: %s\n", failed_step, u->failure);
        r = rollback_txn(u->p->boot_dir, &u->txn, reason, done, sizeof(done), err, sizeof(err));
        run_fields(u, failed_step);
        if (r < 0) {
                fprintf(stderr,
                        "netrootctl: ROLLBACK FAILED: %s\nnetrootctl: the journal %s/%s/%s is "
                        "kept; the next netrootctl run retries the rollback\n",
                        err, u->p->boot_dir, GEN_STORE, TXN_FILE);
                if (ev)
                        log_event(ev, LOG_CRIT, MSGID_UPGRADE_ROLLBACK_FAILED, u->fields,
                                  "upgrade to %s failed at step %s (%s) and the rollback failed: "
                                  "%s",
                                  u->p->kver, failed_step, u->failure, err);
                return UPGRADE_REFUSED;
        }
        fprintf(stderr, "netrootctl: rolled back: %s; the Pi boots what it booted before\n", done);
        if (ev)
                log_event(ev, LOG_ERR, MSGID_UPGRADE_ROLLED_BACK, u->fields,
                          "upgrade to %s failed at step %s: %s; rolled back: %s", u->p->kver,
                          failed_step, u->failure, done);
        return UPGRADE_ROLLED_BACK;
}

static void print_trial_done(const struct plan *p, unsigned gen)
{
        printf("staged for a trial boot: kernel %s, initramfs %s named in tryboot.txt, "
               "generation %u pending; config.txt is unchanged\n"
               "next: sudo reboot '0 tryboot' boots the new initramfs once; netrootd makes it "
               "config.txt after the boot is confirmed. A plain reset or reboot falls back to the "
               "old boot (rollback: netrootctl rollback)\n",
               p->kver, p->final, gen);
}

int upgrade_run(const struct upgrade_options *o)
{
        struct plan *p = calloc(1, sizeof(*p));
        struct run u = {0};
        int rc, r;

        if (!p)
                return UPGRADE_REFUSED;
        p->o = o;
        u.p = p;

        step_begin(&u, 0, "reading config.txt and the installed kernels");
        r = plan_make(p);
        if (r < 0 && !p->refusal[0])
                snprintf(p->refusal, sizeof(p->refusal), "%s", strerror(-r));
        if (!p->refusal[0])
                plan_print(p, stdout);
        fflush(stdout);
        fault_point("plan");

        if (!p->refusal[0]) {
                step_begin(&u, 1, "checking before anything changes");
                preflight(p);
        }
        preflight_print(p, stdout);
        if (!checks_ok(p)) {
                printf("verdict: refused; nothing was changed\n");
                fflush(stdout);
                run_fields(&u, "preflight");
                if (o->events)
                        log_event(o->events, LOG_ERR, MSGID_UPGRADE_ROLLED_BACK, u.fields,
                                  "upgrade to %s refused by the preflight; nothing was changed",
                                  p->kver[0] ? p->kver : "?");
                rc = UPGRADE_REFUSED;
                goto out;
        }
        printf("verdict: ok%s\n", o->dry_run ? " (dry run: nothing was changed)" : "");
        fflush(stdout);
        if (o->dry_run) {
                rc = UPGRADE_DONE;
                goto out;
        }
        fault_point("preflight");

        step_begin(&u, 2, "saving the current boot as a generation");
        r = step_backup(&u);
        if (r == -EBUSY) {
                fprintf(stderr, "netrootctl: %s; nothing was changed\n", u.failure);
                rc = UPGRADE_REFUSED;
                goto out;
        }
        if (r < 0) {
                rc = rollback_now(&u, "backup");
                goto out;
        }
        fault_point("backup");

        step_begin(&u, 3, "mkinitramfs -o %s/%s %s", p->boot_sys, p->new_file, p->kver);
        if (step_build(&u) < 0) {
                rc = rollback_now(&u, "build");
                goto out;
        }
        fault_point("build");

        step_begin(&u, 4, "checking %s for the iSCSI root", p->new_file);
        if (step_check(&u) < 0) {
                rc = rollback_now(&u, "check");
                goto out;
        }
        fault_point("check");

        if (p->trial)
                step_begin(&u, 5, "%s and tryboot.txt (config.txt untouched)", p->final);
        else
                step_begin(&u, 5, "%s%s%s", p->final, p->config_name[0] ? " and config.txt" : "",
                           p->config_name[0] ? "" : " (atomic rename)");
        if (step_switch(&u) < 0) {
                rc = rollback_now(&u, "switch");
                goto out;
        }
        fault_point("switch");

        if (p->tftp_server[0]) {
                step_begin(&u, 6, "fetching %s and %s from %s",
                           p->trial ? TRYBOOT_TXT : "config.txt", p->final, p->tftp_server);
                if (step_tftp(&u) < 0) {
                        rc = rollback_now(&u, "tftp");
                        goto out;
                }
        } else {
                step_begin(&u, 6, "skipped: %s", p->tftp_note);
        }
        fault_point("tftp");

        step_begin(&u, 7, "kernel %s pending as generation %u", p->kver, u.gen);
        if (step_record(&u) < 0) {
                rc = rollback_now(&u, "record");
                goto out;
        }
        fault_point("record");

        run_fields(&u, "record");
        if (p->trial) {
                print_trial_done(p, u.gen);
                if (o->events)
                        log_event(o->events, LOG_NOTICE, MSGID_UPGRADE_DONE, u.fields,
                                  "upgrade to %s staged for a trial boot: tryboot.txt boots "
                                  "initramfs %s, generation %u pending; config.txt unchanged",
                                  p->kver, p->final, u.gen);
                rc = UPGRADE_DONE;
                goto out;
        }
        printf("upgraded: kernel %s, initramfs %s, generation %u pending until netrootd confirms "
               "the boot (rollback: netrootctl rollback)\n",
               p->kver, p->final, u.gen);
        if (o->events)
                log_event(o->events, LOG_NOTICE, MSGID_UPGRADE_DONE, u.fields,
                          "upgrade to %s done: initramfs %s, generation %u pending until the "
                          "boot is confirmed",
                          p->kver, p->final, u.gen);
        rc = UPGRADE_DONE;
out:
        plan_free(p);
        free(p);
        return rc;
}

/* ---- rollback to a generation --------------------------------------------------------------- */

/* Whether generation TARGET or a later one still in force was a tryboot trial. */
static bool trial_since(const char *boot_dir, const unsigned *gens, size_t n, unsigned target)
{
        for (size_t i = 0; i < n; i++) {
                struct gen_record rec;
                char err[512];

                if (gens[i] < target ||
                    gen_record_load(boot_dir, gens[i], &rec, err, sizeof(err)) < 0)
                        continue;
                if (!streq(rec.trial, TRYBOOT_TRIAL))
                        continue;
                if (gens[i] == target || rec.status == GEN_PENDING || rec.status == GEN_GOOD ||
                    rec.status == GEN_UNCONFIRMED)
                        return true;
        }
        return false;
}

int upgrade_rollback(const struct rollback_options *o)
{
        _cleanup_free_ unsigned *gens = NULL;
        _cleanup_free_ char *gdir = NULL, *gcfg = NULL, *text = NULL;
        struct bootcfg_result res;
        struct bootcfg_diag diag;
        struct bootcfg_target pi;
        struct gen_record rec;
        char err[1024], report[2048];
        unsigned target = o->to;
        size_t n, len;
        int r;

        r = gen_list(o->boot_dir, &gens, &n);
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s/%s: %s\n", o->boot_dir, GEN_STORE, strerror(-r));
                return UPGRADE_REFUSED;
        }
        if (!target) {
                for (size_t i = n; i-- > 0;) {
                        if (gen_record_load(o->boot_dir, gens[i], &rec, err, sizeof(err)) < 0) {
                                fprintf(stderr, "netrootctl: %s\n", err);
                                return UPGRADE_REFUSED;
                        }
                        if (rec.status == GEN_PENDING || rec.status == GEN_GOOD ||
                            rec.status == GEN_UNCONFIRMED) {
                                target = gens[i];
                                break;
                        }
                }
                if (!target) {
                        fprintf(stderr,
                                "netrootctl: no generation to roll back in %s/%s "
                                "(none pending, unconfirmed or good)\n",
                                o->boot_dir, GEN_STORE);
                        return UPGRADE_REFUSED;
                }
        }
        r = gen_record_load(o->boot_dir, target, &rec, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "netrootctl: generation %u: %s\n", target,
                        err[0] ? err : strerror(-r));
                return r == -ENOENT ? UPGRADE_USAGE : UPGRADE_REFUSED;
        }
        gdir = gen_dir_path(o->boot_dir, target);
        gcfg = gdir ? path_join(gdir, "config.txt") : NULL;
        if (!gcfg)
                return UPGRADE_REFUSED;
        r = file_read_regular(gcfg, CONFIG_TXT_MAX, &text, &len);
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s: %s\n", gcfg, file_strerror(r));
                return UPGRADE_REFUSED;
        }
        /* Judge the saved config.txt before restoring it: what would the Pi boot? */
        pi = (struct bootcfg_target){.model = rec.model, .serial = rec.serial};
        bootcfg_diag_init(&diag, gcfg);
        if (bootcfg_evaluate(text, len, &pi, &res, &diag) < 0) {
                fprintf(stderr, "netrootctl: %s cannot be evaluated for model '%s'\n", gcfg,
                        rec.model);
                return UPGRADE_REFUSED;
        }
        for (size_t i = 0; i < res.n_initramfs; i++) {
                const char *name = res.initramfs[i];
                _cleanup_free_ char *file = NULL;
                char why[1024];

                while (*name == '/')
                        name++;
                file = rec.final_existed && streq(name, rec.final)
                           ? path_join(gdir, GEN_SAVED_FINAL)
                           : path_join(o->boot_dir, name);
                if (!file)
                        return UPGRADE_REFUSED;
                r = file_exists(file)
                        ? initrd_passes_check(o->root, file,
                                              rec.kernel_from[0] ? rec.kernel_from : NULL, why,
                                              sizeof(why))
                        : -ENOENT;
                if (r == -ENOENT)
                        snprintf(why, sizeof(why), "missing");
                if (r != 1 && !o->force) {
                        fprintf(stderr,
                                "netrootctl: refused: generation %u boots initramfs %s, and %s %s: "
                                "%s (--force overrides)\n",
                                target, name, file, r == 0 ? "fails the check" : "is unusable",
                                why);
                        return UPGRADE_REFUSED;
                }
        }
        printf("rollback to generation %u (%s): kernel %s, initramfs %s\n", target, rec.created,
               rec.kernel_from[0] ? rec.kernel_from : "?", rec.initramfs_from);
        if (o->dry_run) {
                printf("dry run: nothing was changed\n");
                return UPGRADE_DONE;
        }
        if (rec.final_existed && rec.final[0]) {
                _cleanup_free_ char *saved = path_join(gdir, GEN_SAVED_FINAL);
                _cleanup_free_ char *final = path_join(o->boot_dir, rec.final);

                if (!saved || !final)
                        return UPGRADE_REFUSED;
                if (!file_exists(final) || same_content(final, saved) == 0) {
                        r = restore_file(saved, final);
                        if (r < 0) {
                                fprintf(stderr, "netrootctl: restoring %s: %s\n", final,
                                        strerror(-r));
                                return UPGRADE_REFUSED;
                        }
                        printf("  %s restored\n", rec.final);
                }
        }
        {
                const char *copies[] = {"cmdline.txt", "tryboot.txt", "config.txt"};
                const char *to[] = {rec.cmdline_name[0] ? rec.cmdline_name : "cmdline.txt",
                                    "tryboot.txt", "config.txt"};

                /* config.txt last: it makes the Pi use everything restored before it. */
                for (size_t i = 0; i < ARRAY_SIZE(copies); i++) {
                        _cleanup_free_ char *src = path_join(gdir, copies[i]);
                        _cleanup_free_ char *dst = path_join(o->boot_dir, to[i]);

                        if (!src || !dst)
                                return UPGRADE_REFUSED;
                        if (!file_exists(src))
                                continue;
                        if (file_exists(dst) && same_content(src, dst) == 1)
                                continue;
                        r = restore_file(src, dst);
                        if (r < 0) {
                                fprintf(stderr, "netrootctl: restoring %s: %s\n", dst,
                                        strerror(-r));
                                return UPGRADE_REFUSED;
                        }
                        printf("  %s restored\n", to[i]);
                }
        }
        if (!rec.tryboot && trial_since(o->boot_dir, gens, n, target)) {
                /* The generation had no tryboot.txt: the one there now is a trial's. */
                r = tryboot_remove(o->boot_dir);
                if (r < 0) {
                        fprintf(stderr, "netrootctl: removing %s/%s: %s\n", o->boot_dir,
                                TRYBOOT_TXT, strerror(-r));
                        return UPGRADE_REFUSED;
                }
                if (r > 0)
                        printf("  tryboot.txt removed (written by a trial boot upgrade)\n");
        }
        if (o->firmware) {
                if (!rec.shared_backup[0] || !o->shared_dir || !o->shared_dir[0]) {
                        fprintf(stderr,
                                "netrootctl: generation %u has no shared firmware backup "
                                "or no shared folder was given (--shared-dir)\n",
                                target);
                } else {
                        _cleanup_free_ char *bdir = path_join(o->shared_dir, rec.shared_backup);
                        struct cluster_lock lock = {0};
                        struct cluster_lock_holder h = {0};

                        if (!bdir)
                                return UPGRADE_REFUSED;
                        r = cluster_lock_acquire(&lock, o->shared_dir, rec.serial, 600, 10, &h);
                        if (r == -EBUSY) {
                                fprintf(stderr,
                                        "netrootctl: shared firmware locked by %s@%s pid "
                                        "%ld; not restored\n",
                                        h.serial, h.host, h.pid);
                                return UPGRADE_REFUSED;
                        }
                        char why[1024] = "";

                        /* Journaled (firmware_txn.h): an interrupted one is finished first. */
                        if (r >= 0) {
                                r = firmware_txn_restore(o->shared_dir, bdir,
                                                         rec.serial[0] ? rec.serial : "rollback",
                                                         &lock, why, sizeof(why));
                                lock_release_report(&lock);
                        }
                        if (r < 0) {
                                fprintf(stderr,
                                        "netrootctl: restoring the shared firmware from "
                                        "%s: %s\n",
                                        bdir, why[0] ? why : strerror(-r));
                                return UPGRADE_REFUSED;
                        }
                        printf("  shared firmware %s\n",
                               r == 1 ? "already matches the backup" : "restored");
                }
        }
        /* Everything after TARGET is undone too. */
        for (size_t i = 0; i < n; i++) {
                struct gen_record other;
                char why[128];

                if (gens[i] <= target)
                        continue;
                if (gen_record_load(o->boot_dir, gens[i], &other, err, sizeof(err)) < 0)
                        continue;
                if (other.status != GEN_PENDING && other.status != GEN_GOOD &&
                    other.status != GEN_UNCONFIRMED)
                        continue;
                snprintf(why, sizeof(why), "undone by netrootctl rollback to generation %u",
                         target);
                (void)upgrade_mark(o->boot_dir, gens[i], "rolled-back", why);
        }
        r = upgrade_mark(o->boot_dir, target, "rolled-back", "rolled back by netrootctl rollback");
        if (r < 0)
                fprintf(stderr, "netrootctl: marking generation %u: %s\n", target, strerror(-r));
        r = gen_manifest_check(gdir, o->boot_dir, report, sizeof(report), err, sizeof(err));
        if (r > 0)
                printf("note: boot files that differ from generation %u's manifest (a package "
                       "replaced them since; not restored):\n%s\n",
                       target, report);
        if (o->events) {
                char gen_s[32], kern_s[160];
                snprintf(gen_s, sizeof(gen_s), "NETROOT_GENERATION=%u", target);
                snprintf(kern_s, sizeof(kern_s), "NETROOT_KERNEL=%s", rec.kernel_from);
                const char *fields[] = {kern_s, gen_s, "NETROOT_STEP=rollback", NULL};
                log_event(o->events, LOG_NOTICE, MSGID_UPGRADE_ROLLED_BACK, fields,
                          "boot folder %s rolled back to generation %u (kernel %s)", o->boot_dir,
                          target, rec.kernel_from);
        }
        printf("rolled back to generation %u\n", target);
        return UPGRADE_DONE;
}
