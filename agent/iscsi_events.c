#include "iscsi_events.h"
#include "util.h"

#include <linux/netlink.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* The kernel-to-user layout of struct iscsi_uevent (open-iscsi include/iscsi_if.h, the kernel's
 * include/scsi/iscsi_if.h), reduced to what decides the offsets: a 16-byte head, then the
 * user-to-kernel union "u" whose largest members are a 5-word struct and a struct with a
 * uint64_t in the middle, then the kernel-to-user union "r" that events fill. Declaring the
 * same member types lets the compiler place "r" as the kernel does on each architecture. */
struct uevent_abi {
        uint32_t type;
        uint32_t iferror;
        uint64_t transport_handle;
        union {
                struct {
                        uint32_t sid, cid;
                        uint64_t handle;
                        uint32_t flag;
                } with_u64;             /* msg_bind_conn, msg_stop_conn */
                uint32_t five_words[5]; /* msg_iscsi_ping */
        } u;
        union {
                struct {
                        uint32_t sid, cid;
                        uint64_t recv_handle;
                } recv_req;
                uint32_t four_words[4]; /* msg_ping_comp */
        } r;
} __attribute__((aligned(sizeof(uint64_t))));

#if defined(__x86_64__) || defined(__aarch64__) || defined(__arm__)
/* Where uint64_t is 8-aligned: u is 24 bytes, r starts at 40, the whole is 56. */
_Static_assert(offsetof(struct uevent_abi, r) == 40, "iscsi_uevent r offset");
_Static_assert(sizeof(struct uevent_abi) == 56, "iscsi_uevent size");
#endif

#define R_OFFSET  offsetof(struct uevent_abi, r)
#define R_NEEDED  (R_OFFSET + 3 * sizeof(uint32_t)) /* the most any decoded event reads */
#define RECV_SIZE 16384 /* RECV_PDU events carry a PDU; ours are 72 bytes */

struct iscsi_events {
        int fd;
        sd_event_source *source;
        iscsi_event_handler_t handler;
        void *userdata;
        uint8_t buf[RECV_SIZE];
};

static uint32_t word_at(const uint8_t *payload, size_t index)
{
        uint32_t w;

        memcpy(&w, payload + R_OFFSET + index * sizeof(uint32_t), sizeof(w));
        return w;
}

/* Decodes one message's payload (a struct iscsi_uevent). False for types not reported. */
static bool decode_uevent(const uint8_t *payload, struct iscsi_event *ev)
{
        uint32_t type;

        memcpy(&type, payload, sizeof(type));
        memset(ev, 0, sizeof(*ev));
        ev->type = type;
        switch (type) {
        case ISCSI_EVENT_CONN_ERROR:       /* msg_conn_error: sid, cid, error */
        case ISCSI_EVENT_CONN_LOGIN_STATE: /* msg_conn_login: sid, cid, state */
                ev->sid = word_at(payload, 0);
                ev->cid = word_at(payload, 1);
                ev->code = word_at(payload, 2);
                return true;
        case ISCSI_EVENT_DESTROY_SESSION: /* msg_session_destroyed: host_no, sid */
                ev->host = word_at(payload, 0);
                ev->sid = word_at(payload, 1);
                return true;
        case ISCSI_EVENT_CREATE_SESSION: /* msg_create_session_ret: sid, host_no */
        case ISCSI_EVENT_UNBIND_SESSION: /* msg_unbind_session: sid, host_no */
                ev->sid = word_at(payload, 0);
                ev->host = word_at(payload, 1);
                return true;
        default:
                return false;
        }
}

