/* Out-of-band health probe of the iSCSI portal the root lives on: a short-lived libiscsi session
 * of its own (never the root session's ISID), driven from an sd-event loop without ever blocking.
 *
 * Modes: discovery = SendTargets on a discovery session, the root target must be listed;
 * login = normal login to the root target with a random ISID, TEST UNIT READY, logout.
 * Every attempt uses a fresh libiscsi context that is destroyed afterwards, so a failed attempt
 * leaves nothing behind (libiscsi's own reconnect logic is never used). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"

#define PROBE_DEFAULT_PORT   3260
#define PROBE_REASON_MAX     192
#define PROBE_INITIATOR_BASE "iqn.2016-11.org.netroot:probe-"
/* [iscsi] initiator = auto: the root session's initiator name with this added, a name an
 * initiator ACL on the NAS can admit next to the root's own. */
#define PROBE_INITIATOR_SUFFIX ":netroot-probe"
#define PROBE_ISCSI_NAME_MAX   223
#define PROBE_LUN_AUTO         (-1)

struct probe;

struct probe_params {
        const char *host;      /* numeric IPv4 or IPv6 address (no DNS: it would block) */
        uint16_t port;         /* 0 = 3260 */
        const char *target;    /* the root target's IQN */
        const char *initiator; /* NULL or "": PROBE_INITIATOR_BASE<hostname> */
        const char *username;  /* NULL or "": no CHAP */
        const char *password;
        enum probe_mode mode;
        uint64_t timeout_usec; /* whole attempt; 0 = 3 s */
        int lun;               /* login mode: LUN for TEST UNIT READY, PROBE_LUN_AUTO = the
                                * lowest non-zero LUN REPORT LUNS lists (tgt's LUN 0 is its
                                * controller), else 0; once one answered, the same LUN, and
                                * a failure when REPORT LUNS no longer lists it */
};

struct probe_result {
        bool ok;
        /* ok: connect + login + command; failed: time until the failure was known */
        uint64_t rtt_usec;
        char reason[PROBE_REASON_MAX]; /* plain words, empty when ok; never holds the password */
};

/* Called from the event loop (never from inside probe_start). The callback may start the next
 * attempt or free the probe. */
typedef void (*probe_result_fn)(struct probe *p, const struct probe_result *r, void *userdata);

/* Copies PARAMS. -EINVAL for a host that is not a numeric address, an empty target, mode off or
 * strings longer than iSCSI allows. */
int probe_new(sd_event *e, const struct probe_params *params, probe_result_fn cb, void *userdata,
              struct probe **out);

/* Starts one attempt; the result arrives through the callback. -EBUSY while one is running. */
int probe_start(struct probe *p);

/* Stops a running attempt without calling the callback. */
void probe_cancel(struct probe *p);

bool probe_running(const struct probe *p);

/* Cancels silently and frees; NULL is fine. The password copy is wiped. */
void probe_free(struct probe *p);

/* Splits "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" (port defaults to 3260). HOST is not resolved.
 */
int probe_parse_portal(const char *s, char *host, size_t hostsz, uint16_t *port);

/* PROBE_INITIATOR_BASE followed by the host name. */
void probe_default_initiator(char *buf, size_t size);

/* "10.0.0.1:3260" or "[fd00::1]:3260". */
void probe_format_portal(const char *host, uint16_t port, char *buf, size_t size);
