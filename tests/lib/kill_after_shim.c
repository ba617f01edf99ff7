/* kill_after_shim.so: a test tool (LD_PRELOAD). Counts the calls that change the file system
 * and raises SIGKILL right after call number $KILL_AT returned (0 or unset: never). Writes to
 * stdin/stdout/stderr do not count. With KILL_COALESCE_WRITES=1 a write to the same fd as the
 * call counted just before it is not counted again: a kill between two writes of one file leaves
 * the same kind of state (a partly written file) as a kill after its first write. The count of a
 * whole run goes to $KILL_COUNT_FILE at exit when set. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static long calls;
static int last_write_fd = -1;

static void counted(int write_fd)
{
        static long at = -1;
        static int coalesce = -1;

        if (at < 0) {
                const char *e = getenv("KILL_AT"), *c = getenv("KILL_COALESCE_WRITES");
                at = e ? atol(e) : 0;
                coalesce = c && c[0] == '1';
        }
        if (coalesce && write_fd >= 0 && write_fd == last_write_fd)
                return;
        last_write_fd = write_fd;
        if (at > 0 && ++calls == at)
                raise(SIGKILL);
        if (at == 0)
                calls++;
}

__attribute__((destructor)) static void report(void)
{
        const char *f = getenv("KILL_COUNT_FILE");
        FILE *out;

        if (!f || !(out = fopen(f, "w")))
                return;
        fprintf(out, "%ld\n", calls);
        fclose(out);
}

#define WRAP(ret, fn, params, args, cond, wfd)                                                     \
        ret fn params                                                                              \
        {                                                                                          \
                static __typeof__(fn) *real;                                                       \
                if (!real)                                                                         \
                        real = (__typeof__(fn) *)dlsym(RTLD_NEXT, #fn);                            \
                ret r = real args;                                                                 \
                if (cond)                                                                          \
                        counted(wfd);                                                              \
                return r;                                                                          \
        }

WRAP(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n), fd > 2, fd)
WRAP(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), fd > 2, fd)
WRAP(int, renameat, (int a, const char *b, int c, const char *d), (a, b, c, d), 1, -1)
WRAP(int, renameat2, (int a, const char *b, int c, const char *d, unsigned f), (a, b, c, d, f), 1, -1)
WRAP(int, rename, (const char *a, const char *b), (a, b), 1, -1)
WRAP(int, linkat, (int a, const char *b, int c, const char *d, int f), (a, b, c, d, f), 1, -1)
WRAP(int, unlinkat, (int a, const char *b, int f), (a, b, f), 1, -1)
WRAP(int, unlink, (const char *a), (a), 1, -1)
WRAP(int, mkdirat, (int a, const char *b, mode_t m), (a, b, m), 1, -1)
WRAP(int, mkdir, (const char *a, mode_t m), (a, m), 1, -1)
WRAP(int, fsync, (int fd), (fd), 1, -1)
