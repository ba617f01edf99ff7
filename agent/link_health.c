#include "link_health.h"
#include "netlink_watch.h"
#include "util.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

int link_tracker_set_portal(struct link_tracker *t, const char *portal_ip)
{
        struct in_addr a;

        if (inet_pton(AF_INET, portal_ip, &a) != 1)
                return -EINVAL;
        if (!streq(t->portal_ip, portal_ip))
                t->ifindex = 0;
        snprintf(t->portal_ip, sizeof(t->portal_ip), "%s", portal_ip);
        return 0;
}

struct route_match {
        uint32_t portal; /* network byte order */
        int best_len;
        int ifindex;
};

static void match_route(struct nl_object *obj, void *data)
{
        struct rtnl_route *route = (struct rtnl_route *)obj;
        struct route_match *m = data;
        struct nl_addr *dst = rtnl_route_get_dst(route);
        struct rtnl_nexthop *nh;
        uint32_t net, mask;
        int len;

        /* The local table matters when the portal is this host's own address (tests, a Pi
         * serving itself); policy routing beyond main and local is not followed. */
        if (rtnl_route_get_family(route) != AF_INET || !dst || rtnl_route_get_nnexthops(route) < 1)
                return;
        if (!(rtnl_route_get_table(route) == RT_TABLE_MAIN &&
              rtnl_route_get_type(route) == RTN_UNICAST) &&
            !(rtnl_route_get_table(route) == RT_TABLE_LOCAL &&
              rtnl_route_get_type(route) == RTN_LOCAL))
                return;
        len = (int)nl_addr_get_prefixlen(dst);
        if (len <= m->best_len)
                return;
        /* A default route's destination holds no address bytes at all (length 0). */
        net = 0;
        if (nl_addr_get_len(dst) >= sizeof(net))
                memcpy(&net, nl_addr_get_binary_addr(dst), sizeof(net));
        mask = len == 0 ? 0 : htonl(~0U << (32 - len));
        if ((net & mask) != (m->portal & mask))
                return;
        nh = rtnl_route_nexthop_n(route, 0);
        if (!nh || rtnl_route_nh_get_ifindex(nh) <= 0)
                return;
        m->best_len = len;
        m->ifindex = rtnl_route_nh_get_ifindex(nh);
}

static void find_ipv4(struct nl_object *obj, void *data)
{
        struct rtnl_addr *addr = (struct rtnl_addr *)obj;
        struct link_status *s = data;
        struct nl_addr *local = rtnl_addr_get_local(addr);

        if (s->has_ipv4 || rtnl_addr_get_family(addr) != AF_INET ||
            rtnl_addr_get_ifindex(addr) != s->ifindex || !local)
                return;
        inet_ntop(AF_INET, nl_addr_get_binary_addr(local), s->ipv4, sizeof(s->ipv4));
        s->has_ipv4 = true;
}

void link_tracker_read(struct link_tracker *t, const struct netlink_watch *w,
                       struct link_status *out)
{
        struct route_match m = {.best_len = -1};
        struct rtnl_link *link;

        memset(out, 0, sizeof(*out));
        if (!w || !t->portal_ip[0] || inet_pton(AF_INET, t->portal_ip, &m.portal) != 1)
                return;
        nl_cache_foreach(netlink_watch_routes(w), match_route, &m);
        if (m.ifindex > 0)
                t->ifindex = m.ifindex;
        out->ifindex = t->ifindex;
        if (t->ifindex <= 0)
                return;
        out->known = true;
        if (netlink_watch_get_link(w, t->ifindex, &link) < 0) {
                snprintf(out->ifname, sizeof(out->ifname), "if%d", t->ifindex);
                return; /* the interface is gone: all flags stay false */
        }
        snprintf(out->ifname, sizeof(out->ifname), "%s", rtnl_link_get_name(link));
        out->admin_up = rtnl_link_get_flags(link) & IFF_UP;
        out->carrier = rtnl_link_get_carrier(link) && (rtnl_link_get_flags(link) & IFF_LOWER_UP);
        out->oper_up = rtnl_link_get_operstate(link) == IF_OPER_UP ||
                       rtnl_link_get_operstate(link) == IF_OPER_UNKNOWN;
        rtnl_link_put(link);
        nl_cache_foreach(netlink_watch_addrs(w), find_ipv4, out);
}

unsigned link_status_verdict(const struct link_status *s, const struct link_tracker *t,
                             enum health_state *state, struct health_reason *reasons, unsigned max)
{
        const char *why = NULL, *code = NULL;

        *state = HEALTH_OK;
        if (!t->portal_ip[0])
                return 0;
        if (!s->known)
                why = "no route to the portal", code = "link-no-route";
        else if (!s->admin_up)
                why = "down", code = "link-down";
        else if (!s->carrier)
                why = "no carrier", code = "link-no-carrier";
        else if (!s->oper_up)
                why = "not operational", code = "link-not-operational";
        else if (!s->has_ipv4)
                why = "no IPv4 address", code = "link-no-ipv4";
        if (!why || max == 0)
                return 0;
        *state = HEALTH_FAILED;
        if (!s->known)
                health_reason_set(&reasons[0], code, "portal %s: %s", t->portal_ip, why);
        else
                health_reason_set(&reasons[0], code, "%s: %s", s->ifname, why);
        return 1;
}
