#include "daemon.h"
#include "fileio.h"
#include "metrics.h"
#include "netlink_watch.h"
#include "rootpath.h"
#include "status.h"
#include "util.h"

#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#define USEC_PER_SEC 1000000ULL

static int load_config(const struct daemon_options *opt, char *path, size_t path_size,
                       struct netroot_config *cfg, struct config_diag *diag, bool *missing)
{
        _cleanup_free_ char *resolved = NULL;
        int r;

        resolved =
            opt->config_path ? strdup(opt->config_path) : root_path(opt->root, CONFIG_DEFAULT_PATH);
        if (!resolved)
                return -ENOMEM;
        snprintf(path, path_size, "%s", resolved);
        r = config_load_flags(resolved, cfg, diag, CONFIG_LOAD_RESOLVE);
        *missing = r == -ENOENT;
        if (r < 0 && !*missing)
                return r;
        return config_resolve_boot_dir(cfg, opt->root);
}

/* Opens the LED for CFG and checks the configured triggers against what the kernel offers. */
static int open_led(const char *root, const struct netroot_config *cfg, const char *config_path,
                    struct led *led, char *err, size_t errsize)
{
        int r = led_open(led, root, &cfg->led);

        if (r < 0) {
                snprintf(err, errsize, "LED %s: %s", cfg->led.device, strerror(-r));
                return r;
        }
        return led_validate(led, &cfg->led, config_path, err, errsize);
}

int daemon_check_config(const struct daemon_options *opt, struct daemon_config_check *out)
{
        struct netroot_config cfg;
        struct config_diag diag;
        struct led led;

        memset(out, 0, sizeof(*out));
        if (load_config(opt, out->path, sizeof(out->path), &cfg, &diag, &out->missing) < 0) {
                snprintf(out->error, sizeof(out->error), "%s", diag.error);
                return -EINVAL;
        }
        snprintf(out->warning, sizeof(out->warning), "%s", diag.warning);
        if (open_led(opt->root, &cfg, out->path, &led, out->error, sizeof(out->error)) < 0)
                return -EINVAL;
        return 0;
}

/* The address a host name stood for is fixed until the next reload: say which. */
static void say_portal_resolved(struct netrootd *d, const struct netroot_config *cfg)
{
        if (cfg->iscsi.portal_name[0])
                log_msg(&d->log, LOG_INFO,
                        "[iscsi] portal %s resolved to %s (looked up at start and reload only)",
                        cfg->iscsi.portal_name, cfg->iscsi.portal);
}

static int prepare_run_dir(struct netrootd *d)
{
        _cleanup_free_ char *dir = root_path(d->opt.root, d->cfg.agent.run_dir);
        int r;

        if (!dir)
                return -ENOMEM;
        r = mkdir_parents(dir, 0755);
        if (r < 0) {
                log_msg(&d->log, LOG_ERR, "cannot create run directory %s: %s", dir, strerror(-r));
                return r;
        }
        snprintf(d->status_path, sizeof(d->status_path), "%s/status.json", dir);
        snprintf(d->led_saved_path, sizeof(d->led_saved_path), "%s/led-original", dir);
        sb_reset(&d->status_body); /* a new place: write it out on the next publish */
        return 0;
}

/* Before the LED is first set: after a crash our own trigger is still on it, and the one to give
 * back is the one kept in /run by the netrootd that took the LED first. */
static void keep_led_original(struct netrootd *d)
{
        int r = led_keep_original(&d->led, d->led_saved_path);

        if (r < 0)
                log_msg(&d->log, LOG_WARNING,
                        "cannot keep the LED's original trigger in %s: %s (after a crash it may "
                        "not be given back)",
                        d->led_saved_path, strerror(-r));
        else if (r > 0)
                log_msg(&d->log, LOG_NOTICE,
                        "LED %s: original trigger %s taken from %s (netrootd did not stop "
                        "cleanly last time)",
                        d->led.name, d->led.original, d->led_saved_path);
}

static enum health_state current_state(const struct netrootd *d)
{
        return d->watch.health.published;
}

