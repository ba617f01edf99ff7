#include "netlink_watch.h"
#include "util.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

struct netlink_watch {
        struct nl_cache_mngr *mngr;
        struct nl_cache *links;
        struct nl_cache *addrs;
        struct nl_cache *routes;
        struct nl_sock *query; /* for fresh link state requests */
        sd_event_source *io;
        netlink_change_fn on_change;
        void *userdata;
};

static void on_link_change(struct nl_cache *cache _unused_, struct nl_object *obj, int action,
                           void *data)
{
        struct netlink_watch *w = data;

        w->on_change(w->userdata, NETLINK_KIND_LINK, action, obj);
}

static void on_addr_change(struct nl_cache *cache _unused_, struct nl_object *obj, int action,
                           void *data)
{
        struct netlink_watch *w = data;

        w->on_change(w->userdata, NETLINK_KIND_ADDR, action, obj);
}

static void on_route_change(struct nl_cache *cache _unused_, struct nl_object *obj, int action,
                            void *data)
{
        struct netlink_watch *w = data;

        w->on_change(w->userdata, NETLINK_KIND_ROUTE, action, obj);
}

static int on_readable(sd_event_source *s _unused_, int fd _unused_, uint32_t revents _unused_,
                       void *data)
{
        struct netlink_watch *w = data;

        /* Errors here (e.g. ENOBUFS after a burst) are survivable: libnl resyncs the cache. */
        nl_cache_mngr_data_ready(w->mngr);
        return 0;
}

static int nl_error_to_errno(int err)
{
        switch (-err) {
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_PERM:
                return -EPERM;
        case NLE_PROTO_MISMATCH:
        case NLE_OPNOTSUPP:
                return -EOPNOTSUPP;
        default:
                return -EIO;
        }
}

static int open_query_socket(struct netlink_watch *w)
{
        struct timeval timeout = {.tv_sec = 1};
        int r;

        w->query = nl_socket_alloc();
        if (!w->query)
                return -NLE_NOMEM;
        r = nl_connect(w->query, NETLINK_ROUTE);
        if (r < 0)
                return r;
        /* The kernel answers at once; the timeout only guards against the unthinkable. */
        (void)setsockopt(nl_socket_get_fd(w->query), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                         sizeof(timeout));
        return 0;
}

int netlink_watch_get_link(const struct netlink_watch *w, int ifindex, struct rtnl_link **out)
{
        int r = rtnl_link_get_kernel(w->query, ifindex, NULL, out);

        return r < 0 ? (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV ? -ENODEV : -EIO) : 0;
}

int netlink_watch_new(sd_event *event, netlink_change_fn on_change, void *userdata,
                      struct netlink_watch **out)
{
        struct netlink_watch *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        w->on_change = on_change;
        w->userdata = userdata;
        r = nl_cache_mngr_alloc(NULL, NETLINK_ROUTE, NL_AUTO_PROVIDE, &w->mngr);
        if (r >= 0)
                r = nl_cache_mngr_add(w->mngr, "route/link", on_link_change, w, &w->links);
        if (r >= 0)
                r = nl_cache_mngr_add(w->mngr, "route/addr", on_addr_change, w, &w->addrs);
        if (r >= 0)
                r = nl_cache_mngr_add(w->mngr, "route/route", on_route_change, w, &w->routes);
        if (r >= 0)
                r = open_query_socket(w);
        if (r < 0) {
                r = nl_error_to_errno(r);
                netlink_watch_free(w);
                return r;
        }
        r = sd_event_add_io(event, &w->io, nl_cache_mngr_get_fd(w->mngr), EPOLLIN, on_readable, w);
        if (r < 0) {
                netlink_watch_free(w);
                return r;
        }
        (void)sd_event_source_set_description(w->io, "netlink-route");
        *out = w;
        return 0;
}

struct netlink_watch *netlink_watch_free(struct netlink_watch *w)
{
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->io);
        if (w->mngr)
                nl_cache_mngr_free(w->mngr); /* frees the caches it owns */
        if (w->query)
                nl_socket_free(w->query);
        free(w);
        return NULL;
}

struct nl_cache *netlink_watch_links(const struct netlink_watch *w)
{
        return w->links;
}

struct nl_cache *netlink_watch_addrs(const struct netlink_watch *w)
{
        return w->addrs;
}

struct nl_cache *netlink_watch_routes(const struct netlink_watch *w)
{
        return w->routes;
}
