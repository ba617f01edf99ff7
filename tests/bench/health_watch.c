/* Bench helper for tests/bench/health.sh (built by it into its temp dir; not part of the agent).
 *
 *   health_watch watch ROOT
 *       Watches ROOT/run/netroot/status.json and ROOT/sys/class/leds/ACT/trigger with inotify and
 *       prints one line per observation, CLOCK_MONOTONIC nanoseconds first:
 *         <ns> status <STATE>     every time status.json is replaced (a rename onto it)
 *         <ns> led <TRIGGER>      every time the active trigger changes
 *         <ns> mark <WORD>        for every "mark WORD" line read on stdin (EOF: exit)
 *         <ns> link <IFINDEX> <up|down> <carrier|nocarrier>
 *                                 RTM_NEWLINK in the watcher's network namespace, when a link's
 *                                 IFF_UP or IFF_LOWER_UP changed: when the kernel told userspace
 *       The time is taken as soon as poll() returns, before the file is read.
 *
 *   health_watch rusage OUTFILE CMD [ARGS...]
 *       Runs CMD, waits for it and writes to OUTFILE what the kernel accounted for CMD and every
 *       descendant it reaped: "utime_ns stime_ns nvcsw nivcsw maxrss_kib elapsed_ns".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return -1;
        n = fread(buf, 1, size - 1, f);
        fclose(f);
        buf[n] = '\0';
        return (ssize_t)n;
}

/* "state": "OK" -> OK */
static int status_state(const char *path, char *out, size_t size)
{
        char buf[16384], *p, *q;

        if (read_file(path, buf, sizeof(buf)) <= 0)
                return -1;
        p = strstr(buf, "\"state\"");
        if (!p || !(p = strchr(p + 7, '"')))
                return -1;
        q = strchr(++p, '"');
        if (!q || (size_t)(q - p) >= size)
                return -1;
        memcpy(out, p, (size_t)(q - p));
        out[q - p] = '\0';
        return 0;
}

/* A plain file holding one trigger (the sandbox) or the kernel's list with [active]. */
static int led_trigger(const char *path, char *out, size_t size)
{
        char buf[4096], *p = buf, *q;

        if (read_file(path, buf, sizeof(buf)) <= 0)
                return -1;
        if ((q = strchr(buf, '['))) {
                p = q + 1;
                q = strchr(p, ']');
        } else {
                while (*p == ' ' || *p == '\n')
                        p++;
                q = p + strcspn(p, " \n");
        }
        if (!q || q == p || (size_t)(q - p) >= size)
                return -1;
        memcpy(out, p, (size_t)(q - p));
        out[q - p] = '\0';
        return 0;
}

#define MAX_IFINDEX 4096
static unsigned last_flags[MAX_IFINDEX];

