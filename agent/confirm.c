/* The boot confirmation; see confirm.h. */
#include "confirm.h"

#include "bootlock.h"
#include "fileio.h"
#include "generation.h"
#include "msgid.h"
#include "rollback.h"
#include "rootpath.h"
#include "child.h"
#include "status_doc.h"
#include "tryboot.h"
#include "txn.h"
#include "util.h"

#include <stdarg.h>
#include <sys/utsname.h>
#include <time.h>

struct ctx {
        const struct confirm_options *o;
        struct confirm_result *r;
        char *boot_dir;
        struct gen_pending pending;
        bool trial;
        char running[128];
        /* Under --root the uptime file is read once and then advanced by the monotonic clock:
         * a stand-in /proc/uptime is a plain file that does not tick. */
        bool up_read;
        double up_base, mono_base;
};

const char *confirm_outcome_to_string(enum confirm_outcome o)
{
        static const char *const names[] = {"nothing pending",
                                            "good",
                                            "bad",
                                            "bad (rollback failed)",
                                            "undecided",
                                            "waiting for the trial boot",
                                            "unconfirmed"};

        return (unsigned)o < ARRAY_SIZE(names) ? names[o] : "?";
}

static _printf_(3, 4) void set_reason(struct ctx *c, enum confirm_outcome out, const char *fmt, ...)
{
        va_list ap;

        c->r->outcome = out;
        va_start(ap, fmt);
        vsnprintf(c->r->reason, sizeof(c->r->reason), fmt, ap);
        va_end(ap);
}

static void event(struct ctx *c, int prio, const char *msgid, const char *status, const char *verb)
{
        if (!c->o->events)
                return;
        log_eventf(c->o->events, prio, msgid, "MESSAGE=generation %u (kernel %s)%s %s: %s",
                   c->pending.gen, c->pending.kernel, c->trial ? " (tryboot trial)" : "", verb,
                   c->r->reason, "NETROOT_GENERATION=%u", c->pending.gen, "NETROOT_KERNEL=%s",
                   c->pending.kernel, "NETROOT_BOOT=%s", status,
                   c->trial ? "NETROOT_TRIAL=tryboot" : NULL, NULL);
}

static void read_running_kernel(struct ctx *c)
{
        _cleanup_free_ char *path = NULL;
        struct utsname u;

        if (c->o->root && c->o->root[0] && !streq(c->o->root, "/")) {
                path = root_path(c->o->root, "/proc/sys/kernel/osrelease");
                if (!path || file_read_value(path, c->running, sizeof(c->running)) < 0)
                        c->running[0] = '\0';
                return;
        }
        snprintf(c->running, sizeof(c->running), "%s", uname(&u) == 0 ? u.release : "");
}

