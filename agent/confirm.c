#include "confirm.h"
#include "fileio.h"
#include "generation.h"
#include "rootpath.h"
#include "tryboot.h"
#include "upgrade.h"
#include "util.h"

#include <time.h>

static uint64_t now_monotonic(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static char *boot_dir(const struct boot_confirm *c)
{
        return root_path(c->root, c->cfg->agent.boot_dir);
}

/* A rejected trial must not be booted again by a later `reboot '0 tryboot'`. */
static void drop_tryboot(struct boot_confirm *c, const char *dir)
{
        int r = tryboot_remove(dir);

        if (r < 0)
                log_msg(c->log, LOG_ERR, "cannot remove %s/%s of the rejected trial: %s", dir,
                        TRYBOOT_TXT, strerror(-r));
        else if (r > 0)
                log_msg(c->log, LOG_INFO, "%s/%s of the rejected trial removed", dir, TRYBOOT_TXT);
}

static void decide(struct boot_confirm *c, const char *status, const char *reason)
{
        _cleanup_free_ char *dir = boot_dir(c);
        char f_gen[32], f_kernel[160], f_status[32];
        const char *fields[] = {f_gen, f_kernel, f_status,
                                c->trial ? "NETROOT_TRIAL=tryboot" : NULL, NULL};
        bool good = streq(status, "good"), unconfirmed = streq(status, "unconfirmed");
        const char *verb = good          ? "confirmed good"
                           : unconfirmed ? "left unconfirmed"
                                         : "marked bad";
        int r, pruned = 0;

        snprintf(f_gen, sizeof(f_gen), "NETROOT_GENERATION=%u", c->gen);
        snprintf(f_kernel, sizeof(f_kernel), "NETROOT_KERNEL=%s", c->kernel);
        snprintf(f_status, sizeof(f_status), "NETROOT_BOOT=%s", status);
        /* The boot folder is the NAS's NFS export. This write happens only while the root
         * (served by the same NAS) is healthy, and only once per upgrade. */
        r = dir ? upgrade_mark(dir, c->gen, status, reason) : -ENOMEM;
        if (r < 0) {
                log_msg(c->log, LOG_ERR, "cannot record generation %u as %s: %s", c->gen, status,
                        strerror(-r));
                snprintf(c->outcome, sizeof(c->outcome), "generation %u: could not record %s: %s",
                         c->gen, status, strerror(-r));
                return;
        }
        if (c->trial && streq(status, "bad"))
                drop_tryboot(c, dir);
        if (good)
                pruned = upgrade_prune(dir, c->cfg->upgrade.keep);
        if (unconfirmed)
                log_msg(c->log, LOG_WARNING, "generation %u (kernel %s) %s: %s", c->gen, c->kernel,
                        verb, reason);
        else
                log_event(c->log, good ? LOG_NOTICE : LOG_ERR,
                          good ? MSGID_BOOT_CONFIRMED : MSGID_BOOT_REJECTED, fields,
                          "generation %u (kernel %s)%s %s: %s%s", c->gen, c->kernel,
                          c->trial ? " (tryboot trial)" : "", verb, reason,
                          pruned > 0 ? "; older generations pruned" : "");
        snprintf(c->outcome, sizeof(c->outcome), "generation %u (kernel %s) %s: %s", c->gen,
                 c->kernel, verb, reason);
        c->pending = false;
}

/* The confirmed trial becomes the normal boot: config.txt := tryboot.txt. */
static void promote(struct boot_confirm *c, const char *reason)
{
        _cleanup_free_ char *dir = boot_dir(c);
        char err[600], why[800];
        int r;

        if (!dir)
                return;
        r = tryboot_promote(dir, err, sizeof(err));
        if (r < 0) {
                snprintf(why, sizeof(why),
                         "the tryboot trial booted fine, but tryboot.txt could not be promoted to "
                         "config.txt (%s); config.txt unchanged. Fix: cp tryboot.txt config.txt "
                         "in the boot folder, or netrootctl rollback",
                         err);
                decide(c, "unconfirmed", why);
                return;
        }
        if (r > 0)
                log_msg(c->log, LOG_WARNING, "%s", err);
        snprintf(why, sizeof(why), "%s; tryboot.txt promoted to config.txt", reason);
        decide(c, "good", why);
}

static int on_trial_over(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        struct boot_confirm *c = userdata;
        char reason[192];

        snprintf(reason, sizeof(reason), "kernel %s ran with a healthy root for %llu s", c->running,
                 (unsigned long long)(c->cfg->upgrade.confirm_after_usec / 1000000ULL));
        if (c->trial)
                promote(c, reason);
        else
                decide(c, "good", reason);
        if (c->changed)
                c->changed(c->userdata);
        return 0;
}

static void read_running_kernel(struct boot_confirm *c)
{
        _cleanup_free_ char *path = root_path(c->root, "/proc/sys/kernel/osrelease");

        if (!path || file_read_value(path, c->running, sizeof(c->running)) < 0)
                c->running[0] = '\0';
}

/* For a tryboot trial: did the firmware read tryboot.txt? Decides at once (returns true) when
 * it did not or cannot tell. */
static bool trial_decided(struct boot_confirm *c)
{
        char reason[400];
        int r = tryboot_flag_read(c->root);

        if (r == 1)
                return false;
        if (r == 0) {
                decide(c, "bad",
                       "the firmware booted config.txt, not tryboot.txt (trial failed or not "
                       "requested)");
                return true;
        }
        snprintf(reason, sizeof(reason),
                 "tryboot could not be confirmed on this firmware: %s %s, so which of config.txt "
                 "and tryboot.txt was booted is unknown; config.txt and tryboot.txt left alone "
                 "(promote: cp tryboot.txt config.txt; undo: netrootctl rollback)",
                 TRYBOOT_FLAG_PATH, r == -ENOENT ? "is missing" : "is unreadable");
        decide(c, "unconfirmed", reason);
        return true;
}

/* True when this boot started before the upgrade was recorded (netrootd restarted before the
 * `reboot '0 tryboot'`): this boot says nothing about the trial. Unknown -> false. */
static bool booted_before(const struct boot_confirm *c, const char *created)
{
        _cleanup_free_ char *path = root_path(c->root, "/proc/stat"), *text = NULL;
        struct tm tm = {0};
        const char *b, *end;
        unsigned long long btime;

        if (!path || file_read_all(path, 1024 * 1024, &text, NULL) < 0)
                return false;
        b = strstr(text, "\nbtime ");
        end = strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!b || !end || *end || sscanf(b + 7, "%llu", &btime) != 1)
                return false;
        return (long long)btime < (long long)timegm(&tm);
}

