/* Asynchronous iSCSI portal probe on sd-event (see probe.h). libiscsi is used only through its
 * event-loop interface: iscsi_get_fd / iscsi_which_events / iscsi_service. Its synchronous calls
 * and its automatic reconnect are unusable here (they block for a whole outage and can spin). */
#include "probe.h"
#include "numeric_gai.h"
#include "util.h"

#include <arpa/inet.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL
/* libiscsi processes its own timeouts only inside iscsi_service(). */
#define SERVICE_TICK_USEC USEC_PER_SEC
/* iscsi_which_events() == 0 means "ask again later"; libiscsi suggests >= 100 ms. */
#define RETRY_EVENTS_USEC (100 * USEC_PER_MSEC)
/* libiscsi error strings can be stale or keep growing: only a bounded prefix is quoted. */
#define LIBERR_MAX     80
#define ISCSI_NAME_MAX 223
/* A UNIT ATTENTION (new I_T nexus, LUN resized, ...) is normal on a fresh session: retry. */
#define TUR_TRIES         3
#define REPORT_LUNS_ALLOC 520

enum stage {
        STAGE_IDLE,
        STAGE_CONNECT,
        STAGE_LOGIN,
        STAGE_DISCOVERY,
        STAGE_REPORT_LUNS,
        STAGE_TUR,
        STAGE_LOGOUT,
        STAGE_DONE,
};

struct probe {
        sd_event *event;
        probe_result_fn cb;
        void *userdata;

        char host[INET6_ADDRSTRLEN];
        uint16_t port;
        char portal[INET6_ADDRSTRLEN + 8]; /* "a.b.c.d:p" or "[v6]:p": libiscsi and reasons */
        char target[ISCSI_NAME_MAX + 1];
        char initiator[ISCSI_NAME_MAX + 1];
        char username[CONFIG_VALUE_MAX];
        char password[CONFIG_VALUE_MAX];
        enum probe_mode mode;
        uint64_t timeout_usec;
        int lun;
        /* LUN_AUTO: the LUN that last answered TEST UNIT READY, -1 before. Kept across attempts:
         * the root disk is that LUN, and a target that stops listing it has lost the root even
         * though the next-lowest LUN (tgt's controller, LUN 0) still answers. */
        int answered_lun;

        /* per attempt */
        struct iscsi_context *iscsi;
        struct scsi_task *task;
        sd_event_source *io;
        int io_fd;
        sd_event_source *tick;
        sd_event_source *deadline;
        sd_event_source *done; /* delivers the result outside libiscsi's call stack */
        enum stage stage;
        bool running;
        uint64_t start_usec;
        int tur_lun;
        unsigned tur_tries;
        struct probe_result result;
};

static uint64_t now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static const char *stage_noun(enum stage s)
{
        switch (s) {
        case STAGE_CONNECT:
                return "connection";
        case STAGE_LOGIN:
                return "login";
        case STAGE_DISCOVERY:
                return "SendTargets discovery";
        case STAGE_REPORT_LUNS:
                return "REPORT LUNS";
        case STAGE_TUR:
                return "TEST UNIT READY";
        case STAGE_LOGOUT:
                return "logout";
        default:
                return "probe";
        }
}

/* Removes every occurrence of the password from S: libiscsi never quotes it, but a reason must
 * stay safe to log even if a future version did. */
static void scrub_secret(char *s, const char *secret)
{
        size_t n = strlen(secret);
        char *hit;

        if (n == 0)
                return;
        while ((hit = strstr(s, secret))) {
                memmove(hit + 3, hit + n, strlen(hit + n) + 1);
                memcpy(hit, "***", 3);
        }
}

/* A bounded, single-line copy of libiscsi's last error. */
static void copy_liberr(struct probe *p, char *buf, size_t size)
{
        const char *e = p->iscsi ? iscsi_get_error(p->iscsi) : NULL;
        size_t n = size < LIBERR_MAX + 1 ? size : LIBERR_MAX + 1;
        size_t i;

        snprintf(buf, n, "%s", str_empty(e) ? "unknown error" : e);
        for (i = 0; buf[i]; i++)
                if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
                        buf[i] = ' ';
        str_strip_trailing(buf);
}