/* Seconds since this boot (CLOCK_BOOTTIME, or <root>/proc/uptime in a sandbox). */
static double clock_secs(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double uptime(struct ctx *c)
{
        if (c->o->root && c->o->root[0] && !streq(c->o->root, "/")) {
                if (!c->up_read) {
                        _cleanup_free_ char *path = root_path(c->o->root, "/proc/uptime");
                        char buf[64];

                        c->up_read = true;
                        c->up_base = -1;
                        if (path && file_read_value(path, buf, sizeof(buf)) == 0)
                                c->up_base = strtod(buf, NULL);
                        c->mono_base = clock_secs(CLOCK_MONOTONIC);
                }
                if (c->up_base >= 0)
                        return c->up_base + clock_secs(CLOCK_MONOTONIC) - c->mono_base;
        }
        return clock_secs(CLOCK_BOOTTIME);
}

/* True when this boot started before the upgrade was recorded (the trial's reboot has not
 * happened yet): this boot says nothing about the trial. Unknown -> false. */
static bool booted_before(const struct ctx *c)
{
        _cleanup_free_ char *path = root_path(c->o->root, "/proc/stat"), *text = NULL;
        struct tm tm = {0};
        const char *b, *end;
        unsigned long long btime;

        if (!path || file_read_all(path, 1024 * 1024, &text, NULL) < 0)
                return false;
        b = strstr(text, "\nbtime ");
        end = strptime(c->pending.created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!b || !end || *end || sscanf(b + 7, "%llu", &btime) != 1)
                return false;
        return (long long)btime < (long long)timegm(&tm);
}

static void good(struct ctx *c, const char *reason)
{
        struct error e;
        char err[600];
        int r, pruned;

        snprintf(c->r->reason, sizeof(c->r->reason), "%s", reason);
        if (c->trial) {
                r = tryboot_promote(c->boot_dir, err, sizeof(err));
                if (r < 0) {
                        set_reason(c, CONFIRM_UNCONFIRMED,
                                   "the tryboot trial booted fine, but tryboot.txt could not be "
                                   "promoted to config.txt (%s); config.txt unchanged. Fix: cp "
                                   "tryboot.txt config.txt in the boot folder, or netrootctl "
                                   "rollback",
                                   err);
                        (void)gen_mark(c->boot_dir, c->pending.gen, GEN_UNCONFIRMED, c->r->reason,
                                       &e);
                        return;
                }
                snprintf(c->r->reason + strlen(c->r->reason),
                         sizeof(c->r->reason) - strlen(c->r->reason),
                         "; tryboot.txt promoted to config.txt");
        }
        r = gen_mark(c->boot_dir, c->pending.gen, GEN_GOOD, c->r->reason, &e);
        if (r < 0) {
                set_reason(c, CONFIRM_BAD_FAILED, "cannot record generation %u as good: %s",
                           c->pending.gen, error_text(&e));
                return;
        }
        c->r->outcome = CONFIRM_GOOD;
        pruned = gen_prune(c->boot_dir, c->o->cfg->upgrade.keep);
        if (pruned > 0)
                report_notef(c->o->rep, "%d older generation(s) pruned", pruned);
        event(c, LOG_NOTICE, MSGID_BOOT_CONFIRMED, "good", "confirmed good");
}

static void reboot_now(struct ctx *c)
{
        char *argv[] = {"systemctl", "reboot", NULL};
        struct spawn_options so = {.argv = argv, .timeout_ms = 30000};
        struct spawn_result res;

        if (!c->o->may_reboot || c->o->cfg->boot.on_bad != ON_BAD_ROLLBACK_AND_REBOOT)
                return;
        report_notef(c->o->rep, "on_bad = rollback-and-reboot: rebooting into the restored boot");
        if (spawn_run(&so, &res) == 0 && spawn_ok(&res))
                c->r->rebooting = true;
        else
                report_notef(c->o->rep, "warning: systemctl reboot failed; reboot by hand");
}

/* Marked bad, and the boot folder put back to the generation saved before the upgrade (the
 * pending generation holds exactly that). */
static void bad(struct ctx *c, const char *reason)
{
        struct rollback_options ro = {
            .boot_dir = c->boot_dir,
            .root = c->o->root,
            .to = c->pending.gen,
            .have_boot_lock = true,
            .events = c->o->events,
        };
        struct rollback_result rr;
        struct error e;
        char why[800];

        snprintf(why, sizeof(why), "%s", reason);
        set_reason(c, CONFIRM_BAD, "%s", why);
        if (rollback_run(&ro, c->o->rep, &rr) < 0) {
                set_reason(c, CONFIRM_BAD_FAILED, "%s; putting back generation %u failed: %s", why,
                           c->pending.gen, rr.reason);
                (void)gen_mark(c->boot_dir, c->pending.gen, GEN_BAD, c->r->reason, &e);
                event(c, LOG_CRIT, MSGID_BOOT_REJECTED, "bad", "marked bad");
                return;
        }
        /* The generation holds what booted before it: its kernel_from, not the rejected one. */
        snprintf(c->r->reason, sizeof(c->r->reason),
                 "%s; the boot folder is back to generation %u's saved state (kernel %s)", why,
                 c->pending.gen, rr.kernel[0] ? rr.kernel : "?");
        (void)gen_mark(c->boot_dir, c->pending.gen, GEN_BAD, c->r->reason, &e);
        event(c, LOG_ERR, MSGID_BOOT_REJECTED, "bad", "marked bad and rolled back");
        reboot_now(c);
}

/* For a tryboot trial: did the firmware read tryboot.txt? Returns true when decided. */
static bool trial_decided(struct ctx *c)
{
        struct error e;
        int r = tryboot_flag_read(c->o->root);

        if (r == 1)
                return false;
        if (r == 0) {
                bad(c, "the firmware booted config.txt, not tryboot.txt (trial failed or not "
                       "requested)");
                return true;
        }
        set_reason(c, CONFIRM_UNCONFIRMED,
                   "tryboot could not be confirmed on this firmware: %s %s, so which of "
                   "config.txt and tryboot.txt was booted is unknown; config.txt and tryboot.txt "
                   "left alone (promote: cp tryboot.txt config.txt; undo: netrootctl rollback)",
                   TRYBOOT_FLAG_PATH, r == -ENOENT ? "is missing" : "is unreadable");
        (void)gen_mark(c->boot_dir, c->pending.gen, GEN_UNCONFIRMED, c->r->reason, &e);
        return true;
}

/* The health netrootd reports: "OK", another state, or why none is known. */
static void health_now(const struct ctx *c, char *state, size_t size)
{
        struct status_doc d;
        char err[256];

        if (status_doc_load(c->o->root, c->o->cfg->agent.run_dir, &d, err, sizeof(err)) < 0) {
                snprintf(state, size, "unknown (%s)", err);
                return;
        }
        if (!d.running)
                snprintf(state, size, "unknown (netrootd pid %ld is not running)", d.pid);
        else
                snprintf(state, size, "%s", d.state[0] ? d.state : "unknown");
        status_doc_free(&d);
}

/* Waits (or, without --wait, looks once) for confirm_after of continuous OK, before the
 * timeout measured from the boot. */
static void judge_health(struct ctx *c)
{
        const struct netroot_config *cfg = c->o->cfg;
        double need = (double)cfg->upgrade.confirm_after_usec / 1e6;
        double deadline = (double)cfg->boot.confirm_timeout_usec / 1e6;
        unsigned poll_ms = c->o->poll_ms ? c->o->poll_ms : 1000;
        double ok_since = -1;
        char state[300] = "unknown";

        for (;;) {
                double now = uptime(c);

                health_now(c, state, sizeof(state));
                if (streq(state, "OK")) {
                        if (ok_since < 0)
                                ok_since = now;
                        if (now - ok_since >= need) {
                                char reason[300];

                                snprintf(reason, sizeof(reason),
                                         "kernel %s ran with a healthy root for %.0f s", c->running,
                                         need);
                                good(c, reason);
                                return;
                        }
                } else {
                        ok_since = -1;
                }
                if (now >= deadline) {
                        char reason[600];

                        snprintf(reason, sizeof(reason),
                                 "no healthy root for %.0f s within %.0f s of the boot "
                                 "([boot] confirm_timeout); netrootd says %s",
                                 need, deadline, state);
                        bad(c, reason);
                        return;
                }
                if (!c->o->wait) {
                        set_reason(c, CONFIRM_UNDECIDED,
                                   "generation %u (kernel %s) on trial: netrootd says %s; decided "
                                   "after %.0f s of a healthy root, or marked bad %.0f s after "
                                   "the boot",
                                   c->pending.gen, c->pending.kernel, state, need, deadline);
                        return;
                }
                usleep(poll_ms * 1000);
        }
}

static int decide(struct ctx *c)
{
        struct gen_record rec;
        struct error e;
        int r;

        r = gen_pending_read(c->boot_dir, &c->pending, &e);
        if (r == -ENOENT) {
                set_reason(c, CONFIRM_NOTHING, "nothing pending in %s", c->boot_dir);
                return 0;
        }
        if (r < 0) {
                (void)gen_pending_clear(c->boot_dir, 0);
                set_reason(c, CONFIRM_NOTHING, "%s: damaged, removed", error_text(&e));
                return 0;
        }
        c->r->gen = c->pending.gen;
        snprintf(c->r->kernel, sizeof(c->r->kernel), "%s", c->pending.kernel);
        c->trial = gen_record_load(c->boot_dir, c->pending.gen, &rec, &e) == 0 &&
                   streq(rec.trial, TRYBOOT_TRIAL);
        read_running_kernel(c);
        if (c->trial && booted_before(c)) {
                set_reason(c, CONFIRM_TRIAL_WAIT,
                           "generation %u (kernel %s) waits for its trial boot: reboot '0 "
                           "tryboot'",
                           c->pending.gen, c->pending.kernel);
                return 0;
        }
        if (c->trial && trial_decided(c))
                return 0;
        if (!streq(c->running, c->pending.kernel)) {
                char reason[400];

                snprintf(reason, sizeof(reason),
                         "booted kernel %s instead of the pending %s (the firmware did not load "
                         "the new boot)",
                         c->running[0] ? c->running : "(unknown)", c->pending.kernel);
                bad(c, reason);
                return 0;
        }
        judge_health(c);
        return 0;
}

int confirm_run(const struct confirm_options *o, struct confirm_result *r)
{
        struct ctx c = {.o = o, .r = r};
        struct boot_lock lock = BOOT_LOCK_INIT;
        struct strbuf done = {0};
        struct error e = {0};
        struct txn t;
        int k;

        memset(r, 0, sizeof(*r));
        c.boot_dir = root_path(o->root, o->cfg->agent.boot_dir);
        if (!c.boot_dir)
                return -ENOMEM;
        k = boot_lock_take(o->root, o->cfg->agent.run_dir, "netrootctl confirm", 60, &lock, &e);
        if (k < 0) {
                snprintf(r->reason, sizeof(r->reason), "%s", error_text(&e));
                free(c.boot_dir);
                return k;
        }
        k = txn_recover(c.boot_dir, &t, &done, &e);
        if (k > 0)
                report_notef(o->rep,
                             "an interrupted upgrade to %s (generation %u) was rolled "
                             "back: %s",
                             t.kernel, t.gen, sb_str(&done));
        else if (k < 0)
                report_notef(o->rep, "warning: an interrupted upgrade could not be rolled back: %s",
                             error_text(&e));
        sb_free(&done);
        k = decide(&c);
        boot_lock_release(&lock);
        free(c.boot_dir);
        return k;
}
