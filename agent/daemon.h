/* netrootd's one context: everything the daemon knows lives here (no global mutable state). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "health.h"
#include "ipv6.h"
#include "led.h"
#include "log.h"
#include "log_sink.h"
#include "strbuf.h"
#include "watch.h"

struct netlink_watch;

struct daemon_options {
        const char *root;        /* --root DIR */
        const char *config_path; /* --config FILE, NULL for the default under ROOT */
        enum log_target log_target;
        bool no_mlock;
};

struct ipv6_status {
        bool available;
        bool applied;         /* the configured mode holds on every entry */
        unsigned corrections; /* drift corrections since start */
        char error[256];
};

struct netrootd {
        struct daemon_options opt;
        char config_path[PATH_MAX];
        struct netroot_config cfg;
        struct logger log;
        struct log_sink log_sink; /* log.sink: logging never waits for journald */
        sd_event *event;
        sd_event_source *ipv6_timer;
        struct netlink_watch *netlink;
        bool started; /* initial settings applied: later IPv6 changes are drift */

        struct led led;
        struct ipv6_status ipv6;

        struct root_watch watch;
        enum health_state logged_state; /* last state announced in the journal */
        struct metrics_writer *metrics;
        int metrics_error_logged; /* the writer's last error, once said in the journal */
        uint64_t started_usec;

        char status_path[PATH_MAX];
        char led_saved_path[PATH_MAX]; /* <run_dir>/led-original: the LED's trigger before us */
        struct strbuf status_body;     /* last written status without the timestamp */
        uint64_t status_updated;       /* Unix time of the last change */
        bool memory_locked;
};

/* Loads the configuration and prepares every watcher; returns a negative errno on a fatal
 * configuration problem (already logged). */
int daemon_init(struct netrootd *d, const struct daemon_options *opt);
int daemon_run(struct netrootd *d);
void daemon_done(struct netrootd *d);

/* What netrootd --check-config found. */
struct daemon_config_check {
        char path[PATH_MAX];
        bool missing; /* no file: the built-in defaults */
        char warning[CONFIG_MESSAGE_MAX];
        char error[CONFIG_MESSAGE_MAX];
};

/* Validates the configuration as start-up would (file, LED triggers). Returns 0 (OUT->warning may
 * be set) or -EINVAL with OUT->error. */
int daemon_check_config(const struct daemon_options *opt, struct daemon_config_check *out);

/* Re-renders status.json, the LED and sd_notify STATUS= after any change of state. */
void daemon_publish(struct netrootd *d);