static void teardown(struct probe *p)
{
        struct iscsi_context *ctx = TAKE_PTR(p->iscsi);

        /* The io source goes before the context closes the fd it watches. */
        p->io = sd_event_source_disable_unref(p->io);
        p->io_fd = -1;
        p->tick = sd_event_source_disable_unref(p->tick);
        p->deadline = sd_event_source_disable_unref(p->deadline);
        /* p->iscsi is NULL now: callbacks libiscsi makes while cancelling see a stale context. */
        if (ctx)
                iscsi_destroy_context(ctx);
        /* Tasks belong to the caller even when libiscsi cancelled their PDUs. */
        if (p->task) {
                scsi_free_scsi_task(p->task);
                p->task = NULL;
        }
}

static void finish(struct probe *p)
{
        if (p->stage == STAGE_DONE)
                return;
        p->stage = STAGE_DONE;
        if (p->io)
                sd_event_source_set_enabled(p->io, SD_EVENT_OFF);
        sd_event_source_set_enabled(p->done, SD_EVENT_ONESHOT);
}

_printf_(2, 3) static void fail(struct probe *p, const char *fmt, ...)
{
        va_list ap;

        if (p->stage == STAGE_DONE)
                return;
        if (p->stage == STAGE_LOGOUT) {
                finish(p); /* the verdict is in; a broken logout changes nothing */
                return;
        }
        p->result.ok = false;
        p->result.rtt_usec = now_usec() - p->start_usec;
        va_start(ap, fmt);
        vsnprintf(p->result.reason, sizeof(p->result.reason), fmt, ap);
        va_end(ap);
        scrub_secret(p->result.reason, p->password);
        finish(p);
}

static void fail_timeout(struct probe *p, double secs)
{
        fail(p, "portal %s: %s timed out after %.1f s", p->portal, stage_noun(p->stage), secs);
}

static void fail_errno(struct probe *p, int err)
{
        double secs = (double)(now_usec() - p->start_usec) / USEC_PER_SEC;

        switch (err) {
        case ECONNREFUSED:
                fail(p, "portal %s: connection refused", p->portal);
                break;
        case ECONNRESET:
        case EPIPE:
                fail(p, "portal %s: connection reset", p->portal);
                break;
        case ETIMEDOUT:
                /* TCP_USER_TIMEOUT or SYN retries ran out before our own deadline */
                fail_timeout(p, secs);
                break;
        case ENETUNREACH:
                fail(p, "portal %s: network unreachable", p->portal);
                break;
        case EHOSTUNREACH:
                fail(p, "portal %s: host unreachable", p->portal);
                break;
        case ENETDOWN:
                fail(p, "portal %s: network down", p->portal);
                break;
        default:
                fail(p, "portal %s: %s failed: %s", p->portal, stage_noun(p->stage), strerror(err));
        }
}

static int socket_error(int fd)
{
        int err = 0;
        socklen_t len = sizeof(err);

        if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return 0;
        return err;
}

/* iscsi_service() failed. libiscsi's message may be stale (a peer's FIN sets none), so the socket
 * itself is asked first. */
static void fail_service(struct probe *p)
{
        char liberr[LIBERR_MAX + 1];
        int fd = p->iscsi ? iscsi_get_fd(p->iscsi) : -1;
        int err = socket_error(fd);

        if (err != 0) {
                fail_errno(p, err);
                return;
        }
        if (fd >= 0) {
                char c;
                ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

                if (n == 0) {
                        fail(p, "portal %s: connection closed by portal during %s", p->portal,
                             stage_noun(p->stage));
                        return;
                }
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                        fail_errno(p, errno);
                        return;
                }
        }
        copy_liberr(p, liberr, sizeof(liberr));
        fail(p, "portal %s: %s failed: %s", p->portal, stage_noun(p->stage), liberr);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Watches the fd libiscsi uses now, for the events it wants now. Both can change after any
 * iscsi_service() call. */
