/* netrootctl doctor: the tutorial's setup (docs/…/netboot-pi3-iscsi-root-tutorial.txt) checked
 * step by step from the Pi itself. Each check is a small function that reads what it needs under
 * the --root prefix and says ok, warn, fail or skip, with one line of detail and one line of fix.
 *
 * The doctor only reads. It never runs a program from a --root sandbox (vcgencmd is skipped
 * there) and never shows a secret: values from cmdline.txt go through cmdline_masked_value(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum doctor_result {
        DOCTOR_OK,
        DOCTOR_WARN,
        DOCTOR_FAIL,
        DOCTOR_SKIP, /* does not apply here, or cannot be checked from here (counts as ok) */
};

#define DOCTOR_CHECKS_MAX 32
#define DOCTOR_NAME_MAX   32
#define DOCTOR_TEXT_MAX   512

struct doctor_check {
        char name[DOCTOR_NAME_MAX];
        enum doctor_result result;
        char detail[DOCTOR_TEXT_MAX];
        char fix[DOCTOR_TEXT_MAX]; /* "" for ok and skip */
};

struct doctor_options {
        const char *root;                 /* --root prefix, NULL for the real machine */
        const struct netroot_config *cfg; /* agent.conf (boot_dir, run_dir, ipv6, led) */
        const char *model;                /* NULL: /proc/device-tree/model */
        const char *serial;               /* NULL: the Serial line of /proc/cpuinfo */
        /* Tests only: run this program as vcgencmd, even with ROOT set (it is the caller's
         * program, not one from the tree). NULL: /usr/bin/vcgencmd, and only without ROOT. */
        const char *vcgencmd;
};

struct doctor_report {
        size_t n;
        struct doctor_check checks[DOCTOR_CHECKS_MAX];
};

/* Runs every check. Returns 0 (REP holds the results), or -ENOMEM. */
int doctor_run(const struct doctor_options *opt, struct doctor_report *rep);

/* True when no check failed (warnings and skips allowed). */
bool doctor_report_ok(const struct doctor_report *rep);

const char *doctor_result_to_string(enum doctor_result r);

/* ---- Parsers, exposed for the unit tests ---- */

/* Finds the "17:XXXXXXXX" line of `vcgencmd otp_dump` output; copies the value to VALUE.
 * Returns 1 when found, 0 when not. */
int doctor_parse_otp(const char *output, char *value, size_t size);

/* The interface an `ip=` kernel parameter configures: field 6 of
 * ip=client:server:gw:netmask:host:DEVICE:autoconf…, "eth0" when not named. */
void doctor_ip_iface(const char *ip_value, char *iface, size_t size);

/* True when dhcpcd.conf TEXT keeps dhcpcd away from IFACE: a denyinterfaces pattern matches it,
 * or an allowinterfaces list exists and none of its patterns does. */
bool doctor_dhcpcd_denies(const char *text, const char *iface);

/* Line number (1-based) of an `iface IFACE inet dhcp` stanza in ifupdown TEXT, 0 when none. */
unsigned doctor_ifupdown_dhcp_line(const char *text, const char *iface);

/* The value of a `NAME=value` shell assignment (last one wins, quotes removed, comments
 * skipped) or a `name = value` line (iscsid.conf). Returns 1 when found, 0 when not. */
int doctor_conf_value(const char *text, const char *name, char *value, size_t size);