/* One journal event per change of state, with the fields an admin filters on. */
static void announce_state(struct netrootd *d)
{
        const struct health *h = &d->watch.health;
        const struct health_reason *first = h->n_reasons ? &h->reasons[0] : NULL;

        if (h->published == d->logged_state)
                return;
        log_eventf(&d->log,
                   h->published == HEALTH_FAILED     ? LOG_ERR
                   : h->published == HEALTH_DEGRADED ? LOG_WARNING
                                                     : LOG_NOTICE,
                   MSGID_HEALTH_CHANGED, "MESSAGE=iSCSI root %s -> %s%s%s",
                   health_state_to_string(d->logged_state), health_state_to_string(h->published),
                   first ? ": " : "", first ? first->text : "", "NETROOT_STATE=%s",
                   health_state_to_string(h->published), "NETROOT_REASON=%s",
                   first ? first->text : "", "NETROOT_REASON_CODE=%s", first ? first->code : "",
                   "ISCSI_TARGET=%s", d->watch.target, "ISCSI_PORTAL=%s", d->watch.portal, NULL);
        d->logged_state = h->published;
}

static void publish_metrics(struct netrootd *d)
{
        struct strbuf text = {0};
        struct metrics_sample m = {
            .health = &d->watch.health,
            .session_logged_in =
                d->watch.session.present ? d->watch.session.state == SESSION_STATE_LOGGED_IN : -1,
            .link_up = d->watch.link_status.known ? d->watch.link_status.carrier : -1,
            .started_usec = d->started_usec,
            .log_dropped = d->log_sink.dropped,
        };

        uint64_t writes;
        int err;

        if (!d->metrics)
                return;
        /* The writer thread cannot log; a failing write (a path the unit's sandbox keeps
         * read-only, a full disk) is said here, once per new error, and again when it recovers. */
        metrics_writer_stats(d->metrics, &writes, &err);
        if (err != d->metrics_error_logged) {
                if (err < 0)
                        log_msg(&d->log, LOG_WARNING, "cannot write the metrics file %s: %s",
                                d->cfg.agent.metrics_file, strerror(-err));
                else
                        log_msg(&d->log, LOG_INFO, "metrics file %s written again",
                                d->cfg.agent.metrics_file);
                d->metrics_error_logged = err;
        }
        metrics_render(&m, &text);
        if (!text.oom)
                metrics_writer_submit(d->metrics, text.data, text.len);
        sb_free(&text);
}

static void on_health_changed(void *userdata)
{
        struct netrootd *d = userdata;

        if (d->started)
                daemon_publish(d);
}

void daemon_publish(struct netrootd *d)
{
        struct strbuf body = {0};
        char summary[512];
        int r;

        announce_state(d);
        publish_metrics(d);
        r = led_show(&d->led, &d->cfg.led, current_state(d));
        if (r < 0)
                log_msg(&d->log, LOG_WARNING, "LED %s: cannot set trigger: %s", d->led.name,
                        strerror(-r));
        else if (r > 0) {
                const char *state = health_state_to_string(current_state(d));

                log_eventf(&d->log, LOG_INFO, MSGID_LED_SET, "MESSAGE=LED %s: trigger %s (%s)",
                           d->led.name, d->led.current, state, "NETROOT_LED_TRIGGER=%s",
                           d->led.current, "NETROOT_STATE=%s", state, NULL);
        }
        status_render_body(d, &body);
        if (!body.oom && !streq(sb_str(&body), sb_str(&d->status_body))) {
                d->status_updated = (uint64_t)time(NULL);
                r = status_write(d->status_path, &body, d->status_updated);
                if (r < 0)
                        log_msg(&d->log, LOG_WARNING, "cannot write %s: %s", d->status_path,
                                strerror(-r));
                sb_free(&d->status_body);
                d->status_body = body;
                body = (struct strbuf){0};
        }
        sb_free(&body);
        status_summary(d, summary, sizeof(summary));
        sd_notifyf(false, "STATUS=%s", summary);
}

