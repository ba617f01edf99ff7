/* netrootctl probe: runs the daemon's out-of-band portal probe by hand, once or N times, on its
 * own event loop, and prints one line per result. */
#include "ctl.h"
#include "fileio.h"
#include "json.h"
#include "probe.h"
#include "rootpath.h"
#include "strbuf.h"
#include "util.h"

#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>

#define PASSWORD_FILE_MAX 4096

struct probe_run {
        sd_event *event;
        struct probe *probe;
        sd_event_source *next;
        char portal[INET6_ADDRSTRLEN + 8];
        const char *target;
        enum probe_mode mode;
        bool json;
        unsigned long count; /* 0 = until interrupted */
        unsigned long done;
        uint64_t interval_usec;
        bool last_ok;
};

static void usage(FILE *out)
{
        fprintf(
            out,
            "Usage: netrootctl probe [OPTIONS]\n\n"
            "Probes the iSCSI portal the way netrootd does, on a session of its own.\n\n"
            "  --portal HOST[:PORT]   portal (default: [iscsi] portal unless auto)\n"
            "  --target IQN           root target (default: [iscsi] target unless auto)\n"
            "  --mode discovery|login SendTargets, or login + TEST UNIT READY + logout\n"
            "                         (default: [iscsi] probe, discovery when off)\n"
            "  --timeout DURATION     per attempt (default: [iscsi] probe_timeout)\n"
            "  --count N              attempts, 0 = until interrupted (default 1)\n"
            "  --interval DURATION    pause between attempts (default 1s)\n"
            "  --username U           CHAP user (default: [iscsi] username)\n"
            "  --password-file F      CHAP secret, first line of F (default: [iscsi] password)\n"
            "  --initiator IQN        initiator name (default " PROBE_INITIATOR_BASE "<hostname>)\n"
            "  --lun N                login mode: LUN for TEST UNIT READY (default: lowest\n"
            "                         non-zero LUN the target reports)\n"
            "  --json                 one JSON object per line\n\n"
            "Exit status: 0 when the last attempt succeeded, 1 when it failed, 2 usage.\n");
}

static void print_result(struct probe_run *run, const struct probe_result *r)
{
        double ms = (double)r->rtt_usec / 1000.0;

        if (run->json) {
                _cleanup_(sb_free) struct strbuf sb = {0};

                sb_printf(&sb, "{\"seq\":%lu,\"ok\":%s,\"rtt_ms\":%.1f,\"mode\":", run->done,
                          r->ok ? "true" : "false", ms);
                json_put_string(&sb, probe_mode_to_string(run->mode));
                sb_puts(&sb, ",\"portal\":");
                json_put_string(&sb, run->portal);
                sb_puts(&sb, ",\"target\":");
                json_put_string(&sb, run->target);
                sb_puts(&sb, ",\"reason\":");
                json_put_string(&sb, r->reason);
                sb_puts(&sb, "}");
                if (!sb.oom)
                        puts(sb_str(&sb));
        } else if (r->ok) {
                printf("ok    rtt %.1f ms  %s %s via portal %s\n", ms,
                       probe_mode_to_string(run->mode), run->target, run->portal);
        } else {
                printf("fail  after %.1f ms  %s\n", ms, r->reason);
        }
        fflush(stdout);
}

static void on_result(struct probe *p _unused_, const struct probe_result *r, void *userdata)
{
        struct probe_run *run = userdata;
        int k;

        run->done++;
        run->last_ok = r->ok;
        print_result(run, r);
        if (run->count && run->done >= run->count) {
                sd_event_exit(run->event, 0);
                return;
        }
        k = sd_event_source_set_time_relative(run->next, run->interval_usec);
        if (k >= 0)
                k = sd_event_source_set_enabled(run->next, SD_EVENT_ONESHOT);
        if (k < 0) {
                fprintf(stderr, "netrootctl probe: timer: %s\n", strerror(-k));
                sd_event_exit(run->event, -k);
        }
}

static int on_next(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        struct probe_run *run = userdata;
        int r = probe_start(run->probe);

        if (r < 0) {
                fprintf(stderr, "netrootctl probe: cannot start: %s\n", strerror(-r));
                sd_event_exit(run->event, -r);
        }
        return 0;
}

static int on_signal(sd_event_source *s _unused_, const struct signalfd_siginfo *si _unused_,
                     void *userdata)
{
        struct probe_run *run = userdata;

        probe_cancel(run->probe);
        sd_event_exit(run->event, EINTR);
        return 0;
}

