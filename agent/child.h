/* Child processes, one way: a fixed environment (PATH=/usr/sbin:/usr/bin:/sbin:/bin, LC_ALL=C,
 * HOME=/root: nothing of the caller's environment, which may be apt's or a shell's), signals
 * back to their defaults, no descriptor but stdin/stdout/stderr inherited, optionally inside a
 * chroot (a --root tree that is a full system), and for long runs a tick callback (progress
 * lines, systemd's EXTEND_TIMEOUT_USEC) and a timeout. The tail of what the child wrote is kept
 * for the message that says why it failed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SPAWN_TAIL_MAX 600
#define SPAWN_NULL     (-2)

struct spawn_options {
        char *const *argv;  /* argv[0]: an absolute path, or a name found in the fixed PATH */
        const char *chroot; /* NULL: none */
        /* 0 (the default of a zeroed struct): /dev/null for stdin; stdout captured (see
         * capture_max) or to log_path; stderr where stdout goes. SPAWN_NULL: /dev/null. */
        int in_fd;
        int out_fd;
        int err_fd;
        const char *log_path; /* stdout and stderr to this new file (never through a symlink) */
        size_t capture_max;   /* out_fd 0 and no log: keep up to this much of stdout */
        unsigned timeout_ms;  /* 0: none; the child is killed when it runs longer */
        unsigned tick_ms;     /* call tick every TICK_MS while the child runs */
        void (*tick)(void *userdata, double elapsed_sec);
        void *userdata;
};

struct spawn_result {
        bool exited;
        int code;   /* exit status when exited */
        int signal; /* killing signal when not */
        bool timed_out;
        double seconds;
        char *out; /* captured stdout (malloc'ed, NUL-terminated), NULL when not captured */
        size_t out_len;
        char tail[SPAWN_TAIL_MAX]; /* the end of the log or of the captured output, one line */
};

void spawn_result_free(struct spawn_result *r);

/* Runs the child to its end. Returns 0 when it ran (R says how it ended), or a negative errno
 * when it could not be started. */
int spawn_run(const struct spawn_options *o, struct spawn_result *r);

/* Starts the child and returns at once (for a caller that reads its stdout through a pipe it
 * passed as out_fd); spawn_wait() collects it. */
int spawn_start(const struct spawn_options *o, pid_t *pid);
int spawn_wait(pid_t pid, struct spawn_result *r);

/* "exited with 1", "killed by signal 9", "timed out after 5.0 s". */
void spawn_describe(const struct spawn_result *r, char *buf, size_t size);

/* True when it exited with status 0. */
bool spawn_ok(const struct spawn_result *r);
