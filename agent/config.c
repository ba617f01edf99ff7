#include "config.h"
#include "fileio.h"
#include "numeric_gai.h"
#include "probe.h"
#include "rootpath.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <ini.h>
#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* A config file is small; anything bigger is a mistake (or hostile) and is refused. */
#define CONFIG_FILE_MAX (256 * 1024)

enum key_type {
        KEY_STRING,
        KEY_PATH,
        KEY_OPT_PATH,
        KEY_PATH_OR_AUTO,
        KEY_BOOL,
        KEY_DURATION,
        KEY_UINT,
        KEY_ENUM,
        KEY_PORTAL,    /* auto, HOST[:PORT] or [V6][:PORT] */
        KEY_INITIATOR, /* auto or an iSCSI name */
};

struct key_def {
        const char *section;
        const char *name;
        enum key_type type;
        size_t offset;
        const char *const *choices; /* KEY_ENUM: allowed values, index = enum value */
        uint64_t min, max;          /* KEY_UINT and KEY_DURATION (usec) bounds */
};

static const char *const ipv6_modes[] = {"disable", "enable", "keep", NULL};
static const char *const probe_modes[] = {"discovery", "login", "off", NULL};
static const char *const verify_modes[] = {"auto", "required", "off", NULL};
static const char *const trial_modes[] = {"none", "tryboot", NULL};
static const char *const on_bad_modes[] = {"rollback", "rollback-and-reboot", NULL};

#define OFF(field) offsetof(struct netroot_config, field)
#define MSEC       1000ULL
#define SEC        1000000ULL

static const struct key_def keys[] = {
    {"agent", "boot_dir", KEY_PATH_OR_AUTO, OFF(agent.boot_dir), NULL, 0, 0},
    {"agent", "state_dir", KEY_PATH, OFF(agent.state_dir), NULL, 0, 0},
    {"agent", "run_dir", KEY_PATH, OFF(agent.run_dir), NULL, 0, 0},
    {"agent", "metrics_file", KEY_OPT_PATH, OFF(agent.metrics_file), NULL, 0, 0},
    {"agent", "model", KEY_STRING, OFF(agent.model), NULL, 0, 0},
    {"agent", "serial", KEY_STRING, OFF(agent.serial), NULL, 0, 0},
    {"led", "enabled", KEY_BOOL, OFF(led.enabled), NULL, 0, 0},
    {"led", "device", KEY_STRING, OFF(led.device), NULL, 0, 0},
    {"led", "trigger_ok", KEY_STRING, OFF(led.trigger_ok), NULL, 0, 0},
    {"led", "trigger_degraded", KEY_STRING, OFF(led.trigger_degraded), NULL, 0, 0},
    {"led", "trigger_failed", KEY_STRING, OFF(led.trigger_failed), NULL, 0, 0},
    {"ipv6", "mode", KEY_ENUM, OFF(ipv6.mode), ipv6_modes, 0, 0},
    {"ipv6", "check_interval", KEY_DURATION, OFF(ipv6.check_interval_usec), NULL, 1 * SEC,
     3600 * SEC},
    {"iscsi", "target", KEY_STRING, OFF(iscsi.target), NULL, 0, 0},
    {"iscsi", "portal", KEY_PORTAL, OFF(iscsi.portal), NULL, 0, 0},
    {"iscsi", "probe", KEY_ENUM, OFF(iscsi.probe), probe_modes, 0, 0},
    {"iscsi", "probe_interval", KEY_DURATION, OFF(iscsi.probe_interval_usec), NULL, 10 * MSEC,
     3600 * SEC},
    {"iscsi", "probe_timeout", KEY_DURATION, OFF(iscsi.probe_timeout_usec), NULL, 100 * MSEC,
     600 * SEC},
    {"iscsi", "fail_after", KEY_UINT, OFF(iscsi.fail_after), NULL, 1, 100},
    {"iscsi", "recover_after", KEY_UINT, OFF(iscsi.recover_after), NULL, 1, 100},
    {"iscsi", "slow_rtt", KEY_DURATION, OFF(iscsi.slow_rtt_usec), NULL, 1 * MSEC, 600 * SEC},
    {"iscsi", "session_poll", KEY_DURATION, OFF(iscsi.session_poll_usec), NULL, 100 * MSEC,
     3600 * SEC},
    {"iscsi", "username", KEY_STRING, OFF(iscsi.username), NULL, 0, 0},
    {"iscsi", "password", KEY_STRING, OFF(iscsi.password), NULL, 0, 0},
    {"iscsi", "initiator", KEY_INITIATOR, OFF(iscsi.initiator), NULL, 0, 0},
    {"upgrade", "shared_dir", KEY_OPT_PATH, OFF(upgrade.shared_dir), NULL, 0, 0},
    {"upgrade", "tftp", KEY_STRING, OFF(upgrade.tftp), NULL, 0, 0},
    {"upgrade", "verify_tftp", KEY_ENUM, OFF(upgrade.verify_tftp), verify_modes, 0, 0},
    {"upgrade", "keep", KEY_UINT, OFF(upgrade.keep), NULL, 1, 100},
    {"upgrade", "confirm_after", KEY_DURATION, OFF(upgrade.confirm_after_usec), NULL, 0,
     24 * 3600 * SEC},
    {"upgrade", "trial_boot", KEY_ENUM, OFF(upgrade.trial_boot), trial_modes, 0, 0},
    {"boot", "confirm_timeout", KEY_DURATION, OFF(boot.confirm_timeout_usec), NULL, 10 * SEC,
     24 * 3600 * SEC},
    {"boot", "on_bad", KEY_ENUM, OFF(boot.on_bad), on_bad_modes, 0, 0},
};