/* A command-line tool may wait for DNS; the probe engine itself takes numeric addresses only. */
static int resolve_host(const char *name, char *buf, size_t size)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        int r;

        r = getaddrinfo(name, NULL, &hints, &ai);
        if (r != 0) {
                fprintf(stderr, "netrootctl probe: cannot resolve '%s': %s\n", name,
                        gai_strerror(r));
                return -EHOSTUNREACH;
        }
        r = getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(ai);
        return r == 0 ? 0 : -EINVAL;
}

static int read_password(const char *path, char *buf, size_t size)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        char *nl;
        int r;

        r = file_read_all(path, PASSWORD_FILE_MAX, &data, &len);
        if (r < 0) {
                fprintf(stderr, "netrootctl probe: %s: %s\n", path, strerror(-r));
                return r;
        }
        nl = strchr(data, '\n');
        if (nl)
                *nl = '\0';
        str_strip_trailing(data);
        if (strlen(data) >= size || !data[0]) {
                fprintf(stderr, "netrootctl probe: %s: %s\n", path,
                        data[0] ? "password too long" : "empty password");
                explicit_bzero(data, len);
                return -EINVAL;
        }
        snprintf(buf, size, "%s", data);
        explicit_bzero(data, len);
        return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
        fprintf(stderr, "netrootctl probe: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
        return CTL_EXIT_USAGE;
}

enum {
        OPT_PORTAL = 0x100,
        OPT_TARGET,
        OPT_MODE,
        OPT_TIMEOUT,
        OPT_COUNT,
        OPT_INTERVAL,
        OPT_USER,
        OPT_PWFILE,
        OPT_INITIATOR,
        OPT_LUN,
        OPT_JSON
};

/* What the command line asks for; agent.conf fills in the rest. */
struct probe_args {
        const char *portal, *target, *username, *pwfile, *initiator;
        enum probe_mode mode;
        uint64_t timeout_usec;
        int lun;
};