static void update_io(struct probe *p)
{
        int fd, events, r;

        if (p->stage == STAGE_DONE || !p->iscsi)
                return;
        fd = iscsi_get_fd(p->iscsi);
        events = iscsi_which_events(p->iscsi);
        if (fd < 0 || events == 0) {
                if (p->io)
                        sd_event_source_set_enabled(p->io, SD_EVENT_OFF);
                r = sd_event_source_set_time_relative(p->tick, RETRY_EVENTS_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(p->tick, SD_EVENT_ONESHOT);
                if (r < 0)
                        fail(p, "probe: cannot arm timer: %s", strerror(-r));
                return;
        }
        if (p->io && fd != p->io_fd) {
                p->io = sd_event_source_disable_unref(p->io);
                p->io_fd = -1;
        }
        if (!p->io) {
                r = sd_event_add_io(p->event, &p->io, fd, (uint32_t)events, on_io, p);
                if (r < 0) {
                        fail(p, "probe: cannot watch socket: %s", strerror(-r));
                        return;
                }
                p->io_fd = fd;
                return;
        }
        r = sd_event_source_set_io_events(p->io, (uint32_t)events);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->io, SD_EVENT_ON);
        if (r < 0)
                fail(p, "probe: cannot watch socket: %s", strerror(-r));
}

static void start_logout(struct probe *p);
static void start_tur(struct probe *p);

static void succeed(struct probe *p)
{
        p->result.ok = true;
        p->result.rtt_usec = now_usec() - p->start_usec;
        p->result.reason[0] = '\0';
        start_logout(p);
}

static bool stale(struct probe *p, struct iscsi_context *ctx)
{
        return p->stage == STAGE_DONE || !p->iscsi || ctx != p->iscsi;
}

static void logout_cb(struct iscsi_context *ctx, int status _unused_, void *data _unused_,
                      void *userdata)
{
        struct probe *p = userdata;

        if (stale(p, ctx))
                return;
        /* The verdict is already in; a failed logout changes nothing. */
        finish(p);
}

static void start_logout(struct probe *p)
{
        p->stage = STAGE_LOGOUT;
        if (iscsi_logout_async(p->iscsi, logout_cb, p) < 0)
                finish(p);
}

static void free_task(struct probe *p)
{
        if (p->task) {
                scsi_free_scsi_task(p->task);
                p->task = NULL;
        }
}

static void tur_cb(struct iscsi_context *ctx, int status, void *data _unused_, void *userdata)
{
        struct probe *p = userdata;
        struct scsi_task *task;
        char liberr[LIBERR_MAX + 1];

        if (stale(p, ctx))
                return;
        task = p->task;
        if (status == SCSI_STATUS_GOOD) {
                free_task(p);
                if (p->lun == PROBE_LUN_AUTO)
                        p->answered_lun = p->tur_lun;
                succeed(p);
                return;
        }
        if (status == SCSI_STATUS_CHECK_CONDITION && task) {
                int key = task->sense.key, ascq = task->sense.ascq;

                free_task(p);
                if (key == SCSI_SENSE_UNIT_ATTENTION && p->tur_tries < TUR_TRIES) {
                        start_tur(p);
                        return;
                }
                fail(p, "target %s on portal %s: LUN %d not ready: %s (%s)", p->target, p->portal,
                     p->tur_lun, scsi_sense_key_str(key), scsi_sense_ascq_str(ascq));
                return;
        }
        free_task(p);
        if (status == SCSI_STATUS_TIMEOUT) {
                fail_timeout(p, (double)(now_usec() - p->start_usec) / USEC_PER_SEC);
                return;
        }
        copy_liberr(p, liberr, sizeof(liberr));
        fail(p, "target %s on portal %s: TEST UNIT READY on LUN %d failed: %s", p->target,
             p->portal, p->tur_lun, liberr);
}

