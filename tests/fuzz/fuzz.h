/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_<name>.c, built by tests/fuzz/run.sh).
 * An invariant that does not hold aborts, so libFuzzer keeps the input as a crash. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): the harnesses must check with NDEBUG too, and say which invariant broke. */
#define FUZZ_CHECK(cond, ...)                                                                      \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__,       \
                                #cond);                                                            \
                        fprintf(stderr, __VA_ARGS__);                                              \
                        fputc('\n', stderr);                                                       \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* A fixed-size char array holds a terminated string. */
#define FUZZ_TERMINATED(arr) FUZZ_CHECK(memchr((arr), '\0', sizeof(arr)) != NULL, "%s", #arr)

/* A NUL-terminated copy of the input: most parsers take C strings. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

/* A scratch folder for the whole fuzzing process (libFuzzer runs inputs in one process).
 * Removed by nobody: it lives under $TMPDIR, which run.sh points into build-fuzz/. */
static inline const char *fuzz_tmpdir(void)
{
        static char dir[256];

        if (!dir[0]) {
                const char *base = getenv("TMPDIR");

                snprintf(dir, sizeof(dir), "%s/netroot-fuzz.XXXXXX", base ? base : "/tmp");
                if (!mkdtemp(dir))
                        abort();
        }
        return dir;
}

/* Writes DATA to PATH, replacing it; aborts on failure (the harness, not the agent, broke). */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
        FILE *f = fopen(path, "w");

        if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
                perror(path);
                abort();
        }
}

/* Input splitting: the next piece of *DATA up to SEP (not included); the rest stays. */
static inline size_t fuzz_take(const uint8_t **data, size_t *size, uint8_t sep,
                               const uint8_t **piece)
{
        const uint8_t *end = memchr(*data, sep, *size);
        size_t n = end ? (size_t)(end - *data) : *size;

        *piece = *data;
        *data += n + (end ? 1 : 0);
        *size -= n + (end ? 1 : 0);
        return n;
}

/* S (length N) ends with T (length M). */
static inline bool streq_tail(const char *s, size_t n, const char *t, size_t m)
{
        return n >= m && memcmp(s + n - m, t, m) == 0;
}
