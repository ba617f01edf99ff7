/* Helpers for the cmocka unit tests: a private temp dir per test binary and file writing. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *test_tmpdir(void)
{
        char tmpl[] = "/tmp/netroot-unit.XXXXXX";
        char *d = mkdtemp(tmpl);

        assert_non_null(d);
        return strdup(d);
}

static inline void test_rmtree(const char *dir)
{
        char *cmd;

        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static inline char *test_write(const char *dir, const char *name, const char *content)
{
        char *path;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
        return path;
}