static const char *const sections[] = {"agent", "led", "ipv6", "iscsi", "upgrade", "boot"};

void config_set_defaults(struct netroot_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        strcpy(cfg->agent.boot_dir, "auto");
        strcpy(cfg->agent.state_dir, "/var/lib/netroot");
        strcpy(cfg->agent.run_dir, "/run/netroot");
        strcpy(cfg->agent.model, "auto");
        strcpy(cfg->agent.serial, "auto");
        cfg->led.enabled = true;
        strcpy(cfg->led.device, "auto");
        strcpy(cfg->led.trigger_ok, "heartbeat");
        strcpy(cfg->led.trigger_degraded, "timer");
        strcpy(cfg->led.trigger_failed, "default-on");
        cfg->ipv6.mode = IPV6_MODE_DISABLE;
        cfg->ipv6.check_interval_usec = 60 * SEC;
        strcpy(cfg->iscsi.target, "auto");
        strcpy(cfg->iscsi.portal, "auto");
        strcpy(cfg->iscsi.initiator, "auto");
        cfg->iscsi.probe = PROBE_MODE_DISCOVERY;
        cfg->iscsi.probe_interval_usec = 5 * SEC;
        cfg->iscsi.probe_timeout_usec = 3 * SEC;
        cfg->iscsi.fail_after = 2;
        cfg->iscsi.recover_after = 2;
        cfg->iscsi.slow_rtt_usec = 500 * MSEC;
        cfg->iscsi.session_poll_usec = 5 * SEC;
        strcpy(cfg->upgrade.tftp, "auto");
        cfg->upgrade.verify_tftp = VERIFY_TFTP_AUTO;
        cfg->upgrade.keep = 3;
        cfg->upgrade.confirm_after_usec = 120 * SEC;
        cfg->upgrade.trial_boot = TRIAL_BOOT_NONE;
        cfg->boot.confirm_timeout_usec = 600 * SEC;
        cfg->boot.on_bad = ON_BAD_ROLLBACK;
}

int config_parse_duration(const char *s, uint64_t *usec)
{
        static const struct {
                const char *suffix;
                uint64_t mult;
        } units[] = {{"ms", MSEC},      {"s", SEC},        {"sec", SEC}, {"m", 60 * SEC},
                     {"min", 60 * SEC}, {"h", 3600 * SEC}, {"", SEC}};
        unsigned long long v;
        char *end;

        if (str_empty(s) || !isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE || v > 1000000000ULL)
                return -ERANGE;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++)
                if (streq(end, units[i].suffix)) {
                        *usec = v * units[i].mult;
                        return 0;
                }
        return -EINVAL;
}

int config_parse_bool(const char *s, bool *out)
{
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *out = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *out = false;
                        return 0;
                }
        }
        return -EINVAL;
}

const char *ipv6_mode_to_string(enum ipv6_mode m)
{
        return ipv6_modes[m];
}

const char *probe_mode_to_string(enum probe_mode m)
{
        return probe_modes[m];
}

struct parse_state {
        struct netroot_config *cfg;
        const char *path;
        unsigned flags;                 /* CONFIG_LOAD_* */
        char error[CONFIG_MESSAGE_MAX]; /* first error only; inih reports its line */
};

static const struct key_def *find_key(const char *section, const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (streq(keys[i].section, section) && streq(keys[i].name, name))
                        return &keys[i];
        return NULL;
}

