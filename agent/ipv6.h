/* Keeps disable_ipv6 as agent.conf says, on `all`, `default` and every interface, also for
 * interfaces that appear later and against anyone who changes it back. */
#pragma once

#include <stdbool.h>

#include "config.h"

#define IPV6_CHANGED_LIST 512

struct ipv6_result {
        bool available;   /* /proc/sys/net/ipv6 exists (IPv6 may be a module) */
        unsigned checked; /* entries looked at: all, default, interfaces */
        unsigned changed; /* entries that had to be rewritten */
        unsigned failed;  /* entries that could not be written */
        char changed_names[IPV6_CHANGED_LIST]; /* "all eth0 …" */
        char error[256];                       /* first write error, if any */
};

/* Reads every disable_ipv6 entry and rewrites those that differ from MODE. KEEP does nothing. */
int ipv6_enforce(const char *root, enum ipv6_mode mode, struct ipv6_result *res);

/* Writes (or, for KEEP, removes) /etc/sysctl.d/90-netroot-ipv6.conf so early boot matches.
 * The file is rewritten only when its content would change. Returns 1 when it changed. */
int ipv6_write_sysctl_conf(const char *root, enum ipv6_mode mode, const char *config_path);