size_t iscsi_events_parse(const void *buf, size_t len, struct iscsi_event *out, size_t max)
{
        const uint8_t *p = buf;
        size_t n = 0;

        while (n < max && len >= sizeof(struct nlmsghdr)) {
                struct nlmsghdr h;
                size_t step;

                memcpy(&h, p, sizeof(h));
                if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
                        break; /* malformed or truncated: nothing after it can be trusted */
                if (h.nlmsg_len >= NLMSG_HDRLEN + R_NEEDED &&
                    decode_uevent(p + NLMSG_HDRLEN, &out[n]))
                        n++;
                step = NLMSG_ALIGN(h.nlmsg_len);
                if (step >= len)
                        break;
                p += step;
                len -= step;
        }
        return n;
}

const char *iscsi_event_type_to_string(uint32_t type)
{
        switch (type) {
        case ISCSI_EVENT_CONN_ERROR:
                return "connection error";
        case ISCSI_EVENT_DESTROY_SESSION:
                return "session destroyed";
        case ISCSI_EVENT_UNBIND_SESSION:
                return "session unbound";
        case ISCSI_EVENT_CREATE_SESSION:
                return "session created";
        case ISCSI_EVENT_CONN_LOGIN_STATE:
                return "connection login state";
        case ISCSI_EVENT_OVERRUN:
                return "events lost";
        }
        return "unknown event";
}

const char *iscsi_conn_error_to_string(uint32_t code, char *buf, size_t size)
{
        /* The enum iscsi_err values a dropped root session shows in practice. */
        switch (code) {
        case 1011:
                return "connection failed";
        case 1013:
                return "session failed";
        case 1019:
                return "transmit failed";
        case 1020:
                return "TCP connection closed";
        case 1021:
                return "SCSI error handler reset the session";
        case 1022:
                return "NOP-Out timed out";
        }
        snprintf(buf, size, "iSCSI error %u", code);
        return buf;
}

static void deliver(struct iscsi_events *ev, const struct iscsi_event *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                ev->handler(&list[i], ev->userdata);
}

static int on_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct iscsi_events *ev = userdata;

        (void)s;
        (void)revents;
        for (;;) {
                struct sockaddr_nl from;
                struct iovec iov = {.iov_base = ev->buf, .iov_len = sizeof(ev->buf)};
                struct msghdr msg = {.msg_name = &from,
                                     .msg_namelen = sizeof(from),
                                     .msg_iov = &iov,
                                     .msg_iovlen = 1};
                struct iscsi_event list[8];
                ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOBUFS) {
                                struct iscsi_event lost = {.type = ISCSI_EVENT_OVERRUN};

                                deliver(ev, &lost, 1);
                                continue;
                        }
                        return 0; /* EAGAIN: drained; anything else: try on the next wakeup */
                }
                /* Only the kernel (port 0) speaks for the iSCSI transport. */
                if (msg.msg_namelen != sizeof(from) || from.nl_pid != 0 ||
                    (msg.msg_flags & MSG_TRUNC))
                        continue;
                deliver(ev, list, iscsi_events_parse(ev->buf, (size_t)n, list, ARRAY_SIZE(list)));
        }
}

int iscsi_events_open(sd_event *event, iscsi_event_handler_t handler, void *userdata,
                      struct iscsi_events **out)
{
        struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = ISCSI_NETLINK_GROUP};
        struct iscsi_events *ev;
        int r;

        if (!event || !handler || !out)
                return -EINVAL;
        ev = calloc(1, sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        ev->handler = handler;
        ev->userdata = userdata;
        ev->fd =
            socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, ISCSI_NETLINK_PROTOCOL);
        if (ev->fd < 0) {
                r = -errno;
                free(ev);
                return r;
        }
        if (bind(ev->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                r = -errno;
        else
                r = sd_event_add_io(event, &ev->source, ev->fd, EPOLLIN, on_readable, ev);
        if (r < 0) {
                iscsi_events_free(ev);
                return r;
        }
        *out = ev;
        return 0;
}

void iscsi_events_free(struct iscsi_events *ev)
{
        if (!ev)
                return;
        sd_event_source_disable_unref(ev->source);
        if (ev->fd >= 0)
                close(ev->fd);
        free(ev);
}
