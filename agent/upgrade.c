/* The guarded kernel upgrade's runner; see upgrade.h. */
#include "upgrade.h"
#include "upgrade_step.h"

#include "beneath.h"
#include "bootcheck.h"
#include "bootlock.h"
#include "fileio.h"
#include "generation.h"
#include "msgid.h"
#include "rootpath.h"
#include "testhooks.h"
#include "tftp_fetch.h"
#include "tryboot.h"
#include "txn.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

/* One row of the table: a step, what it says it does, and when it has nothing to do. */
struct step {
        const char *name;
        int (*run)(struct run *u);
        /* Returns true with WHY when the step has nothing to do on this Pi. */
        bool (*skip)(const struct run *u, char *why, size_t size);
        void (*describe)(const struct run *u, char *buf, size_t size);
};

/* ---- small helpers ----------------------------------------------------------------------------
 */

void upgrade_one_line(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

int upgrade_step_fail(struct run *u, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(u->failure, sizeof(u->failure), fmt, ap);
        va_end(ap);
        upgrade_one_line(u->failure);
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
static void fault_point(const struct run *u, const char *step)
{
        const char *f = testhook_env("NETROOT_FAULT_STEP");

        if (f && streq(f, step)) {
                report_notef(u->rep, "NETROOT_FAULT_STEP=%s: killing myself", step);
                raise(SIGKILL);
        }
}

/* The unit tests fail each step in turn as it returns (test builds only): the rollback and the
 * report must follow. */
static int injected_failure(struct run *u, const char *step)
{
        const char *f = testhook_env("NETROOT_FAULT_FAIL_STEP");

        if (f && streq(f, step))
                return upgrade_step_fail(u, "injected failure (NETROOT_FAULT_FAIL_STEP=%s)", step);
        return 0;
}

static void read_boot_id(const char *root, char *buf, size_t size)
{
        _cleanup_free_ char *p = root_path(root, "/proc/sys/kernel/random/boot_id");

        if (!p || file_read_value(p, buf, size) < 0)
                buf[0] = '\0';
}

int upgrade_journal(struct run *u, const char *step)
{
        struct error e;
        int r;

        snprintf(u->txn.step, sizeof(u->txn.step), "%s", step);
        r = txn_write(u->p->view->boot_dir, &u->txn, &e);
        if (r < 0)
                return upgrade_step_fail(u, "writing the transaction journal: %s", error_text(&e));
        return 0;
}

const char *upgrade_edited_name(const struct run *u)
{
        const char *e = upgrade_plan_edited(u->p);

        return e[0] ? e : "config.txt";
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
                return upgrade_step_fail(u, "fsync %s: %s", p->new_file,
                                         strerror(fd < 0 ? -fd : errno));
        r = beneath_rename(bfd, p->new_file, p->final);
        if (r < 0)
                return upgrade_step_fail(u, "rename %s -> %s: %s", p->new_file, p->final,
                                         strerror(-r));
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
                return upgrade_step_fail(u, "tryboot.txt cannot be made from config.txt: %s", why);
        u->txn.final_touched = true;
        u->txn.tryboot_touched = true;
        u->txn.config_touched = false;
        if (upgrade_journal(u, "switch") < 0 || switch_initramfs(u, bfd) < 0)
                return -1;
        /* The TFTP server must be able to read it like config.txt. */
        mode =
            fstatat(bfd, "config.txt", &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode & 07777 : 0644;
        r = beneath_write_atomic(bfd, TRYBOOT_TXT, text, len, mode);
        if (r < 0)
                return upgrade_step_fail(u, "writing %s/%s: %s", p->view->boot_dir, TRYBOOT_TXT,
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
                return upgrade_step_fail(u, "re-reading %s: %s", f->name, file_strerror(r));
        if (len != f->len || memcmp(now, f->text, len) != 0)
                return upgrade_step_fail(
                    u,
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
                return upgrade_step_fail(u, "%s: %s", p->view->boot_dir, strerror(-bfd));
        if (p->trial)
                return step_switch_trial(u, bfd);
        /* The edit is computed again before anything is touched: a refusal changes nothing. */
        if (p->config_name[0]) {
                const struct bootcfg_file *f = &p->view->files.files[p->edit_src];

                if (reread_edited(u, bfd, f) < 0)
                        return -1;
                diag = malloc(sizeof(*diag));
                if (!diag)
                        return upgrade_step_fail(u, "out of memory");
                bootcfg_diag_init(diag, p->view->config_path);
                r = bootcfg_files_set_initramfs(&p->view->files, &p->view->pi, p->config_name, &e,
                                                diag);
                if (r < 0 || e.src != p->edit_src) {
                        upgrade_step_fail(u, "%s cannot be edited: %s", f->name,
                                          bootcfg_diag_error(diag) ? bootcfg_diag_error(diag)
                                                                   : "the deciding line moved");
                        free(diag);
                        free(e.text);
                        return -1;
                }
                free(diag);
        }
        u->txn.final_touched = true;
        /* Already set when apt-pre's copy differs from what a hook left (upgrade_backup.c). */
        u->txn.config_touched = u->txn.config_touched || p->config_name[0] != '\0';
        if (upgrade_journal(u, "switch") < 0 || switch_initramfs(u, bfd) < 0) {
                free(e.text);
                return -1;
        }
        if (p->config_name[0]) {
                const char *name = p->view->files.files[p->edit_src].name;

                r = beneath_write_atomic(bfd, name, e.text, e.len, 0);
                if (r < 0) {
                        free(e.text);
                        return upgrade_step_fail(u, "writing %s/%s: %s", p->view->boot_dir, name,
                                                 file_strerror(r));
                }
                report_notef(u->rep, "%s now boots initramfs %s", name, p->config_name);
                hash_text(e.text, e.len, u->edited_sha);
                free(e.text);
        } else {
                r = beneath_sha256(bfd, "config.txt", u->edited_sha);
                if (r < 0)
                        return upgrade_step_fail(u, "hashing config.txt: %s", strerror(-r));
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
            {upgrade_edited_name(u), u->edited_sha, 10000},
            {p->final, u->new_sha, 120000},
        };

        if (upgrade_journal(u, "tftp") < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                struct tftp_fetch_result res = {0};
                char path[600];
                int r;

                snprintf(path, sizeof(path), "%s/%s", p->view->serial, files[i].name);
                r = u->o->fetch(p->tftp_server, path, files[i].timeout_ms, &res);
                if (r < 0)
                        return upgrade_step_fail(u, "TFTP %s from %s: %s", path, p->tftp_server,
                                                 res.error[0] ? res.error : strerror(-r));
                if (!streq(res.sha256, files[i].sha))
                        return upgrade_step_fail(
                            u,
                            "the TFTP server %s serves a different %s (sha256 %.16s…, "
                            "%llu bytes) than was written (sha256 %.16s…): is it "
                            "serving another folder?",
                            p->tftp_server, path, res.sha256, (unsigned long long)res.bytes,
                            files[i].sha);
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
        char why[2048];
        struct error e;
        int r;

        if (upgrade_journal(u, "record") < 0)
                return -1;
        /* The last word: the boot as a whole (kernel, initramfs for its version, modules on the
         * root, the iSCSI login in cmdline.txt), not only the initramfs just built. */
        r = boot_check_root(u->o->root, u->o->cfg, NULL, why, sizeof(why));
        if (r != 1)
                return upgrade_step_fail(u, "the switched boot folder would not boot: %s", why);
        r = gen_mark(p->view->boot_dir, u->gen, GEN_PENDING,
                     p->trial ? "waiting for the trial boot (reboot '0 tryboot') and its "
                                "confirmation"
                              : "waiting for the boot confirmation",
                     &e);
        if (r < 0)
                return upgrade_step_fail(u, "updating the generation record: %s", error_text(&e));
        r = gen_pending_write(p->view->boot_dir, u->gen, p->kver, &e);
        if (r < 0)
                return upgrade_step_fail(u, "writing the pending file: %s", error_text(&e));
        r = txn_remove(p->view->boot_dir);
        if (r < 0)
                return upgrade_step_fail(u, "removing the transaction journal: %s", strerror(-r));
        return 0;
}

/* ---- the table --------------------------------------------------------------------------------
 */

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
        snprintf(buf, size, "fetching %s and %s from %s", upgrade_edited_name(u), u->p->final,
                 u->p->tftp_server);
}

static void describe_record(const struct run *u, char *buf, size_t size)
{
        snprintf(buf, size, "kernel %s pending as generation %u", u->p->kver, u->gen);
}

static const struct step steps[] = {
    {"backup", upgrade_step_backup, NULL, upgrade_describe_backup},
    {"build", upgrade_step_build, NULL, upgrade_describe_build},
    {"check", upgrade_step_check, NULL, upgrade_describe_check},
    {"switch", step_switch, NULL, describe_switch},
    {"tftp", step_tftp, skip_tftp, describe_tftp},
    {"record", step_record, NULL, describe_record},
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
        upgrade_one_line(reason);
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
                        fault_point(u, s->name);
                        continue;
                }
                s->describe(u, what, sizeof(what));
                begin(u, (unsigned)(N_PRE + i), what);
                k = s->run(u);
                if (k == 0)
                        k = injected_failure(u, s->name);
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
                fault_point(u, s->name);
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
        k = txn_store_usable(dir, &e);
        if (k < 0) {
                /* A planted link or file, not an interrupted upgrade. */
                snprintf(r->reason, sizeof(r->reason), "%s", error_text(&e));
                return -EPERM;
        }
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
                k = boot_lock_take(o->root, o->cfg->agent.run_dir, u.txn.command,
                                   o->boot_lock_wait_sec, &lock, &e);
                if (k < 0) {
                        snprintf(r->reason, sizeof(r->reason), "%s; nothing was changed",
                                 error_text(&e));
                        goto out;
                }
        }
        if (!o->dry_run) {
                k = recover_first(o, r);
                if (k < 0) {
                        /* A planted store is refused; nothing was begun, nothing to retry. */
                        r->outcome = k == -EPERM ? UPGRADE_REFUSED : UPGRADE_ROLLBACK_FAILED;
                        goto out;
                }
        }
        k = upgrade_plan_make(o, p);
        if (k < 0 && !p->refusal[0])
                snprintf(p->refusal, sizeof(p->refusal), "%s", strerror(-k));
        begin(&u, 0, "reading config.txt and the installed kernels");
        if (rep && rep->ops && rep->ops->plan)
                rep->ops->plan(rep->userdata, p);
        fault_point(&u, "plan");
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
        fault_point(&u, "preflight");
        k = run_steps(&u, r);
out:
        if (rep && rep->ops && rep->ops->result)
                rep->ops->result(rep->userdata, p, r);
        boot_lock_release(&lock);
        upgrade_plan_free(p);
        free(p);
        return k;
}