static void ipv6_report(struct netrootd *d, const struct ipv6_result *res, int r)
{
        const char *mode = ipv6_mode_to_string(d->cfg.ipv6.mode);
        char f_mode[48], f_names[IPV6_CHANGED_LIST + 32];
        const char *fields[] = {f_mode, f_names, NULL};

        snprintf(f_mode, sizeof(f_mode), "NETROOT_IPV6_MODE=%s", mode);
        snprintf(f_names, sizeof(f_names), "NETROOT_IPV6_CHANGED=%s", res->changed_names);
        if (!res->available) {
                if (d->ipv6.available || !d->started)
                        log_event(&d->log, LOG_NOTICE, MSGID_IPV6_UNAVAILABLE, fields,
                                  "IPv6: /proc/sys/net/ipv6 absent (no IPv6 in this kernel or "
                                  "module not loaded); nothing to enforce");
        } else if (r < 0) {
                log_event(&d->log, LOG_ERR, MSGID_IPV6_FAILED, fields,
                          "IPv6: cannot enforce mode=%s: %s", mode, res->error);
        } else if (res->changed && d->started) {
                d->ipv6.corrections += res->changed;
                log_event(&d->log, LOG_WARNING, MSGID_IPV6_DRIFT_CORRECTED, fields,
                          "IPv6: drift corrected: disable_ipv6 was changed on %s; set back to "
                          "%s (mode=%s)",
                          res->changed_names, d->cfg.ipv6.mode == IPV6_MODE_DISABLE ? "1" : "0",
                          mode);
        } else if (!d->started && d->cfg.ipv6.mode != IPV6_MODE_KEEP) {
                log_event(&d->log, LOG_INFO, MSGID_IPV6_APPLIED, fields,
                          "IPv6: mode=%s holds on %u entries (%u changed%s%s)", mode, res->checked,
                          res->changed, res->changed ? ": " : "", res->changed_names);
        }
        d->ipv6.available = res->available;
        d->ipv6.applied = res->available && r >= 0 && d->cfg.ipv6.mode != IPV6_MODE_KEEP;
        snprintf(d->ipv6.error, sizeof(d->ipv6.error), "%s", r < 0 ? res->error : "");
}

static void ipv6_check(struct netrootd *d)
{
        struct ipv6_result res;
        int r;

        if (d->cfg.ipv6.mode == IPV6_MODE_KEEP && d->started)
                return;
        r = ipv6_enforce(d->opt.root, d->cfg.ipv6.mode, &res);
        ipv6_report(d, &res, r);
        if (d->started)
                daemon_publish(d);
}

static void on_netlink_change(void *userdata, enum netlink_kind kind, int action,
                              struct nl_object *obj)
{
        struct netrootd *d = userdata;

        /* A new interface gets the kernel's `default`, which someone may have changed; and IPv6
         * addresses appearing are the visible side of disable_ipv6 being flipped back. */
        if ((kind == NETLINK_KIND_LINK && action == NL_ACT_NEW) ||
            (kind == NETLINK_KIND_ADDR &&
             rtnl_addr_get_family((struct rtnl_addr *)obj) == AF_INET6))
                ipv6_check(d);
        if (d->started)
                watch_link_changed(&d->watch);
}

static int on_ipv6_timer(sd_event_source *s, uint64_t usec _unused_, void *userdata)
{
        struct netrootd *d = userdata;

        ipv6_check(d);
        (void)sd_event_source_set_time_relative(s, d->cfg.ipv6.check_interval_usec);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void write_sysctl_conf(struct netrootd *d)
{
        int r = ipv6_write_sysctl_conf(d->opt.root, d->cfg.ipv6.mode, d->config_path);

        if (r < 0)
                log_msg(&d->log, LOG_WARNING,
                        "cannot update /etc/sysctl.d/90-netroot-ipv6.conf: %s (early boot may "
                        "not match [ipv6] mode)",
                        strerror(-r));
        else if (r > 0)
                log_msg(&d->log, LOG_INFO, "updated /etc/sysctl.d/90-netroot-ipv6.conf for mode=%s",
                        ipv6_mode_to_string(d->cfg.ipv6.mode));
}

/* The same LED keeps what was found at start: re-reading it would take our own trigger for the
 * one to restore on stop. Only a different device (or enabling the LED) opens it afresh. */
static int reload_led(const struct netrootd *d, const struct netroot_config *cfg,
                      const char *config_path, struct led *led, char *err, size_t errsize)
{
        if (d->led.present && cfg->led.enabled && streq(cfg->led.device, d->cfg.led.device)) {
                *led = d->led;
                return led_validate(led, &cfg->led, config_path, err, errsize);
        }
        return open_led(d->opt.root, cfg, config_path, led, err, errsize);
}

static void start_metrics(struct netrootd *d)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if (!d->cfg.agent.metrics_file[0])
                return;
        path = root_path(d->opt.root, d->cfg.agent.metrics_file);
        r = path ? metrics_writer_start(path, &d->metrics) : -ENOMEM;
        if (r < 0)
                log_msg(&d->log, LOG_WARNING, "no metrics file: %s", strerror(-r));
}