static bool known_section(const char *section)
{
        for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
                if (streq(sections[i], section))
                        return true;
        return false;
}

static void join_choices(const char *const *choices, char *buf, size_t size)
{
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; choices[i] && n < size; i++)
                n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", choices[i]);
}

static void list_section_keys(const char *section, char *buf, size_t size)
{
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(keys) && n < size; i++)
                if (streq(keys[i].section, section))
                        n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
                                              keys[i].name);
}

static int fail(struct parse_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse_state *st, const char *fmt, ...)
{
        va_list ap;

        if (st->error[0])
                return 0;
        va_start(ap, fmt);
        vsnprintf(st->error, sizeof(st->error), fmt, ap);
        va_end(ap);
        return 0;
}

static void format_duration(uint64_t usec, char *buf, size_t size)
{
        if (usec % SEC == 0)
                snprintf(buf, size, "%llus", (unsigned long long)(usec / SEC));
        else
                snprintf(buf, size, "%llums", (unsigned long long)(usec / MSEC));
}

/* A host name is looked up here, when the daemon loads its configuration, and never while it
 * watches: name service may need the root filesystem (/etc/hosts, nscd, resolved) or a DNS server
 * on a network that is down, exactly when the probe must answer. */
static int resolve_portal(struct parse_state *st, const struct key_def *k, const char *value,
                          const char *host, uint16_t port)
{
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
        struct addrinfo *ai = NULL;
        char addr[INET6_ADDRSTRLEN] = "";
        const void *raw;
        int r;

        r = getaddrinfo(host, NULL, &hints, &ai);
        if (r != 0)
                return fail(st,
                            "[%s] %s=%s: cannot resolve host name %s: %s; give the portal's "
                            "address, or a name that resolves when netrootd starts (it is looked "
                            "up at start and reload only)",
                            k->section, k->name, value, host,
                            r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
        raw = ai->ai_family == AF_INET6
                  ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                  : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        inet_ntop(ai->ai_family, raw, addr, sizeof(addr));
        freeaddrinfo(ai);
        snprintf(st->cfg->iscsi.portal_name, sizeof(st->cfg->iscsi.portal_name), "%s", value);
        probe_format_portal(addr, port, st->cfg->iscsi.portal, sizeof(st->cfg->iscsi.portal));
        return 1;
}

static int store_portal(struct parse_state *st, const struct key_def *k, const char *value)
{
        char host[CONFIG_VALUE_MAX];
        uint16_t port;

        st->cfg->iscsi.portal_name[0] = '\0';
        if (streq(value, "auto")) {
                strcpy(st->cfg->iscsi.portal, value);
                return 1;
        }
        if (strlen(value) >= CONFIG_VALUE_MAX ||
            probe_parse_portal(value, host, sizeof(host), &port) < 0)
                return fail(st,
                            "[%s] %s=%s: not a portal; allowed: auto, ADDRESS[:PORT], "
                            "[IPV6-ADDRESS][:PORT] or HOST[:PORT], port 1-65535",
                            k->section, k->name, value);
        if (!numeric_gai_is_address(host) && (st->flags & CONFIG_LOAD_RESOLVE))
                return resolve_portal(st, k, value, host, port);
        strcpy(st->cfg->iscsi.portal, value);
        return 1;
}

/* RFC 3720's name types: iqn.YYYY-MM.reversed.domain[:anything], eui.<hex>, naa.<hex>; at most
 * 223 bytes. Only the characters a name may hold after stringprep are let through, so that a
 * typo (a space, a quote) is said here rather than as a refused login. */
static bool iscsi_name_valid(const char *s)
{
        size_t n = strlen(s);

        if (n < 5 || n > 223)
                return false;
        if (strncmp(s, "iqn.", 4) != 0 && strncmp(s, "eui.", 4) != 0 && strncmp(s, "naa.", 4) != 0)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char)*c) && *c != '.' && *c != ':' && *c != '-')
                        return false;
        return true;
}

/* KEY_PATH, KEY_OPT_PATH, KEY_PATH_OR_AUTO and KEY_STRING. */
static int store_string(struct parse_state *st, const struct key_def *k, const char *value,
                        char *field)
{
        bool path = k->type != KEY_STRING;

        if (k->type == KEY_PATH_OR_AUTO && streq(value, "auto")) {
                strcpy(field, value);
                return 1;
        }
        if (k->type == KEY_OPT_PATH && str_empty(value)) {
                field[0] = '\0';
                return 1;
        }
        if (path && value[0] != '/')
                return fail(st, "[%s] %s=%s: must be an absolute path%s", k->section, k->name,
                            value, k->type == KEY_PATH_OR_AUTO ? " or auto" : "");
        if (strlen(value) >= CONFIG_VALUE_MAX)
                return fail(st, "[%s] %s: value longer than %d characters", k->section, k->name,
                            CONFIG_VALUE_MAX - 1);
        strcpy(field, value);
        return 1;
}

