/* The overall health of the iSCSI root as the daemon reports it. */
#pragma once

enum health_state { HEALTH_UNKNOWN, HEALTH_OK, HEALTH_DEGRADED, HEALTH_FAILED };

#define HEALTH_REASONS_MAX 8
#define HEALTH_REASON_LEN  192

static inline const char *health_state_to_string(enum health_state s)
{
        static const char *const names[] = {"UNKNOWN", "OK", "DEGRADED", "FAILED"};
        return names[s];
}
