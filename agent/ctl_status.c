/* netrootctl status: what netrootd last published in <run_dir>/status.json, and whether the
 * daemon that wrote it is still there. */
#include "ctl.h"
#include "fileio.h"
#include "json.h"
#include "status_doc.h"
#include "rootpath.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <time.h>

#define STATUS_FILE_MAX (1024 * 1024)

static bool pid_alive(double pid)
{
        if (pid < 1 || pid > 4194304)
                return false;
        return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static void format_time(double t, char *buf, size_t size)
{
        time_t tt;
        struct tm tm;

        /* The file may hold any number: convert only what fits (beyond year 9999 is junk). */
        if (!(t > 0 && t < 253402300800.0) || (tt = (time_t)t, !localtime_r(&tt, &tm)) ||
            !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
                snprintf(buf, size, "unknown time");
}

/* Adds "running" (is the writer alive) to the document so scripts need not check the pid. */
static int add_running_member(struct json_value *doc, bool running)
{
        struct json_value *m = calloc(1, sizeof(*m)), **tail = &doc->child;

        if (!m || !(m->key = strdup("running"))) {
                free(m);
                return -ENOMEM;
        }
        m->type = JSON_BOOL;
        m->boolean = running;
        while (*tail)
                tail = &(*tail)->next;
        *tail = m;
        return 0;
}

static void print_reasons(const struct json_value *doc)
{
        /* Through the one reader of the schema: it takes the {code, text} objects and the plain
         * strings of older daemons. */
        const struct status_doc d = {.json = (struct json_value *)doc};
        const char *text, *code;
        size_t i;

        for (i = 0; (text = status_doc_reason(&d, i, &code)); i++)
                printf("  reason:  %s%s%s%s\n", text, code[0] ? " [" : "", code,
                       code[0] ? "]" : "");
        if (!i)
                printf("  reasons: none\n");
}

static void print_led(const struct json_value *doc)
{
        const struct json_value *led = json_get(doc, "led");

        if (!json_get_bool(led, "enabled", true))
                printf("  LED:     disabled in the configuration\n");
        else if (!json_get_bool(led, "present", false))
                printf("  LED:     no activity LED found\n");
        else
                printf("  LED:     %s, trigger %s (was %s at start)\n",
                       json_get_string(led, "device", "?"), json_get_string(led, "trigger", "?"),
                       json_get_string(led, "original", "?"));
}

static void print_ipv6(const struct json_value *doc)
{
        const struct json_value *v6 = json_get(doc, "ipv6");
        const char *mode = json_get_string(v6, "mode", "?");
        const char *err = json_get_string(v6, "error", "");

        if (!json_get_bool(v6, "available", false))
                printf("  IPv6:    mode %s; the kernel has no IPv6 (nothing to enforce)\n", mode);
        else if (streq(mode, "keep"))
                printf("  IPv6:    mode keep (not managed)\n");
        else
                printf("  IPv6:    mode %s, %s, %.0f drift correction(s)%s%s\n", mode,
                       json_get_bool(v6, "applied", false) ? "applied" : "NOT applied",
                       json_get_number(v6, "corrections", 0), *err ? "; error: " : "", err);
}

/* Only when something is missing from the journal: that is when an admin needs to know. */
static void print_log(const struct json_value *doc)
{
        const struct json_value *l = json_get(doc, "log");
        double dropped = json_get_number(l, "dropped", 0);

        if (dropped > 0)
                printf("  log:     %.0f message(s) dropped while the %s was not reading\n", dropped,
                       streq(json_get_string(l, "target", ""), "journal") ? "journal"
                                                                          : "log stream");
}

static void print_session(const struct json_value *doc)
{
        const struct json_value *s = json_get(doc, "session");
        const char *events = json_get_string(s, "events", "");

        if (!s)
                return;
        if (!json_get_bool(s, "watched", false))
                printf("  session: not watched (no /proc/self/mountinfo)\n");
        else if (!json_get_bool(s, "present", false))
                printf("  session: no iSCSI session carries /\n");
        else
                printf("  session: session%.0f %s, target %s, disk %s %s, recovery_tmo %.0f s\n",
                       json_get_number(s, "sid", 0), json_get_string(s, "state", "?"),
                       json_get_string(s, "target", "?"), json_get_string(s, "disk", "?"),
                       json_get_string(s, "disk_state", "?"),
                       json_get_number(s, "recovery_tmo", -1));
        if (*events && !streq(events, "netlink"))
                printf("           %s\n", events);
}

static void print_link(const struct json_value *doc)
{
        const struct json_value *l = json_get(doc, "link");

        if (!l || !json_get_bool(l, "known", false))
                return;
        printf("  link:    %s %s, %s, IPv4 %s\n", json_get_string(l, "interface", "?"),
               json_get_bool(l, "up", false) ? "up" : "DOWN",
               json_get_bool(l, "carrier", false) ? "carrier" : "NO CARRIER",
               *json_get_string(l, "ipv4", "") ? json_get_string(l, "ipv4", "") : "none");
}

static void print_probe(const struct json_value *doc)
{
        const struct json_value *p = json_get(doc, "probe");
        const char *err;

        if (!p)
                return;
        if (!json_get_bool(p, "running", false)) {
                printf("  probe:   not running: %s\n",
                       json_get_string(p, "not_running_because", "?"));
                return;
        }
        err = json_get_string(p, "last_error", "");
        printf("  probe:   %s of %s at %s: %s, %.0f probes, %.0f failed\n",
               json_get_string(p, "mode", "?"), json_get_string(p, "target", "?"),
               json_get_string(p, "portal", "?"),
               json_get_bool(p, "last_ok", false) ? "last ok" : (*err ? err : "no result yet"),
               json_get_number(p, "probes", 0), json_get_number(p, "failures", 0));
        if (json_get_bool(p, "last_ok", false))
                printf("           round trip %.1f ms\n", json_get_number(p, "rtt_ms", 0));
        if (*json_get_string(p, "initiator", ""))
                printf("           as initiator %s\n", json_get_string(p, "initiator", ""));
}

static void print_human(const struct json_value *doc, bool running, const char *path)
{
        double pid = json_get_number(doc, "pid", 0);
        char when[64];

        format_time(json_get_number(doc, "updated", 0), when, sizeof(when));
        if (running)
                printf("netrootd: running (pid %.0f), state %s since %s\n", pid,
                       json_get_string(doc, "state", "UNKNOWN"), when);
        else
                printf("netrootd: NOT running (pid %.0f is gone); the last status it wrote "
                       "(%s, at %s) is stale:\n",
                       pid, path, when);
        print_reasons(doc);
        print_session(doc);
        print_link(doc);
        print_probe(doc);
        print_led(doc);
        print_ipv6(doc);
        print_log(doc);
}

/* True when PATH says OK and its writer is alive. */
static bool status_ok_now(const char *path)
{
        _cleanup_free_ char *text = NULL;
        struct json_value *doc = NULL;
        char err[128];
        size_t len;
        bool ok;

        if (file_read_regular(path, STATUS_FILE_MAX, &text, &len) < 0 ||
            json_parse(text, len, &doc, err, sizeof(err)) < 0)
                return false;
        ok = pid_alive(json_get_number(doc, "pid", 0)) &&
             streq(json_get_string(doc, "state", ""), "OK");
        json_free(doc);
        return ok;
}

/* --wait: the boot-assessment unit waits here until the iSCSI root is healthy (or gives up). */
static void wait_for_ok(const char *path, uint64_t timeout_usec)
{
        struct timespec start, now;

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                if (status_ok_now(path))
                        return;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((uint64_t)(now.tv_sec - start.tv_sec) * 1000000ULL +
                        (uint64_t)((now.tv_nsec - start.tv_nsec) / 1000) >=
                    timeout_usec)
                        return;
                usleep(200000);
        }
}

int ctl_status(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, 'j'},
            {"wait", required_argument, NULL, 'w'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        uint64_t wait_usec = 0;
        _cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
        struct json_value *doc = NULL;
        char err[128];
        bool json = false, running, ok;
        size_t len;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                if (c == 'j') {
                        json = true;
                } else if (c == 'w' && config_parse_duration(optarg, &wait_usec) == 0) {
                        continue;
                } else {
                        fprintf(c == 'h' ? stdout : stderr,
                                "Usage: netrootctl status [--json] [--wait DURATION]\n");
                        return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
                }
        }
        dir = root_path(ctx->root, ctx->cfg.agent.run_dir);
        if (!dir || asprintf(&path, "%s/status.json", dir) < 0)
                return CTL_EXIT_FAILED;
        if (wait_usec)
                wait_for_ok(path, wait_usec);
        r = file_read_regular(path, STATUS_FILE_MAX, &text, &len);
        if (r == -ENOENT) {
                if (json)
                        printf("{\"running\": false, \"state\": \"UNKNOWN\"}\n");
                else
                        printf("netrootd: not running (no %s)\n", path);
                return CTL_EXIT_FAILED;
        }
        if (r < 0 || json_parse(text, len, &doc, err, sizeof(err)) < 0 ||
            doc->type != JSON_OBJECT) {
                fprintf(stderr, "netrootctl: %s: %s\n", path,
                        r < 0 ? strerror(-r)
                        : doc ? "not a JSON object"
                              : err);
                json_free(doc);
                return CTL_EXIT_FAILED;
        }
        running = pid_alive(json_get_number(doc, "pid", 0));
        ok = running && streq(json_get_string(doc, "state", ""), "OK");
        if (json) {
                struct strbuf sb = {0};

                if (add_running_member(doc, running) == 0) {
                        json_write(&sb, doc, 0);
                        printf("%s\n", sb_str(&sb));
                }
                sb_free(&sb);
        } else {
                print_human(doc, running, path);
                /* Which folder the upgrade and doctor work on: /boot or /boot/firmware. */
                printf("  boot:    %s%s\n", ctx->cfg.agent.boot_dir,
                       ctx->cfg.agent.boot_dir_auto ? " (boot_dir = auto)" : "");
        }
        json_free(doc);
        return ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
