/* The health of the network link that carries the iSCSI session: which interface routes to the
 * portal, and whether it is up, has carrier and an IPv4 address. Read from the netlink caches
 * (memory), so it is instant and never touches a disk. */
#pragma once

#include <net/if.h>
#include <stdbool.h>

#include "health.h"

struct netlink_watch;

struct link_tracker {
        char portal_ip[64]; /* IPv4 literal; empty: nothing to track */
        int ifindex;        /* last interface that routed to the portal (sticky: a downed
                               interface loses its routes, but it is still the one to blame) */
};

struct link_status {
        bool known;
        int ifindex;
        char ifname[IF_NAMESIZE];
        bool admin_up;
        bool carrier;
        bool oper_up;
        bool has_ipv4;
        char ipv4[64];
};

/* Sets the portal to follow; returns -EINVAL when PORTAL_IP is not an IPv4 literal. */
int link_tracker_set_portal(struct link_tracker *t, const char *portal_ip);

/* Updates the tracked interface from the route cache, then reads its state. */
void link_tracker_read(struct link_tracker *t, const struct netlink_watch *w,
                       struct link_status *out);

/* Turns a status into a health verdict with plain-words reasons ("eth0: no carrier").
 * Returns the number of reasons written (at most MAX). */
unsigned link_status_verdict(const struct link_status *s, const struct link_tracker *t,
                             enum health_state *state, struct health_reason *reasons, unsigned max);