/* KEY_UINT and KEY_DURATION. */
static int store_number(struct parse_state *st, const struct key_def *k, const char *value,
                        char *field)
{
        char lo[32], hi[32];
        unsigned long u;
        uint64_t v;

        if (k->type == KEY_UINT) {
                if (parse_uint(value, &u) < 0 || u < k->min || u > k->max)
                        return fail(st, "[%s] %s=%s: not a whole number from %llu to %llu",
                                    k->section, k->name, value, (unsigned long long)k->min,
                                    (unsigned long long)k->max);
                *(unsigned *)field = (unsigned)u;
                return 1;
        }
        format_duration(k->min, lo, sizeof(lo));
        format_duration(k->max, hi, sizeof(hi));
        if (config_parse_duration(value, &v) < 0)
                return fail(st,
                            "[%s] %s=%s: not a duration; allowed: a number with ms, s, m or h "
                            "(e.g. 500ms, 5s, 2m), from %s to %s",
                            k->section, k->name, value, lo, hi);
        if (v < k->min || v > k->max)
                return fail(st, "[%s] %s=%s: out of range; allowed: %s to %s", k->section, k->name,
                            value, lo, hi);
        *(uint64_t *)field = v;
        return 1;
}

static int store_value(struct parse_state *st, const struct key_def *k, const char *value)
{
        char *field = (char *)st->cfg + k->offset;
        char allowed[256];

        switch (k->type) {
        case KEY_PORTAL:
                return store_portal(st, k, value);
        case KEY_INITIATOR:
                if (!streq(value, "auto") && !iscsi_name_valid(value))
                        return fail(st,
                                    "[%s] %s=%s: not an iSCSI name; allowed: auto, "
                                    "iqn.YYYY-MM.domain[:name], eui.HEX or naa.HEX (letters, "
                                    "digits, '.', ':', '-'; at most 223)",
                                    k->section, k->name, value);
                strcpy(field, value);
                return 1;
        case KEY_PATH_OR_AUTO:
        case KEY_PATH:
        case KEY_OPT_PATH:
        case KEY_STRING:
                return store_string(st, k, value, field);
        case KEY_BOOL:
                if (config_parse_bool(value, (bool *)field) < 0)
                        return fail(st,
                                    "[%s] %s=%s: not a boolean; allowed: yes, no (also "
                                    "true/false, on/off, 1/0)",
                                    k->section, k->name, value);
                return 1;
        case KEY_ENUM:
                for (int i = 0; k->choices[i]; i++)
                        if (streq(value, k->choices[i])) {
                                *(int *)field = i;
                                return 1;
                        }
                join_choices(k->choices, allowed, sizeof(allowed));
                return fail(st, "[%s] %s=%s: unknown value; allowed: %s", k->section, k->name,
                            value, allowed);
        case KEY_UINT:
        case KEY_DURATION:
                return store_number(st, k, value, field);
        }
        return fail(st, "[%s] %s: internal error", k->section, k->name);
}

static int handle_entry(void *user, const char *section, const char *name, const char *value)
{
        struct parse_state *st = user;
        const struct key_def *k;
        char allowed[512];

        if (!known_section(section))
                return fail(st,
                            "unknown section [%s]; allowed: [agent], [led], [ipv6], [iscsi], "
                            "[upgrade]",
                            section);
        if (!name) /* a bare [section] line */
                return 1;
        k = find_key(section, name);
        if (!k) {
                list_section_keys(section, allowed, sizeof(allowed));
                return fail(st, "unknown key '%s' in [%s]; allowed: %s", name, section, allowed);
        }
        return store_value(st, k, value ? value : "");
}

static bool section_header_unknown(const char *line, size_t n, char *name, size_t size)
{
        size_t i = 0, j;

        while (i < n && isspace((unsigned char)line[i]))
                i++;
        if (i == n || line[i] != '[')
                return false;
        j = ++i;
        while (j < n && line[j] != ']')
                j++;
        if (j == n)
                return false; /* inih reports the missing bracket itself */
        snprintf(name, size, "%.*s", (int)(j - i), line + i);
        return !known_section(name);
}