/* One writer thread for the daemon's life: it only learns the new path (see metrics.h). */
static void reload_metrics(struct netrootd *d)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if (!d->cfg.agent.metrics_file[0]) {
                metrics_writer_release(d->metrics);
                d->metrics = NULL;
                d->metrics_error_logged = 0;
                return;
        }
        if (!d->metrics) {
                start_metrics(d);
                return;
        }
        d->metrics_error_logged = 0; /* an error that persists is said again once */
        path = root_path(d->opt.root, d->cfg.agent.metrics_file);
        r = path ? metrics_writer_set_path(d->metrics, path) : -ENOMEM;
        if (r < 0)
                log_msg(&d->log, LOG_WARNING, "metrics file %s: %s", d->cfg.agent.metrics_file,
                        strerror(-r));
}

static int on_reload(sd_event_source *s _unused_, const struct signalfd_siginfo *si _unused_,
                     void *userdata)
{
        struct netrootd *d = userdata;
        struct netroot_config cfg;
        struct config_diag diag;
        struct led led;
        char path[PATH_MAX], err[CONFIG_MESSAGE_MAX] = "";
        bool missing;

        sd_notify(false, "RELOADING=1");
        if (load_config(&d->opt, path, sizeof(path), &cfg, &diag, &missing) < 0 ||
            reload_led(d, &cfg, path, &led, err, sizeof(err)) < 0) {
                log_event(&d->log, LOG_ERR, MSGID_CONFIG_RELOAD_FAILED, NULL,
                          "reload refused, keeping the running configuration: %s",
                          diag.error[0] ? diag.error : err);
                sd_notify(false, "READY=1");
                return 0;
        }
        if (diag.warning[0])
                log_event(&d->log, LOG_WARNING, MSGID_CONFIG_WARNING, NULL, "%s", diag.warning);
        say_portal_resolved(d, &cfg);
        if (!streq(led.dir, d->led.dir) || !led.present)
                led_restore(&d->led);
        d->led = led;
        watch_stop(&d->watch);
        d->cfg = cfg;
        prepare_run_dir(d);
        keep_led_original(d);
        reload_metrics(d);
        if (watch_start(&d->watch) < 0)
                log_msg(&d->log, LOG_ERR, "cannot restart the iSCSI watch after reload");
        write_sysctl_conf(d);
        (void)sd_event_source_set_time_relative(d->ipv6_timer, d->cfg.ipv6.check_interval_usec);
        (void)sd_event_source_set_enabled(d->ipv6_timer, SD_EVENT_ONESHOT);
        d->started = false; /* a new mode is an application, not drift */
        ipv6_check(d);
        d->started = true;
        daemon_publish(d);
        log_event(&d->log, LOG_INFO, MSGID_CONFIG_RELOADED, NULL, "configuration reloaded from %s",
                  path);
        sd_notify(false, "READY=1");
        return 0;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si _unused_,
                        void *userdata _unused_)
{
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int setup_event_loop(struct netrootd *d)
{
        int r;

        r = sd_event_default(&d->event);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK,
                                        on_terminate, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK,
                                        on_terminate, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK,
                                        on_reload, d);
        if (r >= 0)
                r = sd_event_set_watchdog(d->event, true);
        if (r >= 0)
                r = log_sink_attach_event(&d->log_sink, d->event);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, &d->ipv6_timer, CLOCK_MONOTONIC,
                                               d->cfg.ipv6.check_interval_usec, USEC_PER_SEC,
                                               on_ipv6_timer, d);
        if (r < 0)
                log_msg(&d->log, LOG_ERR, "cannot set up the event loop: %s", strerror(-r));
        return r;
}