static void start_tur(struct probe *p)
{
        p->stage = STAGE_TUR;
        p->tur_tries++;
        p->task = iscsi_testunitready_task(p->iscsi, p->tur_lun, tur_cb, p);
        if (!p->task)
                fail_service(p);
}

static void reportluns_cb(struct iscsi_context *ctx, int status, void *data _unused_,
                          void *userdata)
{
        struct probe *p = userdata;
        struct scsi_reportluns_list *list;
        char liberr[LIBERR_MAX + 1];
        int best = -1;
        bool kept = false;

        if (stale(p, ctx))
                return;
        if (status != SCSI_STATUS_GOOD || !p->task) {
                free_task(p);
                if (status == SCSI_STATUS_TIMEOUT) {
                        fail_timeout(p, (double)(now_usec() - p->start_usec) / USEC_PER_SEC);
                        return;
                }
                copy_liberr(p, liberr, sizeof(liberr));
                fail(p, "target %s on portal %s: REPORT LUNS failed: %s", p->target, p->portal,
                     liberr);
                return;
        }
        list = scsi_datain_unmarshall(p->task);
        if (list)
                for (uint32_t i = 0; i < list->num; i++) {
                        if (p->answered_lun > 0 && list->luns[i] == p->answered_lun)
                                kept = true;
                        if (list->luns[i] != 0 && (best < 0 || list->luns[i] < best))
                                best = list->luns[i];
                }
        free_task(p);
        if (p->answered_lun > 0 && !kept) {
                fail(p, "target %s on portal %s: LUN %d no longer reported (REPORT LUNS)",
                     p->target, p->portal, p->answered_lun);
                return;
        }
        /* the LUN that answered before stays the one probed, even if a lower one appears */
        p->tur_lun = p->answered_lun > 0 ? p->answered_lun : best > 0 ? best : 0;
        start_tur(p);
}

static void discovery_cb(struct iscsi_context *ctx, int status, void *data, void *userdata)
{
        struct probe *p = userdata;
        char liberr[LIBERR_MAX + 1];

        if (stale(p, ctx))
                return;
        if (status != SCSI_STATUS_GOOD) {
                copy_liberr(p, liberr, sizeof(liberr));
                fail(p, "portal %s: SendTargets discovery failed: %s", p->portal, liberr);
                return;
        }
        for (const struct iscsi_discovery_address *a = data; a; a = a->next)
                if (a->target_name && streq(a->target_name, p->target)) {
                        succeed(p);
                        return;
                }
        /* A target whose ACL does not admit the initiator is left out of the answer. */
        fail(p, "target %s not offered by portal %s to initiator %s", p->target, p->portal,
             p->initiator);
}

static void login_cb(struct iscsi_context *ctx, int status, void *data _unused_, void *userdata)
{
        struct probe *p = userdata;
        char liberr[LIBERR_MAX + 1];

        if (stale(p, ctx))
                return;
        if (status != SCSI_STATUS_GOOD) {
                copy_liberr(p, liberr, sizeof(liberr));
                if (strstr(liberr, "Authentication failure")) {
                        if (p->username[0])
                                fail(p, "CHAP rejected by portal %s (user %s)", p->portal,
                                     p->username);
                        else
                                fail(p, "portal %s requires CHAP and no username is configured",
                                     p->portal);
                } else if (strstr(liberr, "Target not found") || strstr(liberr, "Target removed"))
                        /* tgt says "not found" to an initiator its ACL does not admit */
                        fail(p, "target %s not found on portal %s for initiator %s", p->target,
                             p->portal, p->initiator);
                else if (strstr(liberr, "Authorization failure"))
                        fail(p, "initiator %s not allowed to log in by portal %s", p->initiator,
                             p->portal);
                else
                        fail(p, "portal %s: login failed: %s", p->portal, liberr);
                return;
        }
        if (p->mode == PROBE_MODE_DISCOVERY) {
                p->stage = STAGE_DISCOVERY;
                if (iscsi_discovery_async(p->iscsi, discovery_cb, p) < 0)
                        fail_service(p);
                return;
        }
        if (p->lun != PROBE_LUN_AUTO) {
                p->tur_lun = p->lun;
                start_tur(p);
                return;
        }
        p->stage = STAGE_REPORT_LUNS;
        p->task = iscsi_reportluns_task(p->iscsi, 0, REPORT_LUNS_ALLOC, reportluns_cb, p);
        if (!p->task)
                fail_service(p);
}