/* One option C with OPTARG. Returns -1 to go on, or the exit code. */
static int take_option(int c, const char *arg, struct probe_args *a, struct probe_run *run)
{
        unsigned long v;

        switch (c) {
        case OPT_PORTAL:
                a->portal = arg;
                return -1;
        case OPT_TARGET:
                a->target = arg;
                return -1;
        case OPT_MODE:
                if (streq(arg, "discovery"))
                        a->mode = PROBE_MODE_DISCOVERY;
                else if (streq(arg, "login"))
                        a->mode = PROBE_MODE_LOGIN;
                else
                        return usage_error("--mode: '%s' is not discovery or login", arg);
                return -1;
        case OPT_TIMEOUT:
                if (config_parse_duration(arg, &a->timeout_usec) < 0 || a->timeout_usec == 0)
                        return usage_error("--timeout: bad duration '%s'", arg);
                return -1;
        case OPT_COUNT:
                return parse_uint(arg, &run->count) < 0
                           ? usage_error("--count: '%s' is not a number", arg)
                           : -1;
        case OPT_INTERVAL:
                return config_parse_duration(arg, &run->interval_usec) < 0
                           ? usage_error("--interval: bad duration '%s'", arg)
                           : -1;
        case OPT_USER:
                a->username = arg;
                return -1;
        case OPT_PWFILE:
                a->pwfile = arg;
                return -1;
        case OPT_INITIATOR:
                a->initiator = arg;
                return -1;
        case OPT_LUN:
                if (parse_uint(arg, &v) < 0 || v > 16383)
                        return usage_error("--lun: '%s' is not a LUN (0-16383)", arg);
                a->lun = (int)v;
                return -1;
        case OPT_JSON:
                run->json = true;
                return -1;
        case 'h':
                usage(stdout);
                return CTL_EXIT_OK;
        default:
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
}

static int parse_args(int argc, char **argv, struct probe_args *a, struct probe_run *run)
{
        static const struct option options[] = {
            {"portal", required_argument, NULL, OPT_PORTAL},
            {"target", required_argument, NULL, OPT_TARGET},
            {"mode", required_argument, NULL, OPT_MODE},
            {"timeout", required_argument, NULL, OPT_TIMEOUT},
            {"count", required_argument, NULL, OPT_COUNT},
            {"interval", required_argument, NULL, OPT_INTERVAL},
            {"username", required_argument, NULL, OPT_USER},
            {"password-file", required_argument, NULL, OPT_PWFILE},
            {"initiator", required_argument, NULL, OPT_INITIATOR},
            {"lun", required_argument, NULL, OPT_LUN},
            {"json", no_argument, NULL, OPT_JSON},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                r = take_option(c, optarg, a, run);
                if (r >= 0)
                        return r;
        }
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        return -1;
}

/* agent.conf fills what the options left out; the portal is split, the password read.
 * Returns -1 to go on, or the exit code. */
static int complete_args(const struct iscsi_config *ic, struct probe_args *a, char *host,
                         size_t host_size, uint16_t *port, char *password, size_t pw_size)
{
        if (!a->portal && !streq(ic->portal, "auto"))
                a->portal = ic->portal;
        if (!a->target && !streq(ic->target, "auto"))
                a->target = ic->target;
        if (str_empty(a->portal))
                return usage_error("%s", "no portal: give --portal (the configuration says auto)");
        if (str_empty(a->target))
                return usage_error("%s", "no target: give --target (the configuration says auto)");
        if (probe_parse_portal(a->portal, host, host_size, port) < 0)
                return usage_error("--portal: '%s' is not HOST[:PORT]", a->portal);
        if (!a->username && ic->username[0])
                a->username = ic->username;
        password[0] = '\0';
        if (a->pwfile) {
                if (read_password(a->pwfile, password, pw_size) < 0)
                        return CTL_EXIT_USAGE;
        } else {
                snprintf(password, pw_size, "%s", ic->password);
        }
        if (!str_empty(a->username) && !password[0])
                return usage_error("CHAP user '%s' has no password (--password-file)", a->username);
        return -1;
}

/* The probes on an event loop until COUNT are done or a signal comes. PASSWORD is wiped. */
static int run_probes(struct probe_run *run, const struct probe_params *params, char *password,
                      size_t pw_size)
{
        int r, exit_code;

        r = sd_event_new(&run->event);
        if (r < 0)
                goto out;
        r = probe_new(run->event, params, on_result, run, &run->probe);
        explicit_bzero(password, pw_size);
        if (r == -EINVAL) {
                fprintf(stderr, "netrootctl probe: invalid target, initiator or CHAP settings\n");
                sd_event_unref(run->event);
                return CTL_EXIT_USAGE;
        }
        if (r < 0)
                goto out;
        r = sd_event_add_time_relative(run->event, &run->next, CLOCK_MONOTONIC, 0, 1000, on_next,
                                       run);
        if (r < 0)
                goto out;
        r = sd_event_add_signal(run->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_signal,
                                run);
        if (r >= 0)
                r = sd_event_add_signal(run->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK,
                                        on_signal, run);
        if (r < 0)
                goto out;
        r = sd_event_loop(run->event);
        if (r == EINTR)
                fprintf(stderr, "netrootctl probe: interrupted after %lu attempt(s)\n", run->done);
out:
        explicit_bzero(password, pw_size);
        if (r < 0)
                fprintf(stderr, "netrootctl probe: %s\n", strerror(-r));
        exit_code = r == 0 && run->done > 0 && run->last_ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
        probe_free(run->probe);
        sd_event_source_disable_unref(run->next);
        sd_event_unref(run->event);
        return exit_code;
}

int ctl_probe(struct ctl_context *ctx, int argc, char **argv)
{
        const struct iscsi_config *ic = &ctx->cfg.iscsi;
        char host[256], addr[INET6_ADDRSTRLEN], password[CONFIG_VALUE_MAX];
        struct probe_run run = {.count = 1, .interval_usec = 1000000};
        struct probe_params params = {0};
        struct probe_args a = {
            .mode = ic->probe == PROBE_MODE_OFF ? PROBE_MODE_DISCOVERY : ic->probe,
            .timeout_usec = ic->probe_timeout_usec,
            .lun = PROBE_LUN_AUTO,
        };
        uint16_t port;
        int r;

        r = parse_args(argc, argv, &a, &run);
        if (r < 0)
                r = complete_args(ic, &a, host, sizeof(host), &port, password, sizeof(password));
        if (r >= 0)
                return r;
        if (resolve_host(host, addr, sizeof(addr)) < 0) {
                explicit_bzero(password, sizeof(password));
                return CTL_EXIT_FAILED;
        }
        params = (struct probe_params){
            .host = addr,
            .port = port,
            .target = a.target,
            .initiator = a.initiator,
            .username = a.username,
            .password = str_empty(a.username) ? NULL : password,
            .mode = a.mode,
            .timeout_usec = a.timeout_usec,
            .lun = a.lun,
        };
        probe_format_portal(addr, port, run.portal, sizeof(run.portal));
        run.target = a.target;
        run.mode = a.mode;
        return run_probes(&run, &params, password, sizeof(password));
}