/* Shared libraries that libsystemd and libiscsi link but that netrootd never runs: libsystemd's
 * journal reader (compression, sealing: zstd, lzma, lz4, gcrypt, gpg-error) and sd-bus credentials
 * (cap); libiscsi's iSER transport (ibverbs, rdmacm; netrootd logs in over TCP only). netrootd
 * calls only sd-event, sd_journal_send and sd_notify, which reach none of them. Locking them costs
 * ~2.7 MiB of RAM (every page of every mapped library is made resident) for code that never runs;
 * their pages touched while loading stay resident until reclaimed. Checked by running the
 * integration tests with their code made PROT_NONE: nothing in them runs but their ELF
 * destructors at exit(), i.e. on shutdown, never on the health path. */
static const char *const unlocked_libs[] = {
    "libgcrypt.so", "libgpg-error.so", "libzstd.so",    "liblzma.so",
    "liblz4.so",    "libcap.so",       "libibverbs.so", "librdmacm.so",
};

static bool is_unlocked_lib(const char *path)
{
        const char *base = path_base(path);
        for (size_t i = 0; i < ARRAY_SIZE(unlocked_libs); i++)
                if (strncmp(base, unlocked_libs[i], strlen(unlocked_libs[i])) == 0)
                        return true;
        return false;
}

/* mlock every current mapping but the unlocked libraries' (what mlockall(MCL_CURRENT) would do,
 * minus them). Special mappings ([vvar], [vsyscall]) and guard pages (---p) cannot be locked and
 * hold nothing we fault in. */
static int lock_current_mappings(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
        char line[512];

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long start, end;
                char perms[5], path[256] = "";

                if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %255s", &start, &end, perms, path) < 3)
                        return -EINVAL;
                if (strcmp(perms, "---p") == 0 || is_unlocked_lib(path) ||
                    strcmp(path, "[vvar]") == 0 || strcmp(path, "[vvar_vclock]") == 0 ||
                    strcmp(path, "[vsyscall]") == 0)
                        continue;
                if (mlock((void *)start, end - start) < 0)
                        return -errno;
        }
        return 0;
}

/* The root filesystem is the thing that may vanish: keep every page we will ever run from in
 * RAM so that watching it never faults pages in from it. MCL_FUTURE first, so that every mapping
 * made from here on (heap growth, stacks, a library loaded later) is locked as it is made; then
 * each current mapping but those of libraries netrootd never runs (unlocked_libs). */
static void lock_memory(struct netrootd *d)
{
        int r;

#if defined(__SANITIZE_ADDRESS__)
        log_msg(&d->log, LOG_NOTICE, "sanitizer build: not locking memory");
        return;
#endif
        if (d->opt.no_mlock)
                return;
        r = mlockall(MCL_FUTURE) < 0 ? -errno : lock_current_mappings();
        if (r < 0) {
                /* Fall back to locking everything: more RAM, never less safety. */
                if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
                        log_msg(&d->log, LOG_WARNING,
                                "mlockall failed: %s; pages may be paged in from the root disk "
                                "while it is unreachable",
                                strerror(errno));
                        return;
                }
        }
        d->memory_locked = true;
}

static int init_config(struct netrootd *d)
{
        struct config_diag diag;
        char err[CONFIG_MESSAGE_MAX];
        bool missing;

        if (load_config(&d->opt, d->config_path, sizeof(d->config_path), &d->cfg, &diag, &missing) <
            0) {
                log_event(&d->log, LOG_ERR, MSGID_CONFIG_RELOAD_FAILED, NULL, "%s", diag.error);
                return -EINVAL;
        }
        if (missing)
                log_msg(&d->log, LOG_NOTICE, "%s not found: using built-in defaults",
                        d->config_path);
        if (diag.warning[0])
                log_event(&d->log, LOG_WARNING, MSGID_CONFIG_WARNING, NULL, "%s", diag.warning);
        say_portal_resolved(d, &d->cfg);
        if (open_led(d->opt.root, &d->cfg, d->config_path, &d->led, err, sizeof(err)) < 0) {
                log_event(&d->log, LOG_ERR, MSGID_CONFIG_RELOAD_FAILED, NULL, "%s", err);
                return -EINVAL;
        }
        if (!d->led.present && d->cfg.led.enabled)
                log_event(&d->log, LOG_NOTICE, MSGID_LED_MISSING, NULL,
                          "no activity LED found (device=%s): health is not shown on an LED",
                          d->cfg.led.device);
        return 0;
}