static void connect_cb(struct iscsi_context *ctx, int status, void *data _unused_, void *userdata)
{
        struct probe *p = userdata;

        if (stale(p, ctx))
                return;
        if (status != SCSI_STATUS_GOOD) {
                /* also called when an established connection breaks later */
                fail_service(p);
                return;
        }
        if (p->stage != STAGE_CONNECT)
                return;
        p->stage = STAGE_LOGIN;
        if (iscsi_login_async(p->iscsi, login_cb, p) < 0)
                fail_service(p);
}

static int on_io(sd_event_source *s _unused_, int fd, uint32_t revents, void *userdata)
{
        struct probe *p = userdata;
        int r;

        if (p->stage == STAGE_DONE || !p->iscsi)
                return 0;
        /* Read what arrived before looking at HUP/ERR: a target that refuses a login sends its
         * reason and then closes, and libiscsi would report only the close. */
        if (revents & EPOLLIN) {
                r = iscsi_service(p->iscsi, POLLIN);
                if (p->stage == STAGE_DONE)
                        return 0;
                if (r < 0) {
                        fail_service(p);
                        return 0;
                }
                revents &= ~(uint32_t)EPOLLIN;
        }
        if (revents & (EPOLLERR | EPOLLHUP)) {
                int err = socket_error(fd);

                if (p->stage == STAGE_LOGOUT) {
                        finish(p); /* the target closes after the logout response */
                        return 0;
                }
                if (err != 0)
                        fail_errno(p, err);
                else
                        fail(p, "portal %s: connection closed by portal during %s", p->portal,
                             stage_noun(p->stage));
                return 0;
        }
        if (revents & EPOLLOUT) {
                r = iscsi_service(p->iscsi, POLLOUT);
                if (p->stage == STAGE_DONE)
                        return 0;
                if (r < 0) {
                        fail_service(p);
                        return 0;
                }
        }
        update_io(p);
        return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec _unused_, void *userdata)
{
        struct probe *p = userdata;
        int r;

        if (p->stage == STAGE_DONE || !p->iscsi)
                return 0;
        r = iscsi_service(p->iscsi, 0);
        if (p->stage == STAGE_DONE)
                return 0;
        if (r < 0) {
                fail_service(p);
                return 0;
        }
        r = sd_event_source_set_time_relative(s, SERVICE_TICK_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0) {
                fail(p, "probe: cannot arm timer: %s", strerror(-r));
                return 0;
        }
        update_io(p);
        return 0;
}

static int on_deadline(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        struct probe *p = userdata;

        if (p->stage == STAGE_LOGOUT) {
                finish(p); /* the verdict stands; the context is dropped unceremoniously */
                return 0;
        }
        fail_timeout(p, (double)p->timeout_usec / USEC_PER_SEC);
        return 0;
}

static int on_done(sd_event_source *s _unused_, void *userdata)
{
        struct probe *p = userdata;
        struct probe_result r = p->result;

        teardown(p);
        p->stage = STAGE_IDLE;
        p->running = false;
        /* last: the callback may free P or start the next attempt */
        p->cb(p, &r, p->userdata);
        return 0;
}

/* Only numeric addresses reach libiscsi: its getaddrinfo() call then costs no name service
 * (numeric_gai.c). */
