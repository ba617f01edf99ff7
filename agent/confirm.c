#include "confirm.h"
#include "fileio.h"
#include "rootpath.h"
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

static void decide(struct boot_confirm *c, const char *status, const char *reason)
{
        _cleanup_free_ char *dir = boot_dir(c);
        char f_gen[32], f_kernel[160], f_status[32];
        const char *fields[] = {f_gen, f_kernel, f_status, NULL};
        bool good = streq(status, "good");
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
        if (good)
                pruned = upgrade_prune(dir, c->cfg->upgrade.keep);
        log_event(c->log, good ? LOG_NOTICE : LOG_ERR,
                  good ? MSGID_BOOT_CONFIRMED : MSGID_BOOT_REJECTED, fields,
                  "generation %u (kernel %s) %s: %s%s", c->gen, c->kernel,
                  good ? "confirmed good" : "marked bad", reason,
                  pruned > 0 ? "; older generations pruned" : "");
        snprintf(c->outcome, sizeof(c->outcome), "generation %u (kernel %s) %s: %s", c->gen,
                 c->kernel, good ? "confirmed good" : "marked bad", reason);
        c->pending = false;
}

static int on_trial_over(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        struct boot_confirm *c = userdata;
        char reason[192];

        snprintf(reason, sizeof(reason), "kernel %s ran with a healthy root for %llu s", c->running,
                 (unsigned long long)(c->cfg->upgrade.confirm_after_usec / 1000000ULL));
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
                log_msg(c->log, LOG_WARNING, "%s/.netroot/%s: %s", dir, UPGRADE_PENDING_FILE,
                        r == -EBADMSG ? "malformed, ignored" : strerror(-r));
                return;
        }
        c->pending = true;
        c->gen = p.gen;
        snprintf(c->kernel, sizeof(c->kernel), "%s", p.kernel);
        read_running_kernel(c);
        if (!streq(c->running, c->kernel)) {
                snprintf(reason, sizeof(reason),
                         "booted kernel %s instead of the pending %s (the firmware did not load "
                         "the new boot)",
                         c->running[0] ? c->running : "(unknown)", c->kernel);
                decide(c, "bad", reason);
                return;
        }
        log_msg(c->log, LOG_INFO,
                "generation %u (kernel %s) on trial: confirmed after %llu s of healthy root", c->gen,
                c->kernel, (unsigned long long)(c->cfg->upgrade.confirm_after_usec / 1000000ULL));
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
                                       c->cfg->upgrade.confirm_after_usec, 100000, on_trial_over, c);
        if (r < 0)
                log_msg(c->log, LOG_ERR, "cannot arm the boot confirmation timer: %s",
                        strerror(-r));
}

void boot_confirm_stop(struct boot_confirm *c)
{
        c->timer = sd_event_source_disable_unref(c->timer);
}
