#include "status.h"
#include "daemon.h"
#include "fileio.h"
#include "json.h"
#include "util.h"

static void render_reasons(const struct netrootd *d, struct strbuf *sb)
{
        sb_puts(sb, "  \"reasons\": [");
        const struct health *h = &d->watch.health;

        for (unsigned i = 0; i < h->n_reasons; i++) {
                sb_puts(sb, i ? ", " : "");
                sb_puts(sb, "{\"code\": ");
                json_put_string(sb, h->reasons[i].code);
                sb_puts(sb, ", \"text\": ");
                json_put_string(sb, h->reasons[i].text);
                sb_puts(sb, "}");
        }
        sb_puts(sb, "],\n");
}

static void put_bool(struct strbuf *sb, const char *key, bool v)
{
        sb_printf(sb, "\"%s\": %s", key, v ? "true" : "false");
}

static void put_str(struct strbuf *sb, const char *key, const char *v)
{
        sb_printf(sb, "\"%s\": ", key);
        json_put_string(sb, v);
}

static void render_session(const struct netrootd *d, struct strbuf *sb)
{
        const struct root_watch *w = &d->watch;
        const struct session_snapshot *s = &w->session;

        sb_puts(sb, "  \"session\": {");
        put_bool(sb, "watched", w->session_readable);
        sb_puts(sb, ", ");
        put_bool(sb, "present", s->present);
        if (s->present) {
                sb_printf(sb, ", \"sid\": %u, ", s->sid);
                put_str(sb, "state", s->state_raw);
                sb_puts(sb, ", ");
                put_str(sb, "target", s->targetname);
                sb_printf(sb, ", \"recovery_tmo\": %d, ", s->recovery_tmo);
                put_str(sb, "disk", s->disk);
                sb_puts(sb, ", ");
                put_str(sb, "disk_state", s->disk_state_raw);
                sb_puts(sb, ", ");
                put_str(sb, "address", s->address);
                sb_printf(sb, ", \"port\": %u", s->port);
        }
        sb_printf(sb, ", \"iscsid_running\": %s, ",
                  w->iscsid_running < 0 ? "null"
                  : w->iscsid_running   ? "true"
                                        : "false");
        put_str(sb, "events", w->events ? "netlink" : w->events_error);
        sb_puts(sb, "},\n");
}

static void render_link(const struct netrootd *d, struct strbuf *sb)
{
        const struct link_status *l = &d->watch.link_status;

        sb_puts(sb, "  \"link\": {");
        put_bool(sb, "known", l->known);
        sb_puts(sb, ", ");
        put_str(sb, "interface", l->ifname);
        sb_puts(sb, ", ");
        put_bool(sb, "up", l->admin_up);
        sb_puts(sb, ", ");
        put_bool(sb, "carrier", l->carrier);
        sb_puts(sb, ", ");
        put_str(sb, "ipv4", l->ipv4);
        sb_puts(sb, "},\n");
}

static void render_probe(const struct netrootd *d, struct strbuf *sb)
{
        const struct root_watch *w = &d->watch;
        const struct health *h = &w->health;

        sb_puts(sb, "  \"probe\": {");
        put_str(sb, "mode", probe_mode_to_string(d->cfg.iscsi.probe));
        sb_puts(sb, ", ");
        put_bool(sb, "running", w->probe != NULL);
        sb_puts(sb, ", ");
        put_str(sb, "portal", w->portal);
        sb_puts(sb, ", ");
        put_str(sb, "target", w->target);
        sb_puts(sb, ", ");
        put_str(sb, "initiator", w->probe ? w->probe_initiator : "");
        sb_puts(sb, ", ");
        put_bool(sb, "last_ok", h->last_probe_ok);
        sb_printf(sb, ", \"rtt_ms\": %.1f, \"probes\": %llu, \"failures\": %llu, ",
                  (double)h->last_rtt_usec / 1000.0, (unsigned long long)h->probes_total,
                  (unsigned long long)h->probe_failures_total);
        put_str(sb, "last_error", w->last_probe_reason);
        sb_puts(sb, ", ");
        put_str(sb, "not_running_because", w->probe_error);
        sb_printf(sb, "},\n  \"since\": %llu,\n  \"transitions\": %u,\n",
                  (unsigned long long)(h->changed_usec / 1000000), h->transitions);
}