static bool numeric_host(const char *host)
{
        return numeric_gai_is_address(host);
}

void probe_format_portal(const char *host, uint16_t port, char *buf, size_t size)
{
        if (strchr(host, ':'))
                snprintf(buf, size, "[%s]:%u", host, (unsigned)port);
        else
                snprintf(buf, size, "%s:%u", host, (unsigned)port);
}

int probe_parse_portal(const char *s, char *host, size_t hostsz, uint16_t *port)
{
        const char *h = s, *end, *colon;
        unsigned long v = PROBE_DEFAULT_PORT;
        size_t len;

        if (str_empty(s))
                return -EINVAL;
        if (*s == '[') {
                h = s + 1;
                end = strchr(h, ']');
                if (!end)
                        return -EINVAL;
                colon = end[1] == ':' ? end + 1 : NULL;
                if (!colon && end[1] != '\0')
                        return -EINVAL;
        } else {
                colon = strchr(s, ':');
                if (colon && strchr(colon + 1, ':'))
                        colon = NULL; /* a bare IPv6 address */
                end = colon ? colon : s + strlen(s);
        }
        if (colon) {
                if (parse_uint(colon + 1, &v) < 0 || v == 0 || v > 65535)
                        return -EINVAL;
        }
        len = (size_t)(end - h);
        if (len == 0 || len >= hostsz)
                return -EINVAL;
        memcpy(host, h, len);
        host[len] = '\0';
        *port = (uint16_t)v;
        return 0;
}

void probe_default_initiator(char *buf, size_t size)
{
        char name[65] = "";

        if (gethostname(name, sizeof(name) - 1) < 0 || !name[0])
                snprintf(name, sizeof(name), "unknown");
        name[sizeof(name) - 1] = '\0';
        /* IQNs are lower case; a host name may not be */
        for (char *c = name; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char)(*c - 'A' + 'a');
        snprintf(buf, size, PROBE_INITIATOR_BASE "%s", name);
}

static int copy_param(char *dst, size_t size, const char *src)
{
        if (!src)
                src = "";
        if (strlen(src) >= size)
                return -EINVAL;
        memcpy(dst, src, strlen(src) + 1);
        return 0;
}

int probe_new(sd_event *e, const struct probe_params *params, probe_result_fn cb, void *userdata,
              struct probe **out)
{
        _cleanup_free_ struct probe *p = NULL;
        int r;

        if (!e || !params || !cb || !out)
                return -EINVAL;
        if (params->mode != PROBE_MODE_DISCOVERY && params->mode != PROBE_MODE_LOGIN)
                return -EINVAL;
        if (str_empty(params->host) || !numeric_host(params->host) || str_empty(params->target) ||
            params->lun < PROBE_LUN_AUTO || params->lun > 16383)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        if (copy_param(p->host, sizeof(p->host), params->host) < 0 ||
            copy_param(p->target, sizeof(p->target), params->target) < 0 ||
            copy_param(p->username, sizeof(p->username), params->username) < 0 ||
            copy_param(p->password, sizeof(p->password), params->password) < 0)
                return -EINVAL;
        if (str_empty(params->initiator))
                probe_default_initiator(p->initiator, sizeof(p->initiator));
        else if (copy_param(p->initiator, sizeof(p->initiator), params->initiator) < 0)
                return -EINVAL;
        if (p->username[0] && !p->password[0])
                return -EINVAL;
        p->port = params->port ? params->port : PROBE_DEFAULT_PORT;
        probe_format_portal(p->host, p->port, p->portal, sizeof(p->portal));
        p->mode = params->mode;
        p->timeout_usec = params->timeout_usec ? params->timeout_usec : 3 * USEC_PER_SEC;
        p->lun = params->lun;
        p->answered_lun = -1;
        p->cb = cb;
        p->userdata = userdata;
        p->io_fd = -1;
        r = sd_event_add_defer(e, &p->done, on_done, p);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(p->done, SD_EVENT_OFF);
        p->event = sd_event_ref(e);
        *out = TAKE_PTR(p);
        return 0;
}