/* inih cuts a line longer than its buffer and then reports the rest as a bogus next line;
 * refuse such lines ourselves, with the right line number, before inih sees them. NUL bytes
 * and broken UTF-8 are refused the same way, since inih would silently misread them, and so is
 * an unknown section without keys, which inih would not report at all. */
static int prescan_lines(const char *path, const char *buf, size_t len, char *err, size_t errsize)
{
        size_t max_len = (size_t)ini_max_line - 2; /* room for "\n" and the NUL */
        size_t start = 0;
        char name[64];

        for (unsigned line = 1; start < len; line++) {
                const char *nl = memchr(buf + start, '\n', len - start);
                size_t end = nl ? (size_t)(nl - buf) : len;
                size_t n = end - start;

                if (n > 0 && buf[end - 1] == '\r')
                        n--;
                if (memchr(buf + start, '\0', n)) {
                        snprintf(err, errsize, "%s:%u: line contains a NUL byte", path, line);
                        return -EINVAL;
                }
                if (n > max_len) {
                        snprintf(err, errsize,
                                 "%s:%u: line is %zu characters long; at most %zu "
                                 "are allowed",
                                 path, line, n, max_len);
                        return -EINVAL;
                }
                if (!utf8_valid((const unsigned char *)buf + start, n)) {
                        snprintf(err, errsize, "%s:%u: line is not valid UTF-8", path, line);
                        return -EINVAL;
                }
                if (section_header_unknown(buf + start, n, name, sizeof(name))) {
                        snprintf(err, errsize,
                                 "%s:%u: unknown section [%s]; allowed: [agent], "
                                 "[led], [ipv6], [iscsi], [upgrade]",
                                 path, line, name);
                        return -EINVAL;
                }
                start = end + 1;
        }
        return 0;
}

static void check_secret_permissions(const char *path, const struct netroot_config *cfg,
                                     struct config_diag *diag)
{
        struct stat st;

        if (str_empty(cfg->iscsi.password) || stat(path, &st) < 0)
                return;
        if ((st.st_mode & S_IROTH) || ((st.st_mode & S_IRGRP) && st.st_gid != 0) || st.st_uid != 0)
                snprintf(diag->warning, sizeof(diag->warning),
                         "%s holds a CHAP password but is readable by non-root users (mode %04o, "
                         "owner %u:%u); fix: chown root:root %s && chmod 600 %s",
                         path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                         (unsigned)st.st_gid, path, path);
}

int config_load(const char *path, struct netroot_config *cfg, struct config_diag *diag)
{
        return config_load_flags(path, cfg, diag, 0);
}

int config_load_flags(const char *path, struct netroot_config *cfg, struct config_diag *diag,
                      unsigned flags)
{
        _cleanup_free_ char *buf = NULL;
        struct parse_state st = {.cfg = cfg, .path = path, .flags = flags};
        size_t len;
        int r, line;

        memset(diag, 0, sizeof(*diag));
        config_set_defaults(cfg);
        r = file_read_all(path, CONFIG_FILE_MAX, &buf, &len);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                snprintf(diag->error, sizeof(diag->error), "%s: cannot read: %s%s", path,
                         strerror(-r), r == -EFBIG ? " (larger than 256 KiB)" : "");
                return r;
        }
        r = prescan_lines(path, buf, len, diag->error, sizeof(diag->error));
        if (r < 0)
                return r;
        line = ini_parse_string(buf, handle_entry, &st);
        if (line != 0) {
                snprintf(diag->error, sizeof(diag->error), "%s:%d: %s", path, line,
                         st.error[0] ? st.error : "syntax error (expected [section] or key=value)");
                config_set_defaults(cfg);
                return -EINVAL;
        }
        check_secret_permissions(path, cfg, diag);
        return 0;
}

int config_resolve_boot_dir(struct netroot_config *cfg, const char *root)
{
        _cleanup_free_ char *probe = NULL;
        struct stat st;

        if (!streq(cfg->agent.boot_dir, "auto"))
                return 0;
        cfg->agent.boot_dir_auto = true;
        /* Debian's raspi-firmware and Pi OS bookworm keep the firmware's files in
         * /boot/firmware: that is what a netbooted Pi mounts there from its TFTP folder. */
        probe = root_path(root, CONFIG_BOOT_FIRMWARE "/config.txt");
        if (!probe)
                return -ENOMEM;
        strcpy(cfg->agent.boot_dir,
               lstat(probe, &st) == 0 && S_ISREG(st.st_mode) ? CONFIG_BOOT_FIRMWARE : "/boot");
        return 0;
}
