/* The overall health of the iSCSI root as the daemon reports it: the worst of its sources (the
 * carrying link, the kernel session, the portal probe), with hysteresis so that it does not flap:
 * getting worse shows at once (probe failures after fail_after in a row), getting better only
 * after recover_after good results in a row. Pure logic: no I/O, unit-tested on its own. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum health_state { HEALTH_UNKNOWN, HEALTH_OK, HEALTH_DEGRADED, HEALTH_FAILED };

#define HEALTH_REASONS_MAX 8
#define HEALTH_REASON_LEN  192
#define HEALTH_CODE_LEN    32

/* Why the health is not OK: a stable code that programs match (status.json's reasons[].code,
 * the journal's NETROOT_REASON_CODE) and the words for the admin, which may change. The codes:
 *   link-*             the link to the portal (link_health.c): link-no-route, link-down,
 *                      link-no-carrier, link-not-operational, link-no-ipv4
 *   session-*, disk-*  the kernel session and its disk (session.c): session-gone, session-failed,
 *                      session-free, session-state-unknown, root-disk-removed, no-iscsi-root,
 *                      disk-blocked, disk-offline, disk-removed, disk-state, disk-unknown,
 *                      iscsid-not-running, recovery-tmo-short
 *   probe-*            the portal probe (health.c, watch.c): probe-failed, probe-slow,
 *                      probe-not-running, probe-unusable
 *   recovering         better results, not yet recover_after of them in a row */
struct health_reason {
        char code[HEALTH_CODE_LEN];
        char text[HEALTH_REASON_LEN];
};

/* Fills R with CODE and the formatted text. */
void health_reason_set(struct health_reason *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum health_source { HEALTH_SRC_LINK, HEALTH_SRC_SESSION, HEALTH_SRC_PROBE, HEALTH_SRC_COUNT };

struct health_input {
        bool known; /* the source has reported at least once (or is not in use) */
        enum health_state state;
        struct health_reason reasons[HEALTH_REASONS_MAX];
        unsigned n_reasons;
};

struct health {
        unsigned fail_after;
        unsigned recover_after;
        uint64_t slow_rtt_usec;

        struct health_input in[HEALTH_SRC_COUNT];
        unsigned probe_fail_streak;
        uint64_t probe_failures_total;
        uint64_t probes_total;
        uint64_t last_rtt_usec;
        bool last_probe_ok;

        unsigned better_streak; /* samples in a row better than what is published */
        enum health_state published;
        struct health_reason reasons[HEALTH_REASONS_MAX];
        unsigned n_reasons;
        uint64_t changed_usec; /* CLOCK_REALTIME of the last published change */
        unsigned transitions;
};

static inline const char *health_state_to_string(enum health_state s)
{
        static const char *const names[] = {"UNKNOWN", "OK", "DEGRADED", "FAILED"};
        return names[s];
}

void health_init(struct health *h, unsigned fail_after, unsigned recover_after,
                 uint64_t slow_rtt_usec);

/* A source that is not in use (e.g. probe=off) counts as OK with no reason. */
void health_source_unused(struct health *h, enum health_source src);

/* Replaces what SRC says. REASONS may be NULL when N is 0. */
void health_source_set(struct health *h, enum health_source src, enum health_state state,
                       const struct health_reason *reasons, unsigned n);

/* Feeds one probe result; turns it into the probe source's state (fail_after, slow_rtt). */
void health_probe_result(struct health *h, bool ok, uint64_t rtt_usec, const char *reason);

/* Recomputes the published state. SAMPLE says this evaluation is a new measurement (a probe
 * result or a poll) that counts towards recovery; events that merely re-evaluate pass false.
 * Returns true when the published state or its reasons changed. */
bool health_evaluate(struct health *h, bool sample, uint64_t now_realtime_usec);
