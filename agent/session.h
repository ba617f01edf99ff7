/* The kernel iSCSI session that carries "/": found once through sysfs, then re-read cheaply
 * about once a second by the daemon's health loop.
 *
 * Discovery: the major:minor of "/" from /proc/self/mountinfo, then /sys/dev/block/MAJ:MIN
 * resolved to .../hostN/sessionM/targetN:0:0/N:0:0:L/block/sdX[/sdXn] (through one level of
 * dm/md "slaves" too). When that finds nothing (btrfs and overlay roots show an anonymous 0:N
 * device), the session whose targetname equals the boot target (see iscsi_boot.h) is taken.
 *
 * Everything goes through the ROOT prefix (--root): tests use a fake sysfs tree. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "health.h"

#define SESSION_NAME_MAX  224 /* iSCSI names are at most 223 bytes (RFC 3720) */
#define SESSION_ADDR_MAX  64  /* an IPv6 address with scope fits */
#define SESSION_SHORT_MAX 32  /* state words, device names, numbers */

enum session_state {
        SESSION_STATE_UNKNOWN, /* unreadable or a word this code does not know */
        SESSION_STATE_LOGGED_IN,
        SESSION_STATE_FAILED, /* connection lost, kernel queues I/O until recovery_tmo */
        SESSION_STATE_FREE,   /* logged out or never logged in */
};

enum disk_state {
        DISK_STATE_UNKNOWN, /* no disk known for this session */
        DISK_STATE_RUNNING,
        DISK_STATE_BLOCKED, /* I/O held while the session recovers */
        DISK_STATE_OFFLINE,
        DISK_STATE_TRANSPORT_OFFLINE, /* recovery_tmo expired: every I/O fails */
        DISK_STATE_GONE,              /* the state file vanished: the SCSI device was removed */
        DISK_STATE_OTHER, /* created, quiesce, cancel, deleted, … (see disk_state_raw) */
};

enum session_found_by {
        SESSION_FOUND_NONE,
        SESSION_FOUND_BY_ROOT_DEVICE, /* the block device of "/" sits under the session */
        SESSION_FOUND_BY_TARGET,      /* fallback: targetname equals the boot target */
};

/* Where the root session lives. Zero it with session_locator_init(); session_read() fills it on
 * first use and again whenever the session disappears. The daemon keeps one in its state. */
struct session_locator {
        char target[SESSION_NAME_MAX]; /* boot target for the fallback, "" for none */

        /* "/" as mounted: read once, a mounted root does not change device. */
        bool root_known;
        unsigned root_major, root_minor;
        char root_source[SESSION_NAME_MAX]; /* mount source, e.g. "/dev/sda1", "/dev/root" */
        char root_dev[SESSION_SHORT_MAX];   /* sysfs name of "/", e.g. "sda1"; "" when unknown */
        bool root_dev_missing;              /* a real block device with no sysfs entry */

        /* The session, valid while found. */
        bool found;
        enum session_found_by found_by;
        unsigned sid, host;
        unsigned last_sid; /* the session seen before it vanished, 0 = none */
        char disk[SESSION_SHORT_MAX];
        char session_dir[PATH_MAX];  /* <root>/sys/class/iscsi_session/sessionM */
        char conn_dir[PATH_MAX];     /* <root>/sys/class/iscsi_connection/connectionM:0 */
        char disk_dev_dir[PATH_MAX]; /* <root>/sys/block/sdX/device */
        char host_dir[PATH_MAX];     /* <root>/sys/class/iscsi_host/hostN */

        /* Read once at discovery: the kernel never changes these during a session's life. */
        char targetname[SESSION_NAME_MAX];
        char initiatorname[SESSION_NAME_MAX];
        int tpgt; /* -1 unknown */
        char persistent_address[SESSION_ADDR_MAX];
        unsigned persistent_port;
        char host_netdev[SESSION_SHORT_MAX]; /* "" when "default", "(null)" or absent */
};

