/* Kernel iSCSI events (NETLINK_ISCSI, multicast group 1): a session's connection failing,
 * logging in again, or sessions being created and destroyed, as they happen, so the daemon
 * need not wait for its next sysfs poll. Listen only: this module never sends to the kernel
 * (a stray message on NETLINK_ISCSI would be taken as an iscsid command).
 *
 * Joining the group needs CAP_NET_ADMIN, and kernels without scsi_transport_iscsi have no
 * NETLINK_ISCSI at all: iscsi_events_open() then fails with -EPERM or -EPROTONOSUPPORT and the
 * daemon polls sysfs only. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#define ISCSI_NETLINK_PROTOCOL 8 /* NETLINK_ISCSI */
#define ISCSI_NETLINK_GROUP    1 /* ISCSI_NL_GRP_ISCSID */

/* The kernel's event numbers (enum iscsi_uevent_e, KEVENT_BASE 100) that this module reports. */
enum iscsi_event_type {
        ISCSI_EVENT_CONN_ERROR = 102,       /* a connection broke: the session goes FAILED */
        ISCSI_EVENT_DESTROY_SESSION = 104,  /* the session was removed */
        ISCSI_EVENT_UNBIND_SESSION = 105,   /* its SCSI target was removed (logout) */
        ISCSI_EVENT_CREATE_SESSION = 106,   /* a new session (new login) */
        ISCSI_EVENT_CONN_LOGIN_STATE = 109, /* a (re)login finished: state 3 = logged in */
        /* Not a kernel event: the socket buffer overflowed and events were lost. Re-read sysfs. */
        ISCSI_EVENT_OVERRUN = 0x10000,
};

/* enum iscsi_conn_state value in a CONN_LOGIN_STATE event that means success. */
#define ISCSI_CONN_STATE_LOGGED_IN 3

struct iscsi_event {
        uint32_t type; /* enum iscsi_event_type */
        uint32_t sid;  /* session number, as in /sys/class/iscsi_session/sessionN; 0 for OVERRUN */
        uint32_t cid;  /* connection id (CONN_ERROR, CONN_LOGIN_STATE), else 0 */
        uint32_t host; /* SCSI host number (session create/destroy/unbind), else 0 */
        uint32_t code; /* CONN_ERROR: enum iscsi_err (1000+); CONN_LOGIN_STATE: conn state */
};

/* Parses one datagram as received from the socket (one or more netlink messages). Stores at
 * most MAX events in OUT; messages this module does not report are skipped, and so are
 * truncated or malformed ones. Returns the number of events stored. */
size_t iscsi_events_parse(const void *buf, size_t len, struct iscsi_event *out, size_t max);

/* "connection error", "session destroyed", … */
const char *iscsi_event_type_to_string(uint32_t type);

/* Plain words for a CONN_ERROR code: "TCP connection closed", "NOP-Out timed out", …;
 * "error 1005" style text in BUF for the others. Returns BUF or a constant. */
const char *iscsi_conn_error_to_string(uint32_t code, char *buf, size_t size);

typedef void (*iscsi_event_handler_t)(const struct iscsi_event *ev, void *userdata);

struct iscsi_events;

/* Opens the socket, joins group 1 and adds an I/O source to EVENT that calls HANDLER for every
 * event. Returns 0, -EPROTONOSUPPORT (no iSCSI in this kernel), -EPERM (no CAP_NET_ADMIN), or
 * another negative errno. */
int iscsi_events_open(sd_event *event, iscsi_event_handler_t handler, void *userdata,
                      struct iscsi_events **out);

/* Removes the source and closes the socket. NULL is fine. */
void iscsi_events_free(struct iscsi_events *ev);
