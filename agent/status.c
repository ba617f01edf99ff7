#include "status.h"
#include "daemon.h"
#include "fileio.h"
#include "json.h"
#include "util.h"

static void render_reasons(const struct netrootd *d, struct strbuf *sb)
{
        sb_puts(sb, "  \"reasons\": [");
        for (unsigned i = 0; i < d->n_reasons; i++) {
                sb_puts(sb, i ? ", " : "");
                json_put_string(sb, d->reasons[i]);
        }
        sb_puts(sb, "],\n");
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
        json_put_string(sb, health_state_to_string(d->state));
        sb_puts(sb, ",\n");
        render_reasons(d, sb);
        render_led(d, sb);
        render_ipv6(d, sb);
        sb_printf(sb, "  \"memory_locked\": %s,\n", d->memory_locked ? "true" : "false");
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

        n = (size_t)snprintf(buf, size, "%s", health_state_to_string(d->state));
        if (d->n_reasons && n < size)
                n += (size_t)snprintf(buf + n, size - n, ": %s", d->reasons[0]);
        if (n < size)
                n += (size_t)snprintf(buf + n, size - n, "; LED %s%s%s",
                                      d->led.present ? d->led.name : "absent",
                                      d->led.present ? " " : "",
                                      d->led.present ? d->led.current : "");
        if (n < size)
                snprintf(buf + n, size - n, "; IPv6 %s%s", ipv6_mode_to_string(d->cfg.ipv6.mode),
                         !d->ipv6.available ? " (no IPv6 in kernel)"
                         : d->ipv6.applied ? " (applied)"
                                           : " (NOT applied)");
}