struct session_snapshot {
        bool present; /* a session for "/" was found and its state file read */
        enum session_found_by found_by;

        /* "/" */
        unsigned root_major, root_minor;
        char root_source[SESSION_NAME_MAX];
        char root_dev[SESSION_SHORT_MAX];
        bool root_dev_missing;
        unsigned last_sid; /* when !present: the session that carried "/" before, 0 = none */

        /* The session (valid when present). */
        unsigned sid, host;
        char state_raw[SESSION_SHORT_MAX];
        enum session_state state;
        char targetname[SESSION_NAME_MAX];
        char initiatorname[SESSION_NAME_MAX];
        int tpgt;         /* -1 unknown */
        int recovery_tmo; /* seconds, -1 unknown */

        /* The connection: address/port are where it is connected now (after a redirect, maybe
         * not the portal); persistent_* are the portal that was logged in to. Port 0 = unknown.
         * The interface is for the caller's route lookup; host_netdev is only set when the
         * iscsi_host is bound to a named netdev (offload, or an iface with net_ifacename). */
        char address[SESSION_ADDR_MAX];
        unsigned port;
        char persistent_address[SESSION_ADDR_MAX];
        unsigned persistent_port;
        char host_netdev[SESSION_SHORT_MAX];
        char host_ipaddress[SESSION_ADDR_MAX]; /* local address of the connection, "" unknown */

        /* The SCSI disk ("sda" for root on "sda1"). */
        char disk[SESSION_SHORT_MAX];
        char disk_state_raw[SESSION_SHORT_MAX];
        enum disk_state disk_state;
};

/* TARGET: the boot target name for the fallback, NULL or "" for none. */
void session_locator_init(struct session_locator *loc, const char *target);

/* Forgets the session (not "/"), so the next session_read() discovers again. */
void session_locator_reset(struct session_locator *loc);

/* Fills OUT. While the session is known this is a handful of small sysfs reads and no
 * allocation; a vanished session (state file gone) triggers a new discovery in the same call.
 * Returns 1 when a session for "/" is present, 0 when not (OUT says why: root_dev,
 * root_dev_missing, last_sid), or a negative errno when "/" cannot be found in mountinfo. */
int session_read(const char *root, struct session_locator *loc, struct session_snapshot *out);

/* Scans <root>/proc/<pid>/comm for "iscsid" (after a fast path through /run/iscsid.pid).
 * A readdir of /proc: call it every few seconds at most. 1 running, 0 not, negative errno. */
int session_iscsid_running(const char *root);

const char *session_state_to_string(enum session_state s);
const char *disk_state_to_string(enum disk_state s);
enum session_state session_state_from_string(const char *s);
enum disk_state disk_state_from_string(const char *s);

/* ---- Judging a snapshot ---- */

/* recovery_tmo below this many seconds is called short (see session_assess()). */
#define SESSION_RECOVERY_TMO_MIN 600

#define SESSION_REASONS_MAX 6
#define SESSION_REASON_LEN  HEALTH_REASON_LEN

struct session_verdict {
        enum health_state health; /* the worst of the reasons, HEALTH_OK when there are none */
        unsigned n_reasons;
        struct health_reason reasons[SESSION_REASONS_MAX]; /* codes: health.h */
        enum health_state reason_health[SESSION_REASONS_MAX];
};

/* Turns S into plain-words reasons ("session1: FAILED …", "session1: disk sda is blocked …")
 * and a health. ISCSID_RUNNING: 1, 0, or negative when unknown (the check is skipped).
 * MIN_RECOVERY_TMO: seconds, 0 for SESSION_RECOVERY_TMO_MIN, negative to skip the check. */
void session_assess(const struct session_snapshot *s, int iscsid_running, int min_recovery_tmo,
                    struct session_verdict *v);

/* One line for status output: "session1 LOGGED_IN iqn… 192.168.1.10:3260 disk sda running". */
void session_describe(const struct session_snapshot *s, char *buf, size_t size);