static void read_links(int nl, uint64_t t)
{
        char buf[16384] __attribute__((aligned(__alignof__(struct nlmsghdr))));
        ssize_t n;

        while ((n = recv(nl, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
                     h = NLMSG_NEXT(h, n)) {
                        struct ifinfomsg *ifi = NLMSG_DATA(h);
                        unsigned f;

                        if (h->nlmsg_type != RTM_NEWLINK || ifi->ifi_index <= 0 ||
                            ifi->ifi_index >= MAX_IFINDEX)
                                continue;
                        f = (ifi->ifi_flags & (IFF_UP | IFF_LOWER_UP)) | 0x80000000u;
                        if (f == last_flags[ifi->ifi_index])
                                continue;
                        last_flags[ifi->ifi_index] = f;
                        printf("%llu link %d %s %s\n", (unsigned long long)t, ifi->ifi_index,
                               f & IFF_UP ? "up" : "down",
                               f & IFF_LOWER_UP ? "carrier" : "nocarrier");
                }
        }
}

static int cmd_watch(const char *root)
{
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
        int nl;
        char run_dir[4096], led_dir[4096], status_path[4200], trig_path[4200];
        char last_led[64] = "", cur[64], line[256];
        char evbuf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        int fd, wd_run, wd_led;
        FILE *in = stdin;

        snprintf(run_dir, sizeof(run_dir), "%s/run/netroot", root);
        snprintf(led_dir, sizeof(led_dir), "%s/sys/class/leds/ACT", root);
        snprintf(status_path, sizeof(status_path), "%s/status.json", run_dir);
        snprintf(trig_path, sizeof(trig_path), "%s/trigger", led_dir);
        setvbuf(stdout, NULL, _IOLBF, 0);

        fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0)
                return perror("inotify_init1"), 1;
        wd_run = inotify_add_watch(fd, run_dir, IN_MOVED_TO | IN_CLOSE_WRITE);
        wd_led = inotify_add_watch(fd, led_dir, IN_MODIFY | IN_CLOSE_WRITE);
        if (wd_run < 0 || wd_led < 0)
                return fprintf(stderr, "inotify_add_watch %s, %s: %m\n", run_dir, led_dir), 1;

        nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (nl < 0 || bind(nl, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return perror("netlink"), 1;
        if (status_state(status_path, cur, sizeof(cur)) == 0)
                printf("%llu status %s\n", (unsigned long long)now_ns(), cur);
        if (led_trigger(trig_path, last_led, sizeof(last_led)) == 0)
                printf("%llu led %s\n", (unsigned long long)now_ns(), last_led);
        printf("%llu ready\n", (unsigned long long)now_ns());

        for (;;) {
                struct pollfd pfd[3] = {{.fd = fd, .events = POLLIN},
                                        {.fd = fileno(in), .events = POLLIN},
                                        {.fd = nl, .events = POLLIN}};
                uint64_t t;
                ssize_t n;

                if (poll(pfd, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return perror("poll"), 1;
                }
                t = now_ns();
                if (pfd[2].revents & POLLIN)
                        read_links(nl, t);
                if (pfd[0].revents & POLLIN) {
                        int saw_status = 0, saw_led = 0;

                        while ((n = read(fd, evbuf, sizeof(evbuf))) > 0) {
                                for (char *p = evbuf; p < evbuf + n;) {
                                        struct inotify_event *ev = (struct inotify_event *)p;

                                        if (ev->len && ev->wd == wd_run &&
                                            !strcmp(ev->name, "status.json") &&
                                            (ev->mask & IN_MOVED_TO))
                                                saw_status = 1;
                                        if (ev->len && ev->wd == wd_led &&
                                            !strcmp(ev->name, "trigger"))
                                                saw_led = 1;
                                        p += sizeof(*ev) + ev->len;
                                }
                        }
                        if (saw_status && status_state(status_path, cur, sizeof(cur)) == 0)
                                printf("%llu status %s\n", (unsigned long long)t, cur);
                        if (saw_led && led_trigger(trig_path, cur, sizeof(cur)) == 0 &&
                            strcmp(cur, last_led)) {
                                snprintf(last_led, sizeof(last_led), "%s", cur);
                                printf("%llu led %s\n", (unsigned long long)t, cur);
                        }
                }
                if (pfd[1].revents & (POLLIN | POLLHUP)) {
                        if (!fgets(line, sizeof(line), in))
                                return 0;
                        line[strcspn(line, "\n")] = '\0';
                        if (!strncmp(line, "mark ", 5))
                                printf("%llu mark %s\n", (unsigned long long)t, line + 5);
                }
        }
}

static int cmd_rusage(const char *out, char **argv)
{
        struct rusage ru;
        uint64_t t0 = now_ns(), t1;
        pid_t pid;
        int st;
        FILE *f;

        pid = fork();
        if (pid < 0)
                return perror("fork"), 1;
        if (pid == 0) {
                execvp(argv[0], argv);
                perror(argv[0]);
                _exit(127);
        }
        /* The bench stops the command with a file, never with a signal to us. */
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return perror("waitpid"), 1;
        t1 = now_ns();
        getrusage(RUSAGE_CHILDREN, &ru);
        f = fopen(out, "we");
        if (!f)
                return perror(out), 1;
        fprintf(f, "%llu %llu %ld %ld %ld %llu\n",
                (unsigned long long)ru.ru_utime.tv_sec * 1000000000ULL +
                        (unsigned long long)ru.ru_utime.tv_usec * 1000ULL,
                (unsigned long long)ru.ru_stime.tv_sec * 1000000000ULL +
                        (unsigned long long)ru.ru_stime.tv_usec * 1000ULL,
                ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_maxrss, (unsigned long long)(t1 - t0));
        fclose(f);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
        if (argc == 3 && !strcmp(argv[1], "watch"))
                return cmd_watch(argv[2]);
        if (argc >= 4 && !strcmp(argv[1], "rusage"))
                return cmd_rusage(argv[2], argv + 3);
        fprintf(stderr, "usage: %s watch ROOT | rusage OUTFILE CMD [ARGS...]\n", argv[0]);
        return 2;
}