int probe_start(struct probe *p)
{
        int r;

        if (!p)
                return -EINVAL;
        if (p->running)
                return -EBUSY;
        memset(&p->result, 0, sizeof(p->result));
        p->running = true;
        p->stage = STAGE_CONNECT;
        p->tur_tries = 0;
        p->start_usec = now_usec();

        r = sd_event_add_time_relative(p->event, &p->deadline, CLOCK_MONOTONIC, p->timeout_usec,
                                       USEC_PER_MSEC, on_deadline, p);
        if (r < 0)
                goto fail;
        r = sd_event_add_time_relative(p->event, &p->tick, CLOCK_MONOTONIC, SERVICE_TICK_USEC,
                                       100 * USEC_PER_MSEC, on_tick, p);
        if (r < 0)
                goto fail;

        p->iscsi = iscsi_create_context(p->initiator);
        if (!p->iscsi) {
                r = -ENOMEM;
                goto fail;
        }
        /* Our own deadline and a fresh context per attempt replace libiscsi's reconnect. */
        iscsi_set_noautoreconnect(p->iscsi, 1);
        iscsi_set_tcp_user_timeout(p->iscsi, (int)(p->timeout_usec / USEC_PER_MSEC));
        /* libiscsi's PDU timeout counts whole seconds of time(): a 1 s timeout can expire
         * after a millisecond at a second boundary. It is only a backstop behind our deadline. */
        iscsi_set_timeout(p->iscsi, (int)((p->timeout_usec + USEC_PER_SEC - 1) / USEC_PER_SEC) + 1);
        /* The ISID stays libiscsi's random one: reusing the root session's would make the
         * target drop the root session. */
        if (p->mode == PROBE_MODE_DISCOVERY) {
                r = iscsi_set_session_type(p->iscsi, ISCSI_SESSION_DISCOVERY);
        } else {
                r = iscsi_set_session_type(p->iscsi, ISCSI_SESSION_NORMAL);
                if (r == 0)
                        r = iscsi_set_targetname(p->iscsi, p->target);
        }
        if (r == 0 && p->username[0])
                r = iscsi_set_initiator_username_pwd(p->iscsi, p->username, p->password);
        if (r != 0) {
                r = -EINVAL;
                goto fail;
        }
        /* A numeric portal: libiscsi's getaddrinfo() is answered without DNS, NSS or nscd. */
        if (iscsi_connect_async(p->iscsi, p->portal, connect_cb, p) < 0) {
                /* e.g. ENETUNREACH straight from connect(): a result, not an API error */
                int err = errno;
                char liberr[LIBERR_MAX + 1];

                copy_liberr(p, liberr, sizeof(liberr));
                if (strstr(liberr, "Network is unreachable"))
                        fail_errno(p, ENETUNREACH);
                else if (strstr(liberr, "No route to host"))
                        fail_errno(p, EHOSTUNREACH);
                else if (err == ENETUNREACH || err == EHOSTUNREACH || err == ENETDOWN)
                        fail_errno(p, err);
                else
                        fail(p, "portal %s: cannot connect: %s", p->portal, liberr);
                return 0;
        }
        update_io(p);
        return 0;
fail:
        teardown(p);
        p->running = false;
        p->stage = STAGE_IDLE;
        return r;
}

void probe_cancel(struct probe *p)
{
        if (!p || !p->running)
                return;
        sd_event_source_set_enabled(p->done, SD_EVENT_OFF);
        teardown(p);
        p->running = false;
        p->stage = STAGE_IDLE;
}

bool probe_running(const struct probe *p)
{
        return p && p->running;
}

void probe_free(struct probe *p)
{
        if (!p)
                return;
        probe_cancel(p);
        sd_event_source_disable_unref(p->done);
        sd_event_unref(p->event);
        explicit_bzero(p->password, sizeof(p->password));
        free(p);
}
