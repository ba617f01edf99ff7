/* Link and address events from the kernel (libnl route/link and route/addr caches) on the
 * daemon's sd-event loop: new interfaces for the IPv6 policy, carrier and address changes for
 * the health of the link that carries the iSCSI session. */
#pragma once

#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

struct netlink_watch;

enum netlink_kind { NETLINK_KIND_LINK, NETLINK_KIND_ADDR, NETLINK_KIND_ROUTE };

/* ACTION is NL_ACT_NEW, NL_ACT_DEL or NL_ACT_CHANGE; OBJ is a struct rtnl_link, rtnl_addr or
 * rtnl_route according to KIND. */
typedef void (*netlink_change_fn)(void *userdata, enum netlink_kind kind, int action,
                                  struct nl_object *obj);

int netlink_watch_new(sd_event *event, netlink_change_fn on_change, void *userdata,
                      struct netlink_watch **out);
struct netlink_watch *netlink_watch_free(struct netlink_watch *w);

/* The live caches, for lookups (e.g. a link's carrier by name). */
struct nl_cache *netlink_watch_links(const struct netlink_watch *w);
struct nl_cache *netlink_watch_addrs(const struct netlink_watch *w);
struct nl_cache *netlink_watch_routes(const struct netlink_watch *w);

/* Asks the kernel for one link's current state. The link cache can hold stale duplicates of a
 * link after rapid carrier changes (seen with veth in namespaces), so state that decides health
 * is read fresh; the request is answered from kernel memory, never from a disk. Caller puts
 * *OUT with rtnl_link_put(). */
int netlink_watch_get_link(const struct netlink_watch *w, int ifindex, struct rtnl_link **out);