static void render_led(const struct netrootd *d, struct strbuf *sb)
{
        const struct led *led = &d->led;

        sb_printf(sb, "  \"led\": {\"present\": %s, \"enabled\": %s, \"device\": ",
                  led->present ? "true" : "false", d->cfg.led.enabled ? "true" : "false");
        json_put_string(sb, led->present ? led->name : "");
        sb_puts(sb, ", \"trigger\": ");
        json_put_string(sb, led->present ? led->current : "");
        sb_puts(sb, ", \"original\": ");
        json_put_string(sb, led->present ? led->original : "");
        sb_puts(sb, "},\n");
}

static void render_ipv6(const struct netrootd *d, struct strbuf *sb)
{
        sb_puts(sb, "  \"ipv6\": {\"mode\": ");
        json_put_string(sb, ipv6_mode_to_string(d->cfg.ipv6.mode));
        sb_printf(sb, ", \"available\": %s, \"applied\": %s, \"corrections\": %u, \"error\": ",
                  d->ipv6.available ? "true" : "false", d->ipv6.applied ? "true" : "false",
                  d->ipv6.corrections);
        json_put_string(sb, d->ipv6.error);
        sb_puts(sb, "},\n");
}

void status_render_body(const struct netrootd *d, struct strbuf *sb)
{
        sb_reset(sb);
        sb_puts(sb, "{\n  \"state\": ");
        json_put_string(sb, health_state_to_string(d->watch.health.published));
        sb_puts(sb, ",\n");
        render_reasons(d, sb);
        render_session(d, sb);
        render_link(d, sb);
        render_probe(d, sb);
        render_led(d, sb);
        render_ipv6(d, sb);
        sb_printf(sb, "  \"memory_locked\": %s,\n", d->memory_locked ? "true" : "false");
        sb_printf(sb, "  \"log\": {\"target\": \"%s\", \"dropped\": %llu, \"queued\": %u},\n",
                  d->log.journal ? "journal" : "stderr", (unsigned long long)d->log_sink.dropped,
                  d->log_sink.count);
        sb_puts(sb, "  \"version\": ");
        json_put_string(sb, NETROOT_VERSION);
        sb_printf(sb, ",\n  \"pid\": %d,\n", (int)getpid());
}

int status_write(const char *path, const struct strbuf *body, uint64_t updated)
{
        struct strbuf out = {0};
        int r;

        sb_append(&out, sb_str(body), body->len);
        sb_printf(&out, "  \"updated\": %llu\n}\n", (unsigned long long)updated);
        r = out.oom ? -ENOMEM : file_write_atomic(path, out.data, out.len, 0644);
        sb_free(&out);
        return r;
}

void status_summary(const struct netrootd *d, char *buf, size_t size)
{
        size_t n;

        watch_summary(&d->watch, buf, size);
        n = strlen(buf);
        if (n < size)
                n += (size_t)snprintf(
                    buf + n, size - n, "; LED %s%s%s", d->led.present ? d->led.name : "absent",
                    d->led.present ? " " : "", d->led.present ? d->led.current : "");
        if (n < size)
                n += (size_t)snprintf(buf + n, size - n, "; IPv6 %s%s",
                                      ipv6_mode_to_string(d->cfg.ipv6.mode),
                                      !d->ipv6.available ? " (no IPv6 in kernel)"
                                      : d->ipv6.applied  ? " (applied)"
                                                         : " (NOT applied)");
        if (n < size && d->log_sink.dropped)
                snprintf(buf + n, size - n, "; %llu log messages dropped",
                         (unsigned long long)d->log_sink.dropped);
}
