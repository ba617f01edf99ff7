#include "watch.h"
#include "iscsi_events.h"
#include "probe.h"
#include "util.h"

#include <arpa/inet.h>
#include <time.h>

#define ISCSID_CHECK_POLLS 6 /* scanning /proc is the costliest read: every 30 s by default */
/* With kernel iSCSI events a failure is seen at once; the poll is then only a safety net. */
#define EVENTS_POLL_FACTOR 6
#define USEC_PER_SEC       1000000ULL

static uint64_t now_realtime(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Every probe result is published (its round-trip time is in the status and the metrics);
 * other events only when the verdict changed. */
static void evaluate(struct root_watch *w, bool sample)
{
        if (health_evaluate(&w->health, sample, now_realtime()) || sample)
                w->changed(w->userdata);
}

static void update_session_source(struct root_watch *w)
{
        struct session_verdict v;

        if (!w->session_readable) {
                health_source_unused(&w->health, HEALTH_SRC_SESSION);
                return;
        }
        session_assess(&w->session, w->iscsid_running, SESSION_RECOVERY_TMO_MIN, &v);
        health_source_set(&w->health, HEALTH_SRC_SESSION, v.health, v.reasons, v.n_reasons);
}

static void read_session(struct root_watch *w)
{
        int r = session_read(w->root, &w->locator, &w->session);

        /* Without /proc/self/mountinfo (a sandbox tree) there is no root to find. */
        w->session_readable = r != -ENOENT;
        if (w->session_readable && (w->iscsid_running < 0 || w->polls % ISCSID_CHECK_POLLS == 0))
                w->iscsid_running = w->session.present ? session_iscsid_running(w->root) : 1;
        w->polls++;
        update_session_source(w);
}

static uint64_t poll_interval(const struct root_watch *w)
{
        uint64_t base = w->cfg->iscsi.session_poll_usec;

        return w->events ? base * EVENTS_POLL_FACTOR : base;
}

static int on_poll(sd_event_source *s, uint64_t usec _unused_, void *userdata)
{
        struct root_watch *w = userdata;

        read_session(w);
        /* With a probe, its results are the samples that count towards recovery. */
        evaluate(w, !w->probe);
        (void)sd_event_source_set_time_relative(s, poll_interval(w));
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void on_iscsi_event(const struct iscsi_event *ev, void *userdata)
{
        struct root_watch *w = userdata;

        log_msg(w->log, LOG_INFO, "kernel iSCSI event: %s on session%u",
                iscsi_event_type_to_string(ev->type), ev->sid);
        if (ev->type == ISCSI_EVENT_OVERRUN || ev->type == ISCSI_EVENT_DESTROY_SESSION ||
            ev->type == ISCSI_EVENT_CREATE_SESSION)
                session_locator_reset(&w->locator);
        read_session(w);
        evaluate(w, false);
}

void watch_link_changed(struct root_watch *w)
{
        struct health_reason reasons[1];
        enum health_state state;
        unsigned n;

        if (!w->link.portal_ip[0] || !w->netlink) {
                health_source_unused(&w->health, HEALTH_SRC_LINK);
                return;
        }
        link_tracker_read(&w->link, w->netlink, &w->link_status);
        n = link_status_verdict(&w->link_status, &w->link, &state, reasons, 1);
        health_source_set(&w->health, HEALTH_SRC_LINK, state, reasons, n);
        evaluate(w, false);
}

/* Where to probe, in order: agent.conf, the live session, what the Pi booted with. */
static void resolve_target_and_portal(struct root_watch *w)
{
        const struct iscsi_config *c = &w->cfg->iscsi;
        const char *portal = NULL;
        char from_session[SESSION_ADDR_MAX + 8];

        w->target[0] = w->portal_host[0] = '\0';
        if (!streq(c->target, "auto"))
                snprintf(w->target, sizeof(w->target), "%s", c->target);
        else if (w->session.present && w->session.targetname[0])
                snprintf(w->target, sizeof(w->target), "%s", w->session.targetname);
        else
                snprintf(w->target, sizeof(w->target), "%s", w->boot.target_name);

        if (!streq(c->portal, "auto")) {
                portal = c->portal;
        } else if (w->session.present && w->session.persistent_address[0]) {
                snprintf(from_session, sizeof(from_session),
                         strchr(w->session.persistent_address, ':') ? "[%s]:%u" : "%s:%u",
                         w->session.persistent_address,
                         w->session.persistent_port ? w->session.persistent_port : 3260);
                portal = from_session;
        } else if (w->boot.target_ip[0]) {
                snprintf(from_session, sizeof(from_session), "%s:%u", w->boot.target_ip,
                         w->boot.target_port ? w->boot.target_port : 3260);
                portal = from_session;
        }
        if (portal &&
            probe_parse_portal(portal, w->portal_host, sizeof(w->portal_host), &w->portal_port) < 0)
                w->portal_host[0] = '\0';
        if (w->portal_host[0])
                probe_format_portal(w->portal_host, w->portal_port, w->portal, sizeof(w->portal));
        else
                w->portal[0] = '\0';
}

static void schedule_probe(struct root_watch *w, uint64_t delay)
{
        (void)sd_event_source_set_time_relative(w->probe_timer, delay);
        (void)sd_event_source_set_enabled(w->probe_timer, SD_EVENT_ONESHOT);
}

static void on_probe_result(struct probe *p _unused_, const struct probe_result *r, void *userdata)
{
        struct root_watch *w = userdata;

        if (!r->ok && !streq(r->reason, w->last_probe_reason))
                log_eventf(w->log, LOG_WARNING, MSGID_PROBE_FAILED, "MESSAGE=probe failed: %s",
                           r->reason, "ISCSI_PORTAL=%s", w->portal, "ISCSI_TARGET=%s", w->target,
                           "NETROOT_REASON=%s", r->reason, "NETROOT_REASON_CODE=%s", "probe-failed",
                           NULL);
        snprintf(w->last_probe_reason, sizeof(w->last_probe_reason), "%s", r->ok ? "" : r->reason);
        health_probe_result(&w->health, r->ok, r->rtt_usec, r->ok ? w->portal : r->reason);
        evaluate(w, true);
        schedule_probe(w, w->cfg->iscsi.probe_interval_usec);
}

static int on_probe_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        struct root_watch *w = userdata;
        int r = probe_start(w->probe);

        if (r < 0 && r != -EBUSY) {
                health_probe_result(&w->health, false, 0, "probe could not start");
                evaluate(w, true);
                schedule_probe(w, w->cfg->iscsi.probe_interval_usec);
        }
        return 0;
}

/* [iscsi] initiator: as configured, or (auto) the root session's name + PROBE_INITIATOR_SUFFIX:
 * a NAS whose ACL admits only listed initiators can admit the probe next to the root. The live
 * session's name comes first, then what the Pi booted with (ISCSI_INITIATOR); an EUI or NAA
 * name, or none, leaves the host-name default. */
static void choose_initiator(struct root_watch *w)
{
        const char *c = w->cfg->iscsi.initiator;
        const char *root = NULL;

        if (!streq(c, "auto")) {
                snprintf(w->probe_initiator, sizeof(w->probe_initiator), "%s", c);
                return;
        }
        if (w->session.present && w->session.initiatorname[0] &&
            !streq(w->session.initiatorname, "(null)"))
                root = w->session.initiatorname;
        else if (w->boot.initiator[0])
                root = w->boot.initiator;
        if (root && strncmp(root, "iqn.", 4) == 0 &&
            strlen(root) + strlen(PROBE_INITIATOR_SUFFIX) <= PROBE_ISCSI_NAME_MAX)
                snprintf(w->probe_initiator, sizeof(w->probe_initiator),
                         "%s" PROBE_INITIATOR_SUFFIX, root);
        else
                probe_default_initiator(w->probe_initiator, sizeof(w->probe_initiator));
}

static int setup_probe(struct root_watch *w)
{
        const struct iscsi_config *c = &w->cfg->iscsi;
        const char *user = c->username[0] ? c->username : w->boot.username;
        const char *pass = c->username[0] ? c->password : w->boot.password;
        struct probe_params p = {
            .host = w->portal_host,
            .port = w->portal_port,
            .target = w->target,
            .initiator = w->probe_initiator,
            .username = user,
            .password = pass,
            .mode = c->probe,
            .timeout_usec = c->probe_timeout_usec,
            .lun = PROBE_LUN_AUTO,
        };
        int r;

        w->probe_error[0] = '\0';
        choose_initiator(w);
        if (c->probe == PROBE_MODE_OFF) {
                snprintf(w->probe_error, sizeof(w->probe_error), "probe=off");
                health_source_unused(&w->health, HEALTH_SRC_PROBE);
                return 0;
        }
        if (!w->portal_host[0] || !w->target[0]) {
                snprintf(w->probe_error, sizeof(w->probe_error),
                         "no %s known: set [iscsi] portal= and target= in agent.conf",
                         !w->portal_host[0] ? "portal" : "target");
                struct health_reason why;

                health_reason_set(&why, "probe-not-running",
                                  "probe not running: no portal/target known");
                health_source_set(&w->health, HEALTH_SRC_PROBE, HEALTH_OK, &why, 1);
                return 0;
        }
        r = probe_new(w->event, &p, on_probe_result, w, &w->probe);
        if (r < 0) {
                snprintf(w->probe_error, sizeof(w->probe_error), "portal %s: %s", w->portal,
                         r == -EINVAL ? "not a numeric address" : strerror(-r));
                struct health_reason why;

                health_reason_set(&why, "probe-unusable", "%s", w->probe_error);
                health_source_set(&w->health, HEALTH_SRC_PROBE, HEALTH_DEGRADED, &why, 1);
                return 0;
        }
        r = sd_event_add_time_relative(w->event, &w->probe_timer, CLOCK_MONOTONIC, 0,
                                       c->probe_interval_usec / 20, on_probe_timer, w);
        return r;
}

int watch_start(struct root_watch *w)
{
        char err[256];
        int r;

        /* A reload keeps what is known (no flash of UNKNOWN); only the thresholds change. */
        if (w->health.fail_after == 0)
                health_init(&w->health, w->cfg->iscsi.fail_after, w->cfg->iscsi.recover_after,
                            w->cfg->iscsi.slow_rtt_usec);
        w->health.fail_after = w->cfg->iscsi.fail_after;
        w->health.recover_after = w->cfg->iscsi.recover_after;
        w->health.slow_rtt_usec = w->cfg->iscsi.slow_rtt_usec;
        w->iscsid_running = -1;
        iscsi_boot_init(&w->boot);
        if (iscsi_boot_load(w->root, &w->boot, err, sizeof(err)) < 0)
                log_msg(w->log, LOG_WARNING, "boot iSCSI parameters: %s", err);
        session_locator_init(&w->locator, w->boot.target_name);
        read_session(w);
        resolve_target_and_portal(w);
        if (link_tracker_set_portal(&w->link, w->portal_host) < 0)
                w->link.portal_ip[0] = '\0'; /* IPv6 or none: the session state covers it */
        watch_link_changed(w);

        r = iscsi_events_open(w->event, on_iscsi_event, w, &w->events);
        if (r < 0)
                snprintf(w->events_error, sizeof(w->events_error),
                         "kernel iSCSI events unavailable (%s), polling every %.1fs", strerror(-r),
                         (double)w->cfg->iscsi.session_poll_usec / USEC_PER_SEC);
        /* Coarse accuracy lets sd-event fold the poll into the probe's wake-up. */
        r = sd_event_add_time_relative(w->event, &w->poll_timer, CLOCK_MONOTONIC, poll_interval(w),
                                       poll_interval(w) / 5, on_poll, w);
        if (r >= 0)
                r = setup_probe(w);
        if (r < 0)
                return r;
        evaluate(w, false);
        return 0;
}

void watch_stop(struct root_watch *w)
{
        w->poll_timer = sd_event_source_disable_unref(w->poll_timer);
        w->probe_timer = sd_event_source_disable_unref(w->probe_timer);
        probe_free(w->probe);
        w->probe = NULL;
        iscsi_events_free(w->events);
        w->events = NULL;
        iscsi_boot_clear(&w->boot);
}

void watch_summary(const struct root_watch *w, char *buf, size_t size)
{
        const struct health *h = &w->health;
        size_t n = 0;

        if (w->target[0])
                n += (size_t)snprintf(buf + n, size - n, "root %s ", w->target);
        if (n < size && w->link_status.known)
                n += (size_t)snprintf(buf + n, size - n, "via %s ", w->link_status.ifname);
        if (n < size)
                n +=
                    (size_t)snprintf(buf + n, size - n, "%s", health_state_to_string(h->published));
        if (n < size && h->n_reasons)
                n += (size_t)snprintf(buf + n, size - n, ": %s", h->reasons[0].text);
        /* `systemctl status` readers want the kernel's own word for the session next to ours. */
        if (n < size && w->session.present)
                n += (size_t)snprintf(buf + n, size - n, ", session %s",
                                      session_state_to_string(w->session.state));
        if (n < size && w->probe && h->probes_total && h->last_probe_ok)
                snprintf(buf + n, size - n, ", probe %.1f ms", (double)h->last_rtt_usec / 1000.0);
}
