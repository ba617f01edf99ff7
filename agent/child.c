#include "child.h"

#include "fileio.h"
#include "util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static char *const fixed_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root",
                                  NULL};

void spawn_result_free(struct spawn_result *r)
{
        free(r->out);
        r->out = NULL;
}

static double now_sec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In the child: only async-signal-safe calls from here on. */
_Noreturn static void child(const struct spawn_options *o, int in, int out, int err)
{
        static const char *const dirs[] = {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"};
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < NSIG; s++)
                signal(s, SIG_DFL);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                _exit(126);
        close_range(3, ~0U, 0);
        if (o->chroot && (chroot(o->chroot) < 0 || chdir("/") < 0))
                _exit(126);
        if (o->argv[0][0] == '/') {
                execve(o->argv[0], o->argv, fixed_env);
        } else {
                for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                        char path[256];
                        size_t a = strlen(dirs[i]), b = strlen(o->argv[0]);

                        if (a + b + 1 > sizeof(path))
                                break;
                        memcpy(path, dirs[i], a);
                        memcpy(path + a, o->argv[0], b + 1);
                        execve(path, o->argv, fixed_env);
                }
        }
        _exit(127);
}

static int open_log(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

        return fd < 0 ? -errno : fd;
}

/* Starts the child; *CAPTURE gets the read end of the stdout pipe when stdout is captured. */
static int start(const struct spawn_options *o, pid_t *pid, int *capture)
{
        _cleanup_close_ int null_in = -1, null_out = -1, log = -1, pr = -1, pw = -1;
        int in = o->in_fd, out = o->out_fd, err = o->err_fd;

        *capture = -1;
        if (in <= 0) {
                null_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null_in < 0)
                        return -errno;
                in = null_in;
        }
        if (o->log_path) {
                log = open_log(o->log_path);
                if (log < 0)
                        return log;
                out = log;
        } else if (out == SPAWN_NULL) {
                null_out = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null_out < 0)
                        return -errno;
                out = null_out;
        } else if (out <= 0) {
                int p[2];

                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                pr = p[0];
                pw = p[1];
                out = pw;
        }
        if (err == SPAWN_NULL) {
                if (null_out < 0)
                        null_out = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null_out < 0)
                        return -errno;
                err = null_out;
        } else if (err <= 0) {
                err = out;
        }
        *pid = fork();
        if (*pid < 0)
                return -errno;
        if (*pid == 0)
                child(o, in, out, err);
        *capture = TAKE_FD(pr);
        return 0;
}

int spawn_start(const struct spawn_options *o, pid_t *pid)
{
        int capture, r = start(o, pid, &capture);

        if (capture >= 0)
                close(capture); /* a streaming caller passes its own out_fd */
        return r;
}

static void set_status(struct spawn_result *r, int status)
{
        r->exited = WIFEXITED(status);
        r->code = r->exited ? WEXITSTATUS(status) : -1;
        r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

int spawn_wait(pid_t pid, struct spawn_result *r)
{
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        set_status(r, status);
        return 0;
}

/* The last line-ish of TEXT into TAIL, control characters as spaces. */
static void keep_tail(const char *text, size_t len, char *tail)
{
        size_t start = len > SPAWN_TAIL_MAX - 200 ? len - (SPAWN_TAIL_MAX - 200) : 0;

        snprintf(tail, SPAWN_TAIL_MAX, "%.*s", (int)(len - start), text + start);
        for (char *c = tail; *c; c++)
                if ((unsigned char)*c < 0x20)
                        *c = ' ';
        str_strip_trailing(tail);
}

static void read_capture(int fd, const struct spawn_options *o, struct spawn_result *r)
{
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0)
                return;
        if (r->out_len < o->capture_max) {
                size_t take = (size_t)n;
                char *grown;

                if (take > o->capture_max - r->out_len)
                        take = o->capture_max - r->out_len;
                grown = realloc(r->out, r->out_len + take + 1);
                if (!grown)
                        return;
                r->out = grown;
                memcpy(r->out + r->out_len, buf, take);
                r->out_len += take;
                r->out[r->out_len] = '\0';
        }
}

int spawn_run(const struct spawn_options *o, struct spawn_result *r)
{
        _cleanup_close_ int capture = -1;
        double t0 = now_sec(), last_tick;
        int status = 0, k;
        pid_t pid;

        memset(r, 0, sizeof(*r));
        k = start(o, &pid, &capture);
        if (k < 0)
                return k;
        last_tick = t0;
        for (;;) {
                struct pollfd pfd = {.fd = capture, .events = POLLIN};
                double now = now_sec();
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR)
                        return -errno;
                if (o->timeout_ms && (now - t0) * 1000 >= o->timeout_ms && !r->timed_out) {
                        r->timed_out = true;
                        kill(pid, SIGKILL);
                }
                if (o->tick && o->tick_ms && (now - last_tick) * 1000 >= o->tick_ms) {
                        last_tick = now;
                        o->tick(o->userdata, now - t0);
                }
                if (capture >= 0) {
                        if (poll(&pfd, 1, 50) > 0) {
                                if (pfd.revents & POLLIN)
                                        read_capture(capture, o, r);
                                else if (pfd.revents & (POLLHUP | POLLERR))
                                        closep(&capture), capture = -1;
                        }
                } else {
                        struct timespec ts = {0, 50 * 1000 * 1000};
                        nanosleep(&ts, NULL);
                }
        }
        while (capture >= 0) {
                size_t before = r->out_len;
                struct pollfd pfd = {.fd = capture, .events = POLLIN};

                if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
                        break;
                read_capture(capture, o, r);
                if (r->out_len == before)
                        break;
        }
        set_status(r, status);
        r->seconds = now_sec() - t0;
        if (r->out)
                keep_tail(r->out, r->out_len, r->tail);
        else if (o->log_path) {
                _cleanup_free_ char *log = NULL;
                size_t len = 0;

                if (file_read_all(o->log_path, 4 * 1024 * 1024, &log, &len) == 0 && len)
                        keep_tail(log, len, r->tail);
        }
        return 0;
}

void spawn_describe(const struct spawn_result *r, char *buf, size_t size)
{
        if (r->timed_out)
                snprintf(buf, size, "timed out after %.1f s", r->seconds);
        else if (r->exited)
                snprintf(buf, size, "exited with %d", r->code);
        else
                snprintf(buf, size, "killed by signal %d", r->signal);
}

bool spawn_ok(const struct spawn_result *r)
{
        return r->exited && r->code == 0 && !r->timed_out;
}