static void read_trial(struct boot_confirm *c, const char *dir)
{
        struct gen_record rec;
        char err[512];
        int r = gen_record_load(dir, c->gen, &rec, err, sizeof(err));

        if (r < 0)
                log_msg(c->log, LOG_WARNING, "generation %u: %s; judged as a normal boot", c->gen,
                        err);
        c->trial = r >= 0 && streq(rec.trial, TRYBOOT_TRIAL);
}

void boot_confirm_start(struct boot_confirm *c)
{
        _cleanup_free_ char *dir = boot_dir(c);
        struct upgrade_pending p;
        char reason[320];
        int r;

        r = upgrade_recover(c->root, c->cfg, (struct logger *)c->log);
        if (r < 0)
                log_msg(c->log, LOG_ERR, "an interrupted upgrade could not be rolled back: %s",
                        strerror(-r));
        if (!dir)
                return;
        r = upgrade_pending_read(dir, &p);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                if (r == -EBADMSG)
                        log_msg(c->log, LOG_WARNING, "%s/.netroot/%s:%u: %s, ignored", dir,
                                UPGRADE_PENDING_FILE, p.bad_line,
                                p.bad_line ? "malformed line" : "no gen= line");
                else
                        log_msg(c->log, LOG_WARNING, "%s/.netroot/%s: %s", dir,
                                UPGRADE_PENDING_FILE, strerror(-r));
                return;
        }
        c->pending = true;
        c->gen = p.gen;
        snprintf(c->kernel, sizeof(c->kernel), "%s", p.kernel);
        read_running_kernel(c);
        read_trial(c, dir);
        if (c->trial && booted_before(c, p.created)) {
                c->pending = false;
                snprintf(c->outcome, sizeof(c->outcome),
                         "generation %u (kernel %s) waits for its trial boot: reboot '0 tryboot'",
                         c->gen, c->kernel);
                log_msg(c->log, LOG_INFO, "%s (this boot predates the upgrade)", c->outcome);
                return;
        }
        if (c->trial && trial_decided(c))
                return;
        if (!streq(c->running, c->kernel)) {
                snprintf(reason, sizeof(reason),
                         "booted kernel %s instead of the pending %s (the firmware did not load "
                         "the new boot)",
                         c->running[0] ? c->running : "(unknown)", c->kernel);
                decide(c, "bad", reason);
                return;
        }
        log_msg(c->log, LOG_INFO,
                "generation %u (kernel %s)%s on trial: confirmed after %llu s of healthy root",
                c->gen, c->kernel, c->trial ? " booted via tryboot.txt," : "",
                (unsigned long long)(c->cfg->upgrade.confirm_after_usec / 1000000ULL));
}

void boot_confirm_health(struct boot_confirm *c, enum health_state state)
{
        int r;

        if (!c->pending)
                return;
        if (state != HEALTH_OK) {
                c->ok_since_usec = 0;
                c->timer = sd_event_source_disable_unref(c->timer);
                return;
        }
        if (c->ok_since_usec)
                return;
        c->ok_since_usec = now_monotonic();
        r = sd_event_add_time_relative(c->event, &c->timer, CLOCK_MONOTONIC,
                                       c->cfg->upgrade.confirm_after_usec, 100000, on_trial_over,
                                       c);
        if (r < 0)
                log_msg(c->log, LOG_ERR, "cannot arm the boot confirmation timer: %s",
                        strerror(-r));
}

void boot_confirm_stop(struct boot_confirm *c)
{
        c->timer = sd_event_source_disable_unref(c->timer);
}