/* The sink's queue is empty again after it had to drop records: say how many are missing. */
static void on_log_drained(void *userdata, uint64_t dropped)
{
        struct netrootd *d = userdata;

        log_eventf(&d->log, LOG_WARNING, MSGID_LOG_DROPPED,
                   "MESSAGE=%llu log messages dropped while the %s was not reading (%llu since "
                   "start)",
                   (unsigned long long)dropped, d->log.journal ? "journal" : "log stream",
                   (unsigned long long)d->log_sink.dropped, "NETROOT_LOG_DROPPED=%llu",
                   (unsigned long long)dropped, NULL);
}

static void init_logging(struct netrootd *d)
{
        logger_init(&d->log, "netrootd", d->opt.log_target);
        if (d->log.journal)
                (void)log_sink_open_journal(&d->log_sink, LOG_SINK_JOURNAL);
        else
                (void)log_sink_open_stderr(&d->log_sink);
        d->log_sink.drained = on_log_drained;
        d->log_sink.userdata = d;
        d->log.sink = &d->log_sink;
}

int daemon_init(struct netrootd *d, const struct daemon_options *opt)
{
        int r;

        memset(d, 0, sizeof(*d));
        d->opt = *opt;
        init_logging(d);
        r = init_config(d);
        if (r < 0)
                return r;
        r = setup_event_loop(d);
        if (r < 0)
                return r;
        r = prepare_run_dir(d);
        if (r < 0)
                return r;
        keep_led_original(d);
        r = netlink_watch_new(d->event, on_netlink_change, d, &d->netlink);
        if (r < 0)
                log_msg(&d->log, LOG_WARNING,
                        "no netlink link events (%s): new interfaces are seen only every %llus",
                        strerror(-r),
                        (unsigned long long)(d->cfg.ipv6.check_interval_usec / USEC_PER_SEC));
        write_sysctl_conf(d);
        ipv6_check(d);
        d->started_usec = (uint64_t)time(NULL) * USEC_PER_SEC;
        start_metrics(d);
        d->watch = (struct root_watch){
            .root = d->opt.root,
            .cfg = &d->cfg,
            .log = &d->log,
            .event = d->event,
            .netlink = d->netlink,
            .changed = on_health_changed,
            .userdata = d,
        };
        r = watch_start(&d->watch);
        if (r < 0) {
                log_msg(&d->log, LOG_ERR, "cannot start the iSCSI watch: %s", strerror(-r));
                return r;
        }
        if (d->watch.events_error[0])
                log_msg(&d->log, LOG_NOTICE, "%s", d->watch.events_error);
        if (d->watch.probe_error[0])
                log_msg(&d->log, LOG_NOTICE, "portal probe not running: %s", d->watch.probe_error);
        lock_memory(d);
        d->started = true;
        daemon_publish(d);
        return 0;
}

int daemon_run(struct netrootd *d)
{
        char summary[512];

        status_summary(d, summary, sizeof(summary));
        log_event(&d->log, LOG_INFO, MSGID_DAEMON_STARTED, NULL, "netrootd %s started: %s",
                  NETROOT_VERSION, summary);
        sd_notifyf(false, "READY=1\nSTATUS=%s", summary);
        return sd_event_loop(d->event);
}

void daemon_done(struct netrootd *d)
{
        int r;

        if (d->started) {
                sd_notify(false, "STOPPING=1");
                log_event(&d->log, LOG_INFO, MSGID_DAEMON_STOPPING, NULL,
                          "netrootd stopping; LED back to %s",
                          d->led.present ? d->led.original : "(no LED)");
        }
        r = led_restore(&d->led);
        if (r < 0)
                log_msg(&d->log, LOG_WARNING, "cannot restore LED trigger %s: %s", d->led.original,
                        strerror(-r));
        else if (d->led_saved_path[0])
                (void)led_forget_original(d->led_saved_path); /* given back: nothing to remember */
        watch_stop(&d->watch);
        metrics_writer_stop(d->metrics);
        d->metrics = NULL;
        d->netlink = netlink_watch_free(d->netlink);
        d->ipv6_timer = sd_event_source_disable_unref(d->ipv6_timer);
        /* last: everything above may still log */
        d->log.sink = NULL;
        log_sink_close(&d->log_sink);
        d->event = sd_event_unref(d->event);
        sb_free(&d->status_body);
}
