#include "health.h"
#include "util.h"

#include <stdarg.h>

void health_reason_set(struct health_reason *r, const char *code, const char *fmt, ...)
{
        va_list ap;

        snprintf(r->code, sizeof(r->code), "%s", code);
        va_start(ap, fmt);
        vsnprintf(r->text, sizeof(r->text), fmt, ap);
        va_end(ap);
}

void health_init(struct health *h, unsigned fail_after, unsigned recover_after,
                 uint64_t slow_rtt_usec)
{
        memset(h, 0, sizeof(*h));
        h->fail_after = fail_after ? fail_after : 1;
        h->recover_after = recover_after ? recover_after : 1;
        h->slow_rtt_usec = slow_rtt_usec;
}

void health_source_unused(struct health *h, enum health_source src)
{
        health_source_set(h, src, HEALTH_OK, NULL, 0);
}

void health_source_set(struct health *h, enum health_source src, enum health_state state,
                       const struct health_reason *reasons, unsigned n)
{
        struct health_input *in = &h->in[src];

        in->known = true;
        in->state = state;
        in->n_reasons = 0;
        for (unsigned i = 0; i < n && i < HEALTH_REASONS_MAX; i++)
                in->reasons[in->n_reasons++] = reasons[i];
}

void health_probe_result(struct health *h, bool ok, uint64_t rtt_usec, const char *reason)
{
        struct health_reason one[1];

        h->probes_total++;
        h->last_probe_ok = ok;
        if (!ok) {
                h->probe_failures_total++;
                h->probe_fail_streak++;
                /* One lost probe is a warning; fail_after in a row is an outage. */
                if (h->probe_fail_streak >= h->fail_after)
                        health_reason_set(one, "probe-failed", "%s", reason);
                else
                        health_reason_set(one, "probe-failed",
                                          "%s (%u of %u failed probes in a row)", reason,
                                          h->probe_fail_streak, h->fail_after);
                health_source_set(h, HEALTH_SRC_PROBE,
                                  h->probe_fail_streak >= h->fail_after ? HEALTH_FAILED
                                                                        : HEALTH_DEGRADED,
                                  one, 1);
                return;
        }
        h->probe_fail_streak = 0;
        h->last_rtt_usec = rtt_usec;
        if (h->slow_rtt_usec && rtt_usec > h->slow_rtt_usec) {
                health_reason_set(one, "probe-slow", "%s: slow probe %.1f ms (over %.1f ms)",
                                  reason ? reason : "portal", (double)rtt_usec / 1000.0,
                                  (double)h->slow_rtt_usec / 1000.0);
                health_source_set(h, HEALTH_SRC_PROBE, HEALTH_DEGRADED, one, 1);
                return;
        }
        health_source_set(h, HEALTH_SRC_PROBE, HEALTH_OK, NULL, 0);
}

static enum health_state raw_state(const struct health *h)
{
        enum health_state worst = HEALTH_UNKNOWN;
        bool all_known = true;

        for (int i = 0; i < HEALTH_SRC_COUNT; i++) {
                if (!h->in[i].known) {
                        all_known = false;
                        continue;
                }
                if (h->in[i].state > worst)
                        worst = h->in[i].state;
        }
        /* Without every source's first word only bad news is certain. */
        if (!all_known && worst <= HEALTH_OK)
                return HEALTH_UNKNOWN;
        return worst;
}

static bool add_reason(struct health_reason *reasons, unsigned *n, const struct health_reason *r)
{
        if (*n >= HEALTH_REASONS_MAX)
                return false;
        reasons[(*n)++] = *r;
        return true;
}

static unsigned collect_reasons(const struct health *h, struct health_reason *reasons)
{
        unsigned n = 0;

        for (int i = 0; i < HEALTH_SRC_COUNT; i++)
                for (unsigned k = 0; k < h->in[i].n_reasons; k++)
                        add_reason(reasons, &n, &h->in[i].reasons[k]);
        return n;
}

bool health_evaluate(struct health *h, bool sample, uint64_t now_realtime_usec)
{
        struct health_reason reasons[HEALTH_REASONS_MAX];
        enum health_state raw = raw_state(h), next = h->published;
        unsigned n = collect_reasons(h, reasons);
        bool changed;

        if (raw == HEALTH_UNKNOWN) {
                next = h->published; /* nothing certain yet: keep what is shown */
        } else if (raw >= h->published || h->published == HEALTH_UNKNOWN) {
                next = raw;
                h->better_streak = 0;
        } else {
                if (sample)
                        h->better_streak++;
                if (h->better_streak >= h->recover_after) {
                        next = raw;
                        h->better_streak = 0;
                } else {
                        struct health_reason note;

                        health_reason_set(&note, "recovering",
                                          "recovering: %u of %u good results in a row before %s",
                                          h->better_streak, h->recover_after,
                                          health_state_to_string(raw));
                        add_reason(reasons, &n, &note);
                }
        }
        changed = next != h->published || n != h->n_reasons;
        for (unsigned i = 0; !changed && i < n; i++)
                changed = !streq(reasons[i].text, h->reasons[i].text) ||
                          !streq(reasons[i].code, h->reasons[i].code);
        if (next != h->published) {
                h->changed_usec = now_realtime_usec;
                h->transitions++;
        }
        h->published = next;
        h->n_reasons = n;
        memcpy(h->reasons, reasons, sizeof(reasons[0]) * n);
        return changed;
}
