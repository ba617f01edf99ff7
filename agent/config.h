/* /etc/netroot/agent.conf: the one configuration file of netrootd and netrootctl.
 * Parsed with inih; every error names the file, the line and what is allowed. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/netroot/agent.conf"
#define CONFIG_VALUE_MAX    256

enum ipv6_mode { IPV6_MODE_DISABLE, IPV6_MODE_ENABLE, IPV6_MODE_KEEP };
enum probe_mode { PROBE_MODE_DISCOVERY, PROBE_MODE_LOGIN, PROBE_MODE_OFF };
enum verify_tftp { VERIFY_TFTP_AUTO, VERIFY_TFTP_REQUIRED, VERIFY_TFTP_OFF };
enum trial_boot { TRIAL_BOOT_NONE, TRIAL_BOOT_TRYBOOT };
enum on_bad { ON_BAD_ROLLBACK, ON_BAD_ROLLBACK_AND_REBOOT };

#define CONFIG_BOOT_FIRMWARE "/boot/firmware"

struct agent_config {
        /* "auto" until config_resolve_boot_dir(): /boot/firmware when it holds config.txt,
         * else /boot. */
        char boot_dir[CONFIG_VALUE_MAX];
        bool boot_dir_auto; /* it was "auto": say which folder was found */
        char state_dir[CONFIG_VALUE_MAX];
        char run_dir[CONFIG_VALUE_MAX];
        char metrics_file[CONFIG_VALUE_MAX]; /* empty: no metrics file */
        char model[CONFIG_VALUE_MAX];        /* "auto": /proc/device-tree/model */
        char serial[CONFIG_VALUE_MAX];       /* "auto": the Serial line of /proc/cpuinfo */
};

struct led_config {
        bool enabled;
        char device[CONFIG_VALUE_MAX]; /* "auto" or a name under /sys/class/leds */
        char trigger_ok[CONFIG_VALUE_MAX];
        char trigger_degraded[CONFIG_VALUE_MAX];
        char trigger_failed[CONFIG_VALUE_MAX];
};

struct ipv6_config {
        enum ipv6_mode mode;
        uint64_t check_interval_usec; /* re-check even without a netlink event */
};

struct iscsi_config {
        char target[CONFIG_VALUE_MAX]; /* "auto" or an IQN */
        char portal[CONFIG_VALUE_MAX]; /* "auto" or HOST[:PORT] */
        /* The host name given when it was resolved at load (CONFIG_LOAD_RESOLVE); portal then
         * holds the address. "" otherwise. */
        char portal_name[CONFIG_VALUE_MAX];
        enum probe_mode probe;
        uint64_t probe_interval_usec;
        uint64_t probe_timeout_usec;
        unsigned fail_after;        /* probe failures in a row before FAILED */
        unsigned recover_after;     /* good results in a row before OK again */
        uint64_t slow_rtt_usec;     /* a probe slower than this is DEGRADED */
        uint64_t session_poll_usec; /* sysfs re-read; the fallback when no netlink events */
        char username[CONFIG_VALUE_MAX];
        char password[CONFIG_VALUE_MAX];
        /* The probe's initiator name: "auto" (the root session's own name + ":netroot-probe")
         * or an iSCSI name. */
        char initiator[CONFIG_VALUE_MAX];
};

struct upgrade_config {
        char shared_dir[CONFIG_VALUE_MAX]; /* empty: the shared firmware is not managed */
        char tftp[CONFIG_VALUE_MAX];       /* "auto" or HOST[:PORT] */
        enum verify_tftp verify_tftp;
        unsigned keep;
        uint64_t confirm_after_usec;
        enum trial_boot trial_boot;
};

/* [boot]: the decision on a freshly upgraded boot (netrootctl confirm, netroot-confirm.service). */
struct boot_config {
        uint64_t confirm_timeout_usec; /* not confirmed by then (since boot): marked bad */
        enum on_bad on_bad;            /* what a bad boot does to the boot folder (and the Pi) */
};

struct netroot_config {
        struct agent_config agent;
        struct led_config led;
        struct ipv6_config ipv6;
        struct iscsi_config iscsi;
        struct upgrade_config upgrade;
        struct boot_config boot;
};

#define CONFIG_MESSAGE_MAX 640

struct config_diag {
        char error[CONFIG_MESSAGE_MAX];   /* "FILE:LINE: …" when loading failed */
        char warning[CONFIG_MESSAGE_MAX]; /* non-fatal, e.g. a password readable by others */
};

void config_set_defaults(struct netroot_config *cfg);

/* Loads PATH over the defaults. A missing file is not an error (-ENOENT is returned with CFG
 * holding the defaults, so callers can say so). Any other error fills DIAG->error. */
int config_load(const char *path, struct netroot_config *cfg, struct config_diag *diag);

/* Resolve a host name in [iscsi] portal now (netrootd, at start and reload), so that the health
 * path only ever sees an address; an unresolvable name is an error naming file and line. */
#define CONFIG_LOAD_RESOLVE 1u

/* config_load() with CONFIG_LOAD_* FLAGS. */
int config_load_flags(const char *path, struct netroot_config *cfg, struct config_diag *diag,
                      unsigned flags);

/* Parses a duration: "500ms", "5s", "2m", "1h" or a bare number of seconds. */
int config_parse_duration(const char *s, uint64_t *usec);

/* Parses yes/no, true/false, on/off, 1/0. */
int config_parse_bool(const char *s, bool *out);

const char *ipv6_mode_to_string(enum ipv6_mode m);
const char *probe_mode_to_string(enum probe_mode m);

/* Turns boot_dir = auto into the folder the firmware reads, looked up under ROOT. Call once
 * after config_load() (and with the defaults when there is no file). Returns 0 or -ENOMEM. */
int config_resolve_boot_dir(struct netroot_config *cfg, const char *root);
