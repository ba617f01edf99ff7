/* Small helpers every module uses: cleanup attributes and string predicates. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
        free(*(void **)p);
}

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _printf_(a, b)   __attribute__((format(printf, a, b)))
#define _unused_         __attribute__((unused))

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static inline bool str_empty(const char *s)
{
        return !s || !*s;
}

/* The last component of a path: "a/b/c" -> "c"; without a slash, the whole string. */
static inline const char *path_base(const char *path)
{
        const char *s = strrchr(path, '/');

        return s ? s + 1 : path;
}

/* A name as config.txt may write it ("/initrd.img"), made relative to its folder. */
static inline const char *path_relative(const char *name)
{
        while (*name == '/')
                name++;
        return name;
}

/* Hands ownership of a pointer out of a _cleanup_ scope. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _taken = (p);                                                        \
                (p) = NULL;                                                                        \
                _taken;                                                                            \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _taken = (fd);                                                                 \
                (fd) = -1;                                                                         \
                _taken;                                                                            \
        })

/* Strips trailing newline and white space in place; sysfs and /proc values end in "\n". */
void str_strip_trailing(char *s);

/* Parses a non-negative decimal integer that fills the whole string. */
int parse_uint(const char *s, unsigned long *out);

/* True when the LEN bytes at S are well-formed UTF-8 (no NUL check). */
bool utf8_valid(const unsigned char *s, size_t len);
