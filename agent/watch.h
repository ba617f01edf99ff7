/* The iSCSI root watch: the kernel session (sysfs poll + NETLINK_ISCSI events), the link that
 * carries it (netlink caches) and the out-of-band portal probe, folded into one health verdict.
 * Everything it touches while watching is in /sys, /proc, /run or memory. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "health.h"
#include "iscsi_boot.h"
#include "link_health.h"
#include "log.h"
#include "session.h"

struct netlink_watch;
struct probe;
struct iscsi_events;

struct root_watch {
        const char *root;
        const struct netroot_config *cfg;
        const struct logger *log;
        sd_event *event;
        const struct netlink_watch *netlink; /* owned by the daemon; may be NULL */
        void (*changed)(void *userdata);     /* the published health changed */
        void *userdata;

        struct health health;
        struct iscsi_boot boot; /* ISCSI_* the Pi booted with (cmdline, iscsi.initramfs) */
        struct session_locator locator;
        struct session_snapshot session;
        bool session_readable; /* /proc/self/mountinfo under the root exists */
        int iscsid_running;    /* 1, 0, -1 not checked yet */
        unsigned polls;
        sd_event_source *poll_timer;
        struct iscsi_events *events; /* NULL when the kernel offers none (no CAP_NET_ADMIN…) */
        char events_error[128];

        struct link_tracker link;
        struct link_status link_status;

        struct probe *probe;
        sd_event_source *probe_timer;
        char target[SESSION_NAME_MAX];
        char portal_host[SESSION_ADDR_MAX];
        uint16_t portal_port;
        char portal[SESSION_ADDR_MAX + 8]; /* "host:port" for messages */
        char probe_initiator[224];         /* the name the probe logs in with */
        char probe_error[192];             /* why the probe is not running, "" when it is */
        char last_probe_reason[192];
};

/* Starts watching; failures of optional parts (events, probe) are reported in the status,
 * not returned. */
int watch_start(struct root_watch *w);
void watch_stop(struct root_watch *w);

/* Re-evaluates the link from the netlink caches (called on every route/link/addr event). */
void watch_link_changed(struct root_watch *w);

/* "root iqn…:pi1 via eth0 OK, probe 1.3 ms" */
void watch_summary(const struct root_watch *w, char *buf, size_t size);
